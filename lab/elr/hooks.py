"""CE, ELR and ELR+ as hooks of the shared training engine (:mod:`lab.training.engine`).

- :class:`MemorizationHooks` (plain CE) adds the memorisation measurements of
  :mod:`lab.elr.memorization` and the best test accuracy to every epoch's row;
- :class:`ElrHooks` replaces the loss by the ELR loss with per-example targets;
- :class:`ElrPlusHooks` replaces the whole step: two networks (the trainer's model is an
  ``nn.ModuleDict`` with ``net1`` and ``net2``), each with a weight-averaged copy,
  targets of network k from the averaged copy of the other network, mixup on x, y and t,
  and predictions (test accuracy, memorisation) from the mean of the two networks' logits:
  the raw networks (``predict = raw``, Algorithm 2 and the official code's test) or their
  weight averages (``predict = averaged``).

Every row holds every series: ``test_acc_best`` (best test accuracy over the epochs
trained so far) is NaN at epoch 0 and when no test split is evaluated.

ELR+ ordering (a deviation from Algorithm 2, stated): the paper trains network 1 for a
whole epoch and then network 2; here both take one step on every mini-batch (each with
its own mixup draw), which is the same update for each network but lets the other
network's averaged weights move within the epoch. The CIFAR-100 variant of the official
code, which also reweights the labels by the targets, is not included.
"""

from __future__ import annotations

import math
from typing import Mapping, cast

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..training.engine import Evaluation, Hooks, Trainer
from .loss import ElrTargets, elr_loss
from .memorization import memorization_stats
from .plus import WeightAverage, mixup


class MemorizationHooks(Hooks):
    """Plain cross-entropy, measured: Figures 1-2 quantities, ``reg`` (NaN for CE) and
    ``test_acc_best`` in every row."""

    lam = 0.0

    def __init__(self):
        self.last: dict[str, torch.Tensor] = {}
        self._best: torch.Tensor | None = None
        self._reg_sum: torch.Tensor | None = None
        self._reg_n = 0

    def metric_targets(self) -> torch.Tensor | None:
        """The targets the Lemma-2 coefficient is measured with (``None``: plain CE)."""
        return None

    def _add_reg(self, reg: torch.Tensor) -> None:
        r = reg.detach().float()
        self._reg_sum = r if self._reg_sum is None else self._reg_sum + r
        self._reg_n += 1

    def epoch_end(self, trainer: Trainer, epoch: int, evals: Mapping[str, Evaluation]) -> dict:
        row: dict = {}
        if "train" in evals:
            ev = evals["train"]
            row.update(
                memorization_stats(ev.logits, ev.labels, trainer.data.labels_clean, self.metric_targets(), self.lam)
            )
        row["test_acc_best"] = math.nan
        if "test" in evals and epoch > 0:
            acc = evals["test"].acc
            self._best = acc if self._best is None else torch.maximum(self._best, acc)
            row["test_acc_best"] = self._best
        row["reg"] = self._reg_sum / self._reg_n if self._reg_n else math.nan
        self._reg_sum, self._reg_n = None, 0
        self.last = row
        return row


class ElrHooks(MemorizationHooks):
    """The ELR loss ``CE + lam * mean log(1 - <p, t>)`` (see :mod:`lab.elr.loss`)."""

    def __init__(self, lam: float, beta: float, num_classes: int):
        super().__init__()
        self.lam, self.beta, self.num_classes = float(lam), float(beta), int(num_classes)
        self.targets: ElrTargets | None = None

    def setup(self, trainer: Trainer) -> None:
        self.targets = ElrTargets(trainer.data.n_train, self.num_classes, self.beta, trainer.device)

    def metric_targets(self) -> torch.Tensor | None:
        assert self.targets is not None  # made by setup
        return self.targets.t

    def loss(self, model, x, y, idx, epoch):
        total, _, reg = self.targets.step_loss(idx, model(x), y, self.lam)
        self._add_reg(reg)
        return total


class ElrPlusHooks(ElrHooks):
    """ELR+ (Algorithm 2, official ``ELR_plus`` code): see the module docstring."""

    #: what :meth:`predict` averages: the two networks, or their weight averages
    PREDICT = ("raw", "averaged")

    def __init__(
        self,
        lam: float,
        beta: float,
        num_classes: int,
        gamma: float,
        alpha: float,
        seed: int,
        rampup: int = 0,
        predict: str = "raw",
    ):
        super().__init__(lam, beta, num_classes)
        if predict not in self.PREDICT:
            raise ValueError(f"predict must be one of {self.PREDICT}, not {predict!r}")
        self.gamma, self.alpha, self.rampup, self.use_avg = (
            float(gamma),
            float(alpha),
            int(rampup),
            predict == "averaged",
        )
        self.rng = np.random.default_rng(seed)
        self.avg: list[WeightAverage] = []
        self.both: list[ElrTargets] = []

    def setup(self, trainer: Trainer) -> None:
        nets = self.nets(trainer)
        self.avg = [WeightAverage(n, self.gamma, self.rampup) for n in nets]
        self.both = [ElrTargets(trainer.data.n_train, self.num_classes, self.beta, trainer.device) for _ in nets]
        self.targets = self.both[0]  # network 1's targets are the ones measured

    @staticmethod
    def nets(trainer: Trainer):
        nets = cast(nn.ModuleDict, trainer.model)  # ElrPlus trains a ModuleDict of two nets
        return nets["net1"], nets["net2"]

    def step(self, trainer, x, y, idx, epoch):
        opt = trainer.optimizer
        opt.zero_grad(set_to_none=True)
        y1h = F.one_hot(y, self.num_classes).float()
        total = torch.zeros((), device=x.device)
        for k, net in enumerate(self.nets(trainer)):
            with torch.no_grad(), trainer.autocast():
                p_other = F.softmax(self.avg[1 - k].model(x).float(), dim=1)
            rows = self.both[k].update(idx, p_other)
            xm, ym, tm, _ = mixup(x, y1h, rows, self.alpha, self.rng)
            with trainer.autocast():
                logits = net(xm)
            loss, _, reg = elr_loss(logits, ym, tm, self.lam)
            total = total + loss
            if k == 0:
                self._add_reg(reg)
        total.backward()  # the two losses touch disjoint parameters: one step trains both
        opt.step()
        for a, net in zip(self.avg, self.nets(trainer)):
            a.update(net)
        return total.detach() / 2

    def predict(self, trainer, x):
        nets = [a.model for a in self.avg] if self.use_avg else self.nets(trainer)
        return 0.5 * (nets[0](x).float() + nets[1](x).float())
