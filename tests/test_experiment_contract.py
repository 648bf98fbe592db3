"""The experiment contract: what the registry accepts, what every experiment refuses before
a file exists, one layout per run, and nested runs that cancel together."""

import dataclasses
import os
import threading

import pytest
import torch

from lab import experiments
from lab.experiments import Experiment, ExperimentError
from lab.experiments.base import conform
from lab.params import Param, ParamError, Spec
from lab.runfile import read_header
from lab.runner import run_experiment
from tests import fake_experiment

#: for every family, a parameter set its check refuses, and the parameter the message names
REFUSED = {
    "ols": ({"N": 10, "batch": 20}, "batch"),
    "nin-toy": ({"device": "cuda"}, "device"),
    "nin-phase-map": ({"sigma_eps_min": 10.0, "sigma_eps_max": 1.0}, "sigma_eps_max"),
    "nin-mlp": ({"mlp_widths": [8], "nin_layer": 1}, "nin_layer"),
    "elr": ({"dataset": "cifar10", "data_root": "/nonexistent/data"}, "data_root"),
    "distill": ({"method": "fickle-teacher", "teacher_dropout": 0.0}, "teacher_dropout"),
    "supervised": ({"dataset": "gaussian", "model": "resnet20"}, "model"),
    "flat-minima": ({"d": 10, "k": 20}, "k"),
}
FAMILIES = sorted(experiments._discover())  # the families of the package, not those tests register


def test_every_family_has_a_refused_case():
    assert sorted(REFUSED) == FAMILIES


@pytest.mark.parametrize("name", FAMILIES)
def test_check_refuses_before_a_file_exists_and_names_the_parameter(name, tmp_path):
    values, param = REFUSED[name]
    if values.get("device") == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the device check passes")
    exp = experiments.get(name)
    with pytest.raises(ParamError) as e:
        exp.validate(values)
    assert e.value.name == param
    with pytest.raises(ParamError) as e:
        run_experiment(name, values, out_dir=str(tmp_path / "runs"))
    assert e.value.name == param and param in str(e.value)
    assert not os.path.exists(tmp_path / "runs")


def test_the_registry_refuses_what_does_not_meet_the_contract():
    with pytest.raises(ExperimentError, match="lacks .*spec.*layout.*run"):
        conform(object(), "tests.somewhere")
    spec = Spec(Param("steps", "int", 1, low=1))
    no_seed = Experiment("no-seed", "t", spec, layout=lambda p: [], run=lambda p, c: {})
    with pytest.raises(ExperimentError, match="'seed' and 'device'"):
        experiments.register(no_seed)
    bad_preset = dataclasses.replace(fake_experiment.EXPERIMENT, name="bad-preset", presets={"big": {"steps": 0}})
    with pytest.raises(ExperimentError, match="preset 'big' of 'bad-preset'.*steps"):
        experiments.register(bad_preset)
    assert "no-seed" not in experiments.registry() and "bad-preset" not in experiments.registry()


def test_layout_is_computed_once_per_run_and_announced_first(tmp_path):
    calls = []

    def layout(params):
        calls.append(params["steps"])
        return fake_experiment.layout(params)

    experiments.register(dataclasses.replace(fake_experiment.EXPERIMENT, name="counted", layout=layout))
    events = []
    res = run_experiment(
        "counted",
        {"steps": 20},
        out_dir=str(tmp_path),
        listeners=[lambda kind, name, payload: events.append((kind, name, payload))],
    )
    assert res.status == "completed" and calls == [20]
    kind, name, start = events[0]
    assert (kind, name) == ("layout", res.path) and sum(k == "layout" for k, _, _ in events) == 1
    assert set(start.arrays) == {"series/step", "series/loss", "data/x"} and start.header.status == "running"


def _nest_run(params, ctx):
    """A parent that trains a slow child first, like distillation's teacher."""
    child = ctx.child_run("fake", {"steps": params["steps"], "mode": "slow"}, tag="child", share=0.25)
    ctx.summary["child"] = child.path
    ctx.check_cancel()
    for k in range(params["steps"]):
        ctx.log(k, loss=1.0)
        ctx.progress(k + 1, params["steps"])
    return ctx.summary


NEST = dataclasses.replace(fake_experiment.EXPERIMENT, name="nest", run=_nest_run)


def test_nested_runs_report_progress_over_both_phases(tmp_path):
    experiments.register(NEST)
    fake_experiment.install()
    progress = []
    res = run_experiment(
        "nest", {"steps": 40}, out_dir=str(tmp_path), listeners=[lambda k, n, p: k == "progress" and progress.append(p)]
    )
    assert res.status == "completed"
    child = read_header(res.summary["child"])
    assert child.status == "completed" and os.path.dirname(child.path) == str(tmp_path)
    # the child fills the first quarter of the bar, the parent's own 40 steps the rest
    fractions = [d / t for d, t in progress]
    assert len(progress) == 80 and fractions == sorted(fractions)
    assert fractions[:40] == pytest.approx([0.25 * (k + 1) / 40 for k in range(40)])
    assert fractions[40:] == pytest.approx([0.25 + 0.75 * (k + 1) / 40 for k in range(40)], abs=0.01)
    assert progress[-1][0] == progress[-1][1]


def test_cancelling_a_parent_during_its_child_cancels_both(tmp_path):
    experiments.register(NEST)
    fake_experiment.install()
    cancel = threading.Event()

    def cancel_once_the_child_runs(kind, name, payload):
        if kind == "child" and payload[0] == "progress" and payload[2][0] >= 5:
            cancel.set()

    res = run_experiment(
        "nest", {"steps": 100_000}, out_dir=str(tmp_path), cancel_event=cancel, listeners=[cancel_once_the_child_runs]
    )
    assert res.status == "cancelled"
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2 and any("child" in f for f in files)
    statuses = {f: read_header(str(tmp_path / f)).status for f in files}
    assert set(statuses.values()) == {"cancelled"}
    child = next(str(tmp_path / f) for f in files if "child" in f)
    from lab.runfile import read_run

    assert 5 <= len(read_run(child)["series/step"]) < 100_000  # stopped mid-way, rows kept
    assert len(read_run(res.path)["series/step"]) == 0  # the parent never started its own rows


def test_a_training_run_imports_the_optimizer_stack_before_its_file_exists(tmp_path):
    """A kill during the ~1.4 s torch.optim's first optimizer spends importing must not
    fall after the file exists (it would lose that time): the runner imports the
    experiment's ``preload`` first."""
    import subprocess
    import sys

    script = (
        "import os, sys, glob\n"
        "import lab.runfile as rf\n"
        "seen = []\n"
        "orig = rf.RunWriter.__init__\n"
        "def init(self, *a, **k):\n"
        "    seen.append('torch._dynamo' in sys.modules)\n"
        "    orig(self, *a, **k)\n"
        "rf.RunWriter.__init__ = init\n"
        "from lab.runner import run_experiment\n"
        "run_experiment('supervised', {'epochs': 1, 'dataset': 'gaussian', 'gaussian_train': 64, 'gaussian_test': 32},"
        f" out_dir={str(tmp_path)!r})\n"
        "print(seen)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "[True]"
