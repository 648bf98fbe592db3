"""The straightforward training loop the papers' official code uses, as the baseline the
lab's engine is timed against: torchvision's Dataset + DataLoader over uint8 HWC arrays with
PIL augmentation (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize),
float32 channels-first, a host-to-device copy per batch and ``loss.item()`` per batch.

Also what the training benchmarks share: synthetic CIFAR-shaped data (uint8 3x32x32
images, 10 classes: timing needs the shapes, not the pictures) and their command line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from lab.data import Source
from lab.device import resolve_device

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CLASSES = 10


def synthetic_source(n_train: int, n_test: int, seed: int = 0) -> Source:
    """CIFAR-10-shaped random images and labels as a :class:`lab.data.Source`."""
    rng = np.random.default_rng(seed)
    x = lambda n: rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = lambda n: rng.integers(0, CLASSES, n).astype(np.int64)
    return Source("cifar10", x(n_train), y(n_train), x(n_test), y(n_test), CLASSES, augment="crop+flip")


class ArrayDataset(torch.utils.data.Dataset):
    """The torchvision CIFAR10 way: uint8 HWC array -> PIL image -> transforms; yields
    ``(image, label, index)`` (the index for per-sample state such as ELR's targets)."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i]), i


def pil_loader(
    images_nchw: np.ndarray, labels: np.ndarray, batch: int, workers: int, train: bool, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """DataLoader over uint8 ``(N, C, H, W)`` images with the official PIL transforms
    (augmentation only when ``train``), shuffled when ``train``."""
    from torchvision import transforms as T

    aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
    tf = T.Compose([*aug, T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = ArrayDataset(np.ascontiguousarray(images_nchw.transpose(0, 2, 3, 1)), labels, tf)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=train, num_workers=workers, persistent_workers=workers > 0, pin_memory=pin_memory
    )


def train_epoch(model, opt, loader, device, loss_fn) -> float:
    """One epoch the official way; ``loss_fn(model, x, y, idx)``; returns the mean loss
    (``.item()`` per batch, as the official code logs it)."""
    model.train()
    running, n = 0.0, 0
    for x, y, idx in loader:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model, x, y, idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += loss.item()
        n += 1
    return running / max(n, 1)


@torch.no_grad()
def test_accuracy(model, loader, device) -> float:
    """Accuracy with ``.item()`` per batch."""
    model.eval()
    correct = total = 0
    for x, y, _ in loader:
        out = model(x.to(device))
        correct += (out.argmax(1).cpu() == y).sum().item()
        total += len(y)
    return correct / max(total, 1)


def training_arguments(description: str) -> argparse.ArgumentParser:
    """The options every training benchmark takes (sizes, epochs, the baseline's workers)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="a few dozen images (checks the script runs)")
    ap.add_argument("--n-train", type=int, default=None, help="default: 50,000 on CUDA, 64 on CPU or --quick")
    ap.add_argument("--n-test", type=int, default=None, help="default: 10,000 on CUDA, 32 on CPU or --quick")
    ap.add_argument("--batch", type=int, default=None, help="default: 128 (the papers') on CUDA, 32 on CPU")
    ap.add_argument("--epochs", type=int, default=2, help="fast-path epochs, the last one timed (default 2)")
    ap.add_argument("--naive-epochs", type=int, default=None, help="default: 1 on CUDA, 2 on CPU")
    ap.add_argument("--workers", type=int, default=None, help="naive DataLoader workers (default 8 on CUDA, 0 on CPU)")
    return ap


@dataclass
class Sizes:
    device: torch.device
    n_train: int
    n_test: int
    batch: int
    naive_epochs: int
    workers: int


def sizes(args) -> Sizes:
    """What :func:`training_arguments` chose, with the defaults filled in (CIFAR-10's sizes
    on CUDA unless ``--quick``); turns on cuDNN autotuning on CUDA."""
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    big = cuda and not args.quick
    if cuda:
        torch.backends.cudnn.benchmark = True
    return Sizes(
        device,
        args.n_train or (50_000 if big else 64),
        args.n_test or (10_000 if big else 32),
        args.batch or (128 if big else 32),
        args.naive_epochs or (1 if cuda else 2),
        args.workers if args.workers is not None else (8 if cuda else 0),
    )
