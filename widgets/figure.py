"""Figures for papers: a panel, or one of its plots, written to PNG, SVG or PDF.

One route for all three formats, so they agree: the widget is painted through
QPainter onto Qt's SVG generator (SVG 1.1, which writes real ``<clipPath>``s), its
cosmetic strokes are rewritten into device units (:mod:`widgets.svg_strokes`), and that
SVG is the ``.svg`` file, or is drawn by QtSvg onto a QImage at the asked DPI (``.png``)
or onto a QPdfWriter page (``.pdf``, vector). Buttons and other controls are left out.

The figure is laid out at :data:`LOGICAL_DPI` (Qt's own: a 9 pt font is 12 px), so a
``width_mm`` figure printed at that width shows the panel's fonts and pens at their
nominal sizes. The run's identity and parameters go into the file's metadata: PNG text
chunks, the SVG's ``<title>``/``<desc>``, the PDF's title and XMP description.
"""

from __future__ import annotations

import html
import json
import os
import sys
import xml.etree.ElementTree as ET

import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMarginsF,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    QSizeF,
    Qt,
)
from PySide6.QtGui import (
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QRegion,
    QTransform,
)
from PySide6.QtSvg import QSvgGenerator, QSvgRenderer
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QComboBox,
    QGraphicsItem,
    QGraphicsView,
    QLineEdit,
    QScrollBar,
    QSpinBox,
    QStyleOptionGraphicsItem,
    QWidget,
)

from .svg_strokes import bake_strokes

#: pixels per inch the figure is laid out at
LOGICAL_DPI = 96
FORMATS = (".png", ".svg", ".pdf")
#: controls a figure leaves out
CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QSpinBox, QScrollBar)


class FigureError(ValueError):
    """A figure that cannot be made as asked (format, size, panel name)."""


def run_metadata(header) -> dict[str, str]:
    """``{"title", "description"}`` naming a run: file, experiment, status, seed and
    every parameter (JSON), for a figure's metadata."""
    title = f"Noise Lab: {header.experiment} run {os.path.basename(header.path)}"
    desc = {
        "run_file": os.path.basename(header.path),
        "experiment": header.experiment,
        "status": header.display_status,
        "seed": header.seed,
        "created": header.created,
        "params": header.params,
    }
    return {"title": title, "description": json.dumps(desc, default=str, sort_keys=True)}


def _paint(widget: QWidget, painter: QPainter, origin: QWidget) -> None:
    """Paint ``widget`` and its visible children except controls, each at its place
    relative to ``origin``. Plots, tables and labels are painted whole."""
    if not widget.isVisible() or isinstance(widget, CONTROLS):
        return
    offset = widget.mapTo(origin, widget.rect().topLeft()) if widget is not origin else widget.rect().topLeft()
    if isinstance(widget, QGraphicsView):
        _paint_scene(widget, painter, offset)
        return
    if isinstance(widget, QAbstractScrollArea) or not widget.children():
        QWidget.render(widget, painter, offset, QRegion(), QWidget.RenderFlag.DrawChildren)
        return
    QWidget.render(widget, painter, offset, QRegion(), QWidget.RenderFlag(0))
    for child in widget.children():
        if isinstance(child, QWidget) and not child.isWindow():
            _paint(child, painter, origin)


def _clip(item: QGraphicsItem, view_transform: QTransform) -> QPainterPath | None:
    """The clip ``item`` is painted under, in view coordinates: the intersection of the
    shapes of its ancestors that clip their children (a ViewBox), or None."""
    clip = None
    parent = item.parentItem()
    while parent is not None:
        if parent.flags() & QGraphicsItem.ItemClipsChildrenToShape:
            shape = parent.deviceTransform(view_transform).map(parent.shape())
            clip = shape if clip is None else clip.intersected(shape)
        parent = parent.parentItem()
    return clip


def _paint_scene(view: QGraphicsView, painter: QPainter, offset: QPoint) -> None:
    """Paint a view's scene item by item in stacking order, each under its device
    transform and with its clip set explicitly. Qt's SVG generator writes a clip only
    when one is set: after ``QPainter.restore()`` brings back an earlier clip (as
    ``QGraphicsView.render`` does) it keeps writing the last one, which cut a legend
    sample to the title's box."""
    if isinstance(view, pg.GraphicsView):
        view.scene().prepareForPaint()
    base = QTransform(painter.worldTransform()).translate(offset.x(), offset.y())
    vt = view.viewportTransform()
    painter.save()
    painter.setTransform(base)
    painter.setClipping(False)
    painter.fillRect(QRectF(QPointF(0, 0), QSizeF(view.size())), view.backgroundBrush())
    option = QStyleOptionGraphicsItem()
    for item in view.scene().items(Qt.AscendingOrder):
        if not item.isVisible() or item.flags() & QGraphicsItem.ItemHasNoContents or item.effectiveOpacity() <= 0:
            continue
        painter.save()  # each item starts from a clean pen and brush, as in QGraphicsScene
        clip = _clip(item, vt)
        if clip is not None:
            painter.setClipPath(clip)
        painter.setTransform(item.deviceTransform(vt) * base)
        painter.setOpacity(item.effectiveOpacity())
        option.exposedRect = item.boundingRect()
        item.paint(painter, option, view.viewport())
        painter.restore()
    painter.restore()


def _export_mode(widget: QWidget, on: bool) -> None:
    """Scatter symbols as vector paths (pyqtgraph draws cached pixmaps on screen)."""
    for view in widget.findChildren(pg.GraphicsView) + ([widget] if isinstance(widget, pg.GraphicsView) else []):
        for item in view.scene().items():
            if isinstance(item, pg.ScatterPlotItem):
                item.setExportMode(on, {"antialias": True} if on else None)


def widget_svg(widget: QWidget, region: QRect | None = None, metadata: dict[str, str] | None = None) -> bytes:
    """``widget`` (or the ``region`` of it, in its pixels) as portable SVG at its size
    in pixels (see the module docstring)."""
    region = region or widget.rect()
    buf = QBuffer()
    buf.open(QIODevice.WriteOnly)
    gen = QSvgGenerator(QSvgGenerator.SvgVersion.Svg11)
    gen.setOutputDevice(buf)
    gen.setSize(region.size())
    gen.setViewBox(QRectF(0, 0, region.width(), region.height()))
    gen.setResolution(LOGICAL_DPI)
    gen.setTitle((metadata or {}).get("title", "Noise Lab figure"))
    gen.setDescription((metadata or {}).get("description", ""))
    painter = QPainter(gen)
    _draw(widget, painter, region)
    painter.end()
    return bake_strokes(bytes(buf.data()))


def _draw(widget: QWidget, painter: QPainter, region: QRect | None) -> None:
    """Paint ``widget``'s ``region`` on a white ground at the painter's origin."""
    region = region or widget.rect()
    painter.fillRect(QRectF(0, 0, region.width(), region.height()), Qt.white)
    painter.translate(-region.x(), -region.y())
    _export_mode(widget, True)
    try:
        _paint(widget, painter, widget)
    finally:
        _export_mode(widget, False)


def write_figure(
    widget: QWidget,
    path: str,
    width_mm: float | None = None,
    dpi: float = 300,
    metadata: dict[str, str] | None = None,
    region: QRect | None = None,
) -> None:
    """Write ``widget`` (or its ``region``) to ``path`` (``.png``, ``.svg`` or ``.pdf``),
    ``width_mm`` wide (default: its size at :data:`LOGICAL_DPI`), a PNG at ``dpi``.
    Raises :class:`FigureError` for a bad request, OSError when the file cannot be
    written (nothing is written then)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise FigureError(f"{path}: a figure is written as {', '.join(FORMATS)}, not '{ext or 'no extension'}'")
    if (width_mm is not None and not width_mm > 0) or not dpi > 0:
        raise FigureError(f"width ({width_mm} mm) and dpi ({dpi}) must be positive")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise OSError(f"cannot write {path}: check that its folder exists and is writable")
    px = (region or widget.rect()).size()
    svg = widget_svg(widget, region, metadata)
    width_mm = width_mm or px.width() * 25.4 / LOGICAL_DPI
    height_mm = width_mm * px.height() / px.width()
    meta = metadata or {}
    if ext == ".svg":
        root = ET.fromstring(svg)
        root.set("width", f"{width_mm:.3f}mm")
        root.set("height", f"{height_mm:.3f}mm")
        with open(path, "wb") as f:
            f.write(ET.tostring(root, encoding="utf-8", xml_declaration=True))
        return
    renderer = QSvgRenderer(QByteArray(svg))
    if ext == ".png":
        w, h = round(width_mm / 25.4 * dpi), round(height_mm / 25.4 * dpi)
        img = QImage(QSize(w, h), QImage.Format_ARGB32)
        img.fill(Qt.white)
        img.setDotsPerMeterX(round(dpi / 0.0254))
        img.setDotsPerMeterY(round(dpi / 0.0254))
        for key, value in (
            ("Title", meta.get("title", "")),
            ("Description", meta.get("description", "")),
            ("Software", "Noise Lab"),
        ):
            img.setText(key, value)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.TextAntialiasing)
        renderer.render(painter, QRectF(0, 0, w, h))
        painter.end()
        if not img.save(path):
            raise OSError(f"cannot write {path}: check that its folder exists and is writable")
        return
    writer = QPdfWriter(path)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QSizeF(width_mm, height_mm), QPageSize.Millimeter), QPageLayout.Portrait, QMarginsF(0, 0, 0, 0)
        )
    )
    # laid out in pixels at the widget's own resolution: a cosmetic pen of w pixels is
    # w / (px per mm) millimetres wide, as in the SVG
    writer.setResolution(max(1, round(px.width() * 25.4 / width_mm)))
    writer.setTitle(meta.get("title", "Noise Lab figure"))
    writer.setCreator("Noise Lab")
    if meta.get("description"):
        writer.setDocumentXmpMetadata(QByteArray(_xmp(meta["title"], meta["description"]).encode()))
    painter = QPainter(writer)
    _draw(widget, painter, region)
    painter.end()


def _xmp(title: str, description: str) -> str:
    """A minimal XMP packet with Dublin Core title, description and creator tool."""
    t, d = html.escape(title), html.escape(description)
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{t}</rdf:li></rdf:Alt></dc:title>'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{d}</rdf:li></rdf:Alt></dc:description>'
        "<xmp:CreatorTool>Noise Lab</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


def plot_target(item: pg.PlotItem) -> tuple[QWidget, QRect]:
    """``(widget, region)`` that shows ``item`` alone: its view, cut to the plot's
    rectangle (a plot in a layout of several)."""
    view = item.getViewWidget()
    return view, view.mapFromScene(item.sceneBoundingRect()).boundingRect().intersected(view.rect())


#: figure height over width for a whole panel when the panel does not say (``FIGURE_ASPECT``)
ASPECT = 0.75


def panel_figure(
    path: str, panel: str | None, out: str, width_mm: float, dpi: float, height_mm: float | None = None
) -> str:
    """Render the run file ``path`` the way its tab shows it, offscreen, to ``out``:
    the whole panel, or its plot named ``panel`` (see :func:`find_plots`). Returns
    what was drawn (for the command line's message)."""
    from lab.runfile import read_run

    from .panels import panel_class
    from .plots import find_plots

    app()
    run = read_run(path)
    cls = panel_class(run.header.experiment)
    aspect = height_mm / width_mm if height_mm else getattr(cls, "FIGURE_ASPECT", ASPECT)
    widget = cls()
    widget.setAttribute(Qt.WA_DontShowOnScreen)
    px = round(width_mm / 25.4 * LOGICAL_DPI)
    widget.resize(px, round(px * aspect))
    widget.show()
    widget.show_run(run)
    for _ in range(3):  # layouts, then the plots' ranges and ticks, settle in a few passes
        QApplication.processEvents()
    try:
        target, region, what = widget, None, f"the {run.header.experiment} panel"
        if panel:
            plots = find_plots(widget)
            if panel not in plots:
                raise FigureError(
                    f"the {run.header.experiment} panel has no plot '{panel}'; it has: {', '.join(plots)}"
                )
            item = plots[panel]
            # a plot alone is drawn at the figure's full size
            view = item.getViewWidget()
            if isinstance(view, pg.PlotWidget):
                view.setParent(None)
                view.setAttribute(Qt.WA_DontShowOnScreen)
                view.resize(px, round(px * (height_mm / width_mm if height_mm else ASPECT)))
                view.show()
                for _ in range(3):
                    QApplication.processEvents()
                target = view
            else:
                target, region = plot_target(item)
            what = f"plot '{panel}'"
        write_figure(target, out, width_mm, dpi, run_metadata(run.header), region)
    finally:
        widget.deleteLater()
    return what


def cli_figure(args) -> int:
    """``noiselab figure RUN.h5 [--panel NAME] -o OUT [--width-mm W] [--dpi D]``."""
    from lab.runfile import RunFileError

    try:
        what = panel_figure(args.file, args.panel, args.output, args.width_mm, args.dpi, args.height_mm)
    except (FigureError, RunFileError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{what} of {os.path.basename(args.file)} written to {args.output}", file=sys.stderr)
    print(args.output)
    return 0


def app() -> QApplication:
    """The running QApplication, or a new offscreen one for the command line."""
    if QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        return QApplication([])
    return QApplication.instance()
