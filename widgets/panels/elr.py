"""Panel of the ``elr`` experiment: memorisation happening, and ELR preventing it.

- top: the paper's Figure 1 as stacked areas per epoch, for the clean and for the
  wrongly labelled training examples: predicted as the true label (correct), as the
  wrong given label (memorised) or as another class;
- middle: its Figure 2: mean probability of the true class, and the true-class entry of
  the gradient coefficient ``p - y + lambda g`` (mean with a one-sd band; the CE part
  ``p - y`` and the regularisation part ``lambda g`` dashed);
- bottom: test accuracy with the best epoch marked (its value in the legend, where no
  axis range can clip it), and the training losses.

Everything drawn is computed by the experiment and read from the run file.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lab.runfile import RunData

from ..plots import BLUE, GREEN, GREY, LINE_STYLES, SKY, VERMILLION, add_legend, boundary_curve, make_plot, span_x
from . import View

CLEAN_C, NOISY_C = BLUE, VERMILLION
#: stacked bands, bottom to top: (label, series, colour); their top edges differ in line style
STACKS = {
    "clean": (("correct", "clean_correct", GREEN), ("other", "clean_other", SKY)),
    "noisy": (
        ("correct", "noisy_correct", GREEN),
        ("memorised", "noisy_memorized", VERMILLION),
        ("other", "noisy_other", SKY),
    ),
}


def _brush(rgb, alpha=110):
    return pg.mkBrush(*rgb, alpha)


class StackedArea:
    """Bands stacked to 1 on a plot: one boundary curve per band, filled between."""

    def __init__(self, plot: pg.PlotItem, bands):
        self.keys = [key for _, key, _ in bands]
        self.base = boundary_curve(plot)
        self.tops = []
        self.fills = []
        below = self.base
        for i, (label, _, rgb) in enumerate(bands):
            top = plot.plot([], [], pen=pg.mkPen(rgb, width=2, style=LINE_STYLES[i % len(LINE_STYLES)]))
            fill = pg.FillBetweenItem(below, top, brush=_brush(rgb))
            plot.addItem(fill)
            plot.legend.addItem(top, label)
            self.tops.append(top)
            self.fills.append(fill)
            below = top

    def set(self, x: np.ndarray, cols: list[np.ndarray]) -> None:
        self.base.setData(x, np.zeros_like(x))
        acc = np.zeros_like(x)
        for top, c in zip(self.tops, cols):
            acc = acc + np.nan_to_num(c)
            top.setData(x, acc.copy())


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_path = ""
        self._dataset = "cifar10"
        self.tables: list = []
        top = QHBoxLayout()
        self.headline = QLabel()
        top.addWidget(self.headline, 1)
        self.table_button = QPushButton("Table 1\u2026")
        self.table_button.setToolTip("The paper's Table 1 filled from the elr runs in this run's folder")
        self.table_button.clicked.connect(self.open_table)
        top.addWidget(self.table_button)
        grid = QGridLayout()
        outer = QVBoxLayout(self)
        outer.addLayout(top)
        outer.addLayout(grid, 1)
        self._plots = {}

        def plot(name, row, col, *args, legend="top right", columns=1, **kw):
            w = make_plot(*args, **kw)
            add_legend(w.getPlotItem(), legend, columns=columns)
            grid.addWidget(w, row, col)
            self._plots[name] = w.getPlotItem()
            return w.getPlotItem()

        self.stacks = {}
        for col, s in enumerate(("clean", "noisy")):
            title = "Clean labels" if s == "clean" else "Wrong labels"
            p = plot(f"{s} predictions", 0, col, "epoch", "fraction of examples", title=title)
            p.setYRange(0, 1, padding=0.02)
            self.stacks[s] = StackedArea(p, STACKS[s])

        p = plot(
            "p true", 1, 0, "epoch", "mean p of the true class", title="True-class probability", legend="bottom right"
        )
        p.setYRange(0, 1, padding=0.02)
        self.p_true = {
            s: p.plot([], [], pen=pg.mkPen(c, width=2), name=s) for s, c in (("clean", CLEAN_C), ("wrong", NOISY_C))
        }

        p = plot(
            "coefficient",
            1,
            1,
            "epoch",
            "coefficient at c*",
            title="Gradient coefficient at the true class c* (\u00b11 sd)",
        )
        self.coef, self.terms, self.bands, self.band_fills = {}, {}, {}, {}
        for s, c in (("clean", CLEAN_C), ("wrong", NOISY_C)):
            lo, hi = boundary_curve(p), boundary_curve(p)
            band = pg.FillBetweenItem(lo, hi, brush=_brush(c, 50))
            p.addItem(band)
            self.bands[s] = (lo, hi)
            self.band_fills[s] = band
            self.coef[s] = p.plot([], [], pen=pg.mkPen(c, width=2), name=f"{s}: p - y + \u03bb g")
            self.terms[s] = (
                p.plot([], [], pen=pg.mkPen(c, width=1, style=pg.QtCore.Qt.DashLine), name=f"{s}: p - y"),
                p.plot([], [], pen=pg.mkPen(c, width=1, style=pg.QtCore.Qt.DotLine), name=f"{s}: \u03bb g"),
            )

        p = plot("test accuracy", 2, 0, "epoch", "test accuracy", title="Test accuracy", legend="bottom right")
        self.test = p.plot([], [], pen=pg.mkPen(BLUE, width=2), name="test")
        self.train_clean = p.plot(
            [], [], pen=pg.mkPen(GREEN, width=1.5, style=Qt.DashLine), name="train vs clean labels"
        )
        self.best = pg.ScatterPlotItem(size=12, symbol="star", brush=pg.mkBrush(*VERMILLION), pen=None, name="best")
        p.addItem(self.best)
        self.best_label = p.legend.getLabel(self.best)

        p = plot("loss", 2, 1, "epoch", "loss", title="Training loss")
        self.loss = p.plot([], [], pen=pg.mkPen(GREY, width=2), name="optimised loss")
        self.train_loss = p.plot([], [], pen=pg.mkPen(BLUE, width=1.5, style=Qt.DashLine), name="CE on given labels")
        self.reg = p.plot([], [], pen=pg.mkPen(VERMILLION, width=1.5, style=Qt.DotLine), name="ELR term")

    def plots(self) -> dict[str, pg.PlotItem]:
        return dict(self._plots)

    def show_run(self, run: RunData) -> None:
        self.run_path = run.header.path
        p = run.header.params
        self.headline.setText(
            f"{p.get('method', '?')} on {p.get('dataset', '?')}, {p.get('noise_type', '?')} "
            f"noise {100 * float(p.get('noise_rate', 0)):g}%, model {p.get('model', '?')}"
        )
        for plot in self._plots.values():
            span_x(plot, 0, float(p.get("epochs", np.nan)))
        self.refresh(run)

    def open_table(self):
        """Table 1 from the runs beside the one shown, for its data set."""
        from ..elr_table import ElrTableWidget

        folder = os.path.dirname(os.path.abspath(self.run_path)) if self.run_path else ""
        table = ElrTableWidget(folder)
        table.setParent(self, Qt.Window)  # a window of the main window's: it goes when the app quits
        table.set_dataset(self._dataset)
        table.setWindowTitle("ELR: Table 1")
        table.resize(1000, 300)
        table.show()
        self.tables.append(table)
        return table

    def refresh(self, run: RunData) -> None:
        for part in self.refresh_parts(run):
            part()

    def refresh_parts(self, run: RunData) -> list:
        """:meth:`refresh` as the parts a live window draws one event-loop turn each,
        a plot or two per part."""
        self._dataset = run.header.params.get("dataset", "cifar10")

        def cols(*names):
            return run.series("series/step", *[f"series/{n}" for n in names])

        def stack(s):
            x, *c = cols(*s.keys)
            s.set(x.astype(float), c)

        return [
            *(lambda s=s: stack(s) for s in self.stacks.values()),
            lambda: self._refresh_p_true(cols),
            lambda: self._refresh_coefficients(cols),
            lambda: self._refresh_accuracy_and_loss(cols),
        ]

    def _refresh_p_true(self, cols) -> None:
        x, pc, pn = cols("clean_p_true", "noisy_p_true")
        self.p_true["clean"].setData(x, pc, connect="finite")
        self.p_true["wrong"].setData(x, pn, connect="finite")

    def _refresh_coefficients(self, cols) -> None:
        for s, key in (("clean", "clean"), ("wrong", "noisy")):
            x, m, sd, ce, rg = cols(f"{key}_coef", f"{key}_coef_std", f"{key}_ce_term", f"{key}_reg_term")
            self.coef[s].setData(x, m, connect="finite")
            lo, hi = self.bands[s]
            lo.setData(x, np.nan_to_num(m - sd))
            hi.setData(x, np.nan_to_num(m + sd))
            self.terms[s][0].setData(x, ce, connect="finite")
            self.terms[s][1].setData(x, rg, connect="finite")

    def _refresh_accuracy_and_loss(self, cols) -> None:
        x, acc, tc = cols("test_acc", "train_acc_clean")
        self.test.setData(x, acc, connect="finite")
        self.train_clean.setData(x, tc, connect="finite")
        finite = np.isfinite(acc) & (x > 0)
        if finite.any():
            i = int(np.flatnonzero(finite)[np.argmax(acc[finite])])
            self.best.setData([x[i]], [acc[i]])
            self.best_label.setText(f"best {100 * acc[i]:.2f}% @ epoch {int(x[i])}")
        else:
            self.best.setData([], [])
            self.best_label.setText("best")
        x, lo, tl, rg = cols("loss", "train_loss", "reg")
        self.loss.setData(x, lo, connect="finite")
        self.train_loss.setData(x, tl, connect="finite")
        self.reg.setData(x, rg, connect="finite")


VIEW = View(("elr",), Panel)
