"""A categorical map over a 2-D parameter grid: a coloured image (one cell per grid
point) with a legend, curves drawn on top (theory boundaries), a hover readout and a
signal when a cell is clicked. Cells with code 0 are "not computed yet" and drawn
transparent, so a map filling in row by row can be redrawn as it grows.

Axes may be logarithmic; the grid must then be evenly spaced in log10 (as
``numpy.geomspace`` makes it), else evenly spaced.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .plots import BLUE, GREEN, LINE_STYLES, ORANGE, PURPLE, SKY, VERMILLION, add_legend, make_plot

#: colours of the codes 1, 2, ... (colour-blind safe); code 0 (pending) is transparent
PALETTE = (BLUE, GREEN, ORANGE, PURPLE, VERMILLION, SKY)
#: a marker per code at each cell's centre, so the phases differ without colour too,
#: and the glyph the legend shows for it
SYMBOLS = (("o", "\u25cf"), ("t", "\u25bc"), ("d", "\u25c6"), ("x", "\u2715"), ("s", "\u25a0"), ("+", "+"))
#: cells per axis up to which the markers are drawn (beyond, they would touch)
MARKER_CELLS = 48
CURVE_STYLES = LINE_STYLES


def _coords(values: np.ndarray, log: bool) -> np.ndarray:
    return np.log10(values) if log else np.asarray(values, float)


def _holds(a: np.ndarray, row: int, col: int) -> bool:
    """Whether the 2-D array ``a`` has a cell ``(row, col)`` (both indices in range)."""
    return a.ndim >= 2 and row < a.shape[0] and col < a.shape[1]


class PhaseMapView(QWidget):
    """Signals: ``cell_clicked(row, col)`` (row = y index, col = x index)."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = make_plot("x", "y", title="Phase map")
        self.item = self.plot.getPlotItem()
        self.image = pg.ImageItem()
        self.item.addItem(self.image)
        self.item.showGrid(x=False, y=False)  # cells, not values: grid lines only clutter them
        self.markers = pg.ScatterPlotItem(size=8, pen=pg.mkPen(255, 255, 255, 200), brush=pg.mkBrush(0, 0, 0, 200))
        self.item.addItem(self.markers)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.RichText)
        self.readout = QLabel("hover over the map for values; click a cell to open its trajectory")
        self.readout.setTextFormat(Qt.RichText)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.readout)
        self.x = self.y = np.zeros(0)
        self._rect = QRectF(0, 0, 1, 1)
        self.log = (False, False)
        self.names: Sequence[str] = ()
        self.codes = np.zeros((0, 0), dtype=int)
        self.values: dict[str, np.ndarray] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.labels = ("x", "y")
        self.plot.scene().sigMouseMoved.connect(self._on_move)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    # -- content ----------------------------------------------------------------------------
    def set_axes(self, x, y, x_label: str, y_label: str, x_log: bool = True, y_log: bool = False) -> None:
        """Grid values along x (columns) and y (rows), their labels and scales."""
        self.x, self.y = np.asarray(x, float), np.asarray(y, float)
        self.log, self.labels = (bool(x_log), bool(y_log)), (x_label, y_label)
        self.item.setLogMode(*self.log)
        self.item.setLabel("bottom", x_label)
        self.item.setLabel("left", y_label)
        cx, cy = _coords(self.x, x_log), _coords(self.y, y_log)
        dx = (cx[-1] - cx[0]) / max(len(cx) - 1, 1) if len(cx) > 1 else 1.0
        dy = (cy[-1] - cy[0]) / max(len(cy) - 1, 1) if len(cy) > 1 else 1.0
        self._origin, self._step = (cx[0] - dx / 2, cy[0] - dy / 2), (dx, dy)
        self._rect = QRectF(self._origin[0], self._origin[1], dx * len(cx), dy * len(cy))

    def set_codes(
        self, codes: np.ndarray, names: Sequence[str], values: Mapping[str, np.ndarray] | None = None
    ) -> None:
        """Phase codes ``(n_y, n_x)`` (0 = pending), their names, and extra per-cell
        values shown in the hover readout."""
        self.codes, self.names = np.asarray(codes, dtype=int), list(names)
        self.values = dict(values or {})
        colours = np.zeros((len(self.names), 4), dtype=np.uint8)
        for i in range(1, len(self.names)):
            colours[i] = (*PALETTE[(i - 1) % len(PALETTE)], 255)
        rgba = colours[np.clip(self.codes, 0, len(self.names) - 1)]
        self.image.setImage(np.ascontiguousarray(rgba.transpose(1, 0, 2)), autoLevels=False, levels=(0, 255))
        self.image.setRect(self._rect)  # after setImage: the scale depends on the image's size
        self._set_markers()
        counts = np.bincount(self.codes.ravel(), minlength=len(self.names))
        self.legend.setText(
            "  ".join(
                f"<span style='color: rgb{tuple(int(c) for c in colours[i][:3])}; font-size: 14pt'>■</span>"
                f" {SYMBOLS[(i - 1) % len(SYMBOLS)][1]} {n} ({counts[i]})"
                for i, n in enumerate(self.names)
                if i > 0
            )
            + (f"  · {counts[0]} pending" if counts[0] else "")
        )

    def _set_markers(self) -> None:
        """A black marker per computed cell, its shape naming the code."""
        rows, cols = np.nonzero(self.codes > 0)
        if not len(rows) or max(self.codes.shape) > MARKER_CELLS:
            self.markers.clear()
            return
        codes = self.codes[rows, cols]
        self.markers.setData(
            self._origin[0] + (cols + 0.5) * self._step[0],
            self._origin[1] + (rows + 0.5) * self._step[1],
            symbol=[SYMBOLS[(c - 1) % len(SYMBOLS)][0] for c in codes],
        )

    def set_curve(self, name: str, x, y, color=(0, 0, 0), style_index: int = 0) -> None:
        """A curve over the map (a theory boundary), kept and updated by name."""
        if name not in self.curves:
            pen = pg.mkPen(color, width=2, style=CURVE_STYLES[style_index % len(CURVE_STYLES)])
            if self.item.legend is None:
                add_legend(self.item)
            self.curves[name] = self.item.plot([], [], pen=pen, name=name)  # joins the legend
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0 if self.log[0] else True) & (y > 0 if self.log[1] else True)
        self.curves[name].setData(x[ok], y[ok])

    def fit_view(self) -> None:
        if len(self.x) and len(self.y):
            self.item.getViewBox().setRange(rect=self._rect, padding=0)

    # -- interaction ------------------------------------------------------------------------
    def cell_at(self, view_point: QPointF) -> tuple[int, int] | None:
        """``(row, col)`` of the cell under a point in view coordinates, or None."""
        if not len(self.x) or not len(self.y):
            return None
        col = int(np.floor((view_point.x() - self._origin[0]) / self._step[0]))
        row = int(np.floor((view_point.y() - self._origin[1]) / self._step[1]))
        if 0 <= row < len(self.y) and 0 <= col < len(self.x):
            return row, col
        return None

    def cell_center(self, row: int, col: int) -> QPointF:
        """The centre of a cell in view coordinates."""
        return QPointF(self._origin[0] + (col + 0.5) * self._step[0], self._origin[1] + (row + 0.5) * self._step[1])

    def describe(self, row: int, col: int) -> str:
        code = int(self.codes[row, col]) if _holds(self.codes, row, col) else 0
        name = self.names[code] if code < len(self.names) else str(code)
        parts = [f"{self.labels[0]} = {self.x[col]:.4g}", f"{self.labels[1]} = {self.y[row]:.4g}", f"<b>{name}</b>"]
        parts += [f"{k} = {v[row, col]:.4g}" for k, v in self.values.items() if _holds(v, row, col)]
        return " · ".join(parts)

    def _on_move(self, pos) -> None:
        if not self.plot.sceneBoundingRect().contains(pos):
            return
        cell = self.cell_at(self.item.getViewBox().mapSceneToView(pos))
        if cell is not None:
            self.readout.setText(self.describe(*cell))

    def _on_click(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        cell = self.cell_at(self.item.getViewBox().mapSceneToView(ev.scenePos()))
        if cell is not None:
            self.cell_clicked.emit(*cell)
