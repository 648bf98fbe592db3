"""Average per-sample gradient norm of the network (label-noise paper, Proposition 1):

    G(theta) = 1/N sum_i ||d f(x_i, theta) / d theta||^2,

summed over the L outputs, i.e. the squared Frobenius norm of each sample's Jacobian
``(L, d)``. Computed with ``torch.func``: ``vmap`` over samples of ``jacrev`` of a
functional call, in chunks to bound memory, with the network in evaluation mode (the
function ``f`` is the network as it predicts; BatchNorm uses its running statistics).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap


def per_sample_grad_norms(model: nn.Module, x: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """``||d f(x_i, theta)/d theta||^2`` for every sample ``x_i`` (rows of ``x``), shape ``(N,)``."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def f(p, xi):
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).squeeze(0)

    jac_fn = vmap(jacrev(f), in_dims=(None, 0))
    modes = {m: m.training for m in model.modules()}  # restored one by one (a fickle teacher's dropout)
    model.eval()
    try:
        out = []
        for start in range(0, len(x), chunk):
            jac = jac_fn(params, x[start : start + chunk])
            out.append(sum(j.pow(2).flatten(1).sum(1) for j in jac.values()))
    finally:
        for m, training in modes.items():
            m.training = training
    return torch.cat(out)


def mean_grad_norm(model: nn.Module, x: torch.Tensor, chunk: int = 32) -> float:
    """``G(theta)`` on the samples ``x`` (a fixed evaluation subset)."""
    return float(per_sample_grad_norms(model, x, chunk).mean())
