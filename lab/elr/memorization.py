"""Memorisation measurements of the paper's Figures 1 and 2, on device tensors.

For the clean (given label = true label) and the wrongly labelled training examples
separately:

- Figure 1: fraction predicted as the true label (``correct``), as the wrong given
  label (``memorized``, noisy subset only: for a clean example it is the true label)
  and as any other class (``other``);
- Figure 2: mean probability of the true class ``p_c*``, and the true-class entry of
  the Lemma-2 gradient coefficient ``p - y + lambda g`` (mean and standard deviation),
  with its cross-entropy part ``p - y`` and regularisation part ``lambda g`` apart.

Everything stays on the device; :func:`to_host` brings a whole dict back in one
synchronisation. An empty subset (no noise) gives NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .loss import lemma2_g

SUBSETS = ("clean", "noisy")
#: the measured names, ``<subset>_<what>``, in a fixed order
KEYS = (
    "clean_correct",
    "clean_other",
    "noisy_correct",
    "noisy_memorized",
    "noisy_other",
    "clean_p_true",
    "noisy_p_true",
    "clean_coef",
    "noisy_coef",
    "clean_coef_std",
    "noisy_coef_std",
    "clean_ce_term",
    "noisy_ce_term",
    "clean_reg_term",
    "noisy_reg_term",
)


def _mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (x * m).sum() / m.sum()  # 0/0 = NaN for an empty subset


@torch.no_grad()
def memorization_stats(
    logits: torch.Tensor, given: torch.Tensor, true: torch.Tensor, targets: torch.Tensor | None, lam: float
) -> dict[str, torch.Tensor]:
    """The :data:`KEYS` as 0-d tensors from the training-set logits (n x C), the given
    (possibly corrupted) and true labels and the ELR targets (``None`` or ``lam = 0``:
    plain CE, ``g`` drops out)."""
    p = F.softmax(logits.float(), dim=1)
    pred = p.argmax(1)
    noisy = (given != true).float()
    masks = {"clean": 1.0 - noisy, "noisy": noisy}
    correct = (pred == true).float()
    memorized = ((pred == given) & (given != true)).float()
    other = 1.0 - correct - memorized
    p_true = p.gather(1, true[:, None])[:, 0]
    ce_term = p_true - (given == true).float()
    if targets is None or lam == 0:
        reg_term = torch.zeros_like(p_true)
    else:
        reg_term = lam * lemma2_g(p, targets.float()).gather(1, true[:, None])[:, 0]
    coef = ce_term + reg_term
    out = {}
    for s, m in masks.items():
        out[f"{s}_correct"] = _mean(correct, m)
        out[f"{s}_other"] = _mean(other, m)
        out[f"{s}_p_true"] = _mean(p_true, m)
        out[f"{s}_coef"] = _mean(coef, m)
        out[f"{s}_coef_std"] = (_mean(coef.square(), m) - out[f"{s}_coef"].square()).clamp_min(0).sqrt()
        out[f"{s}_ce_term"] = _mean(ce_term, m)
        out[f"{s}_reg_term"] = _mean(reg_term, m)
    out["noisy_memorized"] = _mean(memorized, masks["noisy"])
    return {k: out[k] for k in KEYS}


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max is the label (0-d tensor, on the device)."""
    return (logits.argmax(1) == labels).float().mean()


def to_host(values: dict[str, torch.Tensor]) -> dict[str, float]:
    """Every 0-d tensor of ``values`` as a float, with one device synchronisation."""
    names = list(values)
    return dict(zip(names, torch.stack([values[k].float() for k in names]).tolist()))
