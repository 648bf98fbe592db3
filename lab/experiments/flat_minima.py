"""``flat-minima``: label-noise SGD prefers flat minima (Damian, Ma & Lee, NeurIPS 2021;
SCIENCE.md section 4). GD, mini-batch SGD, label-noise SGD and GD on the explicit
``L + lambda R`` from the same data, init and seed, measured on a log-spaced step grid.

Regulariser, constants and their derivation: :mod:`lab.flatmin.regulariser`
(``lambda = lr sigma^2 / batch``, ``R = -1/(2 lr) tr log(I - lr/2 Hess L)``, small-lr
limit ``R_small = tr Hess L / 4``). Models: ``sparse-quadratic`` (:mod:`lab.flatmin.sparse`,
a compiled step kernel; R, tr H and the spectrum also in closed form) or any registry
model on built-in or folder data with ``mse`` or ``ce`` (:mod:`lab.flatmin.network`).
``explicit`` uses ``R_small`` (closed form on the sparse model, a one-probe Hutchinson
estimate on networks); the large-lr correction is ``O(lr h)`` and both forms are logged.

Series (row 0 = the initial point): ``train_loss`` (the expected training objective),
``test_loss`` (fresh samples / the test split), ``R`` (closed form on the sparse model,
SLQ estimate on networks), ``R_estimate`` / ``R_estimate_se`` (SLQ from the Hessian
probes), ``R_small``, ``trace_hessian`` / ``trace_hessian_se`` (Hutchinson, ``probes``
Rademacher vectors), ``trace_exact`` (closed form, sparse only), ``top_eigenvalue``
(Lanczos) and ``top_eigenvalue_exact`` (sparse only); for the sparse model also
``dist_to_truth`` = ``|u*u - v*v - theta*|``, ``l1_norm``, ``n_large`` (coordinates with
``|beta_j| > 0.1``), ``beta`` (the learnt ``u*u - v*v``) and, for ``label-noise`` runs, the
theory's prediction beside the measurement: the same quantities of GD on ``L + lambda R``
with this run's lambda (``theory_*``). NaN marks what a model does not have.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping

import numpy as np
import torch

from ..context import Diverged, scalar_series
from ..data import DATA_PARAMS, NOISE_PARAMS, data_layout
from ..flatmin import regulariser, sparse
from ..flatmin.hessian import probe
from ..flatmin.network import NetworkProblem, NetworkTrainer, check_network_params
from ..models import MODEL_NAMES, MODEL_PARAMS
from ..params import Param, ParamError, Spec
from ..runfile import Dataset
from ._common import RUN_PARAMS
from .base import Experiment

MODELS = ("sparse-quadratic", *MODEL_NAMES)
#: a run's blocks of compiled steps are at most this long (cancel and progress between them)
MAX_BLOCK = 50_000

GM, GN, GT, GP = "Model", "Network", "Training", "Measurement"
SPEC = Spec(
    Param(
        "model",
        "choice",
        "sparse-quadratic",
        choices=MODELS,
        group=GM,
        help="sparse-quadratic: f(x) = <u*u - v*v, x>; otherwise a registry network on the data set below.",
    ),
    Param("d", "int", 100, low=1, high=100_000, group=GM, help="Sparse model: input dimension."),
    Param("n", "int", 40, low=1, high=100_000, group=GM, help="Sparse model: training samples (n < d)."),
    Param("k", "int", 5, low=0, high=100_000, group=GM, help="Sparse model: non-zero entries (ones) of theta*."),
    Param("alpha", "float", 1.0, low=0.0, high=1e3, group=GM, help="Sparse model: init u = v = alpha 1."),
    Param("n_test", "int", 1000, low=1, high=1_000_000, group=GM, help="Sparse model: fresh test samples."),
    *DATA_PARAMS,
    *NOISE_PARAMS,
    *(p for p in MODEL_PARAMS[1:] if p.name != "dropout"),
    Param(
        "loss",
        "choice",
        "mse",
        choices=("mse", "ce"),
        group=GN,
        help="Network: mse = 1/2 sum over outputs (f - y)^2; ce = cross-entropy.",
    ),
    Param(
        "targets",
        "choice",
        "onehot",
        choices=("onehot", "scalar"),
        group=GN,
        help="Network mse targets: one-hot classes, or the standardised class index (one output).",
    ),
    Param(
        "method",
        "choice",
        "label-noise",
        choices=sparse.METHODS,
        group=GT,
        help="gd (full batch), sgd (mini-batch), label-noise (fresh label noise every step), "
        "explicit (GD on L + lambda R_small, lambda = lr sigma^2 / batch).",
    ),
    Param("lr", "float", 0.01, low=1e-8, high=10.0, log=True, group=GT, help="Step size eta."),
    Param("steps", "int", 1_000_000, low=1, high=1_000_000_000, unit="steps", group=GT, help="Training steps."),
    Param(
        "batch",
        "int",
        40,
        low=1,
        high=10_000_000,
        group=GT,
        help="Mini-batch of sgd and label-noise (distinct samples per step); sets lambda of explicit.",
    ),
    Param(
        "delta",
        "float",
        1.0,
        low=0.0,
        high=1e6,
        log=True,
        group=GT,
        help="Regression label noise: std of the Gaussian, or the size of +-delta (sigma^2 = delta^2).",
    ),
    Param(
        "noise_form",
        "choice",
        "gaussian",
        choices=sparse.NOISE_FORMS,
        group=GT,
        help="gaussian: eps ~ N(0, delta^2); pm: eps = +-delta with equal chance (the paper's form).",
    ),
    Param(
        "flip",
        "float",
        0.2,
        low=0.0,
        high=1.0,
        group=GT,
        help="Cross-entropy label noise: chance that a label is replaced by a uniformly random class.",
    ),
    Param("log_points", "int", 60, low=2, high=100_000, group=GP, help="Log-spaced steps measured."),
    Param("probes", "int", 10, low=1, high=10_000, group=GP, help="Rademacher vectors for Hutchinson / SLQ."),
    Param("lanczos_steps", "int", 12, low=1, high=1000, group=GP, help="Lanczos steps per probe."),
    *RUN_PARAMS,
)

_SPARSE = {"model": "sparse-quadratic", "d": 100, "n": 40, "k": 5, "alpha": 1.0, "lr": 0.01, "delta": 1.0, "seed": 0}
_QUICK = {**_SPARSE, "lr": 0.02, "steps": 300_000}
_DIGITS = {
    "model": "mlp",
    "dataset": "digits",
    "mlp_widths": [64],
    "loss": "mse",
    "targets": "onehot",
    "lr": 0.1,
    "steps": 4000,
    "batch": 32,
    "delta": 0.5,
    "log_points": 30,
    "probes": 8,
    "lanczos_steps": 10,
}
PRESETS = {
    # the paper's sparse setting (d 100, n 40, k 5, alpha 1), full-batch label noise, 10^6 steps
    "paper-sparse": {**_SPARSE, "method": "label-noise", "batch": 40, "steps": 1_000_000},
    "sparse-gd": {**_QUICK, "method": "gd"},
    "sparse-sgd": {**_QUICK, "method": "sgd", "batch": 20},
    "sparse-label-noise": {**_QUICK, "method": "label-noise", "batch": 40},
    "sparse-explicit": {**_QUICK, "method": "explicit", "batch": 40},
    "mlp-digits-gd": {**_DIGITS, "method": "gd"},
    "mlp-digits-label-noise": {**_DIGITS, "method": "label-noise"},
    "mlp-digits-explicit": {**_DIGITS, "method": "explicit"},
    "mlp-digits-ce-label-noise": {**_DIGITS, "loss": "ce", "method": "label-noise", "flip": 0.2, "lr": 0.5},
}

MEASURED = (
    "train_loss",
    "test_loss",
    "R",
    "R_estimate",
    "R_estimate_se",
    "R_small",
    "trace_hessian",
    "trace_hessian_se",
    "trace_exact",
    "top_eigenvalue",
    "top_eigenvalue_exact",
)
SPARSE_ONLY = ("dist_to_truth", "l1_norm", "n_large")
THEORY = ("theory_train_loss", "theory_test_loss", "theory_R", "theory_dist_to_truth")


def is_sparse(p: Mapping[str, Any]) -> bool:
    return p["model"] == "sparse-quadratic"


def check(p: Mapping[str, Any]) -> None:
    """Cross-parameter checks, before any file exists; raises :class:`ParamError`."""
    if is_sparse(p):
        if p["k"] > p["d"]:
            raise ParamError("k", p["k"], f"an integer in [0, d={p['d']}] (non-zeros of theta*)")
        if p["n"] >= p["d"]:
            raise ParamError(
                "n", p["n"], f"an integer in [1, d-1={p['d'] - 1}]: the model must be overparameterised (n < d)"
            )
        if p["method"] in ("sgd", "label-noise") and p["batch"] > p["n"]:
            raise ParamError("batch", p["batch"], f"an integer in [1, n={p['n']}]")
    else:
        check_network_params(p)


def layout(p: Mapping[str, Any]) -> list[Dataset]:
    """Every series and array (module docstring)."""
    out = scalar_series(*MEASURED, *SPARSE_ONLY, *THEORY)
    out += [Dataset(f"theory/{k}", (), growable=False) for k in ("lambda", "sigma2", "stability_edge", "R_sparsest")]
    if is_sparse(p):
        d = p["d"]
        out += [
            Dataset("series/beta", (d,), attrs={"description": "learnt u*u - v*v at series/step"}),
            Dataset("data/theta_star", (d,), growable=False),
            Dataset("data/x", (p["n"], d), growable=False),
            Dataset("data/y", (p["n"],), growable=False),
        ]
    else:
        out += data_layout(p)
    return out


def step_grid(steps: int, points: int) -> np.ndarray:
    """0 and about ``points`` log-spaced steps up to ``steps`` (always included)."""
    g = np.unique(np.round(np.geomspace(1, steps, max(points - 1, 1))).astype(np.int64))
    return np.concatenate([[0], g])


def sigma2_of(p: Mapping[str, Any]) -> float:
    """Label-noise variance the theory uses: ``delta^2`` (regression), 1 (cross-entropy flips)."""
    return 1.0 if (not is_sparse(p) and p["loss"] == "ce") else regulariser.noise_variance(p["delta"])


def _store_theory(p, ctx, lam: float, sigma2: float, r_sparsest: float) -> None:
    for k, v in (("lambda", lam), ("sigma2", sigma2), ("stability_edge", 2.0 / p["lr"]), ("R_sparsest", r_sparsest)):
        ctx.save(f"theory/{k}", v)
    ctx.attr("R_definition", regulariser.R_DEFINITION)
    ctx.attr(
        "conventions",
        "step theta <- theta - lr * batch mean of the per-sample gradient; label noise redrawn "
        "every step for every batch member; iid batches of distinct samples; explicit = "
        "full-batch GD on L + lambda R_small; Hessian probes of the expected training "
        "objective; test loss on fresh samples",
    )
    ctx.summary.update({"lambda": lam, "sigma2": sigma2, "stability_edge": 2.0 / p["lr"]})


def run(p: Mapping[str, Any], ctx) -> dict:
    lam = regulariser.strength(p["lr"], sigma2_of(p), p["batch"])
    if is_sparse(p) or torch.device(ctx.device).type == "cpu":
        with one_thread():  # tiny models: on a shared CPU more threads only contend (several times slower)
            return (_sparse_chains if is_sparse(p) else _run_network)(p, ctx, lam)
    return _run_network(p, ctx, lam)


# -- the sparse model ----------------------------------------------------------------------------
def _sparse_row(theta: np.ndarray, prob: sparse.SparseProblem, p, gen: torch.Generator | None) -> dict:
    """Closed-form measurements, and the Hessian probes unless ``gen`` is None (the theory chain)."""
    u, v = sparse.split(theta)
    beta = u * u - v * v
    r, top = sparse.regulariser_exact(theta, prob.x, prob.y, p["lr"])
    trace = sparse.trace_hessian(theta, prob.s)
    row = {
        "train_loss": sparse.loss(theta, prob.x, prob.y),
        "test_loss": sparse.loss(theta, prob.x_test, prob.y_test),
        "R": r,
        "R_small": trace / 4,
        "trace_exact": trace,
        "top_eigenvalue_exact": top,
        "dist_to_truth": float(np.linalg.norm(beta - prob.theta_star)),
        "l1_norm": float(np.abs(beta).sum()),
        "n_large": float((np.abs(beta) > 0.1).sum()),
        "beta": beta,
    }
    if gen is not None:
        x, y = torch.as_tensor(prob.x), torch.as_tensor(prob.y)
        est = probe(
            lambda th: sparse.loss_torch(th, x, y),
            torch.as_tensor(theta),
            p["lr"],
            p["probes"],
            p["lanczos_steps"],
            gen,
        )
        row.update(
            {
                "R_estimate": est.R,
                "R_estimate_se": est.R_se,
                "trace_hessian": est.trace,
                "trace_hessian_se": est.trace_se,
                "top_eigenvalue": est.top_eigenvalue,
            }
        )
    return row


def _sparse_chains(p, ctx, lam: float) -> dict:
    gen = torch.Generator().manual_seed(int(p["seed"]))
    prob = sparse.draw_problem(p["d"], p["n"], p["k"], p["n_test"], gen)
    draw_seed = int(torch.randint(2**62, (1,), generator=gen))
    probe_gen = torch.Generator().manual_seed(draw_seed + 7)
    r_sparsest = sparse.sparsest_R(prob.theta_star, prob.s)
    _store_theory(p, ctx, lam, sigma2_of(p), r_sparsest)
    for k, v in (("data/theta_star", prob.theta_star), ("data/x", prob.x), ("data/y", prob.y)):
        ctx.save(k, v)
    ctx.summary["R_sparsest"] = r_sparsest
    ctx.attr("engine", "compiled numba kernel (CPU, float64), draws from torch generators")
    # the run's method, and for label-noise the explicit GD its theory predicts, side by side
    chains = [(p["method"], np.full(2 * p["d"], p["alpha"]))]
    if p["method"] == "label-noise":
        chains.append(("explicit", np.full(2 * p["d"], p["alpha"])))
    draws = [sparse.Draws(m, p["n"], p["batch"], p["delta"], p["noise_form"], draw_seed) for m, _ in chains]
    regs = [sparse.reg_factor(m if m != "label-noise" else "", lam, prob.s) for m, _ in chains]
    done = 0
    for target in step_grid(p["steps"], p["log_points"]):
        while done < target:
            block = int(min(target - done, MAX_BLOCK))
            for (m, theta), dr, reg in zip(chains, draws, regs):
                blown = sparse.run_block(theta, prob, p["lr"], reg, dr, block)
                if blown >= 0 and m == p["method"]:
                    raise Diverged(
                        done + blown,
                        f"|u| or |v| passed {sparse.BLOW_UP:g} (lr {p['lr']:g} is above "
                        f"the stability edge of the steps taken)",
                    )
            done += block
            ctx.progress(done, p["steps"])
            ctx.check_cancel()
        rows = [_sparse_row(theta, prob, p, probe_gen if i == 0 else None) for i, (_, theta) in enumerate(chains)]
        _emit(ctx, int(target), rows[0], rows[1] if len(rows) > 1 else None)
        _headline(ctx, rows[0])
    return dict(ctx.summary)


@contextlib.contextmanager
def one_thread():
    """One intra-op torch thread for the duration (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _emit(ctx, step: int, row: dict, theory: dict | None) -> None:
    scalars = {k: row.get(k, math.nan) for k in (*MEASURED, *SPARSE_ONLY)}
    nan = math.nan
    scalars.update(
        {
            "theory_train_loss": theory["train_loss"] if theory else nan,
            "theory_test_loss": theory["test_loss"] if theory else nan,
            "theory_R": theory["R"] if theory else nan,
            "theory_dist_to_truth": theory.get("dist_to_truth", nan) if theory else nan,
        }
    )
    bad = [k for k in ("train_loss", "trace_hessian") if not math.isfinite(scalars[k])]
    ctx.log(step, **scalars)
    if "beta" in row:
        ctx.append("series/beta", row["beta"][None])
    if bad:
        raise Diverged(step, f"{bad[0]} is not finite")


def _headline(ctx, row: dict) -> None:
    keys = (
        "train_loss",
        "test_loss",
        "trace_hessian",
        "trace_hessian_se",
        "top_eigenvalue",
        "R",
        "R_small",
        "dist_to_truth",
        "l1_norm",
        "n_large",
    )
    ctx.summary.update({k: float(row[k]) for k in keys if k in row})


# -- networks ------------------------------------------------------------------------------------
def _run_network(p, ctx, lam: float) -> dict:
    gen = torch.Generator().manual_seed(int(p["seed"]))
    torch.manual_seed(int(p["seed"]))  # the model's initialisation
    prob = NetworkProblem(p, ctx.device, gen)
    prob.data.save_labels(ctx)
    _store_theory(p, ctx, lam, sigma2_of(p), math.nan)
    ctx.summary["n_parameters"] = int(prob.theta0.numel())
    dev_gen = torch.Generator(ctx.device).manual_seed(int(p["seed"]) + 1)
    probe_gen = torch.Generator(ctx.device).manual_seed(int(p["seed"]) + 2)
    trainer = NetworkTrainer(prob, p["method"], p["lr"], p["batch"], p["delta"], p["noise_form"], lam, dev_gen)
    theta, done = prob.theta0.clone(), 0
    for target in step_grid(p["steps"], p["log_points"]):
        while done < target:
            theta = trainer.step(theta)
            done += 1
            if done % 100 == 0 or done == target:
                ctx.progress(done, p["steps"])
                ctx.check_cancel()
        if not bool(torch.isfinite(theta).all()):
            raise Diverged(done, "the network's parameters became NaN or infinite")
        with torch.no_grad():
            train, test = float(prob.train_objective(theta)), float(prob.test_loss(theta))
        est = probe(prob.train_objective, theta, p["lr"], p["probes"], p["lanczos_steps"], probe_gen)
        row = {
            "train_loss": train,
            "test_loss": test,
            "R": est.R,
            "R_estimate": est.R,
            "R_estimate_se": est.R_se,
            "R_small": est.trace / 4,
            "trace_hessian": est.trace,
            "trace_hessian_se": est.trace_se,
            "top_eigenvalue": est.top_eigenvalue,
        }
        _emit(ctx, int(target), row, None)
        _headline(ctx, row)
    return dict(ctx.summary)


EXPERIMENT = Experiment(
    name="flat-minima",
    title="Label-noise SGD prefers flat minima: the implicit regulariser R (Damian, Ma & Lee 2021)",
    spec=SPEC,
    presets=PRESETS,
    checks=(check,),
    layout=layout,
    run=run,
    order=15,
)
