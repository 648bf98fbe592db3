"""The parameter form is generated from a spec and rejects bad values at once."""

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QLineEdit, QMessageBox

from lab import experiments
from lab.params import Param, Spec
from widgets.param_form import ParamForm, PathField

SPEC = Spec(
    Param("lr", "float", 0.01, low=1e-6, high=1.0, unit="1/step", group="SGD", help="learning rate"),
    Param("steps", "int", 100, low=1, high=1000, group="SGD"),
    Param("batching", "choice", "iid", choices=("iid", "shuffle"), group="SGD"),
    Param("start", "floats", [0.0, 0.0], length=2, group="Start"),
    Param("plot", "bool", True, group="Start"),
    Param("data_dir", "path", "/tmp", group="Data"),
)


def test_form_is_generated_from_the_spec(qtbot):
    form = ParamForm(SPEC)
    qtbot.addWidget(form)
    assert [b.title() for b in form.findChildren(QGroupBox)] == ["SGD", "Start", "Data"]
    assert isinstance(form.fields["batching"], QComboBox)
    assert isinstance(form.fields["plot"], QCheckBox)
    assert isinstance(form.fields["data_dir"], PathField)
    assert form.fields["start"].text() == "0,0"
    assert form.values() == SPEC.defaults()
    form.fields["start"].setText("1.5, -2")
    form.fields["batching"].setCurrentText("shuffle")
    form.fields["plot"].setChecked(False)
    v = form.values()
    assert v["start"] == [1.5, -2.0] and v["batching"] == "shuffle" and v["plot"] is False


@pytest.mark.parametrize(
    "name,text,allowed",
    [
        ("lr", "5", "[1e-06, 1] 1/step"),
        ("lr", "abc", "[1e-06, 1]"),
        ("steps", "2.5", "an integer in [1, 1000]"),
        ("start", "1,2,3", "2 numbers"),
    ],
)
def test_out_of_range_value_is_marked_with_the_allowed_range(qtbot, name, text, allowed):
    form = ParamForm(SPEC)
    qtbot.addWidget(form)
    with qtbot.waitSignal(form.validity_changed) as sig:
        form.fields[name].setText(text)
    assert sig.args == [False]
    field = form.fields[name]
    assert field.property("invalid") is True
    assert allowed in field.toolTip() and name in form.errors()
    with qtbot.waitSignal(form.validity_changed) as sig:
        field.set_value(SPEC[name].default)
    assert sig.args == [True] and field.property("invalid") is False and not form.errors()


def test_run_is_disabled_while_a_value_is_invalid(qtbot, monkeypatch):
    from widgets.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    w = MainWindow()
    qtbot.addWidget(w)
    tab = w.tab_of["ols"]
    w.tabs.setCurrentWidget(tab)
    p = experiments.get("ols").spec["lr"]
    field = tab.form.fields["lr"]
    assert isinstance(field, QLineEdit) and tab.run_button.isEnabled() and w.run_action.isEnabled()
    field.setText(str(p.high * 10))
    assert not tab.run_button.isEnabled() and not w.run_action.isEnabled()
    assert p.allowed() in field.toolTip()
    assert w.run_current() is None and not tab.sources  # Ctrl+R does nothing either
    field.setText(p.format(p.default))
    assert tab.run_button.isEnabled() and w.run_action.isEnabled()


def test_preset_fills_the_form(qtbot):
    from lab.params import resolve_preset
    from widgets.experiment_tab import ExperimentTab

    exp = experiments.get("ols")
    tab = ExperimentTab(exp)
    qtbot.addWidget(tab)
    name = next(iter(exp.presets))
    tab.apply_preset(name)
    expected = resolve_preset(exp.spec, exp.presets, name)
    assert tab.form.values() == expected
    assert tab.preset_tag(expected) == name
    tab.apply_preset("(defaults)")
    assert tab.form.values() == exp.spec.defaults()


def test_a_path_can_be_browsed_as_a_file_or_a_folder(qtbot, monkeypatch, tmp_path):
    """A teacher is a run file, a data root a folder: the Browse menu offers both."""
    from PySide6.QtWidgets import QFileDialog, QPushButton

    teacher = str(tmp_path / "teacher.h5")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (teacher, ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    form = ParamForm(SPEC)
    qtbot.addWidget(form)
    field = form.fields["data_dir"]
    menu = field.findChild(QPushButton).menu()
    assert [a.text() for a in menu.actions()] == ["File…", "Folder…"]
    menu.actions()[0].trigger()
    assert form.values()["data_dir"] == teacher
    menu.actions()[1].trigger()
    assert form.values()["data_dir"] == str(tmp_path)
