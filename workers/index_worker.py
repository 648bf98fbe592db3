"""The run library's indexer: a :class:`lab.library.catalog.Catalog` on its own thread,
so that no header is ever read on the GUI thread.

The window sends requests as queued signals (``sync``, ``annotate``, ``move_out``,
``restore``); answers come back as signals. A first scan of a folder of thousands of new
files is read in steps of :data:`STEP_S` seconds, each step's records sent at once, so
the table fills while the indexer works.
"""

from __future__ import annotations

import os
import threading

from PySide6.QtCore import QThread, Signal, Slot

from lab.library.catalog import Catalog, Moved

from .base import ThreadWorker, on_new_thread

#: seconds of header reading between two batches sent to the window
STEP_S = 0.3
#: runs of an index shown first when a folder opens (the newest); the others follow as
#: one batch of new rows: a table reset with 10,000 rows holds the GUI ~100 ms
FIRST_SHOWN = 1000
#: processes that read headers when many files are new (h5py holds the GIL while reading)
READERS = max(1, min(4, (os.cpu_count() or 1)))


class IndexWorker(ThreadWorker):
    """Signals: ``loaded(folder, records)`` with the newest indexed runs when a folder
    opens (``changed`` brings the others at once);
    ``changed(records)`` and ``removed(rels)`` as files appear, change or go;
    ``synced()`` after each full scan; ``moved(Moved, where)`` after a delete/archive,
    ``restored(records)`` after an undo."""

    loaded = Signal(str, list)
    changed = Signal(list)
    removed = Signal(list)
    synced = Signal()
    moved = Signal(object, str)
    restored = Signal(list)

    def __init__(self):
        super().__init__()
        self.catalog: Catalog | None = None
        #: cleared by the window while it puts records into its table: the indexer waits
        self.gate = threading.Event()
        self.gate.set()

    @Slot()
    def run(self) -> None:
        """Nothing to do until asked: requests arrive as queued calls."""

    @Slot(str)
    def open_folder(self, folder: str) -> None:
        if self.catalog is not None:
            self.catalog.close()
        self.catalog = Catalog(folder, processes=READERS, gate=self.gate)
        records = sorted(self.catalog.records.values(), key=lambda r: r.created, reverse=True)
        self.loaded.emit(self.catalog.folder, records[:FIRST_SHOWN])  # the newest at once,
        if records[FIRST_SHOWN:]:  # the rest as rows below them
            self.changed.emit(records[FIRST_SHOWN:])

    @Slot(list)
    def sync(self, skip: list) -> None:
        """Rescan; ``skip``: relative paths of files a writer of this process holds."""
        if self.catalog is None:
            return
        done = self.catalog.write_back(skip)
        if done:
            self.changed.emit(done)
        more = True
        while more and not self.cancel_event.is_set():
            changed, gone, more = self.catalog.sync(skip, budget_s=STEP_S)
            if gone:
                self.removed.emit(gone)
            if changed:
                self.changed.emit(changed)
        self.synced.emit()

    @Slot(str, list, str)
    def annotate(self, rel: str, tags: list, note: str) -> None:
        if self.catalog is not None and rel in self.catalog.records:
            self.changed.emit([self.catalog.annotate(rel, tags, note)])

    @Slot(list, str)
    def move_out(self, rels: list, where: str) -> None:
        if self.catalog is not None:
            self.moved.emit(self.catalog.move_out(rels, where), where)

    @Slot(object)
    def restore(self, moved: Moved) -> None:
        if self.catalog is not None:
            self.restored.emit(self.catalog.restore(moved))

    @Slot()
    def close(self) -> None:
        if self.catalog is not None:
            self.catalog.close()
            self.catalog = None
        QThread.currentThread().quit()


def start_indexer() -> tuple[IndexWorker, QThread]:
    """An indexer on a fresh (started) thread; connect to its signals and send requests."""
    worker, thread = on_new_thread(IndexWorker())
    thread.start()
    return worker, thread
