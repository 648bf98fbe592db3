"""Label corruption: seeded, exact-count symmetric and asymmetric noise, and per-batch
label randomisation (SCIENCE.md, sections 5 and 6).

Conventions (those of the ELR paper's public code):

- symmetric, rate r: exactly ``round(r N)`` training samples, chosen uniformly, get a
  class drawn uniformly from all C classes. **The true class can be drawn**, so the
  realised fraction of wrong labels is about ``r (1 - 1/C)`` (binomial around it); the
  realised rate is recorded.
- asymmetric, rate r: for every source class c of the map, exactly ``round(r n_c)`` of
  its samples (chosen uniformly) get the label ``map[c]``; computed from the clean labels,
  so cat <-> dog swaps both ways. CIFAR-10: truck->automobile, bird->airplane,
  deer->horse, cat<->dog. CIFAR-100: each class -> the next class of its superclass
  (fine indices ascending, cyclic). The public ELR code groups *consecutive* fine indices
  in fives; this follows the paper's text (the true CIFAR-100 superclasses).
"""
from __future__ import annotations

import numpy as np
import torch

from ..params import ParamError, comma_items

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: truck->automobile, bird->airplane, deer->horse, cat<->dog
CIFAR10_ASYMMETRIC = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}

#: the 20 CIFAR-100 superclasses (coarse labels 0..19, alphabetical) as fine-label indices
CIFAR100_SUPERCLASSES = (
    (4, 30, 55, 72, 95),    # aquatic mammals
    (1, 32, 67, 73, 91),    # fish
    (54, 62, 70, 82, 92),   # flowers
    (9, 10, 16, 28, 61),    # food containers
    (0, 51, 53, 57, 83),    # fruit and vegetables
    (22, 39, 40, 86, 87),   # household electrical devices
    (5, 20, 25, 84, 94),    # household furniture
    (6, 7, 14, 18, 24),     # insects
    (3, 42, 43, 88, 97),    # large carnivores
    (12, 17, 37, 68, 76),   # large man-made outdoor things
    (23, 33, 49, 60, 71),   # large natural outdoor scenes
    (15, 19, 21, 31, 38),   # large omnivores and herbivores
    (34, 63, 64, 66, 75),   # medium mammals
    (26, 45, 77, 79, 99),   # non-insect invertebrates
    (2, 11, 35, 46, 98),    # people
    (27, 29, 44, 78, 93),   # reptiles
    (36, 50, 65, 74, 80),   # small mammals
    (47, 52, 56, 59, 96),   # trees
    (8, 13, 48, 58, 90),    # vehicles 1
    (41, 69, 81, 85, 89),   # vehicles 2
)


def cifar100_asymmetric() -> dict[int, int]:
    """Fine class -> the next fine class of its superclass (cyclic)."""
    return {g[i]: g[(i + 1) % len(g)] for g in CIFAR100_SUPERCLASSES for i in range(len(g))}


def parse_pairs(text: str, num_classes: int) -> dict[int, int]:
    """``"3:5,5:3"`` -> {3: 5, 5: 3}; classes must lie in [0, num_classes)."""
    out: dict[int, int] = {}
    allowed = f"source:target class pairs in [0, {num_classes - 1}] separated by commas, e.g. 3:5,5:3"
    for item in comma_items(text):
        try:
            a, b = (int(v) for v in item.split(":"))
        except ValueError:
            raise ParamError("noise_pairs", text, allowed) from None
        if not (0 <= a < num_classes and 0 <= b < num_classes) or a in out:
            raise ParamError("noise_pairs", text, allowed + " (each source once)")
        out[a] = b
    return out


def asymmetric_map(dataset: str, pairs: str, num_classes: int) -> dict[int, int]:
    """The pair map: ``pairs`` when given, else the paper's map for CIFAR-10/100."""
    if pairs.strip():
        return parse_pairs(pairs, num_classes)
    if dataset == "cifar10":
        return dict(CIFAR10_ASYMMETRIC)
    if dataset == "cifar100":
        return cifar100_asymmetric()
    raise ParamError("noise_pairs", pairs, f"a pair map such as 3:5,5:3: {dataset} has no built-in asymmetric map")


def symmetric_noise(labels: np.ndarray, rate: float, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(rate N)`` labels replaced by a uniform class (the true one included)."""
    noisy = labels.copy()
    chosen = rng.permutation(len(labels))[: int(round(rate * len(labels)))]
    noisy[chosen] = rng.integers(0, num_classes, size=len(chosen))
    return noisy


def asymmetric_noise(labels: np.ndarray, rate: float, mapping: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """For each source class c, exactly ``round(rate n_c)`` of its samples -> ``mapping[c]``."""
    noisy = labels.copy()
    for c in sorted(mapping):
        members = np.flatnonzero(labels == c)
        chosen = rng.permutation(members)[: int(round(rate * len(members)))]
        noisy[chosen] = mapping[c]
    return noisy


def corrupt_labels(labels: np.ndarray, noise_type: str, rate: float, num_classes: int, *,
                   dataset: str = "", pairs: str = "", seed: int = 0) -> np.ndarray:
    """The noisy labels for ``noise_type`` none | symmetric | asymmetric, seeded."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([seed, 0x1ABE1])
    if noise_type == "none" or rate == 0:
        return labels.copy()
    if noise_type == "symmetric":
        return symmetric_noise(labels, rate, num_classes, rng)
    if noise_type == "asymmetric":
        return asymmetric_noise(labels, rate, asymmetric_map(dataset, pairs, num_classes), rng)
    raise ParamError("noise_type", noise_type, "none, symmetric or asymmetric")


def randomise_labels(y: torch.Tensor, rate: float, num_classes: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-batch fresh label randomisation (Messy Collaboration): each label independently,
    with probability ``rate``, becomes a uniformly random class (the true one included).
    Call it on every batch for fresh noise; ``y`` is not modified."""
    if rate <= 0:
        return y
    swap = torch.rand(y.shape, device=y.device, generator=generator) < rate
    rand = torch.randint(0, num_classes, y.shape, device=y.device, generator=generator)
    return torch.where(swap, rand, y)
