"""Data that ships with the install, so every experiment runs offline and in CI."""

from __future__ import annotations

import gzip
import importlib.util
import os
from functools import lru_cache

import numpy as np

from .source import DataError, Source

DIGITS_TEST_FRACTION = 0.25


def digits_file() -> str:
    """The digits as scikit-learn ships them: ``datasets/data/digits.csv.gz`` in its
    package (one image per row, 64 grey levels then the label), found without importing
    scikit-learn, whose import pulls in some 2,000 modules (seconds, holding the GIL
    while a window paints)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("the built-in digits come with scikit-learn, which is not installed (pip install scikit-learn)")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        raise DataError(f"scikit-learn's digits file is missing: {path}")
    return path


@lru_cache(maxsize=1)
def digits() -> Source:
    """scikit-learn's handwritten digits: 1,797 real 8x8 images (grey levels 0..16),
    10 classes; a fixed 25 % test split (the same for every run and seed). Cached: callers
    copy before changing the arrays."""
    with gzip.open(digits_file(), "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    x = table[:, :64].astype(np.uint8).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    n_test = int(round(DIGITS_TEST_FRACTION * len(y)))
    te, tr = order[:n_test], order[n_test:]
    return Source("digits", x[tr], y[tr], x[te], y[te], 10)


def gaussian_mixture(n_train: int, n_test: int, classes: int, dim: int, separation: float, seed: int) -> Source:
    """Balanced mixture: class means ``mu_k = separation * v_k / |v_k|``, ``v_k ~ N(0, I_dim)``,
    samples ``x = mu_y + N(0, I_dim)``; train and test drawn from the same means."""
    rng = np.random.default_rng([seed, 0x6A055])
    v = rng.standard_normal((classes, dim))
    means = separation * v / np.linalg.norm(v, axis=1, keepdims=True)

    def draw(n):
        y = rng.permutation(np.arange(n) % classes).astype(np.int64)
        return (means[y] + rng.standard_normal((n, dim))).astype(np.float32), y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return Source("gaussian", xtr, ytr, xte, yte, classes)
