"""Data set folders in torchvision's on-disk layouts, read without a network.

FashionMNIST (IDX files, gzipped or not), CIFAR-10 / CIFAR-100 (python pickle batches)
and SVHN (MATLAB ``.mat``). Each is read once and cached as uint8 arrays in
``noiselab-cache.npz`` beside the files; the cache is keyed on the source files' names,
sizes and modification times, so replacing a file invalidates it. Downloading happens
only when asked (:func:`download`), through torchvision.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .source import DataError, Source

CACHE_NAME = "noiselab-cache.npz"
CACHE_VERSION = 1


@dataclass(frozen=True)
class FolderFormat:
    """Where a data set's files live under ``data_root`` and how to read them."""

    name: str
    folders: tuple[str, ...]  # candidate folders under data_root; the first is torchvision's
    files: tuple[str, ...]  # required files (IDX ones may also end in .gz)
    num_classes: int
    augment: str
    read: Callable[[dict], tuple]  # {file name: path} -> (x_train, y_train, x_test, y_test)
    gz_ok: bool = False
    input_shape: tuple = (3, 32, 32)  # (C, H, W) of the images ``read`` gives

    def layout(self) -> str:
        """The expected layout, for messages."""
        suffix = "[.gz]" if self.gz_ok else ""
        lines = [f"DATA_ROOT/{self.folders[0]}/"] + [f"    {f}{suffix}" for f in self.files]
        if len(self.folders) > 1:
            lines.append(
                "(also accepted: "
                + ", ".join("DATA_ROOT/" + ("" if f == "." else f + "/") for f in self.folders[1:])
                + ")"
            )
        return "\n".join(lines)


# ================================================================== readers ======
def read_idx(path: str) -> np.ndarray:
    """An IDX file (``.gz`` or raw) of unsigned bytes -> array of the header's shape."""
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot be read ({e}); expected an IDX file, gzipped or not") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: IDX header is truncated")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(
            f"{path}: IDX header announces shape {dims} ({int(np.prod(dims))} bytes) "
            f"but the file holds {body.size} bytes of data (truncated?)"
        )
    return body.reshape(dims)


def _idx_pair(images: str, labels: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(
            f"{images} / {labels}: expected images (N, 28, 28) and labels (N,), found {x.shape} and {y.shape}"
        )
    if len(y) and y.max() >= num_classes:
        raise DataError(f"{labels}: labels outside [0, {num_classes - 1}] (found {int(y.max())})")
    return x[:, None].copy(), y.astype(np.int64)


def _read_fashion(paths: dict) -> tuple:
    return (
        *_idx_pair(paths["train-images-idx3-ubyte"], paths["train-labels-idx1-ubyte"], 10),
        *_idx_pair(paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"], 10),
    )


class Refused(pickle.UnpicklingError):
    """A pickle that asks for something a CIFAR batch never holds."""


def _latin1_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as a pickle of a byte string calls it, for latin-1 only."""
    if str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1") or not isinstance(text, str):
        raise Refused(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


def _plain_dtype(spec, align=False, copy=False):
    dt = np.dtype(spec)
    if dt.kind not in "biu":
        raise Refused(f"refused an array of {dt} (CIFAR batches hold integers)")
    return dt


def _reconstruct(cls, shape, typecode):
    if cls is not np.ndarray:
        raise Refused(f"refused an array of class {cls!r}")
    return np.ndarray.__new__(np.ndarray, shape, np.dtype(typecode))


class CifarUnpickler(pickle.Unpickler):
    """Admits only what CIFAR batches contain: dicts, lists, strings, bytes, integers
    and numpy integer arrays. Any other global (``eval``, ``os.system``, ...) is refused
    before it is called, so a crafted batch cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _plain_dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise Refused(
                f"refused to load {module}.{name}: a CIFAR batch holds only dicts, lists, strings and integer arrays"
            ) from None


def _unpickle(path: str, keys: tuple[str, ...]) -> dict:
    try:
        with open(path, "rb") as f:
            d = CifarUnpickler(f, encoding="latin1").load()
    except Refused as e:
        raise DataError(f"{path}: refused: {e}") from None
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        MemoryError,
        RecursionError,
    ) as e:
        raise DataError(f"{path}: not a CIFAR python pickle batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise DataError(f"{path}: a pickle, but not a CIFAR batch: expected a dict with keys {list(keys)}")
    return d


def _cifar_batches(paths: list[str], label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for p in paths:
        d = _unpickle(p, ("data", label_key))
        x, y = np.asarray(d["data"]), np.asarray(d[label_key], dtype=np.int64)
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
            raise DataError(
                f"{p}: expected 'data' uint8 (N, 3072) and {len(x)} '{label_key}', "
                f"found {x.dtype} {x.shape} and {len(y)} labels"
            )
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DataError(f"{p}: labels outside [0, {num_classes - 1}]")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _read_cifar10(paths: dict) -> tuple:
    _unpickle(paths["batches.meta"], ("label_names",))
    train = _cifar_batches([paths[f"data_batch_{i}"] for i in range(1, 6)], "labels", 10)
    return (*train, *_cifar_batches([paths["test_batch"]], "labels", 10))


def _read_cifar100(paths: dict) -> tuple:
    _unpickle(paths["meta"], ("fine_label_names",))
    return (*_cifar_batches([paths["train"]], "fine_labels", 100), *_cifar_batches([paths["test"]], "fine_labels", 100))


def _read_svhn_mat(path: str) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise DataError(f"{path}: not a readable MATLAB .mat file ({e})") from None
    x, y = m.get("X"), m.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise DataError(
            f"{path}: expected 'X' uint8 (32, 32, 3, N) and 'y' (N, 1) as in SVHN's "
            f"*_32x32.mat, found {None if x is None else x.shape} and {None if y is None else y.shape}"
        )
    y = y.reshape(-1).astype(np.int64) % 10  # SVHN stores the digit 0 as label 10
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8), y


def _read_svhn(paths: dict) -> tuple:
    return (*_read_svhn_mat(paths["train_32x32.mat"]), *_read_svhn_mat(paths["test_32x32.mat"]))


FORMATS = {
    f.name: f
    for f in (
        FolderFormat(
            "fashion-mnist",
            ("FashionMNIST/raw", "FashionMNIST", "fashion-mnist"),
            ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
            10,
            "none",
            _read_fashion,
            gz_ok=True,
            input_shape=(1, 28, 28),
        ),
        FolderFormat(
            "cifar10",
            ("cifar-10-batches-py",),
            tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
            10,
            "crop+flip",
            _read_cifar10,
        ),
        FolderFormat("cifar100", ("cifar-100-python",), ("train", "test", "meta"), 100, "crop+flip", _read_cifar100),
        FolderFormat("svhn", ("svhn", "SVHN", "."), ("train_32x32.mat", "test_32x32.mat"), 10, "crop", _read_svhn),
    )
}


# ================================================================ locating ======
def _files_in(fmt: FolderFormat, folder: str) -> tuple[dict, list[str]]:
    """({name: path} of the required files found in ``folder``, [names missing])."""
    found, missing = {}, []
    for name in fmt.files:
        cands = [name] + ([name + ".gz"] if fmt.gz_ok else [])
        hit = next((os.path.join(folder, c) for c in cands if os.path.isfile(os.path.join(folder, c))), None)
        if hit:
            found[name] = hit
        else:
            missing.append(name)
    return found, missing


def locate(name: str, root: str) -> tuple[str, dict]:
    """The folder holding every file of data set ``name`` under ``root`` and the files;
    raises :class:`DataError` with the expected layout when none does."""
    fmt = FORMATS[name]
    if not root:
        raise DataError(f"{name}: no data folder chosen (parameter data_root). Expected layout:\n{fmt.layout()}")
    if not os.path.isdir(root):
        raise DataError(f"{name}: data folder {root} does not exist. Expected layout:\n{fmt.layout()}")
    best = None
    for sub in fmt.folders:
        folder = os.path.normpath(os.path.join(root, sub))
        if os.path.isdir(folder):
            found, missing = _files_in(fmt, folder)
            if not missing:
                return folder, found
            if best is None or len(missing) < len(best[1]):
                best = (folder, missing)
    detail = f"{best[0]} lacks {', '.join(best[1])}" if best else f"no {fmt.folders[0]}/ folder in {root}"
    raise DataError(f"{name}: {detail}. Expected layout:\n{fmt.layout()}")


# ================================================================== caching ======
def _cache_key(files: dict) -> str:
    stats = {n: (os.path.basename(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for n, p in sorted(files.items())}
    return json.dumps({"version": CACHE_VERSION, "files": stats}, sort_keys=True)


def _read_cache(path: str, key: str, members=("x_train", "y_train", "x_test", "y_test")):
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return tuple(z[m] for m in members)
    except (OSError, KeyError, ValueError, EOFError):
        return None  # absent, stale format or damaged: rebuilt from the sources


def read_folder(name: str, root: str, use_cache: bool = True) -> Source:
    """Data set ``name`` from ``root`` (cache first, rebuilt when a source changed)."""
    fmt = FORMATS[name]
    folder, files = locate(name, root)
    key = _cache_key(files)
    cache = os.path.join(folder, CACHE_NAME)
    arrays = _read_cache(cache, key) if use_cache else None
    if arrays is None:
        arrays = fmt.read(files)
        if use_cache:
            try:
                tmp = cache + ".tmp.npz"
                np.savez(
                    tmp, key=np.asarray(key), x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3]
                )
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only data folder: read from the sources every time
    x_train, y_train, x_test, y_test = arrays
    return Source(name, x_train, y_train, x_test, y_test, num_classes=fmt.num_classes, augment=fmt.augment)


def counts(name: str, root: str) -> tuple[int, int]:
    """(train, test) sample counts, from the cache's label arrays when it is fresh."""
    folder, files = locate(name, root)
    hit = _read_cache(os.path.join(folder, CACHE_NAME), _cache_key(files), ("y_train", "y_test"))
    if hit is None:
        s = read_folder(name, root)
        return len(s.y_train), len(s.y_test)
    return len(hit[0]), len(hit[1])


# ================================================================= scanning ======
@dataclass
class FolderStatus:
    """What :func:`scan` found for one data set: ``state`` is found, missing (no folder
    or files) or malformed (a file that cannot be read)."""

    name: str
    state: str
    n_train: int = 0
    n_test: int = 0
    num_classes: int = 0
    folder: str = ""
    problem: str = ""  # why it is missing or malformed, with the expected layout

    @property
    def found(self) -> bool:
        return self.state == "found"


def scan(root: str) -> list[FolderStatus]:
    """Every folder data set under ``root``: found (with counts) or why not."""
    out = []
    for name, fmt in FORMATS.items():
        try:
            folder, _ = locate(name, root)
        except DataError as e:
            out.append(FolderStatus(name, "missing", num_classes=fmt.num_classes, problem=str(e)))
            continue
        try:
            s = read_folder(name, root)
        except DataError as e:
            out.append(
                FolderStatus(
                    name,
                    "malformed",
                    num_classes=fmt.num_classes,
                    folder=folder,
                    problem=f"{e}\nExpected layout:\n{fmt.layout()}",
                )
            )
            continue
        out.append(FolderStatus(name, "found", len(s.y_train), len(s.y_test), fmt.num_classes, folder))
    return out


def download(name: str, root: str) -> None:
    """Ask torchvision to download data set ``name`` into ``root`` (needs a network)."""
    from torchvision import datasets

    if not root:
        raise DataError("choose a data folder before downloading")
    os.makedirs(root, exist_ok=True)
    try:
        if name == "fashion-mnist":
            for train in (True, False):
                datasets.FashionMNIST(root, train=train, download=True)
        elif name in ("cifar10", "cifar100"):
            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            cls(root, train=True, download=True)
        elif name == "svhn":
            for split in ("train", "test"):
                datasets.SVHN(os.path.join(root, "svhn"), split=split, download=True)
        else:
            raise DataError(f"{name} is built in; there is nothing to download")
    except (OSError, RuntimeError) as e:  # URLError is an OSError; torchvision raises RuntimeError
        raise DataError(
            f"downloading {name} failed ({type(e).__name__}: {e}). Without a network, copy the "
            f"files by hand into this layout:\n{FORMATS[name].layout()}"
        ) from None
