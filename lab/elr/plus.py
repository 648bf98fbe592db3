"""The two extra ingredients of ELR+ (paper Sec. 5, Algorithm 2): weight averaging and
mixup of inputs, labels and targets.

Conventions (official ``ELR_plus/trainer/trainer.py`` unless stated):

- mixup draws one ``l ~ Beta(alpha, alpha)`` per mini-batch, uses ``l' = max(l, 1 - l)``
  and pairs each example with a random permutation of the batch; ``x``, ``y`` (one-hot)
  and the targets ``t`` are mixed with the same ``l'`` and pairing.
- the averaged weights follow ``theta_bar <- a theta_bar + (1 - a) theta`` after every
  optimiser step with ``a = min(1 - 1/(k+1), gamma)`` at update ``k`` (the official
  code's non-ramped variant), which makes the paper's zero initialisation irrelevant:
  the first update copies the weights. Floating-point buffers (batch-norm statistics)
  are averaged the same way so the averaged network can be evaluated in eval mode.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def mixup(x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, alpha: float,
          rng: np.random.Generator, perm: torch.Tensor | None = None):
    """``(x~, y~, t~, l')`` with ``l' = max(l, 1-l)``, ``l ~ Beta(alpha, alpha)`` and
    ``u~ = l' u + (1 - l') u[perm]`` for ``u`` in ``x, y, t``. ``perm`` defaults to a
    random permutation drawn on ``x``'s device."""
    l = float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0
    l = max(l, 1.0 - l)
    if perm is None:
        perm = torch.from_numpy(rng.permutation(len(x))).to(x.device, non_blocking=True)
    mix = lambda u: l * u + (1.0 - l) * u[perm]  # noqa: E731
    return mix(x), mix(y), mix(t), l


class WeightAverage:
    """An untrained copy of ``model`` holding the exponential moving average of its
    weights with momentum ``gamma`` (see the module docstring)."""

    def __init__(self, model: nn.Module, gamma: float):
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.gamma = float(gamma)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        a = min(1.0 - 1.0 / (self.updates + 1), self.gamma)
        for avg, cur in zip(self.model.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(cur, 1.0 - a)
            else:
                avg.copy_(cur)
        self.updates += 1
