"""The dialog that sets up a sweep: one row per swept parameter (numeric or choice) with
its values (``v1,v2,...``, ``lin:lo:hi:n`` or ``log:lo:hi:n``, checked as typed with
:class:`lab.sweep.Space`), a grid or N random points, seeds per point, the backend
(local processes, or a Ray cluster at an address) and the folder for ``sweep.json``
and the run files."""

from __future__ import annotations

import html
import os
import uuid
from datetime import datetime
from typing import Any, Mapping

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lab.params import Param, ParamError, Spec
from lab.sweep import SWEEP_FILE, Backend, Space, SweepError, make_backend
from lab.sweeps.space import SWEEPABLE


def sweepable_params(spec: Spec) -> list[Param]:
    """The parameters a sweep can vary (numbers and choices; not the seed, which --seeds repeats)."""
    return [p for p in spec if p.kind in SWEEPABLE and p.name != "seed"]


def suggested_values(p: Param, current: float) -> str:
    """A first guess around the form's value: a decade each side on a log grid for
    positive log-scaled parameters, else half to double on a linear one."""
    if p.kind == "choice":
        return ",".join(map(str, p.choices))
    clip = lambda v: min(max(v, p.low if p.low is not None else v), p.high if p.high is not None else v)
    if current == 0:
        return p.format(current)
    if p.log and current > 0:
        return f"log:{clip(current / 10):g}:{clip(current * 10):g}:5"
    lo, hi = sorted((clip(current / 2), clip(current * 2)))
    return f"lin:{lo:g}:{hi:g}:3"


def default_sweep_folder(runs_folder: str, experiment: str, name: str) -> str:
    """A fresh, sortable folder name like the run files': ``sweep-nin-toy-lr-20261123-142501-3fa2``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join(runs_folder, f"sweep-{experiment}-{name}-{stamp}-{uuid.uuid4().hex[:4]}")


class AxisRow(QWidget):
    """One swept parameter: which, and its values."""

    def __init__(self, params: list[Param], parent=None):
        super().__init__(parent)
        self.param_box = QComboBox()
        for p in params:
            self.param_box.addItem(p.name + (f" [{p.unit}]" if p.unit else ""), p.name)
        self.values_edit = QLineEdit()
        self.values_edit.setPlaceholderText("0.1,1,10  or  lin:lo:hi:n  or  log:lo:hi:n")
        self.remove = QPushButton("−")
        self.remove.setToolTip("Stop sweeping this parameter")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.param_box)
        lay.addWidget(self.values_edit, 1)
        lay.addWidget(self.remove)

    def item(self) -> str:
        return f"{self.param_box.currentData()}={self.values_edit.text()}"


class SweepDialog(QDialog):
    """``space()``, ``seeds()``, ``backend()`` and ``folder()`` hold the choices once
    accepted; OK is enabled only while every row parses, the backend can be made and the
    folder holds no sweep yet."""

    def __init__(self, experiment: str, spec: Spec, base: Mapping[str, Any], runs_folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Sweep {experiment}")
        self.experiment, self.spec, self.base, self.runs_folder = experiment, spec, dict(base), runs_folder
        self.params = sweepable_params(spec)
        self.rows: list[AxisRow] = []
        self.rows_box = QVBoxLayout()
        add = QPushButton("Add parameter")
        add.clicked.connect(lambda: self.add_row())
        self.mode_box = QComboBox()
        self.mode_box.addItems(["grid", "random"])
        self.mode_box.setToolTip(
            "grid: every combination; random: N points drawn from the ranges (log-uniform for log:)"
        )
        self.random_box = QSpinBox()
        self.random_box.setRange(1, 100_000)
        self.random_box.setValue(20)
        self.sample_seed_box = QSpinBox()
        self.sample_seed_box.setRange(0, 2**31 - 1)
        self.sample_seed_box.setToolTip("Seed of the random points")
        mode_row = QWidget()
        ml = QHBoxLayout(mode_row)
        ml.setContentsMargins(0, 0, 0, 0)
        for w in (self.mode_box, QLabel("points"), self.random_box, QLabel("sample seed"), self.sample_seed_box):
            ml.addWidget(w)
        ml.addStretch(1)
        self.seeds_box = QSpinBox()
        self.seeds_box.setRange(1, 1000)
        self.seeds_box.setToolTip("Runs per point, with seeds seed, seed+1, ...; the view shows mean ± sd")
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.backend_box = QComboBox()
        self.backend_box.addItems(["local", "ray"])
        self.jobs_box = QSpinBox()
        self.jobs_box.setRange(1, os.cpu_count() or 1)
        self.jobs_box.setToolTip("Runs going at once, each in its own process with one thread")
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("empty: a local Ray instance; host:6379, auto or ray://host:10001")
        self.cpus_box, self.gpus_box = QDoubleSpinBox(), QDoubleSpinBox()
        for box, value in ((self.cpus_box, 1.0), (self.gpus_box, 0.0)):
            box.setRange(0, 64)
            box.setSingleStep(0.25)
            box.setValue(value)
        self.gpus_box.setToolTip("GPUs per run; fractions pack several runs on one GPU")
        backend_row = QWidget()
        bl = QHBoxLayout(backend_row)
        bl.setContentsMargins(0, 0, 0, 0)
        self.local_opts = [QLabel("jobs"), self.jobs_box]
        self.ray_opts = [
            QLabel("address"),
            self.address_edit,
            QLabel("CPUs/run"),
            self.cpus_box,
            QLabel("GPUs/run"),
            self.gpus_box,
        ]
        for w in (self.backend_box, *self.local_opts, *self.ray_opts):
            bl.addWidget(w)
        self.folder_edit = QLineEdit()
        self.folder_edit.setToolTip(f"A new folder for {SWEEP_FILE} and the sweep's run files")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QWidget()
        fl = QHBoxLayout(folder_row)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.folder_edit, 1)
        fl.addWidget(browse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.ok = self.buttons.button(QDialogButtonBox.Ok)
        self.ok.setText("Start sweep")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Parameters", self.rows_box)
        form.addRow("", add)
        form.addRow("Points", mode_row)
        form.addRow("Seeds per point", self.seeds_box)
        form.addRow("", self.count_label)
        form.addRow("Backend", backend_row)
        form.addRow("Output folder", folder_row)
        form.addRow(self.buttons)
        self.setMinimumWidth(760)
        self._auto_folder = ""
        for sig in (
            self.mode_box.currentIndexChanged,
            self.random_box.valueChanged,
            self.sample_seed_box.valueChanged,
            self.seeds_box.valueChanged,
            self.backend_box.currentIndexChanged,
            self.jobs_box.valueChanged,
            self.address_edit.textChanged,
            self.cpus_box.valueChanged,
            self.gpus_box.valueChanged,
            self.folder_edit.textChanged,
        ):
            sig.connect(self._check)
        self.add_row()

    # -- rows -------------------------------------------------------------------------------
    def add_row(self, name: str = "") -> AxisRow:
        """A new parameter row (the first parameter not swept yet, or ``name``)."""
        row = AxisRow(self.params)
        taken = {r.param_box.currentData() for r in self.rows}
        pick = name or next((p.name for p in self.params if p.name not in taken), self.params[0].name)
        row.param_box.setCurrentIndex(row.param_box.findData(pick))
        self.rows.append(row)
        self.rows_box.addWidget(row)
        row.param_box.currentIndexChanged.connect(lambda _i, r=row: self._on_param(r))
        row.values_edit.textChanged.connect(self._check)
        row.remove.clicked.connect(lambda _c=False, r=row: self.remove_row(r))
        self._on_param(row)
        return row

    def remove_row(self, row: AxisRow) -> None:
        if len(self.rows) > 1:
            self.rows.remove(row)
            row.deleteLater()
            self._check()

    @property
    def param_box(self) -> QComboBox:
        return self.rows[0].param_box

    @property
    def values_edit(self) -> QLineEdit:
        return self.rows[0].values_edit

    def _on_param(self, row: AxisRow) -> None:
        p = self.spec[row.param_box.currentData()]
        row.values_edit.setText(suggested_values(p, self.base.get(p.name, p.default)))
        if self.folder_edit.text() in ("", self._auto_folder):
            names = "-".join(r.param_box.currentData() for r in self.rows)
            self._auto_folder = default_sweep_folder(self.runs_folder, self.experiment, names)
            self.folder_edit.setText(self._auto_folder)
        self._check()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Sweep folder", self.runs_folder)
        if path:
            self.folder_edit.setText(path)

    def _check(self) -> None:
        random = self.mode_box.currentText() == "random"
        for w in (self.random_box, self.sample_seed_box):
            w.setEnabled(random)
        ray = self.backend_box.currentText() == "ray"
        for w in self.local_opts:
            w.setVisible(not ray)
        for w in self.ray_opts:
            w.setVisible(ray)
        errors = {}
        for row in self.rows:
            try:
                Space.parse(self.spec, [row.item()], random=int(random))
            except ParamError as e:
                errors[row.values_edit] = str(e)
        try:
            space = self.space()
            n = len(space.points())
            self.count_label.setText(f"{n} point(s) × {self.seeds()} seed(s) = {n * self.seeds()} run(s)")
        except ParamError as e:
            self.count_label.setText(f"<font color='#b00'>{html.escape(str(e))}</font>")
            errors.setdefault(self.rows[-1].values_edit, str(e))
        try:
            self.backend()
        except (ParamError, SweepError) as e:
            errors[self.backend_box] = str(e)
        folder = self.folder()
        if not folder:
            errors[self.folder_edit] = "choose a folder for the sweep"
        elif os.path.exists(os.path.join(folder, SWEEP_FILE)):
            errors[self.folder_edit] = f"{folder} holds a sweep already; choose a new folder"
        for edit in [r.values_edit for r in self.rows] + [self.backend_box, self.folder_edit]:
            edit.setProperty("invalid", edit in errors)
            edit.setToolTip(errors.get(edit, ""))
            edit.style().unpolish(edit)
            edit.style().polish(edit)
        self.ok.setEnabled(not errors)
        self.ok.setToolTip("\n".join(errors.values()))

    # -- the choices ------------------------------------------------------------------------
    def space(self) -> Space:
        """The rows as a sweep space; raises :class:`ParamError`."""
        random = self.random_box.value() if self.mode_box.currentText() == "random" else 0
        return Space.parse(
            self.spec, [r.item() for r in self.rows], random=random, sample_seed=self.sample_seed_box.value()
        )

    def grid(self) -> dict[str, list]:
        return {a.name: a.grid() for a in self.space().axes}

    def seeds(self) -> int:
        return self.seeds_box.value()

    def jobs(self) -> int:
        return self.jobs_box.value()

    def backend(self) -> Backend:
        """The chosen backend; raises :class:`ParamError` or :class:`SweepError` (Ray missing)."""
        ray = self.backend_box.currentText() == "ray"
        return make_backend(
            self.backend_box.currentText(),
            jobs=1 if ray else self.jobs(),
            address=self.address_edit.text().strip() if ray else "",
            num_cpus=self.cpus_box.value() if ray else None,
            num_gpus=self.gpus_box.value() if ray else None,
        )

    def folder(self) -> str:
        return self.folder_edit.text().strip()
