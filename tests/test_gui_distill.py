"""The distill views: a sweep of three noise scales gives three runs and the Figure 2
view draws them with the teacher's levels; the run panel draws curves, the robustness
table, and flags a teacher file that changed."""

import json

import h5py
import numpy as np
import pytest

from lab.runfile import read_run
from lab.runner import run_experiment
from lab.sweep import read_sweep, run_sweep

DIGITS = {
    "dataset": "digits",
    "model": "mlp",
    "mlp_widths": [64],
    "lr": 0.05,
    "batch": 64,
    "schedule": "cosine",
    "device": "cpu",
    "train_fraction": 0.8,
}
SIGMA2 = [0.1, 1.0, 10.0]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("fig2")
    teacher = run_experiment("supervised", {**DIGITS, "epochs": 6}, out_dir=str(out))
    assert teacher.status == "completed", teacher.error
    base = {
        **DIGITS,
        "epochs": 3,
        "lr": 0.01,
        "teacher": teacher.path,
        "method": "noisy-logits",
        "noise": "gaussian",
        "grad_samples": 32,
        "robust_samples": 100,
        "noise_sigmas": "0.1,0.2,0.4",
        "pgd_steps": 2,
        "pgd_restarts": 1,
        "pgd_eps": 0.05,
        "pgd_step": 0.03,
    }
    path = run_sweep("distill", base, {"sigma2": SIGMA2}, str(out / "sweep"))
    return read_sweep(path)


def test_a_sweep_of_three_noise_scales_gives_three_runs_drawn_in_figure_2(qtbot, sweep):
    from widgets.noise_scale_view import NoiseScaleView

    assert sweep.status == "completed" and len(sweep.runs) == 3
    assert [r["status"] for r in sweep.runs] == ["completed"] * 3
    assert [read_run(r["path"]).header.params["sigma2"] for r in sweep.runs] == SIGMA2
    view = NoiseScaleView()
    qtbot.addWidget(view)
    view.load(sweep.path)
    for key in ("grad_norm", "val_acc", "test_acc"):
        v = view.views[key]
        x, y = v.curves[key].getData()
        np.testing.assert_allclose(x, SIGMA2)
        np.testing.assert_allclose(y, sweep.column(key))
        assert np.all(np.isfinite(y))
        # the teacher's level is drawn, and it is the same for every run of the sweep
        ref = sweep.column(f"teacher_{key}")
        assert np.ptp(ref) == 0 and v.reference is not None
        assert v.reference.value() == pytest.approx(ref[0])


def test_figure_2_fills_in_while_the_sweep_runs(qtbot, sweep, tmp_path):
    from widgets.noise_scale_view import NoiseScaleView

    with open(sweep.path) as f:
        doc = json.load(f)
    doc["runs"] = [dict(r, path=sweep.runs[i]["path"]) for i, r in enumerate(doc["runs"])]  # absolute paths
    partial = dict(
        doc, status="running", runs=[doc["runs"][0]] + [dict(r, status="pending", summary={}) for r in doc["runs"][1:]]
    )
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(partial))
    view = NoiseScaleView()
    qtbot.addWidget(view)
    view.load(str(path))
    assert view.timer.isActive()
    assert len(view.views["test_acc"].curves["test_acc"].getData()[0]) == 1
    path.write_text(json.dumps(doc))
    view.reread()
    x, _ = view.views["test_acc"].curves["test_acc"].getData()
    np.testing.assert_allclose(x, SIGMA2)
    assert not view.timer.isActive()


def test_run_panel_draws_curves_robustness_and_flags_a_changed_teacher(qtbot, sweep):
    from widgets.panels import panel_class

    run = read_run(sweep.runs[1]["path"])
    panel = panel_class("distill")()
    qtbot.addWidget(panel)
    panel.show_run(run)
    assert "unchanged" in panel.teacher_label.text()
    x, g = panel.grad.getData()
    np.testing.assert_allclose(g, run["series/grad_norm"])
    x, acc = panel.acc["val"].getData()
    assert len(acc) == 4 and np.all(np.isfinite(acc))
    assert panel.teacher_line.isVisible()
    # clean + three noise levels + PGD
    assert panel.table.rowCount() == 5
    assert panel.table.item(4, 0).text().startswith("PGD-2")
    sx, sacc = panel.noise_curve.getData()
    np.testing.assert_allclose(sx, [0.0, 0.1, 0.2, 0.4])
    np.testing.assert_allclose(sacc, [run.header.summary["test_acc"], *run["robust/noise_acc"]])
    with h5py.File(run.header.attrs["teacher_path"], "r+") as f:
        key = next(k for k in f["weights"] if k.endswith("bias"))
        f["weights"][key][0] += 1.0
    panel.show_run(read_run(sweep.runs[1]["path"]))
    assert panel.teacher_label.text().startswith("Teacher problem") and "changed" in panel.teacher_label.text()


def test_the_teacher_trained_first_is_drawn_live_from_its_own_events(qtbot, tmp_path):
    from widgets.panels.distill import Panel
    from widgets.sources import LiveRun

    values = {**DIGITS, "epochs": 2, "method": "kd", "grad_samples": 0, "robust_samples": 0}
    src = LiveRun("distill", values, str(tmp_path / "student.h5"))
    with qtbot.waitSignal(src.ended, timeout=120_000):
        pass
    assert src.run.header.status == "completed", src.run.header.error
    ((path, teacher),) = src.run.children.items()
    on_disk = read_run(path)
    assert on_disk.header.experiment == "supervised" and "teacher" in path
    np.testing.assert_array_equal(teacher["series/test_acc"], on_disk["series/test_acc"])
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(src.run)
    x, acc = panel.teacher_acc.getData()
    np.testing.assert_array_equal(acc, on_disk["series/test_acc"])
    np.testing.assert_array_equal(x, on_disk["series/step"])
    assert src.progress[0] == src.progress[1]  # one bar over the teacher and the student
