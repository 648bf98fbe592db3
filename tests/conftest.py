"""Test set-up: Qt renders offscreen (no display needed); runs go to a temporary folder."""
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISELAB_RUNS", str(tmp_path / "runs"))
    yield
