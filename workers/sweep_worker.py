"""Runs :func:`lab.sweep.run_sweep` on a QThread, so this thread is the sweep's
coordinator: it drains the backend's events (a process pool's queue, a Ray actor's inbox) into
the sweep file, which the window rereads. Progress as runs done / total (at most
``EMIT_HZ`` signals a second, the last one always), one ``finished`` at the end, and a
cancel through a ``threading.Event`` (queued runs never start, running ones end
``cancelled``)."""

from __future__ import annotations

import os
import traceback
from typing import Any, Mapping

from PySide6.QtCore import QThread, Signal, Slot

from lab.params import ParamError
from lab.sweep import SWEEP_FILE, Backend, Space, SweepError, run_sweep

from .base import EMIT_HZ, ThreadWorker, on_new_thread


class SweepWorker(ThreadWorker):
    """Signals: ``progress(done, total)`` (throttled), ``finished(path, error)`` once:
    the sweep file's path, and ``""`` or why the sweep could not run (then the sweep
    file may be missing)."""

    progress = Signal(int, int)
    finished = Signal(str, str)

    def __init__(
        self,
        experiment: str,
        base: Mapping[str, Any],
        space: Space,
        out_dir: str,
        preset: str = "",
        jobs: int = 1,
        seeds: int = 1,
        backend: Backend | None = None,
        emit_interval: float = 1.0 / EMIT_HZ,
    ):
        super().__init__(emit_interval)
        self.experiment, self.base, self.space = experiment, dict(base), Space.of(space)
        self.out_dir, self.preset, self.jobs, self.seeds, self.backend = out_dir, preset, jobs, seeds, backend
        self.path = os.path.join(out_dir, SWEEP_FILE)
        self._latest = (0, 0)

    def _on_run(self, _entry: dict, done: int, total: int) -> None:
        self._latest = (done, total)
        if self.emit_due():
            self.progress.emit(done, total)

    @Slot()
    def run(self) -> None:
        error = ""
        try:
            run_sweep(
                self.experiment,
                self.base,
                self.space,
                self.out_dir,
                preset=self.preset,
                jobs=self.jobs,
                seeds=self.seeds,
                backend=self.backend,
                cancel_event=self.cancel_event,
                on_run=self._on_run,
            )
        except (SweepError, ParamError, OSError) as e:
            error = str(e)
        except Exception:  # a sweep that broke down: forwarded to the window, which shows it
            error = traceback.format_exc(limit=3)
        if self._latest[1]:
            self.progress.emit(*self._latest)
        self.finished.emit(self.path, error)
        QThread.currentThread().quit()


def start_sweep_worker(*args, **kwargs) -> tuple[SweepWorker, QThread]:
    """A :class:`SweepWorker` (same arguments) moved to a fresh thread; connect its
    signals, then call ``thread.start()``."""
    return on_new_thread(SweepWorker(*args, **kwargs))
