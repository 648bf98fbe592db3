"""One training loss per distillation method, as hooks of the shared training engine.

``kd``                   Hinton's loss against the clean teacher (losses.kd_loss).
``noisy-logits``         noisy self-distillation (label-noise paper, section 5): the target
                         is the teacher's logits with fresh noise every iteration
                         (logit_noise), learnt with ``mse`` (the theory's loss) or ``kd``
                         (the noisy logits play the teacher; the CE term uses the labels).
``fickle-teacher``       KD while the teacher keeps its dropout active, so its logits vary
                         from iteration to iteration (noise-as-a-resource, section 4.1);
                         BatchNorm stays in evaluation mode.
``soft-randomization``   KD where the student sees ``x + delta``, ``delta ~ N(0, sigma^2)``
                         per pixel, and the teacher the clean ``x`` (section 4.2).
``gaussian-augmentation`` the baseline: the student alone, CE on ``x + delta``.
``messy-collaboration``  KD where each label of a batch is replaced with rate r by a
                         uniformly random class, fresh every batch (section 4.3).

Input noise is defined in pixel units (images in [0, 1]); batches arrive normalised
per channel, ``(x - mean) / std``, so ``delta / std`` is added to the normalised batch.
Training images are not clamped after the noise (the papers' Gaussian augmentation).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..models import set_dropout
from ..training import Hooks
from .logit_noise import noisy_logits
from .losses import kd_loss, logit_mse

METHODS = ("kd", "noisy-logits", "fickle-teacher", "soft-randomization", "gaussian-augmentation", "messy-collaboration")
#: methods that train the student without a teacher
TEACHERLESS = ("gaussian-augmentation",)


class DistillHooks(Hooks):
    """The engine's ``batch`` and ``loss`` for one method (module docstring).

    ``pixel_std`` is the per-channel std of the normalisation, shaped to broadcast
    against a batch; ``relabel(y, rate, generator)`` is the data layer's per-batch label
    randomisation; ``epoch_measure(trainer, epoch, evals)`` adds the per-epoch scalars.
    """

    def __init__(
        self,
        method: str,
        params: Mapping[str, Any],
        teacher: nn.Module | None,
        pixel_std: torch.Tensor,
        generator: torch.Generator,
        relabel: Callable | None = None,
        epoch_measure: Callable | None = None,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
        if teacher is None and method not in TEACHERLESS:
            raise ValueError(f"method {method!r} needs a teacher")
        self.method, self.p, self.teacher = method, params, teacher
        self.pixel_std, self.gen = pixel_std, generator
        self.relabel, self.epoch_measure = relabel, epoch_measure
        if teacher is not None:
            teacher.requires_grad_(False)
            set_dropout(teacher.eval(), method == "fickle-teacher")

    def setup(self, trainer) -> None:
        if self.teacher is not None and trainer.channels_last:  # the batches' layout (CUDA)
            self.teacher.to(memory_format=torch.channels_last)

    def _input_noise(self, x: torch.Tensor) -> torch.Tensor:
        delta = torch.randn(x.shape, generator=self.gen, device=x.device, dtype=x.dtype)
        return x + float(self.p["input_sigma"]) * delta / self.pixel_std

    def batch(self, x, y, idx, epoch):
        if self.method == "messy-collaboration":
            y = self.relabel(y, float(self.p["messy_rate"]), self.gen)
        return x, y

    def loss(self, model, x, y, idx, epoch):
        m = self.method
        if m == "gaussian-augmentation":
            return F.cross_entropy(model(self._input_noise(x)), y)
        with torch.no_grad():
            target = self.teacher(x).float()
        alpha, tau = float(self.p["alpha"]), float(self.p["tau"])
        if m == "soft-randomization":
            x = self._input_noise(x)
        student = model(x)
        if m == "noisy-logits":
            scale = self.p["sigma2"] if self.p["noise"] == "gaussian" else self.p["swap_p"]
            target = noisy_logits(target, self.p["noise"], float(scale), self.gen)
            if self.p["distill_loss"] == "mse":
                return logit_mse(student.float(), target)
        return kd_loss(student.float(), target, y, alpha=alpha, tau=tau)

    def epoch_end(self, trainer, epoch, evals):
        return self.epoch_measure(trainer, epoch, evals) if self.epoch_measure else {}
