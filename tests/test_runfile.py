"""Run files: round trip, statuses, a killed writer, live following, bad files."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import h5py
import numpy as np
import pytest

from lab.library.records import FIELDS
from lab.runfile import FORMAT, HEADER, Dataset, RunFileError, RunFollower, RunWriter, read_header, read_run, set_attrs
from lab.runner import run_experiment

from . import fake_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def fake():
    return fake_experiment.install()


def test_round_trip(tmp_path):
    r = run_experiment("fake", {"steps": 2500, "seed": 3}, out_dir=str(tmp_path))
    assert r.status == "completed" and os.path.exists(r.path)
    run = read_run(r.path)
    h = run.header
    assert h.experiment == "fake" and h.status == "completed" and h.seed == 3
    assert h.params["steps"] == 2500 and h.params["mode"] == "ok"
    assert h.summary == {"last_loss": 1 / 2500}
    assert h.created and h.finished and h.device == "cpu"
    assert "numpy" in h.versions and "h5py" in h.versions
    np.testing.assert_array_equal(run["series/step"], np.arange(2500))
    np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(2500) + 1))
    np.testing.assert_array_equal(run["data/x"], [0, 1, 2])
    np.testing.assert_array_equal(run["final/w"], np.ones(4))  # saved while streaming: deferred
    with h5py.File(r.path, "r") as f:  # plain h5py sees the documented attributes
        assert f.attrs["format"] == FORMAT and json.loads(f.attrs["params"])["steps"] == 2500
        assert f["params"].attrs["steps"] == 2500
        assert f["series/loss"].chunks is not None and f["series/loss"].maxshape == (None,)


def test_blocks_are_buffered(tmp_path):
    """2500 single rows go to the file in blocks of 1000: a heartbeat at creation, one
    per flush that wrote data (two blocks and the rest at the end), not one per row."""
    w = RunWriter(
        tmp_path / "r.h5",
        experiment="fake",
        params={},
        seed=0,
        device="cpu",
        layout=[Dataset("series/step", (), "i8")],
        flush_interval=float("inf"),
        block_rows=1000,
    )
    for k in range(2500):
        w.append("series/step", np.asarray([k]))
    w.finish("completed")
    run = read_run(tmp_path / "r.h5")
    assert len(run["heartbeat"]) == 4
    np.testing.assert_array_equal(run["series/step"], np.arange(2500))


@pytest.mark.parametrize("mode,status", [("fail", "failed"), ("nan", "diverged")])
def test_failure_statuses_keep_rows(tmp_path, mode, status):
    r = run_experiment("fake", {"steps": 1000, "mode": mode}, out_dir=str(tmp_path))
    assert r.status == status
    run = read_run(r.path)
    assert run.header.status == status
    assert len(run["series/loss"]) == 500  # everything before the failure is kept
    if status == "failed":
        assert "broke on purpose" in run.header.error
    else:
        assert run.header.diverged_step == 500 and "NaN" in run.header.error
    assert run.header.summary["last_loss"] == pytest.approx(1 / 500)


def test_cancel_from_listener(tmp_path):
    ev = threading.Event()

    def listener(kind, name, payload):
        if kind == "progress" and payload[0] >= 300:
            ev.set()

    r = run_experiment("fake", {"steps": 100000}, out_dir=str(tmp_path), cancel_event=ev, listeners=[listener])
    assert r.status == "cancelled"
    assert read_run(r.path).header.status == "cancelled"
    assert 300 <= len(read_run(r.path)["series/loss"]) <= 301


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    import fake_experiment
    from lab.runner import run_experiment
    fake_experiment.install()
    run_experiment("fake", {{"steps": 10**7, "mode": "slow"}}, path=sys.argv[1])
""")


def test_killed_writer_leaves_a_readable_file_and_can_be_followed(tmp_path):
    path = str(tmp_path / "live.h5")
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=ROOT, tests=os.path.join(ROOT, "tests")))
    proc = subprocess.Popen([sys.executable, str(script), path])
    try:
        follower = RunFollower(path)
        seen, deadline = 0, time.monotonic() + 60
        while seen < 300 and time.monotonic() < deadline:  # follow it live from another process
            time.sleep(0.2)
            try:
                header, new, fixed = follower.poll()
            except RunFileError:
                continue  # created but not yet streaming
            seen += len(new.get("series/loss", []))
            assert header.status == "running" and not header.interrupted
        assert seen >= 300
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run = read_run(path)
    assert run.header.status == "running"
    assert run.header.interrupted and run.header.display_status == "interrupted"
    n = len(run["series/loss"])
    assert n >= seen
    np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(n) + 1))


def test_corrupt_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(3000))
    with pytest.raises(RunFileError, match="not an HDF5 file|damaged HDF5 file"):
        read_run(bad)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(RunFileError, match="not a Noise Lab run"):
        read_header(foreign)
    with pytest.raises(RunFileError, match="no such file"):
        read_run(tmp_path / "missing.h5")
    r = run_experiment("fake", {"steps": 50}, out_dir=str(tmp_path))
    for size in (3000, os.path.getsize(r.path) // 2):  # truncated real run files
        with open(r.path, "r+b") as fh:
            fh.truncate(size)
        with pytest.raises(RunFileError, match="truncated"):
            read_run(r.path)


def test_the_finished_copy_holds_its_attributes_in_one_header_that_set_attrs_keeps_in_step(tmp_path):
    r = run_experiment("fake", {"steps": 50, "seed": 4}, out_dir=str(tmp_path))
    with h5py.File(r.path, "r") as f:
        header = json.loads(f.attrs[HEADER])
        plain = {k: f.attrs[k] for k in f.attrs if k != HEADER}
    assert set(header) == set(plain) and header["status"] == plain["status"] == "completed"
    assert header["params"] == plain["params"] and header["seed"] == plain["seed"] == 4
    full, few = read_header(r.path), read_header(r.path, FIELDS)
    assert (few.status, few.params, few.summary, few.created) == (full.status, full.params, full.summary, full.created)
    set_attrs(r.path, status="failed", note="rerun this")
    h = read_header(r.path)
    assert (h.status, h.attrs["note"]) == ("failed", "rerun this")
    with h5py.File(r.path, "r") as f:  # the note is edited later: it stays out of the copy
        assert json.loads(f.attrs[HEADER])["status"] == "failed" and "note" not in json.loads(f.attrs[HEADER])
    with h5py.File(r.path, "r+") as f:  # without the copy, readers fall back on the attributes
        del f.attrs[HEADER]
        f.attrs["status"] = "diverged"
    assert read_header(r.path, FIELDS).status == read_header(r.path).status == "diverged"


def test_newer_format_is_refused(tmp_path):
    r = run_experiment("fake", {"steps": 5}, out_dir=str(tmp_path))
    set_attrs(r.path, format_version=99)
    with pytest.raises(RunFileError, match="newer"):
        read_header(r.path)


def test_import_contracts():
    """lab/ never imports Qt, widgets or workers; workers never import widgets (import-linter)."""
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_core_never_imports_qt():
    code = (
        "import sys, pkgutil, importlib, lab, lab.experiments as E\n"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(lab.__path__, 'lab.')]\n"
        "E.registry()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'widgets', 'workers')]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def _failing_flush(monkeypatch, after: int):
    """Make every flush after the first ``after`` raise ENOSPC, as a full disk does."""
    import errno

    from lab import runfile

    real, calls = runfile.RunWriter.flush, {"n": 0}

    def flush(self):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self)

    monkeypatch.setattr(runfile.RunWriter, "flush", flush)


def test_full_disk_ends_failed_with_the_reason_and_keeps_flushed_rows(tmp_path, monkeypatch):
    _failing_flush(monkeypatch, after=3)
    r = run_experiment("fake", {"steps": 5000, "mode": "slow"}, out_dir=str(tmp_path))
    monkeypatch.undo()
    assert r.status == "failed" and "No space left on device" in r.error and "not written" in r.error
    run = read_run(r.path)
    assert run.header.status == "failed" and "No space left" in run.header.error
    n = len(run["series/loss"])
    assert n > 0
    np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(n) + 1))


def test_full_disk_that_blocks_the_final_status_is_reported_not_raised(tmp_path, monkeypatch):
    from lab import runfile

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    _failing_flush(monkeypatch, after=3)
    monkeypatch.setattr(runfile.JournalWriter, "end", no_space)
    monkeypatch.setattr(runfile, "pwrite_pieces", no_space)
    r = run_experiment("fake", {"steps": 5000, "mode": "slow"}, out_dir=str(tmp_path))
    monkeypatch.undo()
    assert r.status == "failed" and "could not be recorded" in r.error
    run = read_run(r.path)  # still opens, with the rows flushed before
    assert run.header.status == "running" and len(run["series/loss"]) > 0


def test_a_bad_layout_leaves_no_file_and_a_taken_name_is_refused_untouched(tmp_path):
    from lab.runfile import Dataset, RunWriter

    path = str(tmp_path / "run.h5")
    twice = [Dataset("series/a", ()), Dataset("series/a", ())]
    with pytest.raises(ValueError):
        RunWriter(path, experiment="x", params={}, seed=0, device="cpu", layout=twice)
    assert not os.path.exists(path)  # closed and removed: no 'running' file that never ends
    w = RunWriter(path, experiment="x", params={}, seed=0, device="cpu")
    w.finish("completed")
    with pytest.raises(RunFileError, match="cannot be created"):
        RunWriter(path, experiment="x", params={}, seed=0, device="cpu")
    assert read_header(path).status == "completed"


def test_rows_and_late_arrays_are_stored_as_they_were_when_handed_over(tmp_path):
    from lab.runfile import Dataset, RunWriter

    path = str(tmp_path / "run.h5")
    w = RunWriter(path, experiment="x", params={}, seed=0, device="cpu", layout=[Dataset("series/a", (2,))])
    buf = np.zeros((1, 2))
    for i in range(3):  # one reused buffer, as a model's parameters are
        buf[:] = i
        w.append("series/a", buf)
    with pytest.raises(ValueError, match="series/a: rows of <U3 cannot be stored as float64"):
        w.append("series/a", np.array([["abc", "d"]]))  # refused at once, not at the final flush
    late = np.arange(3.0)
    w.save("final/w", late)  # streaming: deferred to the end of the run
    late[:] = -1
    w.finish("completed")
    run = read_run(path)
    np.testing.assert_array_equal(run["series/a"], [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(run["final/w"], [0, 1, 2])


def test_a_bare_scalar_for_a_scalar_series_is_refused_with_the_shape_expected(tmp_path):
    from lab.runfile import Dataset, RunWriter

    w = RunWriter(
        str(tmp_path / "run.h5"), experiment="x", params={}, seed=0, device="cpu", layout=[Dataset("series/a", ())]
    )
    with pytest.raises(ValueError, match=r"series/a: a block of shape \(\), but the series takes blocks of k rows"):
        w.append("series/a", 1.0)
    w.append("series/a", [1.0])
    assert w.finish("completed") == ("completed", "")
