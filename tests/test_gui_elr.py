"""The elr panel, the compare overlay of reopened runs (and the run browser's Compare
action), and the Table 1 widget filled from a folder of runs."""

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel

from lab import experiments
from lab.experiments import elr
from lab.live import new_run_data
from lab.params import resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment
from widgets.compare_view import CompareView
from widgets.elr_table import ElrTableWidget
from widgets.panels import panel_class
from widgets.panels.elr import Panel
from widgets.run_browser import RunBrowser


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A short CE run and a short ELR run that differ only in ``method``."""
    out = tmp_path_factory.mktemp("gui_elr")
    paths = []
    for method in ("ce", "elr"):
        v = resolve_preset(elr.SPEC, elr.PRESETS, f"digits-{method}-sym40", {"epochs": 4, "device": "cpu"})
        r = run_experiment("elr", v, out_dir=str(out))
        assert r.status == "completed", r.error
        paths.append(r.path)
    return out, paths


def test_panel_draws_memorisation_and_best_epoch(qtbot, two_runs):
    _, paths = two_runs
    assert panel_class("elr") is Panel
    run = read_run(paths[1])
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(run)
    x, top = panel.stacks["noisy"].tops[-1].getData()
    np.testing.assert_array_equal(x, np.arange(5))
    np.testing.assert_allclose(top, 1.0, atol=1e-9)  # correct + memorised + other stack to 1
    _, mem_top = panel.stacks["noisy"].tops[1].getData()
    np.testing.assert_allclose(mem_top, run["series/noisy_correct"] + run["series/noisy_memorized"])
    acc = run["series/test_acc"]
    bx, by = panel.best.getData()
    assert bx[0] == 1 + np.argmax(acc[1:]) and by[0] == pytest.approx(acc[1:].max())
    assert "elr on digits" in panel.headline.text()
    assert set(panel.plots()) >= {"clean predictions", "noisy predictions", "p true", "coefficient"}


def test_panel_refresh_follows_a_growing_run(qtbot, two_runs):
    _, paths = two_runs
    header = read_run(paths[0]).header
    empty = new_run_data(
        "/nowhere/live.h5", "elr", header.params, header.seed, "cpu", experiments.get("elr").layout(header.params)
    )
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(empty)  # a live run before its first row
    assert len(panel.test.getData()[0] if panel.test.getData()[0] is not None else []) == 0
    full = read_run(paths[0])
    part = read_run(paths[0])
    for k in part.growable:
        if k.startswith("series/"):
            part.arrays[k] = part.arrays[k][:2]
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(part)
    assert len(panel.p_true["wrong"].getData()[0]) == 2
    for k in part.growable:
        if k.startswith("series/"):
            part.arrays[k] = full.arrays[k]
    panel.refresh(part)
    np.testing.assert_allclose(panel.p_true["wrong"].getData()[1], full["series/noisy_p_true"])


def test_compare_overlays_two_reopened_runs(qtbot, two_runs):
    _, paths = two_runs
    view = CompareView(paths)
    qtbot.addWidget(view)
    assert view.series_box.currentText() == "test_acc"
    assert view.legend_texts() == ["method=ce", "method=elr"]
    assert "differs: method" == view.differing.text()
    for c, p in zip(view.curves, paths):
        x, y = c.getData()
        np.testing.assert_allclose(y, read_run(p)["series/test_acc"])
    view.series_box.setCurrentText("noisy_memorized")
    assert len(view.curves) == 2
    np.testing.assert_allclose(view.curves[0].getData()[1], read_run(paths[0])["series/noisy_memorized"])


def test_run_browser_compare_action(qtbot, two_runs):
    folder, paths = two_runs
    browser = RunBrowser(str(folder))
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.idle and len(browser.keys()) == 2, timeout=30_000)
    assert not browser.compare_button.isEnabled()
    sel = browser.table.selectionModel()
    for r in range(browser.proxy.rowCount()):
        sel.select(browser.proxy.index(r, 0), QItemSelectionModel.Select | QItemSelectionModel.Rows)
    assert sorted(browser.selected_paths()) == sorted(paths)
    assert browser.compare_button.isEnabled()
    view = browser.compare_selected()
    qtbot.addWidget(view)
    assert sorted(view.legend_texts()) == ["method=ce", "method=elr"]


def test_table_widget_fills_from_a_folder(qtbot, two_runs):
    folder, paths = two_runs
    w = ElrTableWidget(str(folder))
    qtbot.addWidget(w)
    # the paper's CIFAR-10 numbers are there, without runs of ours
    assert w.cell_text("ELR", "sym 40%").startswith("89.15 \u00b1 0.17 | ours \u2014")
    w.set_dataset("digits")
    acc = read_run(paths[1]).header.summary["test_acc_last"]
    # the quick presets anneal the rate with a cosine: the paper's starred row
    assert w.cell_text("ELR*", "sym 40%") == f"\u2014 | ours {100 * acc:.2f} (n=1)"
    assert w.cell_text("ELR", "sym 40%") == "\u2014 | ours \u2014"
    assert "ours" in w.cell_text("CE", "sym 40%") and "n=1" in w.cell_text("CE", "sym 40%")
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(read_run(paths[0]))
    table = panel.open_table()
    qtbot.addWidget(table)
    assert table.dataset_box.currentText() == "digits" and "n=1" in table.cell_text("ELR*", "sym 40%")


def test_best_epoch_is_named_in_the_legend_where_no_range_clips_it(qtbot, two_runs):
    import pyqtgraph as pg

    run = read_run(two_runs[1][1])
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(run)
    acc = run["series/test_acc"]
    best = 1 + int(np.argmax(acc[1:]))
    assert panel.best_label.text == f"best {100 * acc[best]:.2f}% @ epoch {best}"
    legend = panel.plots()["test accuracy"].legend
    assert panel.best_label in [label for _, label in legend.items]
    assert not [i for i in panel.plots()["test accuracy"].items if isinstance(i, pg.TextItem)]


def test_compare_and_table_windows_belong_to_the_window_that_opened_them(qtbot, two_runs):
    """Owned windows do not keep the application running once the main window is closed
    (Qt quits when the last window without a parent closes)."""
    folder, paths = two_runs
    browser = RunBrowser(str(folder))
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.idle and len(browser.keys()) == 2, timeout=30_000)
    browser.table.selectAll()
    view = browser.compare_selected()
    assert view.isWindow() and view.parentWidget() is browser
    panel = Panel()
    qtbot.addWidget(panel)
    panel.show_run(read_run(paths[0]))
    table = panel.open_table()
    assert table.isWindow() and table.parentWidget() is panel
