"""Figure 1 of the label-noise SGD paper (Sec. 4) with the batched engine against a plain loop.

Fast path: the 8 presets fig1-a..fig1-h, each with its noisy and noiseless chain (16 chains),
1,000,000 steps of batch 5, in one :class:`lab.sgd.least_squares.LeastSquaresSGD` (every
100th iterate kept, as the ``ols`` experiment stores them). Baseline: the step-by-step loop
:func:`lab.sgd.least_squares.reference_sgd` on one chain with a fresh
``rng.choice(N, B, replace=False)`` per step, timed on a slice and extrapolated to the
16,000,000 chain-steps of the figure. The fast path is timed with the default number of
torch threads and with one (on a shared machine extra threads can cost more than they
give); the ratio uses the faster. Prints ``speedup_vs_naive=<ratio>`` last.

    python benchmarks/bench_ols.py [--steps 1000000] [--naive-steps 20000]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.experiments import ols  # noqa: E402
from lab.params import resolve_preset  # noqa: E402
from lab.sgd.least_squares import LeastSquaresSGD, reference_sgd  # noqa: E402

PRESETS = [f"fig1-{c}" for c in "abcdefgh"]


def figure1_problems(seed: int = 0):
    """x (8, N, 2), noisy labels (8, N), beta* (8, 2), start (8, 2) and the shared settings."""
    xs, ys, stars, starts = [], [], [], []
    for name in PRESETS:
        p = resolve_preset(ols.SPEC, ols.PRESETS, name, {"seed": seed})
        x, eps = ols.draw_data(p, torch.Generator().manual_seed(seed))
        star = np.asarray(p["beta_star"], np.float64)
        xs.append(x), ys.append(x @ star + eps), stars.append(star), starts.append(p["start"])
    return np.stack(xs), np.stack(ys), np.stack(stars), np.asarray(starts, np.float64), p


def time_fast(problems, steps: int, threads: int) -> tuple[float, float, int]:
    x, y, star, start, p = problems
    torch.set_num_threads(threads)
    engine = LeastSquaresSGD(x, star, start, lr=p["lr"], batch=p["batch"], labels=y,
                             generator=torch.Generator().manual_seed(0))
    t0, c0 = time.perf_counter(), time.process_time()
    kept = sum(len(b.steps) for b in engine.blocks(steps, p["stride"]))
    return time.perf_counter() - t0, time.process_time() - c0, kept


def time_naive(problems, steps: int) -> float:
    """Seconds per chain-step of the plain loop (sampling included)."""
    x, y, star, start, p = problems
    rng = np.random.default_rng(0)
    n, b = x.shape[1], p["batch"]
    batches = (rng.choice(n, b, replace=False) for _ in range(steps))
    t0 = time.perf_counter()
    reference_sgd(x[0], y[0], start[0], p["lr"], batches)
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--naive-steps", type=int, default=20_000)
    args = ap.parse_args(argv)
    problems = figure1_problems()
    chains = 2 * len(PRESETS)
    default_threads = torch.get_num_threads()
    best = None
    for threads in sorted({default_threads, 1}, reverse=True):
        wall, cpu, kept = time_fast(problems, args.steps, threads)
        print(f"fast: Figure 1 ({len(PRESETS)} presets x noisy+noiseless x {args.steps:,} steps, batch 5): "
              f"wall {wall:.2f} s, cpu {cpu:.2f} s, {threads} torch thread(s), {kept} iterates kept per chain")
        best = wall if best is None else min(best, wall)
    per_step = time_naive(problems, args.naive_steps)
    naive = per_step * chains * args.steps
    print(f"naive: {per_step * 1e6:.2f} us per chain-step over {args.naive_steps:,} steps; "
          f"Figure 1 extrapolated: {naive:.1f} s")
    print(f"figure1_wall_s={best:.3f}")
    print(f"speedup_vs_naive={naive / best:.1f}")


if __name__ == "__main__":
    main()
