"""Phase map of the linear NIN model: the batched tensor program against a per-point
Python loop.

Runs the full 100 x 100 map of 10,000-step runs (sigma_eps x lr) as one program
(:func:`lab.nin.phase_map.run_block`), then the per-sample SGD loop
(:func:`lab.nin.toy.literal_run`, what ``nin-toy`` runs) on a slice of points with the same
draws, and compares the time per point. Last line: ``speedup_vs_naive=<float>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.nin.phase_map import draws_for, run_block  # noqa: E402
from lab.nin.toy import ToyConfig, ToyDraws, literal_run  # noqa: E402

BASE = dict(M=1.0, sigma_x=1.0, lr=0.01, batch=32, n_samples=1000, noise_timing="redraw",
            w0_0=0.1, w1_0=1.0, w_NI0=0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="grid points per axis")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--naive-points", type=int, default=4, help="points run by the per-point loop")
    a = ap.parse_args()
    sig, lrs = np.geomspace(1e-3, 1e3, a.n), np.geomspace(1e-3, 1e-1, a.n)
    t = time.perf_counter()
    out = run_block(BASE, "lr", lrs, sig, draws_for(BASE, "lr", lrs, seed=0), a.steps)
    t_map = time.perf_counter() - t
    counts = np.bincount(out["phase"].ravel(), minlength=5)[1:]
    print(f"map {a.n}x{a.n}x{a.steps} steps: {t_map:.2f} s "
          f"(decoupled/decay/catapult/divergent = {'/'.join(map(str, counts))})")
    rng = np.random.default_rng(0)
    pts = [(int(i), int(j)) for i, j in zip(rng.integers(0, a.n, a.naive_points), rng.integers(0, a.n, a.naive_points))]
    t = time.perf_counter()
    for i, j in pts:
        literal_run(ToyConfig(1.0, 1.0, sig[j], lrs[i]), (0.1, 1.0, 0.1), ToyDraws(0, 1000, 32, "redraw"), a.steps)
    per_point = (time.perf_counter() - t) / len(pts)
    naive_total = per_point * a.n * a.n
    print(f"per-point loop: {per_point:.3f} s/point on {len(pts)} points -> {naive_total:.0f} s for the map")
    print(f"speedup_vs_naive={naive_total / t_map:.1f}")


if __name__ == "__main__":
    main()
