"""Linear NIN model: theory thresholds, phase classification, catapult, divergence and
the batched phase map against the per-sample loop."""

import math

import numpy as np
import pytest

from lab.nin import compiled as nin_loops
from lab.nin.phase_map import draws_for, run_block
from lab.nin.toy import MomentStepper, ToyConfig, ToyDraws, averaged_run, classify, literal_run, series_summaries
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.theory.nin import PHASE_CODE, PHASES, averaged_step, boundaries, paper_phase, population_loss, theory_phase

INIT = dict(w0_0=0.1, w1_0=1.0, w_NI0=0.05)
BASE = dict(M=1.0, sigma_x=1.0, lr=0.01, batch=32, n_samples=500, noise_timing="redraw", **INIT)
B = boundaries(BASE["lr"], BASE["batch"], 1.0, 1.0, 0.1, 1.0, 0.05)


def test_boundaries_are_thresholds_on_sigma_eps_squared():
    # 2/B~0 = 2/(lr w1^2) and 2/B0 = 2/(lr wNI^2), in sigma_eps^2
    assert B["sigma_eps2_cat"] == pytest.approx(200.0)
    assert B["sigma_eps2_div"] == pytest.approx(80000.0)
    # Table 1 lists sigma_eps^2 proportional to 1/lr: so do these boundaries
    b2 = boundaries(0.02, 32, 1.0, 1.0, 0.1, 1.0, 0.05)
    assert b2["sigma_eps2_cat"] == pytest.approx(B["sigma_eps2_cat"] / 2)
    # the averaged map's NIW factor (1 - lr w1^2 sigma_eps^2) crosses -1 exactly at sigma_eps^2 = 2/B~0
    for factor, grows in ((0.9, False), (1.1, True)):
        w = (1.0, 1.0, 0.1)  # w1 w0 = M: only the noise acts
        s = math.sqrt(factor * B["sigma_eps2_cat"])
        w = averaged_step(averaged_step(w, 1.0, 1.0, s, 0.01), 1.0, 1.0, s, 0.01)
        assert (abs(w[2]) > 0.1) == grows
    # reading the threshold on sigma_eps instead (sigma_eps = 0.9 * 200) blows up at once
    w = (1.0, 1.0, 0.1)
    for _ in range(20):
        w = averaged_step(w, 1.0, 1.0, 0.9 * B["sigma_eps2_cat"], 0.01)
    assert not abs(w[2]) < 1e6


@pytest.mark.parametrize(
    "phase,sigma_eps2",
    [
        ("decoupled", B["sigma_eps2_dec"] * 1e-3),
        ("decay", math.sqrt(B["sigma_eps2_dec"] * B["sigma_eps2_cat"])),
        ("catapult", 1.3 * B["sigma_eps2_cat"]),
        ("divergent", 3 * B["sigma_eps2_div"]),
    ],
)
def test_classification_well_inside_each_region_agrees_with_theory(phase, sigma_eps2):
    assert PHASES[int(theory_phase(sigma_eps2, B))] == phase
    res = run_experiment("nin-toy", dict(BASE, sigma_eps=math.sqrt(sigma_eps2), steps=3000))
    assert res.summary["theory_phase"] == phase
    assert res.summary["phase"] == phase
    assert res.status == ("diverged" if phase == "divergent" else "completed")


def test_catapult_spikes_then_recovers():
    res = run_experiment("nin-toy", dict(BASE, sigma_eps=math.sqrt(1.3 * B["sigma_eps2_cat"]), steps=3000))
    run = read_run(res.path)
    loss, wni = run["series/loss"], np.abs(run["series/w_NI"])
    peak = int(np.argmax(loss))
    assert loss[peak] > 5 * loss[0]  # the spike
    assert wni[peak] > 3 * wni[0]  # driven by the NIW growing
    assert loss[-1] < 1e-6 * loss[0]  # then recovery: learning resumes
    assert wni[-1] < 1e-3 * wni[0]  # and the NIW decays
    # the averaged Eq. (3) dynamics catapults as well
    avg = run["series/avg_loss"]
    assert avg.max() > 5 * avg[0] and avg[-1] < 1e-6 * avg[0]


def test_divergent_run_ends_diverged_and_keeps_rows():
    res = run_experiment("nin-toy", dict(BASE, sigma_eps=300.0, steps=3000))
    assert res.status == "diverged" and "diverged at step" in res.error
    run = read_run(res.path)
    assert run.header.status == "diverged"
    n = len(run["series/step"])
    assert 1 < n < 3001 and run.header.diverged_step == n - 1
    assert abs(run["series/w0"][-1]) + abs(run["series/w1"][-1]) + abs(run["series/w_NI"][-1]) >= 1e6
    assert run.header.summary["phase"] == "divergent"


def test_paper_divergence_bound_is_an_upper_bound():
    # between the two-layer catapult limit 4/(lr (w1^2 + wNI^2)) and the paper's
    # max(2/B0, 2/B~0), the averaged map already diverges
    s2 = 1.5 * B["sigma_eps2_div_uv"]
    assert B["sigma_eps2_cat"] < s2 < B["sigma_eps2_div"]
    avg = averaged_run(ToyConfig(1.0, 1.0, math.sqrt(s2), 0.01), (0.1, 1.0, 0.05), 500)
    assert np.isnan(avg[-1]).all()


def test_averaged_map_is_eq3_and_gradient_descent_on_the_expected_loss():
    import torch

    M, sx, se, lr = 1.3, 0.7, 2.0, 0.05
    w = (0.4, -0.9, 0.3)
    w0, w1, wni = w
    # Eq. (3) with the zero-mean A terms dropped: B = lr wNI^2, B~ = lr w1^2, C = lr (w1 w0 - M) w0 sx^2
    eq3 = (
        w0 - lr * w1 * (w1 * w0 - M) * sx**2,
        w1 * (1 - lr * wni**2 * se**2) - lr * (w1 * w0 - M) * w0 * sx**2,
        wni * (1 - lr * w1**2 * se**2),
    )
    np.testing.assert_allclose(averaged_step(w, M, sx, se, lr), eq3, rtol=1e-14)
    # the same map is one gradient step on E_{x, eps} 1/2 (w1 (w0 x + wNI eps) - M x)^2
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    population_loss(wt[0], wt[1], wt[2], se**2, sx, M).backward()
    np.testing.assert_allclose(averaged_step(w, M, sx, se, lr), (wt - lr * wt.grad).detach().numpy(), rtol=1e-14)


def test_averaged_map_is_the_moment_step_at_population_moments():
    cfg = ToyConfig(1.0, 1.0, 3.0, 0.01)
    st = MomentStepper(cfg, (0.1, 1.0, 0.1), 1)
    for _ in range(200):
        st.step(1.0, 0.0, 1.0)
    np.testing.assert_allclose(st.weights()[0].numpy(), averaged_run(cfg, (0.1, 1.0, 0.1), 200)[-1], rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("timing", ["redraw", "fixed"])
def test_batched_map_equals_per_point_loop(timing, compiled):
    if compiled and not nin_loops.AVAILABLE:
        pytest.skip("numba is not installed")
    base = dict(BASE, noise_timing=timing)
    lrs = np.array([0.005, 0.01])
    sig = np.sqrt(np.array([1e-3, 5.0, 1.3 * 200, 3e5]))
    steps = 1500
    out = run_block(base, "lr", lrs, sig, draws_for(base, "lr", lrs, seed=3), steps, compiled=compiled)
    for i, lr in enumerate(lrs):
        for j, s in enumerate(sig):
            cfg = ToyConfig(1.0, 1.0, s, lr)
            W, _, _ = literal_run(cfg, (0.1, 1.0, 0.05), ToyDraws(3, base["n_samples"], 32, timing), steps)
            ref = series_summaries(W, cfg)
            assert out["phase"][i, j] == classify(ref)
            np.testing.assert_equal(out["blowup_step"][i, j], ref["blowup_step"])
            if np.isnan(ref["blowup_step"]):
                np.testing.assert_equal(out["decay_step"][i, j], ref["decay_step"])
                for k in ("loss_max", "wni_max"):
                    assert out[k][i, j] == pytest.approx(ref[k], rel=1e-9)
                assert out["loss_final"][i, j] == pytest.approx(ref["loss_final"], rel=1e-6, abs=1e-25)


@pytest.mark.skipif(not nin_loops.AVAILABLE, reason="numba is not installed")
def test_compiled_map_equals_torch_map_along_a_batch_axis():
    """Points with different batch sizes read different moment columns; blown-up points
    freeze (NaN-propagating maxima): the compiled loop and the torch ops agree throughout."""
    base = dict(BASE, noise_timing="redraw")
    bs, sig = np.array([1.0, 4.0, 32.0]), np.geomspace(1e-2, 1e3, 7)
    maps = [
        run_block(base, "batch", bs, sig, draws_for(base, "batch", bs, seed=2), 800, compiled=c) for c in (False, True)
    ]
    assert len(set(maps[0]["phase"].ravel())) >= 3 and np.isfinite(maps[0]["blowup_step"]).any()
    np.testing.assert_array_equal(maps[1]["phase"], maps[0]["phase"])
    for k in ("blowup_step", "decay_step"):
        np.testing.assert_array_equal(maps[1][k], maps[0][k])
    for k in ("loss_max", "wni_max", "loss_final", "wni_final"):
        np.testing.assert_allclose(maps[1][k], maps[0][k], rtol=1e-9, atol=1e-300)


def test_phase_map_experiment_fills_rows_and_agrees_with_theory_far_from_boundaries():
    vals = dict(
        BASE,
        steps=1500,
        sigma_eps_min=1e-2,
        sigma_eps_max=1e3,
        n_sigma=16,
        y_param="w1_0",
        y_min=0.5,
        y_max=1.5,
        n_y=4,
        rows_per_block=2,
        seed=1,
    )
    res = run_experiment("nin-phase-map", vals)
    assert res.status == "completed"
    run = read_run(res.path)
    phase, th = run["phase_map/phase"], run["phase_map/theory_phase"]
    assert phase.shape == (4, 16) and (phase > 0).all()
    np.testing.assert_array_equal(run["series/rows_done"], [0, 2, 4])
    s2 = run["phase_map/sigma_eps"][None, :] ** 2
    cat, div = run["theory/sigma_eps2_cat"][:, None], run["theory/sigma_eps2_div"][:, None]
    far_below = s2 < cat / 3
    assert far_below.any() and (phase[far_below] <= PHASE_CODE["decay"]).all()
    far_above = s2 > 3 * div
    assert far_above.any() and (phase[far_above] == PHASE_CODE["divergent"]).all()
    assert (th[far_above] == PHASE_CODE["divergent"]).all()
    paper, uv = run["phase_map/paper_phase"], run["theory/sigma_eps2_div_uv"][:, None]
    between = (s2 > uv) & (s2 < div)
    assert between.any() and (th[between] == PHASE_CODE["divergent"]).all()
    assert (paper[between] < PHASE_CODE["divergent"]).all() and (paper[~between] == th[~between]).all()


def test_theory_phase_follows_the_two_layer_divergence_estimate_the_paper_phase_its_bound():
    """Between 4/(lr (w1^2 + wNI^2)) and the paper's max(2/B0, 2/B~0) direct SGD diverges
    (every seed): theory_phase says divergent there, paper_phase catapult; both are stored."""
    init = dict(BASE, w0_0=0.1, w1_0=1.0, w_NI0=0.1)
    b = boundaries(0.01, 32, 1.0, 1.0, 0.1, 1.0, 0.1)
    s2 = 1000.0
    assert (
        b["sigma_eps2_div_uv"] == pytest.approx(4 / (0.01 * 1.01)) and b["sigma_eps2_div_uv"] < s2 < b["sigma_eps2_div"]
    )
    assert PHASES[int(theory_phase(s2, b))] == "divergent" and PHASES[int(paper_phase(s2, b))] == "catapult"
    for seed in range(3):
        res = run_experiment("nin-toy", dict(init, sigma_eps=math.sqrt(s2), steps=2000, seed=seed))
        assert res.status == "diverged" and res.summary["phase"] == "divergent"
        assert (res.summary["theory_phase"], res.summary["paper_phase"]) == ("divergent", "catapult")
    below = dict(init, sigma_eps=math.sqrt(0.8 * b["sigma_eps2_cat"]), steps=100)
    s = run_experiment("nin-toy", below).summary
    assert s["theory_phase"] == s["paper_phase"] != "divergent"
