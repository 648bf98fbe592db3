"""Statistics of the noisy OLS cloud: a running mean and covariance about a centre, batch
means for the covariance's standard error, and the burn-in after which iterates count."""

from __future__ import annotations

import math

import numpy as np

#: the kept iterates after burn-in are cut into about this many consecutive batches
N_BATCHES = 20


def burn_in(steps: int, rate: float) -> int:
    """Steps dropped before the cloud's covariance is measured: 10% of the run, or 20
    mean-square relaxation times ``1 / (1 - rate)`` if longer, but at most half the run."""
    if not rate < 1.0:
        return steps // 2
    return int(min(steps // 2, max(steps // 10, math.ceil(20.0 / (1.0 - rate)))))


def kept_after(steps: int, stride: int, burn: int) -> int:
    """How many of the iterates at multiples of ``stride`` in ``[burn, steps]`` there are."""
    return max(0, steps // stride - -(-burn // stride) + 1)


class CloudStats:
    """Running mean and covariance of the noisy iterates about a centre (shifted sums).

    Standard error by batch means: the products ``z_t = e_t e_t^T`` (``e = beta - centre``)
    of ``batch_len`` consecutive iterates are averaged per batch; with ``b`` complete
    batches of means ``m_j``, ``se = std(m_j, ddof=1) / sqrt(b)`` estimates the sampling
    error of the covariance however correlated the iterates are (batches much longer than
    the correlation time), and ``ess = n var(z) / (batch_len var(m_j))`` is the effective
    number of independent iterates. Both need a finite fourth moment of ``e``.
    """

    def __init__(self, centre: np.ndarray, batch_len: int = 0):
        self.centre = centre
        self.n, self.s1, self.s2 = 0, np.zeros(2), np.zeros((2, 2))
        self.s4 = np.zeros((2, 2))  # sum of z^2, entry by entry
        self.batch_len = int(batch_len)
        self._part, self._part_n = np.zeros((2, 2)), 0
        self.batch_means: list[np.ndarray] = []

    def add(self, betas: np.ndarray) -> None:
        e = betas - self.centre
        self.n += len(e)
        self.s1 += e.sum(0)
        self.s2 += e.T @ e
        z = e[:, :, None] * e[:, None, :]
        self.s4 += (z * z).sum(0)
        if self.batch_len > 0:
            self._add_batches(z)

    def _add_batches(self, z: np.ndarray) -> None:
        L = self.batch_len
        head = min(len(z), L - self._part_n)
        self._part += z[:head].sum(0)
        self._part_n += head
        if self._part_n < L:
            return
        self.batch_means.append(self._part / L)
        rest = z[head:]
        full = len(rest) // L
        self.batch_means.extend(rest[: full * L].reshape(full, L, 2, 2).mean(1))
        tail = rest[full * L :]
        self._part, self._part_n = tail.sum(0), len(tail)

    def mean(self) -> np.ndarray:
        return self.centre + self.s1 / self.n if self.n else np.full(2, np.nan)

    def cov(self) -> np.ndarray:
        if self.n < 2:
            return np.full((2, 2), np.nan)
        m = self.s1 / self.n
        return (self.s2 - self.n * np.outer(m, m)) / (self.n - 1)

    def cov_se(self) -> np.ndarray:
        """Batch-means standard error of each covariance entry (NaN below 2 batches)."""
        if len(self.batch_means) < 2:
            return np.full((2, 2), np.nan)
        m = np.asarray(self.batch_means)
        return m.std(0, ddof=1) / math.sqrt(len(m))

    def ess(self) -> float:
        """Effective sample size of the covariance, the smallest over its entries."""
        if len(self.batch_means) < 2 or self.n < 2:
            return math.nan
        var_z = self.s4 / self.n - (self.s2 / self.n) ** 2
        var_m = np.asarray(self.batch_means).var(0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ess = self.n * var_z / (self.batch_len * var_m)
        return float(np.nanmin(ess)) if np.isfinite(ess).any() else math.nan


def heavy_tail_note(rate4: float) -> str:
    """What a fourth-moment rate of 1 or more means for the measured covariance."""
    return (
        f"fourth-moment rate {rate4:.3g} >= 1: the iterates have no finite fourth moment, so the "
        "empirical covariance has no finite error bar here (rel_err_exact does not test M)"
    )


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b|_F / |b|_F`` (NaN when ``b`` is zero or undefined)."""
    nb = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / nb) if nb > 0 else math.nan
