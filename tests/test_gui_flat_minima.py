"""The flat-minima panel draws a sparse run: curves, error bands, theory and coefficient bars."""

import numpy as np

from lab.experiments import flat_minima as fm
from lab.runfile import read_run
from lab.runner import run_experiment
from widgets.panels import flat_minima, panel_class


def test_panel_draws_a_label_noise_run_with_its_theory_and_coefficients(qtbot):
    assert panel_class("flat-minima") is flat_minima.Panel
    values = {
        **fm.SPEC.defaults(),
        "d": 20,
        "n": 8,
        "k": 2,
        "batch": 8,
        "lr": 0.02,
        "steps": 5000,
        "log_points": 8,
        "probes": 4,
        "lanczos_steps": 5,
        "method": "label-noise",
    }
    run = read_run(run_experiment("flat-minima", values).path)
    panel = flat_minima.Panel()
    qtbot.addWidget(panel)
    panel.show_run(run)
    steps = run["series/step"]
    for key in ("train_loss", "test_loss", "R", "R_estimate", "theory_R", "trace_hessian", "top_eigenvalue"):
        x, y = panel.curves[key].xData, panel.curves[key].yData  # the data, not its log-axis image
        np.testing.assert_array_equal(x, steps[1:])  # row 0 (step 0) is off the log axis
        assert np.all(y > 0), key
    np.testing.assert_allclose(panel.curves["R"].yData, run["series/R"][1:])
    lo, hi = panel.r_band.lo.yData, panel.r_band.hi.yData  # the band's edges, in log10 units (log axis)
    est = np.log10(panel.curves["R_estimate"].yData)
    assert np.all(lo <= est + 1e-12) and np.all(hi > lo) and np.all(hi - est < 2)
    np.testing.assert_allclose(panel.r_band.lo.xData, np.log10(steps[1:]))
    assert not panel.r_band.fill.path().isEmpty()  # the band is drawn (its bounding curves have paths)
    np.testing.assert_allclose(panel.beta_bars.opts["height"], run["series/beta"][-1])
    np.testing.assert_array_equal(panel.truth_bars.opts["height"], run["data/theta_star"])
    assert panel.edge.value() == np.log10(2 / values["lr"])
    assert panel.sparsest.isVisible()
    assert "λ = lr σ²/B" in panel.info.text() and "completed" in panel.info.text()
    assert sorted(panel.plots()) == ["R", "coefficients", "hessian", "loss"]


def test_a_flat_minima_sweep_window_starts_with_final_R_and_test_loss(qtbot, tmp_path):
    from lab.sweep import run_sweep
    from widgets.sweep_window import SweepWindow

    base = {
        "d": 20,
        "n": 8,
        "k": 2,
        "batch": 8,
        "lr": 0.02,
        "steps": 2000,
        "log_points": 4,
        "probes": 2,
        "lanczos_steps": 3,
        "method": "label-noise",
    }
    path = run_sweep("flat-minima", base, {"delta": [0.1, 1.0]}, str(tmp_path / "s"))
    w = SweepWindow(path, "flat-minima")
    qtbot.addWidget(w)
    w.follow()
    assert sorted(w.view.selected_keys()) == ["R", "test_loss"]
    x, y = w.view.curves["R"].xData, w.view.curves["R"].yData
    np.testing.assert_array_equal(x, [0.1, 1.0])
    assert np.isfinite(y).all()
