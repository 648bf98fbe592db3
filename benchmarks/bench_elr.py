"""One epoch of ELR training with a pre-activation ResNet-34 on CIFAR-shaped data
(synthetic uint8 images 3x32x32, 10 classes, 40 % symmetric label noise), measured
end to end: the training pass, then the per-epoch memorisation measurement on the
training split and the test accuracy.

- fast: the project's path -- the shared engine (lab.training.Trainer) with ElrHooks,
  the device-resident loader with batched crop+flip on the device, the measurements kept
  on the device with one synchronisation per epoch, channels_last + bfloat16 autocast
  on CUDA;
- naive: a straightforward loop -- a torch DataLoader over CPU tensors, copies per batch,
  float32 channels-first, the official code's ELR loss module, ``loss.item()`` and
  accuracy ``.item()`` every batch, and memorisation counted with ``.item()`` per batch.

Each path runs ``--epochs`` epochs (the first warms up: cuDNN autotuning, allocator);
the last one is timed. On CPU the default sizes are reduced so the script ends in a few
minutes; the projection to the paper's CIFAR-10 schedule (50,000 training and 10,000
test images, 120 epochs) scales the measured epoch linearly in the number of images.

    python benchmarks/bench_elr.py [--device auto] [--n-train N] [--n-test N] [--epochs 2]

Last line: ``speedup_vs_naive=<naive epoch time / fast epoch time>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lab.context import RunContext  # noqa: E402
from lab.data import Data, Source, random_crop_flip  # noqa: E402
from lab.device import resolve_device  # noqa: E402
from lab.elr.hooks import ElrHooks  # noqa: E402
from lab.models import build_model  # noqa: E402
from lab.training import Trainer  # noqa: E402

PAPER_EPOCHS, CIFAR_TRAIN, CIFAR_TEST = 120, 50_000, 10_000
LAM, BETA, C = 3.0, 0.7, 10


def synthetic_source(n_train: int, n_test: int, seed: int = 0) -> Source:
    rng = np.random.default_rng(seed)
    x = lambda n: rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)  # noqa: E731
    y = lambda n: rng.integers(0, C, n).astype(np.int64)  # noqa: E731
    return Source("cifar10", x(n_train), y(n_train), x(n_test), y(n_test), C, augment="crop+flip")


def params(epochs: int, batch: int) -> dict:
    return dict(train_fraction=1.0, data_seed=0, noise_type="symmetric", noise_rate=0.4, noise_pairs="",
                augment="auto", normalise="channel", lr=0.02, momentum=0.9, weight_decay=1e-3, epochs=epochs,
                batch=batch, schedule="constant", milestones=[], gamma=0.01, channels_last=True, bf16=True)


def fast(data: Data, device, p: dict) -> float:
    """The engine's ELR epoch; returns the wall time of the last epoch (train + measure)."""
    stamps = []

    def on_row(kind, name, payload):  # ctx.log's first append of each row
        if kind == "append" and name == "series/step":
            stamps.append(time.perf_counter())

    torch.manual_seed(0)
    model = build_model("preact-resnet34", data.input_shape, C).to(device)
    ctx = RunContext(None, device=device, seed=0, listeners=[on_row])
    trainer = Trainer(model, data, p, ctx, ElrHooks(LAM, BETA, C), eval_splits=("train", "test"),
                      eval_before=False, save_weights=False)
    stamps.append(time.perf_counter())
    trainer.fit()
    return stamps[-1] - stamps[-2]  # the last row's time minus the previous row's (or the start)


class OfficialElrLoss(torch.nn.Module):
    """The ELR loss as the official code writes it (targets on the device, indexed by a
    Python list of sample ids)."""

    def __init__(self, n: int, device):
        super().__init__()
        self.target = torch.zeros(n, C, device=device)

    def forward(self, index, output, label):
        y_pred = F.softmax(output, dim=1).clamp(1e-4, 1.0 - 1e-4)
        y_pred_ = y_pred.data.detach()
        self.target[index] = BETA * self.target[index] + (1 - BETA) * (y_pred_ / y_pred_.sum(dim=1, keepdim=True))
        ce = F.cross_entropy(output, label)
        return ce + LAM * (1 - (self.target[index] * y_pred).sum(dim=1)).log().mean()


def naive(data: Data, device, p: dict) -> float:
    """DataLoader + per-batch ``.item()``; returns the wall time of the last epoch."""
    torch.manual_seed(0)
    model = build_model("preact-resnet34", data.input_shape, C).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    crit = OfficialElrLoss(data.n_train, device)
    cpu = {s: (data.x[s].cpu(), data.y[s].cpu()) for s in ("train", "test")}
    clean = data.labels_clean.cpu()
    mean, std = data.mean.cpu(), data.std.cpu()
    train = DataLoader(TensorDataset(*cpu["train"], torch.arange(data.n_train)), batch_size=p["batch"], shuffle=True)
    t_last = 0.0
    for _ in range(p["epochs"]):
        t0 = time.perf_counter()
        model.train()
        running, correct = 0.0, 0
        for x, y, idx in train:
            x = random_crop_flip(x, crop=True, flip=True)
            x = ((x.float() - mean) / std).to(device)
            y = y.to(device)
            out = model(x)
            loss = crit(idx.tolist(), out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            correct += (out.argmax(1) == y).sum().item()
        model.eval()
        counts = dict(memorized=0, noisy=0, test_correct=0)
        with torch.no_grad():
            for s in ("train", "test"):
                xs, ys = cpu[s]
                for start in range(0, len(ys), 1024):
                    x = ((xs[start:start + 1024].float() - mean) / std).to(device)
                    pred = model(x).argmax(1).cpu()
                    y = ys[start:start + 1024]
                    if s == "train":
                        wrong = y != clean[start:start + 1024]
                        counts["noisy"] += wrong.sum().item()
                        counts["memorized"] += ((pred == y) & wrong).sum().item()
                    else:
                        counts["test_correct"] += (pred == y).sum().item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_last = time.perf_counter() - t0
    return t_last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n-train", type=int, default=None, help="default: 50,000 on CUDA, 64 on CPU")
    ap.add_argument("--n-test", type=int, default=None, help="default: 10,000 on CUDA, 32 on CPU")
    ap.add_argument("--batch", type=int, default=None, help="default: 128 (the paper's) on CUDA, 32 on CPU")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs per path, the last one timed (the first warms up); default 2")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    n_train = args.n_train or (CIFAR_TRAIN if cuda else 64)
    n_test = args.n_test or (CIFAR_TEST if cuda else 32)
    if cuda:
        torch.backends.cudnn.benchmark = True
    p = params(args.epochs or 2, args.batch or (128 if cuda else 32))
    data = Data(synthetic_source(n_train, n_test), p, device)
    print(f"device={device} ({torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'}) "
          f"n_train={n_train} n_test={n_test} batch={p['batch']} epochs={p['epochs']} model=preact-resnet34 "
          f"fast: channels_last={cuda} bf16={cuda}")
    t_fast = fast(data, device, p)
    t_naive = naive(data, device, p)
    scale = (CIFAR_TRAIN + CIFAR_TEST) / (n_train + n_test)
    for name, t in (("fast", t_fast), ("naive", t_naive)):
        proj = t * scale * PAPER_EPOCHS
        print(f"{name}: epoch {t:.3f} s; {n_train / t:,.0f} training images/s; projected CIFAR-10 ELR schedule "
              f"({PAPER_EPOCHS} epochs x 50k+10k images): {proj:,.0f} s = {proj / 3600:.2f} h")
    print(f"speedup_vs_naive={t_naive / t_fast:.3f}")


if __name__ == "__main__":
    main()
