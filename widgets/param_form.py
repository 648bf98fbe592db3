"""The parameter form, generated from an experiment's :class:`lab.params.Spec`.

One group box per parameter group; numbers, vectors and texts are line edits checked
on every keystroke with :meth:`Param.parse` (a bad value turns red and its tooltip
carries the :class:`ParamError` message with the allowed range); choices are combo
boxes, booleans check boxes, paths a line edit with a browse button.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lab.params import Param, ParamError, Spec


def _tooltip(p: Param) -> str:
    text = f"<b>{p.name}</b>" + (f" [{p.unit}]" if p.unit else "")
    if p.help:
        text += f"<br>{p.help}"
    return text + f"<br><i>Allowed: {p.allowed()}</i>"


class TextField(QLineEdit):
    """A line edit for float, int, floats and str parameters, validated as typed."""

    edited = Signal()

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.error = ""
        self.textChanged.connect(self._check)

    def _check(self) -> None:
        try:
            self.param.parse(self.text())
            self.error = ""
        except ParamError as e:
            self.error = str(e)
        self.setProperty("invalid", bool(self.error))
        self.setToolTip(_tooltip(self.param) + (f"<br><font color='#b00'>{self.error}</font>" if self.error else ""))
        self.style().unpolish(self)
        self.style().polish(self)
        self.edited.emit()

    def value(self) -> Any:
        return self.param.parse(self.text())

    def set_value(self, value: Any) -> None:
        self.setText(self.param.format(value))


class PathField(QWidget):
    """A path line edit with a browse button; a path parameter names a file (a teacher's
    run file) or a folder (a data root), so Browse offers both choosers."""

    edited = Signal()

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.edit = TextField(param)
        self.edit.edited.connect(self.edited)
        button = QPushButton("Browse…")
        menu = QMenu(button)
        menu.addAction("File…", self.browse_file)
        menu.addAction("Folder…", self.browse_folder)
        button.setMenu(menu)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(button)

    @property
    def error(self) -> str:
        return self.edit.error

    def browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.param.name}", self.edit.text())
        if path:
            self.edit.setText(path)

    def browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, f"Choose {self.param.name}", self.edit.text())
        if path:
            self.edit.setText(path)

    def value(self) -> Any:
        return self.edit.value()

    def set_value(self, value: Any) -> None:
        self.edit.set_value(value)


class ChoiceField(QComboBox):
    edited = Signal()
    error = ""

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        for c in param.choices:
            self.addItem(str(c), c)
        self.setToolTip(_tooltip(param))
        self.currentIndexChanged.connect(lambda _i: self.edited.emit())

    def value(self) -> Any:
        return self.currentData()

    def set_value(self, value: Any) -> None:
        self.setCurrentIndex(self.param.choices.index(self.param.validate(value)))


class BoolField(QCheckBox):
    edited = Signal()
    error = ""

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.setToolTip(_tooltip(param))
        self.toggled.connect(lambda _b: self.edited.emit())

    def value(self) -> bool:
        return self.isChecked()

    def set_value(self, value: Any) -> None:
        self.setChecked(bool(value))


_FIELDS = {"choice": ChoiceField, "bool": BoolField, "path": PathField}


class ParamForm(QWidget):
    """The form for one spec. ``validity_changed(bool)`` fires when the form turns
    valid or invalid; ``edited`` on every change. Once every field holds an allowed value,
    ``check`` (the experiment's: combinations, folders, teachers, devices) runs on the
    whole set, and the parameter its :class:`ParamError` names is marked like a bad field."""

    validity_changed = Signal(bool)
    edited = Signal()

    def __init__(self, spec: Spec, check: Callable[[dict], None] | None = None, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.check = check
        self.fields: dict[str, QWidget] = {}
        self._valid = True
        self._check_error: tuple[str, str] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for group, params in spec.groups().items():
            box = QGroupBox(group)
            form = QFormLayout(box)
            for p in params:
                field = _FIELDS.get(p.kind, TextField)(p)
                field.setObjectName(f"param_{p.name}")
                label = QLabel(p.name + (f" [{p.unit}]" if p.unit else ""))
                label.setToolTip(_tooltip(p))
                form.addRow(label, field)
                field.edited.connect(self._on_edit)
                self.fields[p.name] = field
            lay.addWidget(box)
        self.set_values(spec.defaults())
        self._on_edit()

    def _on_edit(self) -> None:
        self._run_check()
        valid = not self.errors()
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.edited.emit()

    def _run_check(self) -> None:
        old, self._check_error = self._check_error, None
        if self.check is not None and not any(f.error for f in self.fields.values()):
            try:
                self.check(self.values())
            except ParamError as e:
                self._check_error = (e.name, str(e))
        if old != self._check_error:
            for entry in (old, self._check_error):
                field = self.fields.get(entry[0]) if entry else None
                if field is not None:
                    target = getattr(field, "edit", field)  # a path field's line edit
                    target.setProperty("invalid", entry is self._check_error or bool(field.error))
                    target.style().unpolish(target)
                    target.style().polish(target)

    def errors(self) -> dict[str, str]:
        """ParamError messages of the fields that hold a bad value, and of the experiment's
        check of the whole set, by parameter name."""
        out = {name: f.error for name, f in self.fields.items() if f.error}
        if self._check_error is not None and not out:
            out[self._check_error[0]] = self._check_error[1]
        return out

    def is_valid(self) -> bool:
        return self._valid

    def values(self) -> dict:
        """The validated values (raises :class:`ParamError` for the first bad field)."""
        return self.spec.validate({name: f.value() for name, f in self.fields.items()})

    def set_values(self, values: Mapping[str, Any]) -> list[str]:
        """Fill the fields named in ``values`` (others keep their value); returns the
        names whose value this spec does not accept (an old run file's, say)."""
        rejected = []
        for name, value in values.items():
            if name in self.fields:
                try:
                    self.fields[name].set_value(value)
                except (ParamError, ValueError, TypeError):
                    rejected.append(name)
        return rejected
