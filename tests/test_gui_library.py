"""The run browser on many runs: listing, sorting by a summary value, filter
expressions, rows updated one at a time, tags through a restart into the finished file,
delete and undo, corrupt files. Waits on the indexer's signals, never on time."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt

from lab.library.records import UNREADABLE
from lab.runfile import read_header, set_attrs
from tests.library_runs import make_runs, run_values
from widgets.run_browser import RunBrowser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 2000


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """2,000 run files (every 10th in a sweep folder of ten), made once for this module."""
    folder = str(tmp_path_factory.mktemp("many"))
    make_runs(folder, N)
    return folder


def settle(qtbot, browser, timeout=120_000):
    """Wait until a scan started now has ended (and its rows are in the table)."""
    browser.refresh()
    qtbot.waitUntil(lambda: browser.idle, timeout=timeout)


def browser_on(qtbot, folder, **kw):
    b = RunBrowser(folder, **kw)
    qtbot.addWidget(b)
    settle(qtbot, b)
    return b


def run_number(key):
    return int(os.path.basename(key)[4:9])


def test_2000_runs_are_listed_and_sort_by_a_summary_value(qtbot, many):
    b = browser_on(qtbot, many)
    assert len(b.model.records) == N and b.count_label.text().endswith(f"of {N:,} runs")
    b.experiment_box.setCurrentText("ols")
    column = next(c for c in range(b.model.columnCount()) if b.model.headerData(c, Qt.Horizontal) == "final_loss")
    b.table.sortByColumn(column, Qt.AscendingOrder)
    keys = b.keys()
    tops = [k for k in keys if not k.endswith("/")]
    assert len(tops) == N - N // 10 and len(keys) == len(tops) + N // 100  # sweeps collapsed: one row each
    losses = [1 / (run_number(k) + 1) for k in tops]
    assert losses == sorted(losses)  # final_loss = 1 / (i + 1): ascending loss is descending i
    b.proxy.toggle("sweep-0/")
    shown = b.keys()
    i = shown.index("sweep-0/")
    children = shown[i + 1 : i + 11]
    assert [run_number(k) for k in children] == list(range(90, -1, -10))  # inside the sweep, sorted too
    b.table.sortByColumn(column, Qt.DescendingOrder)
    tops = [k for k in b.keys() if "/" not in k]
    assert [1 / (run_number(k) + 1) for k in tops] == sorted(losses, reverse=True)


def test_a_filter_expression_selects_exactly_the_expected_runs(qtbot, many):
    b = browser_on(qtbot, many)
    b.set_filter("lr>0.045 batch=3 final_loss<0.01")
    expected = {i for i in range(N) if 0.001 * (1 + i % 50) > 0.045 and 1 + i % 7 == 3 and 1 / (i + 1) < 0.01}
    shown = {run_number(k) for k in b.keys() if not k.endswith("/")}
    assert shown == expected and len(expected) > 5
    b.status_box.setCurrentText("failed")
    assert {run_number(k) for k in b.keys() if not k.endswith("/")} == {i for i in expected if i % 6 == 4}
    b.set_filter("lr>fast")  # a bad expression: the box says why, the rows stay
    assert "not a number" in b.filter_box.toolTip()


def test_a_new_file_and_a_status_change_update_one_row_each(qtbot, tmp_path):
    folder = str(tmp_path)
    paths = make_runs(folder, 30, sweep_every=0)
    b = browser_on(qtbot, folder)
    events = []
    b.model.dataChanged.connect(lambda tl, br, *_: events.append(("data", tl.row(), br.row())))
    b.model.layoutChanged.connect(lambda *_: events.append(("layout",)))
    b.model.modelReset.connect(lambda: events.append(("reset",)))
    b.model.rowsInserted.connect(lambda _parent, first, last: events.append(("insert", first, last)))
    new = make_runs(folder, 1, sweep_every=0, start=30)[0]
    settle(qtbot, b)
    assert events == [("insert", 0, 0)] and len(b.model.records) == 31  # one row inserted, the newest on top
    assert b.row_of(new)[:3] == ["ols-00030.h5", "ols", "completed"]
    events.clear()
    set_attrs(paths[7], status="failed")
    settle(qtbot, b)
    row = b.model.row_of("ols-00007.h5")
    assert events == [("data", row, row)] and b.row_of(paths[7])[2] == "failed"


def test_a_run_added_to_a_sweep_is_inserted_under_it_and_its_row_counts_it(qtbot, tmp_path):
    folder = str(tmp_path)
    make_runs(folder, 31, sweep_every=3)  # sweep-0: runs 0, 3, ..., 27; sweep-1: run 30 (the newest)
    b = browser_on(qtbot, folder)
    assert b.model.cells("sweep-1/")[0].endswith("sweep-1/ (1 runs)")
    b.proxy.toggle("sweep-1/")  # expanded: its runs are shown under it
    before = b.keys()
    events = []
    b.model.layoutChanged.connect(lambda *_: events.append(("layout",)))
    b.model.rowsInserted.connect(lambda _parent, first, last: events.append(("insert", first, last)))
    make_runs(folder, 1, sweep_every=3, start=33)  # into sweep-1, newer than all
    settle(qtbot, b)
    assert events == [("insert", 1, 1)]  # right under its sweep's row, nothing else moved
    assert b.keys() == [before[0], "sweep-1/ols-00033.h5", *before[1:]]
    assert b.model.cells("sweep-1/")[0].endswith("sweep-1/ (2 runs)")


WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from lab.runfile import Dataset, RunWriter
w = RunWriter({path!r}, experiment="ols", params={{"lr": 0.5}}, seed=1, device="cpu",
              layout=[Dataset("series/step", (), "i8")])
w.append("series/step", [0]); w.flush()
open({path!r} + ".started", "w").close()
while not os.path.exists({path!r} + ".go"):
    w.append("series/step", [1]); w.flush(); time.sleep(0.05)
w.finish("completed", summary={{"final_loss": 0.25}})
"""


def test_tags_survive_a_restart_and_go_into_the_file_once_the_run_ends(qtbot, tmp_path):
    folder = str(tmp_path)
    path = os.path.join(folder, "writing.h5")
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(root=ROOT, path=path)])
    try:
        qtbot.waitUntil(lambda: os.path.exists(path + ".started"), timeout=60_000)
        b = browser_on(qtbot, folder)
        qtbot.waitUntil(lambda: (b.row_of(path) or [""] * 3)[2] == "running", timeout=30_000)
        b.annotate("writing.h5", ["keep", "seed-1"], "first try")
        qtbot.waitUntil(lambda: b.model.records["writing.h5"].tags == ["keep", "seed-1"], timeout=10_000)
        settle(qtbot, b)
        assert "tags" not in read_header(path).attrs  # never while the writer holds the file
        b.close()
        again = browser_on(qtbot, folder)  # from the index
        assert again.model.records["writing.h5"].tags == ["keep", "seed-1"]
        assert again.row_of(path)[6:8] == ["keep, seed-1", "first try"]
        open(path + ".go", "w").close()
        assert proc.wait(60) == 0
        qtbot.waitUntil(lambda: not again.model.records["writing.h5"].pending, timeout=30_000)  # the scan timer
        h = read_header(path)
        assert (h.status, h.attrs["tags"], h.attrs["note"]) == ("completed", "keep, seed-1", "first try")
    finally:
        proc.kill()


def test_delete_moves_runs_to_the_trash_and_undo_brings_them_back(qtbot, tmp_path):
    folder = str(tmp_path)
    paths = make_runs(folder, 12, sweep_every=5)
    b = browser_on(qtbot, folder)
    gone = [paths[1], paths[5]]  # one at the top, one in sweep-0/
    b.proxy.toggle("sweep-0/")
    b.select_paths(gone)
    assert sorted(b.selected_paths()) == sorted(gone)
    b.move_selected()
    qtbot.waitUntil(lambda: len(b.model.records) == 10, timeout=10_000)
    assert not any(os.path.exists(p) for p in gone) and b.row_of(paths[1]) is None
    trashed = sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(os.path.join(folder, ".trash")) for f in fs
    )
    assert [os.path.basename(t) for t in trashed] == ["ols-00001.h5", "ols-00005.h5"]
    settle(qtbot, b)
    assert len(b.model.records) == 10  # the trash is not listed
    b.undo()
    qtbot.waitUntil(lambda: len(b.model.records) == 12, timeout=10_000)
    assert all(os.path.exists(p) for p in gone) and b.row_of(paths[5])[1:3] == ["ols", run_values(5)[2]]
    assert not b.undo_button.isEnabled()


def test_a_corrupt_file_is_listed_as_unreadable_and_indexing_goes_on(qtbot, tmp_path):
    folder = str(tmp_path)
    with open(os.path.join(folder, "a-corrupt.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(0).bytes(5000))
    with h5py.File(os.path.join(folder, "b-bad-json.h5"), "w") as f:
        f.attrs["format"], f.attrs["format_version"], f.attrs["params"] = "noiselab-run", 1, "{not json"
    paths = make_runs(folder, 20, sweep_every=0)
    b = browser_on(qtbot, folder)
    assert len(b.model.records) == 22
    for name in ("a-corrupt.h5", "b-bad-json.h5"):
        assert b.row_of(os.path.join(folder, name))[2].startswith(UNREADABLE + ": ")
    assert "not valid JSON" in b.row_of(os.path.join(folder, "b-bad-json.h5"))[2]
    assert all(b.row_of(p)[1] == "ols" for p in paths)


def test_a_sweep_row_shows_the_date_it_is_sorted_by(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from widgets.run_table import DATE, local_time

    folder = str(tmp_path)
    make_runs(folder, 31, sweep_every=3)  # sweep-0 holds runs 0, 3, ..., 27 (minutes 0 to 27 after t0)
    b = browser_on(qtbot, folder)
    keys = b.keys()  # newest first: sweep-0 comes where its newest run, 27, would
    assert keys.index("sweep-0/") == keys.index("ols-00028.h5") + 1
    runs = b.model.records
    assert b.model.cells("sweep-0/")[DATE] == local_time(runs["sweep-0/ols-00027.h5"].created)
    b.table.sortByColumn(DATE, Qt.AscendingOrder)  # oldest first: by its first run, and dated so
    assert b.keys()[0] == "sweep-0/"
    assert b.model.cells("sweep-0/")[DATE] == local_time(runs["sweep-0/ols-00000.h5"].created)


def test_a_folder_reopened_from_its_index_shows_its_newest_runs_first_then_all(qtbot, tmp_path, monkeypatch):
    from workers import index_worker

    folder = str(tmp_path)
    make_runs(folder, 12, sweep_every=0)
    first = browser_on(qtbot, folder)
    order = first.keys()
    first.shutdown()
    monkeypatch.setattr(index_worker, "FIRST_SHOWN", 4)
    b = RunBrowser(folder)
    qtbot.addWidget(b)
    loaded = []
    b.indexer.loaded.connect(lambda _folder, records: loaded.append([r.rel for r in records]))
    b.set_folder(folder)  # opened again, now with the signal watched
    settle(qtbot, b)
    assert loaded[-1] == order[:4]  # the newest four at once, from the index
    assert b.keys() == order and len(b.model.records) == 12  # the others below them
