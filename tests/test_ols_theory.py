"""Stationary covariance of SGD on label-noisy least squares (lab.theory.ols)."""

import itertools

import numpy as np
import pytest
import torch

from lab.sgd.least_squares import LeastSquaresSGD
from lab.theory.ols import (
    exact_covariance,
    fourth_moment_rate,
    gradient_noise_covariance,
    least_squares,
    mean_square_operator,
    mean_square_rate,
    moment_operator,
    paper_covariance,
    paper_diffusion,
    sample_covariance,
)

LR, B, N = 0.01, 5, 100


def _data(seed, var=(20.0, 20.0), sigma2=0.5, n=N):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) * np.sqrt(var)
    eps = rng.normal(size=n) * np.sqrt(sigma2)
    return x, x @ np.ones(2) + eps


def test_paper_covariance_is_lr_sigma2_over_2b():
    x, _ = _data(0, var=(10.0, 100.0))
    d = paper_diffusion(x, 0.5, LR, B)
    np.testing.assert_allclose(d @ d.T, LR * 0.5 / B * sample_covariance(x), rtol=1e-12)
    np.testing.assert_allclose(paper_covariance(x, 0.5, LR, B), LR * 0.5 / (2 * B) * np.eye(2), atol=1e-15)


@pytest.mark.parametrize("noise", ["fixed", "redraw"])
def test_exact_covariance_solves_the_stationarity_equation_by_enumeration(noise):
    """M = E[(I - lr H) M (I - lr H)] + lr^2 E[g g^T], the expectation taken by listing every
    batch of B distinct samples (checks the inclusion probabilities B/N and B(B-1)/(N(N-1)))."""
    n, b, lr, sigma2 = 7, 3, 0.05, 0.7
    x, y = _data(1, var=(3.0, 1.0), sigma2=sigma2, n=n)
    m = exact_covariance(x, y, lr, b, noise, sigma2)
    r = y - x @ least_squares(x, y)
    lhs = np.zeros((2, 2))
    subsets = list(itertools.combinations(range(n), b))
    for s in subsets:
        s = list(s)
        a = np.eye(2) - lr * x[s].T @ x[s] / b
        if noise == "fixed":
            g = x[s].T @ r[s] / b
            ggt = np.outer(g, g)
        else:  # E over fresh eps: sigma2 / b^2 sum_S x x^T
            ggt = sigma2 / b**2 * x[s].T @ x[s]
        lhs += (a @ m @ a + lr**2 * ggt) / len(subsets)
    np.testing.assert_allclose(lhs, m, rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(m) > 0)


def test_gradient_noise_has_the_finite_population_factor():
    x, y = _data(2)
    r = y - x @ least_squares(x, y)
    expect = (N - B) / (B * N * (N - 1)) * (x * r[:, None] ** 2).T @ x
    np.testing.assert_allclose(gradient_noise_covariance(x, y, B, "fixed"), expect, rtol=1e-12)
    np.testing.assert_allclose(gradient_noise_covariance(x, y, B, "redraw", 0.5), 0.5 / B * sample_covariance(x))


def test_unstable_learning_rate_has_no_stationary_covariance():
    x, y = _data(3, var=(100.0, 100.0))
    assert mean_square_rate(x, 0.01, B) < 1
    assert mean_square_rate(x, 0.05, B) > 1
    assert np.isnan(exact_covariance(x, y, 0.05, B)).all()


def _monte_carlo(x, y, noise, sigma2, chains=400, steps=6000, stride=250, burn=1000, seed=0):
    """Independent chains started at the cloud's centre; per chain the mean of e e^T over
    the kept iterates after burn-in. Returns (estimate of M, its standard error)."""
    centre = least_squares(x, y) if noise == "fixed" else np.ones(2)
    rep = lambda a: np.repeat(a[None], chains, 0)
    engine = LeastSquaresSGD(
        rep(x),
        rep(np.ones(2)),
        rep(centre),
        lr=LR,
        batch=B,
        labels=rep(y),
        noise=noise,
        sigma2=np.full(chains, sigma2),
        generator=torch.Generator().manual_seed(seed),
    )
    per_chain = []
    for block in engine.blocks(steps, stride):
        keep = (block.steps >= burn) & (block.steps % stride == 0)
        e = block.noisy[:, keep] - centre
        per_chain.append(np.einsum("cti,ctj->ctij", e, e))
    per_chain = np.concatenate(per_chain, 1).mean(1)  # (chains, 2, 2), independent across chains
    return per_chain.mean(0), per_chain.std(0, ddof=1) / np.sqrt(chains)


@pytest.mark.parametrize("noise,var", [("fixed", (20.0, 20.0)), ("fixed", (10.0, 100.0)), ("redraw", (20.0, 20.0))])
def test_exact_covariance_matches_monte_carlo(noise, var):
    """The mean of e e^T over many independent chains agrees with M within 4.5 standard
    errors, measured across chains (e_k is heavy-tailed: random products of I - lr H_k;
    these settings keep its fourth moment finite, so the standard error means something;
    at Sigma = 100 I, lr = 0.01 it is infinite), and is far from the paper's approximation."""
    sigma2 = 0.5
    x, y = _data(4, var=var, sigma2=sigma2)
    if noise == "redraw":
        y = x @ np.ones(2)
    m = exact_covariance(x, y, LR, B, noise, sigma2)
    est, se = _monte_carlo(x, y, noise, sigma2)
    z = (est - m) / se
    assert np.all(np.abs(z) < 4.5), f"M={m}\nestimate={est}\nz={z}"
    assert np.all(se[[0, 1], [0, 1]] < 0.05 * np.diag(m))  # the test has power: a few % on the variances
    paper = paper_covariance(x, sigma2, LR, B)
    assert np.max(np.abs(est - paper)[[0, 1], [0, 1]] / se[[0, 1], [0, 1]]) > 8


# -- fourth moment: heavy tails ------------------------------------------------------------
def _batch_maps(x, b, lr):
    """``A = I - lr H`` of every batch of ``b`` distinct samples, (C(n, b), 2, 2)."""
    subsets = np.array(list(itertools.combinations(range(len(x)), b)))
    xs = x[subsets]
    return np.eye(2)[None] - lr * np.einsum("sbi,sbj->sij", xs, xs) / b


@pytest.mark.parametrize("k", [2, 3, 4])
def test_moment_operator_equals_the_mean_over_every_batch(k):
    """E[A^(x)k] by listing every batch: checks the inclusion probabilities p_3, p_4 of up
    to four distinct samples and the Moebius sum over the partitions of the k positions."""
    n, b, lr = 7, 3, 0.05
    x, _ = _data(4, var=(3.0, 1.0), n=n)
    expect = np.zeros((2**k, 2**k))
    for a in _batch_maps(x, b, lr):
        t = a
        for _ in range(k - 1):
            t = np.kron(t, a)
        expect += t
    expect /= len(_batch_maps(x, b, lr))
    np.testing.assert_allclose(moment_operator(x, lr, b, k), expect, atol=1e-14)
    if k == 2:
        np.testing.assert_allclose(mean_square_operator(x, lr, b), expect, atol=1e-14)


def _mc_log_growth(x, b, lr, chains, k1, k2, seed):
    """Monte Carlo of ``log(E|e_k2|^4 / E|e_k1|^4) / (k2 - k1)`` over independent noiseless
    chains ``e_{k+1} = A_k e_k`` with uniformly random batches, unit start vectors."""
    maps = _batch_maps(x, b, lr)
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(chains, 2))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    m = {}
    for k in range(1, k2 + 1):
        e = np.einsum("cij,cj->ci", maps[rng.integers(len(maps), size=chains)], e)
        if k in (k1, k2):
            m[k] = np.mean(np.sum(e * e, axis=1) ** 2)
    return np.log(m[k2] / m[k1]) / (k2 - k1)


@pytest.mark.parametrize("n, b, lr, above, tol", [(8, 4, 0.1, False, 0.004), (20, 18, 0.34, True, 0.01)])
def test_fourth_moment_rate_is_the_growth_of_e4(n, b, lr, above, tol):
    """The rate against 200,000 chains over steps 5 to 25, one case below 1 and one above
    1, the latter with a stationary covariance (mean-square rate < 1) but a growing E|e|^4.
    Each tolerance is well inside the distance to the square of the mean-square rate."""
    x = np.random.default_rng(3).normal(size=(n, 2)) * np.sqrt([1.0, 4.0])
    rate, rate2 = fourth_moment_rate(x, lr, b), mean_square_rate(x, lr, b)
    assert (rate > 1.0) == above and rate2 < 1.0
    assert abs(np.log(rate) - 2 * np.log(rate2)) > 2.5 * tol
    growth = _mc_log_growth(x, b, lr, 200_000, 5, 25, seed=0)
    assert abs(growth - np.log(rate)) < tol, (growth, np.log(rate))
