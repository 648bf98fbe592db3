"""The GPU paths against the CPU paths on small inputs (skipped without CUDA): the OLS
engine on the very draws of a CPU run, the NIN phase map on the seed's shared draws, one
training step in float32, the bf16 + channels_last defaults and torch.compile."""

import numpy as np
import pytest
import torch

from lab.models import build_model
from lab.nin.phase_map import draws_for, run_block
from lab.runner import run_experiment
from lab.sgd.least_squares import Draws, LeastSquaresSGD
from lab.theory.ols import exact_covariance, least_squares

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _problems(p=3, n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(p, n, 2)) * np.sqrt([30.0, 5.0])
    star = rng.normal(size=(p, 2))
    y = np.einsum("pni,pi->pn", x, star) + rng.normal(size=(p, n))
    return x, star, y, rng.normal(size=(p, 2))


@pytest.mark.parametrize("noise", ["fixed", "redraw"])
def test_ols_engine_on_the_gpu_replays_the_cpu_run(noise):
    x, star, y, start = _problems()
    kw = dict(lr=0.02, batch=4, labels=y, noise=noise, sigma2=[0.3, 1.0, 2.0], block_steps=300)
    cpu = LeastSquaresSGD(x, star, start, generator=torch.Generator().manual_seed(5), **kw)
    gpu = LeastSquaresSGD(x, star, start, generator=torch.Generator("cuda").manual_seed(5), device="cuda", **kw)
    assert not gpu.compiled
    record = []
    ref = list(cpu.blocks(2000, 150, record=record))  # 150: chunks split into pieces and padded
    got_noisy, got_clean = [], []
    for draws in record:
        moved = Draws(draws.idx.cuda(), None if draws.eps is None else draws.eps.cuda(), draws.chunk)
        noisy, clean = gpu.advance(moved)
        got_noisy.append(noisy.cpu().numpy())
        got_clean.append(clean.cpu().numpy())
    np.testing.assert_allclose(
        np.concatenate(got_noisy, 1), np.concatenate([b.noisy for b in ref[1:]], 1), rtol=0, atol=1e-10
    )
    np.testing.assert_allclose(
        np.concatenate(got_clean, 1), np.concatenate([b.clean for b in ref[1:]], 1), rtol=0, atol=1e-10
    )


def test_ols_engine_on_the_gpu_has_the_exact_covariance():
    x, _, y, _ = _problems(p=1, n=60, seed=2)
    chains, lr, b = 400, 0.01, 5
    bhat = least_squares(x[0], y[0])
    rep = lambda a: np.repeat(a, chains, 0)
    eng = LeastSquaresSGD(
        rep(x),
        rep(np.ones((1, 2))),
        rep(bhat[None]),
        lr=lr,
        batch=b,
        labels=rep(y),
        generator=torch.Generator("cuda").manual_seed(0),
        device="cuda",
    )
    per_chain = []
    for block in eng.blocks(6000, 250):
        keep = (block.steps >= 1000) & (block.steps % 250 == 0)
        e = block.noisy[:, keep] - bhat
        per_chain.append(np.einsum("cti,ctj->ctij", e, e))
    per_chain = np.concatenate(per_chain, 1).mean(1)
    est, se = per_chain.mean(0), per_chain.std(0, ddof=1) / np.sqrt(chains)
    m = exact_covariance(x[0], y[0], lr, b)
    assert np.all(np.abs(est - m) < 4.5 * se), f"M={m}\nestimate={est}\nse={se}"
    assert np.all(np.diag(se) < 0.05 * np.diag(m))


def test_phase_map_on_the_gpu_equals_the_cpu_map():
    base = dict(
        M=1.0, sigma_x=1.0, lr=0.01, batch=32, n_samples=500, noise_timing="redraw", w0_0=0.1, w1_0=1.0, w_NI0=0.1
    )
    lrs, sig = np.geomspace(1e-3, 1e-1, 6), np.geomspace(1e-3, 1e3, 12)
    maps = [
        run_block(base, "lr", lrs, sig, draws_for(base, "lr", lrs, seed=1), 1000, device=d) for d in ("cpu", "cuda")
    ]
    assert len(set(maps[0]["phase"].ravel())) >= 3
    assert np.mean(maps[0]["phase"] == maps[1]["phase"]) >= 0.97  # rounding may flip a point on a boundary
    same = (maps[0]["phase"] == maps[1]["phase"]) & ~np.isfinite(maps[0]["blowup_step"])
    for k in ("loss_max", "wni_max", "loss_final"):
        np.testing.assert_allclose(maps[1][k][same], maps[0][k][same], rtol=1e-6, atol=1e-300)


def _one_step(device, channels_last=False, bf16=False):
    """Loss, weights before and after one SGD step of a small Wide ResNet on a fixed batch."""
    torch.manual_seed(0)
    model = build_model("wrn-16-1", (3, 32, 32), 10).to(device)
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    y = torch.arange(16).remainder(10).to(device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    flat = lambda: torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])
    before = flat()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return float(loss.detach()), before, flat()


def test_one_training_step_on_the_gpu_equals_the_cpu_step(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # float32 means float32 here
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    loss_cpu, w0, w_cpu = _one_step("cpu")
    loss_gpu, w0_gpu, w_gpu = _one_step("cuda")
    torch.testing.assert_close(w0_gpu, w0)  # the same start
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4)
    torch.testing.assert_close(w_gpu - w0, w_cpu - w0, rtol=1e-3, atol=1e-6)
    # the defaults on CUDA (bf16 autocast, channels_last): the same step to bf16 precision
    # (on the CPU, bf16 autocast gives cos 0.97 for this first step)
    loss_fast, _, w_fast = _one_step("cuda", channels_last=True, bf16=True)
    assert loss_fast == pytest.approx(loss_cpu, rel=3e-2)
    assert torch.nn.functional.cosine_similarity(w_fast - w0, w_cpu - w0, dim=0) > 0.9


def test_compiled_training_learns_and_reports_its_warm_up(tmp_path):
    res = run_experiment(
        "supervised",
        {
            "dataset": "digits",
            "model": "cnn",
            "device": "cuda",
            "compile": True,
            "epochs": 3,
            "lr": 0.1,
            "batch": 64,
            "schedule": "constant",
        },
        out_dir=str(tmp_path),
    )
    assert res.status == "completed", res.error
    assert res.summary["test_acc"] > 0.5
    assert res.summary["compile_warmup_s"] > 0
