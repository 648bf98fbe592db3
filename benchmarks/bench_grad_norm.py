"""The average per-sample gradient norm ``1/N sum_i ||d f(x_i)/d theta||^2`` (summed over
the L outputs): ``torch.func`` (vmap of jacrev, chunked; lab.distill.grad_norm) against a
Python loop over samples and outputs with one autograd.grad each, for the digits MLP
(256 samples of 8x8) or a small CNN on CIFAR-shaped inputs (64 samples). Both give the
same numbers (checked); the loop is the naive way.

Prints both times and, last, ``grad_norm_speedup_vs_loop=<ratio>``.

    python benchmarks/bench_grad_norm.py [--model mlp|cnn] [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.distill.grad_norm import per_sample_grad_norms
from lab.models import build_model


def loop_norms(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    params = list(model.parameters())
    out = []
    for xi in x:
        f = model(xi.unsqueeze(0)).squeeze(0)
        total = torch.zeros((), device=x.device)
        for l in range(f.shape[0]):
            grads = torch.autograd.grad(f[l], params, retain_graph=True)
            total = total + sum(g.pow(2).sum() for g in grads)
        out.append(total)
    return torch.stack(out)


def timed(fn, device) -> tuple[float, torch.Tensor]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    torch.manual_seed(0)
    shape, n = ((1, 8, 8), 256) if args.model == "mlp" else ((3, 32, 32), 64)
    model = build_model(args.model, shape, 10, widths=[256]).to(device)
    x = torch.randn(n, *shape, device=device)
    per_sample_grad_norms(model, x[:4])  # warm-up
    loop_norms(model, x[:2])
    t_fast, fast = timed(lambda: per_sample_grad_norms(model, x), device)
    t_loop, slow = timed(lambda: loop_norms(model, x), device)
    assert torch.allclose(fast, slow, rtol=1e-3), (fast[:4], slow[:4])
    print(f"torch.func      {t_fast:.3f} s for {n} samples, {args.model}, on {device}")
    print(f"loop            {t_loop:.3f} s")
    print(f"grad_norm_speedup_vs_loop={t_loop / t_fast:.2f}")


if __name__ == "__main__":
    main()
