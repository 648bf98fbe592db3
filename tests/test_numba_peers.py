"""The numba peers the benchmarks time the engines against do the same work: the same
kept iterates and, on different random numbers, the same statistics within sampling error."""

import numpy as np
import pytest
import torch

from benchmarks import numba_peers
from lab.experiments import ols
from lab.nin.phase_map import draws_for, run_block
from lab.nin.toy import BLOWUP, classify
from lab.params import resolve_preset
from lab.sgd.least_squares import LeastSquaresSGD
from lab.theory.ols import exact_covariance, least_squares

pytestmark = pytest.mark.skipif(not numba_peers.AVAILABLE, reason="numba is not installed")


def _batch_means(e, batches=20):
    """Mean of e e^T over rows of e (T, 2) and its standard error from contiguous batch means."""
    prods = np.einsum("ti,tj->tij", e, e)
    n = len(prods) // batches * batches
    means = prods[:n].reshape(batches, -1, 2, 2).mean(1)
    return prods.mean(0), means.std(0, ddof=1) / np.sqrt(batches)


def test_numba_ols_peer_has_the_engines_covariance():
    p = resolve_preset(ols.SPEC, ols.PRESETS, "fig1-a", {"seed": 0})
    x, eps = ols.draw_data(p, torch.Generator().manual_seed(0))
    star = np.asarray(p["beta_star"])
    y = x @ star + eps
    steps, stride, burn = 400_000, 100, 10_000
    start = least_squares(x, y)  # start on the cloud: no long burn-in
    keep, nb_noisy, nb_clean = numba_peers.ols_sgd(
        x[None], y[None], star[None], start[None], p["lr"], p["batch"], steps, stride, seed=1
    )
    eng = LeastSquaresSGD(
        x[None],
        star[None],
        start[None],
        lr=p["lr"],
        batch=p["batch"],
        labels=y[None],
        generator=torch.Generator().manual_seed(1),
    )
    blocks = list(eng.blocks(steps, stride))
    np.testing.assert_array_equal(np.concatenate([b.steps for b in blocks]), keep)  # the same iterates kept
    eng_noisy = np.concatenate([b.noisy for b in blocks], 1)[0]
    use = (keep >= burn) & (keep % stride == 0)
    m = exact_covariance(x, y, p["lr"], p["batch"])
    (c_nb, se_nb), (c_eng, se_eng) = (_batch_means(n[use] - start) for n in (nb_noisy[0], eng_noisy))
    assert np.all(np.abs(c_nb - c_eng) < 4.5 * np.hypot(se_nb, se_eng)), f"numba {c_nb}\nengine {c_eng}"
    for est, se in ((c_nb, se_nb), (c_eng, se_eng)):  # both are the exact covariance, and the test has power
        assert np.all(np.abs(est - m) < 4.5 * se)
        assert np.all(np.diag(se) < 0.1 * np.diag(m))
    # the noiseless chain started at beta_hat reaches beta*
    assert np.abs(nb_clean[0, -1] - star).max() < 1e-8


def test_numba_phase_map_peer_gives_the_engines_phases():
    base = dict(
        M=1.0, sigma_x=1.0, lr=0.01, batch=32, n_samples=500, noise_timing="redraw", w0_0=0.1, w1_0=1.0, w_NI0=0.1
    )
    lrs, sig, steps = np.array([0.005, 0.02]), np.geomspace(1e-2, 1e3, 9), 1500
    draws = draws_for(base, "lr", lrs, seed=4)
    out = run_block(base, "lr", lrs, sig, draws, steps)
    parts = list(draws.chunks(steps))
    u, z = (torch.cat([q[i] for q in parts]).numpy() for i in (1, 2))
    lr, se = np.meshgrid(lrs, sig, indexing="ij")
    peer = numba_peers.nin_phase_points(u, z, 1.0, 1.0, se.ravel(), lr.ravel(), (0.1, 1.0, 0.1), BLOWUP)
    assert len(set(out["phase"].ravel())) >= 3
    np.testing.assert_array_equal(classify(peer), out["phase"].ravel())
    alive = ~np.isfinite(peer["blowup_step"])
    np.testing.assert_array_equal(peer["decay_step"][alive], out["decay_step"].ravel()[alive])
    np.testing.assert_allclose(peer["loss_max"][alive], out["loss_max"].ravel()[alive], rtol=1e-9)
