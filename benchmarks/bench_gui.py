"""The window stays live while runs stream: event-loop stalls, redraws and run speed.

Streams an OLS run (preset fig1-g, 2e7 steps) and an ELR run on digits through the real
:class:`widgets.main_window.MainWindow`, each for ``--seconds`` with its tab (and panel)
alternately in front and behind another tab every second. A 10 ms QTimer
probes the GUI thread (in both, so that its own cost falls on both alike): a stall is
the time between two ticks beyond 10 ms. Prints per
case the max and p99 stall (shown), the panel redraws per second, and the run's speed
shown and hidden (steps per second; the ratio is the cost of watching). Last line
``max_stall_ms=<float>``: the largest stall over both runs with the panel shown.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from lab.params import resolve_preset
from workers.warmup import start_warm_up

CASES = {
    "ols fig1-g 2e7": ("ols", "fig1-g", {"steps": 20_000_000}),
    "elr digits": ("elr", "digits-elr-sym40", {"epochs": 200}),
}
PROBE_MS = 10
#: the tab is brought to the front and sent behind every this many seconds
SEGMENT_S = 1.0


class Probe:
    """Gaps between ticks of a 10 ms timer on the GUI thread, beyond the 10 ms."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.stalls: list[float] = []

    def start(self) -> None:
        self.stalls = []
        self.clock.start()
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        return np.maximum(np.asarray(self.stalls or [0.0]), 0.0)

    def _tick(self) -> None:
        self.stalls.append(self.clock.nsecsElapsed() / 1e6 - PROBE_MS)
        self.clock.restart()


def spin(app: QApplication, seconds: float, until=lambda: False) -> None:
    """Run the event loop (as ``app.exec`` would) for ``seconds`` or until ``until()``."""
    loop = QEventLoop()
    end = time.monotonic() + seconds
    check = QTimer()
    check.setInterval(20)
    check.timeout.connect(lambda: (time.monotonic() >= end or until()) and loop.quit())
    check.start()
    loop.exec()
    check.stop()


def stream(app, window, probe, experiment, preset, overrides, seconds) -> dict:
    """Runs for ``seconds`` (a run that ends is followed by the next, so that a fast
    one is measured as long as a slow one), the tab alternately in front (panel shown)
    and behind (panel hidden) every :data:`SEGMENT_S`, so that a shared machine's
    changing load falls on both alike; stalls are probed while shown. Then the run is
    cancelled."""
    tab = window.tab_of[experiment]
    other = next(t for name, t in window.tab_of.items() if name != experiment)
    window.tabs.setCurrentWidget(tab)
    tab.form.set_values(resolve_preset(tab.experiment.spec, tab.experiment.presets, preset, overrides))
    draws = [0]
    panel = tab.panel
    method = "refresh_parts" if hasattr(panel, "refresh_parts") else "refresh"  # what the tab calls
    refresh = getattr(panel, method)

    def counted(run):
        draws[0] += 1
        return refresh(run)

    setattr(panel, method, counted)
    source = tab.start_run()
    spin(app, 1.0)  # start-up: data, first blocks
    steps = {True: 0.0, False: 0.0}
    wall = {True: 0.0, False: 0.0}
    stalls, shown, draws_shown = [], True, 0
    for _ in range(max(2, int(seconds / SEGMENT_S))):
        if not source.running:  # the next run (its start-up is not measured)
            window.tabs.setCurrentWidget(tab)
            source = tab.start_run()
            spin(app, 1.0)
        window.tabs.setCurrentWidget(tab if shown else other)
        spin(app, 0.1)  # the switch itself (first paint of the panel) is not measured
        probe.start()  # in both: its own wake-ups must not count against the panel
        d0, t0, n0 = draws[0], time.monotonic(), source.progress[0]
        spin(app, SEGMENT_S, until=lambda s=source: not s.running)
        steps[shown] += source.progress[0] - n0
        wall[shown] += time.monotonic() - t0
        ticks = probe.stop()
        if shown:
            stalls.append(ticks)
            draws_shown += draws[0] - d0
        shown = not shown
    source.cancel()
    spin(app, 30, until=lambda: not source.running)
    delattr(panel, method)
    stalls = np.concatenate(stalls)
    return {
        "shown": steps[True] / wall[True],
        "hidden": steps[False] / max(wall[False], 1e-9),
        "max": float(stalls.max()),
        "p99": float(np.percentile(stalls, 99)),
        "draws": draws_shown / wall[True],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="wall time each run streams")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    from widgets.main_window import MainWindow

    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(run_dir=folder)
        window.resize(1600, 1000)
        window.show()
        gc.freeze()  # as widgets.app.open_window does, with the warm-up it starts
        warm = start_warm_up()
        spin(app, 60, until=lambda: not warm.is_alive())
        spin(app, 1.0)
        probe = Probe()
        worst = 0.0
        for label, (experiment, preset, overrides) in CASES.items():
            r = stream(app, window, probe, experiment, preset, overrides, args.seconds)
            worst = max(worst, r["max"])
            print(
                f"{label}: panel shown: max stall {r['max']:.1f} ms, p99 {r['p99']:.1f} ms, "
                f"{r['draws']:.1f} redraws/s; run speed shown {r['shown']:,.0f} steps/s, "
                f"hidden {r['hidden']:,.0f} steps/s, shown/hidden = {r['shown'] / max(r['hidden'], 1e-9):.2f}",
                flush=True,
            )
        window.close()
    print(f"max_stall_ms={worst:.1f}")


if __name__ == "__main__":
    main()
