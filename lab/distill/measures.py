"""What a distillation run measures besides the engine's losses: agreement with the
teacher and the per-sample gradient norm every epoch, robustness to Gaussian input noise
and PGD at the end (in pixel space, [0, 1] images: grey levels / 255, digits / 16), and
accuracy on natural shifts (CIFAR-10-C, CINIC-10)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from .grad_norm import mean_grad_norm
from .robustness import noise_accuracy, pgd_accuracy
from .shift import cifar10c_accuracy, cinic10_accuracy

#: raw grey levels of a fully white pixel, where it is not 255
PIXEL_MAX = {"digits": 16.0}


def pixel_scale(data) -> tuple[float, tuple | None]:
    """Raw units per pixel unit and the pixel bounds: (255 or 16, (0, 1)) for images,
    (1, None) for feature vectors, which have no valid range."""
    if data.x["test"].dtype == torch.uint8:
        return PIXEL_MAX.get(data.name, 255.0), (0.0, 1.0)
    return 1.0, None


def pixel_forward(model: torch.nn.Module, data):
    """``forward(x_pixels)`` -> logits, applying the data set's normalisation inside."""
    scale, _ = pixel_scale(data)
    mean, std = data.mean, data.std

    def forward(x):
        return model((x * scale - mean) / std)

    return forward


class EpochMeasures:
    """Per epoch: agreement with the teacher on the test split and the gradient norm on a
    fixed training subset. At construction, the teacher's own numbers on the student's
    splits (``teacher``: accuracies, gradient norm), the reference of the paper's Figure 2."""

    def __init__(self, data, teacher, n_grad: int):
        n_grad = min(n_grad, data.n_train)
        self.x_grad = next(data.batches("train", n_grad))[0] if n_grad > 0 else None
        self.teacher_pred: dict[str, torch.Tensor] = {}
        self.teacher: dict[str, float] = {}
        if teacher is not None:
            for split in ("val", "test"):
                if data.size(split):
                    with torch.no_grad():
                        pred = torch.cat([teacher(x).argmax(1) for x, _, _ in data.batches(split, 1024)])
                    self.teacher_pred[split] = pred
                    self.teacher[f"teacher_{split}_acc"] = float((pred == data.y[split]).float().mean())
            if self.x_grad is not None:
                self.teacher["teacher_grad_norm"] = mean_grad_norm(teacher, self.x_grad)
        #: the latest row, for the summary
        self.last: dict = {}

    def __call__(self, trainer, epoch, evals) -> dict:
        row = {"agree": math.nan, "grad_norm": math.nan}
        if "test" in self.teacher_pred and "test" in evals:
            row["agree"] = float((evals["test"].predictions == self.teacher_pred["test"]).float().mean())
        if self.x_grad is not None:
            row["grad_norm"] = mean_grad_norm(trainer.model, self.x_grad)
        self.last = row
        return row


def robustness(model, data, params: Mapping[str, Any], generator) -> dict:
    """Gaussian-noise and PGD accuracies on the first ``robust_samples`` test samples."""
    n = min(int(params["robust_samples"]), data.size("test"))
    sigmas = list(params["noise_sigmas"])
    if n == 0:
        return {"noise_acc_per_sigma": [math.nan] * len(sigmas), "pgd_acc": math.nan}
    forward = pixel_forward(model.eval(), data)
    scale, bounds = pixel_scale(data)
    x, y = data.x["test"][:n].float() / scale, data.y["test"][:n]
    accs = noise_accuracy(forward, x, y, sigmas, generator, bounds)
    pgd = math.nan
    if params["pgd_steps"] > 0:
        pgd = pgd_accuracy(
            forward,
            x,
            y,
            eps=params["pgd_eps"],
            step=params["pgd_step"],
            n_steps=params["pgd_steps"],
            restarts=params["pgd_restarts"],
            generator=generator,
            bounds=bounds,
        )
    return {"noise_acc_per_sigma": accs, "pgd_acc": pgd}


def shift_accuracy(model, data, params: Mapping[str, Any], ctx) -> dict:
    """CIFAR-10-C and CINIC-10 accuracies (for the folders that are set), saved to the run
    file; the summary's ``cifar10c_acc``, ``cifar10c_cond_acc`` and ``cinic10_acc``."""
    model.eval()

    def forward(x):
        return model(data.normalise(x))

    out: dict[str, float] = {}
    k, seed = int(params["shift_samples"]), int(params["data_seed"])
    if params["cifar10c_root"]:
        res = cifar10c_accuracy(
            forward,
            params["cifar10c_root"],
            k,
            seed,
            (data.x["test"], data.y["test"]),
            ctx.device,
            before_each=ctx.check_cancel,
        )
        ctx.save("robust/cifar10c_acc", res.acc)
        ctx.save("robust/cifar10c_cond_acc", res.cond_acc)
        ctx.attr("cifar10c_corruptions", ",".join(res.corruptions))
        out.update(cifar10c_acc=res.mca, cifar10c_cond_acc=res.mean_cond_acc)
    if params["cinic10_root"]:
        out["cinic10_acc"] = cinic10_accuracy(forward, params["cinic10_root"], k, seed, ctx.device)
    return out
