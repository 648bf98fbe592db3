"""RunContext: everything an experiment may call while it runs (DESIGN.md, contract 2).

An experiment writes through the context only; it never sees threads, files or Qt::

    ctx.log(step, loss=0.3, acc=0.9)      # one row of scalars on the shared step axis
    ctx.append("series/beta", rows)       # a block of rows for one declared series
    ctx.save("theory/cov_exact", M)       # an array (in place if declared)
    ctx.progress(done, total)             # drives progress bars
    if ctx.cancelled: return              # cooperative cancel, checked between steps
    raise Diverged(step, "loss is NaN")   # ends the run with status 'diverged'

Listeners (the GUI worker, tests) receive every call as ``(kind, name, payload)`` with
``kind`` in ``append``, ``save``, ``progress``; they must be cheap and thread-safe.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import numpy as np

from .runfile import Dataset, RunWriter

Listener = Callable[[str, str, Any], None]


def scalar_series(*names: str) -> list[Dataset]:
    """The layout of what :meth:`RunContext.log` writes: ``series/step`` (int64) plus one
    float64 series per name."""
    return [Dataset("series/step", (), "i8")] + [Dataset(f"series/{n}", ()) for n in names]


class Cancelled(Exception):
    """Raised by :meth:`RunContext.check_cancel` when a cancel was requested."""


class Diverged(Exception):
    """An experiment raises this when its iterates blow up; the run ends ``diverged``."""

    def __init__(self, step: int, message: str = "the iterates became NaN or infinite"):
        self.step = int(step)
        super().__init__(f"diverged at step {step}: {message}")


class RunContext:
    """Bridges an experiment to its run file, its listeners and its cancel flag."""

    def __init__(self, writer: RunWriter | None, *, device: Any = "cpu", seed: int = 0,
                 cancel_event: threading.Event | None = None, listeners: Iterable[Listener] = ()):
        self.writer = writer
        self.device = device
        self.seed = seed
        self._cancel = cancel_event or threading.Event()
        self.listeners = list(listeners)
        #: headline numbers so far; kept even when the run ends early (cancel, divergence)
        self.summary: dict[str, Any] = {}

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
        """``done`` of ``total`` units of work; also the moment to flush buffered rows."""
        if self.writer is not None:
            self.writer.maybe_flush()
        self._emit("progress", "", (int(done), int(total)))
