"""Panel for ``nin-toy``: the weights w0, w1, w_NI and the loss of one SGD run against
the step, with the averaged dynamics of Eq. (3) dashed on top (paper Fig. 2, top), and
a bar of the theory's phases over σ_ε² with this run's σ_ε² marked.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from lab.runfile import RunData
from lab.theory.nin import PHASES

from ..phase_map_view import PALETTE
from ..plots import BLUE, PURPLE, VERMILLION, add_legend, long_curve, make_plot
from . import View

WEIGHTS = (
    ("w0", "w0 (data)", (0, 0, 0)),
    ("w1", "w1 (second layer)", VERMILLION),
    ("w_NI", "w_NI (noise injection)", BLUE),
)
LOSS = PURPLE
PHASE_NAMES = tuple(p for p in PHASES if p != "pending")
#: the loss axis is logarithmic; values at or below this are drawn at it
LOSS_FLOOR = 1e-300


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.w_plot = make_plot("SGD step", "weight", title="Weights: SGD (solid) and averaged Eq. (3) (dashed)")
        wp = self.w_plot.getPlotItem()
        add_legend(wp)
        self.curves = {}
        for key, label, color in WEIGHTS:
            self.curves[key] = long_curve(wp, label, color)
            self.curves["avg_" + key] = long_curve(wp, f"{key} averaged", color, width=1.5, style=Qt.DashLine)
        self.l_plot = make_plot("SGD step", "loss", log_y=True, title="Loss (population loss of the current weights)")
        lp = self.l_plot.getPlotItem()
        add_legend(lp)
        self.batch_loss = long_curve(lp, "mini-batch loss", LOSS + (70,), width=1)
        self.loss = long_curve(lp, "loss (SGD)", LOSS, width=2)
        self.avg_loss = long_curve(lp, "loss (averaged)", LOSS, width=1.5, style=Qt.DashLine)
        self.l_plot.setXLink(self.w_plot)
        self.bar = make_plot("σ_ε² (injected noise variance)", "", log_x=True, title="Theory phases (paper Sec. 3)")
        self.bar.setMaximumHeight(130)
        bp = self.bar.getPlotItem()
        bp.hideAxis("left")
        bp.showGrid(x=False, y=False)  # phase bands, not values: grid lines only clutter them
        bp.setMouseEnabled(y=False)
        self.regions = []
        for i, name in enumerate(PHASE_NAMES):
            r = pg.LinearRegionItem(
                orientation="vertical", movable=False, brush=pg.mkBrush(*PALETTE[i], 90), pen=pg.mkPen(None)
            )
            bp.addItem(r)
            label = pg.TextItem(name, color=PALETTE[i], anchor=(0.5, 0))
            bp.addItem(label)
            self.regions.append((r, label))
        self.uv_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen((0, 0, 0), style=Qt.DashLine),
            label="4/(lr(w1²+w_NI²))",
            labelOpts={"position": 0.2, "color": "k"},
        )
        self.marker = pg.InfiniteLine(
            angle=90, pen=pg.mkPen((0, 0, 0), width=3), label="this run", labelOpts={"position": 0.85, "color": "k"}
        )
        bp.addItem(self.uv_line)
        bp.addItem(self.marker)
        self._theory_drawn = False
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.RichText)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.w_plot)
        split.addWidget(self.l_plot)
        lay = QVBoxLayout(self)
        lay.addWidget(self.bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.info)

    def plots(self) -> dict:
        return {
            "weights": self.w_plot.getPlotItem(),
            "loss": self.l_plot.getPlotItem(),
            "phases": self.bar.getPlotItem(),
        }

    def show_run(self, run: RunData) -> None:
        self._theory_drawn = False
        self.refresh(run)
        for p in (self.w_plot, self.l_plot):
            p.getPlotItem().enableAutoRange()

    def _draw_theory(self, run: RunData) -> bool:
        """Place the phase bar; False while the run has not stored its boundaries yet."""
        get = lambda k: float(np.asarray(run.get(f"theory/{k}", np.nan)))
        dec, cat, div, uv = (
            get(k) for k in ("sigma_eps2_dec", "sigma_eps2_cat", "sigma_eps2_div", "sigma_eps2_div_uv")
        )
        s2 = float(run.header.params.get("sigma_eps", np.nan)) ** 2
        vals = [v for v in (dec, cat, div, uv, s2) if np.isfinite(v) and v > 0]
        if not np.isfinite(cat) or not vals:
            return False
        lo, hi = np.log10(min(vals)) - 2, np.log10(max(vals)) + 2
        edges = [lo] + [np.log10(v) if np.isfinite(v) and v > 0 else lo for v in (dec, cat, div)] + [hi]
        for (r, label), a, b in zip(self.regions, edges[:-1], edges[1:]):
            r.setRegion((a, max(a, b)))
            label.setPos((a + max(a, b)) / 2, 1.0)
        self.uv_line.setPos(np.log10(uv) if np.isfinite(uv) and uv > 0 else hi)
        self.marker.setPos(np.log10(s2) if s2 > 0 else lo)
        bp = self.bar.getPlotItem()
        bp.setXRange(lo, hi, padding=0)
        bp.setYRange(0, 1.2, padding=0)
        return True

    def refresh(self, run: RunData) -> None:
        if not self._theory_drawn:
            self._theory_drawn = self._draw_theory(run)
        names = (
            ["series/step"]
            + [f"series/{k}" for k in self.curves]
            + ["series/loss", "series/batch_loss", "series/avg_loss"]
        )
        cols = dict(zip(names, run.series(*names)))
        step = cols["series/step"].astype(float)
        for key, curve in self.curves.items():
            curve.setData(step, cols[f"series/{key}"], connect="finite")
        for curve, key in ((self.loss, "loss"), (self.batch_loss, "batch_loss"), (self.avg_loss, "avg_loss")):
            y = cols[f"series/{key}"]
            curve.setData(step, np.where(np.isfinite(y), np.maximum(y, LOSS_FLOOR), np.nan), connect="finite")
        s = run.header.summary
        if "phase" in s:
            text = (
                f"phase: <b>{s['phase']}</b> (rules in lab/nin/toy.py) · theory: <b>{s.get('theory_phase', '?')}</b>"
                f" (paper: {s.get('paper_phase', '?')})"
                f" · σ_ε² = {s.get('sigma_eps2', float('nan')):.4g} · boundaries on σ_ε²: "
                f"dec {s.get('sigma_eps2_dec', float('nan')):.3g}, cat {s.get('sigma_eps2_cat', float('nan')):.3g}, "
                f"div {s.get('sigma_eps2_div', float('nan')):.3g} (two-layer limit {s.get('sigma_eps2_div_uv', float('nan')):.3g})"
            )
            if isinstance(s.get("decay_step"), float) and np.isfinite(s["decay_step"]):
                text += f" · |w_NI| fell to 1/e at step {int(s['decay_step'])}"
        else:
            text = f"running · {len(step)} steps so far"
        self.info.setText(text)


VIEW = View(("nin-toy",), Panel)
