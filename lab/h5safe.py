"""Opening and walking an HDF5 file someone else made, in bounded time and memory.

A run file may be truncated, bit-flipped, still being written, left open by a writer
that died, or crafted: external raw storage, virtual datasets and external links would
make a reader pull in other files (``/etc/passwd``, a FIFO that blocks, ``/dev/zero``);
a small gzip dataset can expand to gigabytes. The rules here:

* only a regular file is opened (no FIFO, device or folder), without taking a file
  lock, so a reader never blocks a writer;
* a plain open is tried first; only a file that HDF5 says is open for SWMR writing is
  reopened with ``swmr=True``, and then with one metadata read attempt, because after a
  checksum error HDF5's SWMR reader retries every metadata read (up to 100 times with
  growing sleeps: tens of minutes for a slightly corrupt file);
* :func:`walk` lists datasets through hard links only and refuses external links,
  virtual datasets, external storage and types a run file never holds;
* sizes are checked before anything is read (:data:`READ_BUDGET`).
"""

from __future__ import annotations

import ctypes
import glob
import os
import stat
from typing import Iterable, Iterator

import h5py
import numpy as np

#: bytes a reader may load from one file (``NOISELAB_READ_BUDGET_MB`` overrides)
READ_BUDGET = int(float(os.environ.get("NOISELAB_READ_BUDGET_MB", "2048")) * 2**20)
#: bytes one attribute may hold (run parameters and summaries are kilobytes)
ATTR_BUDGET = 16 * 2**20
#: groups a file may nest, and objects it may hold, before the walk refuses it
MAX_DEPTH, MAX_OBJECTS = 32, 200_000
_KINDS = "biufS"  # bool, integers, floats, fixed-length bytes: all a run file stores


class UnsafeFile(Exception):
    """A file that cannot be read safely; the message says why (without the path)."""


class LeftOpen(UnsafeFile):
    """HDF5 marks the file open for writing by a process that is not writing in SWMR
    mode: a writer that was killed before closing it (``noiselab repair`` clears it)."""


def _libhdf5():
    """h5py's own HDF5 library (the same loaded copy), for calls h5py does not wrap."""
    here = os.path.dirname(h5py.__file__)
    for pattern in ("../h5py.libs/libhdf5-*.so*", ".dylibs/libhdf5*.dylib"):
        hits = sorted(glob.glob(os.path.join(here, pattern)))
        if hits:
            return ctypes.CDLL(hits[0])
    try:
        return ctypes.CDLL("libhdf5.so")
    except OSError:
        return None


_LIB = _libhdf5()


def _swmr_fapl() -> h5py.h5p.PropFAID:
    """File access for a SWMR reader: no file lock, one metadata read attempt."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fapl.set_file_locking(False, True)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    fn = getattr(_LIB, "H5Pset_metadata_read_attempts", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
        fn(fapl.id, 1)
    return fapl


def check_regular(path: str) -> int:
    """The size of ``path`` if it is a non-empty regular file, else :class:`UnsafeFile`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnsafeFile("no such file (or a symbolic link to nothing)") from None
    except OSError as e:  # ELOOP for a link to itself, EACCES, ...
        raise UnsafeFile(f"cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO, socket or device"
        raise UnsafeFile(f"{kind}, not a regular file")
    if st.st_size == 0:
        raise UnsafeFile("an empty file (0 bytes): its writer failed before writing anything")
    return st.st_size


def open_file(path: str) -> h5py.File:
    """Open ``path`` read-only as described in the module docstring; raises
    :class:`UnsafeFile` (or :class:`LeftOpen`) with the reason."""
    check_regular(path)
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise UnsafeFile(f"cannot be read ({e})") from None
    if not is_hdf5:
        raise UnsafeFile("not an HDF5 file (corrupt, truncated at the start, or another format)")
    try:
        return h5py.File(path, "r", locking=False)
    except (OSError, ValueError, RuntimeError) as e:
        plain = str(e)
    if "truncated file" in plain:
        raise UnsafeFile("the file is truncated (cut short by an incomplete copy or a full disk)")
    if "already open for write" not in plain and "consistency flags" not in plain:
        raise UnsafeFile(f"damaged HDF5 file ({plain})")
    try:
        fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ, fapl=_swmr_fapl())
        return h5py.File(fid)
    except (OSError, ValueError, RuntimeError) as e:
        swmr = str(e)
    if "not already open for SWMR writing" in swmr or "already open for write" in swmr:
        raise LeftOpen(
            "left open for writing by a process that stopped without closing it (killed, "
            "or it crashed) while not in SWMR mode; 'noiselab repair FILE' clears the mark "
            "HDF5 left, after which what was flushed may be read"
        )
    raise UnsafeFile(f"damaged HDF5 file ({swmr})")


def dataset_bytes(ds: h5py.Dataset) -> int:
    """Bytes ``ds[()]`` would take in memory."""
    return int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize) if ds.shape else ds.dtype.itemsize


def check_dataset(name: str, ds: h5py.Dataset) -> None:
    """Refuse storage outside the file and types a run file never holds."""
    if ds.is_virtual:
        raise UnsafeFile(f"dataset {name!r} is a virtual dataset (it would read other files); run files never hold one")
    if ds.external:
        raise UnsafeFile(f"dataset {name!r} keeps its data in external files; run files never do")
    if ds.dtype.kind not in _KINDS or ds.dtype.subdtype is not None:
        raise UnsafeFile(f"dataset {name!r} has type {ds.dtype}, which a run file never holds")


def walk(f: h5py.File) -> Iterator[tuple[str, h5py.Dataset]]:
    """Every dataset reachable by hard links, as ``(path, dataset)``, checked with
    :func:`check_dataset`; soft links are skipped, external links refused."""
    seen: set = set()
    count = 0
    stack: list[tuple[str, h5py.Group, int]] = [("", f, 0)]
    while stack:
        prefix, group, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeFile(f"groups nest deeper than {MAX_DEPTH} levels at {prefix!r}")
        for key in sorted(group.keys()):
            count += 1
            if count > MAX_OBJECTS:
                raise UnsafeFile(f"more than {MAX_OBJECTS} objects")
            name = f"{prefix}{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise UnsafeFile(f"{name!r} is an external link (to {link.filename}); run files never hold one")
            if isinstance(link, h5py.SoftLink):
                continue
            obj = group[key]
            ident = hash(obj.id)  # h5py hashes an object by file and address: hard links to one object match
            if ident in seen:
                continue
            seen.add(ident)
            if isinstance(obj, h5py.Group):
                stack.append((name + "/", obj, depth + 1))
            elif isinstance(obj, h5py.Dataset):
                check_dataset(name, obj)
                yield name, obj


def read_attr(attrs: h5py.AttributeManager, key: str):
    """One attribute, refused when it holds more than :data:`ATTR_BUDGET` bytes."""
    _check_size(key, attrs.get_id(key))
    return _check_length(key, attrs[key])


def read_attrs(obj: h5py.File | h5py.Group | h5py.Dataset, names: Iterable[str] | None = None) -> dict:
    """Every attribute of ``obj`` (or those of ``names`` it has) by name, each checked as
    by :func:`read_attr` and given as h5py gives it.

    Scalars (all a run's header holds) are read with HDF5's attribute calls directly:
    h5py's ``attrs[key]`` costs several times as much, which a library of thousands of
    files pays on every header. Anything else goes through h5py."""
    attrs = obj.attrs
    out = {}
    for key in attrs if names is None else (k for k in names if h5py.h5a.exists(obj.id, k.encode())):
        aid = h5py.h5a.open(obj.id, key.encode())
        _check_size(key, aid)
        v = _scalar(aid)
        out[key] = _check_length(key, attrs[key] if v is _OTHER else v)
    return out


_OTHER = object()  # not a plain scalar: h5py reads it
_MEMORY_TYPES: dict = {}
_STRINGS = {h5py.h5t.CSET_UTF8: "utf-8", h5py.h5t.CSET_ASCII: "ascii"}


def _scalar(aid: h5py.h5a.AttrID):
    """A scalar attribute of a number or string type (strings of variable length
    decoded to ``str``, as h5py does), else :data:`_OTHER`. A string of variable length
    (what h5py writes for ``str``) is read without building its numpy type."""
    if aid.get_space().get_simple_extent_type() != h5py.h5s.SCALAR:
        return _OTHER
    tid = aid.get_type()
    if tid.get_class() == h5py.h5t.STRING and tid.is_variable_str():
        encoding = _STRINGS.get(tid.get_cset())
        if encoding is None:
            return _OTHER
        arr = np.zeros((), dtype=object)
        aid.read(arr, mtype=_memory_type(h5py.string_dtype(encoding)))
        v = arr[()]
        return v.decode(encoding, "surrogateescape") if isinstance(v, bytes) else v
    dtype = aid.dtype
    if dtype.kind not in "biufS":
        return _OTHER
    arr = np.zeros((), dtype=dtype)
    aid.read(arr, mtype=_memory_type(dtype))
    return arr[()]


def _memory_type(dtype: np.dtype):
    mtype = _MEMORY_TYPES.get(dtype)
    if mtype is None:
        mtype = _MEMORY_TYPES[dtype] = h5py.h5t.py_create(dtype)
    return mtype


def _check_size(key: str, aid: h5py.h5a.AttrID) -> None:
    try:
        size = aid.get_storage_size()
    except RuntimeError:  # HDF5 reports an empty attribute's 0 bytes as an error
        return
    if size > ATTR_BUDGET:
        raise UnsafeFile(f"attribute {key!r} holds {size:,} bytes (a run's attributes hold kilobytes)")


def _check_length(key: str, v):
    if isinstance(v, (bytes, str)) and len(v) > ATTR_BUDGET:
        raise UnsafeFile(f"attribute {key!r} holds {len(v):,} characters (a run's attributes hold kilobytes)")
    return v


class Budget:
    """Bytes left to read from one file; :meth:`take` refuses what would exceed it."""

    def __init__(self, total: int = READ_BUDGET):
        self.left = total

    def take(self, name: str, nbytes: int) -> None:
        if nbytes > self.left:
            raise UnsafeFile(
                f"dataset {name!r} would need {nbytes / 2**20:,.0f} MiB in memory, more than "
                f"the {self.left / 2**20:,.0f} MiB left of the read budget "
                "(NOISELAB_READ_BUDGET_MB raises it)"
            )
        self.left -= nbytes
