"""NIN views: the phase-map view draws a stored map and a click opens the cell's
trajectory; the toy panel draws SGD and averaged curves; the sweep view plots a sweep."""

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from lab.runfile import read_run
from lab.runner import run_experiment
from lab.sweep import run_sweep, write_sweep
from lab.theory.nin import PHASES
from widgets.main_window import MainWindow
from widgets.panels import panel_class
from widgets.phase_map_view import PALETTE
from widgets.sweep_view import SweepView

MAP = dict(
    steps=400,
    n_samples=200,
    sigma_eps_min=1e-2,
    sigma_eps_max=1e3,
    n_sigma=10,
    y_param="lr",
    y_min=0.005,
    y_max=0.02,
    n_y=3,
    rows_per_block=2,
)


@pytest.fixture(scope="module")
def map_file(tmp_path_factory):
    res = run_experiment("nin-phase-map", MAP, out_dir=str(tmp_path_factory.mktemp("map")))
    assert res.status == "completed"
    return res.path


def click_cell(qtbot, view, row, col):
    scene = view.item.getViewBox().mapViewToScene(view.cell_center(row, col))
    pos = view.plot.mapFromScene(scene)
    qtbot.mouseClick(view.plot.viewport(), Qt.LeftButton, pos=QPoint(int(pos.x()), int(pos.y())))


def test_phase_map_view_draws_the_stored_map_and_a_click_emits_the_cell(qtbot, map_file):
    run = read_run(map_file)
    panel = panel_class("nin-phase-map")()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    panel.show_run(run)
    view = panel.view
    img = view.image.image
    phase = run["phase_map/phase"]
    assert img.shape == (10, 3, 4)  # x (sigma_eps) by y (lr), RGBA
    for row, col in [(0, 0), (2, 9), (1, 5)]:
        assert tuple(img[col, row, :3]) == PALETTE[phase[row, col] - 1]
    assert {PHASES[c] for c in np.unique(phase)} >= {"decoupled", "divergent"}
    x, y = view.curves["σ_cat = min(2/B0, 2/B~0)"].getData()
    np.testing.assert_allclose(10 ** np.asarray(x), np.sqrt(2 / run["phase_map/y"]))  # 2/(lr w1^2), w1 = 1
    assert "decoupled (" in view.legend.text()
    qtbot.waitExposed(panel)
    with qtbot.waitSignal(panel.run_requested, timeout=30_000) as sig:
        click_cell(qtbot, view, 2, 7)
    assert sig.args[0] == "nin-toy"
    vals = sig.args[1]
    assert vals["lr"] == pytest.approx(run["phase_map/y"][2])
    assert vals["sigma_eps"] == pytest.approx(run["phase_map/sigma_eps"][7])
    assert vals["steps"] == 400 and vals["seed"] == run.header.params["seed"]
    assert view.describe(2, 7).count("=") >= 4  # hover readout: axes and summaries


def test_click_in_the_window_runs_the_cells_trajectory(qtbot, tmp_path, map_file, monkeypatch):
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: QMessageBox.Ok)
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.show()
    assert w.open_run(map_file)
    panel = w.tab_of["nin-phase-map"].panel
    run = panel.run
    row, col = 1, 8  # large sigma_eps: diverges
    panel._on_cell(row, col)
    toy = w.tab_of["nin-toy"]
    assert w.tabs.currentWidget() is toy
    src = toy.sources[-1]
    assert src.wait(20_000)
    qtbot.waitUntil(lambda: not src.running, timeout=20_000)
    h = read_run(src.path).header
    assert h.params["lr"] == pytest.approx(run["phase_map/y"][row])
    assert h.params["sigma_eps"] == pytest.approx(run["phase_map/sigma_eps"][col])
    # the trajectory run agrees with the map's phase for that cell (same seed and draws)
    assert h.summary["phase"] == PHASES[run["phase_map/phase"][row, col]]
    w.close()


def test_toy_panel_draws_sgd_and_averaged_curves(qtbot):
    res = run_experiment("nin-toy", {"sigma_eps": 16.0, "steps": 800, "n_samples": 200})
    run = read_run(res.path)
    panel = panel_class("nin-toy")()
    qtbot.addWidget(panel)
    panel.show_run(run)
    x, y = panel.curves["w_NI"].getData()
    assert len(x) == 801 and np.allclose(y, run["series/w_NI"])
    _, ya = panel.curves["avg_w_NI"].getData()
    assert np.allclose(ya, run["series/avg_w_NI"], equal_nan=True)
    r_cat = panel.regions[2][0].getRegion()
    assert 10 ** r_cat[0] == pytest.approx(run["theory/sigma_eps2_cat"])
    assert panel.marker.value() == pytest.approx(np.log10(16.0**2))
    assert "catapult" in panel.info.text()


def test_sweep_view_plots_summaries_against_the_swept_value(qtbot, tmp_path):
    path = run_sweep("nin-toy", {"steps": 400, "n_samples": 200}, {"sigma_eps": [0.01, 3.0, 16.0]}, str(tmp_path / "s"))
    view = SweepView()
    qtbot.addWidget(view)
    view.load(path, y_keys=("decay_step",))
    x, y = view.curves["decay_step"].getData()
    np.testing.assert_allclose(10 ** np.asarray(x), [3.0, 16.0])  # never decayed (NaN) at 0.01: not drawn
    assert len(view.band_items) == 3  # decoupled | decay | catapult
    view.set_reference(10.0, "ref")
    assert view.reference is not None


def test_mlp_panel_draws_norms_objectives_and_fits(qtbot):
    res = run_experiment("nin-mlp", {"mlp_widths": [16], "batch": 100, "lr": 0.05, "epochs": 4, "sigma_eps": 10.0})
    assert res.status == "completed"
    run = read_run(res.path)
    panel = panel_class("nin-mlp")()
    qtbot.addWidget(panel)
    panel.show_run(run)
    x, y = panel.curves["niw_norm"][0].getData()
    np.testing.assert_allclose(10 ** np.asarray(y), run["series/niw_norm"], rtol=1e-9)  # log axis
    assert len(x) == 5
    _, yf = panel.fits["niw_norm"].getData()
    fit = run["fit/niw_norm"]
    np.testing.assert_allclose(10 ** np.asarray(yf)[np.isfinite(yf)], fit[np.isfinite(fit) & (fit > 0)], rtol=1e-9)
    assert "τ_NIW" in panel.info.text() and run.header.summary["phase"] in panel.info.text()


def test_phase_map_fills_in_live_in_the_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: QMessageBox.Ok)
    # the torch path: the compiled loop finishes this map before a throttled signal is due
    monkeypatch.setattr("lab.nin.toy.loops.AVAILABLE", False)
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    tab = w.tab_of["nin-phase-map"]
    tab.form.set_values({**MAP, "rows_per_block": 1, "steps": 3000})
    src = tab.start_run()
    seen = []
    tab.timer.timeout.connect(
        lambda: src.run is not None and seen.append(int((src.run["phase_map/phase"] > 0).any(axis=1).sum()))
    )
    qtbot.waitUntil(lambda: not src.running, timeout=30_000)
    tab.redraw()
    final = read_run(src.path)["phase_map/phase"]
    np.testing.assert_array_equal(src.run["phase_map/phase"], final)
    assert (tab.panel.view.codes == final).all()
    assert (final > 0).all()
    assert seen == sorted(seen) and any(0 < k < 3 for k in seen)  # rows arrived block by block
    w.close()


def test_sweep_view_follows_a_running_sweep(qtbot, tmp_path):
    path = run_sweep("nin-toy", {"steps": 200, "n_samples": 100}, {"sigma_eps": [1.0, 3.0]}, str(tmp_path / "s"))
    doc = json.load(open(path))
    full = json.loads(json.dumps(doc))
    doc["status"], doc["runs"][1]["status"], doc["runs"][1]["summary"] = "running", "pending", {}
    write_sweep(path, doc)
    view = SweepView()
    qtbot.addWidget(view)
    view.load(path, y_keys=("loss_final",), log_x=False)
    assert view.timer.isActive() and len(view.curves["loss_final"].getData()[0]) == 1
    write_sweep(path, full)
    view.reread()
    assert not view.timer.isActive() and len(view.curves["loss_final"].getData()[0]) == 2


def test_hover_readout_skips_values_whose_shape_lacks_the_cell(qtbot):
    from widgets.phase_map_view import PhaseMapView

    view = PhaseMapView()
    qtbot.addWidget(view)
    view.set_axes(np.geomspace(0.01, 100, 5), np.linspace(1, 3, 3), "x", "y")
    codes = np.ones((3, 5), dtype=int)
    # more rows but fewer columns than the grid: a lexicographic shape test lets (1, 3) through
    view.set_codes(codes, PHASES, {"short": np.zeros((5, 2)), "full": np.full((3, 5), 7.0)})
    text = view.describe(1, 3)
    assert "full = 7" in text and "short" not in text
    view.set_codes(np.ones((4, 2), dtype=int), PHASES)  # codes narrower than the grid
    assert PHASES[0] in view.describe(1, 3)


def test_a_map_file_without_its_axes_says_so_instead_of_drawing_nothing(qtbot, tmp_path, map_file, monkeypatch):
    import shutil

    import h5py

    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: pytest.fail(a[2]))
    damaged = str(tmp_path / "damaged.h5")
    shutil.copy(map_file, damaged)
    with h5py.File(damaged, "a") as f:
        del f["phase_map/sigma_eps"]
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    messages = []
    w.statusBar().messageChanged.connect(messages.append)
    assert w.open_run(damaged)  # the header is fine: the file opens
    tab = w.tab_of["nin-phase-map"]
    tab.redraw()
    assert "the file has no 'phase_map/sigma_eps'" in tab.info.text()
    assert any("cannot draw this run" in m for m in messages)
