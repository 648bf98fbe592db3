"""The per-sample network gradient norm via torch.func equals a loop over samples."""

import pytest
import torch
from torch import nn

from lab.distill.grad_norm import mean_grad_norm, per_sample_grad_norms


def _loop(model, x):
    model.eval()
    params = list(model.parameters())
    out = []
    for xi in x:
        f = model(xi.unsqueeze(0)).squeeze(0)
        total = 0.0
        for l in range(f.shape[0]):
            grads = torch.autograd.grad(f[l], params, retain_graph=True)
            total += sum(float(g.pow(2).sum()) for g in grads)
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def test_per_sample_grad_norm_equals_a_loop_over_samples():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Tanh(), nn.Linear(7, 3)).double()
    model.train()
    model(torch.randn(32, 5, dtype=torch.float64))  # move the running statistics off their init
    x = torch.randn(11, 5, dtype=torch.float64)
    got = per_sample_grad_norms(model, x, chunk=4)
    assert got.shape == (11,)
    assert model.training  # the mode is restored
    model[1].eval()
    per_sample_grad_norms(model, x)
    assert model.training and not model[1].training  # module by module
    assert torch.allclose(got, _loop(model, x), rtol=1e-10)
    assert mean_grad_norm(model, x) == pytest.approx(float(_loop(model, x).mean()), rel=1e-10)


def test_linear_model_grad_norm_is_closed_form():
    # f(x) = W x + b with L outputs: ||df/dtheta||^2 = L (||x||^2 + 1)
    model = nn.Linear(4, 3).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    assert torch.allclose(per_sample_grad_norms(model, x), 3 * (x.pow(2).sum(1) + 1))
