"""Hessian probes as one batched HVP program (lab.flatmin.hessian: ``vjp`` of ``grad``
vmapped over all probe vectors, Lanczos on the batch) against

* a loop over probes, one HVP (``torch.autograd.grad`` twice) per probe and Lanczos step,
  on a CIFAR ResNet-20 (a batch of CIFAR-shaped inputs), same probes and steps;
* the exact Hessian trace (``torch.func.hessian``) of a small MLP, with the Hutchinson
  estimate's agreement within its standard error.

Prints the times and, last, ``hvp_batched_speedup_vs_probe_loop=<ratio>`` (ResNet-20).

    python benchmarks/bench_hessian_probe.py [--device auto] [--probes 4] [--lanczos 5] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.flatmin.hessian import exact_hessian, flat_parameters, hvp_fn, lanczos, probe, rademacher
from lab.models import build_model


def flat_loss(model, x, y, loss="ce"):
    buffers = dict(model.named_buffers())
    theta, unflatten = flat_parameters(model)

    def fn(th):
        f = torch.func.functional_call(model, (unflatten(th), buffers), (x,))
        return F.cross_entropy(f, y) if loss == "ce" else 0.5 * ((f - y) ** 2).sum(1).mean()

    return fn, theta


def loop_hvp(fn, theta):
    """One probe at a time: double backward per vector (the naive way)."""
    th = theta.detach().requires_grad_(True)
    g = torch.autograd.grad(fn(th), th, create_graph=True)[0]

    def hvp(v):
        return torch.stack([torch.autograd.grad(g, th, vi, retain_graph=True)[0] for vi in v])

    return hvp


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--lanczos", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    torch.manual_seed(0)
    # -- exact trace of a small MLP against Hutchinson
    mlp = build_model("mlp", (8,), 3, widths=[16], activation="tanh").double().to(device).eval()
    x = torch.randn(64, 8, dtype=torch.float64, device=device)
    fn, theta = flat_loss(mlp, x, torch.randint(0, 3, (64,), device=device))
    sync(device)
    t0 = time.perf_counter()
    exact = float(exact_hessian(fn, theta).trace())
    sync(device)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    est = probe(fn, theta, 0.1, 64, 1, torch.Generator(device).manual_seed(0))
    sync(device)
    t_hutch = time.perf_counter() - t0
    print(
        f"small MLP ({theta.numel()} parameters): exact trace {exact:.4f} in {t_exact:.3f} s; Hutchinson "
        f"(64 probes) {est.trace:.4f} ± {est.trace_se:.4f} in {t_hutch:.3f} s "
        f"({abs(est.trace - exact) / est.trace_se:.2f} s.e. apart); exact/Hutchinson time {t_exact / t_hutch:.2f}"
    )
    # -- ResNet-20: the batched program against a loop over probes
    net = build_model("resnet20", (3, 32, 32), 10).to(device).eval()
    xb = torch.randn(args.batch, 3, 32, 32, device=device)
    fn, theta = flat_loss(net, xb, torch.randint(0, 10, (args.batch,), device=device))
    z = rademacher(args.probes, theta.numel(), torch.Generator(device).manual_seed(1), theta.dtype, device)
    lanczos(hvp_fn(fn, theta), z[:1], 2)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    ritz_b, _ = lanczos(hvp_fn(fn, theta), z, args.lanczos)
    sync(device)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    ritz_l, _ = lanczos(loop_hvp(fn, theta), z, args.lanczos)
    sync(device)
    t_loop = time.perf_counter() - t0
    agree = float((ritz_b.max() - ritz_l.max()).abs() / ritz_l.max().abs())
    print(
        f"ResNet-20 ({theta.numel():,} parameters, batch {args.batch}, {args.probes} probes x {args.lanczos} "
        f"Lanczos steps) on {device}: batched {t_batched:.2f} s, probe loop {t_loop:.2f} s; top eigenvalue "
        f"{float(ritz_b.max()):.4g} (relative difference {agree:.1e})"
    )
    print(f"hvp_batched_speedup_vs_probe_loop={t_loop / t_batched:.2f}")


if __name__ == "__main__":
    main()
