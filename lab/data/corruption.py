"""Label corruption: seeded, exact-count symmetric and asymmetric noise, and per-batch
label randomisation (SCIENCE.md, sections 5 and 6).

Conventions:

- symmetric, rate r (as the ELR paper's public code): exactly ``round(r N)`` training
  samples, chosen uniformly, get a class drawn uniformly from all C classes. **The true
  class can be drawn**, so the realised fraction of wrong labels is about ``r (1 - 1/C)``
  (binomial around it); the realised rate is recorded.
- asymmetric, rate r, two modes (``asym_mode``):

  * ``exact``: for every source class c of the map, exactly ``round(r n_c)`` of its
    samples (chosen uniformly among those *clean*-labelled c) get the label ``map[c]``, so
    cat <-> dog swaps both ways and every source class ends with the fraction r wrong.
  * ``official``: the official ELR CIFAR-10 loop. For c = 0, 1, ..., C-1 in turn, the
    samples whose *current* label is c are shuffled and the first ``ceil(r n)`` of them
    (``j < r n``) that c is a source of move to ``map[c]``, in place. A class that is also
    a target is flipped after it has received samples: at CIFAR-10 asym40 cat -> dog runs
    first, then 40% of the 7,000 "dogs" move to cat, about 800 of them cats moved back, so
    cat ends about 24% wrong, dog 40%, 18.4% overall instead of 20%. Every class is
    shuffled (as there), so the random stream is that loop's.

  CIFAR-10 map: truck->automobile, bird->airplane, deer->horse, cat<->dog. CIFAR-100:
  each class -> the next class of its superclass (fine indices ascending, cyclic). The
  public ELR code groups *consecutive* fine indices in fives and flips each sample with
  probability r from its clean label (a transition matrix); this follows the paper's text
  (the true CIFAR-100 superclasses) and exact counts, so ``exact`` is the mode for it.
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
    (4, 30, 55, 72, 95),  # aquatic mammals
    (1, 32, 67, 73, 91),  # fish
    (54, 62, 70, 82, 92),  # flowers
    (9, 10, 16, 28, 61),  # food containers
    (0, 51, 53, 57, 83),  # fruit and vegetables
    (22, 39, 40, 86, 87),  # household electrical devices
    (5, 20, 25, 84, 94),  # household furniture
    (6, 7, 14, 18, 24),  # insects
    (3, 42, 43, 88, 97),  # large carnivores
    (12, 17, 37, 68, 76),  # large man-made outdoor things
    (23, 33, 49, 60, 71),  # large natural outdoor scenes
    (15, 19, 21, 31, 38),  # large omnivores and herbivores
    (34, 63, 64, 66, 75),  # medium mammals
    (26, 45, 77, 79, 99),  # non-insect invertebrates
    (2, 11, 35, 46, 98),  # people
    (27, 29, 44, 78, 93),  # reptiles
    (36, 50, 65, 74, 80),  # small mammals
    (47, 52, 56, 59, 96),  # trees
    (8, 13, 48, 58, 90),  # vehicles 1
    (41, 69, 81, 85, 89),  # vehicles 2
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


def official_asymmetric_noise(
    labels: np.ndarray, rate: float, mapping: dict[int, int], num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """The official ELR loop (module docstring): classes in turn, from the current labels."""
    noisy = labels.copy()
    for c in range(num_classes):
        members = np.flatnonzero(noisy == c)
        rng.shuffle(members)
        if c in mapping:
            chosen = members[np.arange(len(members)) < rate * len(members)]
            noisy[chosen] = mapping[c]
    return noisy


ASYM_MODES = ("official", "exact")


def corrupt_labels(
    labels: np.ndarray,
    noise_type: str,
    rate: float,
    num_classes: int,
    *,
    dataset: str = "",
    pairs: str = "",
    seed: int = 0,
    asym_mode: str = "exact",
) -> np.ndarray:
    """The noisy labels for ``noise_type`` none | symmetric | asymmetric, seeded;
    ``asym_mode`` official | exact chooses the asymmetric procedure (module docstring)."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([seed, 0x1ABE1])
    if noise_type == "none" or rate == 0:
        return labels.copy()
    if noise_type == "symmetric":
        return symmetric_noise(labels, rate, num_classes, rng)
    if noise_type == "asymmetric":
        mapping = asymmetric_map(dataset, pairs, num_classes)
        if asym_mode == "official":
            return official_asymmetric_noise(labels, rate, mapping, num_classes, rng)
        if asym_mode != "exact":
            raise ParamError("asym_mode", asym_mode, " or ".join(ASYM_MODES))
        return asymmetric_noise(labels, rate, mapping, rng)
    raise ParamError("noise_type", noise_type, "none, symmetric or asymmetric")


def randomise_labels(
    y: torch.Tensor, rate: float, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-batch fresh label randomisation (Messy Collaboration): each label independently,
    with probability ``rate``, becomes a uniformly random class (the true one included).
    Call it on every batch for fresh noise; ``y`` is not modified."""
    if rate <= 0:
        return y
    swap = torch.rand(y.shape, device=y.device, generator=generator) < rate
    rand = torch.randint(0, num_classes, y.shape, device=y.device, generator=generator)
    return torch.where(swap, rand, y)
