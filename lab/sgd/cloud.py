"""Statistics of the noisy OLS cloud: a running mean and covariance about a centre, and
the burn-in after which iterates count."""
from __future__ import annotations

import math

import numpy as np


def burn_in(steps: int, rate: float) -> int:
    """Steps dropped before the cloud's covariance is measured: 10% of the run, or 20
    mean-square relaxation times ``1 / (1 - rate)`` if longer, but at most half the run."""
    if not rate < 1.0:
        return steps // 2
    return int(min(steps // 2, max(steps // 10, math.ceil(20.0 / (1.0 - rate)))))


class CloudStats:
    """Running mean and covariance of the noisy iterates about a centre (shifted sums)."""

    def __init__(self, centre: np.ndarray):
        self.centre = centre
        self.n, self.s1, self.s2 = 0, np.zeros(2), np.zeros((2, 2))

    def add(self, betas: np.ndarray) -> None:
        e = betas - self.centre
        self.n += len(e)
        self.s1 += e.sum(0)
        self.s2 += e.T @ e

    def mean(self) -> np.ndarray:
        return self.centre + self.s1 / self.n if self.n else np.full(2, np.nan)

    def cov(self) -> np.ndarray:
        if self.n < 2:
            return np.full((2, 2), np.nan)
        m = self.s1 / self.n
        return (self.s2 - self.n * np.outer(m, m)) / (self.n - 1)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b|_F / |b|_F`` (NaN when ``b`` is zero or undefined)."""
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else math.nan
