"""The run library's core without Qt: index, scan, filter expressions, tag write-back,
trash and CSV export."""

import csv
import os
import time

import pytest

from lab.library.catalog import ARCHIVE, Catalog
from lab.library.index import INDEX_FILE
from lab.library.query import FilterError, parse
from lab.library.records import write_csv
from lab.runfile import RunWriter, read_header, set_attrs
from tests.library_runs import make_runs, run_values


@pytest.fixture
def folder(tmp_path):
    make_runs(str(tmp_path), 40, sweep_every=4)
    return str(tmp_path)


def synced(catalog):
    changed, gone, more = catalog.sync()
    assert not more
    return changed, gone


def test_a_second_sync_reads_nothing_and_a_reopened_index_has_every_run(folder):
    c = Catalog(folder)
    changed, gone = synced(c)
    assert len(changed) == 40 and not gone
    assert sum(1 for r in c.records.values() if r.group) == 10  # every 4th run in a sweep folder
    assert synced(c) == ([], [])
    c.close()
    again = Catalog(folder)
    assert set(again.records) == set(c.records)
    assert again.records["ols-00005.h5"].params["lr"] == run_values(5)[0]["lr"]
    assert synced(again) == ([], [])  # nothing re-read: the index knew every file
    assert os.path.exists(os.path.join(folder, INDEX_FILE))


def test_a_changed_and_a_removed_file_are_the_only_changes(folder):
    c = Catalog(folder)
    synced(c)
    set_attrs(os.path.join(folder, "ols-00001.h5"), status="failed", padding="x" * 1000)  # padding grows the file
    os.remove(os.path.join(folder, "ols-00002.h5"))
    changed, gone = synced(c)
    assert [r.rel for r in changed] == ["ols-00001.h5"] and changed[0].status == "failed"
    assert gone == ["ols-00002.h5"]


def test_a_corrupt_file_is_unreadable_and_the_rest_are_indexed(folder):
    with open(os.path.join(folder, "broken.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + os.urandom(3000))
    with open(os.path.join(folder, "text.h5"), "w") as f:
        f.write("not hdf5")
    c = Catalog(folder)
    synced(c)
    assert len(c.records) == 42
    assert c.records["broken.h5"].display_status.startswith("unreadable: ")
    assert "not an HDF5 file" in c.records["text.h5"].display_status
    assert c.records["ols-00035.h5"].status == "diverged"  # 35 mod 6 = 5


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("lr>0.045", [i for i in range(40) if 0.001 * (1 + i % 50) > 0.045]),
        ("batch=3 status=completed", [i for i in range(40) if 1 + i % 7 == 3 and run_values(i)[2] == "completed"]),
        ("final_loss<=0.05 score!=30", [i for i in range(40) if 1 / (i + 1) <= 0.05 and i % 97 != 30]),
        ("sweep~sweep-0", [i for i in range(40) if i % 4 == 0]),
        ("00017", [17]),
    ],
)
def test_a_filter_selects_exactly_the_expected_runs(folder, expression, expected):
    c = Catalog(folder)
    synced(c)
    test = parse(expression)
    assert sorted(int(r.name[4:9]) for r in c.records.values() if test(r)) == expected


def test_a_bad_filter_names_its_term():
    with pytest.raises(FilterError, match="'lr>fast'.*not a number"):
        parse("ols lr>fast")
    with pytest.raises(FilterError, match="quotation"):
        parse('note~"open')


def test_tags_wait_for_the_writer_then_go_into_the_file(tmp_path):
    path = str(tmp_path / "live.h5")
    w = RunWriter(path, experiment="ols", params={"lr": 0.1}, seed=0, device="cpu")
    c = Catalog(str(tmp_path))
    synced(c)
    c.annotate("live.h5", ["keep", "fig-3"], "the good one")
    assert c.write_back() == []  # the writer (this process, alive) still holds the file
    w.finish("completed", summary={"final_loss": 0.5})
    synced(c)
    assert c.records["live.h5"].pending and c.records["live.h5"].tags == ["keep", "fig-3"]
    assert [r.rel for r in c.write_back()] == ["live.h5"]
    h = read_header(path)
    assert (h.attrs["tags"], h.attrs["note"], h.status) == ("keep, fig-3", "the good one", "completed")
    c.close()
    os.remove(os.path.join(str(tmp_path), INDEX_FILE))  # tags come back from the file itself
    fresh = Catalog(str(tmp_path))
    synced(fresh)
    assert fresh.records["live.h5"].tags == ["keep", "fig-3"] and not fresh.records["live.h5"].pending


def test_trash_and_archive_move_files_out_and_undo_brings_them_back(folder):
    c = Catalog(folder)
    synced(c)
    c.annotate("sweep-0/ols-00000.h5", ["x"])
    moved = c.move_out(["ols-00003.h5", "sweep-0/ols-00000.h5"])
    assert not os.path.exists(os.path.join(folder, "ols-00003.h5"))
    assert all(os.path.exists(t) and os.sep + ".trash" + os.sep in t for t in moved.targets)
    assert synced(c) == ([], []) and "ols-00003.h5" not in c.records  # the trash is not listed
    back = c.restore(moved)
    assert sorted(r.rel for r in back) == ["ols-00003.h5", "sweep-0/ols-00000.h5"]
    assert c.records["sweep-0/ols-00000.h5"].tags == ["x"]
    assert synced(c) == ([], [])
    archived = c.move_out(["ols-00005.h5"], ARCHIVE)
    assert archived.targets == [os.path.join(folder, ARCHIVE, "ols-00005.h5")]


def test_csv_export_has_one_row_per_run_with_params_and_summary(folder, tmp_path):
    c = Catalog(folder)
    synced(c)
    out = str(tmp_path / "out.csv")
    assert write_csv([c.records["ols-00001.h5"], c.records["ols-00002.h5"]], out) == 2
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["summary.final_loss"]) for r in rows] == [1 / 2, 1 / 3]
    assert [float(r["lr"]) for r in rows] == [0.002, 0.003]


def test_many_new_files_are_read_alike_by_other_processes(tmp_path):
    from lab.library.catalog import CHUNK, POOL_FROM

    folder = str(tmp_path)
    make_runs(folder, POOL_FROM + 2 * CHUNK, sweep_every=3)
    here, there = Catalog(folder), Catalog(folder, processes=2)
    synced(here)
    first, _, more = there.sync()
    assert more and len(first) == CHUNK  # a first part at once, read here while the processes start
    while more:
        _, _, more = there.sync()
    assert there._pool is not None
    assert {k: (r.status, r.params, r.summary, r.group) for k, r in there.records.items()} == {
        k: (r.status, r.params, r.summary, r.group) for k, r in here.records.items()
    }
    there.close()


def test_the_first_scan_removes_partial_files_that_killed_writers_left(tmp_path):
    from lab import runfile

    folder = str(tmp_path)
    paths = make_runs(folder, 3, sweep_every=0)
    os.makedirs(os.path.join(folder, "sweep-x"))
    old = time.time() - 2 * runfile.LEFTOVER_AFTER_S
    made = {
        "beside an ended run": runfile.partial_path(paths[0]),
        "never published": os.path.join(folder, "sweep-x", ".ols-lost.h5.partial"),
        "recent": runfile.partial_path(paths[1]),
    }
    for name, p in made.items():
        with open(p, "wb") as f:
            f.write(b"\x89HDF half a copy")
        if name != "recent":
            os.utime(p, (old, old))
    c = Catalog(folder)
    synced(c)
    left = {name for name, p in made.items() if os.path.exists(p)}
    assert left == {"recent"}  # a partial file touched lately may still have its writer
    assert len(c.records) == 3 and all(os.path.exists(p) for p in paths)
