"""Panel for ``nin-mlp`` (paper Figs. 1 centre, 2 bottom, 3): the NIW norm and the next
layer's weight norm, the training objective on the training and held-out splits
(eps = 0) with their exponential fits dashed, and the accuracies, against the epoch."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from lab.runfile import RunData

from ..plots import BLUE, GREEN, PURPLE, VERMILLION, add_legend, long_curve, make_plot
from . import View

NIW, NEXT, TRAIN, TEST = BLUE, VERMILLION, PURPLE, GREEN


def _positive(y: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(y) & (y > 0), y, np.nan)


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.norms = make_plot("epoch", "norm", log_y=True, title="|W_NI| and the next layer's weights")
        self.losses = make_plot("epoch", "objective (ε = 0)", log_y=True, title="Training objective")
        self.accs = make_plot("epoch", "accuracy", title="Accuracy (ε = 0)")
        for p in (self.norms, self.losses, self.accs):
            add_legend(p.getPlotItem())
        self.losses.setXLink(self.norms)
        self.accs.setXLink(self.norms)
        n, l, a = (p.getPlotItem() for p in (self.norms, self.losses, self.accs))
        self.curves = {
            "niw_norm": (long_curve(n, "|W_NI|", NIW, width=2), True),
            "next_norm": (long_curve(n, "|W| next layer", NEXT, width=2, style=Qt.DashDotLine), True),
            "train_objective": (long_curve(l, "train", TRAIN, width=2), True),
            "test_objective": (long_curve(l, "held out", TEST, width=2, style=Qt.DashDotLine), True),
            "train_acc": (long_curve(a, "train", TRAIN, width=2), False),
            "val_acc": (long_curve(a, "validation", TEST, width=2, style=Qt.DashDotLine), False),
            "test_acc": (long_curve(a, "test", TEST, width=1.5, style=Qt.DotLine), False),
        }
        self.fits = {
            "niw_norm": long_curve(n, "fit τ_NIW", NIW, style=Qt.DashLine),
            "train_objective": long_curve(l, "fit τ_loss", TRAIN, style=Qt.DashLine),
            "test_objective": long_curve(l, "fit τ_test", TEST, style=Qt.DashLine),
        }
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.RichText)
        lay = QGridLayout(self)
        lay.addWidget(self.norms, 0, 0)
        lay.addWidget(self.losses, 0, 1)
        lay.addWidget(self.accs, 1, 0)
        lay.addWidget(self.info, 1, 1, Qt.AlignTop)

    def plots(self) -> dict:
        return {
            "norms": self.norms.getPlotItem(),
            "objective": self.losses.getPlotItem(),
            "accuracy": self.accs.getPlotItem(),
        }

    def show_run(self, run: RunData) -> None:
        self.refresh(run)
        for p in (self.norms, self.losses, self.accs):
            p.getPlotItem().enableAutoRange()

    def refresh(self, run: RunData) -> None:
        names = ["series/step"] + [f"series/{k}" for k in self.curves]
        cols = dict(zip(names, run.series(*[n for n in names if n in run])))
        epoch = cols.get("series/step", np.zeros(0)).astype(float)
        for key, (curve, log) in self.curves.items():
            y = cols.get(f"series/{key}")
            if y is not None:
                curve.setData(epoch, _positive(y) if log else y, connect="finite")
        for key, curve in self.fits.items():
            f = run.get(f"fit/{key}")
            if f is not None:
                curve.setData(np.arange(len(f), dtype=float), _positive(f), connect="finite")
        s = run.header.summary
        lines = [
            f"σ_ε = {s['sigma_eps']:.4g} (σ_ε² = {s['sigma_eps2']:.4g}), phase setting "
            f"<b>{run.header.params.get('phase', '?')}</b>"
            if "sigma_eps" in s
            else "starting…"
        ]
        if "phase" in s:
            lines.append(f"measured phase: <b>{s['phase']}</b> (rules in lab/nin/mlp.py)")
        for name, label in (("tau_niw", "τ_NIW"), ("tau_loss", "τ_loss"), ("tau_test", "τ_test")):
            if name in s:
                rng = s.get(f"{name}_range", ["?", "?"])
                lines.append(
                    f"{label} = {float(s[name]):.3g} epochs (R² {float(s[f'{name}_r2']):.3f}, "
                    f"epochs {rng[0]}–{rng[1]}{'' if s.get(f'{name}_ok') else ', poor fit'})"
                )
        self.info.setText("<br>".join(lines))


VIEW = View(("nin-mlp",), Panel)
