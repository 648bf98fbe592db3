"""RunContext: everything an experiment may call while it runs (DESIGN.md, contract 2).

An experiment writes through the context only; it never sees threads, files or Qt::

    ctx.log(step, loss=0.3, acc=0.9)      # one row of scalars on the shared step axis
    ctx.append("series/beta", rows)       # a block of rows for one declared series
    ctx.save("theory/cov_exact", M)       # an array (in place if declared)
    ctx.progress(done, total)             # drives progress bars
    pace = ctx.pacer()                    # pace.due(): time to record progress within a long
    ctx.flush()                           # stretch (an epoch, a phase-map block), then flush it
    if ctx.cancelled: return              # cooperative cancel, checked between steps
    raise Diverged(step, "loss is NaN")   # ends the run with status 'diverged'
    ctx.child_run("supervised", values)   # a nested run (a teacher): own file, shared cancel

Listeners (the GUI worker, tests) receive every call as ``(kind, name, payload)``. The
first event of a run is ``("layout", path, RunData)``: the run as its new file holds it
(:func:`lab.live.new_run_data`). Then ``append``, ``save`` and ``progress`` as called, and
``("child", child_path, (kind, name, payload))`` for each event of a nested run. Listeners
must be cheap and thread-safe.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np

from .runfile import Dataset, RunWriter

if TYPE_CHECKING:
    from .runner import RunResult

Listener = Callable[[str, str, Any], None]
#: runs a nested experiment: (experiment, values, out_dir, tag, cancel event, listeners) -> result
ChildRunner = Callable[[str, Mapping[str, Any], str, str, threading.Event, list], "RunResult"]


def scalar_series(*names: str) -> list[Dataset]:
    """The layout of what :meth:`RunContext.log` writes: ``series/step`` (int64) plus one
    float64 series per name."""
    return [Dataset("series/step", (), "i8")] + [Dataset(f"series/{n}", ()) for n in names]


class Pacer:
    """Says when a long computation should record its progress so far (a within-epoch
    row, a phase-map block's partial results): :meth:`due` is true at most once per
    ``interval`` seconds of wall time, the first time ``interval`` after creation."""

    def __init__(self, interval: float):
        self.interval = float(interval)
        self._next = time.monotonic() + self.interval

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True


class Cancelled(Exception):
    """Raised by :meth:`RunContext.check_cancel` when a cancel was requested."""


class Diverged(Exception):
    """An experiment raises this when its iterates blow up; the run ends ``diverged``."""

    def __init__(self, step: int, message: str = "the iterates became NaN or infinite"):
        self.step = int(step)
        super().__init__(f"diverged at step {step}: {message}")


class RunContext:
    """Bridges an experiment to its run file, its listeners and its cancel flag."""

    def __init__(
        self,
        writer: RunWriter | None,
        *,
        device: Any = "cpu",
        seed: int = 0,
        cancel_event: threading.Event | None = None,
        listeners: Iterable[Listener] = (),
        run_child: ChildRunner | None = None,
    ):
        self.writer = writer
        self.device = device
        self.seed = seed
        self._cancel = cancel_event or threading.Event()
        self.listeners = list(listeners)
        self._run_child = run_child
        #: progress is reported as ``offset + done`` of ``offset + total / (1 - ...)`` once a
        #: nested run took its share of the bar (see :meth:`child_run`)
        self._share_done = 0.0
        #: headline numbers so far; kept even when the run ends early (cancel, divergence)
        self.summary: dict[str, Any] = {}

    @property
    def path(self) -> str | None:
        """The run file's path (``None`` for a run without a file)."""
        return self.writer.path if self.writer is not None else None

    # -- cancel ----------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    # -- output ----------------------------------------------------------------------------
    def _emit(self, kind: str, name: str, payload: Any) -> None:
        for fn in self.listeners:
            fn(kind, name, payload)

    def append(self, name: str, rows: Any) -> None:
        """Append a block of rows, shape ``(k, *row_shape)``, to the declared series ``name``."""
        rows = np.asarray(rows)
        if self.writer is not None:
            self.writer.append(name, rows)
        self._emit("append", name, rows)

    def log(self, step: int, **scalars: float) -> None:
        """One row on the shared step axis: ``series/step`` and ``series/<name>`` each."""
        self.append("series/step", np.asarray([step], dtype=np.int64))
        for k, v in scalars.items():
            self.append(f"series/{k}", np.asarray([v], dtype=np.float64))

    def pacer(self) -> Pacer:
        """A :class:`Pacer` at the writer's flush interval: progress recorded when it is
        due, then flushed (:meth:`flush`), is in the file within one interval (what a
        kill can lose)."""
        return Pacer(self.writer.flush_interval if self.writer is not None else RunWriter.FLUSH_INTERVAL)

    def flush(self) -> None:
        """Write every buffered row to the file now (a progress record, see :meth:`pacer`)."""
        if self.writer is not None:
            self.writer.flush()

    def save(self, name: str, array: Any, index: Any = None) -> None:
        """Store an array (data set, theory, final weights); ``index`` fills part of a
        declared one (a phase-map row)."""
        array = np.asarray(array)
        if self.writer is not None:
            self.writer.save(name, array, index)
        self._emit("save", name, (array, index))

    def attr(self, key: str, value: Any) -> None:
        """A note stored as a root attribute (conventions, what theory is compared to)."""
        if self.writer is not None:
            self.writer.attr(key, value)

    def progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` units of work; also the moment to flush buffered rows.
        After a nested run that took a share ``s`` of the bar, the remaining ``1 - s`` is
        this run's: ``(done, total)`` is reported as ``(done + k, total + k)`` with
        ``k = total s / (1 - s)``, so one rate and one ETA span both phases."""
        if self.writer is not None:
            self.writer.maybe_flush()
        s = self._share_done
        k = int(round(total * s / (1.0 - s))) if s else 0
        self._emit("progress", "", (int(done) + k, int(total) + k))

    # -- nested runs -------------------------------------------------------------------------
    def child_run(self, experiment: str, values: Mapping[str, Any], *, tag: str = "", share: float = 0.5) -> RunResult:
        """Run another experiment now, as its own run file beside this one (a teacher).

        It shares this run's cancel flag (cancelling either cancels both), its events
        reach this run's listeners as ``("child", path, event)``, and its progress fills
        the first ``share`` of this run's bar. Returns its :class:`lab.runner.RunResult`;
        a parameter error raises before its file exists.
        """
        if self._run_child is None:
            raise RuntimeError("this context cannot start nested runs (it was made without a runner)")
        if not 0.0 < share < 1.0:
            raise ValueError(f"share must be in (0, 1), got {share}")
        out_dir = os.path.dirname(os.path.abspath(self.path)) if self.path else ""
        box: dict[str, str] = {}

        def forward(kind: str, name: str, payload: Any) -> None:
            if kind == "layout":
                box["path"] = name
            if kind == "progress":  # the child's bar becomes the first `share` of this one
                done, total = payload
                self._emit("progress", "", (int(done), int(round(total / share))))
            self._emit("child", box.get("path", ""), (kind, name, payload))

        result = self._run_child(experiment, values, out_dir, tag, self._cancel, [forward])
        self._share_done = share
        return result
