"""Panel discovery, the generic panel, the worker's chunk batching, following a file
that another process writes, and the plot helpers' geometry."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from lab.live import RunGrower
from lab.runfile import read_run
from lab.runner import run_experiment
from tests import fake_experiment
from widgets.panels import generic, panel_class
from widgets.plots import DensityCloud, ellipse_points, log_indices
from workers.run_worker import ChunkBuffer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_panels_are_found_by_experiment_name():
    from widgets.panels import ols

    assert panel_class("ols") is ols.Panel
    assert panel_class("no-such-experiment") is generic.Panel


def test_generic_panel_draws_every_scalar_series(qtbot, tmp_path):
    fake_experiment.install()
    res = run_experiment("fake", {"steps": 50}, out_dir=str(tmp_path))
    run = read_run(res.path)
    panel = generic.Panel()
    qtbot.addWidget(panel)
    panel.show_run(run)
    assert list(panel.curves) == ["series/loss"]
    x, y = panel.curves["series/loss"].getData()
    np.testing.assert_array_equal(x, np.arange(50))
    np.testing.assert_allclose(y, 1.0 / (np.arange(50) + 1))
    assert panel.plots()["loss"].getAxis("bottom").labelText == "step"


def test_chunks_from_a_thread_rebuild_the_file_exactly(tmp_path):
    """The listener's batches, applied to the layout's RunData, equal what was written."""
    fake_experiment.install()
    buf = ChunkBuffer()
    batches = []
    stop = threading.Event()

    def drain():  # a consumer taking batches while the run appends
        while not stop.wait(0.002):
            batches.append(buf.take())
        batches.append(buf.take())

    t = threading.Thread(target=drain)
    t.start()
    path = str(tmp_path / "r.h5")
    run_experiment("fake", {"steps": 1000}, path=path, listeners=[buf.add])
    stop.set()
    t.join()
    starts = [b.start for b in batches if b.start is not None]
    assert len(starts) == 1 and next(b for b in batches if b).start is starts[0]  # the layout first, once
    live = starts[0]
    assert live.header.status == "running" and not live.header.interrupted
    grower = RunGrower(live)
    for b in batches:
        grower.apply(b.appends, b.saves)
    disk = read_run(path)
    assert sum(1 for b in batches if b) > 1
    for p in ("series/step", "series/loss", "data/x", "final/w"):
        np.testing.assert_array_equal(live[p], disk[p], err_msg=p)
    assert live["series/step"].dtype == disk["series/step"].dtype
    assert batches[-1].progress in (None, (1000, 1000))


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    from lab.runfile import Dataset, RunWriter
    w = RunWriter({path!r}, experiment="ols", params={{}}, seed=0, device="cpu", flush_interval=0.05,
                  layout=[Dataset("series/step", (), "i8"), Dataset("series/beta_noisy", (2,)),
                          Dataset("series/beta_clean", (2,))])
    w.save("data/beta_star", np.ones(2))
    w.save("data/beta_hat", np.ones(2))
    k = 0
    while True:  # until killed
        w.append("series/step", np.arange(k, k + 10))
        w.append("series/beta_noisy", np.full((10, 2), 1.0 + k))
        w.append("series/beta_clean", np.full((10, 2), 1.0 - 1 / (k + 1)))
        w.flush()
        k += 10
        time.sleep(0.05)
""")


def test_a_file_written_by_another_process_is_followed_live(qtbot, tmp_path, monkeypatch):
    from widgets.main_window import MainWindow
    from widgets.sources import FollowedRun

    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: pytest.fail(a[2]))
    path = str(tmp_path / "other.h5")
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=ROOT, path=path)])
    try:
        w = MainWindow(run_dir=str(tmp_path))
        qtbot.addWidget(w)

        def listed_running():
            assert proc.poll() is None, "the writer process ended"
            assert (w.browser.row_of(path) or [None] * 3)[2] == "running", w.browser.row_of(path)

        qtbot.waitUntil(listed_running, timeout=20_000)
        assert w.open_run(path)
        src = w.tab_of["ols"].current
        assert isinstance(src, FollowedRun) and src.running
        qtbot.waitUntil(lambda: src.run is not None and len(src.run["series/step"]) >= 10, timeout=10_000)
        n0 = len(src.run["series/step"])
        qtbot.waitUntil(lambda: len(src.run["series/step"]) > n0 + 20, timeout=10_000)  # it grows
        w.tab_of["ols"].redraw()
        x, _ = w.tab_of["ols"].panel.clean_path.getData()
        assert len(x) >= n0
        np.testing.assert_array_equal(src.run["series/beta_noisy"][:, 0], 1.0 + src.run["series/step"] // 10 * 10)
    finally:
        proc.kill()
        proc.wait()
    qtbot.waitUntil(lambda: not src.running, timeout=30_000)  # killed writer: interrupted
    assert src.status == "interrupted"
    w.close()


def test_ellipse_is_the_two_sigma_contour():
    cov = np.array([[4.0, 1.0], [1.0, 2.0]])
    pts = ellipse_points([1.0, -1.0], cov, n_sigma=2.0)
    d = pts - [1.0, -1.0]
    mahal = np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(mahal, 4.0, rtol=1e-9)
    assert ellipse_points([0, 0], np.full((2, 2), np.nan)).shape == (0, 2)


def test_log_indices():
    idx = log_indices(10**6, 3000)
    assert idx[0] == 0 and idx[-1] == 10**6 - 1 and len(idx) <= 3002 and np.all(np.diff(idx) > 0)
    assert (idx < 1000).sum() > (idx >= 10**5).sum() / 3  # dense where a trajectory moves most
    np.testing.assert_array_equal(log_indices(7), np.arange(7))
    assert len(log_indices(0)) == 0


def test_density_cloud_counts_every_point(qtbot):
    import pyqtgraph as pg

    w = pg.PlotWidget()
    qtbot.addWidget(w)
    cloud = DensityCloud(w.getPlotItem(), "cloud", (200, 0, 0))
    rng = np.random.default_rng(0)
    xy = np.concatenate([np.linspace([-50, -50], [0, 0], 2000), rng.normal(size=(60_000, 2))])
    for n in (1000, 8000, 20_000, 62_000):
        cloud.update(xy[:n])
    x, _ = cloud.scatter.getData()
    assert len(x) == 1000 and cloud.image.isVisible()
    (x0, x1), (y0, y1) = cloud.range
    inside = ((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)).sum()
    assert cloud.hist.sum() == inside
    assert x1 - x0 < 20  # the grid follows the stationary cloud, not the transient


def test_density_cloud_rebuilds_its_grid_in_slices_counting_every_point_meanwhile(qtbot, monkeypatch):
    import pyqtgraph as pg

    from widgets import plots

    monkeypatch.setattr(plots, "REBUILD_SLICE", 7000)
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    cloud = DensityCloud(w.getPlotItem(), "cloud", (200, 0, 0))
    rng = np.random.default_rng(1)
    xy = np.concatenate([np.linspace([-50, -50], [0, 0], 8000), rng.normal(size=(55_000, 2))])

    def counted(grid) -> int:  # the points of xy[:cloud.n] inside the grid's range
        (x0, x1), (y0, y1) = grid.range
        p = xy[: cloud.n]
        return int(((p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)).sum())

    cloud.update(xy[:12_000])  # the first grid, made at once; the transient makes it wide
    first = cloud.grid
    assert cloud.next is None and first.counts.sum() == counted(first)
    cloud.update(xy[:63_000])  # more than doubled: a new grid is filled slice by slice
    assert cloud.grid is first and cloud.next is not None and cloud.next[1] == 0
    assert first.counts.sum() == counted(first)  # the grid shown still counts every point
    qtbot.waitUntil(lambda: cloud.next is None, timeout=10_000)  # without new points, between events
    assert cloud.grid is not first and cloud.hist.sum() == counted(cloud.grid)
    (x0, x1), _ = cloud.range
    assert x1 - x0 < 20 < first.range[0][1] - first.range[0][0]  # it follows the stationary cloud


def test_generic_panel_leaves_out_series_without_values_until_they_have_some(qtbot, tmp_path):
    fake_experiment.install()
    run = read_run(run_experiment("fake", {"steps": 20}, out_dir=str(tmp_path)).path)
    run.arrays["series/val_loss"] = np.full(20, np.nan)  # a split the run does not use
    run.arrays["series/lr"] = np.full(20, 1e-3)
    panel = generic.Panel()
    qtbot.addWidget(panel)
    panel.show_run(run)
    assert sorted(panel.plots()) == ["loss", "lr"]
    assert not panel.plots()["lr"].getAxis("left").autoSIPrefix  # no "lr (x0.001)" rescaling
    run.arrays["series/val_loss"][-1] = 0.5
    panel.refresh(run)
    assert sorted(panel.plots()) == ["loss", "lr", "val_loss"]
    np.testing.assert_array_equal(panel.curves["series/val_loss"].getData()[1][-1:], [0.5])


def test_auto_range_moves_only_when_the_data_leaves_it_or_fills_too_little_of_it(qtbot):
    from widgets.plots import HEADROOM, KEEP_SHARE, make_plot

    w = make_plot("x", "y")
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    item = w.getPlotItem()
    curve = item.plot(np.arange(10.0), np.linspace(0.0, 1.0, 10))

    def settled():
        w.getViewBox().updateAutoRange()
        return w.getViewBox().viewRange()[1]

    first = settled()
    assert first[0] < 0.0 and first[1] > 1.0
    curve.setData(np.arange(10.0), np.linspace(0.0, 0.98, 10))  # inside, and fills it: the range stays
    assert settled() == first
    curve.setData(np.arange(10.0), np.linspace(0.0, 2.0, 10))  # leaves it: it moves, with headroom
    lo, hi = settled()
    span = 2.0 * (1 + 2 * w.getViewBox().suggestPadding(1))
    assert hi > 2.0 and hi - lo == pytest.approx(span * (1 + 2 * HEADROOM), rel=0.05)
    curve.setData(np.arange(10.0), np.linspace(0.0, 2.0 * KEEP_SHARE * 0.5, 10))  # too small a share: it shrinks
    assert settled()[1] < 1.0
    item.setYRange(-5.0, 5.0, padding=0)  # the user's range is kept as given
    assert w.getViewBox().viewRange()[1] == [-5.0, 5.0]
