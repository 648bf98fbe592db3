"""What a kill -9 can lose: network runs record their progress within every epoch
(``batches/*``) and the phase map its block's partial results (``phase_map/steps_done``),
so a run killed mid-epoch or mid-block keeps all but about a second of its work
(the writer's flush interval is 0.5 s: a record is made and flushed every 0.5 s, so the
bound asserted, 3 s, leaves room for a loaded machine).

Each kill test runs the experiment in a child process whose steps are slowed by a sleep
(no numbers change), waits for the child to report the step to kill after, kills it with
SIGKILL a random moment later and reads what the file kept."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from lab.context import Pacer, RunContext
from lab.data import load_data
from lab.experiments import get
from lab.models import model_from_params
from lab.nin.phase_map import draws_for, run_block
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.training import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT)
#: most seconds of work a kill may lose (the contract: about 1 s; slack for a loaded machine)
BOUND_S = 3.0
NET = {"dataset": "digits", "mlp_widths": [32], "batch": 32, "epochs": 2, "device": "cpu"}

#: argv: experiment, values (JSON), out folder, seconds of sleep per progress call, n.
#: Prints "at <done> <time>" for each progress call (optimisation steps of the student, or
#: of the teacher it trains first; steps of the phase map's rows) and "ready" once done >= n.
CHILD = textwrap.dedent("""
    import json, sys, time
    from lab import context
    from lab.runner import run_experiment

    name, values, out, pause, need = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
    progress = context.RunContext.progress

    def slow(self, done, total):
        time.sleep(pause)
        progress(self, done, total)

    context.RunContext.progress = slow
    said = []

    def listen(kind, name, payload):
        if kind == "progress":
            print("at", payload[0], time.time(), flush=True)
            if payload[0] >= need and not said:
                said.append(1)
                print("ready", flush=True)

    run_experiment(name, values, out_dir=out, listeners=[listen])
""")


def _kill_in(out, name, values, pause, need, seed):
    """Run ``name`` in a child, kill it a random 0.8-2 s after its progress reaches ``need``;
    returns (kill time, the child's progress lines as (done, time))."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, name, json.dumps(values), str(out), str(pause), str(need)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:  # blocks until the child reports; ends if the child dies
        lines.append(line.split())
        if line.startswith("ready"):
            break
    assert lines and lines[-1] == ["ready"], f"the child ended before step {need}: {proc.communicate()[1][-2000:]}"
    time.sleep(float(np.random.default_rng(seed).uniform(0.8, 2.0)))  # the moment of the kill
    t_kill = time.time()
    proc.kill()
    rest, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill: make it longer"
    lines += [line.split() for line in rest.splitlines()]
    return t_kill, [(int(w[1]), float(w[2])) for w in lines if w[0] == "at"]


def _runs(out):
    return {p: read_run(os.path.join(out, p)) for p in sorted(os.listdir(out)) if p.endswith(".h5")}


def _assert_kept_to_within_the_bound(run, t_kill):
    """The last within-epoch record is of epoch 1, unfinished (the kill came 1.3-2.5 s into
    an epoch of about 4.3 s), and was made less than BOUND_S before the kill."""
    assert run.header.display_status == "interrupted"
    t, epoch, loss, step = run.series("batches/time", "batches/epoch", "batches/loss", "batches/step")
    assert 0 < epoch[-1] < 1 and list(run["series/step"]) == [0]
    assert t_kill - BOUND_S < t[-1] <= t_kill
    assert np.all(np.diff(step) > 0) and np.all(np.diff(epoch) > 0) and np.all(np.isfinite(loss))


#: seconds of sleep per batch: an epoch of digits' 43 batches of 32 takes about 4.3 s
PAUSE = 0.1
#: the kill comes 0.8-2 s after this optimisation step, 5 batches into epoch 1
MID_EPOCH_1 = 5


@pytest.mark.parametrize("name", ["elr", "distill"])
def test_a_network_run_killed_mid_epoch_keeps_its_progress_to_within_a_second(tmp_path, name):
    values = dict(NET, **({"pgd_steps": 0} if name == "distill" else {}))
    t_kill, _ = _kill_in(tmp_path, name, values, PAUSE, MID_EPOCH_1, seed=len(name))
    runs = {r.header.experiment: r for r in _runs(tmp_path).values()}
    if name == "distill":  # killed while its teacher trains: the teacher's file holds the progress
        assert sorted(runs) == ["distill", "supervised"] and runs["distill"].header.display_status == "interrupted"
        assert len(runs["distill"]["batches/time"]) == 0
        name = "supervised"
    _assert_kept_to_within_the_bound(runs[name], t_kill)


def test_a_distill_student_killed_mid_epoch_keeps_its_progress_with_its_teacher_file(tmp_path):
    teacher = run_experiment("supervised", dict(NET, epochs=1), out_dir=str(tmp_path / "teacher"))
    assert teacher.status == "completed", teacher.error
    out = tmp_path / "student"
    values = dict(NET, pgd_steps=0, teacher=teacher.path)
    t_kill, _ = _kill_in(out, "distill", values, PAUSE, MID_EPOCH_1, seed=3)
    (run,) = _runs(out).values()
    assert run.header.attrs["teacher_path"] == teacher.path
    _assert_kept_to_within_the_bound(run, t_kill)


def test_a_phase_map_killed_mid_block_keeps_the_block_so_far_to_within_a_second(tmp_path):
    values = {"n_sigma": 6, "n_y": 6, "rows_per_block": 3, "steps": 60_000, "seed": 4}
    t_kill, at = _kill_in(tmp_path, "nin-phase-map", values, 0.1, 1, seed=4)
    (run,) = _runs(tmp_path).values()
    assert run.header.display_status == "interrupted"
    done = run["phase_map/steps_done"]  # killed 0.8-2 s into the first block (6 s long)
    assert 0 < done[0] < values["steps"] and np.all(done[:3] == done[0]) and np.all(done[3:] == 0)
    # the work the file holds is a moment the child reported, less than BOUND_S before the kill
    when = dict(at)[int(done.sum())]
    assert t_kill - when < BOUND_S
    # a block's partial results are exactly a run of that many steps (the same draws)
    p = get("nin-phase-map").validate(values)
    y, sig = run["phase_map/y"][:3], run["phase_map/sigma_eps"]
    short = run_block(p, p["y_param"], y, sig, draws_for(p, p["y_param"], run["phase_map/y"], p["seed"]), int(done[0]))
    for k in ("loss0", "loss_max", "loss_final", "wni_max", "wni_final", "decay_step", "blowup_step"):
        np.testing.assert_array_equal(run[f"phase_map/{k}"][:3], short[k], err_msg=k)
        assert np.all(np.isnan(run[f"phase_map/{k}"][3:])), k  # rows not started
    assert np.all(run["phase_map/phase"] == 0)  # pending until the block ends


def test_partial_results_of_a_block_are_what_a_shorter_run_gives():
    p = get("nin-phase-map").validate({"n_sigma": 5, "n_y": 3, "steps": 5000})
    y, sig = np.geomspace(1e-3, 1e-1, 3), np.geomspace(1e-2, 1e2, 5)
    seen = {}
    full = run_block(
        p, "lr", y, sig, draws_for(p, "lr", y, 0), 5000, on_chunk=lambda done, partial: seen.update({done: partial()})
    )
    assert sorted(seen) == [1000, 2000, 3000, 4000, 5000]
    for done in (2000, 5000):
        short = full if done == 5000 else run_block(p, "lr", y, sig, draws_for(p, "lr", y, 0), done)
        for k, v in seen[done].items():
            np.testing.assert_array_equal(v, short[k], err_msg=f"{k} at {done}")


def _train(interval, params):
    """Per-epoch rows and ``batches/*`` records of a short run, recording every
    ``interval`` seconds (0: after every batch), and the batches per epoch."""
    rows = {}
    ctx = RunContext(None, device=torch.device("cpu"), seed=0)
    ctx.listeners.append(
        lambda kind, name, payload: rows.setdefault(name, []).extend(payload) if kind == "append" else 0
    )
    ctx.pacer = lambda: Pacer(interval)
    torch.manual_seed(0)
    data = load_data(params, "cpu")
    trainer = Trainer(model_from_params(params, data), data, params, ctx, save_weights=False)
    trainer.fit()
    return {k: np.asarray(v) for k, v in rows.items()}, trainer.steps_per_epoch


def test_within_epoch_records_change_no_number_and_end_each_epoch_at_its_mean_loss():
    params = get("supervised").validate(dict(NET, epochs=3))
    (never, spe), (every, _) = _train(math.inf, params), _train(0.0, params)
    assert spe > 10
    for k in (k for k in never if k.startswith("series/") and k != "series/epoch_time"):
        np.testing.assert_array_equal(every[k], never[k], err_msg=k)
    assert len(never["batches/step"]) == 3  # one record at the end of each epoch
    np.testing.assert_array_equal(never["batches/epoch"], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(never["batches/loss"], never["series/loss"][1:], rtol=1e-12)
    assert len(every["batches/step"]) == 3 * spe + 3  # after every batch, and again at each epoch's end
    np.testing.assert_array_equal(every["batches/step"][: spe + 1], [*range(1, spe + 1), spe])
    np.testing.assert_allclose(every["batches/epoch"][:spe], np.arange(1, spe + 1) / spe)
