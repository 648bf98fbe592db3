"""Kill -9 soak: N runs of ols, elr, distill and nin-phase-map killed at random moments
of their start, middle and end; every file they leave must be readable.

    PYTHONPATH=. python benchmarks/soak_kill.py [N]

Each trial forks a child (from a parent that imported everything but never ran torch)
that runs one experiment into a fresh folder; the parent waits until the run file
exists, then sends SIGKILL after a random fraction of the experiment's measured run
time: [0, 0.2) start, [0.2, 0.8) middle, [0.8, 1.05) end (past the end it has finished).
Seconds lost, for a trial whose file is shown interrupted: the kill's wall time minus
the time the last written data stands for. Network runs record their progress within
epochs and flush each record at once (``batches/time``: the wall time of each record);
their data stands for the last record, or for the last heartbeat (the last flush that
wrote data) when an epoch row or nothing at all came after it (evaluation, set-up).
ols and nin-phase-map: the last heartbeat (the phase map writes and flushes its block's
partial results every flush interval, so its last data flush is the moment its data
stands for; its ``phase_map/steps_done`` says how many steps that is). Over the files of
a trial (distill's teacher has its own), the latest. The baseline is the same run not
killed (its time sets the windows).
Last lines: ``unreadable=<k>/<N>``, ``max_lost_s=<float>``.
"""

from __future__ import annotations

import glob
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time

import numpy as np

from lab.runfile import RunFileError, read_run
from lab.runner import run_experiment

EXPERIMENTS = {
    "ols": {"steps": 1_000_000},
    "elr": {"epochs": 3, "mlp_widths": "32"},
    "distill": {"epochs": 2, "mlp_widths": "32", "pgd_steps": 0},
    # blocks of about 2 s (4 rows x 50 columns x 600,000 steps), so that kills land mid-block
    "nin-phase-map": {"n_sigma": 50, "n_y": 8, "rows_per_block": 4, "steps": 600_000},
}
PHASES = {"start": (0.0, 0.2), "middle": (0.2, 0.8), "end": (0.8, 1.05)}


def _child(name: str, values: dict, out: str) -> None:
    import torch

    torch.set_num_threads(1)
    run_experiment(name, values, out_dir=out)
    os._exit(0)


def _start(name: str, out: str) -> tuple[mp.Process, float]:
    proc = mp.get_context("fork").Process(target=_child, args=(name, EXPERIMENTS[name], out))
    proc.start()
    while not glob.glob(os.path.join(out, "*.h5")) and proc.is_alive():
        time.sleep(0.005)
    return proc, time.time()


def baseline(name: str, root: str) -> float:
    """Seconds from the run file's appearance to the end of an unkilled run."""
    out = os.path.join(root, f"base-{name}")
    proc, t0 = _start(name, out)
    proc.join()
    return time.time() - t0


def lost_seconds(paths: list[str], t_kill: float) -> float:
    """Seconds of work a kill lost, over the files of one trial (distill's teacher has
    its own file); raises RunFileError for a file that cannot be read."""
    runs = [read_run(p) for p in paths]
    if not any(r.header.interrupted for r in runs):
        return 0.0
    return t_kill - max(data_time(r) for r in runs)


def data_time(run) -> float:
    """The wall time a run's written data stands for (module docstring)."""
    beat = float(run["heartbeat"][-1])
    records, epochs = run.series("batches/time", "batches/epoch")
    if not len(records):
        return beat
    steps = run["series/step"]
    if len(steps) and steps[-1] >= np.ceil(epochs[-1]):  # an epoch row came after the last record
        return beat
    return float(records[-1])


def main(n: int) -> None:
    root = tempfile.mkdtemp(prefix="soak-")
    rng = np.random.default_rng(0)
    durations = {name: baseline(name, root) for name in EXPERIMENTS}
    print("baseline run times (s): " + ", ".join(f"{k}={v:.2f}" for k, v in durations.items()))
    unreadable, lost, worst = 0, [], ("", 0.0)
    for i in range(n):
        name = list(EXPERIMENTS)[i % len(EXPERIMENTS)]
        phase = list(PHASES)[(i // len(EXPERIMENTS)) % len(PHASES)]
        lo, hi = PHASES[phase]
        out = os.path.join(root, f"t{i:04d}")
        proc, _ = _start(name, out)
        time.sleep(float(rng.uniform(lo, hi)) * durations[name])
        t_kill = time.time()
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        paths = sorted(glob.glob(os.path.join(out, "*.h5")))
        try:
            s = lost_seconds(paths, t_kill)
        except RunFileError as e:
            unreadable += 1
            print(f"UNREADABLE {name} {phase}: {e}", flush=True)
        else:
            lost.append(s)
            if s > worst[1]:
                worst = (f"{name} {phase}", s)
        shutil.rmtree(out, ignore_errors=True)
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{n} trials, unreadable so far {unreadable}", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    print(
        f"trials checked: {len(lost) + unreadable}; worst loss: {worst[0]} {worst[1]:.2f} s "
        f"(median {np.median(lost) if lost else 0:.2f} s)"
    )
    print(f"unreadable={unreadable}/{n}")
    print(f"max_lost_s={max(lost) if lost else 0.0:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
