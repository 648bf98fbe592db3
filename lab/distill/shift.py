"""Accuracy under natural distribution shift (noise-as-a-resource paper, section 3):
CIFAR-10-C corruptions per severity and CINIC-10's ImageNet images, for a model trained
on CIFAR-10.

``forward`` maps the sets' raw uint8 images to logits and applies the training
normalisation itself. The paper's mean Corruption Accuracy (mCA) is the mean of the
accuracy over corruptions and severities; its fine-grained measure (after Gu et al.) is
the accuracy on corrupted images whose clean image the model classifies correctly,
``P(correct on corrupted x_i | correct on clean x_i)``, computed when the clean CIFAR-10
test set the corruptions were made from is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..data.shifted import SEVERITIES, cifar10c_corruptions, cifar10c_labels, read_cifar10c, read_cinic10, subsample
from .robustness import Forward, correct


def severity_accuracy(
    forward: Forward, x: torch.Tensor, y: torch.Tensor, clean_correct: torch.Tensor | None = None, batch: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``x`` ``(S, k, ...)`` with labels ``y`` ``(S, k)`` -> accuracy per severity
    ``(S,)`` and the same among the samples where ``clean_correct`` ``(k,)`` holds (NaN
    without it, or when no clean image is classified correctly)."""
    s, k = y.shape
    hits = correct(forward, x.reshape(s * k, *x.shape[2:]), y.reshape(-1), batch).reshape(s, k).float()
    acc = hits.mean(1).cpu().numpy() if k else np.full(s, math.nan)
    cond = np.full(s, math.nan)
    if clean_correct is not None and bool(clean_correct.any()):
        cond = hits[:, clean_correct].mean(1).cpu().numpy()
    return acc, cond


@dataclass
class CorruptionAccuracy:
    """Accuracies on CIFAR-10-C, rows = ``corruptions``, columns = severities 1..5."""

    corruptions: list[str]
    acc: np.ndarray  # (n_corruptions, 5)
    cond_acc: np.ndarray  # (n_corruptions, 5): given the clean image is classified correctly
    n_samples: int  # images per corruption and severity

    @property
    def mca(self) -> float:
        """Mean Corruption Accuracy: the mean over corruptions and severities."""
        return float(np.mean(self.acc))

    @property
    def mean_cond_acc(self) -> float:
        return float(np.mean(self.cond_acc))


def cifar10c_accuracy(
    forward: Forward,
    root: str,
    samples: int = 0,
    seed: int = 0,
    clean: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    batch: int = 512,
    before_each: Callable[[], None] = lambda: None,
) -> CorruptionAccuracy:
    """Accuracy on every corruption in ``root`` at every severity, on the same seeded
    subset of ``samples`` test positions for each (all when 0). ``before_each`` runs
    before every corruption (a run's cancel check).

    ``clean`` = (images, labels) of the CIFAR-10 test set: used for the conditional
    accuracy when its labels equal those of the first severity block, i.e. when it is
    the set the corruptions were made from (else ``cond_acc`` is NaN).
    """
    names = cifar10c_corruptions(root)
    _, labels = cifar10c_labels(root)
    n = len(labels) // SEVERITIES
    index = subsample(n, samples, seed)
    clean_ok = None
    if clean is not None and len(clean[1]) == n and torch.equal(clean[1].cpu(), torch.from_numpy(labels[:n])):
        pos = torch.as_tensor(index, device=clean[0].device)
        clean_ok = correct(forward, clean[0][pos], clean[1][pos], batch).to(device)
    acc, cond = np.empty((len(names), SEVERITIES)), np.empty((len(names), SEVERITIES))
    for i, name in enumerate(names):
        before_each()
        x, y = read_cifar10c(root, name, index)
        acc[i], cond[i] = severity_accuracy(forward, x.to(device), y.to(device), clean_ok, batch)
    return CorruptionAccuracy(names, acc, cond, len(index))


def cinic10_accuracy(
    forward: Forward, root: str, samples: int = 0, seed: int = 0, device: torch.device | str = "cpu", batch: int = 512
) -> float:
    """Accuracy on a seeded subset of ``samples`` CINIC-10 ImageNet test images (all when 0)."""
    x, y = read_cinic10(root, samples, seed)
    return int(correct(forward, x.to(device), y.to(device), batch).sum()) / max(len(y), 1)
