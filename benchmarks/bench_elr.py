"""One epoch of ELR training with a pre-activation ResNet-34 on CIFAR-shaped data
(synthetic uint8 images 3x32x32, 10 classes, 40 % symmetric label noise), measured
end to end: the training pass, then the per-epoch memorisation measurement on the
training split and the test accuracy.

- fast: the project's path -- the shared engine (lab.training.Trainer) with ElrHooks,
  the device-resident loader with batched crop+flip on the device, the measurements kept
  on the device with one synchronisation per epoch, channels_last + bfloat16 autocast
  on CUDA (the defaults; ``--ablate`` also times the path with both off), ``--compile`` adds a
  torch.compile run whose warm-up is reported separately;
- naive: the official code's loop (benchmarks/official_style.py) -- DataLoader with PIL
  augmentation and ``--workers`` workers, float32 channels-first, a copy per batch, the
  official ELR loss module, ``loss.item()`` every batch, memorisation and test accuracy
  counted with ``.item()`` per batch.

The fast path runs ``--epochs`` epochs (the first warms up: cuDNN autotuning, allocator)
and the last one is timed; the naive path is timed on its last of ``--naive-epochs``.
Sizes default to CIFAR-10's 50,000 + 10,000 images on CUDA and to a few dozen on the CPU
(``--quick`` forces those); the projection to the paper's schedule (120 epochs) scales
the measured epoch linearly in the number of images.

Last line: ``speedup_vs_naive=<naive epoch time / fast epoch time>``.
"""

from __future__ import annotations

import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import official_style as official
from benchmarks.timing import Stopwatch, memory_line
from lab.context import RunContext
from lab.data import Data
from lab.elr.hooks import ElrHooks
from lab.models import build_model
from lab.training import Trainer

PAPER_EPOCHS, CIFAR_TRAIN, CIFAR_TEST = 120, 50_000, 10_000
LAM, BETA, C = 3.0, 0.7, official.CLASSES
MODEL = "preact-resnet34"


def params(epochs: int, batch: int, **perf) -> dict:
    return dict(
        train_fraction=1.0,
        data_seed=0,
        noise_type="symmetric",
        noise_rate=0.4,
        noise_pairs="",
        augment="auto",
        normalise="channel",
        lr=0.02,
        momentum=0.9,
        weight_decay=1e-3,
        epochs=epochs,
        batch=batch,
        schedule="constant",
        milestones=[],
        gamma=0.01,
        **{"channels_last": True, "bf16": True, "compile": False, **perf},
    )


def fast(data: Data, device, p: dict) -> tuple[float, dict]:
    """The engine's ELR epochs; returns the wall time of the last epoch (train + measure,
    stamped when its row is logged: one synchronisation) and the run's summary."""
    stamps = []

    def on_row(kind, name, payload):  # ctx.log's first append of each row
        if kind == "append" and name == "series/step":
            stamps.append(time.perf_counter())

    torch.manual_seed(0)
    model = build_model(MODEL, data.input_shape, C).to(device)
    ctx = RunContext(None, device=device, seed=0, listeners=[on_row])
    trainer = Trainer(
        model,
        data,
        p,
        ctx,
        ElrHooks(LAM, BETA, C),
        eval_splits=("train", "test"),
        eval_before=False,
        save_weights=False,
    )
    stamps.append(time.perf_counter())
    summary = trainer.fit()
    return stamps[-1] - stamps[-2], summary


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


def naive(data: Data, device, p: dict, epochs: int, workers: int) -> float:
    """The official-style loop (module docstring); returns the wall time of the last epoch."""
    torch.manual_seed(0)
    model = build_model(MODEL, data.input_shape, C).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    crit = OfficialElrLoss(data.n_train, device)
    x_train, y_train = data.x["train"].cpu().numpy(), data.y["train"].cpu().numpy()
    clean = data.labels_clean.cpu().numpy()
    pin = device.type == "cuda"
    train = official.pil_loader(x_train, y_train, p["batch"], workers, train=True, pin_memory=pin)
    measure = official.pil_loader(x_train, y_train, 1024, workers, train=False, pin_memory=pin)
    test = official.pil_loader(
        data.x["test"].cpu().numpy(), data.y["test"].cpu().numpy(), 1024, workers, train=False, pin_memory=pin
    )
    loss_fn = lambda m, x, y, idx: crit(idx.tolist(), m(x), y)
    t_last = 0.0
    for _ in range(epochs):
        with Stopwatch(device) as w:
            official.train_epoch(model, opt, train, device, loss_fn)
            model.eval()
            memorized = noisy = 0
            with torch.no_grad():
                for x, y, idx in measure:  # memorisation: noisy labels the network predicts
                    pred = model(x.to(device)).argmax(1).cpu()
                    wrong = y != torch.as_tensor(clean[idx.numpy()])
                    noisy += wrong.sum().item()
                    memorized += ((pred == y) & wrong).sum().item()
            official.test_accuracy(model, test, device)
        t_last = w.seconds
    return t_last


def report(name: str, t: float, n_train: int, scale: float) -> None:
    proj = t * scale * PAPER_EPOCHS
    print(
        f"{name}: epoch {t:.3f} s; {n_train / t:,.0f} training images/s; projected CIFAR-10 ELR schedule "
        f"({PAPER_EPOCHS} epochs x 50k+10k images): {proj / 60:,.1f} min"
    )


def main() -> None:
    ap = official.training_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--ablate", action="store_true", help="also time the fast path without bf16 and channels_last")
    ap.add_argument("--compile", action="store_true", help="also time the fast path with torch.compile")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    z = official.sizes(args)
    device, cuda = z.device, z.device.type == "cuda"
    p = params(args.epochs, z.batch)
    data = Data(official.synthetic_source(z.n_train, z.n_test), p, device)
    print(
        f"device={device} ({torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'}) "
        f"n_train={z.n_train} n_test={z.n_test} batch={p['batch']} model={MODEL} naive workers={z.workers}"
    )
    scale = (CIFAR_TRAIN + CIFAR_TEST) / (z.n_train + z.n_test)
    t_fast, _ = fast(data, device, p)
    report(f"fast (channels_last={cuda}, bf16={cuda})", t_fast, z.n_train, scale)
    if args.ablate and cuda:
        t, _ = fast(data, device, {**p, "channels_last": False, "bf16": False})
        report("fast (channels_last=False, bf16=False)", t, z.n_train, scale)
    if args.compile:
        t, summary = fast(data, device, {**p, "compile": True})
        print(f"compile warm-up (first step): {summary.get('compile_warmup_s', float('nan')):.1f} s")
        report("fast + torch.compile (epoch after warm-up)", t, z.n_train, scale)
    t_naive = naive(data, device, p, z.naive_epochs, z.workers)
    report("naive (official style)", t_naive, z.n_train, scale)
    print(memory_line())
    print(f"speedup_vs_naive={t_naive / t_fast:.3f}")


if __name__ == "__main__":
    main()
