"""Your own script as a Noise Lab run: :class:`Run` writes a standard run file that
``noiselab info``, :func:`lab.read_run` and the window (live, with the generic panel)
read like any other::

    import lab

    with lab.Run("my-exp", params={"lr": 0.1}, out="runs/") as run:
        for step in range(100):
            run.log(step, loss=1 / (step + 1))
        run.summary["final_loss"] = 1 / 100

Which series a run has is fixed by its first row. A run file streams in HDF5 SWMR mode
from the moment it exists, and no dataset can be created in that mode (DESIGN.md,
contract 3; ``docs/runfile.md``), so the file is created at the first :meth:`Run.log`
call, with the names of that call (plus any given up front with ``series=``) declared
in it; until then nothing is on disk. A later
row may leave a series out (it gets NaN there, so every series stays aligned with
``series/step``) but may not bring a new one, which is an error naming it. This keeps
the ordinary script (log the same names every step) free of declarations, and
``series=`` covers a column that first appears later (a validation loss every tenth
step). Arrays (:meth:`Run.save`) and notes may be written at any time.
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Any, Iterable, Literal, Mapping

import numpy as np

from .provenance import provenance
from .runfile import Dataset, RunWriter

#: kinds of parameter value a run file stores (as JSON and as HDF5 attributes)
_PLAIN = (bool, int, float, str)


def _check_params(params: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (list, tuple)) and all(isinstance(x, _PLAIN) for x in v) and v:
            v = list(v)
        elif not isinstance(v, _PLAIN):
            raise ValueError(
                f"parameter '{k}': {v!r} cannot be stored; use a number, a bool, a text or a non-empty list of them"
            )
        out[str(k)] = v
    return out


class Run:
    """A run file written by your own code (a context manager).

    ``experiment`` names what the run is (its file name starts with it), ``params`` are
    stored like any experiment's parameters (numbers, bools, texts, lists of them;
    ``seed`` and ``device`` are picked out if present). The file goes to ``path``, or a
    fresh name in ``out`` (default: where runs go, ``$NOISELAB_RUNS`` or
    ``~/noiselab-runs``). Leaving the ``with`` block records ``completed``; an
    exception records ``failed`` with its traceback (and propagates), Ctrl-C
    ``cancelled``. ``summary`` is stored at the end.
    """

    def __init__(
        self,
        experiment: str,
        params: Mapping[str, Any] | None = None,
        *,
        out: str | None = None,
        path: str | None = None,
        series: Iterable[str] = (),
        command: str | None = None,
    ):
        from .runner import default_run_dir, new_run_path

        if not experiment or os.sep in experiment:
            raise ValueError(f"experiment {experiment!r}: give a short name without '{os.sep}'")
        self.experiment = experiment
        self.params = _check_params(params or {})
        self.path = os.path.abspath(path or new_run_path(out or default_run_dir(), experiment))
        self.summary: dict[str, Any] = {}
        self._series = list(dict.fromkeys(series))
        self._command = command
        self._writer: RunWriter | None = None
        self._open_called = False
        #: row shape of every series, fixed by the first row (None before it)
        self._shapes: dict[str, tuple] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Run:
        self._open_called = True
        return self

    def _create(self, shapes: dict[str, tuple]) -> RunWriter:
        """The run file, with ``series/step`` and one series per name, in SWMR mode."""
        device = str(self.params.get("device", ""))
        layout = [Dataset("series/step", (), "i8")] + [Dataset(f"series/{n}", shape) for n, shape in shapes.items()]
        self._writer = RunWriter(
            self.path,
            experiment=self.experiment,
            params=self.params,
            seed=int(self.params.get("seed", -1)),
            device=device,
            layout=layout,
            attrs={**provenance(self._command, device), "written_by": "lab.Run"},
        )
        self._shapes = dict(shapes)
        return self._writer

    def __exit__(self, kind, exc, tb) -> Literal[False]:
        if kind is None:
            status, error = "completed", ""
        elif issubclass(kind, KeyboardInterrupt):
            status, error = "cancelled", ""
        else:
            status, error = "failed", "".join(traceback.format_exception(kind, exc, tb))
        self._writing().finish(status, summary=self.summary, error=error)
        self._writer, self._open_called = None, False
        return False

    def _writing(self) -> RunWriter:
        """The writer; a run that logged no row yet gets its file now, with ``series/step`` only."""
        if not self._open_called:
            raise RuntimeError("this Run is not open: use it as 'with lab.Run(...) as run:'")
        return self._writer if self._writer is not None else self._create({})

    # -- writing -----------------------------------------------------------------------------
    def log(self, step: int, **values: Any) -> None:
        """One row: ``series/step`` and ``series/<name>`` for each value (a number, or an
        array of the same shape at every step). The first call fixes the series."""
        if not self._open_called:
            raise RuntimeError("this Run is not open: use it as 'with lab.Run(...) as run:'")
        rows = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        if self._writer is None:  # the first row: the file is made with these series
            self._create({**dict.fromkeys(self._series, ()), **{k: v.shape for k, v in rows.items()}})
        w = self._writing()
        assert self._shapes is not None
        new = [k for k in rows if k not in self._shapes]
        if new:
            raise ValueError(
                f"series {', '.join(map(repr, new))} did not exist at the first row (a run file cannot "
                f"add a series once it streams); name it up front: lab.Run(..., series=[...])"
            )
        bad = [
            f"{k} (shape {rows[k].shape}, the series has {shape})"
            for k, shape in self._shapes.items()
            if k in rows and rows[k].shape != shape
        ]
        if bad:
            raise ValueError("values of another shape than at the first row: " + ", ".join(bad))
        w.append("series/step", np.asarray([step], dtype=np.int64))
        for name, shape in self._shapes.items():
            w.append(f"series/{name}", rows[name][None] if name in rows else np.full((1, *shape), math.nan))

    def flush(self) -> None:
        """Write buffered rows now (they are written by the first ``log`` half a second
        after the last write anyway): before a long pause, so followers see every row."""
        self._writing().flush()

    def save(self, name: str, array: Any) -> None:
        """Store an array under ``name`` (``data/x``, ``weights/final``, ...)."""
        self._writing().save(name, np.asarray(array))

    def note(self, key: str, value: Any) -> None:
        """A text or number stored as a root attribute of the file."""
        self._writing().attr(key, value)
