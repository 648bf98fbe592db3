"""Hessian probes of a loss ``L(theta)`` of a flat parameter vector, by Hessian-vector
products (``torch.func``: reverse-over-reverse, ``vjp`` of ``grad``) vmapped over all
probe vectors at once, so one batched HVP program serves every probe.

From ``P`` Rademacher vectors ``z_p`` and ``m`` Lanczos steps started at each
``z_p / |z_p|`` (full reorthogonalisation, tridiagonal ``T_p``):

* Hutchinson's trace ``tr H ~ 1/P sum_p z_p^T H z_p`` (``= N alpha_1`` of Lanczos), with
  its standard error ``std_p / sqrt(P)``;
* stochastic Lanczos quadrature ``tr f(H) ~ 1/P sum_p N e_1^T f(T_p) e_1``, here for the
  regulariser's ``f(h) = -1/(2 lr) log(1 - lr h / 2)``, with its standard error;
* the top eigenvalue: the largest Ritz value over all probes (Lanczos finds the
  extremes of the spectrum first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import grad, vjp, vmap

from .regulariser import log_form

LossFn = Callable[[torch.Tensor], torch.Tensor]


def hvp_fn(loss: LossFn, theta: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``V (P, N) -> (H V_p)_p``: the Hessian of ``loss`` at ``theta`` applied to every row,
    as the vector-Jacobian product of the gradient (``H`` is symmetric): the gradient's
    graph is built once and reused by every call."""
    _, vjp_of_grad = vjp(grad(loss), theta)  # type: ignore[misc]  # torch stub: no aux
    return vmap(lambda v: vjp_of_grad(v)[0])


def rademacher(p: int, n: int, generator: torch.Generator, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """``(p, n)`` entries +-1 with equal chance."""
    bits = torch.randint(0, 2, (p, n), generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


@dataclass
class Probe:
    """What :func:`probe` measured: trace and R (with standard errors) and the top eigenvalue."""

    trace: float
    trace_se: float
    top_eigenvalue: float
    R: float
    R_se: float


def lanczos(
    hvp: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ritz values ``(P, m)`` and quadrature weights ``(P, m)`` (squared first components
    of ``T_p``'s eigenvectors) of ``m = min(steps, N)`` Lanczos steps from each row of ``z``."""
    p, n = z.shape
    m = max(1, min(steps, n))
    q = z / z.norm(dim=1, keepdim=True)
    basis = q.new_zeros((p, m, n))
    alpha, beta = q.new_zeros((p, m)), q.new_zeros((p, max(m - 1, 0)))
    q_prev, b_prev = torch.zeros_like(q), q.new_zeros((p, 1))
    tiny = torch.finfo(z.dtype).eps
    for k in range(m):
        basis[:, k] = q
        w = hvp(q)
        a = (w * q).sum(1)
        alpha[:, k] = a
        if k == m - 1:
            break
        w = w - a[:, None] * q - b_prev * q_prev
        w = w - torch.einsum("pk,pkn->pn", torch.einsum("pn,pkn->pk", w, basis[:, : k + 1]), basis[:, : k + 1])
        b = w.norm(dim=1)
        scale = alpha[:, : k + 1].abs().amax(1).clamp_min(tiny)
        alive = b > 1e3 * tiny * scale  # the Krylov space is exhausted where it is not
        beta[:, k] = torch.where(alive, b, torch.zeros_like(b))
        q_prev, b_prev = q, beta[:, k : k + 1]
        q = torch.where(alive[:, None], w / b.clamp_min(tiny)[:, None], torch.zeros_like(w))
    t = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    ritz, vecs = torch.linalg.eigh(t)
    return ritz, vecs[:, 0, :] ** 2


def probe(
    loss: LossFn, theta: torch.Tensor, lr: float, probes: int, lanczos_steps: int, generator: torch.Generator
) -> Probe:
    """Hutchinson trace, SLQ estimate of R and the top eigenvalue of ``Hess loss(theta)``."""
    theta = theta.detach()
    n = theta.numel()
    z = rademacher(probes, n, generator, theta.dtype, theta.device)
    ritz, weights = lanczos(hvp_fn(loss, theta), z, lanczos_steps)
    trace_p = n * (weights * ritz).sum(1)  # = z^T H z exactly (e_1^T T e_1 = alpha_1)
    r_p = n * (weights * log_form(ritz, lr)).sum(1)
    root = math.sqrt(probes)

    def se(x):
        return float(x.std() / root) if probes > 1 else math.nan

    return Probe(float(trace_p.mean()), se(trace_p), float(ritz.max()), float(r_p.mean()), se(r_p))


def flat_parameters(model: torch.nn.Module) -> tuple[torch.Tensor, Callable[[torch.Tensor], dict]]:
    """``(theta, unflatten)``: the model's parameters as one detached vector, and the map
    from such a vector back to ``{name: tensor}`` views for ``functional_call``."""
    named = list(model.named_parameters())
    theta = torch.cat([v.detach().flatten() for _, v in named])

    def unflatten(th: torch.Tensor) -> dict:
        out, i = {}, 0
        for name, v in named:
            out[name] = th[i : i + v.numel()].view(v.shape)
            i += v.numel()
        return out

    return theta, unflatten


def exact_hessian(loss: LossFn, theta: torch.Tensor) -> torch.Tensor:
    """The full ``(N, N)`` Hessian (for small models and tests)."""
    return torch.func.hessian(loss)(theta.detach())
