"""Logit noise for noisy self-distillation: moments of the Gaussian noise and the
symmetric swap's two properties (label-noise paper, section 5)."""

import math

import pytest
import torch

from lab.distill.logit_noise import gaussian_logit_noise, selection_rate, symmetric_logit_swap


def test_gaussian_logit_noise_has_zero_mean_and_the_set_variance():
    g = torch.Generator().manual_seed(1)
    logits = torch.linspace(-3, 3, 10).expand(50_000, 10)
    sigma2 = 2.5
    eps = gaussian_logit_noise(logits, sigma2, g) - logits
    n = eps.numel()
    assert abs(float(eps.mean())) < 4 * math.sqrt(sigma2 / n)
    # sampling sd of the variance estimate is sigma2 sqrt(2/n)
    assert abs(float(eps.var()) - sigma2) < 4 * sigma2 * math.sqrt(2 / n)
    # independent across dimensions: the off-diagonal covariance is ~0
    cov = torch.cov(eps.T)
    off = cov - torch.diag(torch.diag(cov))
    assert float(off.abs().max()) < 5 * sigma2 / math.sqrt(eps.shape[0])


def test_gaussian_noise_is_fresh_every_call():
    g = torch.Generator().manual_seed(2)
    y = torch.zeros(4, 10)
    assert not torch.equal(gaussian_logit_noise(y, 1.0, g), gaussian_logit_noise(y, 1.0, g))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1.0])
def test_symmetric_swap_keeps_the_multiset_and_matches_the_expectation(p):
    g = torch.Generator().manual_seed(3)
    n_rows, L = 40_000, 10
    y = torch.randn(L, generator=g) * 3
    out = symmetric_logit_swap(y.expand(n_rows, L), p, g)
    # every row is a permutation of the clean logits
    assert torch.equal(out.sort(dim=1).values, y.sort().values.expand(n_rows, L))
    # E[y~_l] = (1-p) y_l + p/(L-1) sum_{m != l} y_m, within 4 standard errors
    expected = (1 - p) * y + p / (L - 1) * (y.sum() - y)
    se = out.std(dim=0) / math.sqrt(n_rows) + 1e-9
    assert torch.all((out.mean(dim=0) - expected).abs() < 4 * se)
    # each value leaves its dimension with probability p
    moved = (out != y).float().mean()
    assert abs(float(moved) - p) < 4 * math.sqrt(p * (1 - p) / (n_rows * L)) + 1e-9


def test_symmetric_swap_with_p_zero_is_the_identity():
    y = torch.randn(7, 5)
    assert torch.equal(symmetric_logit_swap(y, 0.0), y)


def test_selection_rate_solves_the_move_probability():
    for L in (2, 3, 10, 100):
        for p in (0.05, 0.5, 0.99):
            q = selection_rate(p, L)
            assert q * (1 - (1 - q) ** (L - 1)) == pytest.approx(p, abs=1e-12)
    with pytest.raises(ValueError, match="p=1.5"):
        selection_rate(1.5, 10)
