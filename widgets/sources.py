"""Where a panel's RunData comes from: a run of this window (a worker's chunks), a file
another process is still writing (followed with :class:`lab.runfile.RunFollower`), or
a finished file. Panels draw ``source.run`` and never know which (DESIGN.md, contract 5).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from lab.live import RunGrower
from lab.runfile import RunData, RunFileError, RunFollower, RunHeader, read_header
from lab.runner import RunResult
from workers.run_worker import Batch, start_worker

#: how often a file written by another process is polled
FOLLOW_INTERVAL_MS = 250


def file_progress(run: RunData) -> tuple[int, int]:
    """``(done, total)`` read from a run file: the last ``series/step`` against the
    ``steps`` (or ``epochs``) parameter; ``(0, 0)`` when the file says neither. A
    completed run counts as all done."""
    params = run.header.params
    total = int(params.get("steps") or params.get("epochs") or 0)
    step = run.get("series/step")
    done = int(step[-1]) if step is not None and len(step) and np.isfinite(step[-1]) else 0
    if run.header.status == "completed" and total:
        done = total
    return min(done, total), total


class RunSource(QObject):
    """A run shown in a tab. ``dirty`` is set whenever ``run`` grew or changed;
    ``ended`` fires once when a growing run stops growing."""

    ended = Signal(object)

    def __init__(self, path: str, run: RunData | None = None, parent=None):
        super().__init__(parent)
        self.path = os.path.abspath(path)
        self.run = run
        self.dirty = True
        self.progress: tuple[int, int] = (0, 0)
        self.started = time.monotonic()

    @property
    def running(self) -> bool:
        return False

    @property
    def status(self) -> str:
        return self.run.header.display_status if self.run is not None else "opening"

    def label(self) -> str:
        return f"{os.path.basename(self.path)} — {self.status}"

    def elapsed(self) -> float:
        """Seconds since the run began: from the file's creation time when it has one."""
        created = self.run.header.created if self.run is not None else ""
        try:
            start = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return time.monotonic() - self.started
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        return max(0.0, (datetime.now(timezone.utc) - start).total_seconds())

    def cancel(self) -> None:
        """Stop whatever keeps this source growing (nothing for a finished file)."""


class FileRun(RunSource):
    """A finished (or interrupted) run read from its file."""

    def __init__(self, path: str, run: RunData | None = None, parent=None):
        super().__init__(path, run, parent)
        if run is not None:
            self.progress = file_progress(run)


class LiveRun(RunSource):
    """A run of this window: a :class:`workers.run_worker.RunWorker` on its own thread,
    its chunks applied to an in-memory RunData (the file is never opened meanwhile). The
    RunData arrives with the first batch, built from the layout the runner computed."""

    def __init__(self, experiment: str, values: Mapping[str, Any], path: str, parent=None):
        super().__init__(path, None, parent)
        self.experiment, self.values = experiment, dict(values)
        self.result: RunResult | None = None
        self.grower: RunGrower | None = None
        self._child_growers: dict[str, RunGrower] = {}
        self.worker, self.thread = start_worker(experiment, values, self.path)
        self.worker.chunks.connect(self._on_chunks)
        self.worker.finished.connect(self._on_finished)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.result is None

    @property
    def status(self) -> str:
        return "running" if self.result is None else self.run.header.status

    def _on_chunks(self, batch: Batch) -> None:
        if batch.start is not None:
            self.run = batch.start
            self.grower = RunGrower(self.run)
        if self.grower is None:  # nothing announced yet: no rows can come before the layout
            return
        self.grower.apply(batch.appends, batch.saves)
        for path, child in batch.children.items():
            self._apply_child(path, child)
        self.run.header.last_heartbeat = time.time()
        if batch.progress is not None:
            self.progress = batch.progress
        self.dirty = True

    def _apply_child(self, path: str, batch: Batch) -> None:
        """Grow the nested run (a teacher) in ``run.children`` from its own events."""
        if batch.start is not None:
            self.run.children[path] = batch.start
            self._child_growers[path] = RunGrower(batch.start)
        grower = self._child_growers.get(path)
        if grower is not None:
            grower.apply(batch.appends, batch.saves)

    def _on_finished(self, result: RunResult) -> None:
        self.result = result
        self.thread.wait()
        if self.run is None:  # the run never started (refused parameters): no layout, no file
            self.run = RunData(
                RunHeader(
                    path=self.path,
                    experiment=self.experiment,
                    status=result.status,
                    params=dict(self.values),
                    seed=-1,
                    created="",
                    finished="",
                    device="",
                    summary=result.summary,
                    error=result.error,
                    diverged_step=-1,
                    versions={},
                    last_heartbeat=None,
                    attrs={},
                )
            )
        h = self.run.header
        try:
            fresh = read_header(self.path)  # the writer has closed the file by now
            h.status, h.summary, h.finished, h.error = fresh.status, fresh.summary, fresh.finished, fresh.error
            h.diverged_step, h.versions, h.attrs = fresh.diverged_step, fresh.versions, fresh.attrs
            h.device, h.created, h.last_heartbeat = fresh.device, fresh.created, fresh.last_heartbeat
        except RunFileError:  # the run never started: no file
            h.status, h.error, h.summary = result.status, result.error, result.summary
        self.dirty = True
        self.ended.emit(self)

    def cancel(self) -> None:
        self.worker.cancel()

    def wait(self, ms: int = 10_000) -> bool:
        """Block until the worker's thread has ended (used when the window closes)."""
        return self.thread.wait(ms)


class FollowedRun(RunSource):
    """A file that another process is still writing, polled on a timer in SWMR mode."""

    def __init__(self, path: str, parent=None):
        super().__init__(path, None, parent)
        self.follower = RunFollower(self.path)
        self.last_error = ""
        self.stopped = False  # following stopped here; the writer goes on
        self.timer = QTimer(self)
        self.timer.setInterval(FOLLOW_INTERVAL_MS)
        self.timer.timeout.connect(self.poll)
        self.poll()
        self.timer.start()

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    @property
    def status(self) -> str:
        if self.run is None:
            return "opening"
        if self.stopped:
            return "not followed (still being written)"
        return "following" if self.running else self.run.header.display_status

    def poll(self) -> None:
        try:
            header, new, fixed = self.follower.poll()
        except RunFileError as e:  # a moment when the file cannot be read; try again
            self.last_error = str(e)
            return
        if self.run is None:
            self.run = RunData(header)
            self.grower = RunGrower(self.run)
        self.run.header = header
        self.grower.apply(new, [(path, array, None) for path, array in fixed.items()])
        if new or fixed:
            self.dirty = True
            self.progress = file_progress(self.run)
        if header.status != "running" or header.interrupted:
            self.timer.stop()
            self.dirty = True
            self.ended.emit(self)

    def cancel(self) -> None:
        """Stop following (the other process keeps writing)."""
        if self.timer.isActive():
            self.timer.stop()
            self.stopped = True
            self.ended.emit(self)
