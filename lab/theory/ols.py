"""Stationary covariance of SGD on label-noisy least squares (paper: label-noise SGD, Sec. 4).

Conventions. Samples ``x_i`` (rows of ``x``, shape ``(N, d)``), labels ``y_i``, per-sample
loss ``1/2 (x_i.beta - y_i)^2``, step ``beta <- beta - lr * (1/B) sum_{i in S_k} x_i (x_i.beta - y_i)``
over a batch ``S_k`` of ``B`` distinct indices. ``Sigma_N = (1/N) sum_i x_i x_i^T``.

Fixed label noise (the paper's set-up: ``y~_i = x_i.beta* + eps_i`` drawn once). With
``beta_hat`` the least-squares solution on ``y~`` and residuals ``r_i = y~_i - x_i.beta_hat``,
the error ``e_k = beta_k - beta_hat`` obeys exactly::

    e_{k+1} = (I - lr H_k) e_k + lr g_k,   H_k = (1/B) sum_{S_k} x_i x_i^T,  g_k = (1/B) sum_{S_k} x_i r_i

For ``iid`` batches (a fresh uniformly random B-subset each step) ``e_k`` is independent of
``S_k``; ``E[g_k] = (1/N) sum_i x_i r_i = 0`` (normal equations), so the stationary mean is 0,
the cross terms vanish and the stationary covariance ``M`` solves::

    M = E[(I - lr H) M (I - lr H)] + lr^2 E[g g^T]

with the expectations exact finite sums over the N samples: a sample is in the batch with
probability ``p1 = B/N``, a pair of distinct samples with ``p2 = B(B-1)/(N(N-1))``::

    E[H] = Sigma_N
    E[H (x) H] = (1/B^2) [ (p1 - p2) sum_i P_i (x) P_i + p2 N^2 Sigma_N (x) Sigma_N ],  P_i = x_i x_i^T
    E[g g^T]   = (p1 - p2)/B^2 sum_i r_i^2 x_i x_i^T = (N-B)/(B N (N-1)) sum_i r_i^2 x_i x_i^T

(the ``p2`` part of ``E[g g^T]`` is ``p2 (sum_i x_i r_i)(...)^T - ... = -p2 sum_i q_i q_i^T``).
In vec form, ``vec(A M A) = (A (x) A) vec(M)`` for symmetric ``A``, so::

    (Sigma_N (x) I + I (x) Sigma_N - lr E[H (x) H]) vec(M) = lr vec(E[g g^T])

Redrawn label noise (``y~_{i,k} = x_i.beta* + eps_{i,k}``, fresh every step). The expected
gradient vanishes at ``beta*``, so take ``e_k = beta_k - beta*``; then ``g_k = (1/B) sum_{S_k}
x_i eps_{i,k}`` with ``E[g | S_k] = 0`` and ``E[g g^T | S_k] = sigma2/B^2 sum_{S_k} x_i x_i^T``,
hence ``E[g g^T] = (sigma2/B) Sigma_N`` and the same equation gives M (mean ``beta*``).

Shuffled epochs make consecutive batches dependent (and ``e_k`` dependent on ``S_k``): the
``iid`` M is then an approximation.

The paper's approximation (Proposition 2) replaces the extra noise by
``xi_k = sqrt(lr sigma2 / B) Sigma_N^{1/2} z_k``, a diffusion in time ``t = k lr``; the
stationary covariance of that Ornstein-Uhlenbeck process solves
``Sigma_N M + M Sigma_N = (lr sigma2 / B) Sigma_N``, i.e. ``M = lr sigma2 / (2B) I``.
It drops the ``lr^2`` term and the mini-batch noise of the noiseless gradient.

Heavy tails. ``A = I - lr H`` is the batch mean of ``A_i = I - lr x_i x_i^T``, so for every
order ``k`` ``E[A^(x)k] = B^-k sum_{i_1..i_k} P(all distinct i's in S) A_{i_1} (x) .. (x) A_{i_k}``,
where a set of ``m`` distinct samples lies in the batch with probability
``p_m = B (B-1) .. (B-m+1) / (N (N-1) .. (N-m+1))``. Grouping the index tuples by the set
partition ``pi`` of the ``k`` positions on which they agree and Moebius-inverting the sum over
distinct indices (partition lattice, ``mu(pi, sigma) = prod_blocks (-1)^(n-1) (n-1)!``)::

    E[A^(x)k] = B^-k sum_sigma c_sigma U_sigma,   c_sigma = sum_{pi finer than sigma} p_|pi| mu(pi, sigma)

with ``U_sigma`` the unrestricted sum: one free sample index per block of ``sigma``
(for k = 2 this is the ``E[H (x) H]`` above). The spectral radius of ``E[A^(x)4]`` on the
symmetric tensors (``fourth_moment_rate``) is the per-step factor of ``E[e^(x)4]`` and so
of ``E|e|^4`` without noise; at 1 or more the stationary law has no finite fourth moment
(when the noise is not degenerate), and the empirical covariance no finite sampling error.
"""

from __future__ import annotations

import itertools
import math
from typing import cast

import numpy as np


def sample_covariance(x: np.ndarray) -> np.ndarray:
    """``Sigma_N = (1/N) sum_i x_i x_i^T``."""
    x = np.asarray(x, dtype=np.float64)
    return x.T @ x / len(x)


def least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``beta_hat = argmin_beta sum_i (x_i.beta - y_i)^2``."""
    return np.linalg.lstsq(np.asarray(x, np.float64), np.asarray(y, np.float64), rcond=None)[0]


def inclusion_probabilities(n: int, batch: int) -> tuple[float, float]:
    """``(p1, p2)``: one given sample, and one given pair of distinct samples, lie in a
    uniformly random batch of ``batch`` distinct indices out of ``n``."""
    p1 = batch / n
    p2 = batch * (batch - 1) / (n * (n - 1))
    return p1, p2


def step_matrix_moments(x: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``E[H]`` (d, d) and ``E[H (x) H]`` (d^2, d^2) of ``H = (1/B) sum_{i in S} x_i x_i^T``."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    p1, p2 = inclusion_probabilities(n, batch)
    sn = sample_covariance(x)
    outer = np.einsum("ni,nj->nij", x, x)
    kron_sum = np.einsum("nij,nkl->ikjl", outer, outer).reshape(d * d, d * d)
    ehh = ((p1 - p2) * kron_sum + p2 * n * n * np.kron(sn, sn)) / batch**2
    return sn, ehh


def gradient_noise_covariance(
    x: np.ndarray, y: np.ndarray, batch: int, noise: str = "fixed", sigma2: float = 0.0
) -> np.ndarray:
    """``E[g g^T]`` of the inhomogeneous term (see the module docstring).

    ``fixed``: ``y`` are the noisy labels; ``(N-B)/(B N (N-1)) sum_i r_i^2 x_i x_i^T``.
    ``redraw``: ``y`` is not used; ``(sigma2/B) Sigma_N``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if noise == "redraw":
        return sigma2 / batch * sample_covariance(x)
    if noise != "fixed":
        raise ValueError(f"noise must be 'fixed' or 'redraw', not {noise!r}")
    r = np.asarray(y, np.float64) - x @ least_squares(x, y)
    p1, p2 = inclusion_probabilities(n, batch)
    return (p1 - p2) / batch**2 * (x * (r * r)[:, None]).T @ x


def set_partitions(k: int) -> list[tuple[tuple[int, ...], ...]]:
    """Every partition of the positions ``0..k-1`` into blocks (15 for k = 4)."""
    if k == 0:
        return [()]
    out = []
    for rest in set_partitions(k - 1):
        out.append(rest + ((k - 1,),))
        for j in range(len(rest)):
            out.append(rest[:j] + (rest[j] + (k - 1,),) + rest[j + 1 :])
    return out


def distinct_inclusion(n: int, batch: int, m: int) -> float:
    """``p_m``: ``m`` given distinct samples all lie in a uniformly random batch of
    ``batch`` distinct indices out of ``n`` (``p_1 = B/N``, ``p_2 = B(B-1)/(N(N-1))``)."""
    p = 1.0
    for j in range(m):
        p *= max(batch - j, 0) / (n - j)
    return p


def _moebius(fine, coarse) -> int:
    """``mu(fine, coarse)`` on the partition lattice, 0 unless ``fine`` refines ``coarse``."""
    counts = []
    for block in coarse:
        inside = [b for b in fine if set(b) <= set(block)]
        if sum(len(b) for b in inside) != len(block):
            return 0
        counts.append(len(inside))
    return int(np.prod([(-1) ** (c - 1) * math.factorial(c - 1) for c in counts]))


def moment_operator(x: np.ndarray, lr: float, batch: int, k: int) -> np.ndarray:
    """``E[A (x) .. (x) A]`` (k factors, ``(d^k, d^k)``), ``A = I - lr H``, exact over the
    uniformly random batch of ``batch`` distinct samples (module docstring, Heavy tails)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    a = np.eye(d)[None] - lr * np.einsum("ni,nj->nij", x, x)
    parts = set_partitions(k)
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows, cols = letters[:k], letters[k : 2 * k]
    out = np.zeros((d,) * (2 * k))
    for sigma in parts:
        c = sum(distinct_inclusion(n, batch, len(pi)) * _moebius(pi, sigma) for pi in parts)
        if c == 0.0:
            continue
        sample = {p: "ABCDEFGH"[j] for j, block in enumerate(sigma) for p in block}
        spec = ",".join(f"{sample[p]}{rows[p]}{cols[p]}" for p in range(k)) + "->" + rows + cols
        out += c * np.einsum(spec, *([a] * k), optimize=True)
    return out.reshape(d**k, d**k) / batch**k


def _symmetriser(d: int, k: int) -> np.ndarray:
    """The projector onto symmetric tensors of order ``k`` over ``R^d``, ``(d^k, d^k)``."""
    eye = np.eye(d**k).reshape((d,) * k + (d**k,))
    perms = list(itertools.permutations(range(k)))
    total = cast(np.ndarray, sum(np.transpose(eye, p + (k,)).reshape(d**k, d**k) for p in perms))
    return total / len(perms)


def fourth_moment_rate(x: np.ndarray, lr: float, batch: int) -> float:
    """Spectral radius of ``E[A (x) A (x) A (x) A]`` on symmetric tensors: the per-step
    factor of ``E[e^(x)4]``. At 1 or more the iterates' stationary law (if any) has an
    infinite fourth moment and their sample covariance no finite error bar."""
    d = np.asarray(x).shape[1]
    s = _symmetriser(d, 4)
    return float(np.max(np.abs(np.linalg.eigvals(s @ moment_operator(x, lr, batch, 4) @ s))))


def mean_square_operator(x: np.ndarray, lr: float, batch: int) -> np.ndarray:
    """``E[A (x) A]`` with ``A = I - lr H``: ``vec(E[A M A]) = E[A (x) A] vec(M)``."""
    sn, ehh = step_matrix_moments(x, batch)
    eye = np.eye(len(sn))
    return np.kron(eye, eye) - lr * (np.kron(sn, eye) + np.kron(eye, sn)) + lr * lr * ehh


def mean_square_rate(x: np.ndarray, lr: float, batch: int) -> float:
    """Spectral radius of ``E[A (x) A]``: the second moment of the error contracts by this
    factor per step; at 1 or more SGD has no stationary covariance (it diverges)."""
    return float(np.max(np.abs(np.linalg.eigvals(mean_square_operator(x, lr, batch)))))


def exact_covariance(
    x: np.ndarray, y: np.ndarray, lr: float, batch: int, noise: str = "fixed", sigma2: float = 0.0
) -> np.ndarray:
    """The exact stationary covariance ``M`` of ``e_k`` for ``iid`` batches (module docstring).

    Solves ``(Sigma_N (x) I + I (x) Sigma_N - lr E[H (x) H]) vec(M) = lr vec(E[g g^T])``.
    Returns NaNs when ``mean_square_rate >= 1`` (no stationary distribution).
    """
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    if mean_square_rate(x, lr, batch) >= 1.0:
        return np.full((d, d), np.nan)
    sn, ehh = step_matrix_moments(x, batch)
    eye = np.eye(d)
    lhs = np.kron(sn, eye) + np.kron(eye, sn) - lr * ehh
    rhs = lr * gradient_noise_covariance(x, y, batch, noise, sigma2).reshape(-1)
    m = np.linalg.solve(lhs, rhs).reshape(d, d)
    return (m + m.T) / 2


def paper_diffusion(x: np.ndarray, sigma2: float, lr: float, batch: int) -> np.ndarray:
    """The paper's noise term ``sqrt(lr sigma2 / B) Sigma_N^{1/2}`` (Proposition 2)."""
    w, v = np.linalg.eigh(sample_covariance(x))
    return np.sqrt(lr * sigma2 / batch) * (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def paper_covariance(x: np.ndarray, sigma2: float, lr: float, batch: int) -> np.ndarray:
    """Stationary covariance of the paper's diffusion ``de = -Sigma_N e dt + D dW``,
    ``D = paper_diffusion(...)``: the Lyapunov equation ``Sigma_N M + M Sigma_N = D D^T``,
    whose solution is ``lr sigma2 / (2B) I``."""
    sn = sample_covariance(x)
    d = len(sn)
    dd = paper_diffusion(x, sigma2, lr, batch)
    eye = np.eye(d)
    m = np.linalg.solve(np.kron(sn, eye) + np.kron(eye, sn), (dd @ dd.T).reshape(-1)).reshape(d, d)
    return (m + m.T) / 2
