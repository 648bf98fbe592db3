"""The straightforward training loop the papers' official code uses, as the baseline the
lab's engine is timed against: torchvision's Dataset + DataLoader over uint8 HWC arrays with
PIL augmentation (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize),
float32 channels-first, a host-to-device copy per batch and ``loss.item()`` per batch.

Also the synthetic CIFAR-shaped data the training benchmarks share (uint8 3x32x32 images,
10 classes): timing needs the shapes, not the pictures.
"""
from __future__ import annotations

import numpy as np
import torch

from lab.data import Source

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CLASSES = 10


def synthetic_source(n_train: int, n_test: int, seed: int = 0) -> Source:
    """CIFAR-10-shaped random images and labels as a :class:`lab.data.Source`."""
    rng = np.random.default_rng(seed)
    x = lambda n: rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)  # noqa: E731
    y = lambda n: rng.integers(0, CLASSES, n).astype(np.int64)  # noqa: E731
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


def pil_loader(images_nchw: np.ndarray, labels: np.ndarray, batch: int, workers: int, train: bool,
               pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """DataLoader over uint8 ``(N, C, H, W)`` images with the official PIL transforms
    (augmentation only when ``train``), shuffled when ``train``."""
    from torchvision import transforms as T

    aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
    tf = T.Compose([*aug, T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = ArrayDataset(np.ascontiguousarray(images_nchw.transpose(0, 2, 3, 1)), labels, tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=train, num_workers=workers,
                                       persistent_workers=workers > 0, pin_memory=pin_memory)


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
