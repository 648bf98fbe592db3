"""Compare runs: one series from several run files overlaid, with a legend naming only
the parameters that differ between the runs (:func:`lab.compare.differing_params`).

Only the scalar series every run has are offered (the others are named as not shared);
the x axis is chosen among the axes all runs share; either axis may be logarithmic.
Replicates (the same parameters, different seeds) are drawn as their mean with a
±1 sd band and their count in the legend (computed by :func:`lab.compare.mean_sd`).
Smoothing is a choice: a debiased exponential moving average
(:func:`lab.compare.debiased_ema`), with the raw curve always drawn faintly beside it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from lab.compare import (
    common_series,
    debiased_ema,
    differing_params,
    legend_label,
    mean_sd,
    replicate_groups,
    shared_axes,
    step_axis_name,
    unshared_series,
)
from lab.runfile import RunData, read_run

from .plots import (
    LINE_STYLES,
    PALETTE,
    add_legend,
    boundary_curve,
    long_curve,
    make_plot,
)

#: smoothing choices: label -> EMA weight (None: raw only)
SMOOTHING = {"no smoothing": None, "EMA 0.6": 0.6, "EMA 0.9": 0.9, "EMA 0.99": 0.99}
#: the raw curve under a smoothed one, and a band's fill
RAW_ALPHA, BAND_ALPHA = 70, 50


class CompareView(QWidget):
    """Overlay of one chosen series from several runs; ``set_runs(paths)`` (re)reads them."""

    def __init__(self, paths: Sequence[str] = (), parent=None):
        super().__init__(parent)
        self.runs: list[RunData] = []
        self.labels: list[str] = []
        self.items: list = []
        self.bands: list[pg.FillBetweenItem] = []
        self.curves: list[pg.PlotDataItem] = []
        self.series_box, self.x_box, self.smooth_box = QComboBox(), QComboBox(), QComboBox()
        self.smooth_box.addItems(list(SMOOTHING))
        self.smooth_box.setToolTip("Debiased exponential moving average; the raw curve stays, faint")
        self.log_x, self.log_y = QCheckBox("log x"), QCheckBox("log y")
        self.group_box = QCheckBox("replicates as mean ± sd")
        self.group_box.setChecked(True)
        self.group_box.setToolTip("Runs that differ only in their seed: one mean curve with a ±1 sd band")
        top = QHBoxLayout()
        for w in (
            QLabel("Series:"),
            self.series_box,
            QLabel("x:"),
            self.x_box,
            self.log_x,
            self.log_y,
            self.smooth_box,
            self.group_box,
        ):
            top.addWidget(w)
        top.addStretch(1)
        self.differing = QLabel()
        self.differing.setWordWrap(True)
        self.plot_widget = make_plot("step", "value")
        self.plot = self.plot_widget.getPlotItem()
        self.legend = add_legend(self.plot)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.differing)
        lay.addWidget(self.plot_widget, 1)
        for sig in (
            self.series_box.currentTextChanged,
            self.x_box.currentTextChanged,
            self.smooth_box.currentTextChanged,
            self.log_x.toggled,
            self.log_y.toggled,
            self.group_box.toggled,
        ):
            sig.connect(self.redraw)
        if paths:
            self.set_runs(paths)

    def set_runs(self, paths: Sequence[str]) -> None:
        """Read the run files and offer the scalar series they share (``test_acc`` first when present)."""
        self.runs = [read_run(p) for p in paths]
        series = [s for s in common_series(self.runs) if all(np.ndim(r[f"series/{s}"]) == 1 for r in self.runs)]
        current = self.series_box.currentText()
        pick = current if current in series else ("test_acc" if "test_acc" in series else (series[0] if series else ""))
        axes = shared_axes(self.runs)
        for box, items, choice in ((self.series_box, series, pick), (self.x_box, axes, "step")):
            blocked = box.blockSignals(True)  # drawn once, below
            box.clear()
            box.addItems(items)
            box.setCurrentText(choice)
            box.blockSignals(blocked)
        self.redraw()

    def _describe(self, names: list[str]) -> None:
        text = "differs: " + (", ".join(names) if names else "nothing")
        missing = unshared_series(self.runs)
        if missing:
            text += " · not shared by every run (not offered): " + ", ".join(missing)
        self.differing.setText(text)

    def redraw(self, *_args) -> None:
        for it in self.items:
            self.plot.removeItem(it)
        self.legend.clear()
        self.items, self.bands, self.curves = [], [], []
        name = self.series_box.currentText()
        headers = [r.header for r in self.runs]
        grouped = self.group_box.isChecked()
        groups = replicate_groups(headers) if grouped else [[i] for i in range(len(self.runs))]
        # between groups of replicates the seed explains nothing: name only what else differs
        names = differing_params([headers[g[0]] for g in groups])
        if grouped:
            names = [k for k in names if k != "seed"]
        self._describe(names)
        if not name:
            return
        xk = self.x_box.currentText() or "step"
        self.plot.setLabel("bottom", step_axis_name(headers) if xk == "step" else xk)
        self.plot.setLabel("left", name)
        lx, ly = self.log_x.isChecked(), self.log_y.isChecked()
        self.plot.setLogMode(lx, ly)
        weight = SMOOTHING[self.smooth_box.currentText()]
        for gi, group in enumerate(groups):
            color = PALETTE[gi % len(PALETTE)]
            style = LINE_STYLES[(gi // len(PALETTE)) % len(LINE_STYLES)]
            xs, ys = [], []
            for i in group:
                run = self.runs[i]
                x, y = run.series("series/step" if xk == "step" else f"series/{xk}", f"series/{name}")
                xs.append(np.asarray(x, float))
                ys.append(np.asarray(y, float))
            label = legend_label(headers[group[0]], names)
            if len(group) > 1:
                x, y, sd, n = mean_sd(xs, ys)
                label = f"{label if names else 'mean'} (mean ± sd, n = {n})"
                self._band(x, y - sd, y + sd, color)
            else:
                x, y = xs[0], ys[0]
            self._curve(x, y, label, color, style, weight)

    def _band(self, x, lo, hi, color) -> None:
        a, b = boundary_curve(self.plot), boundary_curve(self.plot)
        a.setData(x, np.nan_to_num(lo))
        b.setData(x, np.nan_to_num(hi))
        band = pg.FillBetweenItem(a, b, brush=pg.mkBrush(*color, BAND_ALPHA))
        self.plot.addItem(band)
        self.items += [a, b, band]
        self.bands.append(band)

    def _curve(self, x, y, label, color, style, weight) -> None:
        if weight is None:
            c = long_curve(self.plot, label, color, width=2, style=style)
            c.setData(x, y, connect="finite")
            self.items.append(c)
            self.curves.append(c)
            return
        raw = long_curve(self.plot, None, (*color, RAW_ALPHA), width=1)
        raw.setData(x, y, connect="finite")
        smooth = long_curve(self.plot, f"{label}, EMA {weight:g} (raw faint)", color, width=2, style=style)
        smooth.setData(x, debiased_ema(y, weight), connect="finite")
        self.items += [raw, smooth]
        self.curves.append(smooth)

    def legend_texts(self) -> list[str]:
        """The legend's entries as shown (for the window's status line and tests)."""
        return [label.text for _, label in self.legend.items]
