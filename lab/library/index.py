"""The library's index: one SQLite row per run file of a runs folder, in
``<folder>/.noiselab-index.sqlite``, so that a folder of thousands of runs opens from
the index and only files whose size or modification time changed are read again.

A connection belongs to the thread that opened it (the browser's indexer thread)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Iterable

from .records import Record

INDEX_FILE = ".noiselab-index.sqlite"
#: bumped when the table changes: an index of another version is rebuilt from the files
SCHEMA_VERSION = 1
_COLUMNS = (
    "rel",
    "mtime_ns",
    "size",
    "experiment",
    "status",
    "created",
    "finished",
    "params",
    "summary",
    "error",
    "writer",
    "heartbeat",
    "tags",
    "note",
    "pending",
)
_JSON = {"params", "summary", "tags"}


class RunIndex:
    """The index of ``folder``. An index that cannot be read (corrupt, or another schema
    version) is replaced by an empty one: it holds nothing that the run files do not,
    except tags and notes not yet written back. Where no index file can be made (a
    folder that does not exist yet, or is read-only) the index lives in memory."""

    def __init__(self, folder: str, gate: threading.Event | None = None):
        """``gate``: :meth:`records` waits at it every 256 rows (see
        :class:`lab.library.catalog.Catalog`)."""
        self.folder = os.path.abspath(folder)
        self.gate = gate
        self.path = os.path.join(self.folder, INDEX_FILE)
        try:
            self.db = self._open(self.path)
        except sqlite3.OperationalError:  # cannot be created here
            self.path = ":memory:"
            self.db = self._open(self.path)
        except sqlite3.DatabaseError:  # not an SQLite file: set aside, start afresh
            os.replace(self.path, self.path + ".broken")
            self.db = self._open(self.path)

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        db = sqlite3.connect(path)
        # a cache of the files (rebuilt when lost): no waiting for the disk at every commit
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            db.execute("DROP TABLE IF EXISTS runs")
        db.execute(
            "CREATE TABLE IF NOT EXISTS runs (rel TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, "
            "experiment TEXT, status TEXT, created TEXT, finished TEXT, params TEXT, summary TEXT, "
            "error TEXT, writer TEXT, heartbeat REAL, tags TEXT, note TEXT, pending INTEGER)"
        )
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.commit()
        return db

    def close(self) -> None:
        self.db.close()

    def records(self) -> dict[str, Record]:
        """Every indexed run by relative path."""
        out = {}
        for i, row in enumerate(self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs")):
            if self.gate is not None and i % 256 == 0:
                self.gate.wait()
            kw = dict(zip(_COLUMNS, row))
            for k in _JSON:
                kw[k] = json.loads(kw[k])
            kw["pending"] = bool(kw["pending"])
            out[kw["rel"]] = Record(**kw)
        return out

    def put(self, records: Iterable[Record]) -> None:
        rows = [tuple(json.dumps(getattr(r, k)) if k in _JSON else getattr(r, k) for k in _COLUMNS) for r in records]
        self.db.executemany(
            f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", rows
        )
        self.db.commit()

    def remove(self, rels: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM runs WHERE rel = ?", [(r,) for r in rels])
        self.db.commit()
