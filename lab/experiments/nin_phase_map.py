"""``nin-phase-map``: the linear NIN model's phase over (sigma_eps, a second parameter),
every grid point trained by one batched tensor program per block of rows
(:mod:`lab.nin.phase_map`; phase rules in :mod:`lab.nin.toy`).

Stored: ``phase_map/sigma_eps`` (columns, log-spaced), ``phase_map/y`` (rows; attribute
``name``), ``phase_map/phase`` (int8 codes, names in its ``names`` attribute, 0 = not
computed yet), the per-point summaries ``phase_map/<summary>`` (loss0, loss_max,
loss_final, wni_max, wni_final, decay_step, blowup_step; steps are NaN when never
reached), the theory's phase ``phase_map/theory_phase`` (divergent above the two-layer
estimate ``sigma_eps2_div_uv``), the paper's ``phase_map/paper_phase`` and the boundaries
``theory/sigma_eps2_*`` per row. Rows are written as their block finishes
(``series/rows_done`` counts them), so a viewer fills the map in live. While a block is
trained, its rows' summaries so far are written into the same arrays (and flushed)
whenever the writer's flush interval has passed, and ``phase_map/steps_done`` (per row) says how many
steps they stand for (``steps`` once the row is done, when its ``phase`` is set too), so
a killed run keeps all but about a second of its work.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping

import numpy as np

from ..memory import refuse_over
from ..nin.params import MODEL_PARAMS
from ..nin.phase_map import SUMMARIES, Y_PARAMS, draws_for, run_block
from ..nin.toy import CHUNK
from ..params import Param, ParamError, Spec
from ..runfile import Dataset
from ..theory.nin import PHASE_CODE, PHASES, boundaries, paper_phase, theory_phase
from ._common import RUN_PARAMS
from .base import Experiment

MAP = "Map"
SPEC = Spec(
    *MODEL_PARAMS,
    Param(
        "sigma_eps_min", "float", 1e-3, low=1e-8, high=1e6, group=MAP, log=True, help="Smallest sigma_eps (log axis)."
    ),
    Param("sigma_eps_max", "float", 1e3, low=1e-8, high=1e6, group=MAP, log=True, help="Largest sigma_eps (log axis)."),
    Param("n_sigma", "int", 100, low=2, high=2000, group=MAP, help="Grid points along sigma_eps (columns)."),
    Param("y_param", "choice", "lr", choices=Y_PARAMS, group=MAP, help="The second axis (rows)."),
    Param("y_min", "float", 1e-3, low=-1e6, high=1e6, group=MAP, help="First value of the second axis."),
    Param("y_max", "float", 1e-1, low=-1e6, high=1e6, group=MAP, help="Last value of the second axis."),
    Param("n_y", "int", 100, low=1, high=2000, group=MAP, help="Grid points along the second axis (rows)."),
    Param("y_log", "bool", True, group=MAP, help="Log-spaced second axis (needs y_min, y_max > 0)."),
    Param(
        "rows_per_block",
        "int",
        25,
        low=1,
        high=2000,
        group=MAP,
        help="Rows trained together in one tensor program; the map is written block by block.",
    ),
    *RUN_PARAMS,
)

PRESETS = {
    "lr": {},
    "w_NI0": {"y_param": "w_NI0", "y_min": 0.01, "y_max": 3.0},
    "w1_0": {"y_param": "w1_0", "y_min": 0.1, "y_max": 3.0},
    "batch": {"y_param": "batch", "y_min": 1, "y_max": 256, "n_y": 50},
    "small": {"n_sigma": 40, "n_y": 20, "steps": 2000},
}

THEORY = ("sigma_eps2_dec", "sigma_eps2_cat", "sigma_eps2_div", "sigma_eps2_div_uv")


def check_axes(p: Mapping[str, Any]) -> None:
    """The grid's ranges: a ParamError naming the parameter to fix."""
    if p["sigma_eps_max"] <= p["sigma_eps_min"]:
        raise ParamError("sigma_eps_max", p["sigma_eps_max"], f"a value above sigma_eps_min={p['sigma_eps_min']:g}")
    if p["y_log"]:
        for name in ("y_min", "y_max"):
            if p[name] <= 0:
                raise ParamError(name, p[name], "a value > 0 with y_log=true (or set y_log=false)")
    if p["y_param"] in ("lr", "sigma_x", "batch") and min(p["y_min"], p["y_max"]) <= 0:
        name = "y_min" if p["y_min"] <= p["y_max"] else "y_max"
        raise ParamError(name, p[name], f"a value > 0: {p['y_param']} must stay positive on the second axis")


def axes(p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma_eps, y)`` grid values (parameters passed :func:`check_axes`)."""
    sig = np.geomspace(p["sigma_eps_min"], p["sigma_eps_max"], p["n_sigma"])
    lo, hi = p["y_min"], p["y_max"]
    y = np.geomspace(lo, hi, p["n_y"]) if p["y_log"] else np.linspace(lo, hi, p["n_y"])
    if p["y_param"] == "batch":
        y = np.clip(np.round(y), 1, None)
    return sig, y


def memory_estimate(p: dict) -> float:
    """Peak bytes: one chunk of draws for the largest batch (indices, inputs, noises,
    three moments and their running sums: 72 bytes per draw), the training set, one
    block's trajectories and the map's arrays."""
    bmax = max(p["y_min"], p["y_max"]) if p["y_param"] == "batch" else p["batch"]
    draws = 72.0 * CHUNK * max(1.0, bmax)
    block = 400.0 * p["rows_per_block"] * p["n_sigma"]
    return draws + 16.0 * p["n_samples"] + block + 8.0 * (len(SUMMARIES) + 2) * p["n_y"] * p["n_sigma"]


def layout(p: dict) -> list[Dataset]:
    refuse_over(
        "y_max" if p["y_param"] == "batch" else "batch",
        p["y_max"] if p["y_param"] == "batch" else p["batch"],
        memory_estimate(p),
        f"{CHUNK} steps of draws for batches up to that size",
    )
    ny, ns = p["n_y"], p["n_sigma"]
    names = {"names": json.dumps(PHASES)}
    return (
        [
            Dataset("series/rows_done", (), "i8"),
            Dataset("phase_map/sigma_eps", (ns,), growable=False, attrs={"unit": "", "log": True}),
            Dataset("phase_map/y", (ny,), growable=False, attrs={"name": p["y_param"], "log": p["y_log"]}),
            Dataset("phase_map/phase", (ny, ns), "i1", growable=False, attrs=names),
            Dataset("phase_map/theory_phase", (ny, ns), "i1", growable=False, attrs=names),
            Dataset("phase_map/paper_phase", (ny, ns), "i1", growable=False, attrs=names),
            Dataset("phase_map/steps_done", (ny,), "i8", growable=False),
        ]
        + [Dataset(f"phase_map/{k}", (ny, ns), growable=False) for k in SUMMARIES]
        + [Dataset(f"theory/{k}", (ny,), growable=False) for k in THEORY]
    )


def run(p: dict, ctx) -> dict:
    sig, y = axes(p)
    ctx.save("phase_map/sigma_eps", sig)
    ctx.save("phase_map/y", y)
    rows = {k: np.full(len(y), p[k], dtype=float) for k in ("lr", "batch", "sigma_x", "M", "w0_0", "w1_0", "w_NI0")}
    rows[p["y_param"]] = y
    b = boundaries(rows["lr"], rows["batch"], rows["sigma_x"], rows["M"], rows["w0_0"], rows["w1_0"], rows["w_NI0"])
    for k in THEORY:
        ctx.save(f"theory/{k}", b[k])
    cells = {k: v[:, None] for k, v in b.items()}
    ctx.save("phase_map/theory_phase", theory_phase(sig[None, :] ** 2, cells))
    ctx.save("phase_map/paper_phase", paper_phase(sig[None, :] ** 2, cells))
    ctx.attr(
        "conventions",
        "rows: y values, columns: sigma_eps; thresholds on sigma_eps^2; "
        "all points share the seed's draws; theory_phase divergent above sigma_eps2_div_uv "
        "= 4/(lr (w1^2 + wNI^2)), paper_phase above the paper's sigma_eps2_div",
    )
    ctx.append("series/rows_done", np.asarray([0]))
    draws = draws_for(p, p["y_param"], y, p["seed"])
    total, t_start = len(y) * p["steps"], time.monotonic()
    counts = np.zeros(len(PHASES), dtype=int)
    pace = ctx.pacer()

    def save_rows(block: slice, out: dict, keys: tuple, done: int) -> None:
        for k in keys:
            ctx.save(f"phase_map/{k}", out[k], index=block)
        ctx.save("phase_map/steps_done", np.full(block.stop - block.start, done, dtype=np.int64), index=block)

    def on_chunk(block: slice, done: int, partial) -> None:
        ctx.progress(block.start * p["steps"] + (block.stop - block.start) * done, total)
        if done < p["steps"] and pace.due():  # the block's work so far, in case of a kill
            save_rows(block, partial(), SUMMARIES, done)
            ctx.flush()

    for r0 in range(0, len(y), p["rows_per_block"]):
        r1 = min(r0 + p["rows_per_block"], len(y))
        block = slice(r0, r1)
        out = run_block(
            p,
            p["y_param"],
            y[block],
            sig,
            draws,
            p["steps"],
            device=ctx.device,
            check_cancel=ctx.check_cancel,
            on_chunk=lambda done, partial, block=block: on_chunk(block, done, partial),
        )
        save_rows(block, out, SUMMARIES + ("phase",), p["steps"])
        ctx.append("series/rows_done", np.asarray([r1]))
        counts += np.bincount(out["phase"].ravel(), minlength=len(PHASES))
        ctx.summary.update({f"n_{name}": int(counts[i]) for i, name in enumerate(PHASES) if i != PHASE_CODE["pending"]})
        ctx.summary["rows_done"] = r1
    ctx.summary["wall_s"] = round(time.monotonic() - t_start, 3)
    return dict(ctx.summary)


EXPERIMENT = Experiment(
    name="nin-phase-map",
    title="Noise injection nodes: phase map of the linear model over (sigma_eps, y)",
    spec=SPEC,
    presets=PRESETS,
    checks=(check_axes,),
    layout=layout,
    run=run,
    order=11,
)
