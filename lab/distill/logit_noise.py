"""Noise on the teacher's logits, drawn fresh at every iteration (label-noise paper, section 5).

``gaussian``   ``y~ = y + eps``, ``eps ~ N(0, sigma2 I_L)``.
``symmetric``  each logit value leaves its dimension with probability ``p`` for another
               dimension chosen uniformly, so that
               ``E[y~_l] = (1 - p) y_l + p/(L-1) sum_{m != l} y_m``
               while every noisy vector is a permutation of the clean one (same multiset).

How the swap meets both properties: independent per-dimension swaps of pairs collide
(two dimensions picking the same partner), so instead every row draws a permutation
``s`` and sets ``y~_l = y_{s(l)}``. Each dimension is *selected* independently with
probability ``q``; the selected dimensions pass their values round one cycle in a
uniformly random order (a single selected dimension keeps its value). The law of ``s`` is
invariant under relabelling the dimensions, so given that ``l`` moves, ``s(l)`` is uniform
over the other ``L-1`` dimensions; ``l`` moves iff it is selected and at least one other
dimension is, ``P = q (1 - (1-q)^(L-1))``, and ``q`` is solved so that ``P = p`` exactly.
"""

from __future__ import annotations

import torch

NOISES = ("gaussian", "symmetric")


def gaussian_logit_noise(logits: torch.Tensor, sigma2: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``logits + N(0, sigma2 I_L)``, a fresh draw per call."""
    noise = torch.randn(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return logits + sigma2**0.5 * noise


def selection_rate(p: float, n_classes: int) -> float:
    """The per-dimension selection probability ``q`` with ``q (1 - (1-q)^(L-1)) = p``.

    The left side increases from 0 at ``q = 0`` to 1 at ``q = 1``, so bisection finds
    the unique root to machine precision.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"swap probability p={p} must lie in [0, 1]")
    if n_classes < 2:
        raise ValueError(f"a symmetric swap needs at least 2 logits, got {n_classes}")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid * (1.0 - (1.0 - mid) ** (n_classes - 1)) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def symmetric_logit_swap(logits: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Swap logit values between dimensions, each value moving with probability ``p``
    to a uniformly chosen other dimension (module docstring); rows are independent."""
    b, n = logits.shape
    q = selection_rate(p, n)
    dev = logits.device
    selected = torch.rand((b, n), generator=generator, device=dev) < q
    keys = torch.rand((b, n), generator=generator, device=dev)
    # selected dimensions first, in random order; unselected after them, in place
    order = torch.argsort(torch.where(selected, keys, 2.0 + torch.arange(n, device=dev)), dim=1)
    k = selected.sum(dim=1, keepdim=True)
    rank = torch.arange(n, device=dev).expand(b, n)
    next_rank = torch.where(rank < k, (rank + 1) % k.clamp(min=1), rank)
    source = torch.gather(order, 1, next_rank)
    out = torch.empty_like(logits)
    out.scatter_(1, order, torch.gather(logits, 1, source))
    return out


def noisy_logits(
    logits: torch.Tensor, noise: str, scale: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Dispatch on ``noise``: ``scale`` is sigma2 for ``gaussian``, p for ``symmetric``."""
    if noise == "gaussian":
        return gaussian_logit_noise(logits, scale, generator)
    if noise == "symmetric":
        return symmetric_logit_swap(logits, scale, generator)
    raise ValueError(f"unknown logit noise {noise!r}; expected one of {', '.join(NOISES)}")
