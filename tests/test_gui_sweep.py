"""Sweeps from the window: the set-up dialog, a sweep run on a worker thread and drawn
as it fills in, cancelling one, and opening sweep files (good, damaged, foreign)."""

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from lab import experiments
from lab.sweep import read_sweep, run_sweep, write_sweep
from widgets.main_window import MainWindow
from widgets.noise_scale_view import NoiseScaleView
from widgets.sweep_dialog import SweepDialog
from widgets.sweep_view import SweepView
from widgets.sweep_window import spans_decades

SPEC = experiments.get("nin-toy").spec
SMALL = {"steps": 300, "n_samples": 100}


@pytest.fixture
def window(qtbot, tmp_path, boxes):
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.tabs.setCurrentWidget(w.tab_of["nin-toy"])
    w.tab_of["nin-toy"].form.set_values(SMALL)
    w.show()
    yield w
    w.close()
    assert all(s.thread is None or s.thread.isFinished() for s in w.sweep_windows)


def start_from_menu(window, monkeypatch, values: str, jobs: int = 1):
    """Ctrl+Shift+R with the dialog answered: sigma_eps = ``values``."""

    def answer(dialog):
        dialog.param_box.setCurrentIndex(dialog.param_box.findData("sigma_eps"))
        dialog.values_edit.setText(values)
        dialog.jobs_box.setValue(jobs)
        assert dialog.ok.isEnabled()
        return SweepDialog.Accepted

    monkeypatch.setattr(SweepDialog, "exec", answer)
    assert window.sweep_action.shortcut() == QKeySequence("Ctrl+Shift+R")
    window.sweep_action.trigger()
    return window.sweep_windows[-1]


def test_dialog_offers_numeric_and_choice_params_and_checks_the_values(qtbot, tmp_path):
    d = SweepDialog("nin-toy", SPEC, SPEC.defaults(), str(tmp_path))
    qtbot.addWidget(d)
    offered = [d.param_box.itemData(i) for i in range(d.param_box.count())]
    assert offered == [p.name for p in SPEC if p.kind in ("float", "int", "choice") and p.name != "seed"]
    assert "noise_timing" in offered and "seed" not in offered and "sigma_eps" in offered
    d.param_box.setCurrentIndex(offered.index("sigma_eps"))
    assert d.ok.isEnabled()  # the suggested values parse
    assert d.folder().startswith(str(tmp_path)) and "sigma_eps" in d.folder()
    bad_values = [("0.1,-1", "sigma_eps"), ("lin:1:2", "lin:lo:hi:n"), ("log:0:1:3", "lo, hi > 0"), ("", "at least")]
    for bad, says in bad_values:
        d.values_edit.setText(bad)
        assert not d.ok.isEnabled(), bad
        assert d.values_edit.property("invalid") is True
        assert says in d.values_edit.toolTip()
    d.values_edit.setText("log:0.01:100:5")
    assert d.ok.isEnabled() and d.values_edit.property("invalid") is False
    assert d.grid() == {"sigma_eps": pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0])}
    assert d.count_label.text().startswith("5 point(s) × 1 seed(s) = 5 run(s)")
    d.param_box.setCurrentIndex(offered.index("batch"))  # an int parameter: values are rounded to ints
    d.values_edit.setText("lin:1:4:4")
    assert d.grid() == {"batch": [1, 2, 3, 4]}
    os.makedirs(d.folder())
    write_sweep(os.path.join(d.folder(), "sweep.json"), {})
    d.values_edit.setText("1,2")
    assert not d.ok.isEnabled() and "holds a sweep" in d.folder_edit.toolTip()


def test_a_three_value_sweep_from_the_window_draws_three_points(qtbot, window, monkeypatch):
    sw = start_from_menu(window, monkeypatch, "0.5,1,2")
    assert isinstance(sw.view, SweepView) and sw.running
    qtbot.waitUntil(lambda: not sw.running, timeout=60_000)
    qtbot.waitUntil(lambda: sw.bar.value() == 3, timeout=30_000)  # the last progress signal has arrived
    assert sw.error == "" and sw.bar.maximum() == 3
    data = read_sweep(sw.path)
    assert os.path.dirname(sw.path).startswith(window.browser.folder)
    assert data.status == "completed" and [r["status"] for r in data.runs] == ["completed"] * 3
    assert data.params["steps"] == 300 and data.grid == {"sigma_eps": [0.5, 1.0, 2.0]}
    view = sw.view
    assert view.sweep.status == "completed" and view.selected_keys() == ["loss_final"]
    x, y = view.curves["loss_final"].getData()
    np.testing.assert_allclose(10 ** np.asarray(x), [0.5, 1.0, 2.0])  # sigma_eps is log-scaled: log x axis
    loss = data.column("loss_final")
    assert spans_decades(loss) and view.log_y.isChecked()  # decaying losses: a log y axis
    np.testing.assert_allclose(10 ** np.asarray(y), loss)
    assert "3/3 runs" in view.info.text() and "completed" in view.info.text()
    assert view.band_box.currentText() == "phase" and view.band_items
    assert not sw.cancel_button.isEnabled()


def test_cancel_mid_sweep_ends_it_cancelled(qtbot, window, monkeypatch, boxes):
    window.tab_of["nin-toy"].form.set_values({"steps": 300_000})  # ~30 s a run
    sw = start_from_menu(window, monkeypatch, "1,2,3")
    qtbot.waitUntil(lambda: sw.view.sweep is not None, timeout=10_000)  # the sweep file is there, the first run going
    qtbot.waitUntil(
        lambda: (
            sw.table.rowCount() == 3
            and sw.table.item(0, 1).text() == "running"
            and sw.table.item(0, 2).text() not in ("", "0%")
        ),
        timeout=20_000,
    )  # its progress shows live
    qtbot.mouseClick(sw.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not sw.running, timeout=20_000)
    qtbot.waitUntil(lambda: sw.view.sweep.status != "running", timeout=30_000)
    data = read_sweep(sw.path)
    assert data.status == "cancelled"
    assert [r["status"] for r in data.runs] == ["cancelled", "pending", "pending"]
    assert "cancelled" in sw.view.info.text() and "cancelled" in sw.eta.text()
    assert [sw.table.item(i, 1).text() for i in range(3)] == ["cancelled", "pending", "pending"]
    assert not [b for b in boxes if b[0] == "critical"]


def test_open_sweep_picks_the_view_and_explains_bad_files(qtbot, window, boxes, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "noiselab-sw')
    assert window.open_sweep(str(bad)) is None
    assert boxes[-1][0] == "critical" and "not a JSON sweep file" in boxes[-1][1]
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"runs": []}))
    assert window.open_sweep(str(foreign)) is None and "not a Noise Lab sweep" in boxes[-1][1]
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"format": "noiselab-sweep", "format_version": 1, "runs": []}))
    assert window.open_sweep(str(damaged)) is None and "damaged" in boxes[-1][1]
    assert not window.sweep_windows
    doc = {
        "format": "noiselab-sweep",
        "format_version": 1,
        "experiment": "distill",
        "preset": "",
        "params": {},
        "swept": ["sigma2"],
        "grid": {"sigma2": [0.1, 1.0]},
        "status": "completed",
        "runs": [],
    }
    write_sweep(str(tmp_path / "sweep.json"), doc)
    sw = window.open_sweep(str(tmp_path / "sweep.json"))
    assert isinstance(sw.view, NoiseScaleView) and sw.isVisible() and not sw.footer.isVisible()
    assert [a.shortcut() for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open s&weep…"] == [
        QKeySequence("Ctrl+Shift+O")
    ]
    sw.close()  # a finished sweep's window goes away
    qtbot.waitUntil(lambda: not window.sweep_windows, timeout=30_000)


def test_a_followed_sweep_view_shows_phase_bands_once_runs_have_ended(qtbot, tmp_path):
    path = run_sweep("nin-toy", SMALL, {"sigma_eps": [0.01, 3.0]}, str(tmp_path / "s"))
    full = json.load(open(path))
    write_sweep(path, dict(full, status="running", runs=[dict(r, status="pending", summary={}) for r in full["runs"]]))
    view = SweepView()
    qtbot.addWidget(view)
    view.load(path)
    assert view.band_box.currentText() == "(none)" and not view.band_items
    write_sweep(path, full)
    view.reread()
    assert view.band_box.currentText() == "phase"
    assert [b[2] for b in read_sweep(path).bands("sigma_eps", "phase")] == ["decoupled", "decay"]
    assert len(view.band_items) == 2


def test_log_y_is_chosen_for_positive_values_spanning_decades():
    assert spans_decades(np.array([1e-30, np.nan, 1.0]))
    assert not spans_decades(np.array([1.0, 10.0]))
    assert not spans_decades(np.array([-1.0, 1e5]))
    assert not spans_decades(np.array([1e5]))


def test_closing_windows_with_a_sweep_going_cancels_it(qtbot, window, monkeypatch, boxes):
    window.tab_of["nin-toy"].form.set_values({"steps": 300_000})
    sw = start_from_menu(window, monkeypatch, "1,2")
    qtbot.waitUntil(lambda: sw.view.sweep is not None, timeout=10_000)
    sw.close()  # asks, then cancels
    assert boxes[-1][0] == "question" and "still going" in boxes[-1][1]
    qtbot.waitUntil(lambda: not sw.running, timeout=20_000)
    assert read_sweep(sw.path).status == "cancelled"
    other = start_from_menu(window, monkeypatch, "3,4")
    qtbot.waitUntil(lambda: other.view.sweep is not None, timeout=10_000)
    window.close()  # asks about the sweep, cancels it and waits
    assert "1 sweep(s)" in boxes[-1][1] and other.thread.isFinished()
    assert read_sweep(other.path).status == "cancelled"


def test_a_sweep_that_cannot_start_says_why(qtbot, window, boxes, tmp_path):
    from widgets.sweep_window import SweepWindow

    write_sweep(str(tmp_path / "sweep.json"), {})
    sw = SweepWindow.start("nin-toy", SMALL, {"sigma_eps": [1.0]}, str(tmp_path), parent=window)
    qtbot.waitUntil(lambda: not sw.running, timeout=10_000)
    qtbot.waitUntil(lambda: sw.error != "", timeout=30_000)
    assert "exists already" in sw.error and boxes[-1] == ("critical", sw.error)


@pytest.mark.parametrize(
    "view_class, experiment, swept", [(SweepView, "nin-toy", "sigma_eps"), (NoiseScaleView, "distill", "sigma2")]
)
def test_a_followed_sweep_file_that_vanishes_stops_the_following_with_a_note(
    qtbot, tmp_path, view_class, experiment, swept
):
    doc = {
        "format": "noiselab-sweep",
        "format_version": 1,
        "experiment": experiment,
        "preset": "",
        "params": {},
        "swept": [swept],
        "grid": {swept: [0.1, 1.0]},
        "status": "running",
        "runs": [],
    }
    path = str(tmp_path / "sweep.json")
    write_sweep(path, doc)
    view = view_class()
    qtbot.addWidget(view)
    view.load(path)
    assert view.timer.isActive()
    os.remove(path)
    view.reread()  # a timer slot: it must not raise
    assert not view.timer.isActive()
    infos = [v.info.text() for v in (view.views.values() if view_class is NoiseScaleView else [view])]
    assert all("stopped following" in t and "no such sweep file" in t for t in infos)


def test_a_label_on_several_ranges_keeps_one_colour_matching_its_key(qtbot):
    from lab.sweep import SweepData
    from widgets.sweep_view import band_colour

    modes = ["fast", "slow", "fast", "slow"]  # labels that are not phases: colours by first appearance
    runs = [
        {
            "path": f"r{i}.h5",
            "status": "completed",
            "values": {"lr": float(i + 1)},
            "summary": {"mode": m, "loss_final": 1.0},
        }
        for i, m in enumerate(modes)
    ]
    sweep = SweepData(
        path="/nowhere/sweep.json",
        experiment="nin-toy",
        params={},
        swept=["lr"],
        grid={"lr": [1.0, 2.0, 3.0, 4.0]},
        status="completed",
        runs=runs,
    )
    view = SweepView()
    qtbot.addWidget(view)
    view.load(sweep, y_keys=("loss_final",), band_key="mode", log_x=False)
    colours = [r.brush.color().getRgb()[:3] for r in view.band_items]
    assert len(colours) == 4
    assert colours[0] == colours[2] == band_colour("fast", 0) and colours[1] == colours[3] == band_colour("slow", 1)
    assert f"rgb{band_colour('slow', 1)}'>■</span> slow" in view.info.text()


def test_dialog_sweeps_several_parameters_random_points_seeds_and_backends(qtbot, tmp_path, monkeypatch):
    import sys

    d = SweepDialog("nin-toy", SPEC, SPEC.defaults(), str(tmp_path))
    qtbot.addWidget(d)
    d.param_box.setCurrentIndex(d.param_box.findData("sigma_eps"))
    d.values_edit.setText("log:0.1:10:3")
    row = d.add_row("noise_timing")
    assert row.values_edit.text() == "redraw,fixed"  # every choice, suggested
    d.seeds_box.setValue(3)
    assert d.ok.isEnabled() and d.count_label.text() == "6 point(s) × 3 seed(s) = 18 run(s)"
    assert [a.name for a in d.space().axes] == ["sigma_eps", "noise_timing"]
    d.mode_box.setCurrentText("random")
    d.values_edit.setText("log:0.1:10")  # a range without a count: random only
    d.random_box.setValue(7)
    assert d.ok.isEnabled() and d.count_label.text().startswith("7 point(s)")
    assert d.space().points() == d.space().points() and all(0.1 <= p["sigma_eps"] <= 10 for p in d.space().points())
    d.mode_box.setCurrentText("grid")
    assert not d.ok.isEnabled() and "count n >= 1" in d.values_edit.toolTip()
    d.values_edit.setText("1,2")
    d.backend_box.setCurrentText("ray")
    assert d.address_edit.isVisibleTo(d) and not d.jobs_box.isVisibleTo(d)
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    d.address_edit.setText("ray://head:10001")
    assert not d.ok.isEnabled() and 'pip install -e ".[ray]"' in d.backend_box.toolTip()
    d.backend_box.setCurrentText("local")
    assert d.ok.isEnabled() and d.backend().name == "local"


def test_a_2d_sweep_shows_a_heat_map_and_a_table_and_a_click_opens_the_run(qtbot, window, tmp_path):
    from widgets.sweep_maps import HeatMapView
    from widgets.sweep_window import SweepWindow

    path = run_sweep("nin-toy", SMALL, {"sigma_eps": [0.5, 1.0, 2.0], "lr": [0.01, 0.02]}, str(tmp_path / "h"), seeds=2)
    sw = window.open_sweep(path)
    assert isinstance(sw, SweepWindow) and isinstance(sw.view, HeatMapView)
    data = read_sweep(path)
    assert sw.table.rowCount() == 12 and sw.table.item(5, 1).text() == "completed"
    x, y = sw.view.cells.getData()
    assert len(x) == 6 and set(x) == {0.0, 1.0, 2.0} and set(y) == {0.0, 1.0}  # a cell per point
    assert sw.view.metric() == "loss_final"
    spots = sw.view.cells.points()
    sw.view.cells.sigClicked.emit(sw.view.cells, [spots[4]], None)
    run = data.runs[data.points[4]["runs"][0]]
    assert window.tab_of["nin-toy"].find_source(run["path"]) is not None  # opened in its tab
    sw.table.cellDoubleClicked.emit(7, 0)
    assert window.tab_of["nin-toy"].find_source(data.runs[7]["path"]) is not None


def test_a_1d_sweep_over_seeds_draws_mean_and_sd_and_a_3d_one_parallel_lines(qtbot, tmp_path):
    from widgets.sweep_maps import ParallelView

    path = run_sweep("nin-toy", SMALL, {"sigma_eps": [1.0, 2.0]}, str(tmp_path / "m"), seeds=3)
    data = read_sweep(path)
    view = SweepView()
    qtbot.addWidget(view)
    view.load(path, y_keys=("loss_final",), log_x=False)
    x, y = view.curves["loss_final"].getData()
    mean, sd, n = data.point_stats("loss_final")
    np.testing.assert_allclose(y, mean)
    np.testing.assert_allclose(x, [1.0, 2.0])
    assert list(n) == [3, 3] and (sd > 0).all()
    np.testing.assert_allclose(view.errors["loss_final"].opts["height"], 2 * sd)
    assert len(view.repeats["loss_final"].getData()[0]) == 6  # every replicate as a dot
    opened = []
    view.run_clicked.connect(opened.append)
    dots = view.repeats["loss_final"].scatter.points()
    view.repeats["loss_final"].scatter.sigClicked.emit(view.repeats["loss_final"].scatter, [dots[4]], None)
    assert opened == [data.runs[4]["path"]]
    p3 = run_sweep(
        "nin-toy", SMALL, {"sigma_eps": [1.0, 2.0], "lr": [0.01, 0.02], "batch": [1, 2]}, str(tmp_path / "p")
    )
    pv = ParallelView()
    qtbot.addWidget(pv)
    pv.load(p3, metric="loss_final")
    assert len(pv.lines) == 8
    ends = [line.getData()[1][-1] for line in pv.lines]  # last axis: the scaled metric
    m = read_sweep(p3).point_stats("loss_final")[0]
    np.testing.assert_allclose(ends, (m - m.min()) / (m.max() - m.min()))
    pv.run_clicked.connect(opened.append)
    pv.lines[5].sigClicked.emit(pv.lines[5], None)
    assert opened[-1] == read_sweep(p3).runs[5]["path"]


def test_mean_sd_bars_follow_a_switch_to_a_log_y_axis(qtbot, tmp_path):
    """Ticking log y after a linear draw redraws the bars in log10 units: the view range
    then spans the log10 of the means, not the linear bar heights."""
    path = run_sweep(
        "nin-toy",
        {"steps": 500, "n_samples": 100},
        {"sigma_eps": [0.1, 1.0, 30.0]},  # 30 diverges
        str(tmp_path / "s"),
        seeds=2,
    )
    view = SweepView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.show()
    view.load(path, y_keys=["loss_final"])
    view.log_y.setChecked(False)
    view.log_y.setChecked(True)
    view.item.autoRange()
    lo, hi = view.item.viewRange()[1]
    mean, _, _ = view.sweep.point_stats("loss_final")
    logs = np.log10(mean[mean > 0])
    assert lo <= logs.min() and logs.max() <= hi and hi - lo < 3 * (np.ptp(logs) + 1)
