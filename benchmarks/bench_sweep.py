"""Per-run overhead of the sweep backends: 32 ``nin-toy`` runs through ``local`` (in this
process, and a pool of 2 processes) and ``ray`` (a local Ray instance of one CPU, timed
once the cluster is up and its worker has started), against the same 32 runs one after
another in one process with :func:`lab.runner.run_experiment`; the best of ``--rounds``
interleaved rounds counts for each.

    overhead per run = (backend wall time * parallel slots - baseline wall time) / 32

(a backend with two slots that took half the baseline's time has no overhead). With
``--two-nodes`` the Ray sweep also runs on a simulated two-node cluster (two raylets of
one CPU each on this machine, ``ray.cluster_utils.Cluster``), addressed as an existing
cluster, and prints the node each run went to. Last line: ``ray_overhead_per_run_s``.

    PYTHONPATH=$PWD python benchmarks/bench_sweep.py [--runs 32] [--steps 2000] [--rounds 3] [--two-nodes]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from lab.runner import run_experiment
from lab.sweep import LocalBackend, read_sweep, run_sweep


def timed_sweep(base: dict, grid: dict, folder: str, backend) -> float:
    t0 = time.perf_counter()
    path = run_sweep("nin-toy", base, grid, folder, backend=backend)
    dt = time.perf_counter() - t0
    assert all(r["status"] == "completed" for r in read_sweep(path).runs), path
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds; the best of each method counts")
    ap.add_argument("--two-nodes", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import ray

    from lab.sweeps.ray_backend import RayBackend

    base = {"steps": args.steps, "n_samples": 100}
    grid = {"sigma_eps": [0.5 + 0.05 * i for i in range(args.runs)]}
    n = args.runs
    root = tempfile.mkdtemp(prefix="bench-sweep-")
    run_experiment("nin-toy", base, path=os.path.join(root, "warm.h5"))  # imports and compiled kernels ready
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    warm = timed_sweep(base, {"sigma_eps": [1.0]}, os.path.join(root, "ray-warm"), RayBackend())
    print(f"ray: local instance up; its worker started and ran a first run in {warm:.1f} s")

    def one_process(folder: str) -> float:
        os.makedirs(folder)
        t0 = time.perf_counter()
        for i, s in enumerate(grid["sigma_eps"]):
            path = os.path.join(folder, f"{i}.h5")
            assert run_experiment("nin-toy", {**base, "sigma_eps": s}, path=path).status == "completed"
        return time.perf_counter() - t0

    # best of --rounds, the methods interleaved so that a changing load hits them alike
    methods = {
        "one process (baseline)": (one_process, 1),
        "local, in this process": (lambda f: timed_sweep(base, grid, f, LocalBackend(1)), 1),
        "ray, 1 CPU, cluster up": (lambda f: timed_sweep(base, grid, f, RayBackend()), 1),
    }
    best = {name: float("inf") for name in methods}
    for r in range(args.rounds):
        for name, (fn, _) in methods.items():
            best[name] = min(best[name], fn(os.path.join(root, f"{name.split(',')[0].split()[0]}-{r}")))
    ray.shutdown()
    t_base = best["one process (baseline)"]
    print(
        f"one process, {n} runs of {args.steps} steps: {t_base:.2f} s ({t_base / n * 1e3:.1f} ms a run), "
        f"best of {args.rounds}"
    )

    def report(name: str, dt: float, slots: int) -> float:
        over = (dt * slots - t_base) / n
        print(f"{name:<34} {dt:6.2f} s  x{dt / t_base:5.2f} of one process  overhead {over * 1e3:7.1f} ms a run")
        return over

    report("local, in this process", best["local, in this process"], 1)
    ray_over = report("ray, 1 CPU, cluster up", best["ray, 1 CPU, cluster up"], 1)
    report(
        "local, 2 processes (incl. spawn)", timed_sweep(base, grid, os.path.join(root, "local2"), LocalBackend(2)), 2
    )

    if args.two_nodes:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False)  # one connection: its workers are reused
            timed_sweep(
                base,
                {"sigma_eps": [1.0, 1.1, 1.2, 1.3]},
                os.path.join(root, "two-warm"),
                RayBackend(address=cluster.address),
            )
            dt = timed_sweep(base, grid, os.path.join(root, "two"), RayBackend(address=cluster.address))
            report("ray, two 1-CPU nodes", dt, 2)
            sw = read_sweep(os.path.join(root, "two"))
            per_node = collections.Counter(r["node"] for r in sw.runs)
            print("runs per node: " + ", ".join(f"{node[:12]}: {k}" for node, k in per_node.items()))
            print("node of each run: " + " ".join(r["node"][:6] for r in sw.runs))
        finally:
            ray.shutdown()
            cluster.shutdown()
    print(f"ray_overhead_per_run_s={ray_over:.4f}")


if __name__ == "__main__":
    main()
