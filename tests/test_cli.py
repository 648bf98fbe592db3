"""The headless command line, run as a user runs it: ``python main.py ...`` in a subprocess."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    p = cli("run", "ols", "--preset", "fig1-g", "--set", "steps=20000", "--out", str(out))
    assert p.returncode == 0, p.stderr
    path = p.stdout.strip().splitlines()[-1]
    return path, p


def test_run_prints_the_run_file_last(run_file):
    path, p = run_file
    assert os.path.isfile(path) and os.path.basename(path).startswith("ols-fig1-g-")
    assert "completed" in p.stderr and "100%" in p.stderr  # status and a progress line on stderr
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "completed"
        np.testing.assert_array_equal(f["params"].attrs["x_cov"], [10.0, 100.0, 0.0])
        assert f["series/step"][-1] == 20000


def test_list_shows_ols_its_parameters_and_presets():
    p = cli("list")
    assert p.returncode == 0, p.stderr
    assert "ols:" in p.stdout
    for word in ["x_cov", "sigma2", "batching", "stride"] + [f"fig1-{c}" for c in "abcdefgh"]:
        assert word in p.stdout


def test_info_prints_status_series_and_summary(run_file):
    p = cli("info", run_file[0])
    assert p.returncode == 0, p.stderr
    for word in ("completed", "series/beta_noisy", "series/beta_clean", "theory/cov_exact", "cov_empirical"):
        assert word in p.stdout


@pytest.mark.parametrize(
    "setting,words",
    [
        ("lr=-1", ["'lr'", "[1e-08, 10]"]),
        ("noise=sometimes", ["'noise'", "fixed, redraw"]),
        ("nosuch=1", ["'nosuch'", "x_cov"]),
    ],
)
def test_bad_set_exits_2_naming_the_parameter(tmp_path, setting, words):
    p = cli("run", "ols", "--set", setting, "--out", str(tmp_path))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in p.stderr
    assert not os.listdir(tmp_path)


def test_info_on_corrupt_or_foreign_files_gives_a_message(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(os.urandom(4096))
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    for path, word in ((junk, "not an HDF5 file"), (foreign, "not a Noise Lab run")):
        p = cli("info", str(path))
        assert p.returncode != 0
        assert "Traceback" not in p.stderr and word in p.stderr, p.stderr


def test_no_command_prints_usage_and_exits_2(capsys):
    from lab.cli import main

    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_list_of_an_unknown_experiment_names_the_known_ones(capsys):
    from lab.cli import main

    assert main(["list", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "'experiment': 'nosuch'" in err and "ols" in err
    assert main(["list", "ols"]) == 0 and capsys.readouterr().out.startswith("ols: ")


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "ols", "--out", ""], ["--out", "a folder for the run file"]),
        (
            [
                "run",
                "nin-phase-map",
                "--set",
                "y_param=batch",
                "--set",
                "y_min=1",
                "--set",
                "y_max=1e6",
                "--set",
                "y_log=false",
            ],
            ["'y_max'", "settings that fit in memory", "GiB"],
        ),
        (["sweep", "nin-toy", "--param", "sigma_eps=lin:nan:1:3"], ["finite numbers"]),
    ],
)
def test_settings_that_cannot_work_get_a_message_and_no_file(tmp_path, args, words):
    env_out = tmp_path / "runs"
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "main.py"), *args, *([] if "--out" in args else ["--out", str(env_out)])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, NOISELAB_RUNS=str(env_out)),
        check=False,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    for w in words:
        assert w in p.stderr
    assert not env_out.exists() or not os.listdir(env_out)


def test_a_run_whose_out_is_a_file_says_so(tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    p = cli("run", "ols", "--set", "steps=10", "--out", str(out))
    assert p.returncode == 2 and "Traceback" not in p.stderr and "cannot be made" in p.stderr
