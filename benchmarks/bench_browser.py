"""The run browser on 10,000 runs: time to first paint, time to a fully populated sorted
table, and the longest GUI stall while indexing; cold (no index) and warm (reopened).

Builds (once, then reuses) a folder of 10,000 small real run files under ``--folder``,
every 10th in a sweep folder. A 10 ms QTimer probes the GUI thread while the browser
opens the folder. The naive baseline, measured in the same process, is the former
browser's way: every header read on the GUI thread (timed on ``--naive`` files and
extrapolated). Last line ``browser_10k_s=<float>``: the cold time to the full table.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_browser.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Qt and the rest are imported in main(): the library's reading processes import this
# module (as the window's do main.py), which must stay as light as main.py


def open_browser(app, folder: str, n: int) -> dict:
    from bench_gui import Probe, spin
    from PySide6.QtCore import QEvent, QObject

    from widgets.run_browser import RunBrowser

    class FirstPaint(QObject):
        """The time of the first paint of a view that shows rows."""

        def __init__(self, view, t0: float):
            super().__init__()
            self.view, self.t0, self.at = view, t0, None
            view.viewport().installEventFilter(self)

        def eventFilter(self, obj, event) -> bool:
            if self.at is None and event.type() == QEvent.Paint and self.view.model().rowCount() > 0:
                self.at = time.perf_counter() - self.t0
            return False

    probe = Probe()
    probe.start()
    t0 = time.perf_counter()
    b = RunBrowser(folder)
    b.resize(1500, 900)
    b.show()
    painted = FirstPaint(b.table, t0)
    spin(app, 600, until=lambda: b.idle and len(b.model.records) >= n)
    full = time.perf_counter() - t0
    spin(app, 0.3)  # the last paint
    stalls = probe.stop()
    b.close()
    b.deleteLater()
    spin(app, 0.1)
    return {"first": painted.at or float("nan"), "full": full, "stall": float(stalls.max())}


def build(folder: str, n: int) -> None:
    from lab.library.catalog import scan_files
    from tests.library_runs import make_runs

    have = len(scan_files(folder)) if os.path.isdir(folder) else 0
    if have != n:
        t = time.perf_counter()
        make_runs(folder, n - have, start=have)
        print(f"built {n - have:,} run files in {time.perf_counter() - t:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "noiselab-bench-browser"))
    ap.add_argument("--naive", type=int, default=300, help="headers read for the naive baseline")
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from lab import experiments
    from lab.library.catalog import scan_files
    from lab.library.index import INDEX_FILE
    from lab.runfile import read_header

    folder = os.path.join(args.folder, str(args.runs))
    build(folder, args.runs)
    app = QApplication.instance() or QApplication(sys.argv)
    for name in experiments.registry():  # loaded with the window, before its library opens
        experiments.get(name).spec.defaults()
    gc.freeze()  # as the window does once it is built (widgets.app.open_window)

    files = sorted(scan_files(folder))[: args.naive]
    t = time.perf_counter()
    for rel in files:
        read_header(os.path.join(folder, rel))
    naive = (time.perf_counter() - t) / len(files) * args.runs
    print(
        f"naive (every header read on the GUI thread): table and stall {naive:.1f} s (extrapolated from "
        f"{len(files)} files)"
    )

    for index in glob.glob(os.path.join(folder, INDEX_FILE + "*")):  # with SQLite's -wal and -shm
        os.remove(index)
    cold = open_browser(app, folder, args.runs)
    warm = open_browser(app, folder, args.runs)
    for name, r in (("cold (no index)", cold), ("warm (index)", warm)):
        print(
            f"{name}: first paint {r['first']:.2f} s, full sorted table {r['full']:.2f} s, "
            f"max GUI stall {r['stall']:.0f} ms"
        )
    print(f"warm full table vs naive: {naive / warm['full']:.0f}x faster")
    print(f"browser_10k_s={cold['full']:.2f}")


if __name__ == "__main__":
    main()
