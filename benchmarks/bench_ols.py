"""Figure 1 of the label-noise SGD paper (Sec. 4): the lab's engine against a numba-compiled
per-step loop and a plain Python loop.

Workload: the 8 presets fig1-a..fig1-h, each with its noisy and noiseless chain (16 chains),
1,000,000 steps of batch 5, every 100th iterate of every chain kept (as the ``ols``
experiment stores them), on one CPU core (``torch.set_num_threads(1)``).

* engine: :class:`lab.sgd.least_squares.LeastSquaresSGD` (its compiled loop on the CPU when
  numba is installed, else maps composed in torch); also timed with ``compiled=False`` (on the CPU);
* numba: :func:`benchmarks.numba_peers.ols_sgd`, the loop a researcher writes instead
  (numba is in the ``bench`` extra: ``pip install -e '.[bench]'``; skipped without it);
  compile time excluded and reported; its noisy clouds' covariances are checked against the
  engine's (same work, different random numbers: equal within sampling error);
* naive: :func:`lab.sgd.least_squares.reference_sgd` on one chain with a fresh
  ``rng.choice(N, B, replace=False)`` per step, timed on a slice and extrapolated;
* ``--device cuda``: the engine on the GPU against the engine on one CPU core.

Engine and numba: best of ``--repeats`` (3). Prints peak RSS, ``speedup_vs_numba=<ratio>``
before the last line and ``speedup_vs_naive=<ratio>`` last.

    python benchmarks/bench_ols.py [--steps 1000000] [--quick] [--device cuda] [--engine-only]
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
from lab.experiments import ols
from lab.params import resolve_preset
from lab.sgd.least_squares import LeastSquaresSGD, reference_sgd

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


def make_engine(problems, device="cpu", compiled=None, seed: int = 0) -> LeastSquaresSGD:
    """The batched engine over the eight Figure 1 problems."""
    x, y, star, start, p = problems
    return LeastSquaresSGD(
        x,
        star,
        start,
        lr=p["lr"],
        batch=p["batch"],
        labels=y,
        device=device,
        generator=torch.Generator(device).manual_seed(seed),
        compiled=compiled,
    )


def run_engine(problems, steps: int, device="cpu", compiled=None, seed: int = 0):
    """Every kept iterate: ``(steps (T,), noisy (8, T, 2), clean (8, T, 2))`` (numpy)."""
    blocks = list(make_engine(problems, device, compiled, seed).blocks(steps, problems[4]["stride"]))
    return tuple(
        np.concatenate([getattr(b, k) for b in blocks], axis=-2 if k != "steps" else 0)
        for k in ("steps", "noisy", "clean")
    )


def run_numba(problems, steps: int, seed: int = 0):
    x, y, star, start, p = problems
    return numba_peers.ols_sgd(x, y, star, start, p["lr"], p["batch"], steps, p["stride"], seed)


def count_engine(problems, steps: int, device) -> int:
    """The engine streamed block by block (nothing kept): iterates seen per chain."""
    engine = make_engine(problems, device)
    return sum(len(b.steps) for b in engine.blocks(steps, problems[4]["stride"]))


def cloud_covariances(steps, noisy, beta_hat, stride: int) -> np.ndarray:
    """(8, 2, 2) covariance of each noisy cloud after the first tenth of the run."""
    keep = (steps >= steps[-1] // 10) & (steps % stride == 0)
    return np.stack([np.cov((noisy[k, keep] - beta_hat[k]).T) for k in range(len(noisy))])


def time_naive(problems, steps: int) -> float:
    """Seconds per chain-step of the plain loop (sampling included)."""
    x, y, _, start, p = problems
    rng = np.random.default_rng(0)
    n, b = x.shape[1], p["batch"]
    batches = (rng.choice(n, b, replace=False) for _ in range(steps))
    with Stopwatch() as w:
        reference_sgd(x[0], y[0], start[0], p["lr"], batches)
    return w.seconds / steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="steps per chain (default 1,000,000; --quick 20,000)")
    ap.add_argument("--naive-steps", type=int, default=None, help="default 20,000 (--quick 2,000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to time the engine on the GPU too")
    ap.add_argument("--quick", action="store_true", help="a small size that checks the script runs")
    ap.add_argument(
        "--engine-only",
        action="store_true",
        help="one streamed engine run, nothing kept (memory: e.g. --steps 100000000)",
    )
    args = ap.parse_args(argv)
    steps = args.steps or (20_000 if args.quick else 1_000_000)
    naive_steps = args.naive_steps or (2_000 if args.quick else 20_000)
    torch.set_num_threads(1)
    problems = figure1_problems()
    x, y, star, start, p = problems
    chains = 2 * len(PRESETS)
    what = f"Figure 1 ({len(PRESETS)} presets x noisy+noiseless x {steps:,} steps, batch {p['batch']}, stride {p['stride']})"
    if args.engine_only:
        with Stopwatch(args.device) as w:
            kept = count_engine(problems, steps, args.device)
        print(f"engine streamed: {what}: {w.seconds:.2f} s on {args.device}, {kept:,} iterates per chain")
        print(memory_line())
        print(f"figure1_wall_s={w.seconds:.3f}")
        return

    with Stopwatch() as w_eng:
        run_engine(problems, 1000)  # the first call compiles the engine's loop (or loads numba's cache)
    contenders = {"engine": lambda: run_engine(problems, steps)}
    if numba_peers.AVAILABLE:
        with Stopwatch() as w_nb:
            run_numba(problems, 1000)
        contenders["numba"] = lambda: run_numba(problems, steps)
    best = interleaved_best_of(args.repeats, contenders)  # taking turns: both see the same load
    t_engine, (k_eng, noisy, _) = best["engine"]
    compiled = LeastSquaresSGD(
        x[:1], star[:1], start[:1], lr=p["lr"], batch=p["batch"], labels=y[:1], generator=torch.Generator()
    ).compiled
    print(
        f"engine: {what}: {t_engine:.3f} s (best of {args.repeats}), 1 thread, "
        f"{'compiled loop' if compiled else 'maps composed in torch'}; {noisy.shape[1]:,} iterates kept per chain; "
        f"first call {w_eng.seconds:.2f} s (excluded)"
    )
    if args.device == "cpu":  # on a GPU machine the GPU runs this path
        t_torch, _ = best_of(1, lambda: run_engine(problems, steps, compiled=False))
        print(f"engine, maps composed in torch (compiled=False): {t_torch:.3f} s")

    beta_hat = np.stack([np.linalg.lstsq(x[k], y[k], rcond=None)[0] for k in range(len(x))])
    t_numba = None
    if numba_peers.AVAILABLE:
        t_numba, (k_nb, nb_noisy, nb_clean) = best["numba"]
        assert np.array_equal(k_nb, k_eng) and nb_noisy.shape == noisy.shape, "the peers keep different iterates"
        c_eng, c_nb = (
            cloud_covariances(k_eng, noisy, beta_hat, p["stride"]),
            cloud_covariances(k_nb, nb_noisy, beta_hat, p["stride"]),
        )
        rel = np.abs(c_eng - c_nb).max(axis=(1, 2)) / np.abs(c_nb).max(axis=(1, 2))
        print(
            f"numba per-step loop: {t_numba:.3f} s (best of {args.repeats}, in turn with the engine), "
            f"compile {w_nb.seconds:.2f} s (excluded); "
            f"noisy-cloud covariance vs the engine's: max rel. difference {rel.max():.3f} over the 8 presets "
            f"(sampling error), final noiseless distance to beta* {np.abs(nb_clean[:, -1] - star).max():.1e}"
        )
    else:
        print("numba per-step loop: skipped (numba not installed; pip install -e '.[bench]')")

    t_gpu = time_on_gpu(
        lambda dev, full: run_engine(problems, steps if full else 1000, device=dev), args.device, args.repeats
    )

    per_step = time_naive(problems, naive_steps)
    naive = per_step * chains * steps
    print(
        f"naive: {per_step * 1e6:.2f} us per chain-step over {naive_steps:,} steps; "
        f"Figure 1 extrapolated: {naive:.1f} s"
    )
    print_engine_ratios("figure1_wall_s", t_engine, t_gpu, t_numba, naive)


if __name__ == "__main__":
    main()
