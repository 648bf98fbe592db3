"""One tab per experiment: its parameter form, preset picker, Run / Cancel, the runs
it shows and the experiment's panel, redrawn from a timer (never per chunk).

The timer adapts to what drawing costs: after each redraw its period becomes the
measured cost (``refresh`` plus the paint that follows it, :data:`widgets.plots.PAINT_CLOCK`)
divided by :data:`DRAW_SHARE`, never faster than :data:`REDRAW_MS`, so a heavy panel
takes at most that share of the GUI thread (and of the CPU the run needs). A panel behind
another tab is not drawn at all; it catches up when shown."""

from __future__ import annotations

import html
import os
import time
from typing import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab import configs
from lab.experiments import Experiment, ExperimentLike
from lab.params import ParamError, Spec
from lab.runner import default_run_dir, new_run_path

from .panels import panel_class
from .param_form import ParamForm
from .plots import PAINT_CLOCK
from .progress import ProgressWidget
from .sources import FollowedRun, LiveRun, RunSource

#: shortest panel redraw period while a run grows
REDRAW_MS = 80
#: longest period: a panel whose drawing is very slow still updates twice a second
REDRAW_MAX_MS = 500
#: the share of wall time that redrawing a growing run may take
DRAW_SHARE = 0.08
DEFAULTS = "(defaults)"
#: shown where the panel goes while the tab shows no run
EMPTY_HINT = (
    "No run shown yet.\n\nPick a preset (or set the parameters) and press Run (Ctrl+R),\n"
    "or open a run file (Ctrl+O), pick one in Runs below, or drop a .h5 file here."
)


def viewer_experiment(name: str) -> Experiment:
    """An experiment this Noise Lab does not have (a script's, written with
    :class:`lab.Run`): no parameters to set, nothing to run; its files are drawn by the
    generic panel."""

    def refuse(*_args):
        raise RuntimeError(f"'{name}' runs only from the code that wrote its files")

    return Experiment(
        name=name, title=f"{name}: runs written by a script (view only)", spec=Spec(), layout=refuse, run=refuse
    )


class ExperimentTab(QWidget):
    """Signals: ``message(str)`` for the status bar, ``run_ended(source)``,
    ``state_changed()`` when Run / Cancel availability may have changed, and
    ``run_requested(experiment, values)`` forwarded from the panel. A tab that is not
    ``runnable`` (an experiment known only from its files) only shows runs."""

    message = Signal(str)
    run_ended = Signal(object)
    state_changed = Signal()
    #: a panel asks for a run of another experiment (a phase-map cell's trajectory, say)
    run_requested = Signal(str, dict)

    def __init__(
        self,
        experiment: ExperimentLike,
        run_dir: Callable[[], str] = default_run_dir,
        parent=None,
        runnable: bool = True,
    ):
        super().__init__(parent)
        self.experiment = experiment
        self.runnable = runnable
        self.run_dir = run_dir
        self.name = experiment.name
        self.sources: list[RunSource] = []
        self.current: RunSource | None = None
        self._drawn: tuple | None = None
        self._parts: list[tuple[RunSource, Callable[[], object]]] = []  # a redraw's parts still to draw
        self._draw_cost = (0.0, 0.0)  # (refresh seconds, PAINT_CLOCK after it) of the last redraw

        self.form = ParamForm(experiment.spec, check=experiment.check if runnable else None)
        self.form.validity_changed.connect(self._on_validity)
        self.preset_box = QComboBox()
        self.preset_box.addItems([DEFAULTS, *configs.preset_names(experiment)] if runnable else [])
        self.preset_box.setToolTip(
            "Fill the form with a named preset (paper figures by name; yours from "
            f"{configs.user_preset_dir(experiment.name)})"
        )
        self.preset_box.activated.connect(lambda _i: self.apply_preset(self.preset_box.currentText()))
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Start a run with these parameters (Ctrl+R); several may run at once")
        self.run_button.clicked.connect(lambda: self.start_run())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the run shown (Esc)")
        self.cancel_button.clicked.connect(self.cancel_current)
        self.source_box = QComboBox()
        self.source_box.setToolTip("The run the panel shows: runs of this window and opened files")
        self.source_box.currentIndexChanged.connect(self._on_source_index)
        self.progress = ProgressWidget()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self._panel: QWidget | None = None  # made when first needed (startup stays fast)

        controls = QWidget()
        cl = QVBoxLayout(controls)
        top = QFormLayout()
        top.addRow("Preset", self.preset_box)
        cl.addLayout(top)
        cl.addWidget(self.form)
        cl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(controls.sizeHint().width() + 24)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(scroll, 1)
        ll.addLayout(buttons)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Showing"))
        row.addWidget(self.source_box, 1)
        row.addWidget(self.progress, 1)
        rl.addLayout(row)
        rl.addWidget(self.info)
        self.panel_layout = rl

        self.hint = QLabel(EMPTY_HINT)
        self.hint.setAlignment(Qt.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #666; font-size: 13pt")
        rl.addWidget(self.hint, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setCollapsible(1, False)
        self.splitter = split
        left.setVisible(runnable)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        self._update_buttons()

    @property
    def panel(self) -> QWidget:
        """The experiment's panel, created when the tab is first shown or used."""
        if self._panel is None:
            self._panel = panel_class(self.name)()
            self.panel_layout.addWidget(self._panel, 1)
            if hasattr(self._panel, "run_requested"):
                self._panel.run_requested.connect(self.run_requested)
            self._panel.setVisible(self.current is not None)
        return self._panel

    def showEvent(self, event) -> None:
        self.panel.setVisible(self.current is not None)  # creates the panel the first time the tab is shown
        super().showEvent(event)
        self.redraw()  # what changed while it was behind another tab

    # -- form -------------------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Fill the form with a built-in or user preset (a broken user file: a message)."""
        try:
            values = configs.resolve(self.experiment, None if name == DEFAULTS else name)
        except (ParamError, configs.ConfigError) as e:
            QMessageBox.critical(self, "Cannot load preset", str(e))
            return
        self.form.set_values(values)
        self.preset_box.setCurrentText(name)
        self.message.emit(f"{self.name}: preset {name} loaded")

    def preset_tag(self, values: dict) -> str:
        """The preset's name if ``values`` are exactly that preset, else ``""``."""
        name = self.preset_box.currentText()
        if name == DEFAULTS:
            return ""
        try:
            return name if configs.resolve(self.experiment, name) == values else ""
        except (ParamError, configs.ConfigError):
            return ""

    def save_config(self, path: str) -> None:
        """Write the form's values as a config file (``noiselab run EXP --config``);
        raises ParamError (a bad field) or ConfigError."""
        configs.save_config(path, self.name, self.form.values())
        self.message.emit(f"{self.name}: parameters saved to {path}")

    def load_config(self, path: str) -> None:
        """Fill the form with the defaults and then a config file's values, as
        ``--config`` does; raises ConfigError naming a bad key and the file."""
        values = {**self.experiment.spec.defaults(), **configs.load_config(path, self.experiment.spec)}
        self.form.set_values(values)
        self.preset_box.setCurrentText(DEFAULTS)
        self.message.emit(f"{self.name}: parameters loaded from {path}")

    def _on_validity(self, valid: bool) -> None:
        if not valid:
            self.message.emit("; ".join(self.form.errors().values()))
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.run_button.setEnabled(self.runnable and self.form.is_valid())
        self.cancel_button.setEnabled(self.current is not None and self.current.running)
        self.state_changed.emit()

    # -- runs -------------------------------------------------------------------------------
    def start_run(self) -> LiveRun | None:
        """Start a run with the form's values into ``run_dir()`` (the browser's folder).
        Values that pass the form's fields but not the experiment's check (a data folder
        that lacks the data set, say) get a message box and start nothing."""
        if not self.runnable:
            return None
        try:
            values = self.form.values()
        except ParamError as e:
            self.message.emit(str(e))
            return None
        try:
            self.experiment.check(values)
        except ParamError as e:
            QMessageBox.critical(self, "Cannot start run", str(e))
            self.message.emit(f"{self.name}: run not started")
            return None
        path = new_run_path(self.run_dir(), self.name, self.preset_tag(values))
        source = LiveRun(self.name, values, path, parent=self)
        self.add_source(source)
        self.message.emit(f"started {os.path.basename(path)}")
        return source

    def add_source(self, source: RunSource) -> None:
        """Show ``source`` (and keep it selectable); a file shown before is replaced."""
        old = self.find_source(source.path)
        if old is not None and not old.running:
            i = self.sources.index(old)
            self.sources.pop(i)
            self.source_box.removeItem(i)
        source.ended.connect(self._on_ended)
        self.sources.append(source)
        self.source_box.addItem(source.label())
        self.source_box.setCurrentIndex(len(self.sources) - 1)

    def find_source(self, path: str) -> RunSource | None:
        path = os.path.abspath(path)
        return next((s for s in self.sources if s.path == path), None)

    def select_source(self, source: RunSource) -> None:
        self.source_box.setCurrentIndex(self.sources.index(source))

    def live_runs(self) -> list[LiveRun]:
        return [s for s in self.sources if isinstance(s, LiveRun) and s.running]

    def cancel_current(self) -> None:
        """Cancel a run of this window; for a file another process writes, only stop
        following it (that process goes on writing)."""
        s = self.current
        if s is None or not s.running:
            return
        s.cancel()
        if isinstance(s, FollowedRun):
            self.message.emit(f"stopped following {os.path.basename(s.path)}; the process writing it goes on")
        else:
            self.message.emit(f"cancelling {os.path.basename(s.path)}…")

    def _on_source_index(self, i: int) -> None:
        self.current = self.sources[i] if 0 <= i < len(self.sources) else None
        self.hint.setVisible(self.current is None)
        if self._panel is not None:
            self._panel.setVisible(self.current is not None)
        if self.current is not None:
            self.current.dirty = True
        self._update_buttons()
        self.redraw()

    def _on_ended(self, source: RunSource) -> None:
        i = self.sources.index(source)
        self.source_box.setItemText(i, source.label())
        h = source.run.header if source.run is not None else None
        what = f"{os.path.basename(source.path)}: {source.status}"
        if h is not None and h.summary:
            what += "  " + ", ".join(f"{k}={v:.4g}" for k, v in h.summary.items() if isinstance(v, float))
        self.message.emit(what)
        self._update_buttons()
        self.run_ended.emit(source)

    # -- drawing ----------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw the shown run if it changed: ``show_run`` for a new one, else ``refresh``
        (or, for a panel with ``refresh_parts``, its parts one event-loop turn each, so
        that each part's plots are painted before the next is drawn: no turn holds the
        GUI for a whole panel)."""
        s = self.current
        if s is None or s.run is None or self.drawing:
            return
        self._pace()
        if s.dirty and not self.behind():
            s.dirty = False
            t0 = time.perf_counter()
            problem = self._draw(s)
            self._draw_cost = (time.perf_counter() - t0, PAINT_CLOCK.seconds)
            self._drawn_problem(s, problem)
        self._update_progress(s)

    @property
    def drawing(self) -> bool:
        """Parts of a redraw are still to be drawn."""
        return bool(self._parts)

    def _drawn_problem(self, s: RunSource, problem: str) -> None:
        self._update_info(s, problem)
        if problem:
            self.message.emit(f"{os.path.basename(s.path)}: {problem}")

    def _next_part(self) -> None:
        """Draw the next part of a redraw (its time counts in the redraw's cost)."""
        if not self._parts:
            return
        s, part = self._parts.pop(0)
        t0 = time.perf_counter()
        problem = self._guarded(part)
        self._draw_cost = (self._draw_cost[0] + time.perf_counter() - t0, self._draw_cost[1])
        if problem:
            self._parts.clear()
            self._drawn_problem(s, problem)
        elif self._parts:
            QTimer.singleShot(0, self._next_part)

    def behind(self) -> bool:
        """Whether the window is shown with this tab behind another: nothing to draw."""
        return not self.isVisible() and self.window().isVisible()

    def _pace(self) -> None:
        """Set the timer's period from the last redraw's cost: its ``refresh`` (all its
        parts) and the painting since (all plots' paint time counts: other views paint
        too)."""
        refresh_s, painted = self._draw_cost
        cost = refresh_s + PAINT_CLOCK.seconds - painted
        self._draw_cost = (0.0, PAINT_CLOCK.seconds)
        if refresh_s > 0:  # a redraw happened since the last tick
            self.timer.setInterval(int(min(max(1e3 * cost / DRAW_SHARE, REDRAW_MS), REDRAW_MAX_MS)))

    def _draw(self, s: RunSource) -> str:
        """Draw ``s`` on the panel (the first of its parts, the others queued); returns
        why it could not be drawn ("" if it was)."""
        drawn = (id(s), id(s.run))
        run = s.run
        if drawn != self._drawn:
            self._drawn = drawn
            return self._guarded(lambda: self.panel.show_run(run))
        parts = getattr(self.panel, "refresh_parts", None)
        if parts is None:
            return self._guarded(lambda: self.panel.refresh(run))
        first, *rest = parts(run)
        self._parts = [(s, part) for part in rest]
        problem = self._guarded(first)
        if problem:
            self._parts.clear()
        elif self._parts:
            QTimer.singleShot(0, self._next_part)
        return problem

    @staticmethod
    def _guarded(draw: Callable[[], object]) -> str:
        """Run ``draw``; why it failed on this run's data ("" if it did not)."""
        try:
            draw()
        except KeyError as e:  # a damaged file, or one from a version with other datasets
            return f"cannot draw this run: the file has no '{e.args[0]}'"
        except (IndexError, ValueError) as e:  # a dataset of another shape than the panel draws
            return f"cannot draw this run: {e}"
        return ""

    def _update_info(self, s: RunSource, problem: str = "") -> None:
        h = s.run.header
        text = f"<b>{os.path.basename(s.path)}</b> · {s.status} · seed {h.seed}"
        if h.status == "diverged":
            text += f" · diverged at step {h.diverged_step}"
        lines = [h.error.strip().splitlines()[-1]] if h.status in ("failed", "diverged") and h.error.strip() else []
        lines += [problem] if problem else []
        text += "".join(f"<br><font color='#b00'>{html.escape(line, quote=False)}</font>" for line in lines)
        self.info.setText(text)

    def _update_progress(self, s: RunSource) -> None:
        if isinstance(s, LiveRun) and s.running:
            done, total = s.progress
            self.progress.set_progress(done, total, time.monotonic() - s.started)
        elif isinstance(s, FollowedRun) and s.running:
            done, total = s.progress
            if total:
                self.progress.set_progress(done, total, s.elapsed())
            else:
                self.progress.busy("following the file live")
        else:
            done, total = s.progress
            self.progress.idle(s.status, min(done / total, 1.0) if total else None)
