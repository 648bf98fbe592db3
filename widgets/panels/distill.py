"""Panel of the ``distill`` experiment.

- losses (train / validation / test) and accuracies per epoch, live, with the agreement
  with the teacher and the teacher's test accuracy as a reference line;
- the average per-sample gradient norm ``1/N sum_i ||df(x_i)/dtheta||^2`` per epoch;
- after the run: a robustness table (clean, Gaussian input noise per sigma, PGD, and the
  CIFAR-10-C / CINIC-10 accuracies when measured) and the
  accuracy-versus-sigma curve.

Above the plots a line names the teacher and says whether its file is still the one the
student learnt from (``lab.distill.teachers.verify_teacher``).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from lab.distill.teachers import TeacherError, verify_teacher
from lab.runfile import RunData

from ..noise_scale_view import NoiseScaleView
from ..plots import BLUE, GREEN, GREY, ORANGE, PURPLE, VERMILLION, add_legend, make_plot
from . import View

SPLIT_COLOURS = {"train": BLUE, "val": ORANGE, "test": GREEN}
#: and line styles, so the splits differ without colour too
SPLIT_STYLES = {"train": Qt.SolidLine, "val": Qt.DashLine, "test": Qt.DashDotLine}
TEACHER_C, AGREE_C, GRAD_C = GREY, PURPLE, VERMILLION


def teacher_text(run: RunData) -> tuple[str, bool, RunData | None]:
    """One line about the run's teacher, whether the link holds, and the teacher's run
    when it can be read: ``(text, ok, teacher run)``."""
    if "teacher_path" not in run.header.attrs and run.header.status == "running":
        chosen = run.header.params.get("teacher") or "trained first by this run"
        return f"Teacher: {chosen} (its hash is shown once the run has ended)", True, None
    try:
        teacher = verify_teacher(run)
    except TeacherError as e:
        return f"Teacher problem: {e}", False, None
    if teacher is None:
        return "No teacher (the student trained alone).", True, None
    return (
        (
            f"Teacher: {teacher.path} ({teacher.run.header.experiment}, test accuracy "
            f"{100 * teacher.test_acc:.2f}%), weights unchanged (sha256 {teacher.sha256[:12]}...)"
        ),
        True,
        teacher.run,
    )


class Panel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.teacher_label = QLabel()
        self.teacher_label.setWordWrap(True)
        outer.addWidget(self.teacher_label)
        grid = QGridLayout()
        outer.addLayout(grid, 1)
        self._plots: dict[str, pg.PlotItem] = {}

        def plot(name, row, col, *args, legend="top right", columns=1, **kw):
            w = make_plot(*args, **kw)
            item = w.getPlotItem()
            add_legend(item, legend, columns=columns)
            grid.addWidget(w, row, col)
            self._plots[name] = item
            return item

        p = plot("loss", 0, 0, "epoch", "cross-entropy loss", title="Loss")
        self.loss = {
            s: p.plot([], [], pen=pg.mkPen(c, width=2, style=SPLIT_STYLES[s]), name=s) for s, c in SPLIT_COLOURS.items()
        }
        p = plot("accuracy", 0, 1, "epoch", "accuracy", title="Accuracy", legend="bottom right")
        self.acc = {
            s: p.plot([], [], pen=pg.mkPen(c, width=2, style=SPLIT_STYLES[s]), name=s) for s, c in SPLIT_COLOURS.items()
        }
        self.agree = p.plot(
            [], [], pen=pg.mkPen(AGREE_C, width=1.5, style=pg.QtCore.Qt.DashLine), name="agreement with teacher (test)"
        )
        self.teacher_line = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(TEACHER_C, width=1.5, style=pg.QtCore.Qt.DotLine),
            label="teacher test",
            labelOpts={"position": 0.1, "color": TEACHER_C},
        )
        self.teacher_line.setVisible(False)
        p.addItem(self.teacher_line)
        teacher_pen = pg.mkPen(TEACHER_C, width=1.5, style=Qt.DotLine)
        self.teacher_acc = p.plot([], [], pen=teacher_pen, name="teacher's own training (test)")
        self.teacher_loss = self._plots["loss"].plot([], [], pen=teacher_pen, name="teacher's own training (train)")
        p = plot(
            "gradient norm",
            1,
            0,
            "epoch",
            "1/N \u03a3 ||\u2202f/\u2202\u03b8||\u00b2",
            title="Average per-sample gradient norm",
        )
        self.grad = p.plot(
            [], [], pen=pg.mkPen(GRAD_C, width=2), symbol="o", symbolSize=4, symbolBrush=GRAD_C, name="student"
        )
        p = plot(
            "accuracy vs sigma",
            1,
            1,
            "input noise \u03c3 (pixels in [0, 1])",
            "test accuracy",
            title="Accuracy under Gaussian input noise",
            legend="bottom left",
        )
        self.noise_curve = p.plot(
            [],
            [],
            pen=pg.mkPen(SPLIT_COLOURS["test"], width=2),
            symbol="o",
            symbolBrush=SPLIT_COLOURS["test"],
            name="student",
        )
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["test condition", "accuracy"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setMaximumHeight(200)
        outer.addWidget(self.table)
        self._rows: list = []
        self._teacher_key: tuple | None = None
        self._teacher_run: RunData | None = None

    def plots(self) -> dict[str, pg.PlotItem]:
        return dict(self._plots)

    def show_run(self, run: RunData) -> None:
        self._teacher_key = None
        self.refresh(run)

    def _update_teacher(self, run: RunData) -> None:
        """The teacher line and reference, re-checked only when the link or status changed."""
        a = run.header.attrs
        key = (run.header.path, a.get("teacher_path"), a.get("teacher_sha256"), run.header.status)
        if key == self._teacher_key:
            return
        self._teacher_key = key
        text, ok, self._teacher_run = teacher_text(run)
        self.teacher_label.setText(text)
        self.teacher_label.setStyleSheet("" if ok else "color: #b00020; font-weight: bold")
        acc = float(a.get("teacher_test_acc", math.nan))
        self.teacher_line.setVisible(math.isfinite(acc))
        if math.isfinite(acc):
            self.teacher_line.setValue(acc)

    def refresh(self, run: RunData) -> None:
        self._update_teacher(run)
        self._teacher_curves(run)

        def cols(*names):
            return run.series("series/step", *[f"series/{n}" for n in names if f"series/{n}" in run])

        for s in SPLIT_COLOURS:
            if f"series/{s}_loss" in run:
                x, loss, acc = cols(f"{s}_loss", f"{s}_acc")
                self.loss[s].setData(x.astype(float), loss, connect="finite")
                self.acc[s].setData(x.astype(float), acc, connect="finite")
        if "series/agree" in run:
            x, agree = cols("agree")
            self.agree.setData(x.astype(float), agree, connect="finite")
        if "series/grad_norm" in run:
            x, g = cols("grad_norm")
            self.grad.setData(x.astype(float), g, connect="finite")
        self._robustness(run)

    def _teacher_curves(self, run: RunData) -> None:
        """The teacher's own training: live from the nested run this run trains first, or
        from the linked teacher file once the link is known."""
        teacher = next(iter(run.children.values()), None) or self._teacher_run
        if teacher is None or "series/test_acc" not in teacher:
            for curve in (self.teacher_acc, self.teacher_loss):
                curve.setData([], [])
            return
        x, acc, loss = teacher.series("series/step", "series/test_acc", "series/train_loss")
        self.teacher_acc.setData(x.astype(float), acc, connect="finite")
        self.teacher_loss.setData(x.astype(float), loss, connect="finite")

    def _robustness(self, run: RunData) -> None:
        sigma, acc = run.get("robust/noise_sigma"), run.get("robust/noise_acc")
        rows = []
        s = run.header.summary
        if "test_acc" in s:
            rows.append(("clean test set", s["test_acc"]))
        if sigma is not None and acc is not None and np.isfinite(acc).any():
            clean = [(0.0, s["test_acc"])] if "test_acc" in s else []  # sigma = 0 is the clean test set
            xy = np.array(clean + list(zip(sigma, acc)), dtype=float)
            self.noise_curve.setData(xy[:, 0], xy[:, 1], connect="finite")
            rows += [(f"Gaussian noise \u03c3 = {v:g}", a) for v, a in zip(sigma, acc)]
        if "pgd_acc" in s:
            p = run.header.params
            rows.append(
                (
                    f"PGD-{p.get('pgd_steps', '?')} (l\u221e, \u03b5 = {p.get('pgd_eps', 0) * 255:.3g}/255, "
                    f"worst of {p.get('pgd_restarts', '?')})",
                    s["pgd_acc"],
                )
            )
        rows += [
            (label, s[key])
            for key, label in (
                ("cifar10c_acc", "CIFAR-10-C (mean over corruptions, severities)"),
                ("cinic10_acc", "CINIC-10 (ImageNet images)"),
            )
            if key in s
        ]
        if rows == self._rows:
            return
        self._rows = rows
        self.table.setRowCount(len(rows))
        for i, (name, value) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(name))
            self.table.setItem(i, 1, QTableWidgetItem(f"{100 * float(value):.2f}%"))
        self.table.resizeColumnToContents(0)
        self.table.resizeRowsToContents()


VIEW = View(("distill",), Panel, sweep_view=NoiseScaleView)
