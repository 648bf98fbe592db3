"""The ``ols`` experiment end to end: batched engine, run file, science, statuses."""

import os
import threading

import h5py
import numpy as np
import pytest
import torch

import lab.sgd.least_squares as engine_mod
from lab.experiments import ols
from lab.params import ParamError, resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.sgd.batches import BatchSampler
from lab.sgd.least_squares import LeastSquaresSGD, reference_sgd
from lab.theory.ols import exact_covariance, least_squares


def values(**over):
    return resolve_preset(ols.SPEC, ols.PRESETS, None, over)


def run(tmp_path, **over):
    return run_experiment("ols", values(**over), out_dir=str(tmp_path))


def batch_means(e: np.ndarray, batches: int = 20):
    """Mean of e e^T over the rows of e (T, 2) and its standard error from ``batches``
    contiguous batch means (robust to the autocorrelation of a single chain)."""
    prods = np.einsum("ti,tj->tij", e, e)
    n = len(prods) // batches * batches
    means = prods[:n].reshape(batches, -1, 2, 2).mean(1)
    return prods.mean(0), means.std(0, ddof=1) / np.sqrt(batches)


# -- the engine ------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", ["fixed", "redraw"])
@pytest.mark.parametrize("batching", ["iid", "shuffle"])
@pytest.mark.parametrize("seq_steps,compiled", [(128, False), (3, False), (128, True), (3, True)])
def test_engine_equals_step_by_step_loop(noise, batching, seq_steps, compiled, monkeypatch):
    """Both engines (maps composed in torch; the compiled loop) against the plain loop on
    the very draws they used; seq_steps=3 splits chunks into pieces and pads them."""
    if compiled and not engine_mod.loops.AVAILABLE:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(engine_mod, "SEQ_STEPS", seq_steps)
    rng = np.random.default_rng(0)
    p, n, d = 3, 40, 2
    x = rng.normal(size=(p, n, d)) * np.sqrt([30.0, 5.0])
    star = rng.normal(size=(p, d))
    y = np.einsum("pni,pi->pn", x, star) + rng.normal(size=(p, n))
    start = rng.normal(size=(p, d))
    eng = LeastSquaresSGD(
        x,
        star,
        start,
        lr=0.02,
        batch=4,
        labels=y,
        noise=noise,
        sigma2=[0.3, 1.0, 2.0],
        batching=batching,
        generator=torch.Generator().manual_seed(5),
        block_steps=60,
        compiled=compiled,
    )
    record = []
    blocks = list(eng.blocks(737, 13, record=record))
    steps = np.concatenate([b.steps for b in blocks])
    np.testing.assert_array_equal(steps, eng.kept_steps(737, 13))
    assert steps[0] == 0 and steps[-1] == 737 and np.all(steps[:14] == np.arange(14))
    noisy = np.concatenate([b.noisy for b in blocks], 1)
    clean = np.concatenate([b.clean for b in blocks], 1)
    idx, eps = (
        torch.cat(t, 1).numpy() if t[0] is not None else None for t in zip(*(r.in_time_order() for r in record))
    )
    assert idx.shape == (p, 737, 4)
    for k in range(p):
        labels = y[k] if noise == "fixed" else x[k] @ star[k]
        ref = reference_sgd(x[k], labels, start[k], 0.02, idx[k], None if eps is None else eps[k])
        ref_clean = reference_sgd(x[k], x[k] @ star[k], start[k], 0.02, idx[k])
        np.testing.assert_allclose(noisy[k], ref[steps], rtol=0, atol=1e-12)
        np.testing.assert_allclose(clean[k], ref_clean[steps], rtol=0, atol=1e-12)


@pytest.mark.skipif(not engine_mod.loops.AVAILABLE, reason="numba is not installed")
def test_compiled_loop_and_torch_maps_give_the_same_run_from_a_seed():
    """Both paths draw the same random numbers in the same order: one seed, one run."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 30, 2)) * np.sqrt([30.0, 5.0])
    star, start = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    y = np.einsum("pni,pi->pn", x, star) + rng.normal(size=(2, 30))
    runs = [
        list(
            LeastSquaresSGD(
                x, star, start, lr=0.02, batch=3, labels=y, compiled=c, generator=torch.Generator().manual_seed(9)
            ).blocks(5000, 7)
        )
        for c in (True, False)
    ]
    for key in ("noisy", "clean"):
        a, b = (np.concatenate([getattr(blk, key) for blk in r], 1) for r in runs)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_iid_batches_are_distinct_and_uniform():
    gen = torch.Generator().manual_seed(0)
    for n, b in ((20, 5), (20, 15)):  # rejection sampling; permutation heads
        idx = BatchSampler(n, b, generator=gen).iid(20000).long()
        assert all(len(set(row)) == b for row in idx.tolist())
        counts = np.bincount(idx.reshape(-1).numpy(), minlength=n)
        expect = idx.numel() / n
        chi2 = ((counts - expect) ** 2 / expect).sum()
        assert chi2 < 55  # 19 degrees of freedom: p ~ 3e-5


def test_shuffled_epochs_visit_every_sample_once():
    s = BatchSampler(22, 5, generator=torch.Generator().manual_seed(0))
    idx = torch.cat([s.shuffled(2, 7), s.shuffled(2, 13)], 1)  # epochs run on across calls
    epochs = idx.reshape(2, 5, 4 * 5)  # 22 // 5 = 4 batches per epoch, 2 samples left out
    for chain in epochs.tolist():
        for epoch in chain:
            assert len(set(epoch)) == 20


# -- the experiment --------------------------------------------------------------------------
def test_run_file_layout_and_the_science(tmp_path):
    res = run(tmp_path, steps=200_000)
    assert res.status == "completed"
    r = read_run(res.path)
    x, y, star, bhat = r["data/x"], r["data/y"], r["data/beta_star"], r["data/beta_hat"]
    assert x.shape == (100, 2) and y.shape == (100,)
    np.testing.assert_allclose(bhat, least_squares(x, y), atol=1e-12)
    np.testing.assert_allclose(np.cov(x.T), [[20, 0], [0, 20]], atol=8)  # Sigma = 20 I
    steps, noisy, clean = r.series("series/step", "series/beta_noisy", "series/beta_clean")
    assert steps[-1] == 200_000 and noisy.shape == clean.shape == (len(steps), 2)
    np.testing.assert_array_equal(noisy[0], [0, 0])
    np.testing.assert_array_equal(clean[0], [0, 0])
    # noiseless SGD reaches beta*
    assert np.abs(clean[-1] - star).max() < 1e-6
    # the paper's approximation is recorded beside the exact covariance
    np.testing.assert_allclose(r["theory/cov_paper"], 0.01 * 0.5 / 10 * np.eye(2), atol=1e-15)
    m = r["theory/cov_exact"]
    np.testing.assert_allclose(m, exact_covariance(x, y, 0.01, 5, "fixed", 0.5), rtol=1e-12)
    # the stored noisy cloud: covariance M about beta_hat
    burn = int(r.header.attrs["burn_in_steps"])
    keep = (steps >= burn) & (steps % 100 == 0)
    est, se = batch_means(noisy[keep] - bhat)
    assert np.all(np.abs(est - m) < 4.5 * se), f"M={m}\nestimate={est}\nse={se}"
    assert np.all(np.diag(se) < 0.1 * np.diag(m))
    cov = np.array(r.header.summary["cov_empirical"])
    np.testing.assert_allclose(cov, np.cov((noisy[keep]).T), rtol=1e-9)
    np.testing.assert_allclose(r["stats/cov_noisy"][-1], cov, rtol=1e-12)
    a = r.header.attrs
    for key in ("conventions", "note_labels", "note_cov_exact", "note_cov_paper", "note_start"):
        assert a[key]
    assert "1/2 (x_i.beta - y_i)^2" in a["conventions"]


def _cloud_mean(r):
    steps, noisy = r.series("series/step", "series/beta_noisy")
    keep = (steps >= int(r.header.attrs["burn_in_steps"])) & (steps % 100 == 0)
    e = noisy[keep]
    n = len(e) // 20 * 20
    means = e[:n].reshape(20, -1, 2).mean(1)
    return e.mean(0), means.std(0, ddof=1) / np.sqrt(20), e


def test_fixed_noise_cloud_sits_at_beta_hat_redrawn_noise_at_beta_star(tmp_path):
    """Fixed noise: the cloud is centred on beta_hat, many standard errors from beta*.
    Redrawn noise: centred on beta*, with the covariance of the redraw equation."""
    fixed = read_run(run(tmp_path, steps=200_000, sigma2=2.0).path)
    mean, se, _ = _cloud_mean(fixed)
    bhat, star = fixed["data/beta_hat"], fixed["data/beta_star"]
    assert np.all(np.abs(mean - bhat) < 4.5 * se)
    assert np.max(np.abs(bhat - star) / se) > 8

    redraw = read_run(run(tmp_path, steps=200_000, sigma2=2.0, noise="redraw").path)
    x, y = redraw["data/x"], redraw["data/y"]
    np.testing.assert_allclose(y, x @ redraw["data/beta_star"], atol=1e-12)
    np.testing.assert_allclose(redraw["data/beta_hat"], redraw["data/beta_star"], atol=1e-12)
    mean, se, e = _cloud_mean(redraw)
    assert np.all(np.abs(mean - redraw["data/beta_star"]) < 4.5 * se)
    m = redraw["theory/cov_exact"]
    np.testing.assert_allclose(m, exact_covariance(x, y, 0.01, 5, "redraw", 2.0), rtol=1e-12)
    est, se2 = batch_means(e - redraw["data/beta_star"])
    assert np.all(np.abs(est - m) < 4.5 * se2)
    assert "fresh eps" in redraw.header.attrs["note_labels"]


def test_shuffle_says_what_its_theory_is(tmp_path):
    r = read_run(run(tmp_path, steps=2000, batching="shuffle").path)
    assert "approximation" in r.header.attrs["note_cov_exact"]


def test_same_seed_same_numbers(tmp_path):
    a, b, c = (read_run(run(tmp_path, steps=3000, seed=s).path) for s in (7, 7, 8))
    np.testing.assert_array_equal(a["series/beta_noisy"], b["series/beta_noisy"])
    np.testing.assert_array_equal(a["data/x"], b["data/x"])
    assert not np.array_equal(a["data/x"], c["data/x"])


@pytest.mark.parametrize(
    "name,value,allowed",
    [
        ("lr", 0.0, "[1e-08, 10]"),
        ("lr", -1.0, "[1e-08, 10]"),
        ("batch", 0, "[1,"),
        ("x_cov", [1.0, 1.0, 2.0], "positive-definite"),
        ("x_cov", [0.0, 1.0, 0.0], "positive-definite"),
        ("batch", 101, "[1, N=100]"),
        ("noise", "sometimes", "fixed, redraw"),
        ("stride", 1, "[2, 2500000]"),
    ],
)
def test_bad_parameters_are_refused_before_any_file(tmp_path, name, value, allowed):
    over = {name: value, **({"steps": 5_000_000} if name == "stride" else {})}
    with pytest.raises(ParamError) as err:
        run(tmp_path, **over)
    assert f"'{name}'" in str(err.value) and allowed in str(err.value)
    assert not os.path.exists(tmp_path) or not os.listdir(tmp_path)


def test_diverging_learning_rate_ends_diverged_with_what_was_written(tmp_path):
    res = run(tmp_path, x_cov=[100.0, 100.0, 0.0], lr=0.05, steps=20_000)
    assert res.status == "diverged" and 0 < res.diverged_step <= 20_000
    r = read_run(res.path)
    assert r.header.status == "diverged" and r.header.diverged_step == res.diverged_step
    steps, noisy = r.series("series/step", "series/beta_noisy")
    assert len(steps) > 1 and steps[-1] < res.diverged_step
    assert np.isfinite(noisy).all()
    assert np.isnan(r["theory/cov_exact"]).all() and r.header.summary["ms_rate"] > 1


def test_cancel_ends_cancelled_and_keeps_rows(tmp_path):
    stop = threading.Event()

    def listener(kind, name, payload):
        if kind == "progress" and payload[0] > 0:
            stop.set()

    res = run_experiment(
        "ols", values(steps=5_000_000, stride=1000), out_dir=str(tmp_path), cancel_event=stop, listeners=[listener]
    )
    assert res.status == "cancelled"
    r = read_run(res.path)
    steps = r["series/step"]
    assert len(steps) > 1000 and steps[-1] < 5_000_000 // 10  # stopped after an early block
    assert len(r["series/beta_noisy"]) == len(steps)
    with h5py.File(res.path, "r") as f:
        assert f.attrs["status"] == "cancelled"


# -- error bars ------------------------------------------------------------------------------
def test_standard_error_covers_the_exact_covariance(tmp_path):
    """20 seeds with a fourth-moment rate < 1: the batch-means se stored with the empirical
    covariance gives 95% simultaneous intervals (t quantile, Bonferroni over the three
    entries) that contain the exact M in at least 18 of the 20 runs."""
    from scipy.stats import t as student_t

    covered = []
    for seed in range(20):
        res = run(tmp_path, steps=20_000, stride=4, seed=seed)
        s = res.summary
        assert s["fourth_moment_rate"] < 1 and "cov_error_bar" not in s
        emp, se, m = (np.asarray(s[k]) for k in ("cov_empirical", "cov_empirical_se", "cov_exact"))
        q = student_t.ppf(1 - 0.05 / 6, s["cov_batches"] - 1)
        entries = ([0, 0, 1], [0, 1, 1])
        covered.append(bool(np.all(np.abs(emp - m)[entries] <= q * se[entries])))
        assert s["cov_ess"] > 0
    r = read_run(res.path)
    np.testing.assert_allclose(r["stats/cov_noisy_se"][-1], se, rtol=1e-12)
    assert sum(covered) >= 18, covered


def test_heavy_tailed_chain_says_its_covariance_has_no_error_bar(tmp_path):
    """fig1-g, seed 8: stationary (mean-square rate < 1) but E|e|^4 grows, so no se."""
    from lab.theory.ols import fourth_moment_rate, mean_square_rate

    res = run_experiment(
        "ols", resolve_preset(ols.SPEC, ols.PRESETS, "fig1-g", {"steps": 5000, "seed": 8}), out_dir=str(tmp_path)
    )
    r = read_run(res.path)
    x, s = r["data/x"], r.header.summary
    rate4 = fourth_moment_rate(x, 0.01, 5)
    assert mean_square_rate(x, 0.01, 5) < 1 < rate4
    assert float(r["theory/fourth_moment_rate"]) == pytest.approx(rate4, rel=1e-12) == s["fourth_moment_rate"]
    for text in (s["cov_error_bar"], r.header.attrs["note_heavy_tail"]):
        assert "no finite error bar" in text
    assert np.isnan(np.asarray(s["cov_empirical_se"], dtype=float)).all() and np.isnan(r["stats/cov_noisy_se"]).all()
