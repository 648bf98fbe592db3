"""One training epoch of a small CNN on CIFAR-shaped data: the device-resident loader
(batched crop + flip + normalisation on the device) against torchvision's Dataset +
DataLoader (PIL RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize,
2 workers), on the same device. Synthetic uint8 images of the real shape.

First each loader alone runs an epoch of batches (this also warms up the persistent
workers), then each path trains a warm-up epoch and one timed epoch. Prints the per-epoch times and, last, ``speedup_vs_dataloader=<ratio>``.

    python benchmarks/bench_loader.py [--n 10000] [--quick] [--batch 128] [--device auto] [--threads 0]

On a 2-core CPU the ratio depends on threads: with one intra-op thread the DataLoader's
workers use the otherwise idle second core; with one thread per core they compete
with the training for it.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import official_style as official
from benchmarks.timing import Stopwatch, memory_line
from lab.data import DeviceLoader


class TinyCNN(nn.Module):
    """Two strided 3x3 convolutions and a linear classifier (small, so loading matters)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.c2(F.relu(self.c1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def train_epoch(model, opt, batches, device, to_device: bool) -> float:
    with Stopwatch(device) as w:
        for x, y, *_ in batches:
            if to_device:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return w.seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="images (default 10,000; --quick 1,000)")
    ap.add_argument("--quick", action="store_true", help="a small size that checks the script runs")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op CPU threads of the training process, the same for both paths "
        "(0 = torch's default, one per core, as a user runs it)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} intra-op thread(s), {args.workers} DataLoader worker(s)")
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    n = args.n or (1_000 if args.quick else 10_000)
    src = official.synthetic_source(n, 0)
    images, labels = src.x_train, src.y_train

    # device-resident: one uint8 tensor (N, C, H, W) on the device
    xs = torch.as_tensor(images).to(device)
    ys = torch.as_tensor(labels).to(device)
    scale = (1 / (255 * torch.tensor(official.STD, device=device))).view(3, 1, 1)
    shift = (-torch.tensor(official.MEAN, device=device) / torch.tensor(official.STD, device=device)).view(3, 1, 1)
    fast = DeviceLoader(xs, ys, args.batch, lambda x: x.float().mul_(scale).add_(shift), crop=True, flip=True, seed=0)

    slow = official.pil_loader(images, labels, args.batch, args.workers, train=True, pin_memory=device.type == "cuda")
    for name, batches, to_dev in (("device_loader", fast, False), ("dataloader", slow, True)):
        with Stopwatch(device) as w:
            for x, y, *_ in batches:
                if to_dev:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        print(f"{name:<14} {w.seconds:.3f} s per epoch of batches alone (no model)")
    times = {}
    for name, batches, to_dev in (("device_loader", fast, False), ("dataloader", slow, True)):
        torch.manual_seed(0)
        model = TinyCNN().to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        train_epoch(model, opt, batches, device, to_dev)  # warm-up
        times[name] = train_epoch(model, opt, batches, device, to_dev)
        print(f"{name:<14} {times[name]:.3f} s/epoch  ({n / times[name]:,.0f} images/s) on {device}")
    print(memory_line())
    print(f"speedup_vs_dataloader={times['dataloader'] / times['device_loader']:.2f}")


if __name__ == "__main__":
    main()
