"""The Ray backend on a real local Ray instance (two CPUs, no dashboard): the same
summaries as the local backend, run files written in place or returned to the
coordinator, cancel, and a killed worker. Deselect with ``-m "not ray"``."""

import os
import signal
import threading
import time

import pytest

from lab.runfile import read_header, read_run
from lab.sweep import read_sweep, run_sweep

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.ray

SMALL = {"steps": 300, "n_samples": 100}
GRID = {"sigma_eps": [0.5, 3.0, 300.0]}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def all_cpus_free() -> bool:
    return ray.available_resources().get("CPU", 0) == ray.cluster_resources()["CPU"]


def backend(**kw):
    from lab.sweeps.ray_backend import RayBackend

    return RayBackend(**kw)


@pytest.mark.parametrize("files", ["auto", "returned"])
def test_ray_gives_the_local_summaries_for_the_same_seeds(cluster, tmp_path, files):
    local = read_sweep(run_sweep("nin-toy", SMALL, GRID, str(tmp_path / "local"), seeds=2))
    seen = []
    remote = read_sweep(
        run_sweep(
            "nin-toy",
            SMALL,
            GRID,
            str(tmp_path / "ray"),
            seeds=2,
            backend=backend(files=files),
            on_run=lambda e, d, t: seen.append(d),
        )
    )
    assert seen == [1, 2, 3, 4, 5, 6]
    assert (
        [r["status"] for r in remote.runs] == [r["status"] for r in local.runs] == ["completed"] * 4 + ["diverged"] * 2
    )
    assert [r["summary"] for r in remote.runs] == [r["summary"] for r in local.runs]
    assert remote.points == local.points  # the same mean and sd per point
    assert remote.backend["name"] == "ray" and remote.backend["files"] == ("shared" if files == "auto" else "returned")
    assert {r["written_by"] for r in remote.runs} == {"worker" if files == "auto" else "coordinator"}
    assert {r["node"] for r in remote.runs} == {ray.get_runtime_context().get_node_id()}
    for r in remote.runs:
        h = read_header(r["path"])
        assert (
            h.status == r["status"]
            and h.summary["loss_final"] == r["summary"]["loss_final"]
            and h.params["sigma_eps"] == r["values"]["sigma_eps"]
        )
    assert not [n for n in os.listdir(tmp_path / "ray") if n.startswith(".noiselab")]  # the marker went
    if files == "auto":  # workers are reused: six runs, written by at most the two processes of two CPUs
        assert len({read_header(r["path"]).attrs["writer"] for r in remote.runs}) <= 2


def test_cancel_stops_running_tasks_and_drops_queued_ones(cluster, tmp_path):
    cancel = threading.Event()
    going = set()

    def on_progress(entry):  # two runs going (2 CPUs), two queued: cancel now
        going.add(entry["index"])
        if len(going) == 2:
            cancel.set()

    # runs of 3e5 steps take ~30 s: only a cancel that reaches them ends them early
    path = run_sweep(
        "nin-toy",
        {"steps": 300_000, "n_samples": 100},
        {"sigma_eps": [1.0, 1.5, 2.0, 2.5]},
        str(tmp_path / "c"),
        backend=backend(),
        cancel_event=cancel,
        on_progress=on_progress,
    )
    sw = read_sweep(path)
    assert sw.status == "cancelled"
    assert sorted(r["status"] for r in sw.runs) == ["cancelled", "cancelled", "pending", "pending"]
    for r in sw.runs:
        if r["status"] == "cancelled":
            run = read_run(r["path"])  # readable, ended, partial
            assert run.header.status == "cancelled" and 0 < len(run["series/step"]) < 300_001
        else:
            assert not os.path.exists(r["path"])
    while not all_cpus_free():  # the cancelled tasks give their CPUs back
        time.sleep(0.05)


def test_a_killed_worker_leaves_its_run_interrupted(cluster, tmp_path):
    killed = []

    def on_progress(entry):
        if not killed:
            _, _, pid = read_header(os.path.join(tmp_path / "k", entry["path"])).attrs["writer"].rpartition(":")
            killed.append(int(pid))
            os.kill(int(pid), signal.SIGKILL)

    path = run_sweep(
        "nin-toy",
        {"steps": 300_000, "n_samples": 100},
        {"sigma_eps": [1.0]},
        str(tmp_path / "k"),
        backend=backend(),
        on_progress=on_progress,
    )
    sw = read_sweep(path)
    assert [r["status"] for r in sw.runs] == ["interrupted"] and "without a result" in sw.runs[0]["error"]
    assert read_header(sw.runs[0]["path"]).display_status == "interrupted"
    assert killed[0] != os.getpid()


def test_a_ray_sweep_started_from_the_window_fills_its_view_live(cluster, qtbot, tmp_path, boxes):
    from widgets.sweep_window import SweepWindow

    sw = SweepWindow.start(
        "nin-toy",
        {"steps": 20_000, "n_samples": 100},
        {"sigma_eps": [0.5, 1.0]},
        str(tmp_path / "w"),
        seeds=2,
        backend=backend(),
    )
    qtbot.addWidget(sw)
    # progress of a run going on a Ray worker reaches the table through the Ray queue and the sweep file
    qtbot.waitUntil(
        lambda: (
            sw.table.rowCount() == 4
            and any(
                sw.table.item(i, 1).text() == "running" and sw.table.item(i, 2).text() not in ("", "0%", "100%")
                for i in range(4)
            )
        ),
        timeout=60_000,
    )
    qtbot.waitUntil(lambda: not sw.running, timeout=120_000)
    qtbot.waitUntil(lambda: [sw.table.item(i, 1).text() for i in range(4)] == ["completed"] * 4, timeout=5_000)
    assert sw.error == "" and read_sweep(sw.path).backend["name"] == "ray"
    x, _ = sw.view.curves["loss_final"].getData()
    assert len(x) == 2 and len(sw.view.repeats["loss_final"].getData()[0]) == 4
    assert not [b for b in boxes if b[0] == "critical"]
