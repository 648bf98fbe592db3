"""``nin-toy``: SGD on the linear Noise-Injection-Node model of the paper's Sec. 3, with
the averaged dynamics of Eq. (3) integrated beside it and the run's phase.

Model, draws and phase rules: :mod:`lab.nin.toy`; theory boundaries (thresholds on
sigma_eps^2, stored under ``theory/``): :mod:`lab.theory.nin`. Series (one row per step,
row 0 the initial weights): ``w0, w1, w_NI``, ``loss`` (population loss of the current
weights), ``batch_loss`` (the mini-batch loss of the step that led there; NaN on row 0)
and the averaged dynamics ``avg_w0, avg_w1, avg_w_NI, avg_loss``. Summary: the measured
``phase``, ``theory_phase`` (divergence boundary: the two-layer estimate, which direct SGD
follows) and ``paper_phase`` (the paper's boundaries). A blow-up ends the run
with status ``diverged``; every row up to it is kept.
"""

from __future__ import annotations

import json

import numpy as np

from ..context import Diverged, scalar_series
from ..nin.params import MODEL_PARAMS
from ..nin.toy import ToyConfig, ToyDraws, averaged_run, classify, literal_run, series_summaries
from ..params import Param, Spec
from ..runfile import Dataset
from ..theory.nin import PHASES, boundaries, paper_phase, population_loss, theory_phase
from ._common import RUN_PARAMS
from .base import Experiment

SPEC = Spec(
    *MODEL_PARAMS[:2],
    Param(
        "sigma_eps",
        "float",
        1.0,
        low=0.0,
        high=1e6,
        group="Noise",
        log=True,
        help="Injected noise scale: eps ~ N(0, sigma_eps^2).",
    ),
    *MODEL_PARAMS[2:],
    *RUN_PARAMS,
)

#: the four phases of the paper's Fig. 2 (top) at lr = 0.01, w1(0) = 1, w_NI(0) = 0.1:
#: 2/B~0 = 200, 2/B0 = 20000 (sigma_eps^2)
PRESETS = {
    "decoupled": {"sigma_eps": 0.01},
    "decay": {"sigma_eps": 3.0},
    "catapult": {"sigma_eps": 16.0},
    "divergent": {"sigma_eps": 200.0},
}

SERIES = ("w0", "w1", "w_NI", "loss", "batch_loss", "avg_w0", "avg_w1", "avg_w_NI", "avg_loss")
THEORY = ("sigma_eps2_dec", "sigma_eps2_cat", "sigma_eps2_div", "sigma_eps2_div_uv")


def config(p: dict) -> ToyConfig:
    return ToyConfig(p["M"], p["sigma_x"], p["sigma_eps"], p["lr"])


def layout(params: dict) -> list[Dataset]:
    return scalar_series(*SERIES) + [Dataset(f"theory/{k}", (), growable=False) for k in THEORY]


def run(p: dict, ctx) -> dict:
    cfg = config(p)
    w_init = (p["w0_0"], p["w1_0"], p["w_NI0"])
    b = boundaries(p["lr"], p["batch"], p["sigma_x"], p["M"], *w_init)
    for k in THEORY:
        ctx.save(f"theory/{k}", b[k])
    s2 = p["sigma_eps"] ** 2
    theory, paper = PHASES[int(theory_phase(s2, b))], PHASES[int(paper_phase(s2, b))]
    ctx.attr("phase_names", json.dumps(PHASES))
    ctx.attr(
        "conventions",
        "loss 1/(2|B|) sum (w1 (w0 x + wNI eps) - M x)^2; w -= lr * batch-mean gradient; "
        "theory thresholds on sigma_eps^2; series/loss = population loss; theory_phase "
        "divergent above the two-layer estimate sigma_eps2_div_uv = 4/(lr (w1^2 + wNI^2)), "
        "paper_phase above the paper's max(2/B0, 2/B~0) = sigma_eps2_div",
    )
    ctx.summary.update({"theory_phase": theory, "paper_phase": paper, "sigma_eps2": s2, **b})
    avg = averaged_run(cfg, w_init, p["steps"])
    avg_loss = population_loss(avg[:, 0], avg[:, 1], avg[:, 2], s2, p["sigma_x"], p["M"])

    def emit(first: int, W: np.ndarray, Lb: np.ndarray) -> bool:
        steps = np.arange(first, first + len(W))
        a = avg[first : first + len(W)]
        ctx.append("series/step", steps.astype(np.int64))
        for name, col in (
            ("w0", W[:, 0]),
            ("w1", W[:, 1]),
            ("w_NI", W[:, 2]),
            ("loss", population_loss(W[:, 0], W[:, 1], W[:, 2], s2, p["sigma_x"], p["M"])),
            ("batch_loss", Lb),
            ("avg_w0", a[:, 0]),
            ("avg_w1", a[:, 1]),
            ("avg_w_NI", a[:, 2]),
            ("avg_loss", avg_loss[first : first + len(W)]),
        ):
            ctx.append(f"series/{name}", col)
        ctx.progress(first + len(W) - 1, p["steps"])
        return ctx.cancelled

    emit(0, np.asarray([w_init], dtype=float), np.asarray([np.nan]))
    W, _, finite = literal_run(
        cfg,
        w_init,
        ToyDraws(p["seed"], p["n_samples"], p["batch"], p["noise_timing"]),
        p["steps"],
        device=ctx.device,
        on_chunk=emit,
    )
    s = series_summaries(W, cfg)
    phase = PHASES[int(classify(s))]
    ctx.summary.update({k: float(v) for k, v in s.items()})
    ctx.summary.update({"phase": phase, "steps_run": len(W) - 1})
    if not finite:
        raise Diverged(len(W) - 1, f"|w0| + |w1| + |w_NI| passed 1e6 (sigma_eps^2 = {s2:g}, theory: {theory})")
    return dict(ctx.summary)


EXPERIMENT = Experiment(
    name="nin-toy",
    title="Noise injection nodes: linear toy model (paper Sec. 3, Eq. 3)",
    spec=SPEC,
    presets=PRESETS,
    layout=layout,
    run=run,
    order=10,
)
