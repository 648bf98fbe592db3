"""Run files read by the ecosystem: the step dimension scale (h5py.h5ds, xarray), one
run as a DataFrame, many runs as one table (pandas, CSV export), provenance."""

import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import lab
from lab.cli import main
from lab.runner import run_experiment
from lab.tables import read_runs

from . import fake_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ols_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    p = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "main.py"),
            "run",
            "ols",
            "--set",
            "steps=500",
            "--set",
            "stride=5",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_series_step_is_a_dimension_scale_attached_to_every_series(ols_file):
    with h5py.File(ols_file, "r") as f:
        step = f["series/step"]
        assert h5py.h5ds.is_scale(step.id)
        for name in ("beta_noisy", "beta_clean"):
            ds = f[f"series/{name}"]
            assert h5py.h5ds.is_attached(ds.id, step.id, 0)
            assert h5py.h5ds.is_scale(f[f"{name}_dim1"].id)  # the vector axis has its own


def test_xarray_sees_a_step_coordinate(ols_file):
    import xarray as xr

    with xr.open_dataset(ols_file, engine="h5netcdf", group="series") as ds:
        assert ds["beta_noisy"].dims == ("step", "beta_noisy_dim1")
        with h5py.File(ols_file, "r") as f:
            np.testing.assert_array_equal(ds["step"].values, f["series/step"][:])
            np.testing.assert_array_equal(ds["beta_noisy"].values, f["series/beta_noisy"][:])


def test_provenance_command_line_and_git_commit_are_in_the_file(ols_file):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with h5py.File(ols_file, "r") as f:
        a = f.attrs
        assert a["command"].endswith(
            "main.py run ols --set steps=500 --set stride=5 --out " + os.path.dirname(ols_file)
        )
        assert a["git_commit"] == commit and len(commit) == 40 and a["git_dirty"] in (True, False)
        assert a["host"] and a["user"] and a["cuda_device"] == ""  # a CPU run


def test_a_run_to_pandas(ols_file):
    run = lab.read_run(ols_file)
    df = run.to_pandas()
    n = len(run["series/step"])
    assert df.shape == (n, 4) and list(df.columns) == ["beta_clean_1", "beta_clean_2", "beta_noisy_1", "beta_noisy_2"]
    np.testing.assert_array_equal(df.index.values, run["series/step"])
    np.testing.assert_array_equal(df["beta_noisy_2"].values, run["series/beta_noisy"][:, 1])


def test_many_runs_as_one_table_and_as_csv(tmp_path, capsys):
    fake_experiment.install()
    for steps in (3, 5, 8):
        run_experiment("fake", {"steps": steps, "seed": steps}, out_dir=str(tmp_path / "runs" / "sub"))
    run_experiment("fake", {"steps": 4, "mode": "nan"}, out_dir=str(tmp_path / "runs"))
    (tmp_path / "runs" / "junk.h5").write_bytes(b"not hdf5")
    with pytest.warns(UserWarning, match="junk.h5"):
        df = lab.read_runs(str(tmp_path / "runs"), experiment="fake")
    assert df.shape == (4, 10) and list(df.columns) == [
        "path",
        "experiment",
        "status",
        "created",
        "finished",
        "seed",
        "device",
        "steps",
        "mode",
        "last_loss",
    ]
    df = df.sort_values("steps")
    assert list(df["steps"]) == [3, 4, 5, 8] and list(df["status"]) == [
        "completed",
        "diverged",
        "completed",
        "completed",
    ]
    np.testing.assert_allclose(df["last_loss"], [1 / 3, 1 / 2, 1 / 5, 1 / 8])
    with pytest.warns(UserWarning):
        assert lab.read_runs is read_runs and lab.read_runs(str(tmp_path / "runs"), experiment="ols").empty

    out = tmp_path / "runs.csv"
    with pytest.warns(UserWarning):
        assert main(["export", str(tmp_path / "runs"), "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and sorted(int(r["steps"]) for r in rows) == [3, 4, 5, 8]
    assert list(rows[0])[:7] == ["path", "experiment", "status", "created", "finished", "seed", "device"]
    assert main(["export", str(tmp_path / "nosuch"), "-o", str(out)]) == 2
    run_file = df["path"].iloc[0]
    capsys.readouterr()
    assert main(["export", run_file]) == 0  # a run file: its datasets by name
    assert "series/loss" in capsys.readouterr().out.splitlines()
