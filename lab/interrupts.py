"""SIGINT, SIGTERM and SIGHUP as a cancel request.

A signal handler that raises (Python's default for SIGINT) can land inside a flush and
leave half-written rows; the default for SIGTERM and SIGHUP ends the process with no
final status. While :func:`cancel_on_signals` is active, these signals only call
``cancel()``; the run stops at its next cancel check, between steps, and ends
``cancelled`` with its summary. A second signal while cancelling exits at once (rows
flushed so far stay readable: the file is in SWMR mode from its creation).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable, Iterator

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def cancel_on_signals(cancel: Callable[[], None]) -> Iterator[dict]:
    """Route :data:`SIGNALS` to ``cancel`` inside the block; yields ``{"signal": name}``
    (None until one arrives). Does nothing outside the main thread, where Python
    cannot install handlers (the window's workers have their own Cancel)."""
    caught: dict = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, _frame):
        if caught["signal"] is not None:
            os.write(2, b"\nsecond interrupt: exiting now\n")
            os._exit(128 + signum)
        caught["signal"] = signal.Signals(signum).name
        cancel()

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield caught
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
