"""Hostile and damaged run files, kills at every point of a run's life, full disks,
readers that hold the file, signals and reused PIDs."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from lab import cli, procinfo
from lab.runfile import Dataset, RunFileError, RunWriter, read_header, read_run

from .runfile_corpus import make_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=ROOT)

#: what each reader must say about a file (every reader, every file: a message or a result)
EXPECTED = {
    "left-open": "left open for writing by a process that stopped",
    "truncated-0.5": "truncated",
    "truncated-killed-0.5": "truncated",
    "attr-version-future": "newer than this Noise Lab",
    "attr-params-list": "'params' is not a JSON object",
    "attr-huge-json": "attribute 'params' holds",
    "journal-bomb": "'journal' holds",
    "fifo": "a FIFO",
    "self-link": "symbolic links",
    "dangling-link": "no such file",
    "folder": "a folder",
    "empty": "an empty file",
    "text": "not an HDF5 file",
    "foreign": "not a Noise Lab run",
}
#: what the readers that read datasets (all but read_header) must say
EXPECTED_DATA = {
    "journal-bad-array": "read budget",
    "external-link": "is an external link",
    "virtual": "is a virtual dataset",
    "external-passwd": "keeps its data in external files",
    "external-zero": "keeps its data in external files",
    "external-fifo": "keeps its data in external files",
    "bomb": "read budget",
    "vlen": "has type object",
}
READABLE = ("good", "killed", "soft-cycle", "hard-cycle", "no-heartbeat", "attr-seed-array", "journal-garbage")


def test_every_reader_answers_every_crafted_file_with_a_result_or_a_message(tmp_path):
    corpus = make_corpus(str(tmp_path / "corpus"))
    names = {path: name for name, path in corpus.items()}
    # a hang guard, not a timing: HDF5's SWMR retries once hung a reader for > 25 minutes
    proc = subprocess.run(
        [sys.executable, "-m", "tests.runfile_probe", *corpus.values()],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    done = [r for r in lines if "outcome" in r]
    assert proc.returncode == 0, f"the probe crashed after {lines[-1] if lines else None}: {proc.stderr[-2000:]}"
    assert len(done) == 4 * len(corpus)
    for r in done:
        name = names[r["file"]]
        assert r["outcome"] in ("ok", "message"), (name, r)
        assert "root:x:0" not in r["text"]  # /etc/passwd never leaks into a run
        expected = EXPECTED.get(name) or (EXPECTED_DATA.get(name) if r["reader"] != "read_header" else None)
        if expected:
            assert r["outcome"] == "message" and expected in r["text"], (name, r)
        if name in READABLE:
            assert r["outcome"] == "ok", (name, r)
    info = {names[r["file"]]: r["text"] for r in done if r["reader"] == "info"}
    assert "status:      completed" in info["good"] and "data/late" in info["good"]
    assert "status:      interrupted" in info["killed"]


def test_repair_clears_the_mark_of_a_writer_that_died_outside_swmr(tmp_path, capsys):
    from .runfile_corpus import _left_open

    path = _left_open(str(tmp_path / "left.h5"))
    with pytest.raises(RunFileError, match="left open for writing.*noiselab repair"):
        read_header(path)
    assert cli.main(["repair", path]) == 0
    assert "cleared the open-for-write flags" in capsys.readouterr().out
    h = read_header(path)
    assert h.experiment == "ols" and h.display_status == "interrupted"
    with h5py.File(path, "r") as f:  # a plain open works again, with the data flushed before the kill
        np.testing.assert_array_equal(f["x"][()], np.arange(9))
    assert cli.main(["repair", str(tmp_path / "missing.h5")]) == 2


RUN_FAKE = textwrap.dedent("""
    import sys
    from tests import fake_experiment
    fake_experiment.install()
    from lab.runner import run_experiment
    started = []
    def ready(kind, name, payload):
        if kind == "progress" and not started:
            started.append(1)
            print("started", flush=True)
    r = run_experiment("fake", {"steps": int(sys.argv[2]), "mode": "slow"}, out_dir=sys.argv[1], listeners=[ready])
    print(r.status, r.error, flush=True)
""")


def _run_fake(out, steps, **env):
    return subprocess.Popen(
        [sys.executable, "-c", RUN_FAKE, str(out), str(steps)],
        cwd=ROOT,
        env=dict(ENV, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _only_run_file(folder):
    files = [f for f in os.listdir(folder) if f.endswith(".h5")]
    assert len(files) == 1, files
    return os.path.join(folder, files[0])


@pytest.mark.parametrize(
    "point, status",
    [
        ("create", "interrupted"),
        ("flush", "interrupted"),
        ("end", "interrupted"),
        ("closed", "completed"),
        ("publish", "completed"),
    ],
)
def test_a_kill_at_every_lifecycle_boundary_leaves_a_readable_file(tmp_path, point, status):
    proc = _run_fake(tmp_path, 300, NOISELAB_KILL_AT=point)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    run = read_run(_only_run_file(tmp_path))
    assert run.header.display_status == status
    if point != "create":
        n = len(run["series/loss"])
        np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(n) + 1))
    if status == "completed":
        assert n == 300 and run.header.summary["last_loss"] == pytest.approx(1 / 300)
        np.testing.assert_array_equal(run["final/w"], np.ones(4))


def test_random_kills_leave_readable_files(tmp_path):
    rng = np.random.default_rng(11)
    for trial in range(4):
        out = tmp_path / str(trial)
        proc = _run_fake(out, 400)
        proc.stdout.readline()  # started
        try:
            proc.wait(timeout=float(rng.uniform(0, 1.5)))  # a random moment of the run, or its end
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.communicate()
        run = read_run(_only_run_file(out))
        n = len(run["series/loss"])
        np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(n) + 1))
        assert run.header.display_status in ("interrupted", "completed")


HOLD = textwrap.dedent("""
    import sys, h5py
    with h5py.File(sys.argv[1], "r", libver="latest", swmr=True) as f:   # as docs/runfile.md shows
        print("open", flush=True)
        sys.stdin.readline()
        print(f.attrs["status"], len(f["series/a"][()]), flush=True)
""")


def test_a_reader_holding_the_file_while_the_run_ends_does_not_block_the_end(tmp_path):
    path = str(tmp_path / "run.h5")
    w = RunWriter(path, experiment="x", params={}, seed=0, device="cpu", layout=[Dataset("series/a", ())])
    w.append("series/a", np.arange(10.0))
    w.flush()
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "open"
    w.save("weights/w", np.arange(5.0))
    assert w.finish("completed", summary={"acc": 0.9}) == ("completed", "")
    out, _ = reader.communicate("\n", timeout=60)
    assert out.split() == ["running", "10"]  # it kept its consistent copy
    run = read_run(path)
    assert run.header.status == "completed" and run.header.summary == {"acc": 0.9}
    np.testing.assert_array_equal(run["weights/w"], np.arange(5.0))
    with h5py.File(path, "r") as f:  # the finished copy carries the end in plain attributes too
        assert f.attrs["status"] == "completed" and "weights/w" in f


def test_sigterm_cancels_the_run_with_its_summary(tmp_path):
    proc = _run_fake(tmp_path, 10**6)
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.split()[:4] == ["cancelled", "cancelled", "by", "SIGTERM"], err
    run = read_run(_only_run_file(tmp_path))
    assert run.header.status == "cancelled" and run.header.error == "cancelled by SIGTERM"
    n = len(run["series/loss"])
    assert 0 < n < 10**6 and run.header.summary["last_loss"] == pytest.approx(1 / n)
    np.testing.assert_allclose(run["series/loss"], 1 / (np.arange(n) + 1))  # no shifted or zero rows
    np.testing.assert_array_equal(run["final/w"], np.ones(4))


def test_a_second_interrupt_exits_at_once():
    code = textwrap.dedent("""
        import os, signal
        from lab.interrupts import cancel_on_signals
        with cancel_on_signals(lambda: print("cancel requested", flush=True)):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            print("still here")
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 128 + signal.SIGINT
    assert proc.stdout == "cancel requested\n" and "exiting now" in proc.stderr


def _running_file(path, token):
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs.update(
            format="noiselab-run",
            format_version=1,
            experiment="ols",
            status="running",
            params="{}",
            summary="{}",
            versions="{}",
            created="2026-01-01T00:00:00+00:00",
            writer=f"{socket.gethostname()}:{os.getpid()}",
            writer_start=token,
        )
    return path


def test_a_running_file_whose_pid_was_reused_shows_interrupted(tmp_path):
    token = procinfo.start_token(os.getpid())
    if not token:
        pytest.skip("no /proc: process start times cannot be read here")
    assert read_header(_running_file(str(tmp_path / "live.h5"), token)).display_status == "running"
    boot, _, ticks = token.rpartition(":")
    reused = _running_file(str(tmp_path / "reused.h5"), f"{boot}:{int(ticks) - 1}")  # same PID, another process
    assert read_header(reused).display_status == "interrupted"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield str(mnt)
    subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_ends_the_run_failed_with_every_flushed_row(small_disk):
    path = os.path.join(small_disk, "run.h5")
    w = RunWriter(
        path,
        experiment="x",
        params={},
        seed=0,
        device="cpu",
        layout=[Dataset("series/a", (1000,), chunk_rows=8)],
        block_rows=4,
    )
    written = 0
    with pytest.raises(RunFileError, match="No space left on device"):
        for k in range(10**4):
            w.append("series/a", np.full((1, 1000), float(k)))
            written = k + 1
    status, error = w.finish("completed", summary={"k": written})
    assert status == "failed" and "No space left on device" in error
    run = read_run(path)
    assert run.header.status == "failed" and "is the disk full?" in run.header.error
    rows = run["series/a"]
    assert 0 < len(rows) <= written
    np.testing.assert_array_equal(rows[:, 0], np.arange(len(rows)))  # each flushed row intact, in order
    assert run.header.summary == {"k": written}
    with pytest.raises(RunFileError, match="cannot be created"):  # the disk is still full
        RunWriter(os.path.join(small_disk, "next.h5"), experiment="x", params={}, seed=0, device="cpu")
    assert sorted(os.listdir(small_disk)) == ["run.h5"]  # no 0-byte or partial files


def test_a_killed_writer_not_yet_reaped_counts_as_gone():
    """A process killed but not yet reaped by its parent (a zombie) keeps its PID: a run
    file it was writing must still show as interrupted."""
    import subprocess

    from lab import procinfo

    child = subprocess.Popen(["sleep", "60"])
    token = procinfo.start_token(child.pid)
    assert procinfo.alive(child.pid, token)
    child.kill()
    while open(f"/proc/{child.pid}/stat").read().rpartition(")")[2].split()[0] != "Z":
        pass  # the kernel makes it a zombie at once; it stays one until wait()
    assert not procinfo.alive(child.pid, token)
    child.wait()
