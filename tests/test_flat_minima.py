"""flat-minima: Hessian probes against exact Hessians, the sparse model's closed forms
against autograd, the compiled kernel against the per-step loop, and the paper's claim
(label noise ends flatter and nearer the sparse truth than GD, where the explicit
regulariser ends too)."""

import math
import os

import numpy as np
import pytest
import torch

from lab.experiments import flat_minima as fm
from lab.flatmin import regulariser, sparse
from lab.flatmin.hessian import exact_hessian, flat_parameters, probe
from lab.models import build_model
from lab.params import ParamError, resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.sweep import read_sweep, run_sweep

#: a small sparse problem where the effect shows within 10^5 steps
SMALL = {
    "d": 40,
    "n": 16,
    "k": 2,
    "batch": 16,
    "lr": 0.02,
    "delta": 1.0,
    "steps": 100_000,
    "log_points": 12,
    "probes": 6,
    "lanczos_steps": 8,
    "seed": 3,
}


def small_mlp_loss():
    torch.manual_seed(0)
    model = build_model("mlp", (3,), 2, widths=[4], activation="tanh").double()
    x, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 2, dtype=torch.float64)
    theta, unflatten = flat_parameters(model)

    def loss(th):
        f = torch.func.functional_call(model, unflatten(th), (x,))
        return 0.5 * ((f - y) ** 2).sum(1).mean()

    return loss, theta


def test_hutchinson_trace_and_slq_R_agree_with_the_exact_hessian_within_their_standard_error():
    loss, theta = small_mlp_loss()
    h = exact_hessian(loss, theta)
    eig = torch.linalg.eigvalsh(h).numpy()
    lr = 0.5
    est = probe(loss, theta, lr, probes=300, lanczos_steps=theta.numel(), generator=torch.Generator().manual_seed(1))
    assert abs(est.trace - float(h.trace())) < 3 * est.trace_se
    assert est.trace_se < 0.2 * abs(float(h.trace()))  # the band is informative, not huge
    assert abs(est.R - regulariser.from_eigenvalues(eig, lr)) < 3 * est.R_se
    assert est.top_eigenvalue == pytest.approx(eig[-1], rel=1e-6)


def test_sparse_closed_forms_agree_with_autograd():
    prob = sparse.draw_problem(12, 5, 2, 10, torch.Generator().manual_seed(0))
    theta = np.random.default_rng(0).normal(size=24)
    x, y = torch.as_tensor(prob.x), torch.as_tensor(prob.y)
    h_auto = exact_hessian(lambda th: sparse.loss_torch(th, x, y), torch.as_tensor(theta)).numpy()
    np.testing.assert_allclose(sparse.hessian(theta, prob.x, prob.y), h_auto, rtol=1e-10, atol=1e-10)
    assert sparse.trace_hessian(theta, prob.s) == pytest.approx(np.trace(h_auto), rel=1e-12)
    eig = np.linalg.eigvalsh(h_auto)
    lr = 1.0 / eig[-1]  # below the stability edge
    r, top = sparse.regulariser_exact(theta, prob.x, prob.y, lr)
    assert r == pytest.approx(np.sum(-np.log(1 - lr * eig / 2)) / (2 * lr), rel=1e-10)
    assert top == pytest.approx(eig[-1])
    # the small-lr limit is tr H / 4
    assert sparse.regulariser_exact(theta, prob.x, prob.y, 1e-7)[0] == pytest.approx(np.trace(h_auto) / 4, rel=1e-5)
    # beyond the stability edge lr h_max >= 2, R is infinite
    assert math.isinf(sparse.regulariser_exact(theta, prob.x, prob.y, 2.5 / eig[-1])[0])


@pytest.mark.parametrize("method", sparse.METHODS)
def test_compiled_kernel_matches_the_per_step_torch_loop(method):
    prob = sparse.draw_problem(20, 8, 2, 5, torch.Generator().manual_seed(1))
    draws = sparse.Draws(method, 8, 3, 0.5, "pm", seed=4)
    ref_draws = sparse.Draws(method, 8, 3, 0.5, "pm", seed=4)
    reg = sparse.reg_factor(method, 0.01, prob.s)
    theta = np.full(40, 0.7)
    assert sparse.run_block(theta, prob, 0.01, reg, draws, 300) == -1
    idx, eps = ref_draws.block(300)
    ref = sparse.reference_steps(
        torch.full((40,), 0.7, dtype=torch.float64),
        torch.as_tensor(prob.x),
        torch.as_tensor(prob.y),
        0.01,
        torch.as_tensor(reg),
        idx,
        eps,
        300,
    )
    np.testing.assert_allclose(theta, ref.numpy(), rtol=1e-9, atol=1e-12)


def run_small(method, **over):
    values = {**fm.SPEC.defaults(), **SMALL, "method": method, **over}
    res = run_experiment("flat-minima", values)
    assert res.status == "completed", res.error
    return res


def test_label_noise_ends_flatter_and_nearer_the_sparse_truth_than_gd():
    gd, ln, ex = (run_small(m).summary for m in ("gd", "label-noise", "explicit"))
    # the paper's claim, same data, init and seed
    assert ln["R"] < 0.1 * gd["R"]
    assert ln["dist_to_truth"] < 0.3 * gd["dist_to_truth"]
    assert ln["test_loss"] < 0.1 * gd["test_loss"]
    assert ln["n_large"] == SMALL["k"] < gd["n_large"]
    # GD on the explicit L + lambda R ends near label-noise SGD
    assert ex["R"] == pytest.approx(ln["R"], rel=0.1)
    assert ex["dist_to_truth"] < 0.3 * gd["dist_to_truth"]
    # and label noise ends near the flattest interpolator's R (its small-lr form)
    assert ln["R_small"] == pytest.approx(ln["R_sparsest"], rel=0.25)


def test_a_label_noise_run_stores_its_theory_beside_the_measurement():
    res = run_small("label-noise", steps=20_000)
    run = read_run(res.path)
    lam = float(run["theory/lambda"])
    assert lam == pytest.approx(SMALL["lr"] * SMALL["delta"] ** 2 / SMALL["batch"])
    assert "tr log" in run.header.attrs["R_definition"]
    steps = run["series/step"]
    assert steps[0] == 0 and steps[-1] == 20_000 and np.all(np.diff(steps) > 0)
    for k in ("theory_R", "R", "R_estimate", "trace_hessian", "top_eigenvalue", "dist_to_truth"):
        assert np.isfinite(run[f"series/{k}"]).all(), k
    # the closed-form trace lies within the Hutchinson estimate's error on most rows
    z = np.abs(run["series/trace_hessian"] - run["series/trace_exact"]) / run["series/trace_hessian_se"]
    assert np.mean(z < 3) > 0.8
    assert run["series/beta"].shape == (len(steps), SMALL["d"])


def test_divergence_ends_the_run_diverged_and_keeps_the_rows():
    values = {**fm.SPEC.defaults(), **SMALL, "method": "gd", "lr": 1.0, "steps": 1000}
    res = run_experiment("flat-minima", values)
    assert res.status == "diverged"
    assert res.diverged_step > 0
    run = read_run(res.path)
    assert run.header.status == "diverged"
    assert len(run["series/step"]) >= 1  # the initial point was written


@pytest.mark.parametrize(
    "over,name",
    [
        ({"k": 50, "d": 40}, "k"),
        ({"n": 0}, "n"),
        ({"delta": -0.1}, "delta"),
        ({"n": 40, "d": 40}, "n"),
        ({"batch": 17}, "batch"),
    ],
)
def test_bad_parameters_are_refused_before_a_file_exists(tmp_path, over, name):
    values = {**fm.SPEC.defaults(), **SMALL, "method": "label-noise", **over}
    with pytest.raises(ParamError) as e:
        run_experiment("flat-minima", values, out_dir=str(tmp_path))
    assert e.value.name == name and f"'{name}'" in str(e.value)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("method,loss", [("label-noise", "mse"), ("explicit", "mse"), ("label-noise", "ce")])
def test_network_runs_measure_the_hessian(method, loss):
    values = resolve_preset(
        fm.SPEC,
        fm.PRESETS,
        "mlp-digits-label-noise",
        {
            "method": method,
            "loss": loss,
            "steps": 20,
            "log_points": 4,
            "probes": 3,
            "lanczos_steps": 4,
            "mlp_widths": "8",
            "device": "cpu",
        },
    )
    res = run_experiment("flat-minima", values)
    assert res.status == "completed", res.error
    s = res.summary
    assert s["trace_hessian"] > 0 and s["top_eigenvalue"] > 0 and math.isfinite(s["R"])
    assert "dist_to_truth" not in s
    assert s["lambda"] == pytest.approx(
        values["lr"] * (1.0 if loss == "ce" else values["delta"] ** 2) / values["batch"]
    )


def test_a_sweep_over_the_noise_gives_final_R_and_test_loss(tmp_path):
    base = {**SMALL, "method": "label-noise", "steps": 30_000, "log_points": 4}
    path = run_sweep("flat-minima", base, {"delta": [0.0, 1.0]}, str(tmp_path / "s"))
    sweep = read_sweep(path)
    assert [r["status"] for r in sweep.runs] == ["completed", "completed"]
    r = sweep.column("R")
    assert np.isfinite(sweep.column("test_loss")).all()
    assert r[1] < 0.5 * r[0]  # no label noise: no regularisation
