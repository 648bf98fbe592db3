"""The Data dialog: choose the data folder, see which data sets it holds (counts, or the
layout expected for a missing or malformed one) and ask torchvision to download one."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from lab.data import DataError, download, scan

BUILT_IN = (
    ("digits", "1,797 real 8x8 handwritten digits (scikit-learn), 10 classes"),
    ("gaussian", "synthetic Gaussian mixture; sizes, classes, dimension and separation are parameters"),
)
COLUMNS = ("Data set", "Status", "Train", "Test", "Classes", "Where")


class DownloadThread(QThread):
    """Runs :func:`lab.data.download` off the GUI thread; ``done`` carries the error text
    ('' on success)."""

    done = Signal(str)

    def __init__(self, name: str, root: str, parent=None):
        super().__init__(parent)
        self.name, self.root = name, root

    def run(self) -> None:
        try:
            download(self.name, self.root)
        except (DataError, OSError) as e:  # OSError: a folder that cannot be made or written
            self.done.emit(str(e))
            return
        self.done.emit("")


class DataDialog(QDialog):
    """Folder picker, a table of data sets found or missing, details and a download button."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Data sets")
        self.resize(860, 480)
        self.settings = QSettings("NoiseLab", "NoiseLab")
        self.folder = QLineEdit(str(self.settings.value("data_root", "")))
        self.folder.setPlaceholderText("folder holding FashionMNIST/, cifar-10-batches-py/, cifar-100-python/, svhn/")
        self.folder.editingFinished.connect(self.rescan)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        rescan = QPushButton("Rescan")
        rescan.clicked.connect(self.rescan)
        # Enter in the folder field rescans; without a default the dialog would click
        # its first button, Browse…
        rescan.setDefault(True)
        browse.setAutoDefault(False)
        top = QHBoxLayout()
        top.addWidget(QLabel("Data folder"))
        top.addWidget(self.folder, 1)
        top.addWidget(browse)
        top.addWidget(rescan)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumHeight(150)

        self.download_button = QPushButton("Download")
        self.download_button.setToolTip(
            "Ask torchvision to download the selected data set into the folder (needs a network)"
        )
        self.download_button.clicked.connect(self.download_selected)
        self.download_button.setAutoDefault(False)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.download_button, QDialogButtonBox.ActionRole)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.details)
        lay.addWidget(buttons)
        self._problems: dict[str, str] = {}
        self._thread: DownloadThread | None = None
        self.rescan()

    # -- actions ----------------------------------------------------------------------------
    def browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder", self.folder.text())
        if path:
            self.folder.setText(path)
            self.rescan()

    def set_folder(self, path: str) -> None:
        self.folder.setText(path)
        self.rescan()

    def rescan(self) -> None:
        root = self.folder.text().strip()
        self.settings.setValue("data_root", root)
        rows = [(name, "built in", "", "", "", text) for name, text in BUILT_IN]
        self._problems = {}
        for s in scan(root):
            if s.found:
                rows.append((s.name, "found", f"{s.n_train:,}", f"{s.n_test:,}", str(s.num_classes), s.folder))
            else:
                self._problems[s.name] = s.problem
                rows.append((s.name, s.state, "", "", str(s.num_classes), s.problem.splitlines()[0]))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c in (2, 3, 4):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._selection_changed()

    def selected_name(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else ""

    def _selection_changed(self) -> None:
        name = self.selected_name()
        self.details.setPlainText(self._problems.get(name, ""))
        self.download_button.setEnabled(name in self._problems and self._thread is None)

    def download_selected(self) -> None:
        name, root = self.selected_name(), self.folder.text().strip()
        if not name or not root:
            QMessageBox.warning(self, "Download", "Choose a data folder and a missing data set first.")
            return
        self.download_button.setEnabled(False)
        self.details.setPlainText(f"downloading {name} into {root} …")
        self._thread = DownloadThread(name, root, self)
        self._thread.done.connect(self._download_done)
        self._thread.start()

    def _download_done(self, error: str) -> None:
        self._thread.wait()
        self._thread = None
        self.rescan()
        if error:
            self.details.setPlainText(error)
            QMessageBox.warning(self, "Download failed", error)

    def reject(self) -> None:
        if self._thread is not None:
            self._thread.wait()
        super().reject()
