"""``ols``: SGD on label-noisy least squares, noisy and noiseless runs side by side
(paper: label-noise SGD, Sec. 4 and Figure 1; SCIENCE.md section 1).

Data ``x_i ~ N(0, Sigma)`` (N samples in 2-D), labels ``y~_i = x_i.beta* + eps_i``,
``eps_i ~ N(0, sigma2)`` drawn once (``noise=fixed``, the paper) or afresh for every batch
member at every step (``noise=redraw``). The noisy run trains on the noisy labels, the
noiseless run on ``x_i.beta*``; both use the same x, the same batches and the same start
point. Per-sample loss ``1/2 (x_i.beta - y_i)^2``, step ``beta -= lr * batch-mean gradient``.
The paper does not state its start point; the default is the origin, about |beta*| away
from the cloud (whose spread is a few hundredths), so the noiseless path is visible.

Stored (see ``docs/runfile.md``): ``data/x, data/y, data/beta_star, data/beta_hat``,
``theory/cov_exact`` (exact stationary covariance for iid batches, :mod:`lab.theory.ols`),
``theory/cov_paper`` (the paper's ``lr sigma2 / (2B) I``), ``theory/fourth_moment_rate``
(spectral radius of ``E[A (x) A (x) A (x) A]``; at 1 or more the empirical covariance has no
finite error bar, said in the summary's ``cov_error_bar`` and the ``note_heavy_tail``
attribute), the kept iterates ``series/step, series/beta_noisy, series/beta_clean``, and
after every block the running empirical covariance of the noisy cloud after burn-in and
its batch-means standard error, ``stats/step, stats/mean_noisy, stats/cov_noisy,
stats/cov_noisy_se`` (:class:`lab.sgd.cloud.CloudStats`). The simulation is :class:`lab.sgd.least_squares.LeastSquaresSGD`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..context import Diverged
from ..params import Param, ParamError, Spec
from ..runfile import Dataset
from ..sgd.cloud import N_BATCHES, CloudStats, burn_in, heavy_tail_note, kept_after, rel_err
from ..sgd.least_squares import BATCHINGS, NOISE_TIMINGS, LeastSquaresSGD
from ..theory.ols import exact_covariance, fourth_moment_rate, least_squares, mean_square_rate, paper_covariance
from ._common import RUN_PARAMS
from .base import Experiment

#: at most about this many iterates are kept per run (stride is checked against it)
MAX_KEPT = 5_000_000
#: an iterate further than this from the origin (or NaN) counts as diverged
BLOW_UP = 1e100

SPEC = Spec(
    Param(
        "x_cov",
        "floats",
        [20.0, 20.0, 0.0],
        length=3,
        low=-1e6,
        high=1e6,
        group="Data",
        help="Covariance Sigma of the samples x_i ~ N(0, Sigma), written var(x1), var(x2), cov(x1,x2); "
        "must be positive definite.",
    ),
    Param(
        "sigma2",
        "float",
        0.5,
        low=0.0,
        high=1e6,
        group="Data",
        help="Label-noise variance: y~_i = x_i.beta* + eps_i, eps_i ~ N(0, sigma2).",
    ),
    Param("N", "int", 100, low=3, high=1_000_000, group="Data", help="Number of samples."),
    Param(
        "beta_star", "floats", [1.0, 1.0], length=2, low=-1e6, high=1e6, group="Data", help="True coefficients beta*."
    ),
    Param(
        "noise",
        "choice",
        "fixed",
        choices=NOISE_TIMINGS,
        group="Data",
        help="fixed: label noise drawn once before training (the paper); "
        "redraw: fresh label noise for every batch member at every step.",
    ),
    Param(
        "lr",
        "float",
        0.01,
        low=1e-8,
        high=10.0,
        log=True,
        group="SGD",
        help="Learning rate: beta -= lr * batch mean of x (x.beta - y).",
    ),
    Param(
        "batch",
        "int",
        5,
        low=1,
        high=1_000_000,
        group="SGD",
        help="Batch size B: distinct samples per step (at most N).",
    ),
    Param(
        "batching",
        "choice",
        "iid",
        choices=BATCHINGS,
        group="SGD",
        help="iid: a fresh random set of B distinct samples every step; "
        "shuffle: a fresh permutation every epoch cut into N//B batches.",
    ),
    Param(
        "steps",
        "int",
        200_000,
        low=1,
        high=100_000_000,
        unit="steps",
        group="SGD",
        help="SGD iterations of each run (the paper: 1,000,000).",
    ),
    Param(
        "start",
        "floats",
        [0.0, 0.0],
        length=2,
        low=-1e6,
        high=1e6,
        group="SGD",
        help="Start point of both runs (the paper does not give one; the origin).",
    ),
    Param(
        "stride",
        "int",
        100,
        low=1,
        high=100_000_000,
        unit="steps",
        group="Output",
        help="Keep every step up to stride, then every stride-th iterate.",
    ),
    *RUN_PARAMS,
)

_PAPER = {"steps": 1_000_000}
PRESETS = {
    "fig1-a": {**_PAPER, "x_cov": [20.0, 20.0, 0.0], "sigma2": 0.25},
    "fig1-b": {**_PAPER, "x_cov": [20.0, 20.0, 0.0], "sigma2": 0.5},
    "fig1-c": {**_PAPER, "x_cov": [20.0, 20.0, 0.0], "sigma2": 1.0},
    "fig1-d": {**_PAPER, "x_cov": [20.0, 20.0, 0.0], "sigma2": 2.0},
    "fig1-e": {**_PAPER, "x_cov": [10.0, 10.0, 0.0], "sigma2": 0.5},
    "fig1-f": {**_PAPER, "x_cov": [100.0, 100.0, 0.0], "sigma2": 0.5},
    "fig1-g": {**_PAPER, "x_cov": [10.0, 100.0, 0.0], "sigma2": 0.5},
    "fig1-h": {**_PAPER, "x_cov": [100.0, 10.0, 0.0], "sigma2": 0.5},
}

CONVENTIONS = (
    "per-sample loss 1/2 (x_i.beta - y_i)^2; step beta <- beta - lr (1/B) sum_{i in S_k} "
    "x_i (x_i.beta - y_i), S_k = B distinct sample indices; the noisy and noiseless runs "
    "share x, every S_k and the start point. The paper's Eq. 14 writes the loss without the 1/2, "
    "(x_i.beta - y_i)^2: its gradient is twice ours, so its lr is half of the lr here for the "
    "same steps"
)


def covariance_matrix(x_cov) -> np.ndarray:
    """``[var1, var2, cov12]`` -> the 2x2 ``Sigma``."""
    v1, v2, c = x_cov
    return np.array([[v1, c], [c, v2]], dtype=np.float64)


def check(p: dict) -> None:
    """Checks that involve several parameters; raises :class:`ParamError`."""
    v1, v2, c = p["x_cov"]
    if not (v1 > 0 and v2 > 0 and c * c < v1 * v2):
        raise ParamError(
            "x_cov", p["x_cov"], "var1 > 0, var2 > 0 and cov12^2 < var1*var2 (a positive-definite covariance)"
        )
    if p["batch"] > p["N"]:
        raise ParamError("batch", p["batch"], f"an integer in [1, N={p['N']}]")
    half = MAX_KEPT // 2
    low = max(1, math.ceil(p["steps"] / half))
    if not low <= p["stride"] <= half:
        raise ParamError(
            "stride",
            p["stride"],
            f"an integer in [{low}, {half}] for {p['steps']:,} steps (at most {MAX_KEPT:,} iterates are kept)",
        )


def layout(p: dict) -> list[Dataset]:
    """Every dataset of an ``ols`` run (see the module docstring)."""
    n = p["N"]

    def fixed(path, shape, what):
        return Dataset(path, shape, growable=False, attrs={"description": what})

    return [
        Dataset("series/step", (), "i8"),
        Dataset("series/beta_noisy", (2,), attrs={"description": "iterates trained on the noisy labels"}),
        Dataset("series/beta_clean", (2,), attrs={"description": "iterates trained on x.beta* (noiseless)"}),
        Dataset("stats/step", (), "i8", chunk_rows=64),
        Dataset(
            "stats/mean_noisy",
            (2,),
            chunk_rows=64,
            attrs={"description": "mean of the noisy iterates kept after burn-in, as of stats/step"},
        ),
        Dataset(
            "stats/cov_noisy",
            (2, 2),
            chunk_rows=64,
            attrs={
                "description": "empirical covariance (ddof=1) of the noisy iterates at multiples of "
                "stride after burn-in, as of stats/step"
            },
        ),
        Dataset(
            "stats/cov_noisy_se",
            (2, 2),
            chunk_rows=64,
            attrs={
                "description": f"batch-means standard error of stats/cov_noisy ({N_BATCHES} batches of "
                "consecutive kept iterates; NaN before 2 batches are complete)"
            },
        ),
        fixed("data/x", (n, 2), "samples x_i ~ N(0, Sigma)"),
        fixed("data/y", (n,), "labels of the noisy run (fixed noise) or the base labels x.beta* (redraw)"),
        fixed("data/beta_star", (2,), "true coefficients"),
        fixed("data/beta_hat", (2,), "least-squares solution on data/y: the centre of the noisy cloud"),
        fixed("theory/cov_exact", (2, 2), "exact stationary covariance of beta_noisy - beta_hat, iid batches"),
        fixed("theory/cov_paper", (2, 2), "the paper's approximation lr sigma2 / (2B) I"),
        fixed(
            "theory/fourth_moment_rate",
            (),
            "spectral radius of E[A (x) A (x) A (x) A], A = I - lr H: "
            ">= 1 means no finite fourth moment, no error bar on the covariance",
        ),
    ]


def draw_data(p: dict, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (N, 2) with rows ``N(0, Sigma)`` and the label noise ``eps`` (N,), ``N(0, sigma2)``."""
    z = torch.randn((p["N"], 2), generator=generator, dtype=torch.float64).numpy()
    x = z @ np.linalg.cholesky(covariance_matrix(p["x_cov"])).T
    eps = math.sqrt(p["sigma2"]) * torch.randn(p["N"], generator=generator, dtype=torch.float64).numpy()
    return x, eps


def _notes(p: dict, rate: float, rate4: float) -> dict:
    noise, batching = p["noise"], p["batching"]
    if noise == "fixed":
        labels = (
            "data/y holds the noisy labels y~ = x.beta* + eps used by the noisy run; the noiseless "
            "run uses x.beta*; data/beta_hat is least squares on data/y"
        )
        exact = (
            "exact stationary covariance M of beta_noisy - beta_hat for iid batches: "
            "M = E[(I - lr H) M (I - lr H)] + lr^2 E[g g^T], H = batch mean of x x^T, "
            "g = batch mean of x r, r = y~ - x.beta_hat, E[g g^T] = (N-B)/(B N (N-1)) sum r_i^2 x_i x_i^T"
        )
    else:
        labels = (
            "data/y holds the base labels x.beta*; the noisy run adds fresh eps ~ N(0, sigma2) to the "
            "label of every batch member at every step; data/beta_hat = least squares on data/y = beta*, "
            "the centre of the cloud"
        )
        exact = (
            "exact stationary covariance M of beta_noisy - beta* for iid batches with redrawn noise: "
            "M = E[(I - lr H) M (I - lr H)] + lr^2 (sigma2/B) Sigma_N, H = batch mean of x x^T"
        )
    if batching == "shuffle":
        exact += "; computed for iid batches: with shuffled epochs (dependent batches) it is an approximation"
    if not rate < 1.0:
        exact += f"; NaN here: mean-square rate {rate:.4g} >= 1, SGD has no stationary covariance"
    notes = {
        "conventions": CONVENTIONS,
        "note_labels": labels,
        "note_cov_exact": exact,
        "note_cov_paper": (
            "the paper's approximation (Proposition 2): noise sqrt(lr sigma2/B) Sigma_N^(1/2) z_k "
            "in continuous time, stationary covariance lr sigma2/(2B) I"
        ),
        "note_start": "both runs start at the 'start' parameter; the paper does not state its start point",
        "note_kept_steps": "series/step: every step from 0 to stride, then every stride-th step, then the last",
        "note_stats": (
            "stats/*: running mean and covariance (ddof=1) of beta_noisy at steps that are multiples "
            "of stride and >= burn_in_steps, one row per computed block; stats/cov_noisy_se by batch "
            "means of e e^T, e = beta_noisy - beta_hat (valid when theory/fourth_moment_rate < 1)"
        ),
    }
    if not rate4 < 1.0:
        notes["note_heavy_tail"] = heavy_tail_note(rate4)
    return notes


def run(p: dict, ctx) -> dict:
    """Draw the data, store the theory, run both chains block by block; returns the summary."""
    gen = torch.Generator().manual_seed(int(p["seed"]))
    x, eps = draw_data(p, gen)
    beta_star = np.asarray(p["beta_star"], dtype=np.float64)
    y = x @ beta_star + (eps if p["noise"] == "fixed" else 0.0)
    beta_hat = least_squares(x, y)
    lr, batch, sigma2 = p["lr"], p["batch"], p["sigma2"]
    cov_exact = exact_covariance(x, y, lr, batch, p["noise"], sigma2)
    cov_paper = paper_covariance(x, sigma2, lr, batch)
    rate = mean_square_rate(x, lr, batch)
    rate4 = fourth_moment_rate(x, lr, batch)
    burn = burn_in(p["steps"], rate)
    for path, value in (
        ("data/x", x),
        ("data/y", y),
        ("data/beta_star", beta_star),
        ("data/beta_hat", beta_hat),
        ("theory/cov_exact", cov_exact),
        ("theory/cov_paper", cov_paper),
        ("theory/fourth_moment_rate", rate4),
    ):
        ctx.save(path, value)
    notes = _notes(p, rate, rate4)
    for key, value in notes.items():
        ctx.attr(key, value)
    ctx.attr("burn_in_steps", burn)
    ctx.summary.update(
        {
            "beta_hat": beta_hat.tolist(),
            "cov_exact": cov_exact.tolist(),
            "cov_paper": cov_paper.tolist(),
            "ms_rate": rate,
            "fourth_moment_rate": rate4,
            "burn_in_steps": burn,
        }
    )
    if "note_heavy_tail" in notes:
        ctx.summary["cov_error_bar"] = notes["note_heavy_tail"]

    engine_seed = int(torch.randint(2**62, (1,), generator=gen))
    engine = LeastSquaresSGD(
        x[None],
        beta_star[None],
        np.asarray(p["start"], np.float64)[None],
        lr=lr,
        batch=batch,
        labels=y[None],
        noise=p["noise"],
        sigma2=[sigma2],
        batching=p["batching"],
        generator=torch.Generator(ctx.device).manual_seed(engine_seed),
        device=ctx.device,
    )
    cloud = CloudStats(beta_hat, max(1, kept_after(p["steps"], p["stride"], burn) // N_BATCHES))
    heavy = not rate4 < 1.0
    for block in engine.blocks(p["steps"], p["stride"]):
        steps, noisy, clean = block.steps, block.noisy[0], block.clean[0]
        bad = ~(
            np.isfinite(noisy).all(1)
            & np.isfinite(clean).all(1)
            & (np.abs(noisy).max(1) < BLOW_UP)
            & (np.abs(clean).max(1) < BLOW_UP)
        )
        first_bad = int(np.argmax(bad)) if bad.any() else len(steps)
        if first_bad:
            _emit(ctx, steps[:first_bad], noisy[:first_bad], clean[:first_bad])
        if first_bad < len(steps):
            raise Diverged(int(steps[first_bad]), f"|beta| passed {BLOW_UP:g} (mean-square rate {rate:.4g}; lower lr)")
        use = (steps >= burn) & (steps % p["stride"] == 0)
        if use.any():
            cloud.add(noisy[use])
            ctx.append("stats/step", steps[-1:])
            ctx.append("stats/mean_noisy", cloud.mean()[None])
            ctx.append("stats/cov_noisy", cloud.cov()[None])
            ctx.append("stats/cov_noisy_se", np.full((1, 2, 2), np.nan) if heavy else cloud.cov_se()[None])
        ctx.summary.update(
            _headline(cloud, cov_exact, cov_paper, beta_hat, beta_star, steps[-1], noisy[-1], clean[-1], heavy)
        )
        ctx.progress(int(steps[-1]), p["steps"])
        ctx.check_cancel()
    return ctx.summary


def _emit(ctx, steps, noisy, clean) -> None:
    ctx.append("series/step", steps)
    ctx.append("series/beta_noisy", noisy)
    ctx.append("series/beta_clean", clean)


def _headline(cloud: CloudStats, cov_exact, cov_paper, beta_hat, beta_star, step, noisy, clean, heavy) -> dict:
    """The summary after a block; the standard error and effective sample size are NaN
    when the fourth-moment rate is >= 1 (``heavy``): there is none to estimate."""
    cov = cloud.cov()
    return {
        "final_step": int(step),
        "dist_noisy_to_beta_hat": float(np.linalg.norm(noisy - beta_hat)),
        "dist_noisy_to_beta_star": float(np.linalg.norm(noisy - beta_star)),
        "dist_clean_to_beta_star": float(np.linalg.norm(clean - beta_star)),
        "n_cov_samples": cloud.n,
        "mean_noisy": cloud.mean().tolist(),
        "cov_empirical": cov.tolist(),
        "cov_empirical_se": (np.full((2, 2), np.nan) if heavy else cloud.cov_se()).tolist(),
        "cov_ess": math.nan if heavy else cloud.ess(),
        "cov_batches": len(cloud.batch_means),
        "rel_err_exact": rel_err(cov, cov_exact),
        "rel_err_paper": rel_err(cov, cov_paper),
    }


EXPERIMENT = Experiment(
    name="ols",
    title="SGD on label-noisy least squares (label-noise SGD paper, Sec. 4, Fig. 1)",
    spec=SPEC,
    presets=PRESETS,
    checks=(check,),
    layout=layout,
    run=run,
    order=0,
)
