"""Noise injection in MLPs (paper Sec. 2-3, Figs. 1-3, App. B, Table 1): noise levels,
the training objective and the phase rules of a finished run.

Objectives: ``ce`` is cross-entropy; ``mse`` is the squared error against one-hot
targets averaged over outputs and samples, ``mean_c (f_c - onehot_c)^2`` (no 1/2): the
Keras definition, taken because the paper names Keras losses ("Sparse Cross-Entropy").
The Table 1 levels are used as printed; the phase a run ends in is measured, not assumed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Table 1 factors: sigma_eps^2 = f * d_in / (N_w lr) for MSE, f * d_in / lr for CE
TABLE1 = {"mse": {"decoupled": 1e-4, "decay": 30.0, "catapult": 47.0, "divergent": 50.0},
          "ce": {"decoupled": 1e-4, "decay": 0.1, "catapult": 1.0, "divergent": 1.8}}
#: catapult: the NIW norm grows by this factor at some step, or the batch loss by SPIKE
GROWTH = 1.5
SPIKE = 2.0


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


def classify_run(*, diverged: bool, wni0: float, wni_max: float, wni_final: float, loss_first: float,
                 loss_max: float, objective0: float, objective_final: float) -> str:
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
