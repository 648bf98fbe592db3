"""Command-line conventions: Ctrl-C, exit codes, per-experiment help, --version, strict
JSON, --json output, shell completion and the progress display."""

import io
import json
import math
import os
import signal
import subprocess
import sys

import h5py
import pytest
import tomllib

import lab
from lab import experiments
from lab.cli import json_text, main
from lab.experiments import Experiment
from lab.progress import ProgressDisplay

from . import fake_experiment
from .test_cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ctrl_c_cancels_the_run_with_one_line_and_exit_130(tmp_path):
    p = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "main.py"),
            "run",
            "ols",
            "--set",
            "steps=100000000",
            "--set",
            "stride=10000",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # as in a terminal
    first = p.stderr.readline()
    assert "ols" in first and "%" in first  # the first progress line: the run is going
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    [path] = [str(tmp_path / f) for f in os.listdir(tmp_path)]
    assert err.strip().splitlines() == [f"cancelled: {path} (interrupted by Ctrl-C)"]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "cancelled" and len(f["series/step"]) and f["series/step"][-1] < 100_000_000


@pytest.fixture
def fake():
    fake_experiment.install()


NAN_EXPERIMENT = Experiment(
    name="nan-summary",
    title="a summary with NaN",
    spec=fake_experiment.SPEC,
    layout=fake_experiment.layout,
    run=lambda p, ctx: {"x": math.nan, "y": [1.0, math.inf]},
)


def test_exit_codes_of_run(fake, tmp_path, capsys):
    assert main(["run", "fake", "--set", "steps=5", "--out", str(tmp_path)]) == 0
    for mode in ("fail", "nan"):  # failed, diverged: the run did not complete
        assert main(["run", "fake", "--set", f"mode={mode}", "--out", str(tmp_path)]) == 1
    assert main(["run", "fake", "--set", "steps=0", "--out", str(tmp_path)]) == 2
    assert main(["run", "fake", "--preset", "nosuch"]) == 2
    with pytest.raises(SystemExit) as e:
        main(["run", "fake", "--set", "steps"])
    assert e.value.code == 2
    assert "'steps' gives no value; write NAME=VALUE" in capsys.readouterr().err


def test_the_summary_line_is_strict_json_with_null_for_nan(tmp_path, capsys):
    experiments.register(NAN_EXPERIMENT)
    assert main(["run", "nan-summary", "--out", str(tmp_path)]) == 0
    line = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("summary: ")][0]
    assert json.loads(line[len("summary: ") :], parse_constant=lambda c: pytest.fail(c)) == {
        "x": None,
        "y": [1.0, None],
    }
    with pytest.raises(ValueError):
        json.dumps(math.nan, allow_nan=False)
    assert json_text({"a": math.nan}) == '{"a": null}'


def test_sweep_exits_1_when_a_run_did_not_complete(fake, tmp_path, capsys):
    assert main(["sweep", "fake", "--param", "steps=4,6", "--out", str(tmp_path / "ok")]) == 0
    assert main(["sweep", "fake", "--param", "steps=4,6", "--set", "mode=nan", "--out", str(tmp_path / "bad")]) == 1
    assert "sweep completed: 2 diverged" in capsys.readouterr().err  # the table of what happened
    assert main(["sweep", "fake", "--param", "steps=4", "--out", str(tmp_path / "ok")]) == 2  # not an empty folder


def test_data_and_info_and_open_exit_2_on_missing_input(tmp_path, capsys):
    assert main(["data", str(tmp_path / "nosuch")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["data", str(tmp_path)]) == 0
    assert main(["info", str(tmp_path / "missing.h5")]) == 2
    p = cli("open", "/missing.h5")  # checked before Qt is imported: no window appears
    assert p.returncode == 2 and p.stderr.strip() == "error: /missing.h5: no such file (or a symbolic link to nothing)"


def test_run_help_lists_the_experiments_parameters_and_presets(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "ols", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    sigma2 = [ln for ln in out.splitlines() if ln.strip().startswith("sigma2 ")][0]
    assert "0.5" in sigma2 and "[0, 1e+06]" in sigma2  # default and range
    assert "[1, 1e+08] steps" in out  # a unit
    assert "presets: fig1-a" in out and "--config" in out and "exit codes:" in out


def test_version_is_the_package_version():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    p = cli("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"noiselab {version}" == f"noiselab {lab.__version__}"


def test_list_and_info_speak_json(fake, tmp_path, capsys):
    assert main(["list", "ols", "--json"]) == 0
    [ols] = json.loads(capsys.readouterr().out)
    sigma2 = next(p for p in ols["parameters"] if p["name"] == "sigma2")
    assert sigma2["value"] == 0.5 and sigma2["allowed"] == "a number in [0, 1e+06]"
    assert ols["presets"]["fig1-g"] == json.loads(json.dumps(experiments.get("ols").presets["fig1-g"]))
    assert main(["run", "fake", "--set", "steps=7", "--out", str(tmp_path)]) == 0
    path = capsys.readouterr().out.strip()
    assert main(["info", path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["status"] == "completed" and info["params"]["steps"] == 7
    assert info["datasets"]["series/loss"] == {"shape": [7], "dtype": "float64"}
    assert set(info["provenance"]) >= {"command", "host", "user"}


def complete(line: str, monkeypatch) -> list[str]:
    """What argcomplete answers the shell for ``line`` (the cursor at its end)."""
    import argcomplete

    from lab.cli import build_parser

    monkeypatch.setenv("_ARGCOMPLETE", "1")
    monkeypatch.setenv("COMP_LINE", line)
    monkeypatch.setenv("COMP_POINT", str(len(line)))
    monkeypatch.setenv("_ARGCOMPLETE_IFS", "\n")

    class Finder(argcomplete.CompletionFinder):
        def _init_debug_stream(self):  # not fd 9, which pytest's faulthandler holds
            pass

    out = io.StringIO()
    with pytest.raises(SystemExit):
        Finder()(build_parser(), output_stream=out, exit_method=sys.exit)
    return sorted(w.strip() for w in out.getvalue().split("\n") if w.strip())


def test_shell_completion_of_commands_experiments_presets_and_set_names(monkeypatch):
    assert {"run", "list", "info", "sweep", "export"} <= set(complete("noiselab ", monkeypatch))
    assert complete("noiselab run ol", monkeypatch) == ["ols"]
    assert complete("noiselab run ols --preset fig1-", monkeypatch) == [f"fig1-{c}" for c in "abcdefgh"]
    assert complete("noiselab run ols --set sig", monkeypatch) == ["sigma2="]
    assert complete("noiselab run ols --set batching=", monkeypatch) == ["batching=iid", "batching=shuffle"]


def test_progress_is_a_line_per_percent_at_most_every_few_seconds_off_a_terminal():
    t = [0.0]
    out = io.StringIO()
    show = ProgressDisplay(out, label="x", interval=5.0, live=False, clock=lambda: t[0])
    for done in range(1001):  # 10 s in steps of 10 ms
        t[0] = done / 100
        show("progress", "", (done, 1000))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 3 and lines[0].startswith("x:   0%") and lines[1].startswith("x:  50%")  # t = 0, 5 s
    assert lines[2].startswith("x: 100%")  # the end is always shown


def test_progress_on_a_terminal_is_a_live_tqdm_bar():
    out = io.StringIO()
    show = ProgressDisplay(out, label="x", live=True)
    show("layout", "/tmp/run.h5", None)
    for done in range(0, 101, 10):
        show("progress", "", (done, 100))
    show.close()
    assert show.path == "/tmp/run.h5"
    assert "\r" in out.getvalue() and "100/100" in out.getvalue()
