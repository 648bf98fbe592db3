"""Compare runs: the curves of one series from several run files overlaid, with a legend
naming only the parameters that differ between the runs (:func:`lab.compare.differing_params`).

Works for every experiment: the series offered are those all chosen runs have.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lab.compare import common_series, differing_params, legend_label
from lab.runfile import RunData, read_run

from .plots import add_legend, long_curve, make_plot

#: distinguishable colours, reused cyclically
PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


class CompareView(QWidget):
    """Overlay of one chosen series from several runs; ``set_runs(paths)`` (re)reads them."""

    def __init__(self, paths: Sequence[str] = (), parent=None):
        super().__init__(parent)
        self.runs: list[RunData] = []
        self.labels: list[str] = []
        self.curves: list[pg.PlotDataItem] = []
        top = QHBoxLayout()
        top.addWidget(QLabel("Series:"))
        self.series_box = QComboBox()
        self.series_box.currentTextChanged.connect(self.show_series)
        top.addWidget(self.series_box, 1)
        self.differing = QLabel()
        top.addWidget(self.differing, 2)
        self.plot_widget = make_plot("step", "value")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # series have no units to scale
        self.legend = add_legend(self.plot)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.plot_widget, 1)
        if paths:
            self.set_runs(paths)

    def set_runs(self, paths: Sequence[str]) -> None:
        """Read the run files and offer the series they share (``test_acc`` first when present)."""
        self.runs = [read_run(p) for p in paths]
        headers = [r.header for r in self.runs]
        names = differing_params(headers)
        self.labels = [legend_label(h, names) for h in headers]
        self.differing.setText("differs: " + (", ".join(names) if names else "nothing"))
        series = common_series(self.runs)
        current = self.series_box.currentText()
        pick = current if current in series else ("test_acc" if "test_acc" in series else (series[0] if series else ""))
        self.series_box.blockSignals(True)  # drawn once, below
        self.series_box.clear()
        self.series_box.addItems(series)
        self.series_box.setCurrentText(pick)
        self.series_box.blockSignals(False)
        self.show_series(pick)

    def show_series(self, name: str) -> None:
        for c in self.curves:
            self.plot.removeItem(c)
        self.legend.clear()
        self.curves = []
        if not name:
            return
        self.plot.setLabel("left", name)
        for i, (run, label) in enumerate(zip(self.runs, self.labels)):
            x, y = run.series("series/step", f"series/{name}")
            c = long_curve(self.plot, label, PALETTE[i % len(PALETTE)], width=2)
            c.setData(np.asarray(x, float), np.asarray(y, float), connect="finite")
            self.curves.append(c)

    def legend_texts(self) -> list[str]:
        """The legend's entries as shown (for the window's status line and tests)."""
        return [label.text for _, label in self.legend.items]
