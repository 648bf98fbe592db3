"""The HDF5 run file: write, append, follow, read and validate (DESIGN.md, contract 3).

Layout of ``run.h5`` (full description in ``docs/runfile.md``)::

    /                 attrs: format, format_version, experiment, status, params (JSON),
                             seed, created, finished, versions (JSON), device, summary (JSON),
                             error, diverged_step, writer, and any experiment notes
    /params           attrs: one attribute per parameter
    /heartbeat        (T,) wall-clock time of every flush, so a reader tells live from dead
    /journal          notes, late arrays and the run's end, written in SWMR mode
    /series/...       growable datasets, axis 0 is the row (step) axis
    /data, /theory,.. arrays

Lifecycle (argued in ``docs/runfile.md``): the file is created with every declared
dataset, the attributes known at the start and the journal, flushed, and switched to
SWMR mode at once. From then on the writer only appends rows (buffered, flushed at
least every ``flush_interval`` seconds) and journal records (:mod:`lab.runjournal`):
a kill at any moment leaves a file that opens with ``swmr=True`` and holds every
flushed row. At the end the end record goes to the journal, the file is closed, and a
finished copy (the journal's notes and arrays as attributes and datasets, the final
status in the root attributes) replaces it by an atomic rename; if that copy cannot be
made (a full disk) the journal still holds the end. Readers never take a file lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping

import h5py
import numpy as np

from . import h5safe, procinfo
from .diskreserve import RESERVE, SpaceReserve, free_bytes
from .runjournal import BLOB, JOURNAL, Journal, JournalWriter, pwrite_pieces

FORMAT = "noiselab-run"
FORMAT_VERSION = 1
#: the finished copy's root attribute holding every other root attribute as one JSON
#: object: one read instead of one per attribute (what a library of thousands of files
#: pays for), see docs/runfile.md
HEADER = "header"
#: root attributes edited after a run is published (by the run library): never in HEADER
EDITABLE = ("tags", "note")
STATUSES = ("running", "completed", "cancelled", "failed", "diverged")
#: a running file from another host whose heartbeat is older than this is shown as interrupted
STALE_AFTER_S = 15.0
#: a flush without new data still adds a heartbeat after this many seconds (liveness)
BEAT_S = 5.0
#: errors h5py raises for a failed write (a full disk is a RuntimeError or an OSError)
WRITE_ERRORS = (OSError, RuntimeError, ValueError)


class RunFileError(Exception):
    """A file that is missing, corrupt or not a Noise Lab run; the message says which."""


@dataclass(frozen=True)
class Dataset:
    """A dataset declared before the run starts.

    ``growable``: ``shape`` is the shape of one row and rows are appended along a new
    axis 0 (chunked, ``maxshape=(None, *shape)``). Otherwise ``shape`` is the full shape
    and the array is created filled with ``fill`` and written in place, possibly piece
    by piece while the run goes on (a phase map filled in row by row).
    """

    path: str
    shape: tuple = ()
    dtype: str = "f8"
    growable: bool = True
    fill: float = np.nan
    attrs: Mapping[str, Any] = field(default_factory=dict)
    chunk_rows: int = 1024

    @property
    def fill_value(self) -> Any:
        """What a fixed dataset holds before it is written: ``fill`` for floats, else 0."""
        return self.fill if np.dtype(self.dtype).kind == "f" else 0

    def empty(self) -> np.ndarray:
        """The dataset as it is in a new file: no rows (growable) or filled (fixed)."""
        if self.growable:
            return np.empty((0, *self.shape), dtype=self.dtype)
        return np.full(self.shape, self.fill_value, dtype=self.dtype)


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second, as run and sweep files store it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("noiselab", "numpy", "h5py", "torch", "torchvision"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    out["hdf5"] = h5py.version.hdf5_version
    return out


def _attr_value(v: Any) -> Any:
    """HDF5-storable form of a parameter value."""
    if isinstance(v, (list, tuple)):
        return np.asarray(v)
    return v


class RunWriter:
    """Creates a run file and streams rows into it; see the module docstring."""

    #: default seconds between flushes of buffered rows
    FLUSH_INTERVAL = 0.5

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        experiment: str,
        params: Mapping[str, Any],
        seed: int,
        device: str,
        layout: Iterable[Dataset] = (),
        attrs: Mapping[str, Any] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
        block_rows: int = 1000,
    ):
        self.path = os.fspath(path)
        self.flush_interval = flush_interval
        self.block_rows = block_rows
        self._buffers: dict[str, list[np.ndarray]] = {}
        self._buffered_rows = 0
        self._last_flush = time.monotonic()
        self._write_error = ""
        self._series: dict[str, h5py.Dataset] = {}  # growable datasets by path
        self._dirty, self._last_beat = False, 0.0  # data written since the last heartbeat
        self.swmr = False
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise RunFileError(
                f"{folder}: the folder for the run file cannot be made ({e.strerror or e}); "
                "choose a folder you can write to"
            ) from None
        # built under a hidden name and renamed once it is in SWMR mode: a kill before
        # that leaves no run file, never one that cannot be opened
        tmp = partial_path(self.path)
        try:
            if os.path.lexists(self.path):
                raise FileExistsError(f"{self.path} exists")
            if free_bytes(folder) < 2 * RESERVE:
                raise OSError(
                    f"only {free_bytes(folder) / 2**20:.1f} MiB free, a run file needs "
                    f"{2 * RESERVE / 2**20:.0f} MiB to start"
                )
            self.f = h5py.File(tmp, "w", libver="latest")
            self._space = SpaceReserve(tmp)
            self._space.ensure()
        except (OSError, RuntimeError) as e:  # an existing name, no permission, a full disk
            _remove_quietly(tmp)
            raise RunFileError(
                f"{self.path}: the run file cannot be created ({e}); choose a folder "
                "you can write to, with free space, or a name that is not taken"
            ) from None
        try:
            self._create(experiment, params, seed, device, layout, attrs or {})
            self.f.flush()
            self.f.swmr_mode = True
            self.swmr = True
            os.replace(tmp, self.path)
        except BaseException as e:  # a bad layout or a full disk: nothing was run, so the file goes
            with contextlib.suppress(*WRITE_ERRORS):
                self.f.close()
            self._space.release()
            _remove_quietly(tmp)
            if isinstance(e, (OSError, RuntimeError)):
                raise RunFileError(f"{self.path}: the run file cannot be created ({e}); is the disk full?") from None
            raise
        _kill_point("create")

    def _create(
        self,
        experiment: str,
        params: Mapping[str, Any],
        seed: int,
        device: str,
        layout: Iterable[Dataset],
        attrs: Mapping[str, Any],
    ) -> None:
        """The root attributes (``attrs`` too: provenance), ``/params``, ``/heartbeat``, the
        journal and every declared dataset."""
        a = self.f.attrs
        a["format"] = FORMAT
        a["format_version"] = FORMAT_VERSION
        a["experiment"] = experiment
        a["status"] = "running"
        a["params"] = json.dumps(dict(params))
        a["seed"] = int(seed)
        a["created"] = utc_now()
        a["finished"] = ""
        a["versions"] = json.dumps(_versions())
        a["device"] = device
        a["summary"] = "{}"
        a["error"] = ""
        a["diverged_step"] = -1
        a["writer"] = f"{socket.gethostname()}:{os.getpid()}"
        a["writer_start"] = procinfo.start_token(os.getpid())
        for k, v in attrs.items():
            a[k] = v
        g = self.f.create_group("params")
        for k, v in params.items():
            g.attrs[k] = _attr_value(v)
        self.f.create_dataset("heartbeat", data=[time.time()], maxshape=(None,), dtype="f8", chunks=(256,)).attrs[
            "growable"
        ] = True
        self.journal = JournalWriter(self.f)
        for d in layout:
            self.declare(d)
        attach_scales(self.f)

    # -- declaring -------------------------------------------------------------------------
    def declare(self, d: Dataset) -> None:
        """Create dataset ``d`` (growable, or fixed, filled with ``d.fill`` and allocated
        at once so that writing it later in SWMR mode changes no metadata)."""
        if self.swmr:
            raise RuntimeError(f"cannot declare {d.path!r}: datasets are declared in the layout, before the run")
        if d.growable:
            ds = self.f.create_dataset(
                d.path, shape=(0, *d.shape), maxshape=(None, *d.shape), dtype=d.dtype, chunks=(d.chunk_rows, *d.shape)
            )
            self._series[d.path] = ds
        else:
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            ds = self.f.create_dataset(d.path, shape=d.shape, dtype=d.dtype, dcpl=dcpl, fillvalue=d.fill_value)
        ds.attrs["growable"] = d.growable
        for k, v in d.attrs.items():
            ds.attrs[k] = v

    # -- writing ---------------------------------------------------------------------------
    def append(self, path: str, rows: np.ndarray) -> None:
        """Buffer a copy of ``rows`` (shape ``(k, *row_shape)``) for the growable dataset
        ``path`` (a copy: the caller may reuse its array before the next flush)."""
        ds = self._series.get(path)
        if ds is None:
            raise KeyError(f"series {path!r} was not declared in the experiment's layout")
        try:  # converted now: a value the dataset cannot hold fails here, not at a later flush
            rows = np.array(rows, dtype=ds.dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: rows of {np.asarray(rows).dtype} cannot be stored as {ds.dtype} ({e})") from None
        if rows.ndim != ds.ndim or rows.shape[1:] != ds.shape[1:]:
            raise ValueError(
                f"{path}: a block of shape {rows.shape}, but the series takes blocks of k rows of shape {ds.shape[1:]}"
            )
        self._buffers.setdefault(path, []).append(rows)
        self._buffered_rows += len(rows)
        self._dirty = True
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Flush once ``block_rows`` rows wait or ``flush_interval`` seconds have passed."""
        if self._buffered_rows >= self.block_rows or time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row, add a heartbeat (when data was written since the
        last one, or :data:`BEAT_S` passed) and flush the file. A write error
        (a full disk) is raised as :class:`RunFileError`; the rows flushed before stay."""
        _kill_point("flush")
        try:
            # HDF5 allocates a whole chunk at a time: room for one new chunk per series written
            self._space.ensure(
                sum(
                    sum(c.nbytes for c in chunks) + _chunk_bytes(self._series[p])
                    for p, chunks in self._buffers.items()
                    if chunks
                )
            )
            for path, chunks in self._buffers.items():
                if not chunks:
                    continue
                rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
                ds = self._series[path]
                n = ds.shape[0]
                ds.resize(n + len(rows), axis=0)
                ds[n:] = rows
                chunks.clear()
            self._buffered_rows = 0
            now = time.time()
            if self._dirty or now - self._last_beat >= BEAT_S:
                hb = self.f["heartbeat"]
                hb.resize(hb.shape[0] + 1, axis=0)
                hb[-1] = now
                self._dirty, self._last_beat = False, now
            self.f.flush()
        except WRITE_ERRORS as e:
            self._failed_write(e)
        self._last_flush = time.monotonic()

    def _failed_write(self, e: Exception) -> None:
        lost = self._buffered_rows
        self._buffers.clear()
        self._buffered_rows = 0
        self._write_error = (
            f"writing the run file failed ({e}); is the disk full? Rows flushed before are "
            f"in the file" + (f"; the last {lost} buffered rows were not written" if lost else "")
        )
        raise RunFileError(f"{self.path}: {self._write_error}") from None

    def save(self, path: str, array: Any, index: Any = None) -> None:
        """Write an array: in place if declared (``index`` selects a part), else as a
        journal record (a dataset of its own in the finished file)."""
        array = np.asarray(array)
        ds = None if path in self._series else self.f.get(path)
        try:
            if isinstance(ds, h5py.Dataset):
                if index is None:
                    ds[...] = array
                else:
                    ds[index] = array
                self._dirty = True
                self.maybe_flush()
                return
            if path in self._series or ds is not None or index is not None:
                raise KeyError(
                    f"cannot write {'part of ' if index is not None else ''}{path!r}: "
                    "it is not a fixed dataset of the layout"
                )
            self._space.ensure(array.nbytes)
            self.journal.add_array(path, array)
        except (OSError, RuntimeError) as e:
            self._failed_write(e)

    def attr(self, key: str, value: Any) -> None:
        """A note for the root attributes (recorded in the journal now)."""
        try:
            self._space.ensure()
            self.journal.add({"k": "attr", "key": key, "value": value})
        except (OSError, RuntimeError) as e:
            self._failed_write(e)

    # -- finishing -------------------------------------------------------------------------
    def finish(
        self, status: str, *, summary: Mapping[str, Any] | None = None, error: str = "", diverged_step: int = -1
    ) -> tuple[str, str]:
        """Flush, record the end in the journal, close, and publish the finished copy;
        returns the status and error recorded (``failed`` if the file could not be
        written). Raises :class:`RunFileError` only when not even the end could be recorded."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"bad final status {status!r}")
        if not self._write_error:
            try:
                self.flush()
            except RunFileError:
                pass
            except WRITE_ERRORS as e:
                with contextlib.suppress(RunFileError):
                    self._failed_write(e)
        if self._write_error:
            status = "failed"
            if self._write_error not in error:
                error = (error + "\n" if error else "") + self._write_error
        end = {
            "k": "end",
            "status": status,
            "finished": utc_now(),
            "summary": _jsonable(summary or {}),
            "error": error,
            "diverged_step": int(diverged_step),
        }
        _kill_point("end")
        recorded = self._record_end(end)
        if not recorded:
            raise RunFileError(
                f"{self.path}: the run's end could not be recorded; is the disk full? "
                "Every row flushed before is in the file (it shows as interrupted)."
            )
        _kill_point("closed")
        publish(self.path)
        return status, error

    def _record_end(self, end: dict) -> bool:
        """The end record through HDF5, else (a full disk) written straight into the
        journal's allocated bytes after closing; True once it is in the file."""
        try:
            pieces, _ = self.journal.raw_end(end)
        except WRITE_ERRORS:
            pieces = []
        try:
            self.journal.end(end)
            self.f.flush()
            self.f.close()
            return True
        except WRITE_ERRORS:
            with contextlib.suppress(*WRITE_ERRORS):
                self.f.close()
        finally:
            self._space.release()
        if not pieces:
            return False
        try:
            pwrite_pieces(self.path, pieces)
        except OSError:
            return False
        return True


def _chunk_bytes(ds: h5py.Dataset) -> int:
    return int(np.prod(ds.chunks)) * ds.dtype.itemsize if ds.chunks else 0


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _kill_point(name: str) -> None:
    """Test hook: ``NOISELAB_KILL_AT=<name>`` kills the process with SIGKILL here
    (``create``, ``flush``, ``end``, ``closed``, ``publish``), to prove that a kill at
    every lifecycle boundary leaves a readable file."""
    if os.environ.get("NOISELAB_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def partial_path(path: str | os.PathLike) -> str:
    """The hidden name a run file is built under, and its finished copy too:
    ``.<name>.partial`` beside it. One is left behind only by a writer killed while
    building it (:func:`leftover_partials`)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.partial")


#: a hidden partial file untouched this long has no writer left (building one takes seconds)
LEFTOVER_AFTER_S = 600.0


def leftover_partials(folder: str) -> list[tuple[str, str]]:
    """Hidden partial files in ``folder`` (not below it) that no writer will finish, each
    as ``(partial file, the run file it is of)``: a copy beside a file that has ended, or
    a file never published, untouched for :data:`LEFTOVER_AFTER_S`. A reader needs
    neither: the run is in the file beside it, or never began."""
    out: list[tuple[str, str]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    now = time.time()
    for e in entries:
        if not (e.name.startswith(".") and e.name.endswith(".partial")) or not e.is_file(follow_symlinks=False):
            continue
        try:
            if now - e.stat(follow_symlinks=False).st_mtime < LEFTOVER_AFTER_S:
                continue
        except OSError:
            continue
        run = os.path.join(folder, e.name[1 : -len(".partial")])
        try:
            ended = (
                not os.path.exists(run) or read_header(run, ("format", "format_version", "status")).status != "running"
            )
        except RunFileError:
            ended = False  # a file that cannot be read now keeps whatever lies beside it
        if ended:
            out.append((e.path, run))
    return out


def publish(path: str) -> bool:
    """Replace a closed run file by its finished copy: journal notes as root attributes,
    journal arrays as datasets, the end record's status, summary and times in the root
    attributes. The copy is built beside the file and renamed over it, so a reader
    holding the file keeps its (complete) old copy and a kill leaves one of the two.
    False (the file unchanged) when the copy cannot be made, e.g. on a full disk."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = partial_path(path)
    try:
        if free_bytes(folder) < os.path.getsize(path) + 2 * RESERVE:
            return False  # HDF5 must never meet a full disk: it cannot close a file then
        with h5py.File(path, "r", locking=False) as src, h5py.File(tmp, "w", libver="latest") as dst:
            journal = Journal(src, h5safe.Budget(2**62))
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            for key in src:  # the journal is replayed into attributes and datasets, not copied
                if key not in (BLOB, JOURNAL):
                    src.copy(src[key], dst, name=key)
            for k, v in journal.attrs.items():
                dst.attrs[k] = v
            for p in journal.arrays:
                arr = journal.read_array(p)
                if arr is not None and p not in dst:
                    dst.create_dataset(p, data=arr)
            if journal.end is not None:
                for k in ("status", "finished", "error", "diverged_step"):
                    dst.attrs[k] = journal.end[k]
                dst.attrs["summary"] = json.dumps(journal.end["summary"])
            attach_scales(dst)
            seal_header(dst)
            _kill_point("publish")
        os.replace(tmp, path)
        return True
    except WRITE_ERRORS:
        _remove_quietly(tmp)
        return False


def seal_header(f: h5py.File) -> None:
    """Write :data:`HEADER` from the root attributes as they are now. A finished run's
    attributes are set through :func:`set_attrs`, which calls this; ones edited with
    plain h5py keep the copy of the publication."""
    plain = {k: _plain_attr(v) for k, v in f.attrs.items() if k != HEADER and k not in EDITABLE}
    f.attrs[HEADER] = json.dumps(plain, default=str)


def set_attrs(path: str | os.PathLike, **values) -> None:
    """Change root attributes of a finished run file, keeping :data:`HEADER` in step
    (raises OSError if a writer or a locking reader holds the file)."""
    with h5py.File(path, "r+") as f:
        for k, v in values.items():
            f.attrs[k] = v
        if HEADER in f.attrs:
            seal_header(f)


def attach_scales(f: h5py.File) -> None:
    """Make ``series/step`` the dimension scale of axis 0 of every series (and each other
    axis of a series its own index scale ``/<name>_dim<k>``), so netCDF readers (xarray
    with h5netcdf) see a ``step`` coordinate. Attaching writes attributes, so it happens
    at creation, before SWMR mode, and again in the finished copy: HDF5's object copy
    keeps the references of the old file, which point nowhere in the new one."""
    step = f.get("series/step")
    if step is None:
        return
    series = [s for s in f["series"].values() if isinstance(s, h5py.Dataset) and s.attrs.get("growable", False)]
    for ds in series + [f[k] for k in f if k.endswith(tuple(f"_dim{i}" for i in range(1, 9)))]:
        for ref in ("DIMENSION_LIST", "REFERENCE_LIST"):
            if ref in ds.attrs:
                del ds.attrs[ref]
    step.make_scale("step")
    for ds in series:
        if ds.name == step.name:
            continue
        ds.dims[0].attach_scale(step)
        name = ds.name[len("/series/") :].replace("/", "_")
        for k, n in enumerate(ds.shape[1:], start=1):
            axis = f.get(f"{name}_dim{k}")
            if axis is None:
                axis = f.create_dataset(f"{name}_dim{k}", data=np.arange(n))
                axis.attrs["growable"] = False
            axis.make_scale(f"{name}_dim{k}")
            ds.dims[k].attach_scale(axis)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


# ====================================================================== reading ======
def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open a run file for reading without a lock: plainly (a finished run), else in
    SWMR mode (a live writer, or one that was killed), in bounded time
    (:func:`lab.h5safe.open_file`). Raises :class:`RunFileError` with a message a user
    can act on."""
    path = os.fspath(path)
    try:
        return h5safe.open_file(path)
    except h5safe.UnsafeFile as e:
        raise RunFileError(f"{path}: {e}") from None


def _str(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return str(v.tolist())
    return str(v)


def _int(v: Any, default: int = -1) -> int:
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return default


def _plain_attr(v: Any) -> Any:
    """An attribute as str, number or list (arrays), whatever type a file gave it."""
    if isinstance(v, (bytes, str)):
        return _str(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class RunHeader:
    """The root attributes of a run, decoded, with the journal's notes and end applied."""

    path: str
    experiment: str
    status: str
    params: dict
    seed: int
    created: str
    finished: str
    device: str
    summary: dict
    error: str
    diverged_step: int
    versions: dict
    #: the writer's last heartbeat (time.time()); read only for a run that says running
    last_heartbeat: float | None
    attrs: dict

    @property
    def interrupted(self) -> bool:
        """A run that says ``running`` but whose writer is gone: on this host its process
        (PID and start time: a PID can be reused) is not running, elsewhere its
        heartbeat is older than :data:`STALE_AFTER_S`."""
        if self.status != "running":
            return False
        host, _, pid = str(self.attrs.get("writer", "")).rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return not procinfo.alive(int(pid), str(self.attrs.get("writer_start", "")))
        if self.last_heartbeat is None:  # another machine, nothing streamed yet: judge by age
            try:
                started = datetime.fromisoformat(self.created).timestamp()
            except ValueError:
                return True
            return time.time() - started > STALE_AFTER_S
        return time.time() - self.last_heartbeat > STALE_AFTER_S

    @property
    def display_status(self) -> str:
        return "interrupted" if self.interrupted else self.status


def _check_format(a: dict, path: str) -> None:
    if a.get("format") != FORMAT:
        raise RunFileError(f"{path}: an HDF5 file, but not a Noise Lab run (no 'format = {FORMAT}' attribute)")
    version = _int(a.get("format_version"))
    if version > FORMAT_VERSION:
        raise RunFileError(
            f"{path}: run-file format version {version} is newer than this Noise Lab "
            f"reads ({FORMAT_VERSION}); update Noise Lab"
        )
    if version < 1:
        raise RunFileError(f"{path}: attribute 'format_version' is {a.get('format_version')!r}, not a version number")


def _last_heartbeat(f: h5py.File) -> float | None:
    """The time of the writer's last heartbeat (what tells a live run from one whose
    writer died; read only for a run that says it is running)."""
    hb = f.get("heartbeat")
    if not (isinstance(hb, h5py.Dataset) and hb.ndim == 1 and hb.dtype.kind == "f"):
        return None
    if f.swmr_mode:
        hb.refresh()
    return float(hb[-1]) if hb.shape[0] else None


def _root_attrs(f: h5py.File, path: str, fields: Iterable[str] | None) -> dict:
    """The root attributes (those of ``fields``, if given) as plain values: from
    :data:`HEADER` where the file has it, plus the attributes it does not hold."""
    if not h5py.h5a.exists(f.id, HEADER.encode()):
        return {k: _plain_attr(v) for k, v in h5safe.read_attrs(f, fields).items()}
    try:
        a = json.loads(h5safe.read_attr(f.attrs, HEADER))
    except (TypeError, ValueError) as e:
        raise RunFileError(f"{path}: attribute {HEADER!r} is not valid JSON ({e})") from None
    if not isinstance(a, dict):
        raise RunFileError(f"{path}: attribute {HEADER!r} is not a JSON object")
    rest = EDITABLE if fields is not None else [k for k in f.attrs if k != HEADER and k not in a]
    a.update((k, _plain_attr(v)) for k, v in h5safe.read_attrs(f, rest).items())
    return a


def _header(f: h5py.File, path: str, journal: Journal, fields: Iterable[str] | None = None) -> RunHeader:
    a = _root_attrs(f, path, fields)
    _check_format(a, path)
    a.update(journal.attrs)
    end = journal.end or {}
    status = _str(end.get("status", a.get("status", "?")))
    last = _last_heartbeat(f) if status == "running" else None

    def obj(key: str) -> dict:
        v = end.get(key) if key in end else a.get(key, "{}")
        if isinstance(v, dict):
            return v
        try:
            v = json.loads(v or "{}") if isinstance(v, str) else v
        except json.JSONDecodeError as e:
            raise RunFileError(f"{path}: attribute {key!r} is not valid JSON ({e})") from None
        if not isinstance(v, dict):
            raise RunFileError(f"{path}: attribute {key!r} is not a JSON object")
        return v

    return RunHeader(
        path=path,
        experiment=_str(a.get("experiment", "?")),
        status=status,
        params=obj("params"),
        seed=_int(a.get("seed")),
        created=_str(a.get("created", "")),
        finished=_str(end.get("finished", a.get("finished", ""))),
        device=_str(a.get("device", "")),
        summary=obj("summary"),
        error=_str(end.get("error", a.get("error", ""))),
        diverged_step=_int(end.get("diverged_step", a.get("diverged_step"))),
        versions=obj("versions"),
        last_heartbeat=last,
        attrs=a,
    )


@contextlib.contextmanager
def _reading(
    path: str, fields: Iterable[str] | None = None
) -> Iterator[tuple[h5py.File, RunHeader, Journal, h5safe.Budget]]:
    """The open run file, its decoded header (from the root attributes of ``fields``
    only, if given), journal and read budget; any error while reading it becomes
    :class:`RunFileError` (a reader never raises anything else)."""
    with open_h5(path) as f:
        try:
            budget = h5safe.Budget()
            journal = Journal(f, budget)
            yield f, _header(f, path, journal, fields), journal, budget
        except RunFileError:
            raise
        except h5safe.UnsafeFile as e:
            raise RunFileError(f"{path}: {e}") from None
        except Exception as e:
            raise RunFileError(f"{path}: damaged run file ({type(e).__name__}: {e})") from None


def read_header(path: str | os.PathLike, fields: Iterable[str] | None = None) -> RunHeader:
    """The root attributes and journal of a run file only (cheap: no series is read).
    ``fields``: read only these root attributes (a header missing the others), for a
    reader of thousands of files that needs a few (each attribute read costs ~25 us)."""
    with _reading(os.fspath(path), fields) as (_, header, _j, _b):
        return header


@dataclass
class RunData:
    """A run in memory: its header and every dataset by path (``series/beta_noisy``...).

    A live run grows in place (:class:`lab.live.RunGrower`, fed by a worker's chunks or a
    :class:`RunFollower`); views draw from this object only. ``children`` holds the live
    runs it started (a teacher trained first), by path.
    """

    header: RunHeader
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    growable: set = field(default_factory=set)
    children: dict[str, RunData] = field(default_factory=dict)

    def __getitem__(self, path: str) -> np.ndarray:
        return self.arrays[path]

    def __contains__(self, path: str) -> bool:
        return path in self.arrays

    def get(self, path: str, default=None):
        return self.arrays.get(path, default)

    def series(self, *paths: str) -> list[np.ndarray]:
        """The named growable datasets cut to their common length (a row is complete)."""
        arrs = [self.arrays.get(p, np.empty((0,))) for p in paths]
        n = min(len(a) for a in arrs)
        return [a[:n] for a in arrs]

    def to_pandas(self):
        """The series as a pandas DataFrame indexed by step (:func:`lab.tables.series_frame`)."""
        from .tables import series_frame

        return series_frame(self)


def _datasets(f: h5py.File) -> list[tuple[str, h5py.Dataset]]:
    """Every dataset of the run (not the journal's own), checked by
    :func:`lab.h5safe.walk` and refreshed when a writer may still be appending."""
    out = [(n, ds) for n, ds in h5safe.walk(f) if n not in (JOURNAL, BLOB)]
    if f.swmr_mode:
        for _, ds in out:
            ds.refresh()
    return out


def _journal_arrays(journal: Journal, have: Iterable[str], budget: h5safe.Budget) -> dict[str, np.ndarray]:
    """The journal's arrays that are not datasets (yet), within the budget."""
    out = {}
    for p in journal.arrays:
        if p not in have:
            budget.take(p, journal.array_bytes(p))
            arr = journal.read_array(p)
            if arr is not None:
                out[p] = arr
    return out


def read_run(path: str | os.PathLike) -> RunData:
    """Read a whole run (finished, live or killed) into memory, refusing one that would
    need more than :data:`lab.h5safe.READ_BUDGET` bytes."""
    with _reading(os.fspath(path)) as (f, header, journal, budget):
        run = RunData(header)
        sets = _datasets(f)
        for name, ds in sets:
            budget.take(name, h5safe.dataset_bytes(ds))
        for name, ds in sets:
            run.arrays[name] = ds[()]
            if ds.attrs.get("growable", False):
                run.growable.add(name)
        run.arrays.update(_journal_arrays(journal, run.arrays, budget))
    return run


class RunFollower:
    """Follows a run file another process is writing: each :meth:`poll` reopens the file
    (in SWMR mode while it is written), reads the rows appended since the last poll,
    the fixed arrays and the header."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.lengths: dict[str, int] = {}

    def poll(self) -> tuple[RunHeader, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return ``(header, new_rows_by_path, fixed_arrays_by_path)``.

        Raises :class:`RunFileError` if the file cannot be read right now (the caller
        may simply try again at the next tick).
        """
        new, fixed = {}, {}
        with _reading(self.path) as (f, header, journal, budget):
            for name, ds in _datasets(f):
                if ds.attrs.get("growable", False):
                    n0, n = self.lengths.get(name, 0), ds.shape[0]
                    if n > n0:
                        budget.take(name, h5safe.dataset_bytes(ds) // max(n, 1) * (n - n0))
                        new[name] = ds[n0:n]
                        self.lengths[name] = n
                else:
                    budget.take(name, h5safe.dataset_bytes(ds))
                    fixed[name] = ds[()]
            fixed.update(_journal_arrays(journal, fixed, budget))
        return header, new, fixed
