"""Plain supervised training: cross-entropy, any model on any data set, optional label
noise and dropout. It exercises the shared engine end to end and trains the teachers
that distillation experiments load.

Final weights: ``weights/<state-dict key>`` arrays (parameters and buffers, float32 for
floating ones) with the key order in the root attribute ``weights_keys``; the model is
rebuilt with :func:`lab.training.rebuild_model` (see :func:`load_trained_model`).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ..data import DATA_PARAMS, NOISE_PARAMS, load_data
from ..models import MODEL_PARAMS, model_from_params, n_parameters
from ..params import Spec
from ..runfile import read_run
from ..training import (
    NOISE_RESOURCE_SCHEDULE,
    SELF_DISTILLATION_SCHEDULE,
    TRAINING_PARAMS,
    Trainer,
    check_network,
    network_layout,
    rebuild_model,
)
from ..training.optim import OPTIMIZER_MODULES
from ._common import RUN_PARAMS
from .base import Experiment

SPEC = Spec(*DATA_PARAMS, *NOISE_PARAMS, *MODEL_PARAMS, *TRAINING_PARAMS, *RUN_PARAMS)
PRESETS = {
    "digits-mlp": {
        "dataset": "digits",
        "model": "mlp",
        "mlp_widths": [256],
        "lr": 0.05,
        "weight_decay": 5e-4,
        "epochs": 10,
        "batch": 64,
        "schedule": "cosine",
    },
    "cifar10-resnet56": {"dataset": "cifar10", "model": "resnet56", **SELF_DISTILLATION_SCHEDULE},
    "cifar10-wrn-40-2": {"dataset": "cifar10", "model": "wrn-40-2", **NOISE_RESOURCE_SCHEDULE},
}


def layout(params: Mapping[str, Any]):
    """The engine's series and the training labels."""
    return network_layout(params)


def run(params: Mapping[str, Any], ctx) -> dict:
    """Load the data, build the model and train it with the shared engine."""
    data = load_data(params, ctx.device)
    data.save_labels(ctx)
    model = model_from_params(params, data).to(ctx.device)
    ctx.summary["n_parameters"] = n_parameters(model)
    return Trainer(model, data, params, ctx).fit()


def load_trained_model(path: str, data=None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The model a ``supervised`` run trained, with its final weights, in eval mode.
    ``data`` (a :class:`lab.data.Data`) gives the input shape and classes; without it the
    run's data set is loaded again."""
    run_data = read_run(path)
    params = SPEC.validate(run_data.header.params)
    data = data or load_data(params, device)
    return rebuild_model(params, run_data.arrays, data).to(device).eval()


EXPERIMENT = Experiment(
    name="supervised",
    title="Supervised training (cross-entropy) of any model on any data set",
    spec=SPEC,
    presets=PRESETS,
    checks=(check_network,),
    layout=layout,
    run=run,
    order=40,
    preload=OPTIMIZER_MODULES,
)
