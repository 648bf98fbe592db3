"""Your own script as a run (lab.Run): the documented example runs and writes a standard
run file, the series rule holds, and the window follows such a file live."""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import lab
from lab.runfile import read_header

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT}


def doc_example() -> str:
    with open(os.path.join(ROOT, "docs", "api.md")) as f:
        text = f.read()
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def test_the_documented_example_writes_a_standard_run(tmp_path):
    (tmp_path / "example.py").write_text(doc_example())
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=ENV, capture_output=True, text=True, check=True
    ).stdout
    path = out.strip().splitlines()[-1]
    run = lab.read_run(path)
    h = run.header
    assert (h.experiment, h.status, h.params, h.seed) == (
        "my-exp",
        "completed",
        {"lr": 0.1, "steps": 200, "seed": 0},
        0,
    )
    np.testing.assert_array_equal(run["series/step"], np.arange(200))
    np.testing.assert_allclose(run["series/loss"], 0.99 ** np.arange(1, 201))
    np.testing.assert_array_equal(run["series/lr"], np.full(200, 0.1))
    assert h.summary["final_loss"] == pytest.approx(0.99**200)
    assert h.attrs["command"] == "example.py" and h.attrs["written_by"] == "lab.Run"
    df = run.to_pandas()
    assert df.shape == (200, 2) and list(df.columns) == ["loss", "lr"] and df.index.name == "step"


def test_a_later_row_may_leave_out_a_series_but_not_add_one(tmp_path):
    with lab.Run("mine", params={"k": [1, 2]}, out=str(tmp_path), series=["val"]) as run:
        run.log(0, loss=1.0, w=[1.0, 2.0])
        run.log(1, loss=0.5, val=0.7, w=[3.0, 4.0])
        with pytest.raises(ValueError, match="'acc' did not exist at the first row"):
            run.log(2, loss=0.2, acc=0.9)
        with pytest.raises(ValueError, match=r"w \(shape \(3,\)"):
            run.log(2, loss=0.2, w=[1, 2, 3])
        run.log(2, loss=0.25)
    r = lab.read_run(run.path)
    np.testing.assert_array_equal(r["series/step"], [0, 1, 2])  # refused rows wrote nothing
    np.testing.assert_array_equal(r["series/val"], [np.nan, 0.7, np.nan])
    np.testing.assert_array_equal(r["series/w"], [[1, 2], [3, 4], [np.nan, np.nan]])
    assert r.header.params == {"k": [1, 2]}


def test_an_exception_records_failed_and_propagates(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with lab.Run("mine", out=str(tmp_path)) as run:
            run.log(0, loss=1.0)
            _ = 1 / 0
    h = read_header(run.path)
    assert h.status == "failed" and "ZeroDivisionError" in h.error


def test_parameters_that_cannot_be_stored_are_refused_before_any_file(tmp_path):
    with pytest.raises(ValueError, match="parameter 'opt'"):
        lab.Run("mine", params={"opt": {"lr": 1}}, out=str(tmp_path))
    assert not os.listdir(tmp_path)


FOLLOWED = """
import os, sys, time, lab
out, go = sys.argv[1], sys.argv[2]
with lab.Run("my-script", params={"n": 10}, out=out) as run:
    for step in range(5):
        run.log(step, loss=1.0 / (step + 1))
    run.flush()
    print(run.path, flush=True)
    while not os.path.exists(go):  # the test says when to go on
        time.sleep(0.01)
    for step in range(5, 10):
        run.log(step, loss=1.0 / (step + 1))
"""


def test_the_window_follows_a_script_run_with_the_generic_panel(qtbot, tmp_path, boxes):
    from widgets.main_window import MainWindow
    from widgets.panels.generic import Panel

    script, go = tmp_path / "script.py", tmp_path / "go"
    script.write_text(FOLLOWED)
    p = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out"), str(go)], env=ENV, stdout=subprocess.PIPE, text=True
    )
    try:
        path = p.stdout.readline().strip()
        w = MainWindow(run_dir=str(tmp_path / "runs"))
        qtbot.addWidget(w)
        w.show()
        assert w.open_run(path)
        tab = w.tab_of["my-script"]
        assert w.current_tab() is tab and not tab.runnable and not tab.run_button.isEnabled()
        assert isinstance(tab.panel, Panel) and tab.current.status == "following"

        def drawn():
            curve = tab.panel.curves.get("series/loss")
            return [] if curve is None or curve.yData is None else list(curve.yData)

        qtbot.waitUntil(lambda: len(drawn()) == 5, timeout=60_000)
        go.touch()
        qtbot.waitUntil(lambda: tab.current.status == "completed", timeout=60_000)
        tab.redraw()
        assert drawn() == [1.0 / (k + 1) for k in range(10)]
        assert not boxes
        w.close()
    finally:
        go.touch()
        p.wait(timeout=60)
    assert p.returncode == 0
    assert math.isclose(read_header(path).params["n"], 10)
