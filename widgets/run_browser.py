"""The run browser: every run under the runs folder (sweep folders as groups that expand
to their runs), sortable by any column, filtered by an expression, experiment and
status; tags and notes, delete to ``.trash/`` with undo, archive, CSV export, compare.

Headers are read by an indexer on its own thread (:mod:`workers.index_worker`) and cached
in the folder's index, so the window never waits for a file: a folder opens from its
index at once and new or changed files arrive as they are read, each updating its row.
Files that a worker of this window is writing are never opened: their row comes from
``live_status`` (the window's own bookkeeping).
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from typing import Callable

from PySide6.QtCore import QCoreApplication, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lab import experiments
from lab.library.catalog import ARCHIVE, TRASH, Moved
from lab.library.query import FilterError
from lab.library.records import STATUSES_SHOWN, parse_tags, write_csv
from lab.runfile import RunFileError
from workers.index_worker import start_indexer

from .run_table import DATE, FIXED, GROUP_SUFFIX, NAME, NOTE, PARAMS, STATUS, TAGS, RunFilterProxy, RunTableModel

SCAN_INTERVAL_MS = 1500
#: records read by the indexer reach the table at most this often
APPLY_MS = 500
#: from this many records in one batch on, the table's records leave the cyclic garbage
#: collector's sight (``gc.freeze``): its full passes scan every object, 150-200 ms with
#: 10,000 runs held, during which the GUI waits. Frozen objects are still freed when no
#: longer referenced (records hold no cycles); only cyclic garbage of that moment stays.
FREEZE_FROM = 256
#: column widths in characters (no resize-to-contents: it would read every row)
WIDTHS = {NAME: 30, STATUS: 16, DATE: 22, PARAMS: 40, TAGS: 14, NOTE: 20}
ALL = "all"


def _freeze_if_many(records: list) -> None:
    """``gc.freeze()`` after a batch of at least :data:`FREEZE_FROM` records."""
    if len(records) >= FREEZE_FROM:
        gc.freeze()


class _Table(QTableView):
    """The run table; while it paints, the indexer waits (``pause``): a paint calls the
    model's ``data()`` thousands of times, and each call would first wait for the GIL
    held by an indexer thread in the middle of a scan."""

    def __init__(self, pause: Callable[[], contextlib.AbstractContextManager]):
        super().__init__()
        self.pause = pause

    def paintEvent(self, event) -> None:
        with self.pause():
            super().paintEvent(event)


class RunBrowser(QWidget):
    """Signals: ``open_requested(path)`` on double-click of a run; ``selection_changed(paths)``;
    ``folder_changed(folder)``; ``synced()`` after each scan of the folder."""

    open_requested = Signal(str)
    selection_changed = Signal(list)
    folder_changed = Signal(str)
    synced = Signal()
    # requests to the indexer thread (queued)
    _open = Signal(str)
    _sync = Signal(list)
    _annotate = Signal(str, list, str)
    _move = Signal(list, str)
    _restore = Signal(object)
    _close = Signal()

    def __init__(self, folder: str, live_status: Callable[[], dict[str, tuple[str, str]]] = dict, parent=None):
        super().__init__(parent)
        self.folder = os.path.abspath(folder)
        self.live_status = live_status
        self.compare_views: list = []
        self.undo_stack: list[Moved] = []
        self._busy = False
        self._again = False
        self._pending: dict = {}  # records read but not yet in the table
        self._applied_at = -1e9  # time.monotonic() of the last application
        self._apply_timer = QTimer(self)
        self._apply_timer.setSingleShot(True)
        self._apply_timer.setInterval(APPLY_MS)
        self._apply_timer.timeout.connect(self._apply_pending)

        self.model = RunTableModel(self)
        self.proxy = RunFilterProxy(self.model, self)
        self.table = _Table(self._indexer_waiting)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(DATE, Qt.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditKeyPressed | QAbstractItemView.SelectedClicked)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(False)
        self.model.modelReset.connect(self._size_columns)
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.selection_changed.emit(self.selected_paths())
        )
        self.model.annotated.connect(self._annotate)

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        change = QPushButton("Change folder…")
        change.clicked.connect(self._choose_folder)
        self.filter_box = QLineEdit()
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.setPlaceholderText("filter: words, key=value, metric>x, tag=good …")
        self.filter_box.setToolTip(
            "Words are searched in names, tags, notes and parameters; key=value, "
            "key!=value, key>x, key<=x, key~text test a parameter, a summary value or "
            "experiment / status / tag / note / sweep. All terms must hold."
        )
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(200)
        self._filter_timer.timeout.connect(self._apply_filter)
        self.filter_box.textChanged.connect(lambda _t: self._filter_timer.start())
        self.experiment_box = QComboBox()
        self.experiment_box.addItems([ALL, *experiments.registry()])
        self.experiment_box.setToolTip("Only runs of this experiment; summary columns are its summary values")
        self.experiment_box.currentTextChanged.connect(self._on_experiment)
        self.status_box = QComboBox()
        self.status_box.addItems([ALL, *STATUSES_SHOWN])
        self.status_box.setToolTip("Only runs with this status")
        self.status_box.currentTextChanged.connect(
            lambda s: self.proxy.set_status("" if s == ALL else s) or self._update_count()
        )
        self.count_label = QLabel()

        def button(text, tip, slot):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _checked=False: slot())
            return b

        self.compare_button = button(
            "Compare", "Overlay a series of the selected runs (select two or more)", self.compare_selected
        )
        self.compare_button.setEnabled(False)
        self.selection_changed.connect(lambda paths: self.compare_button.setEnabled(len(paths) >= 2))
        self.tag_button = button(
            "Tag…", "Add tags to the selected runs (edit a Tags or Note cell with F2)", self.tag_selected
        )
        self.export_button = button(
            "Export CSV…", "Parameters and summaries of the selected runs, one row each", self.export_selected
        )
        self.archive_button = button(
            "Archive", "Move the selected runs into .archive/ in the runs folder", lambda: self.move_selected(ARCHIVE)
        )
        self.delete_button = button(
            "Delete",
            "Move the selected runs into .trash/ in the runs folder (Undo brings them back)",
            lambda: self.move_selected(TRASH),
        )
        self.undo_button = button("Undo", "Bring back the runs deleted or archived last", self.undo)
        self.undo_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(QLabel("Folder:"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(change)
        bar = QHBoxLayout()
        bar.addWidget(self.filter_box, 3)
        bar.addWidget(self.experiment_box)
        bar.addWidget(self.status_box)
        bar.addWidget(self.count_label)
        for b in (
            self.compare_button,
            self.tag_button,
            self.export_button,
            self.archive_button,
            self.delete_button,
            self.undo_button,
        ):
            bar.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)

        self.indexer, self.thread = start_indexer()
        self._open.connect(self.indexer.open_folder)
        self._sync.connect(self.indexer.sync)
        self._annotate.connect(self.indexer.annotate)
        self._move.connect(self.indexer.move_out)
        self._restore.connect(self.indexer.restore)
        self._close.connect(self.indexer.close)
        self.indexer.loaded.connect(self._on_loaded)
        self.indexer.changed.connect(self._on_changed)
        self.indexer.removed.connect(self._on_removed)
        self.indexer.synced.connect(self._on_synced)
        self.indexer.moved.connect(self._on_moved)
        self.indexer.restored.connect(self._on_changed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.timer = QTimer(self)
        self.timer.setInterval(SCAN_INTERVAL_MS)
        self.timer.timeout.connect(self.refresh)
        self.set_folder(self.folder)
        self.timer.start()

    # -- folder and indexer -----------------------------------------------------------------
    def set_folder(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        self.folder_label.setText(self.folder)
        self.undo_stack.clear()
        self.undo_button.setEnabled(False)
        self.model.reset([])
        self._open.emit(self.folder)
        self.refresh()
        self.folder_changed.emit(self.folder)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of run files", self.folder)
        if folder:
            self.set_folder(folder)

    def _live(self) -> dict[str, tuple[str, str]]:
        """The window's live runs under the folder, by relative path."""
        out = {}
        for path, value in self.live_status().items():
            rel = os.path.relpath(os.path.abspath(path), self.folder)
            if not rel.startswith(".."):
                out[rel] = value
        return out

    def refresh(self) -> None:
        """Ask the indexer to rescan (it reads only new or changed files); the live
        runs' rows are updated now. Answers come as signals; ``synced`` at the end."""
        live = self._live()
        self.model.set_live(live)
        if self._busy:
            self._again = True  # one more scan when this one ends
            return
        self._busy = True
        self._sync.emit(list(live))

    @property
    def idle(self) -> bool:
        """No scan running or waiting: every file changed before the last
        :meth:`refresh` is in the table."""
        return not (self._busy or self._again or self._pending)

    def shutdown(self) -> None:
        """Stop scanning and end the indexer's thread (the window is closing)."""
        self.timer.stop()
        if self.thread.isRunning():
            self.indexer.cancel()
            self._close.emit()
            self.thread.wait(10_000)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    @contextlib.contextmanager
    def _indexer_waiting(self):
        """The indexer waits while the table takes many records (see ``IndexWorker.gate``)."""
        self.indexer.gate.clear()
        try:
            yield
        finally:
            self.indexer.gate.set()

    def _on_loaded(self, folder: str, records: list) -> None:
        if folder == self.folder:
            self._pending.clear()
            with self._indexer_waiting():
                self.model.reset(records)
            self._update_count()
            if records:
                self._applied_at = time.monotonic()  # the rest waits for the next event-loop turns
            _freeze_if_many(records)

    def _on_changed(self, records: list) -> None:
        """Records arrive in batches while the indexer reads; they are applied together
        at most every :data:`APPLY_MS` (each application re-sorts the table), the first
        of a quiet spell at once."""
        for r in records:
            self._pending[r.rel] = r
        if not self._apply_timer.isActive():
            wait = self._apply_timer.interval() - (time.monotonic() - self._applied_at) * 1e3
            if wait <= 0:
                self._apply_pending()
            else:
                self._apply_timer.start(int(wait))

    def _apply_pending(self) -> None:
        """Put the records read so far into the table; the next batch waits five times
        as long as this took (at least :data:`APPLY_MS`), so that a first scan of
        thousands of files leaves the GUI thread mostly free."""
        self._apply_timer.stop()
        if self._pending:
            t0 = time.perf_counter()
            records, self._pending = list(self._pending.values()), {}
            with self._indexer_waiting():
                self.model.update(records)
            self._update_count()
            self._apply_timer.setInterval(max(APPLY_MS, int(5e3 * (time.perf_counter() - t0))))
            self._applied_at = time.monotonic()
            _freeze_if_many(records)

    def _on_removed(self, rels: list) -> None:
        self._apply_pending()
        self.model.remove(rels)
        self._update_count()

    def _on_synced(self) -> None:
        self._apply_pending()
        self._busy = False
        self.synced.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _size_columns(self) -> None:
        chars = self.fontMetrics().averageCharWidth()
        for c in range(self.model.columnCount()):
            width = WIDTHS.get(c, 11 if c < len(FIXED) else max(9, len(self.model.headerData(c, Qt.Horizontal)) + 2))
            self.table.setColumnWidth(c, width * chars + 12)

    def _update_count(self) -> None:
        total = sum(1 for r in self.model.records.values())
        self.count_label.setText(f"{self.proxy.runs():,} of {total:,} runs")

    # -- filtering --------------------------------------------------------------------------
    def _apply_filter(self) -> None:
        try:
            with self._indexer_waiting():
                self.proxy.set_filter(self.filter_box.text())
        except FilterError as e:
            self.filter_box.setStyleSheet("QLineEdit { background: #fde0e0; }")
            self.filter_box.setToolTip(str(e))
            return
        self.filter_box.setStyleSheet("")
        self.filter_box.setToolTip("")
        self._update_count()

    def set_filter(self, expression: str) -> None:
        """Type ``expression`` into the filter box and apply it now."""
        self.filter_box.setText(expression)
        self._filter_timer.stop()
        self._apply_filter()

    def _on_experiment(self, text: str) -> None:
        experiment = "" if text == ALL else text
        with self._indexer_waiting():
            self.model.set_experiment(experiment)
            self.proxy.set_experiment(experiment)
        self._update_count()

    # -- rows and selection -----------------------------------------------------------------
    def keys(self) -> list[str]:
        """The keys of the rows shown, top to bottom (runs: relative paths)."""
        return [self.proxy.key(r) for r in range(self.proxy.rowCount())]

    def row_of(self, path: str) -> list[str] | None:
        """The cells shown for the run at ``path`` (None if it is not listed)."""
        rel = os.path.relpath(os.path.abspath(path), self.folder)
        return self.model.cells(rel) if self.model.row_of(rel) >= 0 else None

    def select_paths(self, paths: list[str]) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        rels = {os.path.relpath(os.path.abspath(p), self.folder) for p in paths}
        for r in range(self.proxy.rowCount()):
            if self.proxy.key(r) in rels:
                sel.select(self.proxy.index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)

    def selected_rels(self) -> list[str]:
        """Relative paths of the selected runs (a selected sweep stands for its runs)."""
        out: dict[str, None] = {}
        for index in self.table.selectionModel().selectedRows():
            for rel in self.model.group_runs(self.proxy.key(index.row())):
                out[rel] = None
        return list(out)

    def selected_paths(self) -> list[str]:
        return [os.path.join(self.folder, rel) for rel in self.selected_rels()]

    def _on_double_click(self, index) -> None:
        key = self.proxy.key(index.row())
        if key.endswith(GROUP_SUFFIX):
            self.proxy.toggle(key)
            self._update_count()
        elif index.column() not in (TAGS, NOTE):
            self.open_requested.emit(os.path.join(self.folder, key))

    # -- actions ----------------------------------------------------------------------------
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

    def annotate(self, rel: str, tags: list[str] | None = None, note: str | None = None) -> None:
        """Set a run's tags and/or note (written into the file once the run has ended)."""
        r = self.model.records[rel]
        self._annotate.emit(rel, list(r.tags if tags is None else tags), r.note if note is None else note)

    def tag_selected(self) -> None:
        rels = [rel for rel in self.selected_rels() if rel in self.model.records]
        if not rels:
            return
        text, ok = QInputDialog.getText(
            self, "Tag runs", f"Tags to add to {len(rels)} run(s), comma-separated (a leading - removes one):"
        )
        if not ok:
            return
        words = parse_tags(text)
        add, drop = [w for w in words if not w.startswith("-")], {w[1:] for w in words if w.startswith("-")}
        for rel in rels:
            tags = self.model.records[rel].tags
            self.annotate(rel, [t for t in tags if t not in drop] + [t for t in add if t not in tags])

    def export_selected(self, path: str | None = None) -> int:
        """Write the selected runs (all shown if none is selected) to one CSV."""
        rels = self.selected_rels() or [k for k in self.keys() if not k.endswith(GROUP_SUFFIX)]
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export runs", os.path.join(self.folder, "runs.csv"), "CSV (*.csv)"
            )
            if not path:
                return 0
        try:
            return write_csv([self.model.records[rel] for rel in rels if rel in self.model.records], path)
        except OSError as e:
            QMessageBox.critical(self, "Cannot export runs", f"{path}: {e}")
            return 0

    def move_selected(self, where: str = TRASH) -> None:
        """Delete (to ``.trash/``) or archive the selected runs; runs still written are kept."""
        live = self._live()
        rels = [
            rel
            for rel in self.selected_rels()
            if rel not in live and rel in self.model.records and not self.model.records[rel].writing
        ]
        if rels:
            self._move.emit(rels, where)

    def _on_moved(self, moved: Moved, where: str) -> None:
        self._apply_pending()
        self.model.remove([r.rel for r in moved.records])
        self.undo_stack.append(moved)
        self.undo_button.setEnabled(True)
        self._update_count()

    def undo(self) -> None:
        if self.undo_stack:
            self._restore.emit(self.undo_stack.pop())
        self.undo_button.setEnabled(bool(self.undo_stack))
