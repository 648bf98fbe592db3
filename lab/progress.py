"""Progress of a run as text: a live tqdm bar on a terminal, and on anything else (a
cluster job's log) plain lines, at most one every ``interval`` seconds and only when
another percent is done, so logs never fill with redraws."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from tqdm import tqdm


def rate_eta_text(done: int, total: int, elapsed: float) -> str:
    """``1,234/s  ETA 0:00:12`` (the window's progress widget shows it beside its bar)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = tqdm.format_interval((total - done) / rate) if rate > 0 else "--:--"
    return f"{rate:,.0f}/s  ETA {eta}"


class ProgressDisplay:
    """A run listener drawing ``("progress", _, (done, total))`` events on ``stream``.

    It also keeps the run's path from the ``layout`` event (``self.path``), so a
    command interrupted by Ctrl-C can still name its file.
    """

    def __init__(
        self,
        stream=None,
        *,
        label: str = "",
        interval: float = 5.0,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.label, self.interval, self.clock = label, interval, clock
        self.live = live if live is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.path = ""
        self.t0 = clock()
        self._bar: tqdm | None = None
        self._last_t, self._last_pct = -float("inf"), -1

    def __call__(self, kind: str, name: str, payload: Any) -> None:
        if kind == "layout":
            self.path = name
        elif kind == "progress":
            self.update(*payload)

    def update(self, done: int, total: int) -> None:
        if self.live:
            if self._bar is None:
                self._bar = tqdm(
                    total=total, desc=self.label, file=self.stream, unit_scale=True, dynamic_ncols=True, mininterval=0.2
                )
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            return
        now, pct = self.clock(), int(100 * done / total) if total else 0
        finished = total and done >= total
        if not finished and (now - self._last_t < self.interval or pct <= self._last_pct):
            return
        if finished and self._last_pct >= 100:
            return
        self._last_t, self._last_pct = now, pct
        line = tqdm.format_meter(done, total, now - self.t0, ncols=80, prefix=self.label, unit_scale=True)
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
