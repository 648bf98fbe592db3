"""Shifted CIFAR-10 test sets for out-of-distribution evaluation (noise-as-a-resource
paper, section 3), read from their public on-disk layouts without a network.

- CIFAR-10-C (Hendrycks & Dietterich 2019): ``CIFAR-10-C/<corruption>.npy``, uint8
  ``(5 n, 32, 32, 3)`` with severities 1..5 stacked in order (block ``s - 1`` holds the
  ``n`` = 10000 test images at severity ``s``, image ``i`` of a block corrupts CIFAR-10
  test image ``i``), and ``labels.npy`` with the ``5 n`` labels.
- CINIC-10 (Darlow et al. 2018): ``CINIC-10/test/<class name>/*.png``. The paper
  measures its ImageNet images only; the CIFAR-10 ones are named ``cifar10-*.png``
  (the CINIC-10 release's convention) and skipped by default.

Labels follow CIFAR-10's indices, mapped from the class folder names (not their order
on disk). Images come back as uint8 ``(..., 3, 32, 32)`` tensors, the raw format of the
``cifar10`` data set, so a model's training normalisation applies unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from .corruption import CIFAR10_CLASSES
from .folders import FolderFormat
from .source import DataError

SEVERITIES = 5
LABELS = "labels.npy"

CIFAR10C = FolderFormat(
    "CIFAR-10-C",
    ("CIFAR-10-C", "."),
    (
        "<corruption>.npy  (uint8 (5*10000, 32, 32, 3): severities 1..5 in order), one per corruption",
        LABELS + "  (the 5*10000 labels, integers 0..9)",
    ),
    10,
    "none",
    read=None,  # type: ignore[arg-type]  # layout-only format
)  # layouts for messages; read by the functions below
CINIC10 = FolderFormat(
    "CINIC-10",
    ("CINIC-10", "."),
    tuple(f"test/{c}/*.png  (RGB 32x32)" for c in CIFAR10_CLASSES),
    10,
    "none",
    read=None,  # type: ignore[arg-type]  # layout-only format
)


def _fail(fmt: FolderFormat, param: str, problem: str) -> DataError:
    return DataError(f"{fmt.name}: {problem}. Expected layout:\n{fmt.layout().replace('DATA_ROOT', param.upper())}")


def _folder(fmt: FolderFormat, root: str, param: str, marker: str) -> str:
    """The candidate folder under ``root`` that holds ``marker`` (a file or folder)."""
    if not root or not os.path.isdir(root):
        raise _fail(fmt, param, f"folder '{root}' (parameter {param}) does not exist")
    for sub in fmt.folders:
        folder = os.path.normpath(os.path.join(root, sub))
        if os.path.exists(os.path.join(folder, marker)):
            return folder
    raise _fail(fmt, param, f"no {fmt.folders[0]}/{marker} in {root}")


def subsample(n: int, k: int, seed: int) -> np.ndarray:
    """Sorted positions of ``k`` of ``n`` items drawn without replacement (seeded);
    all of them when ``k <= 0`` or ``k >= n``."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 0xC1FA]).choice(n, k, replace=False))


# ================================================================ CIFAR-10-C ======
def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise _fail(CIFAR10C, "cifar10c_root", f"{path} is not a readable .npy array ({e})") from None


def cifar10c_labels(root: str) -> tuple[str, np.ndarray]:
    """The CIFAR-10-C folder under ``root`` and its labels ``(5 n,)`` int64."""
    folder = _folder(CIFAR10C, root, "cifar10c_root", LABELS)
    path = os.path.join(folder, LABELS)
    y = _load_npy(path)
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) == 0 or len(y) % SEVERITIES:
        raise _fail(CIFAR10C, "cifar10c_root", f"{path}: expected integer labels (5*n,), found {y.dtype} {y.shape}")
    y = np.array(y, dtype=np.int64)  # a copy: the labels are small
    if y.min() < 0 or y.max() >= len(CIFAR10_CLASSES):
        raise _fail(CIFAR10C, "cifar10c_root", f"{path}: labels outside [0, 9]")
    return folder, y


def cifar10c_corruptions(root: str) -> list[str]:
    """Names of the corruptions under ``root`` (every ``.npy`` but the labels), sorted."""
    folder, _ = cifar10c_labels(root)
    names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".npy") and f != LABELS)
    if not names:
        raise _fail(CIFAR10C, "cifar10c_root", f"{folder} holds {LABELS} but no <corruption>.npy")
    return names


def read_cifar10c(root: str, corruption: str, index: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Corruption ``corruption`` at every severity: images uint8 ``(5, k, 3, 32, 32)`` and
    labels int64 ``(5, k)``, for positions ``index`` within each severity block (all if None)."""
    folder, y = cifar10c_labels(root)
    path = os.path.join(folder, corruption + ".npy")
    if not os.path.isfile(path):
        raise _fail(CIFAR10C, "cifar10c_root", f"{folder} lacks {corruption}.npy")
    x = _load_npy(path)
    if x.dtype != np.uint8 or x.shape[1:] != (32, 32, 3) or len(x) != len(y):
        raise _fail(
            CIFAR10C,
            "cifar10c_root",
            f"{path}: expected uint8 ({len(y)}, 32, 32, 3) like {LABELS}, found {x.dtype} {x.shape}",
        )
    n = len(y) // SEVERITIES
    index = np.arange(n) if index is None else np.asarray(index)
    rows = (np.arange(SEVERITIES)[:, None] * n + index[None, :]).reshape(-1)
    images = np.ascontiguousarray(x[rows].transpose(0, 3, 1, 2)).reshape(SEVERITIES, len(index), 3, 32, 32)
    return torch.from_numpy(images), torch.from_numpy(y[rows].reshape(SEVERITIES, len(index)))


# ================================================================== CINIC-10 ======
def cinic10_files(root: str, imagenet_only: bool = True) -> tuple[list[str], np.ndarray]:
    """Paths of the CINIC-10 test images (sorted by class, then name) and their CIFAR-10 labels."""
    folder = os.path.join(_folder(CINIC10, root, "cinic10_root", "test"), "test")
    missing = [c for c in CIFAR10_CLASSES if not os.path.isdir(os.path.join(folder, c))]
    if missing:
        raise _fail(CINIC10, "cinic10_root", f"{folder} lacks the class folders {', '.join(missing)}")
    paths, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):  # CIFAR-10's index of each class, by name
        files = sorted(
            f
            for f in os.listdir(os.path.join(folder, name))
            if f.lower().endswith(".png") and not (imagenet_only and f.startswith("cifar10"))
        )
        paths += [os.path.join(folder, name, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise _fail(CINIC10, "cinic10_root", f"{folder}: no {'ImageNet ' if imagenet_only else ''}PNG images")
    return paths, np.asarray(labels, dtype=np.int64)


def _read_png(path: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"))
    except OSError as e:  # PIL's UnidentifiedImageError is an OSError
        raise _fail(CINIC10, "cinic10_root", f"{path} is not a readable image ({e})") from None
    if a.shape != (32, 32, 3):
        raise _fail(CINIC10, "cinic10_root", f"{path}: expected a 32x32 image, found {a.shape[1]}x{a.shape[0]}")
    return a


def read_cinic10(
    root: str, samples: int = 0, seed: int = 0, imagenet_only: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """CINIC-10 test images, uint8 ``(k, 3, 32, 32)``, and labels ``(k,)``: a seeded
    subset of ``samples`` images (all when 0)."""
    paths, labels = cinic10_files(root, imagenet_only)
    index = subsample(len(paths), samples, seed)
    images = np.stack([_read_png(paths[i]) for i in index]).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels[index])
