"""The main window: one tab per registered experiment, the run browser dock, menus,
progress in each tab and messages in the status bar."""
from __future__ import annotations

import importlib
import importlib.util
import os

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox,
                               QTabWidget)

from lab import experiments
from lab.runfile import RunFileError, read_header, read_run
from lab.runner import default_run_dir
from lab.sweep import SweepError
from resources import STYLE_SHEET

from .experiment_tab import ExperimentTab
from .export import write_series_csv
from .plots import export_plot, find_plots
from .run_browser import RunBrowser
from .sources import FileRun, FollowedRun, LiveRun
from .sweep_dialog import SweepDialog
from .sweep_window import SweepWindow


def failure_text(path: str, error: str) -> str:
    """A failed run's message: the error itself first (a traceback's last line names
    what went wrong), then the traceback for the record."""
    lines = error.strip().splitlines()
    if len(lines) < 2:
        return f"{os.path.basename(path)} failed:\n\n{error.strip()}"
    return f"{os.path.basename(path)} failed:\n\n{lines[-1]}\n\nDetails:\n{error.strip()}"


class MainWindow(QMainWindow):
    def __init__(self, run_dir: str | None = None):
        super().__init__()
        self.setWindowTitle("Noise Lab")
        with open(STYLE_SHEET) as f:
            self.setStyleSheet(f.read())
        self.tabs = QTabWidget()
        self.tab_of: dict[str, ExperimentTab] = {}
        self.browser = RunBrowser(run_dir or default_run_dir(), live_status=self.live_status)
        for name, mod in experiments.registry().items():
            tab = ExperimentTab(mod, run_dir=lambda: self.browser.folder)
            tab.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
            tab.run_ended.connect(self._on_run_ended)
            tab.state_changed.connect(self._update_actions)
            self.tabs.addTab(tab, name)
            self.tabs.setTabToolTip(self.tabs.count() - 1, mod.TITLE)
            self.tab_of[name] = tab
        self.tabs.currentChanged.connect(self._update_actions)
        self.sweep_windows: list[SweepWindow] = []
        self.setCentralWidget(self.tabs)
        self.browser.open_requested.connect(self.open_run)
        dock = QDockWidget("Runs", self)
        dock.setObjectName("runs")
        dock.setWidget(self.browser)
        self.addDockWidget(Qt.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [190], Qt.Vertical)
        self._build_menus(dock)
        self.statusBar().showMessage(f"Runs are saved in {self.browser.folder}")
        self._update_actions()

    # -- menus ------------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip)
        a.triggered.connect(lambda _checked=False: slot())
        menu.addAction(a)
        return a

    def _build_menus(self, dock: QDockWidget) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open run…", self.open_run_dialog, QKeySequence.Open, "Open a run file into its panel")
        self._action(m, "Open s&weep…", self.open_sweep_dialog, "Ctrl+Shift+O",
                     "Open a sweep file (sweep.json) into its sweep view")
        self._action(m, "Open runs &folder", self.open_runs_folder, tip="Show the folder of run files")
        m.addSeparator()
        self.export_plot_action = self._action(m, "&Export plot…", self.export_plot_dialog,
                                               tip="Save a plot of the panel as PNG or SVG")
        self.export_csv_action = self._action(m, "Export &series to CSV…", self.export_csv_dialog,
                                              tip="Save the shown run's series, one row per step")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        m = self.menuBar().addMenu("&Run")
        self.run_action = self._action(m, "&Run", self.run_current, "Ctrl+R", "Start a run with the form's values")
        self.sweep_action = self._action(m, "S&weep…", self.sweep_current, "Ctrl+Shift+R",
                                         "Run the experiment over a list or range of one parameter's values")
        self.cancel_action = self._action(m, "&Cancel", self.cancel_current, Qt.Key_Escape, "Stop the run shown")
        m = self.menuBar().addMenu("&View")
        m.addAction(dock.toggleViewAction())
        m = self.menuBar().addMenu("&Tools")
        self.data_action = self._action(m, "&Data…", self.open_data_dialog,
                                        tip="Data sets: folders, formats and label corruption")
        self.data_action.setEnabled(importlib.util.find_spec("widgets.data_dialog") is not None)

    def _update_actions(self) -> None:
        if not hasattr(self, "run_action"):
            return
        tab = self.current_tab()
        self.run_action.setEnabled(tab is not None and tab.form.is_valid())
        self.sweep_action.setEnabled(self.run_action.isEnabled())
        self.cancel_action.setEnabled(tab is not None and tab.current is not None and tab.current.running)
        has_run = tab is not None and tab.current is not None and tab.current.run is not None
        self.export_plot_action.setEnabled(has_run)
        self.export_csv_action.setEnabled(has_run)

    def current_tab(self) -> ExperimentTab | None:
        return self.tabs.currentWidget()

    # -- runs -------------------------------------------------------------------------------
    def run_current(self) -> LiveRun | None:
        tab = self.current_tab()
        return tab.start_run() if tab is not None and tab.form.is_valid() else None

    def cancel_current(self) -> None:
        tab = self.current_tab()
        if tab is not None:
            tab.cancel_current()

    def sweep_current(self) -> SweepWindow | None:
        """Ask for the parameters, their values, seeds and backend, then run the sweep in a
        window of its own."""
        tab = self.current_tab()
        if tab is None or not tab.form.is_valid():
            return None
        base = tab.form.values()
        dialog = SweepDialog(tab.name, tab.module.SPEC, base, self.browser.folder, self)
        if dialog.exec() != SweepDialog.Accepted:
            return None
        return self._show_sweep(SweepWindow.start(tab.name, base, dialog.space(), dialog.folder(),
                                                  preset=tab.preset_tag(base), seeds=dialog.seeds(),
                                                  backend=dialog.backend(), parent=self))

    def _show_sweep(self, window: SweepWindow) -> SweepWindow:
        self.sweep_windows.append(window)
        window.run_requested.connect(self.open_run)
        window.destroyed.connect(lambda _obj=None: self.sweep_windows.remove(window))
        window.show()
        return window

    def live_runs(self) -> list[LiveRun]:
        return [s for tab in self.tab_of.values() for s in tab.live_runs()]

    def live_status(self) -> dict[str, tuple[str, str]]:
        """Files that workers of this window are writing: path -> (experiment, status)."""
        return {s.path: (tab.name, s.status) for tab in self.tab_of.values() for s in tab.live_runs()}

    def _on_run_ended(self, source) -> None:
        self.browser.refresh()
        h = source.run.header if source.run is not None else None
        if h is not None and h.status == "failed":
            QMessageBox.critical(self, "Run failed", failure_text(source.path, h.error))

    # -- opening ----------------------------------------------------------------------------
    def open_run_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open run", self.browser.folder,
                                              "Run files (*.h5 *.hdf5);;All files (*)")
        if path:
            self.open_run(path)

    def open_run(self, path: str) -> bool:
        """Show a run file in its experiment's tab. A file a worker of this window is
        writing is shown from the worker's data; one another process is writing is
        followed live; anything unreadable gets a message box."""
        path = os.path.abspath(path)
        for tab in self.tab_of.values():
            s = tab.find_source(path)
            if isinstance(s, LiveRun) or (s is not None and s.running):  # already shown live
                tab.select_source(s)
                self.tabs.setCurrentWidget(tab)
                return True
        try:
            header = read_header(path)
            tab = self.tab_of.get(header.experiment)
            if tab is None:
                raise RunFileError(f"{path}: written by the experiment '{header.experiment}', which this "
                                   f"Noise Lab does not have (it has {', '.join(self.tab_of) or 'none'})")
            if header.status == "running" and not header.interrupted:
                source = FollowedRun(path, parent=tab)
            else:
                source = FileRun(path, read_run(path), parent=tab)
        except RunFileError as e:
            QMessageBox.critical(self, "Cannot open run", str(e))
            return False
        tab.form.set_values(header.params)
        tab.add_source(source)
        self.tabs.setCurrentWidget(tab)
        self.statusBar().showMessage(f"opened {os.path.basename(path)} ({source.status})", 10_000)
        return True

    def open_sweep_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open sweep", self.browser.folder,
                                              "Sweep files (sweep.json *.json);;All files (*)")
        if path:
            self.open_sweep(path)

    def open_sweep(self, path: str) -> SweepWindow | None:
        """Show a sweep file in its sweep view; an unreadable one gets a message box."""
        try:
            return self._show_sweep(SweepWindow.open(path, parent=self))
        except SweepError as e:
            QMessageBox.critical(self, "Cannot open sweep", str(e))
            return None

    def open_runs_folder(self) -> None:
        os.makedirs(self.browser.folder, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.browser.folder))

    def open_data_dialog(self) -> None:
        module = importlib.import_module("widgets.data_dialog")
        module.DataDialog(self).exec()

    # -- export -----------------------------------------------------------------------------
    def export_plot_dialog(self) -> None:
        tab = self.current_tab()
        plots = find_plots(tab.panel)
        if not plots:
            return
        names = list(plots)
        name = names[0]
        if len(names) > 1:
            name, ok = QInputDialog.getItem(self, "Export plot", "Plot", names, 0, False)
            if not ok:
                return
        stem = os.path.splitext(os.path.basename(tab.current.path))[0] + f"-{name}"
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", os.path.join(self.browser.folder, stem + ".png"),
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if not path:
            return
        try:
            export_plot(plots[name], path)
        except OSError as e:
            QMessageBox.critical(self, "Cannot export plot", str(e))
            return
        self.statusBar().showMessage(f"plot saved to {path}", 10_000)

    def export_csv_dialog(self) -> None:
        tab = self.current_tab()
        run = tab.current.run
        stem = os.path.splitext(os.path.basename(tab.current.path))[0]
        path, _ = QFileDialog.getSaveFileName(self, "Export series", os.path.join(self.browser.folder, stem + ".csv"),
                                              "CSV (*.csv)")
        if not path:
            return
        try:
            skipped = write_series_csv(run, path)
        except (ValueError, OSError) as e:
            QMessageBox.critical(self, "Cannot export series", str(e))
            return
        note = f" (skipped, other row axis: {', '.join(skipped)})" if skipped else ""
        self.statusBar().showMessage(f"series saved to {path}{note}", 10_000)

    # -- closing ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        running = self.live_runs()
        sweeps = [w for w in self.sweep_windows if w.running]
        if running or sweeps:
            answer = QMessageBox.question(
                self, "Runs in progress",
                f"{len(running)} run(s) and {len(sweeps)} sweep(s) are still going. Cancel them and quit?\n"
                "What they wrote so far is kept, with status 'cancelled'.")
            if answer != QMessageBox.Yes:
                event.ignore()
                return
            for s in running + sweeps:
                s.cancel()
            for s in running:
                s.wait()
            for w in sweeps:
                w.thread.wait()
        self.browser.timer.stop()
        for tab in self.tab_of.values():
            tab.timer.stop()
            for s in tab.sources:
                if isinstance(s, FollowedRun):
                    s.cancel()
        event.accept()
