"""The main window: one tab per registered experiment, the run browser dock, menus,
progress in each tab and messages in the status bar."""

from __future__ import annotations

import importlib
import importlib.util
import os

from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox, QTabWidget

from lab import experiments
from lab.configs import ConfigError
from lab.export import ExportError, export_names, write_export
from lab.params import ParamError
from lab.runfile import RunFileError, read_header, read_run
from lab.runner import default_run_dir
from lab.sweep import SweepError
from resources import STYLE_SHEET

from .experiment_tab import ExperimentTab, viewer_experiment
from .figure import FigureError, run_metadata, write_figure
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


#: run files kept in File > Open Recent
RECENT_MAX = 10
#: figure width written from the window (a two-column figure of a paper)
FIGURE_WIDTH_MM = 180.0
FIGURE_DPI = 300


class MainWindow(QMainWindow):
    """Remembers (QSettings) its geometry, dock and splitter state, the runs folder,
    the last tab, each tab's last preset and the recently opened files; run and sweep
    files dropped on it are opened."""

    def __init__(self, run_dir: str | None = None):
        super().__init__()
        self.setWindowTitle("Noise Lab")
        self.setAcceptDrops(True)
        self.settings = QSettings()
        if run_dir is None:
            run_dir = self.settings.value("runs_folder", "") or None
        with open(STYLE_SHEET) as f:
            self.setStyleSheet(f.read())
        self.tabs = QTabWidget()
        self.tab_of: dict[str, ExperimentTab] = {}
        self.browser = RunBrowser(run_dir or default_run_dir(), live_status=self.live_status)
        for exp in experiments.registry().values():
            self._add_tab(exp)
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
        self._restore_settings()
        self._update_actions()

    def _add_tab(self, exp, runnable: bool = True) -> ExperimentTab:
        tab = ExperimentTab(exp, run_dir=lambda: self.browser.folder, runnable=runnable)
        tab.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        tab.run_ended.connect(self._on_run_ended)
        tab.state_changed.connect(self._update_actions)
        tab.run_requested.connect(self.run_in_tab)
        self.tabs.addTab(tab, exp.name)
        self.tabs.setTabToolTip(self.tabs.count() - 1, exp.title)
        self.tab_of[exp.name] = tab
        return tab

    def run_in_tab(self, experiment: str, values: dict) -> None:
        """Start a run of ``experiment`` with ``values`` in its tab and show that tab."""
        tab = self.tab_of.get(experiment)
        if tab is None:
            self.statusBar().showMessage(f"no tab for experiment '{experiment}'", 10_000)
            return
        tab.form.set_values(values)
        tab.start_run()
        self.tabs.setCurrentWidget(tab)

    # -- settings ---------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        st = self.settings
        if st.value("geometry") is not None:
            self.restoreGeometry(st.value("geometry"))
        if st.value("window_state") is not None:
            self.restoreState(st.value("window_state"))
        for name, tab in self.tab_of.items():
            preset = st.value(f"tabs/{name}/preset", "")
            if preset and (preset in tab.experiment.presets):
                tab.apply_preset(preset)
            split = st.value(f"tabs/{name}/splitter")
            if split is not None:
                tab.splitter.restoreState(split)
        last = st.value("last_tab", "")
        if last in self.tab_of:
            self.tabs.setCurrentWidget(self.tab_of[last])
        self.fit_screen()

    def fit_screen(self) -> None:
        """Keep the window on its screen: never wider or taller than its free area."""
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None and (self.width() > screen.width() or self.height() > screen.height()):
            self.resize(min(self.width(), screen.width()), min(self.height(), screen.height()))

    def save_settings(self) -> None:
        st = self.settings
        st.setValue("geometry", self.saveGeometry())
        st.setValue("window_state", self.saveState())
        st.setValue("runs_folder", self.browser.folder)
        tab = self.current_tab()
        if tab is not None:
            st.setValue("last_tab", tab.name)
        for name, t in self.tab_of.items():
            st.setValue(f"tabs/{name}/preset", t.preset_box.currentText() if t.preset_box.currentIndex() > 0 else "")
            st.setValue(f"tabs/{name}/splitter", t.splitter.saveState())
        st.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: str) -> None:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent_files", files[:RECENT_MAX])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = [p for p in self.recent_files() if os.path.exists(p)]
        for p in files:
            a = self.recent_menu.addAction(os.path.basename(p))
            a.setToolTip(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(files))

    # -- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(self._droppable(u.toLocalFile()) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if self._droppable(u.toLocalFile())]
        for p in paths:
            self.open_path(p)
        if paths:
            event.acceptProposedAction()

    @staticmethod
    def _droppable(path: str) -> bool:
        return path.lower().endswith((".h5", ".hdf5", ".json"))

    def open_path(self, path: str):
        """Open a run file, or a sweep file (``.json``) in its sweep view."""
        return self.open_sweep(path) if path.lower().endswith(".json") else self.open_run(path)

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
        self._action(
            m,
            "Open s&weep…",
            self.open_sweep_dialog,
            "Ctrl+Shift+O",
            "Open a sweep file (sweep.json) into its sweep view",
        )
        self.recent_menu = m.addMenu("Open &Recent")
        self._fill_recent()
        self._action(m, "Open runs &folder", self.open_runs_folder, tip="Show the folder of run files")
        m.addSeparator()
        self.load_config_action = self._action(
            m,
            "&Load parameters…",
            self.load_config_dialog,
            tip="Fill the form from a TOML config file (as 'run --config')",
        )
        self.save_config_action = self._action(
            m,
            "Save &parameters…",
            self.save_config_dialog,
            tip="Save the form as a TOML config file for 'noiselab run --config'",
        )
        m.addSeparator()
        self.export_figure_action = self._action(
            m,
            "Export &figure…",
            self.export_figure_dialog,
            "Ctrl+E",
            f"Save the shown panel as a PNG, SVG or PDF figure {FIGURE_WIDTH_MM:g} mm wide",
        )
        self.export_plot_action = self._action(
            m, "Export &plot…", self.export_plot_dialog, tip="Save one plot of the panel as PNG, SVG or PDF"
        )
        self.export_csv_action = self._action(
            m,
            "Export &data…",
            self.export_data_dialog,
            tip="Save a dataset of the shown run (a series, the phase map, theory) or all its series as CSV or NPY",
        )
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        m = self.menuBar().addMenu("&Run")
        self.run_action = self._action(m, "&Run", self.run_current, "Ctrl+R", "Start a run with the form's values")
        self.sweep_action = self._action(
            m,
            "S&weep…",
            self.sweep_current,
            "Ctrl+Shift+R",
            "Run the experiment over a list or range of one parameter's values",
        )
        self.cancel_action = self._action(m, "&Cancel", self.cancel_current, Qt.Key_Escape, "Stop the run shown")
        m = self.menuBar().addMenu("&View")
        m.addAction(dock.toggleViewAction())
        m = self.menuBar().addMenu("&Tools")
        self.data_action = self._action(
            m, "&Data…", self.open_data_dialog, tip="Data sets: folders, formats and label corruption"
        )
        self.data_action.setEnabled(importlib.util.find_spec("widgets.data_dialog") is not None)

    def _update_actions(self) -> None:
        if not hasattr(self, "run_action"):
            return
        tab = self.current_tab()
        self.run_action.setEnabled(tab is not None and tab.runnable and tab.form.is_valid())
        self.load_config_action.setEnabled(tab is not None and tab.runnable)
        self.save_config_action.setEnabled(self.run_action.isEnabled())
        self.sweep_action.setEnabled(self.run_action.isEnabled())
        self.cancel_action.setEnabled(tab is not None and tab.current is not None and tab.current.running)
        has_run = tab is not None and tab.current is not None and tab.current.run is not None
        self.export_figure_action.setEnabled(has_run)
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
        dialog = SweepDialog(tab.name, tab.experiment.spec, base, self.browser.folder, self)
        if dialog.exec() != SweepDialog.Accepted:
            return None
        return self._show_sweep(
            SweepWindow.start(
                tab.name,
                base,
                dialog.space(),
                dialog.folder(),
                preset=tab.preset_tag(base),
                seeds=dialog.seeds(),
                backend=dialog.backend(),
                parent=self,
            )
        )

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
        path, _ = QFileDialog.getOpenFileName(
            self, "Open run", self.browser.folder, "Run files (*.h5 *.hdf5);;All files (*)"
        )
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
            if tab is None:  # a script's experiment (lab.Run): a view-only tab with the generic panel
                tab = self._add_tab(viewer_experiment(header.experiment), runnable=False)
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
        self._remember(path)
        self.statusBar().showMessage(f"opened {os.path.basename(path)} ({source.status})", 10_000)
        return True

    def save_config_dialog(self) -> None:
        tab = self.current_tab()
        path, _ = QFileDialog.getSaveFileName(self, "Save parameters", f"{tab.name}.toml", "TOML config (*.toml)")
        if path:
            try:
                tab.save_config(path)
            except (ParamError, ConfigError) as e:
                QMessageBox.critical(self, "Cannot save parameters", str(e))

    def load_config_dialog(self) -> None:
        tab = self.current_tab()
        path, _ = QFileDialog.getOpenFileName(self, "Load parameters", "", "TOML config (*.toml);;All files (*)")
        if path:
            try:
                tab.load_config(path)
            except ConfigError as e:
                QMessageBox.critical(self, "Cannot load parameters", str(e))

    def open_sweep_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open sweep", self.browser.folder, "Sweep files (sweep.json *.json);;All files (*)"
        )
        if path:
            self.open_sweep(path)

    def open_sweep(self, path: str) -> SweepWindow | None:
        """Show a sweep file in its sweep view; an unreadable one gets a message box."""
        try:
            window = self._show_sweep(SweepWindow.open(path, parent=self))
            self._remember(os.path.abspath(path))
            return window
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
    def _save_name(self, title: str, stem: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, os.path.join(self.browser.folder, stem), filters)
        return path

    def export_figure_dialog(self) -> None:
        """The shown panel as a figure, as ``noiselab figure`` draws it."""
        tab = self.current_tab()
        stem = os.path.splitext(os.path.basename(tab.current.path))[0] + ".pdf"
        path = self._save_name("Export figure", stem, "PDF (*.pdf);;SVG drawing (*.svg);;PNG image (*.png)")
        if path:
            self._write_figure(tab.panel, path, None, tab.current.run.header)

    def _write_figure(self, widget, path: str, region, header) -> None:
        try:
            write_figure(widget, path, FIGURE_WIDTH_MM, FIGURE_DPI, run_metadata(header), region)
        except (FigureError, OSError) as e:
            QMessageBox.critical(self, "Cannot export figure", str(e))
            return
        self.statusBar().showMessage(f"figure saved to {path}", 10_000)

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
        stem = os.path.splitext(os.path.basename(tab.current.path))[0] + f"-{name}.png"
        path = self._save_name("Export plot", stem, "PNG image (*.png);;SVG drawing (*.svg);;PDF (*.pdf)")
        if not path:
            return
        try:
            export_plot(plots[name], path, run_metadata(tab.current.run.header))
        except (FigureError, OSError) as e:
            QMessageBox.critical(self, "Cannot export plot", str(e))
            return
        self.statusBar().showMessage(f"plot saved to {path}", 10_000)

    def export_data_dialog(self) -> None:
        """One dataset of the shown run (or all its series as a table) to CSV or NPY."""
        tab = self.current_tab()
        run = tab.current.run
        names = export_names(run)
        if not names:
            return
        name, ok = QInputDialog.getItem(
            self, "Export data", "Dataset ('series': every series, a row per step)", names, 0, False
        )
        if not ok:
            return
        stem = os.path.splitext(os.path.basename(tab.current.path))[0] + "-" + name.replace("/", "-") + ".csv"
        path = self._save_name("Export data", stem, "CSV (*.csv);;NumPy array (*.npy)")
        if not path:
            return
        try:
            skipped = write_export(run, name, path)
        except (ExportError, OSError) as e:
            QMessageBox.critical(self, "Cannot export data", str(e))
            return
        note = f" (left out, other row axis: {', '.join(skipped)})" if skipped else ""
        self.statusBar().showMessage(f"{name} saved to {path}{note}", 10_000)

    # -- closing ----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        running = self.live_runs()
        sweeps = [w for w in self.sweep_windows if w.running]
        if running or sweeps:
            answer = QMessageBox.question(
                self,
                "Runs in progress",
                f"{len(running)} run(s) and {len(sweeps)} sweep(s) are still going. Cancel them and quit?\n"
                "What they wrote so far is kept, with status 'cancelled'.",
            )
            if answer != QMessageBox.Yes:
                event.ignore()
                return
            for s in running + sweeps:
                s.cancel()
            for s in running:
                s.wait()
            for w in sweeps:
                w.thread.wait()
        self.save_settings()
        self.browser.shutdown()
        for tab in self.tab_of.values():
            tab.timer.stop()
            for s in tab.sources:
                if isinstance(s, FollowedRun):
                    s.cancel()
        event.accept()
