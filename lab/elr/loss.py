"""The ELR loss and its temporal-ensemble targets (paper Eq. 6, Lemma 2; official code).

    L_ELR = CE(z, y) + lambda * mean_{i in batch} log(1 - <p_i, t_i>),   p_i = softmax(z_i)
    t_i  <- beta * t_i + (1 - beta) * p_i                                (paper, Sec. 4)

Conventions (those of the official implementation, ``ELR/model/loss.py``):

- ``p`` is clamped to ``[1e-4, 1 - 1e-4]`` before it enters the regulariser, so the
  log stays finite; the clamped copy, detached and renormalised to sum 1, is what the
  target averages.
- The paper writes ``lambda/n sum_i``; like the code we take the mean over the
  mini-batch (``lambda/|B| sum_{i in B}``), so the per-example gradient at the logits
  is ``(p_i - y_i + lambda g_i)/|B|`` (Lemma 2 with n -> |B|).
- The targets of the batch's examples are updated *before* the loss of that batch, with
  that batch's own (training-mode) predictions; targets start at zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: clamp bounds of the official code
P_MIN, P_MAX = 1e-4, 1.0 - 1e-4


def clamped_probs(logits: torch.Tensor) -> torch.Tensor:
    """softmax(z) clamped to [P_MIN, P_MAX] (gradient flows where not clamped)."""
    return F.softmax(logits.float(), dim=1).clamp(P_MIN, P_MAX)


def soft_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``-sum_c y_c log softmax(z)_c``; ``y`` is class indices or rows of
    class weights (one-hot, or mixed by mixup)."""
    if y.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(logits.float(), y)
    return -(y * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def elr_regulariser(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``mean_i log(1 - <p_i, t_i>)`` for the (clamped) probabilities and the targets."""
    return torch.log(1.0 - (targets * probs).sum(1)).mean()


def elr_loss(
    logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(CE + lam * reg, CE, reg)`` for a batch whose targets are ``targets`` (already
    updated, and mixed like ``y`` under mixup)."""
    ce = soft_cross_entropy(logits, y)
    reg = elr_regulariser(clamped_probs(logits), targets)
    return ce + lam * reg, ce, reg


def lemma2_g(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Lemma 2, Eq. 8: ``g_c = p_c / (1 - <p, t>) * sum_k (t_k - t_c) p_k``.

    The sum is ``<p, t> - t_c sum_k p_k``."""
    pt = (probs * targets).sum(1, keepdim=True)
    return probs / (1.0 - pt) * (pt - targets * probs.sum(1, keepdim=True))


def lemma2_coefficient(probs: torch.Tensor, y_onehot: torch.Tensor, targets: torch.Tensor, lam: float) -> torch.Tensor:
    """The per-example gradient of the ELR loss at the logits, ``p - y + lam g``
    (Lemma 2, Eq. 7; times 1/|B| for the batch mean)."""
    return probs - y_onehot + lam * lemma2_g(probs, targets)


class ElrTargets:
    """The per-example targets ``t`` (n x C, on the device, starting at zero), indexed by
    the loader's sample indices."""

    def __init__(self, n: int, num_classes: int, beta: float, device=None):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta = float(beta)
        self.t = torch.zeros(n, num_classes, device=device)

    @torch.no_grad()
    def update(self, index: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """``t[index] <- beta t[index] + (1 - beta) p / sum(p)`` with ``p`` detached;
        returns the new rows."""
        p = probs.detach().float()
        rows = self.beta * self.t[index] + (1.0 - self.beta) * (p / p.sum(1, keepdim=True))
        self.t[index] = rows
        return rows

    def step_loss(
        self, index: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, lam: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One ELR batch as the official code does it: update the batch's targets from
        its clamped predictions, then return :func:`elr_loss`."""
        rows = self.update(index, clamped_probs(logits))
        return elr_loss(logits, y, rows, lam)
