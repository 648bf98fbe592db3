"""Views of sweeps over several parameters, coloured by one summary's mean over seeds
(computed in :class:`lab.sweep.SweepData`): a heat map for two swept parameters (grid
cells, or coloured dots for random points) and parallel coordinates for more (one line
per point across the parameters, scaled to [0, 1], ending at the summary). A click on
a cell, dot or line asks for the point's first run (``run_clicked``)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lab.sweep import SweepData, SweepError, read_sweep

from .plots import make_plot
from .sweep_table import cell_text
from .sweep_view import FOLLOW_INTERVAL_MS

COLOURMAP = pg.colormap.get("viridis")


def axis_positions(sweep: SweepData, name: str) -> tuple[np.ndarray, list[str], bool]:
    """Where each point sits along a swept parameter, the tick labels, and whether it is a
    grid axis (evenly spaced cells, one per value) rather than a continuous one."""
    values = [p["values"][name] for p in sweep.points]
    grid = sweep.grid.get(name, [])
    if sweep.space.get("mode", "grid") == "grid" or any(isinstance(v, str) for v in values):
        return np.asarray([grid.index(v) for v in values], float), [cell_text(v) for v in grid], True
    return np.asarray(values, float), [], False


def colours(values: np.ndarray) -> list:
    """Viridis over the finite values' range (of log10 for positive values spanning decades), grey for none."""
    finite = values[np.isfinite(values)]
    if len(finite) and (finite > 0).all() and finite.max() > 1e3 * finite.min():
        values = np.log10(values)
        finite = np.log10(finite)
    lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
    t = (values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5)
    return [
        pg.mkBrush(200, 200, 200) if not np.isfinite(v) else pg.mkBrush(COLOURMAP.map(float(v), mode="qcolor"))
        for v in t
    ]


class SweepMap(QWidget):
    """What the map views share: the summary chooser, following a running sweep file, clicks."""

    run_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sweep: SweepData | None = None
        self.plot = make_plot("", "")
        self.item = self.plot.getPlotItem()
        self.metric_box = QComboBox()
        self.metric_box.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.metric_box.currentIndexChanged.connect(self.redraw)
        self.info = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("colour: mean of"))
        top.addWidget(self.metric_box)
        top.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.info)
        self.timer = QTimer(self)
        self.timer.setInterval(FOLLOW_INTERVAL_MS)
        self.timer.timeout.connect(self.reread)

    def load(self, sweep: SweepData | str, metric: str = "", **_) -> None:
        self.sweep = read_sweep(sweep) if isinstance(sweep, str) else sweep
        if self.sweep.status == "running":
            self.timer.start()
        self._fill_metrics(metric)
        self.redraw()

    def _fill_metrics(self, wanted: str = "") -> None:
        keys = [k for k in self.sweep.summary_keys() if k not in self.sweep.swept]
        current = wanted or self.metric_box.currentText()
        blocked = self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(keys)
        if current in keys:
            self.metric_box.setCurrentText(current)
        self.metric_box.blockSignals(blocked)

    def reread(self) -> None:
        try:
            self.sweep = read_sweep(self.sweep.path)
        except SweepError as e:
            self.timer.stop()
            self.info.setText(f"stopped following the sweep: {e}")
            return
        self._fill_metrics()
        if self.sweep.status != "running":
            self.timer.stop()
        self.redraw()

    def metric(self) -> str:
        return self.metric_box.currentText()

    def means(self) -> np.ndarray:
        return self.sweep.point_stats(self.metric())[0] if self.metric() else np.full(len(self.sweep.points), np.nan)

    def open_point(self, i: int) -> None:
        self.run_clicked.emit(self.sweep.runs[self.sweep.points[i]["runs"][0]]["path"])

    def _ticks(self, side: str, labels: list[str]) -> None:
        self.item.getAxis(side).setTicks([list(enumerate(labels))] if labels else None)

    def redraw(self) -> None:
        raise NotImplementedError


class HeatMapView(SweepMap):
    """Two swept parameters: a cell per grid point (or a dot per random point)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cells = pg.ScatterPlotItem(pxMode=False, symbol="s", pen=None)
        self.cells.sigClicked.connect(lambda _item, pts, *_: pts and self.open_point(int(pts[0].data())))
        self.item.addItem(self.cells)

    def redraw(self) -> None:
        if self.sweep is None:
            return
        (xn, yn) = self.sweep.swept[:2]
        x, xl, xgrid = axis_positions(self.sweep, xn)
        y, yl, ygrid = axis_positions(self.sweep, yn)
        m = self.means()
        size = 1.0 if xgrid and ygrid else 0.03 * max(np.ptp(x) or 1, np.ptp(y) or 1)
        self.cells.setData(
            x=x, y=y, size=size, brush=colours(m), data=list(range(len(x))), symbol="s" if xgrid and ygrid else "o"
        )
        self.item.setLabel("bottom", xn)
        self.item.setLabel("left", yn)
        self._ticks("bottom", xl)
        self._ticks("left", yl)
        fin = m[np.isfinite(m)]
        self.info.setText(
            f"{self.metric()}: {fin.min():.4g} (dark) .. {fin.max():.4g} (yellow)"
            if len(fin)
            else "no finished runs yet"
        )


class ParallelView(SweepMap):
    """Three or more swept parameters: a line per point through every parameter axis."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.lines: list[pg.PlotDataItem] = []

    def redraw(self) -> None:
        if self.sweep is None:
            return
        for line in self.lines:
            self.item.removeItem(line)
        self.lines = []
        cols = []
        for name in self.sweep.swept:
            pos, _, _ = axis_positions(self.sweep, name)
            cols.append(pos)
        m = self.means()
        cols.append(m)
        scaled = []
        for c in cols:
            fin = c[np.isfinite(c)]
            lo, hi = (fin.min(), fin.max()) if len(fin) else (0.0, 1.0)
            scaled.append((c - lo) / (hi - lo) if hi > lo else np.full_like(c, 0.5))
        table = np.column_stack(scaled)
        axes = np.arange(table.shape[1])
        for i, (row, brush) in enumerate(zip(table, colours(m))):
            ok = np.isfinite(row)
            line = self.item.plot(axes[ok], row[ok], pen=pg.mkPen(brush.color(), width=2))
            line.curve.setClickable(True, width=6)
            line.sigClicked.connect(lambda *_a, i=i: self.open_point(i))
            self.lines.append(line)
        self._ticks("bottom", [*self.sweep.swept, self.metric() or "summary"])
        self.item.setXRange(-0.3, len(axes) - 0.7, padding=0)  # room for the outer axes' labels
        self.item.setLabel("left", "scaled to [0, 1] per axis")
        self.info.setText(f"{len(self.sweep.points)} points · colour and last axis: mean {self.metric()}")
