"""Noise injection in MLPs (paper Sec. 2-3, Figs. 1-3, App. B, Table 1): noise levels,
the training objective, the training hooks of a NIN run, the decay fits and the phase
rules of a finished run.

Objectives: ``ce`` is cross-entropy; ``mse`` is the squared error against one-hot
targets averaged over outputs and samples, ``mean_c (f_c - onehot_c)^2`` (no 1/2): the
Keras definition, taken because the paper names Keras losses ("Sparse Cross-Entropy").
The Table 1 levels are used as printed; the phase a run ends in is measured, not assumed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..fit import fit_exponential
from ..training import Hooks

#: Table 1 factors: sigma_eps^2 = f * d_in / (N_w lr) for MSE, f * d_in / lr for CE
TABLE1 = {
    "mse": {"decoupled": 1e-4, "decay": 30.0, "catapult": 47.0, "divergent": 50.0},
    "ce": {"decoupled": 1e-4, "decay": 0.1, "catapult": 1.0, "divergent": 1.8},
}
#: catapult: the NIW norm grows by this factor at some step, or the batch loss by SPIKE
GROWTH = 1.5
SPIKE = 2.0
#: series fitted at the end of a run and the summary name of each decay time
FITS = (("niw_norm", "tau_niw"), ("train_objective", "tau_loss"), ("test_objective", "tau_test"))


def table1_sigma_eps(loss: str, phase: str, d_in: int, width: int, lr: float) -> float:
    """sigma_eps for the paper's Table 1 noise level of ``phase``."""
    f = TABLE1[loss][phase]
    var = f * d_in / (width * lr) if loss == "mse" else f * d_in / lr
    return math.sqrt(var)


def objective(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """The training objective (module docstring), averaged over the batch."""
    if loss == "ce":
        return F.cross_entropy(logits, y)
    target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return ((logits - target) ** 2).mean()


def classify_run(
    *,
    diverged: bool,
    wni0: float,
    wni_max: float,
    wni_final: float,
    loss_first: float,
    loss_max: float,
    objective0: float,
    objective_final: float,
) -> str:
    """The phase of a run from measured quantities:

    * ``divergent``: a non-finite loss, or the noise-free training objective did not fall
      below its initial value (training failed);
    * ``catapult``: the NIW norm grew to ``GROWTH`` x its initial value at some step, or a
      mini-batch loss reached ``SPIKE`` x the first one, and training recovered;
    * ``decay``: the NIW norm ended at or below 1/e of its initial value;
    * ``decoupled``: otherwise (the NIW norm random-walks).
    """
    if diverged or not objective_final < objective0:
        return "divergent"
    if wni_max >= GROWTH * wni0 or loss_max >= SPIKE * loss_first:
        return "catapult"
    if wni_final <= wni0 / math.e:
        return "decay"
    return "decoupled"


class NINHooks(Hooks):
    """Objective with the NIN's noise, fixed noise per sample, and per-step maxima."""

    def __init__(self, loss: str, timing: str, sigma: float, held_out: str):
        self.loss_kind, self.timing, self.sigma, self.held_out = loss, timing, sigma, held_out
        self.history: list[dict] = []

    def setup(self, trainer) -> None:
        m = trainer.model
        self.w_ni, self.w_next = m.nin.weight, m.next_layer().weight
        dev = trainer.device
        g = torch.Generator().manual_seed(trainer.ctx.seed + 1)
        self.eps_fixed = (
            (torch.randn(trainer.data.n_train, generator=g) * self.sigma).to(dev) if self.timing == "fixed" else None
        )
        with torch.no_grad():
            self.wni0 = self.w_ni.norm().detach().clone()
        self.wni_max = self.wni0.clone()
        self.loss_max = torch.zeros((), device=dev)
        self.loss_first: torch.Tensor | None = None

    def loss(self, model, x, y, idx, epoch):
        eps = self.eps_fixed[idx] if self.eps_fixed is not None else None
        return objective(model(x, eps), y, self.loss_kind)

    def step(self, trainer, x, y, idx, epoch):
        loss = super().step(trainer, x, y, idx, epoch)
        with torch.no_grad():
            torch.maximum(self.wni_max, self.w_ni.norm(), out=self.wni_max)
            torch.maximum(self.loss_max, loss.float(), out=self.loss_max)
            if self.loss_first is None:
                self.loss_first = loss.float().clone()
        return loss

    def epoch_end(self, trainer, epoch, evals) -> dict:
        row = {
            "niw_norm": self.w_ni.detach().norm(),
            "next_norm": self.w_next.detach().norm(),
            "train_objective": objective(evals["train"].logits, evals["train"].labels, self.loss_kind),
        }
        held = evals.get(self.held_out)
        row["test_objective"] = (
            objective(held.logits, held.labels, self.loss_kind) if held is not None else torch.tensor(math.nan)
        )
        self.history.append({"epoch": epoch, **{k: float(v) for k, v in row.items()}})
        return row


def fit_decays(history: list[dict]) -> tuple[dict, dict[str, np.ndarray]]:
    """tau_NIW, tau_loss, tau_test by fits ``A exp(-t/tau) + C`` from the epoch of each
    curve's maximum to the end: the summary entries and the fitted curves by series
    (NaN before the fit range)."""
    out, curves = {}, {}
    t = np.asarray([h["epoch"] for h in history], float)
    for key, name in FITS:
        y = np.asarray([h[key] for h in history], float)
        if not np.isfinite(y).any():
            continue
        start = t[int(np.nanargmax(y))]
        f = fit_exponential(t, y, t_range=(start, t[-1]))
        out.update({name: f.tau, f"{name}_r2": f.r2, f"{name}_range": [f.t_min, f.t_max], f"{name}_ok": f.ok})
        curve = np.where(t >= start, f.curve(t), np.nan)
        curves[key] = curve
    return out, curves
