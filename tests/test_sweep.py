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
        parse_values(SPEC, "noise_timing=1,2")          # not numeric
    with pytest.raises(ParamError, match="lr"):
        parse_values(SPEC, "lr=0.1,-1")                 # out of range
    with pytest.raises(ParamError, match="nope"):
        parse_values(SPEC, "nope=1,2")                  # unknown
    for bad in ("lin:1:2:-1", "lin:1:2:0", "log:1:2", "lin:1:2:3:4"):
        with pytest.raises(ParamError, match="count n >= 1"):
            parse_values(SPEC, f"sigma_eps={bad}")      # no count, or one that is not positive
    assert grid_points({"a": [1, 2], "b": [3, 4]}) == [{"a": 1, "b": 3}, {"a": 1, "b": 4},
                                                        {"a": 2, "b": 3}, {"a": 2, "b": 4}]


def test_three_values_give_three_runs_and_a_sweep_file(tmp_path):
    seen = []
    path = run_sweep("nin-toy", SMALL, {"sigma_eps": [0.01, 3.0, 300.0]}, str(tmp_path / "s"),
                     on_run=lambda e, done, total: seen.append((done, total)))
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
    rc = cli_main(["sweep", "nin-toy", "--param", "sigma_eps=0.5,2", "--param", "lr=0.01,0.02",
                   "--set", "steps=200", "--jobs", "2", "--out", str(out)])
    assert rc == 0
    assert capsys.readouterr().out.strip().endswith("sweep.json")
    sw = read_sweep(str(out / "sweep.json"))
    assert len(sw.runs) == 4 and all(r["status"] == "completed" for r in sw.runs)
    assert {(r["values"]["sigma_eps"], r["values"]["lr"]) for r in sw.runs} == {(0.5, 0.01), (0.5, 0.02), (2.0, 0.01), (2.0, 0.02)}
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
    path = run_sweep("nin-toy", {"steps": 300_000, "n_samples": 100}, {"sigma_eps": [1.0, 2.0]}, str(tmp_path / "c"),
                     cancel_event=cancel)
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


@pytest.mark.parametrize("text, says", [
    ('[1, 2]', "not a Noise Lab sweep"),
    ('{"format": "noiselab-sweep", "format_version": "1"}', "'format_version' is '1'"),
    ('{"format": "noiselab-sweep", "format_version": 1, "experiment": "ols", "params": {}, "swept": [], '
     '"grid": {}, "status": "done", "runs": [{"path": 3, "values": {}}]}', "run 0 lacks a path"),
    ('{"format": "noiselab-sweep", "format_version": 1, "experiment": "ols", "params": [], "swept": [], '
     '"grid": {}, "status": "done", "runs": ["x"]}', r"params \(dict\)"),
    ("[" * 100000, "not a JSON sweep file"),
])
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
