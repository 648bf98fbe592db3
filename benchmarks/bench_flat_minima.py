"""10^6 steps of the flat-minima default (the sparse model, d 100, n 40, full-batch label
noise, lr 0.01): the compiled kernel of :mod:`lab.flatmin.sparse` (draws made in blocks
with torch generators) against the plain per-step torch loop of the same update
(:func:`lab.flatmin.sparse.reference_steps`), which is timed on ``--naive-steps`` and
scaled to 10^6. Both start from the same point with the same draws; their iterates agree
(checked on the naive run's steps).

    python benchmarks/bench_flat_minima.py [--steps 1000000] [--naive-steps 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.experiments import flat_minima as fm
from lab.flatmin import regulariser, sparse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--naive-steps", type=int, default=20_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    p = fm.SPEC.defaults()
    prob = sparse.draw_problem(p["d"], p["n"], p["k"], 10, torch.Generator().manual_seed(p["seed"]))
    lam = regulariser.strength(p["lr"], p["delta"] ** 2, p["batch"])
    reg = sparse.reg_factor(p["method"], lam, prob.s)

    def draws():
        return sparse.Draws(p["method"], p["n"], p["batch"], p["delta"], p["noise_form"], seed=1)

    theta0 = np.full(2 * p["d"], p["alpha"])
    sparse.run_block(theta0.copy(), prob, p["lr"], reg, draws(), 10)  # compile (or load the cache)
    # agreement on the naive run's steps
    fast = theta0.copy()
    sparse.run_block(fast, prob, p["lr"], reg, draws(), args.naive_steps)
    idx, eps = draws().block(args.naive_steps)
    x, y = torch.as_tensor(prob.x), torch.as_tensor(prob.y)
    t0 = time.perf_counter()
    slow = sparse.reference_steps(
        torch.as_tensor(theta0), x, y, p["lr"], torch.as_tensor(reg), idx, eps, args.naive_steps
    )
    t_naive = (time.perf_counter() - t0) * args.steps / args.naive_steps
    np.testing.assert_allclose(fast, slow.numpy(), rtol=1e-8, atol=1e-10)

    theta, dr = theta0.copy(), draws()
    t0 = time.perf_counter()
    done = 0
    while done < args.steps:
        block = min(fm.MAX_BLOCK, args.steps - done)
        sparse.run_block(theta, prob, p["lr"], reg, dr, block)
        done += block
    t_fast = time.perf_counter() - t0
    beta = theta[: p["d"]] ** 2 - theta[p["d"] :] ** 2
    print(
        f"compiled kernel {t_fast:.2f} s for {args.steps:,} steps (draws included); "
        f"|beta - theta*| = {np.linalg.norm(beta - prob.theta_star):.3f}"
    )
    print(f"per-step torch  {t_naive:.1f} s for {args.steps:,} steps (timed on {args.naive_steps:,}, scaled)")
    print(f"speedup_vs_naive={t_naive / t_fast:.2f}")


if __name__ == "__main__":
    main()
