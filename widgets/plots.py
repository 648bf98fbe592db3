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
import pyqtgraph.exporters
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy, QWidget

pg.setConfigOptions(background="w", foreground="k")

#: up to this many points a cloud is a plain scatter; beyond, a density image
SCATTER_MAX = 10_000
#: the most recent points drawn as symbols on top of the density image
RECENT = 1_000


#: Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008), by name
BLUE, ORANGE, GREEN, VERMILLION = (0, 114, 178), (230, 159, 0), (0, 158, 115), (213, 94, 0)
SKY, PURPLE, YELLOW, BLACK, GREY = (86, 180, 233), (204, 121, 167), (240, 228, 66), (0, 0, 0), (110, 110, 110)
#: the same colours in the order a plot of several curves cycles through them
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, BLACK, YELLOW)
#: line styles cycled with the palette, so curves differ without colour too
LINE_STYLES = (Qt.SolidLine, Qt.DashLine, Qt.DotLine, Qt.DashDotLine, Qt.DashDotDotLine)

#: below this many decades a log axis gets 1-2-5 ticks in value, not only powers of ten
NARROW_DECADES = 1.3
#: pixels of axis per labelled power of ten, at least
LOG_LABEL_PX = 22
#: beyond this many decades a log axis ticks powers of ten only
MINOR_DECADES = 6


class Axis(pg.AxisItem):
    """An axis without automatic SI prefixes (they print "x0.001" or "(x1e+27)" beside
    unitless values) and with readable log ticks: a range under :data:`NARROW_DECADES`
    gets 1-2-5 ticks in value (3.1 to 4.05 shows 3.2, 3.4, ... 4, not a lone "4"); a
    wider one ticks every 1..9 x 10^k but labels only 1, 2, 5 x 10^k (only 10^k beyond
    three decades), so minor labels never pile up under a decade."""

    def __init__(self, orientation: str, **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self._span = np.inf
        self._labelled: set[int] = set()

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        self._span = maxVal - minVal
        if not (np.isfinite(minVal) and np.isfinite(maxVal)):
            return super().logTickValues(minVal, maxVal, size, stdTicks)
        if self._span >= NARROW_DECADES:
            k = np.arange(np.floor(minVal), np.ceil(maxVal) + 1)
            v = (k[:, None] + np.log10(np.arange(1, 10))[None, :]).ravel()
            v = v[(v >= minVal) & (v <= maxVal)]
            whole = np.isclose(v, np.round(v))
            # at most one labelled decade per LOG_LABEL_PX pixels: every k-th power of ten
            k = max(1, int(np.ceil(self._span * LOG_LABEL_PX / max(size, 1.0))))
            self._labelled = {int(round(x)) for x in v[whole] if int(round(x)) % k == 0}
            if self._span > MINOR_DECADES:  # 2..9 x 10^k would draw a wall of grid lines
                return [
                    (1.0, [x for x in v[whole] if int(round(x)) in self._labelled]),
                    (None, [x for x in v[whole] if int(round(x)) not in self._labelled]),
                ]
            return [(1.0, v[whole].tolist()), (None, v[~whole].tolist())]
        lo, hi = 10.0**minVal, 10.0**maxVal
        levels, taken = [], np.zeros(0)
        for spacing, offset in self.tickSpacing(lo, hi, size)[:2]:
            v = np.arange(np.ceil((lo - offset) / spacing), np.floor((hi - offset) / spacing) + 1) * spacing + offset
            v = v[(v > 0) & ~np.isclose(v[:, None], taken[None, :], rtol=1e-9).any(axis=1)]
            taken = np.concatenate([taken, v])
            levels.append((None, np.log10(v).tolist()))
        return levels

    def logTickStrings(self, values, scale, spacing):
        if self._span < NARROW_DECADES:
            return [f"{10.0**v * scale:.4g}" for v in values]
        v = np.asarray(values, float)
        mantissa = np.round(10.0 ** (v % 1.0), 6)
        decade = np.isclose(mantissa, 1.0) & np.isin(np.round(v).astype(int), list(self._labelled))
        keep = decade | (self._span < 3 and np.isin(mantissa, (2.0, 5.0)))
        shown = super().logTickStrings(values, scale, spacing)
        return [t if k else "" for t, k in zip(shown, keep)]


def axes() -> dict[str, Axis]:
    """Bottom and left :class:`Axis` items for a new plot (``axisItems=axes()``)."""
    return {"bottom": Axis("bottom"), "left": Axis("left")}


def style_plot(item: pg.PlotItem, x_label: str = "", y_label: str = "", x_units: str = "", y_units: str = "") -> None:
    """Labels, a light grid, and major and minor ticks only. Axes (with their grid lines)
    are cached as pixmaps: replaying an axis's picture costs 3-8 ms a frame (log axes
    most), a cached one ~0.5 ms, and pyqtgraph redraws it only when its range or style
    changes."""
    if x_label:
        item.setLabel("bottom", x_label, units=x_units or None)
    if y_label:
        item.setLabel("left", y_label, units=y_units or None)
    item.showGrid(x=True, y=True, alpha=0.25)
    for side in ("bottom", "left"):
        item.getAxis(side).setStyle(maxTickLevel=1)
        item.getAxis(side).setCacheMode(QGraphicsItem.DeviceCoordinateCache)


class PaintClock:
    """Wall time the GUI thread has spent painting plots, in seconds: what a redraw
    really costs (pyqtgraph paints after ``setData`` returns, from the event loop)."""

    def __init__(self):
        self.seconds = 0.0


PAINT_CLOCK = PaintClock()


#: auto-range keeps the range while the data's wants at least this share of it ...
KEEP_SHARE = 0.6
#: ... and, when it must move, leaves this share of the data's span free on each side
HEADROOM = 0.05


class StickyViewBox(pg.ViewBox):
    """Auto-range that moves only when it must: while the range wanted for the data
    lies within the current one and fills at least :data:`KEEP_SHARE` of it, the range
    stays; when it moves it leaves :data:`HEADROOM` free on each side. A growing curve
    otherwise changes the range at every redraw, and every change regenerates the
    axes' ticks and repaints the whole plot. Ranges the user sets are kept as given."""

    def setRange(self, rect=None, xRange=None, yRange=None, *args, **kw):
        if self._updatingRange and rect is None:  # called by updateAutoRange
            view = self.viewRange()
            xRange, yRange = (_sticky(view[0], xRange), _sticky(view[1], yRange))
            if xRange is None and yRange is None:
                return
        super().setRange(rect, xRange, yRange, *args, **kw)


def _sticky(current, wanted):
    """The range to set for ``wanted`` given ``current`` (None: keep ``current``)."""
    if wanted is None:
        return None
    (a, b), (c, d) = current, wanted
    if a <= c and d <= b and (d - c) >= KEEP_SHARE * (b - a):
        return None
    m = HEADROOM * (d - c)
    return (c - m, d + m)


class MeteredPlotWidget(pg.PlotWidget):
    """A PlotWidget whose paint time is added to :data:`PAINT_CLOCK`."""

    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        super().paintEvent(event)
        PAINT_CLOCK.seconds += time.perf_counter() - t0


def make_plot(
    x_label: str,
    y_label: str,
    x_units: str = "",
    y_units: str = "",
    title: str = "",
    log_x: bool = False,
    log_y: bool = False,
) -> pg.PlotWidget:
    """A plot with labelled :class:`Axis` axes, a light grid, and optional log axes."""
    w = MeteredPlotWidget(title=title or None, axisItems=axes(), viewBox=StickyViewBox())
    item = w.getPlotItem()
    style_plot(item, x_label, y_label, x_units, y_units)
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


def add_legend(plot: pg.PlotItem, corner: str = "top right", size: str = "9pt", columns: int = 1) -> pg.LegendItem:
    """A legend beside the data, never over it: in a column of the plot's own layout to
    the right of the view box, aligned with its top or bottom (``corner``); below the
    plot, in two columns, while the plot is too narrow to spare the width
    (:data:`LEGEND_SHARE`). Curves added with a ``name`` join it, as with
    :meth:`pyqtgraph.PlotItem.addLegend`."""
    legend = pg.LegendItem(labelTextSize=size, colCount=columns, frame=False)
    legend.setCacheMode(QGraphicsItem.DeviceCoordinateCache)  # repainted under every curve change otherwise
    legend.setParentItem(plot)
    plot.legend = legend
    align = Qt.AlignTop if corner.startswith("top") else Qt.AlignBottom
    state = {"below": None}

    def place() -> None:
        view = plot.getViewWidget()  # a plot alone in its widget may be pushed wider than the widget
        width = view.width() if isinstance(view, pg.PlotWidget) else plot.geometry().width()
        below = legend.effectiveSizeHint(Qt.PreferredSize).width() > LEGEND_SHARE * width > 0
        if below == state["below"]:
            return
        if state["below"] is not None:
            plot.layout.removeItem(legend)
        state["below"] = below
        if below:
            legend.setColumnCount(1)
            entry = legend.effectiveSizeHint(Qt.PreferredSize).width()
            legend.setColumnCount(max(1, min(3, int(0.95 * width // max(entry, 1.0)))))
            legend.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
            plot.layout.addItem(legend, 4, 1)
            plot.layout.setAlignment(legend, Qt.AlignHCenter)
        else:
            legend.setColumnCount(columns)
            legend.setSizePolicy(QSizePolicy.Fixed, QSizePolicy.Maximum)  # as wide and tall as its entries
            plot.layout.addItem(legend, 2, 4)
            plot.layout.setAlignment(legend, align)

    place()
    plot.geometryChanged.connect(place)
    legend.geometryChanged.connect(place)  # entries added later widen it
    return legend


#: the largest share of a plot's width a legend beside it may take
LEGEND_SHARE = 0.42


def boundary_curve(plot: pg.PlotItem) -> pg.PlotCurveItem:
    """An undrawn curve that bounds a :class:`pyqtgraph.FillBetweenItem`. A
    ``PlotDataItem`` made with ``pen=None`` never builds its path, which leaves the fill
    empty; a ``PlotCurveItem`` with no pen keeps its path and draws nothing."""
    c = pg.PlotCurveItem(pen=pg.mkPen(None))
    plot.addItem(c)
    return c


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


class DensityGrid:
    """A 2-D histogram on a fixed grid: ``counts`` of the points added, ``range`` its
    ((x0, x1), (y0, y1)), ``bins`` per axis."""

    def __init__(self, range_: tuple, bins: int):
        self.range, self.bins = range_, bins
        self.counts = np.zeros((bins, bins))

    @classmethod
    def around(cls, xy: np.ndarray, n: int) -> DensityGrid:
        """A grid over the central 99% of the latest half of ``xy`` (the stationary part
        of a trajectory, from a subsample of at most :data:`GRID_SAMPLE` points) with a
        margin, for ``n`` points: ``sqrt(n)`` bins per axis, 64 to :data:`MAX_BINS`."""
        tail = xy[len(xy) // 2 :]
        tail = tail[:: max(1, len(tail) // GRID_SAMPLE)]
        tail = tail[np.isfinite(tail).all(axis=1)]
        if not len(tail):
            tail = np.zeros((1, 2))
        lo, hi = np.percentile(tail, [0.5, 99.5], axis=0)
        span = np.maximum(hi - lo, 1e-12 + 1e-9 * np.abs(hi))
        lo, hi = lo - 0.5 * span, hi + 0.5 * span
        return cls(((lo[0], hi[0]), (lo[1], hi[1])), int(np.clip(np.sqrt(n), 64, MAX_BINS)))

    def add(self, block: np.ndarray) -> float:
        """Histogram ``block`` into the grid; returns the fraction that fell outside."""
        block = block[np.isfinite(block).all(axis=1)]
        if not len(block):
            return 0.0
        bins = self.bins
        (x0, x1), (y0, y1) = self.range
        ix = np.floor((block[:, 0] - x0) * (bins / (x1 - x0))).astype(np.int64)
        iy = np.floor((block[:, 1] - y0) * (bins / (y1 - y0))).astype(np.int64)
        inside = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
        # bincount on flat bin numbers: ~10x faster than np.histogram2d
        self.counts += np.bincount(ix[inside] * bins + iy[inside], minlength=bins * bins).reshape(bins, bins)
        return 1.0 - inside.sum() / len(block)


#: bins per axis of a density image, at most
MAX_BINS = 256
#: points a new grid's extent is taken from, at most
GRID_SAMPLE = 20_000
#: points a grid being rebuilt takes per redraw: a rebuild of a million points (100 ms
#: at once) is spread over redraws of a few milliseconds each
REBUILD_SLICE = 100_000
#: milliseconds between two slices, for the events waiting
REBUILD_GAP_MS = 15


class DensityCloud:
    """A scatter that becomes a density image (log counts of an incremental 2-D
    histogram, :class:`DensityGrid`) once it holds more than :data:`SCATTER_MAX` points.

    New points are added to the grid shown. A new grid is made when more than 1% of a
    new block falls outside it or when the number of points has doubled since it was
    made, so the total cost stays O(n log n); it is filled :data:`REBUILD_SLICE` points
    at a time, between events, while the old one stays on screen, and replaces it once
    it holds every point.
    """

    def __init__(self, plot: pg.PlotItem, name: str, color):
        self.image = pg.ImageItem()
        self.image.setLookupTable(_density_lut(color))
        self.image.setZValue(-10)
        plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(color), name=name)
        plot.addItem(self.scatter)
        self._slices = QTimer()
        self._slices.setSingleShot(True)
        self._slices.setInterval(REBUILD_GAP_MS)
        self._slices.timeout.connect(self._fill_next)
        self.reset()

    def reset(self) -> None:
        self.grid: DensityGrid | None = None
        self.next: tuple[DensityGrid, int] | None = None  # a grid being filled, and its points so far
        self.xy = np.zeros((0, 2))  # the points last given
        self.n = 0
        self.n_built = 0
        self.image.clear()
        self.image.setVisible(False)
        self.scatter.clear()

    @property
    def hist(self) -> np.ndarray | None:
        return None if self.grid is None else self.grid.counts

    @property
    def range(self) -> tuple | None:
        return None if self.grid is None else self.grid.range

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
        if self.grid is None:
            self.grid = DensityGrid.around(xy, n)
            self.grid.add(xy[:n])
            self.n_built = n
        elif self.grid.add(xy[self.n : n]) > 0.01 or n >= 2 * self.n_built:
            if self.next is None:
                self.next = (DensityGrid.around(xy, n), 0)
        self.n, self.xy = n, xy
        self._show()
        if self.next is not None and not self._slices.isActive():
            self._slices.start()

    def _show(self) -> None:
        counts = np.log1p(self.grid.counts)
        self.image.setImage(counts, autoLevels=False, levels=(0.0, max(float(counts.max()), 1e-9)))
        (x0, x1), (y0, y1) = self.grid.range
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.image.setVisible(True)

    def _fill_next(self) -> None:
        """One slice of the grid being rebuilt; it is shown once it holds every point."""
        if self.next is None:
            return
        grid, done = self.next
        upto = min(done + REBUILD_SLICE, self.n)
        grid.add(self.xy[done:upto])
        self.next = (grid, upto)
        if upto == self.n:
            self.grid, self.next, self.n_built = grid, None, self.n
            self._show()
        else:
            self._slices.start()


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


def export_plot(item: pg.PlotItem, path: str, metadata: dict | None = None) -> None:
    """Write one plot to ``path`` (``.png``, ``.svg`` or ``.pdf``) through the figure
    route of :mod:`widgets.figure` (portable SVG, vector PDF), at its size on screen.
    Raises OSError when the file cannot be written (a missing or read-only folder)."""
    from .figure import plot_target, write_figure

    widget, region = plot_target(item)
    write_figure(widget, path, metadata=metadata, region=region)
