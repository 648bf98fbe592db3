"""The run file's journal: what a SWMR writer records after the file exists.

In SWMR mode HDF5 lets a writer extend and overwrite datasets but not create objects or
change attributes, and the writer of a run file is in SWMR mode from the moment the
file exists (docs/runfile.md argues why). Notes set during the run, arrays that were not
declared up front, and the run's end (status, summary, end time, error) are therefore
appended as JSON lines to one byte dataset, ``/journal``; the bytes of such arrays go to
``/journal_blob`` first. ``/journal`` is allocated up front and zero-filled, so its used
part ends at the first zero byte; its last :data:`END_RESERVE` bytes are kept for the end
record, which then needs no new space even on a full disk. A record is visible once
its line is complete: a reader ignores a torn last line, and an array record is written
only after its bytes were flushed.

Records: ``{"k": "attr", "key", "value"}``, ``{"k": "array", "path", "dtype", "shape",
"offset", "nbytes"}`` and ``{"k": "end", "status", "finished", "summary", "error",
"diverged_step"}``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from .h5safe import Budget, UnsafeFile

JOURNAL, BLOB = "journal", "journal_blob"
CHUNK = 16384
CAPACITY = 4 * CHUNK
END_RESERVE = 2 * CHUNK
#: a journal longer than this is not one this program wrote
MAX_JOURNAL = 64 * 2**20
_ERROR_MAX = END_RESERVE // 2


def _early() -> h5py.h5p.PropDCID:
    """Dataset creation with storage allocated (and filled) at once, not at first write."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


class JournalWriter:
    """Appends records to the journal of a file open for (SWMR) writing."""

    def __init__(self, f: h5py.File):
        self.f = f
        self.ds = f.create_dataset(
            JOURNAL, shape=(CAPACITY,), maxshape=(None,), dtype="u1", chunks=(CHUNK,), fillvalue=0, dcpl=_early()
        )
        self.blob = f.create_dataset(BLOB, shape=(0,), maxshape=(None,), dtype="u1", chunks=(262144,))
        self.pos = 0

    def _write(self, line: bytes, reserve: int) -> None:
        cap = self.ds.shape[0]
        if self.pos + len(line) + reserve > cap:
            self.ds.resize(max(2 * cap, self.pos + len(line) + reserve + CHUNK), axis=0)
        self.ds[self.pos : self.pos + len(line)] = np.frombuffer(line, dtype=np.uint8)
        self.pos += len(line)

    def add(self, record: dict) -> None:
        """An ``attr`` or ``array`` record (the end's reserve stays free)."""
        self._write(_line(record), END_RESERVE)

    def add_array(self, path: str, array: np.ndarray) -> None:
        """The array's bytes, flushed, then its record."""
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in "biufS":
            raise TypeError(f"{path}: cannot store an array of {array.dtype} in a run file")
        raw = array.view(np.uint8).reshape(-1) if array.size else np.zeros(0, np.uint8)
        offset = self.blob.shape[0]
        self.blob.resize(offset + raw.size, axis=0)
        self.blob[offset:] = raw
        self.f.flush()
        self.add(
            {
                "k": "array",
                "path": path,
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "offset": int(offset),
                "nbytes": int(raw.size),
            }
        )

    def end_line(self, record: dict) -> bytes:
        """The end record as it will be stored: the error shortened to fit the reserve."""
        error = record.get("error", "")
        if len(error) > _ERROR_MAX:
            half = _ERROR_MAX // 2
            record = dict(record, error=error[:half] + "\n[... shortened ...]\n" + error[-half:])
        line = _line(record)
        while len(line) > END_RESERVE:  # a summary too big for the reserve: keep what fits
            record = dict(record, summary={"note": "summary too large for the run file's end record"})
            line = _line(record)
        return line

    def end(self, record: dict) -> None:
        self._write(self.end_line(record), 0)

    def raw_end(self, record: dict) -> tuple[list[tuple[int, bytes]], int]:
        """The file offsets and bytes that store the end record without HDF5 (for a full
        disk, where HDF5 cannot flush): the journal's chunks are allocated and unfiltered,
        so its bytes lie in the file as they are."""
        line = self.end_line(record)
        pieces, pos = [], self.pos
        while line:
            c0 = pos // CHUNK * CHUNK
            info = self.ds.id.get_chunk_info_by_coord((c0,))
            n = min(len(line), c0 + CHUNK - pos)
            pieces.append((info.byte_offset + pos - c0, line[:n]))
            line, pos = line[n:], pos + n
        return pieces, pos


def _line(record: dict) -> bytes:
    return (json.dumps(record, separators=(",", ":"), default=_plain) + "\n").encode()


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    raise TypeError(f"cannot store {type(v).__name__} in a run file's journal")


def pwrite_pieces(path: str, pieces: list[tuple[int, bytes]]) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset, data in pieces:
            os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


class Journal:
    """The records of a journal, replayed: ``attrs`` (notes by key), ``arrays`` (path ->
    record) and ``end`` (the end record, or None while the run goes on)."""

    def __init__(self, f: h5py.File, budget: Budget):
        self.attrs: dict[str, Any] = {}
        self.arrays: dict[str, dict] = {}
        self.end: dict | None = None
        self._blob = None
        ds = f.get(JOURNAL)
        if not isinstance(ds, h5py.Dataset):
            return
        if f.swmr_mode:
            ds.refresh()
        if ds.ndim != 1 or ds.dtype != np.uint8:
            raise UnsafeFile(f"'{JOURNAL}' is not a byte array")
        if ds.shape[0] > MAX_JOURNAL:
            raise UnsafeFile(f"'{JOURNAL}' holds {ds.shape[0]:,} bytes (a run's journal holds kilobytes)")
        budget.take(JOURNAL, ds.shape[0])
        raw = ds[()]
        zeros = np.flatnonzero(raw == 0)
        text = raw[: zeros[0] if zeros.size else raw.size].tobytes()
        for line in text.split(b"\n")[:-1]:  # the part after the last newline is a torn record
            try:
                rec = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(rec, dict):
                continue
            kind = rec.get("k")
            if kind == "attr" and isinstance(rec.get("key"), str):
                self.attrs[rec["key"]] = rec.get("value")
            elif kind == "array" and isinstance(rec.get("path"), str):
                self.arrays[rec["path"]] = rec
            elif kind == "end":
                self.end = rec
        blob = f.get(BLOB)
        if isinstance(blob, h5py.Dataset) and blob.ndim == 1 and blob.dtype == np.uint8:
            if f.swmr_mode:
                blob.refresh()
            self._blob = blob

    def array_bytes(self, path: str) -> int:
        rec = self.arrays[path]
        return int(rec.get("nbytes", 0)) if isinstance(rec.get("nbytes"), int) else 0

    def read_array(self, path: str) -> np.ndarray | None:
        """The array recorded under ``path``; None when its bytes are not in the file (a
        finished file keeps such arrays as datasets and drops the blob)."""
        rec = self.arrays[path]
        try:
            dtype, shape = np.dtype(rec["dtype"]), tuple(int(n) for n in rec["shape"])
            offset, nbytes = int(rec["offset"]), int(rec["nbytes"])
        except (KeyError, TypeError, ValueError) as e:
            raise UnsafeFile(f"journal record of {path!r} is damaged ({e})") from None
        if dtype.kind not in "biufS" or nbytes != int(np.prod(shape, dtype=np.float64)) * dtype.itemsize:
            raise UnsafeFile(f"journal record of {path!r} is damaged (type {dtype}, shape {shape}, {nbytes} bytes)")
        if self._blob is None or offset < 0 or offset + nbytes > self._blob.shape[0]:
            return None
        return self._blob[offset : offset + nbytes].view(dtype).reshape(shape)
