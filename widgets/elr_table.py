"""The paper's Table 1 (methods x noise settings) filled from the ``elr`` runs found in a
folder, with the paper's numbers beside ours. The table itself is computed in
:func:`lab.elr.table.table1`; this widget only draws it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lab.compare import headers_in_folder
from lab.data.params import DATASETS
from lab.elr.table import Table, table1


class ElrTableWidget(QWidget):
    """Choose a folder and a data set; each cell reads ``paper | ours mean +- sd (n)``."""

    def __init__(self, folder: str = "", parent=None):
        super().__init__(parent)
        self.folder = folder
        self.headers: list = []
        self.table: Table | None = None
        top = QHBoxLayout()
        self.folder_label = QLabel(folder or "(no folder)")
        choose = QPushButton("Folder\u2026")
        choose.clicked.connect(self._choose)
        self.dataset_box = QComboBox()
        self.dataset_box.addItems(DATASETS)
        self.dataset_box.setCurrentText("cifar10")
        self.dataset_box.currentTextChanged.connect(lambda _: self.redraw())
        top.addWidget(QLabel("Runs in:"))
        top.addWidget(self.folder_label, 1)
        top.addWidget(choose)
        top.addWidget(QLabel("Data set:"))
        top.addWidget(self.dataset_box)
        self.grid = QTableWidget()
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(QLabel("Test accuracy at the last epoch, %: paper (ResNet-34, Table 1) | ours"))
        lay.addWidget(self.grid, 1)
        if folder:
            self.load_folder(folder)

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with elr runs", self.folder)
        if folder:
            self.load_folder(folder)

    def load_folder(self, folder: str) -> None:
        self.folder = folder
        self.folder_label.setText(folder)
        self.headers = headers_in_folder(folder)
        self.redraw()

    def set_dataset(self, name: str) -> None:
        self.dataset_box.setCurrentText(name)

    def redraw(self) -> None:
        t = self.table = table1(self.headers, self.dataset_box.currentText())
        self.grid.clear()
        self.grid.setRowCount(len(t.rows))
        self.grid.setColumnCount(len(t.columns))
        self.grid.setVerticalHeaderLabels(list(t.rows))
        self.grid.setHorizontalHeaderLabels([t.column_label(c) for c in t.columns])
        for i, row in enumerate(t.rows):
            for j, col in enumerate(t.columns):
                self.grid.setItem(i, j, QTableWidgetItem(t.cells[(row, col)].text()))
        self.grid.resizeColumnsToContents()

    def cell_text(self, row: str, column_label: str) -> str:
        t = self.table
        j = [t.column_label(c) for c in t.columns].index(column_label)
        return self.grid.item(list(t.rows).index(row), j).text()
