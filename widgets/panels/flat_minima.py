"""Panel for ``flat-minima`` (label-noise SGD prefers flat minima, SCIENCE.md §4).

Against the step on log axes: training and test loss; the regulariser R (closed form
on the sparse model) with its Hutchinson/SLQ estimate and a ±2 s.e. band, R_small =
tr H / 4, and the flattest interpolator's R; the Hessian's trace (±2 s.e. band) and top
eigenvalue with the stability edge 2/lr. For ``label-noise`` runs the theory — GD on
``L + lambda R`` with the run's lambda — is drawn dotted beside each measurement. For the
sparse model, the learnt coefficients ``u*u - v*v`` as bars against ``theta*``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from lab.experiments.flat_minima import MEASURED, SPARSE_ONLY
from lab.experiments.flat_minima import THEORY as THEORY_SERIES
from lab.runfile import RunData

from ..plots import BLACK, BLUE, GREEN, ORANGE, PURPLE, VERMILLION, add_legend, boundary_curve, make_plot
from . import View

#: one colour per method (Okabe-Ito, as every panel), so compared runs read alike
METHOD_COLOURS = {"gd": BLUE, "sgd": GREEN, "label-noise": VERMILLION, "explicit": PURPLE}
THEORY = BLACK
#: every scalar series the experiment writes
SERIES = MEASURED + SPARSE_ONLY + THEORY_SERIES
#: log axes: values at or below this are drawn at it
FLOOR = 1e-30


def positive(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, float)
    return np.where(np.isfinite(y), np.maximum(y, FLOOR), np.nan)


class Band:
    """``y ± 2 se`` as a shaded band between two invisible curves."""

    def __init__(self, plot: pg.PlotItem, colour):
        self.plot = plot
        self.lo, self.hi = boundary_curve(plot), boundary_curve(plot)  # a pen=None curve has no path to fill
        self.fill = pg.FillBetweenItem(self.lo, self.hi, brush=pg.mkBrush(*colour, 50))
        plot.addItem(self.fill)

    def set(self, x, y, se) -> None:
        """The band's edges; in log10 units on a log axis (the bare curves that bound a
        fill are not transformed by the plot's log mode, unlike its data items)."""
        ok = np.isfinite(y) & np.isfinite(se) & (np.asarray(x) > 0)
        xs, lo, hi = np.asarray(x[ok], float), positive(y[ok] - 2 * se[ok]), positive(y[ok] + 2 * se[ok])
        if self.plot.getAxis("bottom").logMode:
            xs = np.log10(xs)
        if self.plot.getAxis("left").logMode:
            lo, hi = np.log10(lo), np.log10(hi)
        self.lo.setData(xs, lo)
        self.hi.setData(xs, hi)


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss_plot = make_plot("step", "loss", log_x=True, log_y=True, title="Training and test loss")
        self.r_plot = make_plot("step", "R", log_x=True, log_y=True, title="Implicit regulariser R")
        self.h_plot = make_plot("step", "Hessian", log_x=True, log_y=True, title="Hessian: trace and top eigenvalue")
        self.coef_plot = make_plot("coordinate j", "β_j", title="Coefficients u*u − v*v against θ*")
        for w in (self.loss_plot, self.r_plot, self.h_plot, self.coef_plot):
            add_legend(w.getPlotItem())
            w.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        self.r_plot.setXLink(self.loss_plot)
        self.h_plot.setXLink(self.loss_plot)
        self.colour = METHOD_COLOURS["label-noise"]
        self._build_curves()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.RichText)
        grid = QGridLayout()
        for i, w in enumerate((self.loss_plot, self.r_plot, self.h_plot, self.coef_plot)):
            grid.addWidget(w, i // 2, i % 2)
        lay = QVBoxLayout(self)
        lay.addLayout(grid, 1)
        lay.addWidget(self.info)

    def _build_curves(self) -> None:
        lp, rp, hp, cp = (w.getPlotItem() for w in (self.loss_plot, self.r_plot, self.h_plot, self.coef_plot))
        for p in (lp, rp, hp, cp):
            p.clear()
            if p.legend is not None:
                p.legend.clear()
        c = self.colour
        dot = {"style": Qt.DotLine, "width": 2}
        self.r_band, self.trace_band = Band(rp, c), Band(hp, ORANGE)
        self.curves = {
            "train_loss": lp.plot([], [], pen=pg.mkPen(c, width=2), name="train"),
            "test_loss": lp.plot([], [], pen=pg.mkPen(c, width=2, style=Qt.DashLine), name="test"),
            "theory_train_loss": lp.plot([], [], pen=pg.mkPen(THEORY, **dot), name="theory: GD on L + λR (train)"),
            "theory_test_loss": lp.plot([], [], pen=pg.mkPen((120, 120, 120), **dot), name="theory (test)"),
            "R": rp.plot([], [], pen=pg.mkPen(c, width=2), name="R"),
            "R_estimate": rp.plot(
                [],
                [],
                pen=pg.mkPen(c, width=1),
                symbol="o",
                symbolSize=4,
                symbolBrush=c,
                symbolPen=None,
                name="R by SLQ (±2 s.e.)",
            ),
            "R_small": rp.plot([], [], pen=pg.mkPen(c, width=1, style=Qt.DashLine), name="tr H / 4"),
            "theory_R": rp.plot([], [], pen=pg.mkPen(THEORY, **dot), name="theory: GD on L + λR"),
            "trace_hessian": hp.plot([], [], pen=pg.mkPen((255, 127, 14), width=2), name="tr H (Hutchinson, ±2 s.e.)"),
            "top_eigenvalue": hp.plot([], [], pen=pg.mkPen(c, width=2), name="top eigenvalue (Lanczos)"),
            "top_eigenvalue_exact": hp.plot(
                [], [], pen=pg.mkPen(THEORY, width=1, style=Qt.DashLine), name="top eigenvalue (exact)"
            ),
        }
        self.sparsest = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen((44, 160, 44), style=Qt.DashLine),
            label="flattest interpolator θ*",
            labelOpts={"position": 0.75, "color": "k"},
        )
        self.edge = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen((0, 0, 0), style=Qt.DashLine),
            label="2 / lr",
            labelOpts={"position": 0.1, "color": "k"},
        )
        rp.addItem(self.sparsest)
        hp.addItem(self.edge)
        self.truth_bars = pg.BarGraphItem(
            x=[], height=[], width=0.8, brush=pg.mkBrush(160, 160, 160, 160), pen=None, name="θ*"
        )
        self.beta_bars = pg.BarGraphItem(
            x=[], height=[], width=0.45, brush=pg.mkBrush(*c), pen=None, name="learnt u*u − v*v"
        )
        cp.addItem(self.truth_bars)
        cp.addItem(self.beta_bars)

    def plots(self) -> dict:
        return {
            "loss": self.loss_plot.getPlotItem(),
            "R": self.r_plot.getPlotItem(),
            "hessian": self.h_plot.getPlotItem(),
            "coefficients": self.coef_plot.getPlotItem(),
        }

    def show_run(self, run: RunData) -> None:
        colour = METHOD_COLOURS.get(run.header.params.get("method"), METHOD_COLOURS["label-noise"])
        if colour != self.colour:
            self.colour = colour
            self._build_curves()
        self.refresh(run)
        for w in (self.loss_plot, self.r_plot, self.h_plot, self.coef_plot):
            w.getPlotItem().enableAutoRange()

    def refresh(self, run: RunData) -> None:
        names = ["series/step"] + [f"series/{k}" for k in SERIES if f"series/{k}" in run]
        cols = {k.split("/", 1)[1]: v for k, v in zip(names, run.series(*names))}
        step = cols.get("step", np.zeros(0)).astype(float)
        keep = step > 0  # log x axis: row 0 (the initial point) is left out
        x = step[keep]
        nan = np.full(len(step), np.nan)
        col = lambda k: np.asarray(cols.get(k, nan), float)[keep]
        for key, curve in self.curves.items():
            y = col(key)
            if np.isfinite(y).any():
                curve.setData(x, positive(y), connect="finite")
            else:
                curve.setData([], [])
        self.r_band.set(x, col("R_estimate"), col("R_estimate_se"))
        self.trace_band.set(x, col("trace_hessian"), col("trace_hessian_se"))
        self._theory_lines(run)
        self._coefficients(run)
        self._info(run, len(step))

    def _theory_lines(self, run: RunData) -> None:
        for line, key in ((self.sparsest, "theory/R_sparsest"), (self.edge, "theory/stability_edge")):
            v = float(np.asarray(run.get(key, np.nan)))
            line.setVisible(bool(np.isfinite(v) and v > 0))
            if line.isVisible():
                line.setPos(np.log10(v))

    def _coefficients(self, run: RunData) -> None:
        beta, truth = run.get("series/beta"), run.get("data/theta_star")
        sparse = beta is not None and truth is not None and len(beta) > 0
        self.coef_plot.setVisible(bool(sparse) or run.header.params.get("model") == "sparse-quadratic")
        if not sparse:
            return
        j = np.arange(len(truth), dtype=float)
        self.truth_bars.setOpts(x=j, height=np.asarray(truth, float))
        self.beta_bars.setOpts(x=j, height=np.asarray(beta[-1], float))

    def _info(self, run: RunData, rows: int) -> None:
        s, p = run.header.summary, run.header.params
        lam = float(np.asarray(run.get("theory/lambda", np.nan)))
        text = f"method <b>{p.get('method', '?')}</b> · lr {p.get('lr', float('nan')):g} · λ = lr σ²/B = {lam:.3g}"
        if "R" in s:
            text += (
                f" · final R {s['R']:.4g}, tr H {s.get('trace_hessian', float('nan')):.4g}"
                f" ± {s.get('trace_hessian_se', float('nan')):.2g}, test loss {s.get('test_loss', float('nan')):.3g}"
            )
        if "dist_to_truth" in s:
            text += f" · |β − θ*| = {s['dist_to_truth']:.3g}, {int(s.get('n_large', 0))} coordinates > 0.1"
        text += f" · {rows} measured steps · {run.header.display_status}"
        self.info.setText(text)


VIEW = View(("flat-minima",), Panel)
