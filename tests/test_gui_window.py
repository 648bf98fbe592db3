"""The window end to end: run OLS, see points arrive, cancel, reopen the file and get
the same plotted data, the run browser, corrupt files, closing with runs going."""

import os

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from lab.export import write_export
from lab.runfile import read_header, read_run
from lab.runner import run_experiment
from widgets.main_window import MainWindow
from widgets.panels.ols import DIST_POINTS_PER_PX
from widgets.plots import RECENT, SCATTER_MAX, export_plot, log_indices
from widgets.sources import FileRun, LiveRun

SHORT = {"steps": 3000, "stride": 1}
LONG = {"steps": 10**8, "stride": 100}


@pytest.fixture
def window(qtbot, tmp_path, boxes):
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.tabs.setCurrentWidget(w.tab_of["ols"])
    w.show()
    yield w
    w.close()


def fill(tab, values):
    for name, v in values.items():
        tab.form.fields[name].set_value(v)


def start(qtbot, window, values) -> LiveRun:
    tab = window.tab_of["ols"]
    fill(tab, values)
    qtbot.mouseClick(tab.run_button, Qt.LeftButton)
    return tab.sources[-1]


def plotted(panel) -> dict:
    """Every array the OLS panel draws, read back from its plot items."""
    out = {}
    for name, item in [
        ("clean", panel.clean_path),
        ("noisy_path", panel.noisy_path),
        ("scatter", panel.cloud.scatter),
        ("star", panel.star),
        ("hat", panel.hat),
        ("ell_exact", panel.ell_exact),
        ("ell_paper", panel.ell_paper),
    ]:
        x, y = item.getData()
        out[name] = np.stack([np.asarray(x, float), np.asarray(y, float)]) if x is not None else np.empty((2, 0))
    for i, curve in enumerate(panel.d_curves.values()):
        out[f"dist{i}"] = np.stack([curve.xData, curve.yData])
    out["table"] = panel.table_values()
    return out


def test_short_run_draws_its_points_and_reopens_identically(qtbot, window):
    tab = window.tab_of["ols"]
    src = start(qtbot, window, SHORT)
    assert isinstance(src, LiveRun)
    qtbot.waitUntil(lambda: not src.running, timeout=60_000)
    qtbot.waitUntil(lambda: not src.dirty and not tab.drawing, timeout=30_000)  # the final state drawn
    assert src.status == "completed"
    assert read_header(src.path).status == "completed"
    run = read_run(src.path)
    T = len(run["series/step"])
    assert T == len(src.run["series/step"]) and T > 10
    np.testing.assert_array_equal(src.run["series/beta_noisy"], run["series/beta_noisy"])
    live = plotted(tab.panel)
    assert live["clean"].shape[1] == len(log_indices(T))
    assert live["scatter"].shape[1] == (T if T <= SCATTER_MAX else RECENT)
    n_pos = int((run["series/step"] > 0).sum())
    points = max(256, int(DIST_POINTS_PER_PX * tab.panel.dist.width()))  # about one per pixel
    assert live["dist0"].shape[1] == len(log_indices(n_pos, points))
    np.testing.assert_array_equal(live["dist0"][0][[0, -1]], run["series/step"][[1, -1]])
    assert np.isfinite(live["ell_exact"]).all() and live["ell_exact"].shape[1] > 10
    np.testing.assert_allclose(live["star"][:, 0], run["data/beta_star"])
    np.testing.assert_allclose(live["hat"][:, 0], run["data/beta_hat"])
    np.testing.assert_allclose(live["table"][:, 1], run["theory/cov_exact"][[0, 0, 1], [0, 1, 1]], rtol=1e-3)
    emp = np.asarray(run.header.summary["cov_empirical"])
    np.testing.assert_allclose(live["table"][:, 0], emp[[0, 0, 1], [0, 1, 1]], rtol=1e-3)
    np.testing.assert_allclose(emp, run["stats/cov_noisy"][-1])
    # noiseless distance to beta* falls as SGD converges
    d = live["dist3"][1]
    assert np.nanmin(d) < 0.1 * d[0]

    assert window.open_run(src.path)  # still the live source: routed, not re-read
    assert tab.current is src
    tab.sources.remove(src)
    tab.source_box.removeItem(tab.source_box.count() - 1)
    assert window.open_run(src.path)
    assert isinstance(tab.current, FileRun)
    tab.redraw()
    reopened = plotted(tab.panel)
    assert reopened.keys() == live.keys()
    for k in live:
        np.testing.assert_array_equal(reopened[k], live[k], err_msg=k)
    # a redraw of a run already shown: its parts on successive event-loop turns, all drawn in the end
    tab.panel.table.clearContents()
    tab.panel._drawn_table = ()
    for curve in tab.panel.d_curves.values():
        curve.clear()
    tab.current.dirty = True
    tab.redraw()
    assert tab.drawing and np.isnan(plotted(tab.panel)["table"]).all()  # the plane drawn, not yet the rest
    qtbot.waitUntil(lambda: not tab.drawing)
    again = plotted(tab.panel)
    for k in live:
        np.testing.assert_array_equal(again[k], live[k], err_msg=k)


def test_cancel_stops_a_long_run_quickly(qtbot, window):
    src = start(qtbot, window, LONG)
    qtbot.waitUntil(lambda: src.run is not None and len(src.run["series/beta_noisy"]) > 0, timeout=30_000)
    assert window.cancel_action.isEnabled()
    with qtbot.waitSignal(src.ended, timeout=60_000):  # a hang guard, not a deadline
        window.cancel_action.trigger()
    assert src.status == "cancelled" and read_header(src.path).status == "cancelled"
    n = len(src.run["series/beta_noisy"])
    assert 0 < n == len(read_run(src.path)["series/beta_noisy"])
    assert not window.cancel_action.isEnabled()


def test_several_runs_go_at_once_and_the_browser_lists_them(qtbot, window):
    a = start(qtbot, window, LONG)
    b = start(qtbot, window, SHORT)
    assert a.running and window.tab_of["ols"].current is b
    window.browser.refresh()
    assert window.browser.row_of(a.path)[2] == "running (this window)"
    qtbot.waitUntil(lambda: not b.running, timeout=60_000)
    assert a.running and b.status == "completed"
    window.tab_of["ols"].select_source(a)
    with qtbot.waitSignal(a.ended, timeout=60_000):
        window.cancel_current()
    window.browser.refresh()
    qtbot.waitUntil(lambda: window.browser.idle, timeout=30_000)
    assert window.browser.row_of(a.path)[1:3] == ["ols", "cancelled"]
    assert window.browser.row_of(b.path)[1:3] == ["ols", "completed"]


def test_browser_shows_new_and_unreadable_files(qtbot, window):
    folder = window.browser.folder
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "broken.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with open(os.path.join(folder, "garbage.h5"), "wb") as f:
        f.write(b"not hdf5 at all")
    with h5py.File(os.path.join(folder, "foreign.h5"), "w") as f:
        f["x"] = np.arange(3)
    os.symlink("self.h5", os.path.join(folder, "self.h5"))  # a link to itself once emptied the listing
    os.mkfifo(os.path.join(folder, "fifo.h5"))  # opening a FIFO blocks until a writer comes
    res = run_experiment("ols", dict(SHORT, steps=200), out_dir=folder, tag="made-outside")
    qtbot.waitUntil(
        lambda: (
            window.browser.row_of(res.path) is not None
            and window.browser.row_of(os.path.join(folder, "foreign.h5")) is not None
        ),
        timeout=30_000,
    )
    row = window.browser.row_of(res.path)
    assert row[1:3] == ["ols", "completed"] and "steps=200" in row[5]
    assert window.browser.row_of(os.path.join(folder, "broken.h5"))[2].startswith("unreadable: damaged HDF5 file")
    assert "symbolic links" in window.browser.row_of(os.path.join(folder, "self.h5"))[2]
    assert (
        window.browser.row_of(os.path.join(folder, "fifo.h5"))[2]
        == "unreadable: a FIFO, socket or device, not a regular file"
    )
    assert window.browser.row_of(os.path.join(folder, "garbage.h5"))[2].startswith("unreadable: not an HDF5 file")
    assert "not a Noise Lab run" in window.browser.row_of(os.path.join(folder, "foreign.h5"))[2]
    r = window.browser.keys().index(os.path.basename(res.path))
    window.browser.table.selectRow(r)
    assert window.browser.selected_paths() == [res.path]
    with qtbot.waitSignal(window.browser.open_requested):
        window.browser.table.doubleClicked.emit(window.browser.proxy.index(r, 0))
    assert isinstance(window.tab_of["ols"].current, FileRun)
    assert window.tab_of["ols"].form.values()["steps"] == 200


def test_opening_a_corrupt_file_shows_a_message(window, boxes, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not HDF5")
    assert window.open_run(str(bad)) is False
    assert boxes and boxes[-1][0] == "critical" and "not an HDF5 file" in boxes[-1][1]
    assert window.open_run(str(tmp_path / "missing.h5")) is False
    assert "no such file" in boxes[-1][1]


def test_closing_with_runs_going_asks_then_cancels(qtbot, tmp_path, monkeypatch, boxes):
    w = MainWindow(run_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.show()
    src = start(qtbot, w, LONG)
    qtbot.waitUntil(lambda: src.run is not None and len(src.run["series/step"]) > 0, timeout=30_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.No)
    assert not w.close() and src.running  # "No": the window stays, the run goes on
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    assert w.close()
    assert not src.thread.isRunning()
    assert read_header(src.path).status == "cancelled"


def test_export_plot_and_series(qtbot, window, tmp_path):
    from PySide6.QtGui import QImage

    res = run_experiment("ols", dict(SHORT, steps=300), out_dir=str(tmp_path))
    assert window.open_run(res.path)
    panel = window.tab_of["ols"].panel
    window.tab_of["ols"].redraw()
    for name, item in panel.plots().items():
        export_plot(item, str(tmp_path / f"{name}.png"))
        export_plot(item, str(tmp_path / f"{name}.svg"))
        assert QImage(str(tmp_path / f"{name}.png")).width() >= 400
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()
    run = read_run(res.path)
    write_export(run, "series", str(tmp_path / "s.csv"))
    table = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    head = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert head[0] == "step" and "beta_noisy_1" in head and "beta_clean_2" in head
    np.testing.assert_array_equal(table[:, head.index("beta_noisy_2")], run["series/beta_noisy"][:, 1])
    np.testing.assert_array_equal(table[:, 0], run["series/step"])


def test_the_app_opens_the_window_on_a_run_file(qtbot, tmp_path, boxes):
    from widgets.app import open_window

    res = run_experiment("ols", dict(SHORT, steps=100), out_dir=str(tmp_path))
    w = open_window([res.path])
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.tab_of["ols"].current is not None, timeout=30_000)
    assert w.tabs.currentWidget() is w.tab_of["ols"]
    assert w.tab_of["ols"].current.path == res.path and w.tab_of["ols"].current.status == "completed"


def test_export_to_a_folder_that_cannot_be_written_says_so(qtbot, window, boxes, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    res = run_experiment("ols", dict(SHORT, steps=100), out_dir=str(tmp_path))
    assert window.open_run(res.path)
    window.tab_of["ols"].redraw()
    (tmp_path / "a-file").write_text("")
    for ext in ("png", "svg"):
        bad = str(tmp_path / "a-file" / f"plot.{ext}")  # a "folder" that is a file
        with pytest.raises(OSError, match="cannot write"):
            export_plot(window.tab_of["ols"].panel.plots()["distances"], bad)
        monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("distances", True))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, bad=bad, **k: (bad, ""))
        window.export_plot_dialog()
        assert boxes[-1][0] == "critical" and "cannot write" in boxes[-1][1]
    assert "saved" not in window.statusBar().currentMessage()


def test_values_the_experiment_check_refuses_mark_the_form_and_start_nothing(window, boxes, tmp_path):
    tab = window.tab_of["supervised"]
    window.tabs.setCurrentWidget(tab)
    tab.form.set_values({"dataset": "cifar10", "data_root": str(tmp_path / "no-data")})
    errors = tab.form.errors()  # the data folder lacks CIFAR-10: the experiment's check says so
    assert list(errors) == ["data_root"] and "cifar-10-batches-py" in errors["data_root"]
    assert not tab.run_button.isEnabled() and tab.form.fields["data_root"].edit.property("invalid")
    assert window.run_current() is None and boxes == []
    assert tab.start_run() is None  # asked directly (the folder vanished after the form's check)
    assert boxes[-1][0] == "critical" and "data_root" in boxes[-1][1] and "cifar-10-batches-py" in boxes[-1][1]
    assert tab.sources == [] and tab.current is None
    tab.form.set_values({"dataset": "digits"})
    assert tab.form.errors() == {} and tab.run_button.isEnabled()


def test_the_browser_survives_a_file_deleted_during_its_scan(qtbot, window, monkeypatch):
    import lab.library.catalog as catalog

    folder = window.browser.folder
    res = run_experiment("ols", dict(SHORT, steps=100), out_dir=folder)
    kept = run_experiment("ols", dict(SHORT, steps=120), out_dir=folder)
    real = os.scandir

    def scan_then_delete(path):
        entries = list(real(path))
        if os.path.exists(res.path):
            os.remove(res.path)  # gone between the listing and its stat
        return iter(entries)

    monkeypatch.setattr(catalog.os, "scandir", scan_then_delete)
    window.browser.refresh()
    qtbot.waitUntil(lambda: window.browser.idle, timeout=30_000)  # the indexer went on
    monkeypatch.undo()
    assert window.browser.row_of(res.path) is None
    assert window.browser.row_of(kept.path)[1:3] == ["ols", "completed"]


def test_a_run_into_a_folder_that_cannot_be_made_fails_with_the_reason_first(qtbot, tmp_path, boxes):
    (tmp_path / "a-file").write_text("")
    w = MainWindow(run_dir=str(tmp_path / "a-file" / "runs"))  # below a file: no folder can be made
    qtbot.addWidget(w)
    src = start(qtbot, w, SHORT)
    qtbot.waitUntil(lambda: not src.running, timeout=30_000)
    assert src.status == "failed"
    kind, text = boxes[-1]
    assert kind == "critical"
    head = text.split("Details:")[0]
    assert "Not a directory" in head and "Traceback" not in head
