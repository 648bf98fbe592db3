"""The two extra ingredients of ELR+ (paper Sec. 5, Algorithm 2): weight averaging and
mixup of inputs, labels and targets.

Conventions (official ``ELR_plus/trainer/trainer.py`` unless stated):

- mixup draws one ``l ~ Beta(alpha, alpha)`` per mini-batch, uses ``l' = max(l, 1 - l)``
  and pairs each example with a random permutation of the batch; ``x``, ``y`` (one-hot)
  and the targets ``t`` are mixed with the same ``l'`` and pairing.
- the averaged weights follow ``theta_bar <- a theta_bar + (1 - a) theta`` after every
  optimiser step ``k`` (counted from 1). With ``rampup = R > 0`` (the official configs:
  ``ema_update`` true, ``ema_step`` 40000) ``a = gamma exp(-5 (1 - min(k, R)/R)^2)``, the
  sigmoid ramp-up, so the average follows the network closely at first; with ``R = 0``
  ``a = min(1 - 1/k, gamma)`` (the official non-ramped variant, one step earlier). Either
  way the first update copies or nearly copies the weights, which makes the paper's zero
  start irrelevant.
- as in the official code only the parameters are averaged. Buffers (batch-norm running
  statistics) are copied from the live network after every step, so the averaged network
  can be evaluated in eval mode; the official averaged networks instead keep their own
  statistics, updated by their train-mode forward passes.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn


def mixup(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    alpha: float,
    rng: np.random.Generator,
    perm: torch.Tensor | None = None,
):
    """``(x~, y~, t~, l')`` with ``l' = max(l, 1-l)``, ``l ~ Beta(alpha, alpha)`` and
    ``u~ = l' u + (1 - l') u[perm]`` for ``u`` in ``x, y, t``. ``perm`` defaults to a
    random permutation drawn on ``x``'s device."""
    l = float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0
    l = max(l, 1.0 - l)
    if perm is None:
        perm = torch.from_numpy(rng.permutation(len(x))).to(x.device, non_blocking=True)
    mix = lambda u: l * u + (1.0 - l) * u[perm]
    return mix(x), mix(y), mix(t), l


def average_momentum(step: int, gamma: float, rampup: int) -> float:
    """The averaging momentum ``a`` after optimiser step ``step`` (from 1); module docstring."""
    if rampup > 0:
        phase = 1.0 - min(step, rampup) / rampup
        return gamma * math.exp(-5.0 * phase * phase)
    return min(1.0 - 1.0 / step, gamma)


class WeightAverage:
    """An untrained copy of ``model`` holding the exponential moving average of its
    parameters with momentum ``gamma``, ramped over ``rampup`` steps (module docstring)."""

    def __init__(self, model: nn.Module, gamma: float, rampup: int = 0):
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.gamma, self.rampup = float(gamma), int(rampup)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        a = average_momentum(self.updates + 1, self.gamma, self.rampup)
        for avg, cur in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(cur, 1.0 - a)
        for avg_buf, cur_buf in zip(self.model.buffers(), model.buffers()):
            avg_buf.copy_(cur_buf)
        self.updates += 1
