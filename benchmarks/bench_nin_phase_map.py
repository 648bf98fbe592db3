"""Phase map of the linear NIN model (paper Sec. 3): the lab's batched engine against a
numba-compiled per-point loop and a per-point Python loop.

Workload: the 100 x 100 map (sigma_eps x lr) of 10,000-step runs, batch 32, every point on
the seed's shared draws, on one CPU core (``torch.set_num_threads(1)``).

* engine: :func:`lab.nin.phase_map.run_block` (:class:`lab.nin.toy.MomentStepper`; its
  compiled loop on the CPU when numba is installed, else torch ops over all points);
  also timed with ``compiled=False`` (on the CPU);
* numba: :func:`benchmarks.numba_peers.nin_phase_points`, per point the per-sample SGD
  loop on the same draws (numba is in the ``bench`` extra; skipped without it), run on
  every ``--stride``-th row and column and extrapolated to the map; compile time excluded
  and reported; its phases are compared with the engine's on those points;
* naive: :func:`lab.nin.toy.literal_run` (what ``nin-toy`` runs) on a few points;
* ``--device cuda``: the engine on the GPU against the engine on one CPU core.

Engine and numba: best of ``--repeats`` (3). Prints peak RSS, ``speedup_vs_numba=<ratio>``
before the last line and ``speedup_vs_naive=<ratio>`` last.

    python benchmarks/bench_nin_phase_map.py [--n 100] [--steps 10000] [--quick] [--device cuda] [--engine-only]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import numba_peers
from benchmarks.timing import (
    Stopwatch,
    best_of,
    interleaved_best_of,
    memory_line,
    print_engine_ratios,
    time_on_gpu,
)
from lab.nin.phase_map import draws_for, run_block
from lab.nin.toy import BLOWUP, ToyConfig, ToyDraws, classify, literal_run

BASE = dict(M=1.0, sigma_x=1.0, lr=0.01, batch=32, n_samples=1000, noise_timing="redraw", w0_0=0.1, w1_0=1.0, w_NI0=0.1)
W_INIT = (BASE["w0_0"], BASE["w1_0"], BASE["w_NI0"])


def run_map(sig, lrs, steps, device="cpu", compiled=None) -> dict:
    return run_block(BASE, "lr", lrs, sig, draws_for(BASE, "lr", lrs, seed=0), steps, device=device, compiled=compiled)


def run_numba(sig, lrs, steps) -> dict:
    """The per-point loop on every (lr, sigma_eps) pair of the given axes."""
    parts = list(draws_for(BASE, "lr", lrs, seed=0).chunks(steps))
    u = torch.cat([p[1] for p in parts]).numpy()
    z = torch.cat([p[2] for p in parts]).numpy()
    lr, se = np.meshgrid(lrs, sig, indexing="ij")
    return numba_peers.nin_phase_points(u, z, BASE["M"], BASE["sigma_x"], se.ravel(), lr.ravel(), W_INIT, BLOWUP)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="grid points per axis (default 100; --quick 20)")
    ap.add_argument("--steps", type=int, default=None, help="default 10,000 (--quick 1,000)")
    ap.add_argument("--stride", type=int, default=5, help="the numba loop runs every stride-th row and column")
    ap.add_argument("--naive-points", type=int, default=4, help="points run by the per-point Python loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to time the engine on the GPU too")
    ap.add_argument("--quick", action="store_true", help="a small size that checks the script runs")
    ap.add_argument("--engine-only", action="store_true", help="one engine run (memory: e.g. --n 200)")
    a = ap.parse_args()
    n, steps = a.n or (20 if a.quick else 100), a.steps or (1_000 if a.quick else 10_000)
    torch.set_num_threads(1)
    sig, lrs = np.geomspace(1e-3, 1e3, n), np.geomspace(1e-3, 1e-1, n)
    what = f"map {n}x{n}x{steps:,} steps"
    if a.engine_only:
        with Stopwatch(a.device) as w:
            out = run_map(sig, lrs, steps, device=a.device)
        counts = np.bincount(out["phase"].ravel(), minlength=5)[1:]
        print(
            f"engine: {what}: {w.seconds:.2f} s on {a.device} (decoupled/decay/catapult/divergent = "
            f"{'/'.join(map(str, counts))})"
        )
        print(memory_line())
        print(f"phase_map_wall_s={w.seconds:.3f}")
        return

    with Stopwatch() as w_eng:
        run_map(sig[:2], lrs[:2], 10)  # the first call compiles the engine's loop (or loads numba's cache)
    sub_sig, sub_lr = sig[:: a.stride], lrs[:: a.stride]
    contenders = {"engine": lambda: run_map(sig, lrs, steps)}
    if numba_peers.AVAILABLE:
        with Stopwatch() as w_nb:
            run_numba(sub_sig[:2], sub_lr[:2], 10)
        contenders["numba"] = lambda: run_numba(sub_sig, sub_lr, steps)
    best = interleaved_best_of(a.repeats, contenders)  # taking turns: both see the same load
    t_map, out = best["engine"]
    counts = np.bincount(out["phase"].ravel(), minlength=5)[1:]
    print(
        f"engine: {what}: {t_map:.3f} s (best of {a.repeats}), 1 thread "
        f"(decoupled/decay/catapult/divergent = {'/'.join(map(str, counts))}); first call {w_eng.seconds:.2f} s (excluded)"
    )
    if a.device == "cpu":  # on a GPU machine the GPU runs this path
        t_torch, _ = best_of(1, lambda: run_map(sig, lrs, steps, compiled=False))
        print(f"engine, torch ops over all points (compiled=False): {t_torch:.3f} s")

    t_numba = None
    if numba_peers.AVAILABLE:
        t_sub, peer = best["numba"]
        share = len(sub_sig) * len(sub_lr) / (n * n)
        t_numba = t_sub / share
        same = np.mean(classify(peer) == out["phase"][:: a.stride, :: a.stride].ravel())
        print(
            f"numba per-point loop: {t_sub:.3f} s on {len(sub_lr)}x{len(sub_sig)} points (best of {a.repeats}, "
            f"in turn with the engine) -> {t_numba:.2f} s for the map; compile {w_nb.seconds:.2f} s (excluded); "
            f"same phase as the engine on {100 * same:.1f}% of those points"
        )
    else:
        print("numba per-point loop: skipped (numba not installed; pip install -e '.[bench]')")

    t_gpu = time_on_gpu(lambda dev, full: run_map(sig, lrs, steps if full else 10, device=dev), a.device, a.repeats)

    rng = np.random.default_rng(0)
    pts = list(zip(rng.integers(0, n, a.naive_points), rng.integers(0, n, a.naive_points)))
    with Stopwatch() as w:
        for i, j in pts:
            literal_run(
                ToyConfig(1.0, 1.0, sig[j], lrs[i]), W_INIT, ToyDraws(0, BASE["n_samples"], 32, "redraw"), steps
            )
    per_point = w.seconds / len(pts)
    naive_total = per_point * n * n
    print(f"per-point Python loop: {per_point:.3f} s/point on {len(pts)} points -> {naive_total:.0f} s for the map")
    print_engine_ratios("phase_map_wall_s", t_map, t_gpu, t_numba, naive_total)


if __name__ == "__main__":
    main()
