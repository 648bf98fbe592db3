"""What every worker shares: a cooperative cancel flag, a throttle for its signals, and
the move onto a fresh QThread."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QThread

#: at most this many signals a second reach the GUI thread
EMIT_HZ = 15.0


class ThreadWorker(QObject):
    """A QObject whose ``run`` slot does the work on its own thread (:func:`on_new_thread`)."""

    def __init__(self, emit_interval: float = 1.0 / EMIT_HZ):
        super().__init__()
        self.emit_interval = emit_interval
        self.cancel_event = threading.Event()
        self._last_emit = 0.0

    def cancel(self) -> None:
        """Ask the work to stop; safe to call from any thread."""
        self.cancel_event.set()

    def emit_due(self) -> bool:
        """True at most once per ``emit_interval``: whether to signal the window now."""
        now = time.monotonic()
        if now - self._last_emit < self.emit_interval:
            return False
        self._last_emit = now
        return True


def on_new_thread(worker: ThreadWorker) -> tuple[ThreadWorker, QThread]:
    """``worker`` moved to a fresh thread that calls its ``run`` when started; connect the
    worker's signals, then call ``thread.start()``."""
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    return worker, thread
