"""Starting the window: ``run_app([])`` or ``run_app([run_file])``."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from workers.warmup import start_warm_up

from .main_window import MainWindow


def open_window(argv: list[str]) -> MainWindow:
    """Show the main window; with ``argv = [run_file]`` it opens that run once the event
    loop runs. Needs a QApplication."""
    window = MainWindow()
    if not window.settings.contains("geometry"):  # a first launch; later ones restore their own size
        window.resize(1500, 950)
    window.fit_screen()
    window.show()
    # Everything loaded so far (torch, Qt, the experiments) lives as long as the window: out
    # of the cyclic collector's sight, whose full passes would otherwise scan it all while
    # the GUI waits (150-200 ms with a large run library loaded).
    gc.freeze()
    start_warm_up()
    if argv:
        QTimer.singleShot(0, lambda: window.open_run(argv[0]))
    return window


def run_app(argv: list[str]) -> int:
    """Open the main window (on the run file ``argv[0]`` if given) and run the event
    loop; returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Noise Lab")
    app.setOrganizationName("Noise Lab")  # where QSettings keeps the window's state
    app.main_window = open_window(argv)  # held by the application until its loop ends
    return app.exec()
