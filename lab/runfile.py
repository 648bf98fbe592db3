"""The HDF5 run file: write, append, follow, read and validate (DESIGN.md, contract 3).

Layout of ``run.h5`` (full description in ``docs/runfile.md``)::

    /                 attrs: format, format_version, experiment, status, params (JSON),
                             seed, created, finished, versions (JSON), device, summary (JSON),
                             error, diverged_step, and any experiment notes
    /params           attrs: one attribute per parameter
    /heartbeat        (T,) wall-clock time of every flush, so a reader tells live from dead
    /series/...       growable datasets, axis 0 is the row (step) axis
    /data, /theory,.. arrays

Writing follows h5py's SWMR recipe: every group, dataset and attribute known in advance
is created first; the first appended row switches the file to SWMR mode, after which
rows are appended in buffered blocks (flushed at least every ``flush_interval``
seconds). Attributes cannot change in SWMR mode, so the final status, summary, end
time and arrays that were not declared in advance are written after closing and
reopening the file normally. A killed writer leaves ``status = running`` and a file
that opens with ``swmr=True`` (not plainly) holding every flushed row; readers fall
back to that mode when a plain open refuses the file.
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

FORMAT = "noiselab-run"
FORMAT_VERSION = 1
STATUSES = ("running", "completed", "cancelled", "failed", "diverged")
#: a running file whose heartbeat is older than this is shown as interrupted
STALE_AFTER_S = 15.0


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

    def __init__(self, path: str | os.PathLike, *, experiment: str, params: Mapping[str, Any],
                 seed: int, device: str, layout: Iterable[Dataset] = (),
                 flush_interval: float = 0.5, block_rows: int = 1000):
        self.path = os.fspath(path)
        self.flush_interval = flush_interval
        self.block_rows = block_rows
        self._buffers: dict[str, list[np.ndarray]] = {}
        self._buffered_rows = 0
        self._last_flush = time.monotonic()
        self._deferred_arrays: dict[str, np.ndarray] = {}
        self._deferred_attrs: dict[str, Any] = {}
        self.swmr = False
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.f = h5py.File(self.path, "w-", libver="latest")
        except OSError as e:  # an existing name (h5py's FileExistsError), no permission, ...
            raise RunFileError(f"{self.path}: the run file cannot be created ({e}); choose a folder "
                               "you can write to, or a name that is not taken") from None
        try:
            self._create(experiment, params, seed, device, layout)
        except BaseException:  # a bad layout: nothing was run, so the empty file goes
            self.f.close()
            os.remove(self.path)
            raise

    def _create(self, experiment: str, params: Mapping[str, Any], seed: int, device: str,
                layout: Iterable[Dataset]) -> None:
        """The root attributes, ``/params``, ``/heartbeat`` and every declared dataset."""
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
        g = self.f.create_group("params")
        for k, v in params.items():
            g.attrs[k] = _attr_value(v)
        self.f.create_dataset("heartbeat", shape=(0,), maxshape=(None,), dtype="f8",
                              chunks=(256,)).attrs["growable"] = True
        for d in layout:
            self.declare(d)

    # -- declaring -------------------------------------------------------------------------
    def declare(self, d: Dataset) -> None:
        """Create dataset ``d`` (growable, or fixed and filled with ``d.fill``)."""
        if self.swmr:
            raise RuntimeError(f"cannot declare {d.path!r} after the run started streaming")
        if d.growable:
            ds = self.f.create_dataset(d.path, shape=(0, *d.shape), maxshape=(None, *d.shape),
                                       dtype=d.dtype, chunks=(d.chunk_rows, *d.shape))
        else:
            ds = self.f.create_dataset(d.path, shape=d.shape, dtype=d.dtype, fillvalue=d.fill_value)
        ds.attrs["growable"] = d.growable
        for k, v in d.attrs.items():
            ds.attrs[k] = v
        if d.growable and d.path.startswith("series/"):
            self._attach_step_scale(ds)

    def _attach_step_scale(self, ds: h5py.Dataset) -> None:
        """Make ``series/step`` the dimension scale of axis 0 of every series (and each
        other axis of a series its own index scale ``/<name>_dim<k>``), so netCDF readers
        (xarray with h5netcdf) see a ``step`` coordinate. Attaching writes attributes, so
        it happens here, at declaration, before SWMR mode starts."""
        step = self.f.get("series/step")
        if ds.name == "/series/step":
            ds.make_scale("step")
            targets = [s for s in self.f["series"].values()
                       if isinstance(s, h5py.Dataset) and s.attrs.get("growable", False) and s.name != ds.name]
        elif step is not None:
            targets = [ds]
        else:
            targets = []
        for s in targets:
            s.dims[0].attach_scale(self.f["series/step"])
        name = ds.name[len("/series/"):].replace("/", "_")
        for k, n in enumerate(ds.shape[1:], start=1):
            axis = self.f.create_dataset(f"{name}_dim{k}", data=np.arange(n))
            axis.attrs["growable"] = False
            axis.make_scale(f"{name}_dim{k}")
            ds.dims[k].attach_scale(axis)

    # -- writing ---------------------------------------------------------------------------
    def start_streaming(self) -> None:
        """Switch to SWMR mode; from here on nothing new can be created."""
        if not self.swmr:
            self.f.swmr_mode = True
            self.swmr = True

    def append(self, path: str, rows: np.ndarray) -> None:
        """Buffer a copy of ``rows`` (shape ``(k, *row_shape)``) for the growable dataset
        ``path`` (a copy: the caller may reuse its array before the next flush)."""
        if path not in self.f:
            raise KeyError(f"series {path!r} was not declared in the experiment's layout")
        ds = self.f[path]
        try:  # converted now: a value the dataset cannot hold fails here, not at a later flush
            rows = np.array(rows, dtype=ds.dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: rows of {np.asarray(rows).dtype} cannot be stored as {ds.dtype} ({e})") from None
        if rows.ndim != ds.ndim or rows.shape[1:] != ds.shape[1:]:
            raise ValueError(f"{path}: a block of shape {rows.shape}, but the series takes blocks of k rows "
                             f"of shape {ds.shape[1:]}")
        self.start_streaming()
        self._buffers.setdefault(path, []).append(rows)
        self._buffered_rows += len(rows)
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Flush once ``block_rows`` rows wait or ``flush_interval`` seconds have passed."""
        if self._buffered_rows >= self.block_rows or time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row, add a heartbeat (in SWMR mode) and flush the file."""
        for path, chunks in self._buffers.items():
            if not chunks:
                continue
            rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
            ds = self.f[path]
            n = ds.shape[0]
            ds.resize(n + len(rows), axis=0)
            ds[n:] = rows
            chunks.clear()
        self._buffered_rows = 0
        if self.swmr:
            hb = self.f["heartbeat"]
            hb.resize(hb.shape[0] + 1, axis=0)
            hb[-1] = time.time()
        self.f.flush()
        self._last_flush = time.monotonic()

    def save(self, path: str, array: Any, index: Any = None) -> None:
        """Write an array: in place if declared (``index`` selects a part), else created
        now, or after the run if the file is already streaming."""
        array = np.asarray(array)
        if path in self.f:
            ds = self.f[path]
            if index is None:
                ds[...] = array
            else:
                ds[index] = array
            if self.swmr:
                self.maybe_flush()
            return
        if index is not None:
            raise KeyError(f"cannot write part of {path!r}: it was not declared")
        if self.swmr:
            self._deferred_arrays[path] = array.copy()  # as it is now, not as it is at the end
        else:
            self.f.create_dataset(path, data=array)

    def attr(self, key: str, value: Any) -> None:
        """Set a root attribute now, or at the end if the file is streaming."""
        if self.swmr:
            self._deferred_attrs[key] = value
        else:
            self.f.attrs[key] = value

    # -- finishing -------------------------------------------------------------------------
    def finish(self, status: str, *, summary: Mapping[str, Any] | None = None,
               error: str = "", diverged_step: int = -1) -> tuple[str, str]:
        """Flush, close, reopen without SWMR and record the final state; returns the
        status and error recorded (``failed`` if the last rows could not be written)."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"bad final status {status!r}")
        try:
            self.flush()
        except OSError as e:  # a full disk, say: what was flushed before stays readable
            lost = self._buffered_rows
            self._buffers.clear()
            status = "failed"
            error = (error + "\n" if error else "") + (
                f"writing the run file failed ({e}); the last {lost} buffered rows were not written")
        try:
            self.f.close()
            with _open_retry(self.path, "r+") as f:
                for path, arr in self._deferred_arrays.items():
                    if path in f:
                        del f[path]
                    f.create_dataset(path, data=arr)
                for k, v in self._deferred_attrs.items():
                    f.attrs[k] = v
                f.attrs["status"] = status
                f.attrs["finished"] = utc_now()
                f.attrs["summary"] = json.dumps(_jsonable(summary or {}))
                f.attrs["error"] = error
                f.attrs["diverged_step"] = int(diverged_step)
        except OSError as e:
            raise RunFileError(f"{self.path}: the run's end could not be recorded ({e}); is the disk full? "
                               "Every row flushed before is in the file.") from None
        return status, error


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


def _open_retry(path: str, mode: str, tries: int = 50, **kw) -> h5py.File:
    """Open, retrying briefly while a reader in another process holds a lock."""
    for i in range(tries):
        try:
            return h5py.File(path, mode, libver="latest", **kw)
        except (OSError, BlockingIOError):
            if i == tries - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


# ====================================================================== reading ======
def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open a run file for reading: plainly (a finished run), else in SWMR mode (a live
    writer, or one that was killed: its consistency flags make a plain open refuse).

    A plain open is tried first because only it checks the end of file: in SWMR mode
    HDF5 opens a truncated file and then retries its reads for minutes. Raises
    :class:`RunFileError` with a message a user can act on.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise RunFileError(f"{path}: no such file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise RunFileError(f"{path}: cannot be read ({e})") from None
    if not is_hdf5:
        raise RunFileError(f"{path}: not an HDF5 file (corrupt, truncated or another format)")
    errors = []
    for kw in ({}, {"swmr": True, "libver": "latest"}):
        try:
            return h5py.File(path, "r", **kw)
        except (OSError, ValueError, RuntimeError) as e:  # h5py's errors for broken files
            if "truncated file" in str(e):
                raise RunFileError(f"{path}: the file is truncated (cut short by an incomplete copy "
                                   "or a full disk); the data in it cannot be read") from None
            errors.append(str(e))
    raise RunFileError(f"{path}: cannot be opened as HDF5 ({errors[-1]}); "
                       "the file may be corrupt or still locked by a writer that is not in SWMR mode")


def _check_format(f: h5py.File, path: str) -> None:
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        raise RunFileError(f"{path}: an HDF5 file, but not a Noise Lab run (no 'format = {FORMAT}' attribute)")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise RunFileError(f"{path}: run-file format version {version} is newer than this Noise Lab "
                           f"reads ({FORMAT_VERSION}); update Noise Lab")


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class RunHeader:
    """The root attributes of a run, decoded."""

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
    last_heartbeat: float | None
    attrs: dict

    @property
    def interrupted(self) -> bool:
        """A run that says ``running`` but whose writer stopped beating: it was killed."""
        if self.status != "running":
            return False
        host, _, pid = str(self.attrs.get("writer", "")).rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return not _alive(int(pid))
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _header(f: h5py.File, path: str) -> RunHeader:
    _check_format(f, path)
    a = {k: (_str(v) if isinstance(v, (bytes, str)) else v) for k, v in f.attrs.items()}
    hb = f["heartbeat"] if "heartbeat" in f else None
    if hb is not None and f.swmr_mode:
        hb.refresh()
    last = float(hb[-1]) if hb is not None and hb.shape[0] else None

    def js(key):
        try:
            return json.loads(a.get(key, "{}") or "{}")
        except json.JSONDecodeError as e:
            raise RunFileError(f"{path}: attribute {key!r} is not valid JSON ({e})") from None

    return RunHeader(path=path, experiment=a.get("experiment", "?"), status=a.get("status", "?"),
                     params=js("params"), seed=int(a.get("seed", -1)), created=a.get("created", ""),
                     finished=a.get("finished", ""), device=a.get("device", ""), summary=js("summary"),
                     error=a.get("error", ""), diverged_step=int(a.get("diverged_step", -1)),
                     versions=js("versions"), last_heartbeat=last, attrs=a)


@contextlib.contextmanager
def _reading(path: str) -> Iterator[tuple[h5py.File, RunHeader]]:
    """The open run file and its decoded header; errors while reading it become
    :class:`RunFileError`."""
    with open_h5(path) as f:
        try:
            yield f, _header(f, path)
        except (KeyError, OSError, RuntimeError) as e:
            raise RunFileError(f"{path}: damaged run file ({e})") from None


def read_header(path: str | os.PathLike) -> RunHeader:
    """The root attributes of a run file only (cheap: no dataset is read)."""
    with _reading(os.fspath(path)) as (_, header):
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
    """Every dataset by path, refreshed first when a writer may still be appending."""
    out = []
    f.visititems(lambda name, obj: out.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
    if f.swmr_mode:
        for _, ds in out:
            ds.refresh()
    return out


def read_run(path: str | os.PathLike) -> RunData:
    """Read a whole run (finished, live or killed) into memory."""
    with _reading(os.fspath(path)) as (f, header):
        run = RunData(header)
        for name, ds in _datasets(f):
            run.arrays[name] = ds[()]
            if ds.attrs.get("growable", False):
                run.growable.add(name)
    return run


class RunFollower:
    """Follows a run file another process is writing: each :meth:`poll` reopens the file
    in SWMR mode, reads the rows appended since the last poll and the header."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.lengths: dict[str, int] = {}

    def poll(self) -> tuple[RunHeader, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return ``(header, new_rows_by_path, fixed_arrays_by_path)``.

        Raises :class:`RunFileError` if the file cannot be read right now (the caller
        may simply try again at the next tick).
        """
        new, fixed = {}, {}
        with _reading(self.path) as (f, header):
            for name, ds in _datasets(f):
                if ds.attrs.get("growable", False):
                    n0, n = self.lengths.get(name, 0), ds.shape[0]
                    if n > n0:
                        new[name] = ds[n0:n]
                        self.lengths[name] = n
                else:
                    fixed[name] = ds[()]
        return header, new, fixed
