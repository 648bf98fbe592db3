"""Optimiser and learning-rate schedule from the shared training parameters.

SGD with momentum and weight decay (coupled L2, PyTorch's convention: the decay term
``weight_decay * theta`` is added to the gradient before momentum). The schedule is
stepped once per epoch:

- ``multistep``: lr_e = lr * gamma^(number of milestones <= e; milestones after the last
  epoch never take effect, so shortening ``epochs`` needs no other edit)  (e.g. 0.1 at 100, 150
  with gamma 0.1, or 0.2 at 60, 120, 150 with gamma 0.2)
- ``cosine``: lr_e = lr * (1 + cos(pi e / E)) / 2
- ``constant``: lr_e = lr
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch

from ..params import ParamError

#: what the first optimizer of a process imports (torch.optim loads its compiler stack,
#: ~1.4 s): an experiment that trains with one lists these as its ``preload``
OPTIMIZER_MODULES = ("torch._dynamo",)


def make_optimizer(parameters: Iterable[torch.nn.Parameter], params: Mapping[str, Any]) -> torch.optim.SGD:
    """SGD with the ``lr``, ``momentum`` and ``weight_decay`` parameters."""
    return torch.optim.SGD(
        parameters,
        lr=float(params["lr"]),
        momentum=float(params["momentum"]),
        weight_decay=float(params["weight_decay"]),
    )


def make_scheduler(optimizer: torch.optim.Optimizer, params: Mapping[str, Any]):
    """The per-epoch schedule named by ``schedule`` (module docstring)."""
    kind, epochs = params["schedule"], int(params["epochs"])
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(params["milestones"]), gamma=float(params["gamma"]))
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ParamError("schedule", kind, "multistep, cosine or constant")
