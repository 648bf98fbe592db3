"""A sweep in its own window: a plot chosen by the number of swept parameters (one: the
experiment's sweep view, its panel module's ``VIEW.sweep_view``, the generic
:class:`SweepView` otherwise; two: a heat map; more: parallel coordinates), the table
of runs below it, and a progress bar and Cancel while the sweep runs in this window.
The plots follow a running sweep file themselves; this window loads the file once it
exists, picks a first summary to plot and keeps the table in step. A click on a point,
cell, line or row asks for that run (``run_requested``)."""

from __future__ import annotations

import os
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab import experiments
from lab.sweep import Space, SweepData, SweepError, read_sweep
from workers.sweep_worker import start_sweep_worker

from .noise_scale_view import NoiseScaleView
from .panels import sweep_view_class
from .sweep_maps import HeatMapView, ParallelView
from .sweep_table import RunTable
from .sweep_view import SweepView

#: summaries plotted first in a :class:`SweepView`, the first one a sweep has
PREFERRED_Y = ("loss_final", "test_acc", "test_acc_last", "val_acc", "loss")
#: experiments whose sweeps start with several summaries drawn (flat minima: final R and test loss)
PREFERRED_Y_OF = {"flat-minima": ("R", "test_loss")}
#: the x axis is logarithmic for positive swept values spanning this ratio (or a log-scaled parameter)
LOG_X_SPAN = 1e2
#: a SweepView's y axis is logarithmic (until the log y box is clicked) while the positive
#: values drawn span more than this ratio
LOG_Y_SPAN = 1e3
#: how often the window looks for the sweep file of a sweep it started
POLL_MS = 250


def log_x(sweep: SweepData) -> bool:
    """A log axis for positive values of a log-scaled parameter, or ones spanning decades."""
    xk = sweep.swept[0]
    spec = experiments.get(sweep.experiment).spec if sweep.experiment in experiments.registry() else None
    x = np.asarray(sweep.grid.get(xk, []), dtype=float)
    log_param = spec is not None and xk in spec and spec[xk].log
    return bool(len(x) and (x > 0).all() and (log_param or x.max() >= LOG_X_SPAN * x.min()))


def default_y(keys: list[str], experiment: str = "") -> list[str]:
    own = [k for k in PREFERRED_Y_OF.get(experiment, ()) if k in keys]
    return own or ([next((k for k in PREFERRED_Y if k in keys), keys[0])] if keys else [])


def spans_decades(values: np.ndarray) -> bool:
    """Finite values, all positive, spanning more than ``LOG_Y_SPAN``."""
    v = values[np.isfinite(values)]
    return bool(len(v) > 1 and (v > 0).all() and v.max() > LOG_Y_SPAN * v.min())


def view_class(experiment: str, n_swept: int) -> type:
    """The plot for a sweep of ``n_swept`` parameters."""
    return sweep_view_class(experiment) if n_swept <= 1 else HeatMapView if n_swept == 2 else ParallelView


class SweepWindow(QMainWindow):
    """``SweepWindow(path)`` shows a sweep file; :meth:`start` runs a new sweep into one."""

    run_requested = Signal(str)

    def __init__(self, path: str, experiment: str, n_swept: int = 1, parent=None):
        super().__init__(parent)
        self.path = os.path.abspath(path)
        self.experiment = experiment
        self.setWindowTitle(f"Sweep · {experiment} · {os.path.basename(os.path.dirname(self.path))}")
        self.view = sweep_view_class(experiment)()
        self.view = view_class(experiment, n_swept)()
        self.table = RunTable()
        self.table.run_clicked.connect(self.run_requested)
        for v in self.view.views.values() if isinstance(self.view, NoiseScaleView) else [self.view]:
            v.run_clicked.connect(self.run_requested)
        self.shown = None  # the sweep data the table shows
        self.worker = self.thread = None
        self.ended = False  # the worker's finished signal has been handled
        self.error = ""
        self.started = time.monotonic()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setFormat("%v / %m runs")
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the sweep: the run going stops, the rest never start")
        self.cancel_button.clicked.connect(self.cancel)
        self.footer = QWidget()
        row = QHBoxLayout(self.footer)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.eta)
        row.addWidget(self.cancel_button)
        self.footer.hide()
        body = QWidget()
        lay = QVBoxLayout(body)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        lay.addWidget(split, 1)
        lay.addWidget(self.footer)
        self.setCentralWidget(body)
        self.resize(1100 if isinstance(self.view, NoiseScaleView) else 800, 700)
        self.poll = QTimer(self)
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self.follow)
        self.auto_log_y = isinstance(self.view, SweepView)
        if self.auto_log_y:
            self.view.log_y.clicked.connect(lambda: setattr(self, "auto_log_y", False))

    @classmethod
    def open(cls, path: str, parent=None) -> SweepWindow:
        """A window showing the sweep file at ``path``; raises :class:`SweepError`."""
        sweep = read_sweep(path)
        w = cls(sweep.path, sweep.experiment, len(sweep.swept), parent)
        w.show_sweep(sweep)
        w.follow()
        if sweep.status == "running":  # another process's sweep: pick a summary once runs end
            w.poll.start()
        return w

    @classmethod
    def start(
        cls,
        experiment: str,
        base: dict,
        space,
        out_dir: str,
        *,
        preset: str = "",
        jobs: int = 1,
        seeds: int = 1,
        backend=None,
        parent=None,
    ) -> SweepWindow:
        """Run a sweep (``space``: a :class:`Space` or a ``{name: values}`` grid) on a worker
        thread and show it filling in."""
        space = Space.of(space)
        worker, thread = start_sweep_worker(
            experiment, base, space, out_dir, preset=preset, jobs=jobs, seeds=seeds, backend=backend
        )
        w = cls(worker.path, experiment, len(space.axes), parent)
        w.worker, w.thread = worker, thread
        worker.progress.connect(w._on_progress)
        worker.finished.connect(w._on_finished)
        w.bar.setRange(0, len(space.points()) * seeds)
        w.bar.setValue(0)
        w.footer.show()
        w.poll.start()
        thread.start()
        return w

    @property
    def running(self) -> bool:
        """A sweep of this window whose end has not been shown yet."""
        return self.thread is not None and not self.ended

    # -- following --------------------------------------------------------------------------
    def show_sweep(self, sweep: SweepData) -> None:
        if isinstance(self.view, (HeatMapView, ParallelView)):
            self.view.load(
                sweep,
                metric=next(
                    iter(default_y([k for k in sweep.summary_keys() if k not in sweep.swept], sweep.experiment)), ""
                ),
            )
        elif isinstance(self.view, SweepView):
            self.view.load(
                sweep,
                y_keys=default_y([k for k in sweep.summary_keys() if k not in sweep.swept], sweep.experiment),
                log_x=log_x(sweep),
            )
        else:
            self.view.load(sweep, log_x=log_x(sweep))

    def follow(self) -> None:
        """Load the sweep file once it exists; plot a first summary once a run has ended,
        on a log axis while its values span decades; stop when the sweep has ended."""
        if self.view.sweep is None:
            try:
                self.show_sweep(read_sweep(self.path))
            except SweepError:  # not written yet (or not ours: the worker says so when it ends)
                pass
            return
        if self.view.sweep is not self.shown:
            self.shown = self.view.sweep
            self.table.show_sweep(self.shown)
        if not isinstance(self.view, (SweepView, NoiseScaleView)):
            if self.view.sweep.status != "running" and not self.running:
                self.poll.stop()
            return
        self._pin_x(self.view.sweep.status == "running" or self.running)
        if isinstance(self.view, SweepView) and not self.view.selected_keys():
            lst = self.view.y_list
            keys = default_y([lst.item(i).text() for i in range(lst.count())], self.experiment)
            for i in range(lst.count()):
                lst.item(i).setSelected(lst.item(i).text() in keys)
        if self.auto_log_y and self.view.selected_keys():
            ys = np.concatenate([self.view.sweep.column(k) for k in self.view.selected_keys()])
            self.view.log_y.setChecked(spans_decades(ys))
        if self.view.sweep.status != "running" and not self.running:
            self.poll.stop()

    def _pin_x(self, pinned: bool) -> None:
        """While runs are going the x axis spans the whole grid, so points fill in place."""
        views = list(self.view.views.values()) if isinstance(self.view, NoiseScaleView) else [self.view]
        for v in views:
            grid = np.asarray(self.view.sweep.grid.get(v.x_box.currentText(), []), dtype=float)
            if not pinned or not len(grid):
                v.item.enableAutoRange(x=True)
            elif v.log_x.isChecked() and (grid > 0).all():
                v.item.setXRange(np.log10(grid.min()), np.log10(grid.max()))
            elif not v.log_x.isChecked():
                v.item.setXRange(grid.min(), grid.max())

    def _on_progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        elapsed = time.monotonic() - self.started
        left = elapsed / done * (total - done) if done else float("nan")
        self.eta.setText(f"{elapsed:.0f} s" + (f" · about {left:.0f} s left" if done < total and done else ""))

    def _on_finished(self, path: str, error: str) -> None:
        self.thread.wait()
        self.ended = True
        self.cancel_button.setEnabled(False)
        self.error = error
        if error:
            self.poll.stop()
            self.bar.setRange(0, 1)
            self.eta.setText("failed")
            QMessageBox.critical(self, "Sweep failed", error)
            return
        if self.view.sweep is None:
            self.show_sweep(read_sweep(path))
        else:
            self.view.reread()
        self.follow()
        self.eta.setText(f"{self.view.sweep.status} in {time.monotonic() - self.started:.0f} s")

    def cancel(self) -> None:
        if self.worker is not None and self.running:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.eta.setText("cancelling…")

    def closeEvent(self, event) -> None:
        if self.running:
            answer = QMessageBox.question(
                self,
                "Sweep in progress",
                "The sweep is still going. Cancel it?\nRuns that ended are kept; the sweep file says 'cancelled'.",
            )
            if answer != QMessageBox.Yes:
                event.ignore()
                return
            self.cancel()
        else:
            self.deleteLater()  # a running sweep's window lives on until its worker has ended
        event.accept()
