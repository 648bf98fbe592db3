"""The fallback panel: every scalar series against ``series/step``, one plot each; a
series with no finite value yet (a validation split that is not used, say) gets its plot
once it has one."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab.runfile import RunData

from ..plots import BLUE, axes, long_curve, style_plot
from . import View

#: drawn by experiments without their own panel
COLUMNS = 2


def scalar_series(run: RunData) -> list[str]:
    """Paths of the 1-D ``series/*`` datasets other than the step axis."""
    return sorted(
        p for p, a in run.arrays.items() if p.startswith("series/") and p != "series/step" and np.ndim(a) == 1
    )


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.layout_widget = pg.GraphicsLayoutWidget()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.layout_widget, 1)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._plots: dict[str, pg.PlotItem] = {}

    def plots(self) -> dict[str, pg.PlotItem]:
        return dict(self._plots)

    def show_run(self, run: RunData) -> None:
        self.layout_widget.clear()
        self.curves.clear()
        self._plots.clear()
        self.refresh(run)

    def refresh(self, run: RunData) -> None:
        for path in scalar_series(run):
            step, y = run.series("series/step", path)
            if path not in self.curves:
                if not np.isfinite(y).any():
                    continue  # an empty plot says nothing
                self._add_plot(path)
            self.curves[path].setData(step.astype(float), y)
        s = run.header.summary
        self.summary.setText(
            "summary: " + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in s.items())
            if s
            else ""
        )

    def _add_plot(self, path: str) -> None:
        name = path[len("series/") :]
        n = len(self.curves)
        item = self.layout_widget.addPlot(row=n // COLUMNS, col=n % COLUMNS, axisItems=axes())
        style_plot(item, "step", name)
        self.curves[path] = long_curve(item, name, BLUE)
        self._plots[name] = item


VIEW = View((), Panel)
