"""The label-noise paper's Figure 2 for a sweep of ``distill`` runs over a noise scale
(sigma2, swap_p or any swept parameter): the average per-sample gradient norm, the
validation accuracy and the test accuracy against the noise scale, each with the
teacher's level as a dashed reference line. Three :class:`SweepView` s, one per quantity;
a running sweep is reread every second, so the figure fills in as its runs finish."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from lab.sweep import SweepData, SweepError, read_sweep

from .sweep_view import FOLLOW_INTERVAL_MS, SweepView

#: (student summary key, teacher summary key, title)
QUANTITIES = (
    ("grad_norm", "teacher_grad_norm", "Gradient norm"),
    ("val_acc", "teacher_val_acc", "Validation accuracy"),
    ("test_acc", "teacher_test_acc", "Test accuracy"),
)


def teacher_level(sweep: SweepData, key: str) -> float | None:
    """The teacher's value (shared by the runs of a sweep; their mean), or None."""
    v = sweep.column(key)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else None


class NoiseScaleView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.views = {}
        self.sweep: SweepData | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(FOLLOW_INTERVAL_MS)
        self.timer.timeout.connect(self.reread)
        for key, _, title in QUANTITIES:
            view = SweepView()
            view.item.setTitle(title)
            view.item.getAxis("left").enableAutoSIPrefix(False)
            view.y_list.hide()  # one fixed quantity per view
            self.views[key] = view
            lay.addWidget(view)

    def plots(self):
        return {key: v.item for key, v in self.views.items()}

    def load(self, sweep: SweepData | str, log_x: bool = False) -> None:
        """Draw ``sweep`` (or the sweep file at that path), following it while it runs."""
        self.sweep = sweep = read_sweep(sweep) if isinstance(sweep, str) else sweep
        for key, ref_key, _ in QUANTITIES:
            view = self.views[key]
            view.load(sweep, y_keys=(key,), log_x=log_x)
            view.timer.stop()  # this view follows the file for all three
            view.set_reference(teacher_level(sweep, ref_key), "teacher")
        if sweep.status == "running":
            self.timer.start()
        else:
            self.timer.stop()

    def reread(self) -> None:
        """Read the sweep file again: new runs become points, the teacher's lines appear."""
        if self.sweep is None:
            return
        try:
            sweep = read_sweep(self.sweep.path)
        except SweepError as e:  # moved, deleted or damaged meanwhile: keep what is drawn
            self.timer.stop()
            for view in self.views.values():
                view.stop_following(e)
            return
        self.load(sweep, log_x=self.views["grad_norm"].log_x.isChecked())
