"""The dialog that sets up a sweep of one numeric parameter of an experiment: which
parameter, its values (``v1,v2,...``, ``lin:lo:hi:n`` or ``log:lo:hi:n``, checked as
typed with :func:`lab.sweep.parse_values`), how many runs go in parallel and the folder
for ``sweep.json`` and the run files."""
from __future__ import annotations

import html
import os
import uuid
from datetime import datetime
from typing import Any, Mapping

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QSpinBox, QWidget)

from lab.params import Param, ParamError, Spec
from lab.sweep import SWEEP_FILE, parse_values


def numeric_params(spec: Spec) -> list[Param]:
    """The parameters a sweep can vary (float and int)."""
    return [p for p in spec if p.kind in ("float", "int")]


def suggested_values(p: Param, current: float) -> str:
    """A first guess around the form's value: a decade each side on a log grid for
    positive log-scaled parameters, else half to double on a linear one."""
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


class SweepDialog(QDialog):
    """``grid()``, ``jobs()`` and ``folder()`` hold the choices once accepted; OK is
    enabled only while the values parse and the folder holds no sweep yet."""

    def __init__(self, experiment: str, spec: Spec, base: Mapping[str, Any], runs_folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Sweep {experiment}")
        self.experiment, self.spec, self.base, self.runs_folder = experiment, spec, dict(base), runs_folder
        self.param_box = QComboBox()
        for p in numeric_params(spec):
            self.param_box.addItem(p.name + (f" [{p.unit}]" if p.unit else ""), p.name)
        self.values_edit = QLineEdit()
        self.values_edit.setPlaceholderText("0.1,1,10  or  lin:lo:hi:n  or  log:lo:hi:n")
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.jobs_box = QSpinBox()
        self.jobs_box.setRange(1, os.cpu_count() or 1)
        self.jobs_box.setToolTip("Runs going at once, each in its own process with one thread")
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
        form.addRow("Parameter", self.param_box)
        form.addRow("Values", self.values_edit)
        form.addRow("", self.count_label)
        form.addRow("Parallel jobs", self.jobs_box)
        form.addRow("Output folder", folder_row)
        form.addRow(self.buttons)
        self.setMinimumWidth(600)
        self._auto_folder = ""
        self.param_box.currentIndexChanged.connect(self._on_param)
        self.values_edit.textChanged.connect(self._check)
        self.folder_edit.textChanged.connect(self._check)
        self._on_param()

    def param(self) -> Param:
        return self.spec[self.param_box.currentData()]

    def _on_param(self) -> None:
        p = self.param()
        self.values_edit.setText(suggested_values(p, self.base.get(p.name, p.default)))
        if self.folder_edit.text() in ("", self._auto_folder):
            self._auto_folder = default_sweep_folder(self.runs_folder, self.experiment, p.name)
            self.folder_edit.setText(self._auto_folder)
        self._check()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Sweep folder", self.runs_folder)
        if path:
            self.folder_edit.setText(path)

    def _check(self) -> None:
        errors = {}
        try:
            name, values = self.grid_item()
            self.count_label.setText(f"{len(values)} run(s): " + ", ".join(f"{v:.3g}" for v in values[:8])
                                     + (" …" if len(values) > 8 else ""))
        except ParamError as e:
            errors[self.values_edit] = str(e)
            self.count_label.setText(f"<font color='#b00'>{html.escape(str(e))}</font>")
        folder = self.folder()
        if not folder:
            errors[self.folder_edit] = "choose a folder for the sweep"
        elif os.path.exists(os.path.join(folder, SWEEP_FILE)):
            errors[self.folder_edit] = f"{folder} holds a sweep already; choose a new folder"
        for edit in (self.values_edit, self.folder_edit):
            edit.setProperty("invalid", edit in errors)
            edit.setToolTip(errors.get(edit, ""))
            edit.style().unpolish(edit)
            edit.style().polish(edit)
        self.ok.setEnabled(not errors)
        self.ok.setToolTip("\n".join(errors.values()))

    def grid_item(self) -> tuple[str, list]:
        """(parameter, values) as typed; raises :class:`ParamError`."""
        return parse_values(self.spec, f"{self.param_box.currentData()}={self.values_edit.text()}")

    def grid(self) -> dict[str, list]:
        name, values = self.grid_item()
        return {name: values}

    def jobs(self) -> int:
        return self.jobs_box.value()

    def folder(self) -> str:
        return self.folder_edit.text().strip()
