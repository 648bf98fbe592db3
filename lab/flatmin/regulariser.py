"""The implicit regulariser of label-noise SGD and its strength (Damian, Ma & Lee,
"Label Noise SGD Provably Prefers Flat Global Minimizers", NeurIPS 2021, Sec. 2-3).

Label-noise SGD on the per-sample loss ``1/2 (f_i(theta) - y_i - eps)^2`` with
``E eps = 0``, ``E eps^2 = sigma^2`` (Gaussian of std ``delta`` or the paper's
``eps in {-sigma, sigma}``), mini-batch ``B`` and step ``eta`` follows, on the slow time
scale, gradient descent on ``L(theta) + lambda R(theta)`` with::

    lambda   = eta sigma^2 / B
    R(theta) = -1/(2 eta) tr log(I - eta/2 Hess L(theta))          (large-lr form)
             ~ 1/4 tr Hess L(theta)                                 (eta -> 0)

and, for the squared loss near interpolation, ``tr Hess L = 1/n sum_i |grad f_i|^2``.
The constants are re-derived here: the label noise adds ``eta xi`` to each step with
``Cov xi = sigma^2/B G``, ``G = 1/n sum_i grad f_i grad f_i^T`` (= Hess L at
interpolation); the discrete stationary covariance along an eigenvector of the
Hessian with eigenvalue ``h`` is ``eta sigma^2 / (B (2 - eta h))``, and the mean force
it causes through the third derivative, ``1/2 grad tr(H S)``, is
``lambda grad R`` with the R above. The log form is finite only below the stability
edge ``eta h_max < 2``; it weighs large eigenvalues more than ``h/4`` (the paper's
"regularisation beyond the linear scaling rule").

Classification (cross-entropy) is implemented as follows (derived the same way, our
reading of the paper's extension to general losses): every step each batch member's
label is replaced with probability ``p`` by a uniformly random class. The expected loss
is cross-entropy against label-smoothed targets ``(1-p) onehot + p/K``; at its
minimiser the softmax equals that target, so the noise covariance of the logits'
gradient equals the Hessian of the loss in the logits, i.e. ``sigma^2 = 1``:
``lambda = eta / B`` and R as above with the Hessian of the smoothed-label loss.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: stored in every run file
R_DEFINITION = (
    "R(theta) = -1/(2 lr) tr log(I - lr/2 Hess L(theta)) (Damian, Ma & Lee 2021, large-lr form); "
    "R_small = 1/4 tr Hess L (its lr -> 0 limit); lambda = lr sigma^2 / batch; "
    "L = mean over samples of 1/2 sum over outputs (f - y)^2 (regression)"
)


def noise_variance(delta: float) -> float:
    """``sigma^2`` of the label noise: ``delta^2`` for both forms (Gaussian std delta, +-delta)."""
    return float(delta) ** 2


def strength(lr: float, sigma2: float, batch: int) -> float:
    """The paper's effective regularisation strength ``lambda = lr sigma^2 / B``."""
    return lr * sigma2 / batch


def log_form(h: torch.Tensor | np.ndarray, lr: float):
    """``f(h) = -1/(2 lr) log(1 - lr h / 2)`` elementwise (the summand of R over Hessian
    eigenvalues ``h``); ``inf`` at or beyond the stability edge ``lr h >= 2``."""
    if isinstance(h, torch.Tensor):
        a = 1 - lr * h / 2
        return torch.where(a > 0, -torch.log(a.clamp_min(1e-300)) / (2 * lr), torch.full_like(h, math.inf))
    b = 1 - lr * np.asarray(h, dtype=np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, -np.log(np.maximum(b, 1e-300)) / (2 * lr), np.inf)


def from_eigenvalues(h, lr: float) -> float:
    """R from the full spectrum of the Hessian (exact where the Hessian is cheap)."""
    return float(np.sum(log_form(np.asarray(h, dtype=np.float64), lr)))
