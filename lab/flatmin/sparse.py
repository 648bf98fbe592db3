"""Quadratically parameterised sparse regression (the paper's Sec. 5 example, after
HaoChen et al. 2021 and Woodworth et al. 2020)::

    f(x) = <u*u - v*v, x>,   x ~ N(0, I_d),   y = <theta*, x>,   theta* k-sparse (k ones)

``n < d`` noiseless training samples, init ``u = v = alpha 1``, loss
``L = 1/(2n) sum_i (f(x_i) - y_i)^2``. With ``beta = u*u - v*v``, ``r = X beta - y``,
``g = X^T r / n`` and ``s_j = 1/n sum_i x_ij^2``, everything the experiment needs is in
closed form::

    grad_u L = 2 u g,                     grad_v L = -2 v g
    Hess L   = 1/n J^T J + diag(2 g, -2 g),   J = [2 X diag(u), -2 X diag(v)]
    tr Hess L = 4 sum_j s_j (u_j^2 + v_j^2)      (the residual term has zero trace)

so ``R_small = tr Hess L / 4 = sum_j s_j (u_j^2 + v_j^2)``, which on interpolators
(``u*u - v*v = beta``) is smallest at ``u_j^2 + v_j^2 = |beta_j|``: a weighted l1 norm
``sum_j s_j |beta_j|``, minimised by the sparse truth when l1 recovers it. The large-lr
R comes from the exact eigenvalues of the ``2d x 2d`` Hessian.

The training loop is a compiled (numba) kernel that runs a whole block of steps without
returning to Python; the random draws (batch indices, label noise) are made beforehand
with torch generators, so the kernel and the per-step torch loop of
:func:`reference_steps` (the naive baseline) give the same iterates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from . import regulariser

METHODS = ("gd", "sgd", "label-noise", "explicit")
NOISE_FORMS = ("gaussian", "pm")
#: |u| or |v| beyond this (or NaN) ends the run as diverged
BLOW_UP = 1e50


@dataclass
class SparseProblem:
    """The data of one sparse-regression run (float64 numpy arrays)."""

    x: np.ndarray  # (n, d) training inputs
    y: np.ndarray  # (n,) noiseless labels
    theta_star: np.ndarray  # (d,) k-sparse truth
    x_test: np.ndarray  # (n_test, d) fresh inputs
    y_test: np.ndarray  # (n_test,)

    @property
    def s(self) -> np.ndarray:
        """``s_j = 1/n sum_i x_ij^2``."""
        return (self.x**2).mean(0)


def draw_problem(d: int, n: int, k: int, n_test: int, generator: torch.Generator) -> SparseProblem:
    """Inputs ``N(0, I_d)``, a truth with ones on ``k`` random coordinates, noiseless labels."""
    x = torch.randn((n, d), generator=generator, dtype=torch.float64).numpy()
    support = torch.randperm(d, generator=generator)[:k].numpy()
    theta = np.zeros(d)
    theta[support] = 1.0
    x_test = torch.randn((n_test, d), generator=generator, dtype=torch.float64).numpy()
    return SparseProblem(x, x @ theta, theta, x_test, x_test @ theta)


def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = len(theta) // 2
    return theta[:d], theta[d:]


def loss(theta, x, y) -> float:
    u, v = split(theta)
    r = x @ (u * u - v * v) - y
    return 0.5 * float(r @ r) / len(y)


def loss_torch(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same loss of the flat ``theta = [u, v]`` in torch, for autograd and HVPs."""
    d = theta.shape[0] // 2
    u, v = theta[:d], theta[d:]
    r = x @ (u * u - v * v) - y
    return 0.5 * (r * r).mean()


def hessian(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The exact ``(2d, 2d)`` Hessian of :func:`loss` (module docstring)."""
    u, v = split(theta)
    n = len(y)
    g = x.T @ (x @ (u * u - v * v) - y) / n
    jac = np.concatenate([2 * x * u, -2 * x * v], axis=1)
    return jac.T @ jac / n + np.diag(np.concatenate([2 * g, -2 * g]))


def trace_hessian(theta: np.ndarray, s: np.ndarray) -> float:
    """``tr Hess L = 4 sum_j s_j (u_j^2 + v_j^2)``."""
    u, v = split(theta)
    return 4.0 * float(s @ (u * u + v * v))


def regulariser_exact(theta: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float) -> tuple[float, float]:
    """``(R, top eigenvalue)`` from the exact Hessian spectrum."""
    h = np.linalg.eigvalsh(hessian(theta, x, y))
    return regulariser.from_eigenvalues(h, lr), float(h[-1])


def sparsest_R(theta_star: np.ndarray, s: np.ndarray) -> float:
    """``R_small`` at the flattest factorisation of the truth: ``sum_j s_j |theta*_j|``."""
    return float(s @ np.abs(theta_star))


@njit(cache=True)
def kernel(u, v, x, y, lr, reg, idx, eps, steps, blow_up):  # pragma: no cover - compiled
    """``steps`` steps on ``(u, v)`` in place. ``idx`` (steps, B) batch rows or shape
    (0, 0) for the full batch; ``eps`` (steps, B) label noise or (0, 0) for none;
    ``reg`` = ``lambda s`` (the explicit regulariser's gradient factor, zeros otherwise).
    Returns -1, or the number of steps done when ``|u|`` or ``|v|`` passed ``blow_up``."""
    n, d = x.shape
    full = idx.shape[0] == 0
    noisy = eps.shape[0] > 0
    b_size = n if full else idx.shape[1]
    beta = np.empty(d)
    g = np.empty(d)
    for t in range(steps):
        for j in range(d):
            beta[j] = u[j] * u[j] - v[j] * v[j]
            g[j] = 0.0
        for b in range(b_size):
            i = b if full else idx[t, b]
            r = -y[i]
            for j in range(d):
                r += x[i, j] * beta[j]
            if noisy:
                r -= eps[t, b]
            for j in range(d):
                g[j] += x[i, j] * r
        bad = False
        for j in range(d):
            gj = g[j] / b_size
            u[j] -= lr * 2.0 * u[j] * (gj + reg[j])
            v[j] -= lr * 2.0 * v[j] * (reg[j] - gj)
            if not (abs(u[j]) < blow_up and abs(v[j]) < blow_up):
                bad = True
        if bad:
            return t + 1
    return -1


class Draws:
    """The random draws of one method: batch indices and label noise, from one generator."""

    def __init__(self, method: str, n: int, batch: int, delta: float, noise_form: str, seed: int):
        from ..sgd.batches import BatchSampler

        self.method = method
        self.full = method in ("gd", "explicit") or batch >= n
        self.noisy = method == "label-noise" and delta > 0
        self.batch = n if self.full else batch
        self.delta, self.form = delta, noise_form
        gen = torch.Generator().manual_seed(seed)
        self.sampler = None if self.full else BatchSampler(n, batch, generator=gen)
        self.noise_gen = torch.Generator().manual_seed(seed + 1)

    def block(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.zeros((0, 0), np.int64) if self.sampler is None else self.sampler.iid(steps).to(torch.int64).numpy()
        if not self.noisy:
            return idx, np.zeros((0, 0))
        shape = (steps, self.batch)
        if self.form == "gaussian":
            eps = torch.randn(shape, generator=self.noise_gen, dtype=torch.float64) * self.delta
        else:
            eps = (2.0 * torch.randint(0, 2, shape, generator=self.noise_gen) - 1.0).to(torch.float64) * self.delta
        return idx, eps.numpy()


def reg_factor(method: str, lam: float, s: np.ndarray) -> np.ndarray:
    """``lambda s`` for ``explicit`` (the gradient of ``lambda R_small`` is ``2 lambda s u``), else zeros."""
    return lam * s if method == "explicit" else np.zeros_like(s)


def run_block(theta: np.ndarray, prob: SparseProblem, lr: float, reg: np.ndarray, draws: Draws, steps: int) -> int:
    """Advance ``theta = [u, v]`` (in place) by ``steps``; returns -1 or the blow-up step count."""
    idx, eps = draws.block(steps)
    u, v = split(theta)
    return int(kernel(u, v, prob.x, prob.y, lr, reg, idx, eps, steps, BLOW_UP))


def reference_steps(
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    reg: torch.Tensor,
    idx: np.ndarray,
    eps: np.ndarray,
    steps: int,
) -> torch.Tensor:
    """The naive per-step torch loop of the same update (tests and the benchmark's baseline)."""
    d = theta.shape[0] // 2
    u, v = theta[:d].clone(), theta[d:].clone()
    idx_t = torch.as_tensor(idx) if idx.size else None
    eps_t = torch.as_tensor(eps) if eps.size else None
    for t in range(steps):
        xb, yb = (x, y) if idx_t is None else (x[idx_t[t]], y[idx_t[t]])
        r = xb @ (u * u - v * v) - yb
        if eps_t is not None:
            r = r - eps_t[t]
        g = xb.T @ r / len(yb)
        u, v = u - lr * 2 * u * (g + reg), v - lr * 2 * v * (reg - g)
    return torch.cat([u, v])
