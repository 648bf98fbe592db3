"""Robustness of a classifier (noise-as-a-resource paper, section 3, "adversarial robustness").

Both attacks act in *pixel space*: ``x`` holds images in [0, 1] and ``forward`` maps
pixels to logits (it applies the data set's normalisation itself), so ``eps`` means what
it says (8/255 is eight grey levels) and perturbed images are clamped to ``bounds``
= [0, 1]. Inputs that are not images (feature vectors) pass ``bounds=None``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Forward = Callable[[torch.Tensor], torch.Tensor]
Bounds = tuple[float, float] | None


def _clamp(x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    return x if bounds is None else x.clamp(*bounds)


def gaussian_input_noise(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None, bounds: Bounds = (0.0, 1.0)
) -> torch.Tensor:
    """``clamp(x + delta, 0, 1)``, ``delta ~ N(0, sigma^2)`` per pixel: noisy but valid images."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _clamp(x + sigma * noise, bounds)


@torch.no_grad()
def correct(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Boolean ``argmax forward(x) == y`` per sample, evaluated in batches of ``batch``."""
    hits = [forward(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)]
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool, device=y.device)


def accuracy(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    return int(correct(forward, x, y, batch).sum()) / max(len(x), 1)


def noise_accuracy(
    forward: Forward,
    x: torch.Tensor,
    y: torch.Tensor,
    sigmas: Sequence[float],
    generator: torch.Generator | None = None,
    bounds: Bounds = (0.0, 1.0),
) -> list[float]:
    """Accuracy on ``gaussian_input_noise(x, sigma)`` for each sigma (one draw each)."""
    return [accuracy(forward, gaussian_input_noise(x, s, generator, bounds), y) for s in sigmas]


def pgd_attack(
    forward: Forward,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = 8 / 255,
    step: float = 2 / 255,
    n_steps: int = 20,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    bounds: Bounds = (0.0, 1.0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD-N in l_inf (Madry et al. 2018), the worst of ``restarts`` random starts.

    Each start draws ``x + U(-eps, eps)``, then ``n_steps`` times ascends the
    cross-entropy along ``sign(grad)`` by ``step`` and projects back onto the eps-ball
    around ``x`` and onto ``bounds``. A sample counts as robust only if every start leaves
    it correctly classified. Returns ``(x_adv, robust)``: the first successful
    adversarial image per sample (else the last start's) and the boolean robust mask.
    """
    lo, hi = _clamp(x - eps, bounds), _clamp(x + eps, bounds)
    robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
    x_best = x.clone()
    for _ in range(restarts):
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x_adv = torch.max(torch.min(x + eps * (2 * u - 1), hi), lo)
        for _ in range(n_steps):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(forward(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = torch.max(torch.min(x_adv.detach() + step * grad.sign(), hi), lo)
        with torch.no_grad():
            fooled = forward(x_adv).argmax(1) != y
        x_best[robust] = x_adv[robust]  # samples fooled by an earlier start keep that image
        robust &= ~fooled
    return x_best, robust


def pgd_accuracy(forward: Forward, x: torch.Tensor, y: torch.Tensor, batch: int = 256, **kw) -> float:
    """Fraction of samples that survive :func:`pgd_attack` (batched)."""
    kept = sum(
        int(pgd_attack(forward, x[i : i + batch], y[i : i + batch], **kw)[1].sum()) for i in range(0, len(x), batch)
    )
    return kept / max(len(x), 1)
