"""The run browser: the run files of a folder as a table, refreshed as files appear.

Headers are read with :func:`lab.runfile.read_header`, only for files whose size or
time changed since the last scan; a file that cannot be read shows as
``unreadable: <reason>``. Files that a worker of this window is writing are never
opened: their row comes from ``live_status`` (the window's own bookkeeping). Several
rows can be selected; :meth:`selected_paths` hands them to a comparison view.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Callable

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from lab import experiments
from lab.params import ParamError
from lab.runfile import RunFileError, RunHeader, read_header

COLUMNS = ("file", "experiment", "status", "date", "parameters", "summary")
SCAN_INTERVAL_MS = 1500


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return str(v)


def key_params(header: RunHeader) -> str:
    """The parameters that differ from the experiment's defaults (all if unknown)."""
    try:
        defaults = experiments.get(header.experiment).SPEC.defaults()
    except ParamError:
        defaults = {}
    items = [(k, v) for k, v in header.params.items() if k != "device" and defaults.get(k, object()) != v]
    return ", ".join(f"{k}={_fmt(v)}" for k, v in items)


def summary_text(header: RunHeader) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in header.summary.items() if not isinstance(v, (list, dict)))


def _mtime(entry: os.DirEntry) -> float:
    """The entry's modification time; a file deleted since the scan sorts last (its row
    then reads ``unreadable: vanished``)."""
    try:
        return entry.stat().st_mtime
    except OSError:
        return 0.0


def _is_dir(entry: os.DirEntry) -> bool:
    """A folder (a broken or looping link is listed, with its reason, not skipped)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


class RunBrowser(QWidget):
    """Signals: ``open_requested(path)`` on double-click; ``selection_changed(paths)``."""

    open_requested = Signal(str)
    selection_changed = Signal(list)
    folder_changed = Signal(str)

    def __init__(self, folder: str, live_status: Callable[[], dict[str, tuple[str, str]]] = dict, parent=None):
        super().__init__(parent)
        self.folder = os.path.abspath(folder)
        self.live_status = live_status
        self._cache: dict[str, tuple[tuple, list[str]]] = {}
        self._rows: list[tuple[str, list[str]]] = []
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        change = QPushButton("Change folder…")
        change.clicked.connect(self._choose_folder)
        self.compare_views: list = []
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Overlay a series of the selected runs (select two or more)")
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.compare_selected)
        self.selection_changed.connect(lambda paths: self.compare_button.setEnabled(len(paths) >= 2))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for i in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(i, QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(lambda r, _c: self.open_requested.emit(self._rows[r][0]))
        self.table.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected_paths()))
        top = QHBoxLayout()
        top.addWidget(QLabel("Folder:"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(change)
        top.addWidget(self.compare_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table)
        self.timer = QTimer(self)
        self.timer.setInterval(SCAN_INTERVAL_MS)
        self.timer.timeout.connect(self.refresh)
        self.set_folder(self.folder)
        self.timer.start()

    def set_folder(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        self.folder_label.setText(self.folder)
        self._cache.clear()
        self.refresh()
        self.folder_changed.emit(self.folder)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of run files", self.folder)
        if folder:
            self.set_folder(folder)

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self._rows[r][0] for r in rows if r < len(self._rows)]

    def compare_selected(self):
        """Open a :class:`widgets.compare_view.CompareView` over the selected finished runs."""
        from .compare_view import CompareView

        live = self.live_status()
        paths = [p for p in self.selected_paths() if p not in live]
        try:
            view = CompareView(paths)
        except RunFileError as e:
            QMessageBox.warning(self, "Compare runs", str(e))
            return None
        view.setParent(self, Qt.Window)  # a window of the main window's: it goes when the app quits
        view.setWindowTitle("Compare runs")
        view.resize(900, 560)
        view.show()
        self.compare_views.append(view)
        return view

    def row_of(self, path: str) -> list[str] | None:
        """The cells shown for ``path`` (None if it is not listed)."""
        path = os.path.abspath(path)
        return next((cells for p, cells in self._rows if p == path), None)

    # -- scanning ---------------------------------------------------------------------------
    def _cells(self, path: str, live: dict) -> list[str]:
        name = os.path.basename(path)
        if path in live:
            experiment, status = live[path]
            return [name, experiment, f"{status} (this window)", "", "", ""]
        try:
            st = os.stat(path)
            key = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return [name, "", "unreadable: vanished", "", "", ""]
        except OSError:  # a link to itself, no permission: read_header names the reason
            key = None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            h = read_header(path)
            cells = [name, h.experiment, h.display_status, local_time(h.created), key_params(h), summary_text(h)]
        except RunFileError as e:
            reason = str(e)
            reason = reason[len(path) + 2:] if reason.startswith(path + ": ") else reason
            cells = [name, "", f"unreadable: {reason}", "", "", ""]
        self._cache[path] = (key, cells)
        return cells

    def refresh(self) -> None:
        """Rescan the folder; only changed files are read again."""
        try:
            entries = [e for e in os.scandir(self.folder) if e.name.endswith((".h5", ".hdf5")) and not _is_dir(e)]
        except OSError:
            entries = []
        paths = [os.path.abspath(e.path) for e in sorted(entries, key=_mtime, reverse=True)]
        live = self.live_status()
        # runs of this window whose file the worker has not created yet come first
        starting = sorted(p for p in live if os.path.dirname(p) == self.folder and p not in paths)
        rows = [(p, self._cells(p, live)) for p in starting + paths]
        if rows == self._rows:
            return
        selected = set(self.selected_paths())
        self._rows = rows
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(rows))
        for r, (path, cells) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(path if c == 0 else text)
                self.table.setItem(r, c, item)
            if path in selected:
                self.table.selectionModel().select(
                    self.table.model().index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)
        self.table.blockSignals(False)
        self.table.viewport().update()
