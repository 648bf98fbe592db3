"""A sweep's runs as a table: index, status (as shown: a run a killed sweep left going is
``interrupted``), progress, the swept values and seed, and every numeric summary. A
double click on a row asks for its run (``run_clicked``)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from lab.sweep import SweepData


def cell_text(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class RunTable(QTableWidget):
    run_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sweep: SweepData | None = None
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.verticalHeader().hide()
        self.cellDoubleClicked.connect(lambda row, _col: self.run_clicked.emit(self.sweep.runs[row]["path"]))

    def show_sweep(self, sweep: SweepData) -> None:
        self.sweep = sweep
        values = sweep.swept + (["seed"] if sweep.seeds > 1 else [])
        summaries = [k for k in sweep.summary_keys() if k not in values]
        heads = ["#", "status", "progress", *values, *summaries]
        self.setColumnCount(len(heads))
        self.setHorizontalHeaderLabels(heads)
        self.setRowCount(len(sweep.runs))
        for row, r in enumerate(sweep.runs):
            done, total = r.get("progress", [0, 0])
            ended = r["status"] not in ("pending", "running")
            cells = [
                r["index"],
                sweep.run_status(r),
                "100%" if ended else f"{100 * done / total:.0f}%" if total else "",
                *(r["values"].get(k, "") for k in values),
                *(r["summary"].get(k, "") for k in summaries),
            ]
            for col, v in enumerate(cells):
                item = self.item(row, col)
                if item is None:
                    self.setItem(row, col, QTableWidgetItem(cell_text(v)))
                elif item.text() != cell_text(v):
                    item.setText(cell_text(v))
            if r["error"]:
                self.item(row, 1).setToolTip(r["error"])
        self.resizeColumnsToContents()
