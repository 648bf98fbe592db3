"""Runs one experiment on a QThread and forwards what it writes as throttled signals.

The experiment's context calls :meth:`RunWorker._listen` from the worker thread for
every ``append``, ``save`` and ``progress``; the calls are collected in a
:class:`ChunkBuffer` (thread-safe) and handed to the window as one :class:`Batch` at
most every ``emit_interval`` seconds, so a run that appends thousands of blocks a
second costs the GUI thread ~15 signals a second. Cancel is cooperative: the window
sets a ``threading.Event`` that the experiment checks between blocks.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from PySide6.QtCore import QThread, Signal, Slot

from lab.runfile import RunData
from lab.runner import RunResult, run_experiment

from .base import EMIT_HZ, ThreadWorker, on_new_thread


@dataclass
class Batch:
    """What a run wrote since the previous batch: the run as its new file holds it (in the
    first batch only: the runner's layout event), rows per growable series (in order,
    already concatenated), array saves in call order, and the latest progress."""

    appends: dict[str, np.ndarray] = field(default_factory=dict)
    saves: list[tuple[str, np.ndarray, Any]] = field(default_factory=list)
    progress: tuple[int, int] | None = None
    start: RunData | None = None
    #: the same for each nested run (a teacher) by its path
    children: dict[str, Batch] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.appends or self.saves or self.progress or self.start is not None or self.children)


class ChunkBuffer:
    """Collects listener calls from the worker thread until the GUI takes them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._appends: dict[str, list[np.ndarray]] = {}
        self._saves: list[tuple[str, np.ndarray, Any]] = []
        self._progress: tuple[int, int] | None = None
        self._start: RunData | None = None
        self._children: dict[str, ChunkBuffer] = {}

    def add(self, kind: str, name: str, payload: Any) -> None:
        # copies: the experiment may reuse its buffers once the call returns
        with self._lock:
            if kind == "append":
                self._appends.setdefault(name, []).append(np.array(payload, copy=True))
            elif kind == "save":
                array, index = payload
                self._saves.append((name, np.array(array, copy=True), index))
            elif kind == "progress":
                self._progress = tuple(payload)
            elif kind == "layout":
                self._start = payload
            elif kind == "child":
                child = self._children.setdefault(name, ChunkBuffer())
        if kind == "child":
            child.add(*payload)

    def take(self) -> Batch:
        with self._lock:
            appends, saves, progress, start = self._appends, self._saves, self._progress, self._start
            self._appends, self._saves, self._progress, self._start = {}, [], None, None
            children = dict(self._children)
        taken = {path: buf.take() for path, buf in children.items()}
        return Batch(
            {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in appends.items()},
            saves,
            progress,
            start,
            {path: b for path, b in taken.items() if b},
        )


class RunWorker(ThreadWorker):
    """Runs ``lab.runner.run_experiment`` when its thread starts.

    Signals: ``chunks(Batch)`` (throttled), ``finished(RunResult)`` once at the end; a
    run that could not start (bad device, unwritable folder) finishes as ``failed``
    with the reason in ``error`` and no file.
    """

    chunks = Signal(object)
    finished = Signal(object)

    def __init__(self, experiment: str, values: Mapping[str, Any], path: str, emit_interval: float = 1.0 / EMIT_HZ):
        super().__init__(emit_interval)
        self.experiment, self.values, self.path = experiment, dict(values), path
        self._buffer = ChunkBuffer()

    def _listen(self, kind: str, name: str, payload: Any) -> None:
        self._buffer.add(kind, name, payload)
        if self.emit_due():
            self.chunks.emit(self._buffer.take())

    @Slot()
    def run(self) -> None:
        try:
            result = run_experiment(
                self.experiment,
                self.values,
                path=self.path,
                cancel_event=self.cancel_event,
                listeners=[self._listen],
                command="window",
            )
        except Exception:  # the run never started: forwarded to the window as a failed result
            result = RunResult(self.path, "failed", {}, error=traceback.format_exc(limit=2))
        rest = self._buffer.take()
        if rest:
            self.chunks.emit(rest)
        self.finished.emit(result)
        QThread.currentThread().quit()


def leave_a_core_to_the_window() -> None:
    """Let torch's CPU kernels use every core but one, which the GUI thread keeps.

    On a loaded 2-core machine two torch threads beside the GUI thread oversubscribe the
    CPU: an ELR digits run went 5-10x slower and the window stalled longer than with one
    (``benchmarks/bench_gui.py``)."""
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - 1)))


def start_worker(experiment: str, values: Mapping[str, Any], path: str) -> tuple[RunWorker, QThread]:
    """A worker moved to a fresh thread; connect its signals, then call ``thread.start()``."""
    leave_a_core_to_the_window()
    return on_new_thread(RunWorker(experiment, values, path))
