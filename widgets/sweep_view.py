"""A sweep's summary values against the swept value (paper Fig. 1, right: decay times
against sigma_eps): per point the mean over seeds with a ±1 sd bar (computed in
:class:`lab.sweep.SweepData`), every replicate as a faint dot, optional shaded bands of
a categorical summary (the phase each run ended in) and a horizontal reference line.
A click on a point or dot asks for its run (``run_clicked``)."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from lab.sweep import SweepData, SweepError, read_sweep
from lab.theory.nin import PHASES

from .phase_map_view import PALETTE
from .plots import add_legend, make_plot

SYMBOLS = ("o", "s", "t", "d", "+", "x")


def band_colour(label: str, i: int):
    """Phase names get the phase-map colours; other labels cycle through the palette."""
    k = PHASES.index(label) - 1 if label in PHASES[1:] else i
    return PALETTE[k % len(PALETTE)]


#: how often a sweep file that says ``running`` is reread
FOLLOW_INTERVAL_MS = 1000


class SweepView(QWidget):
    """Pick the x (a swept parameter) and one or more summary keys for y. A sweep file
    read while its sweep is running is reread every second until it is finished."""

    #: the run file behind a clicked point (a mean: its first replicate)
    run_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sweep: SweepData | None = None
        self.plot = make_plot("swept value", "summary value", title="Sweep")
        self.item = self.plot.getPlotItem()
        add_legend(self.item)
        self.x_box = QComboBox()
        self.y_list = QListWidget()
        self.y_list.setSelectionMode(QListWidget.MultiSelection)
        self.y_list.setMaximumWidth(220)
        self.band_box = QComboBox()
        for box in (self.x_box, self.band_box):
            box.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.band_key = "phase"
        self.log_x, self.log_y = QCheckBox("log x"), QCheckBox("log y")
        self.info = QLabel()
        top = QHBoxLayout()
        for w in (QLabel("x:"), self.x_box, QLabel("bands:"), self.band_box, self.log_x, self.log_y):
            top.addWidget(w)
        top.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        body.addWidget(self.y_list)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(body, 1)
        lay.addWidget(self.info)
        self.curves: dict[str, pg.PlotDataItem] = {}
        #: every run's value where several runs share a swept value (seeds); the curve joins their means
        self.repeats: dict[str, pg.PlotDataItem] = {}
        self.errors: dict[str, pg.ErrorBarItem] = {}
        self.band_items: list = []
        self.reference: pg.InfiniteLine | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(FOLLOW_INTERVAL_MS)
        self.timer.timeout.connect(self.reread)
        for sig in (
            self.x_box.currentIndexChanged,
            self.band_box.currentIndexChanged,
            self.y_list.itemSelectionChanged,
            self.log_x.toggled,
            self.log_y.toggled,
        ):
            sig.connect(self.redraw)

    def load(self, sweep: SweepData | str, y_keys=(), band_key: str = "phase", log_x: bool = True) -> None:
        """Show a sweep (or read it from a path); ``y_keys`` preselects summaries."""
        self.sweep = read_sweep(sweep) if isinstance(sweep, str) else sweep
        self.band_key = band_key
        if self.sweep.status == "running":
            self.timer.start()
        blockers = [w.blockSignals(True) for w in (self.x_box, self.y_list, self.band_box, self.log_x)]
        self.x_box.clear()
        self.x_box.addItems(self.sweep.swept)
        self.y_list.clear()
        keys = [k for k in self.sweep.summary_keys() if k not in self.sweep.swept]
        self.y_list.addItems(keys)
        for i, k in enumerate(keys):
            self.y_list.item(i).setSelected(k in y_keys)
        text_keys = self.sweep.label_keys()
        self.band_box.clear()
        self.band_box.addItems(["(none)", *text_keys])
        if band_key in text_keys:
            self.band_box.setCurrentText(band_key)
        self.log_x.setChecked(log_x)
        for w, b in zip((self.x_box, self.y_list, self.band_box, self.log_x), blockers):
            w.blockSignals(b)
        self.redraw()

    def reread(self) -> None:
        """Read the sweep file again (keeping the choices; new summaries and labels join
        the lists, the band key asked for in :meth:`load` shown once it appears) and
        redraw; stop following once the sweep has finished."""
        if self.sweep is None:
            return
        keys = set(self.selected_keys())
        try:
            self.sweep = read_sweep(self.sweep.path)
        except SweepError as e:  # moved, deleted or damaged meanwhile: keep what is drawn
            self.stop_following(e)
            return
        known = {self.y_list.item(i).text() for i in range(self.y_list.count())}
        for k in self.sweep.summary_keys():
            if k not in known and k not in self.sweep.swept:
                self.y_list.addItem(k)
        for i in range(self.y_list.count()):
            self.y_list.item(i).setSelected(self.y_list.item(i).text() in keys)
        bands = [self.band_box.itemText(i) for i in range(self.band_box.count())]
        new = [k for k in self.sweep.label_keys() if k not in bands]
        blocked = self.band_box.blockSignals(True)
        self.band_box.addItems(new)
        if self.band_key in new and self.band_box.currentText() == "(none)":  # its first runs have ended
            self.band_box.setCurrentText(self.band_key)
        self.band_box.blockSignals(blocked)
        if self.sweep.status != "running":
            self.timer.stop()
        self.redraw()

    def stop_following(self, error: SweepError) -> None:
        """Stop rereading a sweep file that can no longer be read, and say why."""
        self.timer.stop()
        self.info.setText(f"<font color='#b00'>stopped following the sweep: {html.escape(str(error))}</font>")

    def set_reference(self, y: float | None, label: str = "") -> None:
        """A horizontal reference line (None removes it)."""
        if self.reference is not None:
            self.item.removeItem(self.reference)
            self.reference = None
        if y is not None:
            self.reference = pg.InfiniteLine(
                pos=np.log10(y) if self.log_y.isChecked() else y,
                angle=0,
                pen=pg.mkPen((0, 0, 0), style=Qt.DashLine),
                label=label,
                labelOpts={"position": 0.05, "color": "k", "anchors": [(0, 1), (0, 1)]},
            )
            self.reference.setZValue(5)
            self.item.addItem(self.reference)

    def selected_keys(self) -> list[str]:
        return [i.text() for i in self.y_list.selectedItems()]

    def redraw(self) -> None:
        if self.sweep is None or not self.x_box.currentText():
            return
        xk = self.x_box.currentText()
        lx, ly = self.log_x.isChecked(), self.log_y.isChecked()
        self.item.setLogMode(lx, ly)
        self.item.setLabel("bottom", xk)
        self.item.setLabel("left", ", ".join(self.selected_keys()) or "summary value")
        x = self.sweep.column(xk)
        px = self.sweep.point_column(xk)
        order = np.argsort(px)
        for k in list(self.curves):
            if k not in self.selected_keys():
                for items in (self.curves, self.repeats, self.errors):
                    self.item.removeItem(items.pop(k))
                self.item.legend.removeItem(k)
        tx = (lambda v: np.log10(v)) if lx else (lambda v: v)
        for i, k in enumerate(self.selected_keys()):
            if k not in self.curves:
                c = PALETTE[i % len(PALETTE)]
                self.curves[k] = self.item.plot(
                    [],
                    [],
                    pen=pg.mkPen(c, width=2),
                    symbol=SYMBOLS[i % len(SYMBOLS)],
                    symbolBrush=c,
                    symbolPen=None,
                    name=k,
                )
                self.repeats[k] = self.item.plot(
                    [], [], pen=None, symbol="o", symbolSize=5, symbolPen=None, symbolBrush=pg.mkBrush(*c, 110)
                )
                self.errors[k] = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), pen=pg.mkPen(c), beam=0)
                self.item.addItem(self.errors[k])
                for item in (self.curves[k], self.repeats[k]):
                    item.sigPointsClicked.connect(self._clicked)
            mean, sd, _ = self.sweep.point_stats(k)
            xs, ms, ss = px[order], mean[order], sd[order]
            ok = np.isfinite(ms) & ((ms > 0) if ly else True) & ((xs > 0) if lx else True)
            self.curves[k].setData(xs[ok], ms[ok], data=[self.sweep.points[j]["runs"][0] for j in order[ok]])
            y = self.sweep.column(k)
            each = np.isfinite(y) & ((y > 0) if ly else True) & ((x > 0) if lx else True)
            several = self.sweep.seeds > 1
            self.repeats[k].setData(
                x[each] if several else [],
                y[each] if several else [],
                data=list(np.flatnonzero(each)) if several else None,
            )
            bar = ok & np.isfinite(ss)
            if ly:  # a log axis draws log10(y): the bar spans log10(mean ± sd), clipped above zero
                lo, hi = np.log10(np.maximum(ms[bar] - ss[bar], ms[bar] * 1e-3)), np.log10(ms[bar] + ss[bar])
                mid = np.log10(ms[bar])
                # ErrorBarItem.setData merges options: the unused form is cleared each time, or a
                # height left from a linear draw wins over top/bottom after log y is ticked
                self.errors[k].setData(x=tx(xs[bar]), y=mid, top=hi - mid, bottom=mid - lo, height=None)
            else:
                self.errors[k].setData(x=tx(xs[bar]), y=ms[bar], height=2 * ss[bar], top=None, bottom=None)
        bands = self._draw_bands(xk, self.band_box.currentText(), lx)
        n_done = sum(r["status"] not in ("pending", "running") for r in self.sweep.runs)
        self.info.setText(
            f"{self.sweep.experiment} sweep · {n_done}/{len(self.sweep.runs)} runs · "
            f"{self.sweep.display_status}" + (f" · {bands}" if bands else "")
        )

    def _clicked(self, _item, points, *_) -> None:
        if len(points):
            self.run_clicked.emit(self.sweep.runs[int(points[0].data())]["path"])

    def _draw_bands(self, xk: str, bk: str, lx: bool) -> str:
        """Shade the x ranges where the label ``bk`` holds, one colour per label (a label
        that holds on several ranges keeps its colour); returns the colour key as HTML."""
        for it in self.band_items:
            self.item.removeItem(it)
        self.band_items = []
        if not bk or bk == "(none)":
            return ""
        bands = self.sweep.bands(xk, bk)
        labels = list(dict.fromkeys(label for _, _, label in bands))
        for lo, hi, label in bands:
            if lx and lo <= 0:
                continue
            a, b = (np.log10(lo), np.log10(hi)) if lx else (lo, hi)
            colour = band_colour(label, labels.index(label))
            r = pg.LinearRegionItem((a, b), movable=False, brush=pg.mkBrush(*colour, 60), pen=pg.mkPen(None))
            r.setZValue(-10)
            r.setToolTip(f"{bk} = {label}: {lo:.4g} .. {hi:.4g}")
            self.item.addItem(r)
            self.band_items.append(r)
        return " · ".join(f"<span style='color: rgb{band_colour(lb, i)}'>■</span> {lb}" for i, lb in enumerate(labels))
