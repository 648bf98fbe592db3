"""Test set-up: Qt renders offscreen (no display needed); runs and user presets go to a
temporary folder; torch uses one intra-op thread: the test models are tiny, and on a
2-core machine a second spinning thread makes them several times slower and less steady."""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISELAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # user presets: none unless a test adds them
    yield


@pytest.fixture
def boxes(monkeypatch):
    """Message boxes never block: calls are recorded as (kind, text), questions answered Yes."""
    from PySide6.QtWidgets import QMessageBox

    calls = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda *a, kind=kind, **k: calls.append((kind, a[2])) or QMessageBox.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: calls.append(("question", a[2])) or QMessageBox.Yes)
    return calls
