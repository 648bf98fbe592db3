"""Guards against Qt bindings that corrupt Python's reference counts: PySide6 6.12.0
drops a reference to None on every call returning None, and the interpreter aborts
after a few minutes of live plotting (hence the pin in pyproject.toml)."""

import sys

from PySide6.QtWidgets import QLabel


def test_qt_calls_keep_refcount_of_none(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
        label.isVisible()
    assert sys.getrefcount(None) - before > -50
