"""One knowledge-distillation epoch, WRN-40-2 teacher -> WRN-16-2 student (Hinton's loss,
alpha 0.9, tau 4), on CIFAR-shaped data (synthetic uint8 3x32x32 images, 10 classes): the
training pass and the test accuracy.

- fast: the project's path -- lab.training.Trainer with lab.distill.DistillHooks ("kd"),
  the device-resident loader (crop+flip on the device), the teacher's forward under the
  same bf16 autocast and channels_last as the student on CUDA (the defaults), one
  synchronisation per epoch;
- naive: the official code's loop (benchmarks/official_style.py): DataLoader with PIL
  augmentation, float32, the teacher in eval mode under no_grad, ``loss.item()`` per batch.

Each path trains ``--epochs`` epochs and the last is timed (the first warms up). Sizes
default to 50,000 + 10,000 images on CUDA and a few dozen on the CPU (``--quick``).
Last line: ``speedup_vs_naive=<ratio>``.
"""

from __future__ import annotations

import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import official_style as official
from benchmarks.timing import Stopwatch, memory_line
from lab.context import RunContext
from lab.data import Data
from lab.distill.losses import kd_loss
from lab.distill.methods import DistillHooks
from lab.models import build_model
from lab.training import Trainer

TEACHER, STUDENT, ALPHA, TAU = "wrn-40-2", "wrn-16-2", 0.9, 4.0


def params(epochs: int, batch: int) -> dict:
    return dict(
        train_fraction=1.0,
        data_seed=0,
        noise_type="none",
        noise_rate=0.0,
        noise_pairs="",
        augment="auto",
        normalise="channel",
        lr=0.05,
        momentum=0.9,
        weight_decay=5e-4,
        epochs=epochs,
        batch=batch,
        schedule="constant",
        milestones=[],
        gamma=0.1,
        channels_last=True,
        bf16=True,
        compile=False,
        alpha=ALPHA,
        tau=TAU,
    )


def models(data: Data, device):
    torch.manual_seed(0)
    teacher = build_model(TEACHER, data.input_shape, official.CLASSES).to(device).eval()
    student = build_model(STUDENT, data.input_shape, official.CLASSES).to(device)
    return teacher, student


def fast(data: Data, device, p: dict) -> float:
    stamps = []

    def on_row(kind, name, payload):
        if kind == "append" and name == "series/step":
            stamps.append(time.perf_counter())

    teacher, student = models(data, device)
    ctx = RunContext(None, device=device, seed=0, listeners=[on_row])
    hooks = DistillHooks("kd", p, teacher, data.std, torch.Generator(device).manual_seed(0))
    trainer = Trainer(student, data, p, ctx, hooks, eval_splits=("test",), eval_before=False, save_weights=False)
    stamps.append(time.perf_counter())
    trainer.fit()
    return stamps[-1] - stamps[-2]


def naive(data: Data, device, p: dict, epochs: int, workers: int) -> float:
    teacher, student = models(data, device)
    opt = torch.optim.SGD(student.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    pin = device.type == "cuda"
    train = official.pil_loader(
        data.x["train"].cpu().numpy(), data.y["train"].cpu().numpy(), p["batch"], workers, train=True, pin_memory=pin
    )
    test = official.pil_loader(
        data.x["test"].cpu().numpy(), data.y["test"].cpu().numpy(), 1024, workers, train=False, pin_memory=pin
    )

    def loss_fn(model, x, y, idx):
        with torch.no_grad():
            t = teacher(x)
        return kd_loss(model(x), t, y, alpha=ALPHA, tau=TAU)

    t_last = 0.0
    for _ in range(epochs):
        with Stopwatch(device) as w:
            official.train_epoch(student, opt, train, device, loss_fn)
            official.test_accuracy(student, test, device)
        t_last = w.seconds
    return t_last


def main() -> None:
    args = official.training_arguments(__doc__.split("\n\n")[0]).parse_args()
    z = official.sizes(args)
    cuda = z.device.type == "cuda"
    p = params(args.epochs, z.batch)
    data = Data(official.synthetic_source(z.n_train, z.n_test), p, z.device)
    print(
        f"device={z.device} n_train={z.n_train} n_test={z.n_test} batch={p['batch']} {TEACHER} -> {STUDENT}, "
        f"naive workers={z.workers}"
    )
    t_fast = fast(data, z.device, p)
    print(f"fast (channels_last={cuda}, bf16={cuda}): epoch {t_fast:.3f} s; {z.n_train / t_fast:,.0f} images/s")
    t_naive = naive(data, z.device, p, z.naive_epochs, z.workers)
    print(f"naive (official style): epoch {t_naive:.3f} s; {z.n_train / t_naive:,.0f} images/s")
    print(memory_line())
    print(f"speedup_vs_naive={t_naive / t_fast:.3f}")


if __name__ == "__main__":
    main()
