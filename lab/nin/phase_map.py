"""Batched phase maps of the linear NIN model: every grid point of (sigma_eps, y) trained
at once by :class:`lab.nin.toy.MomentStepper`, a block of rows per tensor program.

All grid points share the seed's draws (common random numbers: the same training set,
batch indices and noises ``z``; ``eps = sigma_eps z``), so the map's structure comes from
the parameters alone and each point equals the single ``nin-toy`` run with its
parameters and seed (with ``batch`` on the y axis a point uses the first ``batch``
columns of the largest batch's draws, so it matches ``nin-toy`` in distribution only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .toy import DTYPE, MomentStepper, ToyConfig, ToyDraws, classify

#: second-axis parameters and the toy parameter each one sets
Y_PARAMS = ("lr", "w_NI0", "w1_0", "w0_0", "batch", "M", "sigma_x")
SUMMARIES = ("loss0", "loss_max", "loss_final", "wni_max", "wni_final", "decay_step", "blowup_step")


@dataclass
class Grid:
    sigma_eps: np.ndarray  # (n_sigma,) columns
    y_name: str
    y: np.ndarray  # (n_y,) rows


def point_params(base: dict, y_name: str, y_values, sigma_eps) -> dict:
    """Toy parameters (floats or arrays broadcast over points) for ``y_values x sigma_eps``."""
    if y_name not in Y_PARAMS:
        raise ValueError(f"second axis {y_name!r}: expected one of {', '.join(Y_PARAMS)}")
    yy, ss = np.meshgrid(np.asarray(y_values, float), np.asarray(sigma_eps, float), indexing="ij")
    p = {k: base[k] for k in ("M", "sigma_x", "lr", "batch", "w0_0", "w1_0", "w_NI0")}
    p[y_name] = yy.ravel()
    p["sigma_eps"] = ss.ravel()
    return p


def run_block(
    base: dict,
    y_name: str,
    y_values,
    sigma_eps,
    draws: ToyDraws,
    steps: int,
    device="cpu",
    check_cancel=lambda: None,
    on_chunk=lambda done, partial: None,
    compiled: bool | None = None,
) -> dict:
    """Train every point of ``y_values x sigma_eps``; returns summaries and ``phase``
    shaped ``(len(y_values), len(sigma_eps))``. ``compiled``: see :class:`MomentStepper`.

    ``on_chunk(done, partial)`` is called after each chunk of steps; ``partial()`` gives
    the summaries of the ``done`` steps so far, shaped as the result (what a killed run
    keeps of its block: maxima and first steps so far, the current loss and ``|wNI|``)."""
    p = point_params(base, y_name, y_values, sigma_eps)
    G = p["sigma_eps"].size
    cfg = ToyConfig(
        *(
            torch.as_tensor(p[k], dtype=DTYPE) if np.ndim(p[k]) else float(p[k])
            for k in ("M", "sigma_x", "sigma_eps", "lr")
        )
    )
    st = MomentStepper(cfg, tuple(p[k] for k in ("w0_0", "w1_0", "w_NI0")), G, device=device, compiled=compiled)
    batches = np.unique(np.asarray(p["batch"], dtype=int))
    bidx = torch.as_tensor(np.searchsorted(batches, np.asarray(p["batch"], dtype=int)), device=device)
    shape = (len(y_values), len(sigma_eps))
    shaped = lambda done: {k: v.reshape(shape) for k, v in st.summaries(done).items()}
    for t0, u, z in draws.chunks(steps):
        check_cancel()
        st.run(ToyDraws.moments(u, z, batches).to(device), None if len(batches) == 1 else bidx)
        done = t0 + len(u)
        on_chunk(done, lambda done=done: shaped(done))
    out = shaped(steps)
    out["phase"] = classify(out)
    return out


def draws_for(base: dict, y_name: str, y_values, seed: int) -> ToyDraws:
    """The shared draws: batch columns for the largest batch on the map."""
    bmax = int(np.max(y_values)) if y_name == "batch" else int(base["batch"])
    return ToyDraws(seed, base["n_samples"], bmax, base["noise_timing"])


def toy_values(map_params: dict, y_value: float, sigma_eps: float) -> dict:
    """The ``nin-toy`` parameters of one phase-map cell: same model, seed and draws."""
    keys = (
        "M",
        "sigma_x",
        "lr",
        "batch",
        "n_samples",
        "steps",
        "w0_0",
        "w1_0",
        "w_NI0",
        "noise_timing",
        "seed",
        "device",
    )
    values = {k: map_params[k] for k in keys}
    y_name = map_params["y_param"]
    values[y_name] = int(round(y_value)) if y_name == "batch" else float(y_value)
    values["sigma_eps"] = float(sigma_eps)
    return values
