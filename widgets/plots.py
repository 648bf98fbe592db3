"""Plot helpers shared by the panels: labelled plots, decimation for drawing, a density
cloud for large scatters, covariance ellipses and export to PNG/SVG.

Drawing stays fluid by drawing less (DESIGN.md, performance rules): long curves use
peak downsampling with ``clipToView`` (or log-spaced decimation for log axes); a cloud
of more than :data:`SCATTER_MAX` points becomes a 2-D histogram image updated
incrementally, with only the most recent points drawn as symbols.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers ImageExporter)
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem, QWidget

pg.setConfigOptions(background="w", foreground="k")

#: up to this many points a cloud is a plain scatter; beyond, a density image
SCATTER_MAX = 10_000
#: the most recent points drawn as symbols on top of the density image
RECENT = 1_000


class PaintClock:
    """Wall time the GUI thread has spent painting plots, in seconds: what a redraw
    really costs (pyqtgraph paints after ``setData`` returns, from the event loop)."""

    def __init__(self):
        self.seconds = 0.0


PAINT_CLOCK = PaintClock()


class MeteredPlotWidget(pg.PlotWidget):
    """A PlotWidget whose paint time is added to :data:`PAINT_CLOCK`."""

    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        super().paintEvent(event)
        PAINT_CLOCK.seconds += time.perf_counter() - t0


def make_plot(x_label: str, y_label: str, x_units: str = "", y_units: str = "", title: str = "",
              log_x: bool = False, log_y: bool = False) -> pg.PlotWidget:
    """A plot with labelled axes, a light grid, and optional log axes.

    Axes (with their grid lines) and the legend are cached as pixmaps: replaying an
    axis's picture costs 3-8 ms a frame (log axes most), a cached one ~0.5 ms, and
    pyqtgraph redraws it only when its range or style changes."""
    w = MeteredPlotWidget(title=title or None)
    item = w.getPlotItem()
    item.setLabel("bottom", x_label, units=x_units or None)
    item.setLabel("left", y_label, units=y_units or None)
    item.showGrid(x=True, y=True, alpha=0.25)
    for side in ("bottom", "left"):
        # major and minor ticks only: every grid line is repainted with each frame
        item.getAxis(side).setStyle(maxTickLevel=1)
        item.getAxis(side).setCacheMode(QGraphicsItem.DeviceCoordinateCache)
    item.setLogMode(log_x, log_y)
    return w


def span_x(plot: pg.PlotItem, first: float, last: float) -> None:
    """Fix the x range at the whole run, ``first`` to ``last`` (data units, also on a log
    axis), known from its parameters: a growing curve then never changes the range, so
    the axis is not regenerated and relaid out on every redraw. A non-finite or empty
    span leaves auto-range on."""
    if plot.getAxis("bottom").logMode:
        if first <= 0:
            return
        first, last = np.log10(first), np.log10(last)
    if np.isfinite([first, last]).all() and last > first:
        plot.setXRange(first, last, padding=0.02)  # turns x auto-range off


#: legend anchors: the offset of :meth:`pyqtgraph.PlotItem.addLegend` for each corner
LEGEND_CORNERS = {"top right": (-10, 10), "top left": (10, 10), "bottom right": (-10, -10), "bottom left": (10, -10)}


def add_legend(plot: pg.PlotItem, corner: str = "top right", size: str = "9pt", columns: int = 1) -> pg.LegendItem:
    """A legend in ``corner`` on a translucent white box, so that curves passing under
    it neither hide its entries nor vanish behind an opaque block."""
    legend = plot.addLegend(offset=LEGEND_CORNERS[corner], labelTextSize=size, colCount=columns,
                            brush=pg.mkBrush(255, 255, 255, 200), pen=pg.mkPen(200, 200, 200))
    legend.setCacheMode(QGraphicsItem.DeviceCoordinateCache)  # its box is repainted under every curve change
    return legend


def long_curve(plot: pg.PlotItem, name: str, color, width: float = 1.0, style=None) -> pg.PlotDataItem:
    """A curve for many points: peak downsampling and clip-to-view. Keep the default
    1-pixel solid pen for jagged curves: Qt strokes wide or dashed pens along a
    jagged path tens of times slower."""
    pen = pg.mkPen(color, width=width) if style is None else pg.mkPen(color, width=width, style=style)
    c = plot.plot([], [], pen=pen, name=name)
    c.setDownsampling(auto=True, method="peak")
    c.setClipToView(True)
    return c


def log_indices(n: int, max_points: int = 3000) -> np.ndarray:
    """At most ``max_points`` indices into ``n`` rows, spaced logarithmically (dense at
    the start where a trajectory moves most), always including the first and last."""
    if n <= max_points:
        return np.arange(n)
    idx = np.unique(np.geomspace(1, n, max_points).astype(np.int64) - 1)
    return np.union1d(idx, [0, n - 1])


def ellipse_points(center, cov, n_sigma: float = 2.0, n: int = 200) -> np.ndarray:
    """Points ``c + n_sigma * A (cos t, sin t)`` with ``A A^T = cov``: the contour at
    Mahalanobis distance ``n_sigma`` of a 2-D Gaussian. NaN rows if undefined."""
    center, cov = np.asarray(center, float), np.asarray(cov, float)
    if center.shape != (2,) or cov.shape != (2, 2) or not (np.isfinite(center).all() and np.isfinite(cov).all()):
        return np.full((0, 2), np.nan)
    w, v = np.linalg.eigh(0.5 * (cov + cov.T))
    a = v * np.sqrt(np.clip(w, 0.0, None))
    t = np.linspace(0.0, 2.0 * np.pi, n)
    return center + n_sigma * (np.stack([np.cos(t), np.sin(t)], axis=1) @ a.T)


def _density_lut(color) -> np.ndarray:
    """From a pale tint to a dark shade of ``color``; empty bins transparent."""
    base = np.asarray(color[:3], float)
    t = np.linspace(0.0, 1.0, 256)[:, None]
    pale, dark = 255 - 0.25 * (255 - base), 0.45 * base
    lut = np.empty((256, 4), np.uint8)
    lut[:, :3] = np.round((1 - t) * pale + t * dark)
    lut[:, 3] = 255
    lut[0, 3] = 0
    return lut


class DensityCloud:
    """A scatter that becomes a density image (log counts of an incremental 2-D
    histogram) once it holds more than :data:`SCATTER_MAX` points.

    The histogram grid covers the central 99% of the latest half of the points (the
    stationary part of a trajectory) with a margin; it is rebuilt when more than 1% of
    a new block falls outside it or when the number of points has doubled since the
    last build, so the total cost stays O(n log n). Bins per axis grow as ``sqrt(n)``
    (64 to :data:`MAX_BINS`): fine grains for a young cloud, a smooth density later.
    """

    MAX_BINS = 256

    def __init__(self, plot: pg.PlotItem, name: str, color):
        self.image = pg.ImageItem()
        self.image.setLookupTable(_density_lut(color))
        self.image.setZValue(-10)
        plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(color), name=name)
        plot.addItem(self.scatter)
        self.reset()

    def reset(self) -> None:
        self.hist: np.ndarray | None = None
        self.range: tuple | None = None
        self.n = 0
        self.n_built = 0
        self.image.clear()
        self.image.setVisible(False)
        self.scatter.clear()

    def update(self, xy: np.ndarray) -> None:
        n = len(xy)
        if n < self.n:
            self.reset()
        if n == self.n:
            return
        if n <= SCATTER_MAX:
            self.scatter.setData(xy[:, 0], xy[:, 1])
            self.n = n
            return
        recent = xy[-RECENT:]
        self.scatter.setData(recent[:, 0], recent[:, 1])
        if self.hist is None or n >= 2 * self.n_built or self._add(xy[self.n:n]) > 0.01:
            self._build(xy)
        self.n = n
        counts = np.log1p(self.hist)
        self.image.setImage(counts, autoLevels=False, levels=(0.0, max(float(counts.max()), 1e-9)))
        (x0, x1), (y0, y1) = self.range
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.image.setVisible(True)

    def _add(self, block: np.ndarray) -> float:
        """Histogram ``block`` into the grid; returns the fraction that fell outside."""
        block = block[np.isfinite(block).all(axis=1)]
        if not len(block):
            return 0.0
        bins = self.hist.shape[0]
        (x0, x1), (y0, y1) = self.range
        ix = np.floor((block[:, 0] - x0) * (bins / (x1 - x0))).astype(np.int64)
        iy = np.floor((block[:, 1] - y0) * (bins / (y1 - y0))).astype(np.int64)
        inside = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
        # bincount on flat bin numbers: ~10x faster than np.histogram2d
        self.hist += np.bincount(ix[inside] * bins + iy[inside], minlength=bins * bins).reshape(bins, bins)
        return 1.0 - inside.sum() / len(block)

    def _build(self, xy: np.ndarray) -> None:
        finite = xy[np.isfinite(xy).all(axis=1)]
        tail = finite[len(finite) // 2:]
        tail = tail[::max(1, len(tail) // 100_000)]  # percentiles of a subsample suffice
        lo, hi = np.percentile(tail, [0.5, 99.5], axis=0)
        span = np.maximum(hi - lo, 1e-12 + 1e-9 * np.abs(hi))
        lo, hi = lo - 0.5 * span, hi + 0.5 * span
        self.range = ((lo[0], hi[0]), (lo[1], hi[1]))
        bins = int(np.clip(np.sqrt(len(finite)), 64, self.MAX_BINS))
        self.hist = np.zeros((bins, bins))
        self._add(finite)
        self.n_built = len(xy)


def find_plots(widget: QWidget) -> dict[str, pg.PlotItem]:
    """The plots of a panel by name: its ``plots()`` if it has one, else every
    PlotWidget inside it, named by its left-axis label."""
    if hasattr(widget, "plots"):
        return dict(widget.plots())
    out = {}
    for i, w in enumerate(widget.findChildren(pg.PlotWidget)):
        item = w.getPlotItem()
        label = item.getAxis("left").labelText or f"plot {i + 1}"
        out[label if label not in out else f"{label} ({i + 1})"] = item
    for w in widget.findChildren(pg.GraphicsLayoutWidget):
        for j, item in enumerate(i for i in w.ci.items if isinstance(i, pg.PlotItem)):
            label = item.getAxis("left").labelText or f"plot {len(out) + 1}"
            out[label if label not in out else f"{label} ({j + 1})"] = item
    return out


def export_plot(item: pg.PlotItem, path: str) -> None:
    """Write a plot to ``path``: SVG for ``.svg``, else a PNG image at twice screen size.
    Raises OSError when the file cannot be written (a missing or read-only folder).

    SVG is painted by Qt's own SVG generator: pyqtgraph 0.14's SVGExporter fails on the
    closed paths that Qt >= 6.10 writes."""
    if path.lower().endswith(".svg"):
        source = item.sceneBoundingRect()
        target = QRectF(0, 0, source.width(), source.height())
        gen = QSvgGenerator()
        gen.setFileName(path)
        gen.setSize(target.size().toSize())
        gen.setViewBox(target)
        gen.setTitle(item.titleLabel.text or "Noise Lab plot")
        painter = QPainter(gen)
        if not painter.isActive():
            raise OSError(f"cannot write {path}: check that its folder exists and is writable")
        item.scene().render(painter, target, source)
        painter.end()
        return
    exporter = pg.exporters.ImageExporter(item)
    exporter.parameters()["width"] = max(int(item.sceneBoundingRect().width() * 2), 400)
    if not exporter.export(path):
        raise OSError(f"cannot write {path}: check that its folder exists and is writable")
