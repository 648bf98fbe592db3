"""Sweep runner: grid parsing, one run file per point, the sweep file, the CLI."""

import os

import numpy as np
import pytest

from lab import experiments
from lab.cli import main as cli_main
from lab.params import ParamError
from lab.runfile import read_run
from lab.sweep import SweepError, grid_points, parse_values, read_sweep, run_sweep

SPEC = experiments.get("nin-toy").spec
SMALL = {"steps": 300, "n_samples": 100}


def test_parse_values_lists_ranges_and_errors():
    assert parse_values(SPEC, "sigma_eps=0.1,1,10") == ("sigma_eps", [0.1, 1.0, 10.0])
    name, vals = parse_values(SPEC, "lr=log:0.001:0.1:3")
    assert name == "lr" and np.allclose(vals, [1e-3, 1e-2, 1e-1])
    assert parse_values(SPEC, "batch=lin:1:3:3") == ("batch", [1, 2, 3])
    with pytest.raises(ParamError, match="noise_timing"):
        parse_values(SPEC, "noise_timing=1,2")  # not numeric
    with pytest.raises(ParamError, match="lr"):
        parse_values(SPEC, "lr=0.1,-1")  # out of range
    with pytest.raises(ParamError, match="nope"):
        parse_values(SPEC, "nope=1,2")  # unknown
    for bad in ("lin:1:2:-1", "lin:1:2:0", "log:1:2", "lin:1:2:3:4"):
        with pytest.raises(ParamError, match="count n >= 1"):
            parse_values(SPEC, f"sigma_eps={bad}")  # no count, or one that is not positive
    assert grid_points({"a": [1, 2], "b": [3, 4]}) == [
        {"a": 1, "b": 3},
        {"a": 1, "b": 4},
        {"a": 2, "b": 3},
        {"a": 2, "b": 4},
    ]


def test_three_values_give_three_runs_and_a_sweep_file(tmp_path):
    seen = []
    path = run_sweep(
        "nin-toy",
        SMALL,
        {"sigma_eps": [0.01, 3.0, 300.0]},
        str(tmp_path / "s"),
        on_run=lambda e, done, total: seen.append((done, total)),
    )
    sw = read_sweep(str(tmp_path / "s"))
    assert sw.path == path and sw.status == "completed" and sw.swept == ["sigma_eps"]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert [r["status"] for r in sw.runs] == ["completed", "completed", "diverged"]
    np.testing.assert_allclose(sw.column("sigma_eps"), [0.01, 3.0, 300.0])
    for r in sw.runs:
        run = read_run(r["path"])
        assert run.header.params["sigma_eps"] == r["values"]["sigma_eps"]
        assert run.header.params["steps"] == 300
        assert r["summary"]["phase"] == run.header.summary["phase"]
    assert "loss_final" in sw.summary_keys()
    with pytest.raises(SweepError, match="exists"):
        run_sweep("nin-toy", SMALL, {"sigma_eps": [1.0]}, str(tmp_path / "s"))


def test_cli_sweep_in_parallel_processes(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli_main(
        [
            "sweep",
            "nin-toy",
            "--param",
            "sigma_eps=0.5,2",
            "--param",
            "lr=0.01,0.02",
            "--set",
            "steps=200",
            "--jobs",
            "2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out.strip().endswith("sweep.json")
    sw = read_sweep(str(out / "sweep.json"))
    assert len(sw.runs) == 4 and all(r["status"] == "completed" for r in sw.runs)
    assert {(r["values"]["sigma_eps"], r["values"]["lr"]) for r in sw.runs} == {
        (0.5, 0.01),
        (0.5, 0.02),
        (2.0, 0.01),
        (2.0, 0.02),
    }
    assert all(os.path.exists(r["path"]) for r in sw.runs)


def test_a_missing_device_fails_before_the_sweep_file_is_made(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParamError, match="no CUDA device"):
        run_sweep("nin-toy", {**SMALL, "device": "cuda"}, {"sigma_eps": [1.0, 2.0]}, str(tmp_path / "d"))
    assert not os.path.exists(tmp_path / "d" / "sweep.json")  # the folder stays usable


def test_read_sweep_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"a": 1}')
    with pytest.raises(SweepError, match="not a Noise Lab sweep"):
        read_sweep(str(p))
    with pytest.raises(SweepError, match="no such"):
        read_sweep(str(tmp_path / "missing.json"))


def test_cancel_stops_the_run_going_and_marks_the_sweep_cancelled(tmp_path):
    import threading

    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    # a first run of 3e5 steps takes ~30 s: only a cancel that reaches the run ends it early
    path = run_sweep(
        "nin-toy",
        {"steps": 300_000, "n_samples": 100},
        {"sigma_eps": [1.0, 2.0]},
        str(tmp_path / "c"),
        cancel_event=cancel,
    )
    timer.join()
    sw = read_sweep(path)
    assert sw.status == "cancelled"
    assert [r["status"] for r in sw.runs] == ["cancelled", "pending"]
    assert read_run(sw.runs[0]["path"]).header.status == "cancelled"
    assert 0 < len(read_run(sw.runs[0]["path"])["series/step"]) < 300_000


def test_read_sweep_names_a_damaged_entry(tmp_path):
    p = tmp_path / "sweep.json"
    p.write_text('{"format": "noiselab-sweep", "format_version": 1, "experiment": "nin-toy"}')
    with pytest.raises(SweepError, match="damaged.*runs"):
        read_sweep(str(p))


@pytest.mark.parametrize(
    "text, says",
    [
        ("[1, 2]", "not a Noise Lab sweep"),
        ('{"format": "noiselab-sweep", "format_version": "1"}', "'format_version' is '1'"),
        (
            '{"format": "noiselab-sweep", "format_version": 1, "experiment": "ols", "params": {}, "swept": [], '
            '"grid": {}, "status": "done", "runs": [{"path": 3, "values": {}}]}',
            "run 0 lacks a path",
        ),
        (
            '{"format": "noiselab-sweep", "format_version": 1, "experiment": "ols", "params": [], "swept": [], '
            '"grid": {}, "status": "done", "runs": ["x"]}',
            r"params \(dict\)",
        ),
        ("[" * 100000, "not a JSON sweep file"),
    ],
)
def test_malformed_sweep_files_get_a_message(tmp_path, text, says):
    p = tmp_path / "sweep.json"
    p.write_text(text)
    with pytest.raises(SweepError, match=says):
        read_sweep(str(p))


def test_sweep_grids_and_folders_that_cannot_work_are_refused_before_anything_runs(tmp_path):
    from lab.experiments import get

    spec = get("nin-toy").spec
    with pytest.raises(ParamError, match="finite numbers"):
        parse_values(spec, "sigma_eps=lin:nan:1:3")
    with pytest.raises(ParamError, match="at most 10,000 values"):
        parse_values(spec, "sigma_eps=lin:1:1e8:1e8")  # refused before 1e8 values are made
    out = tmp_path / "a-file"
    out.write_text("x")
    with pytest.raises(SweepError, match="is a file, not a folder"):
        run_sweep("nin-toy", {}, {"sigma_eps": [1.0]}, str(out))
    with pytest.raises(SweepError, match="--out is empty"):
        run_sweep("nin-toy", {}, {"sigma_eps": [1.0]}, "")
    with pytest.raises(SweepError, match="the grid has 1,000,000 points"):
        run_sweep("nin-toy", {}, {"sigma_eps": list(range(1, 1001)), "lr": [0.01] * 1000}, str(tmp_path / "s"))
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


def test_random_points_are_reproducible_inside_the_ranges_and_log_uniform():
    from lab.sweep import Space

    items = ["sigma_eps=log:0.01:100", "lr=lin:0.001:0.02", "batch=lin:1:8", "noise_timing=redraw,fixed"]
    pts = Space.parse(SPEC, items, random=400, sample_seed=3).points()
    assert pts == Space.parse(SPEC, items, random=400, sample_seed=3).points()  # same seed, same points
    assert pts != Space.parse(SPEC, items, random=400, sample_seed=4).points()
    sig, lr = np.array([p["sigma_eps"] for p in pts]), np.array([p["lr"] for p in pts])
    assert sig.min() >= 0.01 and sig.max() <= 100 and lr.min() >= 0.001 and lr.max() <= 0.02
    # log-uniform: log10(sigma_eps) ~ U(-2, 2), mean 0 and sd 4/sqrt(12); a uniform draw would put
    # only 0.01 % of the points below 1, a log-uniform one half of them
    assert abs(np.log10(sig).mean()) < 0.25 and abs(np.log10(sig).std() - 4 / np.sqrt(12)) < 0.15
    assert 0.4 < (sig < 1).mean() < 0.6
    assert abs(lr.mean() - 0.0105) < 0.001  # linear: uniform
    assert {type(p["batch"]) for p in pts} == {int} and {p["batch"] for p in pts} <= set(range(1, 9))
    assert {p["noise_timing"] for p in pts} == {"redraw", "fixed"}
    with pytest.raises(ParamError, match="count n >= 1"):
        Space.parse(SPEC, ["sigma_eps=log:0.01:100"])  # a grid needs a count
    with pytest.raises(ParamError, match="ranges need a numeric"):
        Space.parse(SPEC, ["noise_timing=lin:0:1:3"])


def test_seeds_give_replicates_whose_mean_and_sd_the_sweep_file_records(tmp_path):
    path = run_sweep(
        "nin-toy", SMALL, {"sigma_eps": [1.0, 3.0], "noise_timing": ["redraw", "fixed"]}, str(tmp_path / "k"), seeds=3
    )
    sw = read_sweep(path)
    assert len(sw.runs) == 12 and len(sw.points) == 4 and sw.seeds == 3
    assert sw.grid == {"sigma_eps": [1.0, 3.0], "noise_timing": ["fixed", "redraw"]}
    for p in sw.points:
        runs = [sw.runs[i] for i in p["runs"]]
        headers = [read_run(r["path"]).header for r in runs]
        assert [h.seed for h in headers] == [0, 1, 2] and [r["replicate"] for r in runs] == [0, 1, 2]
        assert all({k: h.params[k] for k in p["values"]} == p["values"] for h in headers)
        loss = [h.summary["loss_final"] for h in headers]  # from the run files
        assert p["n"]["loss_final"] == 3
        assert p["mean"]["loss_final"] == pytest.approx(np.mean(loss), rel=1e-12)
        assert p["sd"]["loss_final"] == pytest.approx(np.std(loss, ddof=1), rel=1e-12) and p["sd"]["loss_final"] > 0
    import json

    assert json.load(open(path))["points"] == json.loads(json.dumps(sw.points))  # as written, as read
    mean, sd, n = sw.point_stats("loss_final")
    assert np.allclose(mean, [p["mean"]["loss_final"] for p in sw.points]) and list(n) == [3] * 4
    with pytest.raises(ParamError, match="seed"):
        run_sweep("nin-toy", SMALL, {"seed": [1, 2]}, str(tmp_path / "bad"), seeds=2)


def test_resume_after_a_killed_coordinator_runs_only_what_is_missing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "r"
    args = [
        "sweep",
        "nin-toy",
        "--param",
        "sigma_eps=0.5,1,1.5,2,2.5",
        "--set",
        "steps=50000",  # seconds a run: the kill must find two done and one going
        "--set",
        "n_samples=100",
        "--out",
        str(out),
    ]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lab.cli import main; sys.exit(main(sys.argv[1:]))", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def state():
        try:
            return read_sweep(str(out))
        except SweepError:  # not written yet
            return None

    while (
        (s := state()) is None
        or [r["status"] for r in s.runs].count("completed") < 2
        or not any(r["status"] == "running" for r in s.runs)
    ):
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = read_sweep(str(out))
    assert killed.status == "running" and killed.display_status == "interrupted"
    done = [r for r in killed.runs if r["status"] == "completed"]
    cut = [r for r in killed.runs if r["status"] == "running"]
    assert len(cut) == 1 and killed.run_status(cut[0]) == "interrupted"
    # its writer died with it, or had just finished (the kill fell before the sweep file heard of it):
    # either way resume must leave that file alone
    cut_status = read_run(cut[0]["path"]).header.display_status
    assert cut_status in ("interrupted", "completed")
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir() if not p.name.startswith(".")}
    assert len(before) == len(done) + 1

    assert cli_main(args + ["--resume"]) == 0
    sw = read_sweep(str(out))
    assert sw.status == "completed" and [r["status"] for r in sw.runs] == ["completed"] * 5
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir() if not p.name.startswith(".")}
    assert {k: after[k] for k in before} == before  # nothing finished was rewritten
    kept = len(done) + (cut_status == "completed")
    assert len(after) == len(before) + 5 - kept  # one new file per missing run
    rerun = sw.runs[cut[0]["index"]]
    if cut_status == "completed":  # kept as it is
        assert rerun["path"] == cut[0]["path"] and not rerun.get("previous")
    else:  # rerun beside the interrupted file
        assert rerun["previous"] == [os.path.relpath(cut[0]["path"], str(out))] and rerun["path"] != cut[0]["path"]
    with pytest.raises(SweepError, match="another sweep"):
        run_sweep("nin-toy", {**SMALL}, {"sigma_eps": [0.5]}, str(out), resume=True)


def test_cli_sweep_exits_non_zero_with_a_table_when_a_run_did_not_complete(tmp_path, capsys):
    rc = cli_main(
        ["sweep", "nin-toy", "--param", "sigma_eps=1,300", "--set", "steps=200", "--out", str(tmp_path / "t")]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "0  completed  1" in err and "1  diverged   300" in err and "sweep completed: 1 completed, 1 diverged" in err


def test_a_missing_ray_is_named_with_how_to_install_it(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    rc = cli_main(["sweep", "nin-toy", "--param", "sigma_eps=1", "--backend", "ray", "--out", str(tmp_path / "m")])
    assert rc == 2
    assert 'needs Ray, which is not installed: pip install -e ".[ray]"' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "m")


def test_options_a_backend_does_not_use_are_refused(tmp_path):
    from lab.sweep import make_backend

    with pytest.raises(ParamError, match="--address.*--backend local"):
        make_backend("local", address="ray://head:10001")
    with pytest.raises(ParamError, match="--backend.*local, ray"):
        make_backend("slurm")
