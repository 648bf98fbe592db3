"""Distillation losses on logits, averaged over the mini-batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float = 0.9, tau: float = 4.0
) -> torch.Tensor:
    """Hinton et al. (2015): ``(1 - alpha) CE(S, y) + alpha tau^2 KL(softmax(T/tau) || softmax(S/tau))``.

    ``student`` and ``teacher`` are logits ``(B, L)``; the KL is summed over classes and
    averaged over the batch; the tau^2 factor keeps the soft term's gradient scale
    independent of tau (noise-as-a-resource paper, section 3).
    """
    ce = F.cross_entropy(student, labels)
    log_p_student = F.log_softmax(student / tau, dim=1)
    log_p_teacher = F.log_softmax(teacher / tau, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1).mean()
    return (1.0 - alpha) * ce + alpha * tau**2 * kl


def logit_mse(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error on logits, ``mean_i 1/2 ||S(x_i) - t_i||^2`` (the theory's loss,
    label-noise paper eq. 2 with the lab's 1/2 convention, summed over the L outputs)."""
    return 0.5 * (student - target).pow(2).sum(dim=1).mean()
