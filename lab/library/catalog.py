"""The runs of a folder kept in step with its files: a recursive scan (sweep folders
included; dot folders such as ``.trash`` left out), headers read only for files that are
new or whose size or modification time changed, every change saved to the index; the
hidden partial files that killed writers left are removed on the way
(:func:`lab.runfile.leftover_partials`).

One bad file never stops indexing: whatever reading its header raises, it is listed as
unreadable with the reason. Files that a writer of this process holds are skipped by the
caller (``skip``): HDF5 must not open them a second time."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Iterable

import h5py

from ..runfile import RunFileError, leftover_partials, read_header
from .index import RunIndex
from .records import FIELDS, Record, from_header, unreadable

RUN_SUFFIXES = (".h5", ".hdf5")
TRASH, ARCHIVE = ".trash", ".archive"


def scan_files(
    folder: str, gate: threading.Event | None = None, folders: list[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Every run file under ``folder``: relative path -> (mtime in ns, size); waits at
    ``gate`` (when given) between folders and every 64 entries. ``folders``, if given,
    receives every folder scanned (relative)."""
    out: dict[str, tuple[int, int]] = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        if folders is not None:
            folders.append(rel_dir)
        try:
            entries = list(os.scandir(os.path.join(folder, rel_dir)))
        except OSError:  # vanished or unreadable folder: nothing in it to list
            continue
        for i, e in enumerate(entries):
            if gate is not None and i % 64 == 0:
                gate.wait()
            if e.name.startswith("."):
                continue
            rel = os.path.join(rel_dir, e.name)
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif e.name.endswith(RUN_SUFFIXES):
                    try:
                        st = e.stat()
                    except OSError:  # a broken or looping link: listed, its reader says why
                        st = e.stat(follow_symlinks=False)
                    out[rel] = (st.st_mtime_ns, st.st_size)
            except OSError:  # deleted between listing and stat
                continue
    return out


def read_record(folder: str, rel: str, mtime_ns: int, size: int) -> Record:
    """The record of one file; never raises (an unreadable file says why)."""
    path = os.path.join(folder, rel)
    try:
        return from_header(rel, mtime_ns, size, read_header(path, FIELDS))
    except RunFileError as e:
        reason = str(e)
        return unreadable(rel, mtime_ns, size, reason[len(path) + 2 :] if reason.startswith(path + ": ") else reason)
    except Exception as e:
        return unreadable(rel, mtime_ns, size, f"{type(e).__name__}: {e}")


def read_records(folder: str, items: list[tuple[str, tuple[int, int]]]) -> list[Record]:
    """:func:`read_record` for many files (what a reading process is given)."""
    return [read_record(folder, rel, mtime_ns, size).prepared() for rel, (mtime_ns, size) in items]


#: from this many files to read on, they are read by other processes: h5py holds the GIL
#: while it reads, which would stall the GUI thread of the process at every switch
POOL_FROM = 50
#: files per task of a reading process
CHUNK = 64
#: niceness of the reading processes: they keep every core busy, and the window's thread
#: must still get one at once when it wakes (a scheduler tick later is a visible stall)
READER_NICE = 10
#: tasks queued per reading process, so that none waits while this thread takes results
QUEUED = 3


def _reading_context():
    """Processes forked from a fork server where there is one (it starts once, with no
    threads, safe beside Qt's, and imports the reading code once for all of them), else
    spawned."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


@dataclass
class Moved:
    """Runs moved out of the listing (to the trash or the archive), enough to undo it."""

    records: list[Record]
    targets: list[str]


class Catalog:
    """The records of ``folder``, loaded from its index and brought up to date by
    :meth:`sync`. Not thread-safe: use it from one thread."""

    def __init__(self, folder: str, processes: int = 0, gate: threading.Event | None = None):
        """``processes``: how many reading processes a large scan may use (0: none).
        ``gate``: while it is cleared, scanning and loading wait (the thread that shows
        the records is busy with them: a Python thread that keeps running would make it
        wait for the GIL at every one of its many short calls from Qt)."""
        self.folder = os.path.abspath(folder)
        self.gate = gate
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self.index = RunIndex(self.folder, gate)
        self.records: dict[str, Record] = {rel: r.prepared() for rel, r in self.index.records().items()}
        self._unread: list | None = None  # files of the last scan still to read
        self._queued: deque[Future] = deque()  # their records being read by the processes
        self._swept = False  # leftover partial files removed (on the first scan)

    def close(self) -> None:
        self.index.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._queued.clear()

    def _take(self, n: int, skip: set) -> list:
        """Up to ``n`` of the files still to read, newest first, leaving out ``skip``."""
        unread = self._unread or []
        items = [unread.pop() for _ in range(min(n, len(unread)))]
        return [item for item in items if item[0] not in skip]

    def path(self, rel: str) -> str:
        return os.path.join(self.folder, rel)

    def sync(self, skip: Iterable[str] = (), budget_s: float = float("inf")) -> tuple[list[Record], list[str], bool]:
        """Bring the records up to date with the files; returns the records that are new
        or changed, the relative paths that went, and whether files are left to read.
        Files in ``skip`` (relative) keep their old record. Reading stops after
        ``budget_s`` seconds and the next call goes on without rescanning (a first scan
        of thousands of files reaches the window in steps)."""
        skip = set(skip)
        if self._unread is None:
            folders: list[str] | None = [] if not self._swept else None
            files = scan_files(self.folder, self.gate, folders)
            for rel_dir in folders or ():  # once: what killed writers left half made (hidden)
                for leftover, run in leftover_partials(os.path.join(self.folder, rel_dir)):
                    if os.path.relpath(run, self.folder) not in skip:
                        with contextlib.suppress(OSError):
                            os.remove(leftover)
            self._swept = True
            gone = [rel for rel in self.records if rel not in files]
            for rel in gone:
                del self.records[rel]
            self._unread = [
                (rel, st)
                for rel, st in files.items()
                if rel not in self.records or (self.records[rel].mtime_ns, self.records[rel].size) != st
            ]
            self._unread.sort(key=lambda item: item[1][0])  # popped from the end: the newest first
        else:
            gone = []
        changed, t0 = [], time.monotonic()
        while (self._unread or self._queued) and time.monotonic() - t0 <= budget_s:
            if self.gate is not None:
                self.gate.wait()
            if self._queued or (self.processes and len(self._unread) >= POOL_FROM):
                if self._pool is None:  # a first part is read here and goes to the window at once,
                    read = read_records(self.folder, self._take(CHUNK, skip))  # while the processes start
                    self._pool = ProcessPoolExecutor(
                        self.processes, mp_context=_reading_context(), initializer=os.nice, initargs=(READER_NICE,)
                    )
                    budget_s = 0.0
                else:
                    while self._unread and len(self._queued) < QUEUED * self.processes:
                        self._queued.append(self._pool.submit(read_records, self.folder, self._take(CHUNK, skip)))
                    read = self._queued.popleft().result()
            else:
                read = read_records(self.folder, self._take(len(self._unread), skip))
            for new in read:
                old = self.records.get(new.rel)
                if old is not None and old.pending:
                    new.tags, new.note, new.pending = old.tags, old.note, old.pending  # edits not yet in the file
                self.records[new.rel] = new
                changed.append(new)
        more = bool(self._unread or self._queued)
        if not more:
            self._unread = None
        self.index.put(changed)
        self.index.remove(gone)
        return changed, gone, more

    # -- tags and notes --------------------------------------------------------------------
    def annotate(self, rel: str, tags: list[str] | None = None, note: str | None = None) -> Record:
        """Set a run's tags and/or note in the index; :meth:`write_back` puts them into
        the file once no writer holds it."""
        r = self.records[rel]
        r = replace(
            r, tags=r.tags if tags is None else list(tags), note=r.note if note is None else note, pending=True
        ).prepared()
        self.records[rel] = r
        self.index.put([r])
        return r

    def write_back(self, skip: Iterable[str] = ()) -> list[Record]:
        """Write pending tags and notes into their run files as the attributes ``tags``
        (comma-separated) and ``note``, for runs that have ended; a file that is still
        written, in ``skip`` or cannot be opened for writing now stays pending."""
        skip, done = set(skip), []
        for rel, r in list(self.records.items()):
            if not r.pending or rel in skip or r.writing or r.status == "unreadable":
                continue
            path = self.path(rel)
            try:
                with h5py.File(path, "r+") as f:
                    f.attrs["tags"] = ", ".join(r.tags)
                    f.attrs["note"] = r.note
                st = os.stat(path)
            except (OSError, RuntimeError):  # locked by a reader or a killed SWMR writer: later
                continue
            r = replace(r, pending=False, mtime_ns=st.st_mtime_ns, size=st.st_size).prepared()
            self.records[rel] = r
            done.append(r)
        self.index.put(done)
        return done

    # -- moving runs out -------------------------------------------------------------------
    def move_out(self, rels: Iterable[str], where: str = TRASH) -> Moved:
        """Move runs into ``<folder>/.trash/<time>/`` (or ``.archive/``), keeping their
        relative paths; they leave the listing. Files that cannot be moved stay."""
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.monotonic_ns() % 1_000_000:06d}"
        base = os.path.join(self.folder, where, stamp) if where == TRASH else os.path.join(self.folder, where)
        moved = Moved([], [])
        for rel in rels:
            target = os.path.join(base, rel)
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.move(self.path(rel), target)
            except OSError:
                continue
            moved.records.append(self.records.pop(rel))
            moved.targets.append(target)
        self.index.remove(r.rel for r in moved.records)
        return moved

    def restore(self, moved: Moved) -> list[Record]:
        """Undo :meth:`move_out`: the files go back (unless their place was taken since)
        with their tags and notes."""
        back = []
        for r, target in zip(moved.records, moved.targets):
            if os.path.exists(self.path(r.rel)):
                continue
            try:
                os.makedirs(os.path.dirname(self.path(r.rel)), exist_ok=True)
                shutil.move(target, self.path(r.rel))
                st = os.stat(self.path(r.rel))
            except OSError:
                continue
            r = replace(r, mtime_ns=st.st_mtime_ns, size=st.st_size).prepared()
            self.records[r.rel] = r
            back.append(r)
        self.index.put(back)
        return back
