"""The shared supervised-training engine and its parameters (see :mod:`.engine`)."""

from .engine import ENGINE_SERIES, Evaluation, Hooks, Trainer, check_network, load_weights, network_layout, save_weights
from .optim import make_optimizer, make_scheduler
from .params import OPTIM_PARAMS, PERF_PARAMS, TRAINING_PARAMS
from .trained import model_values, rebuild_model

__all__ = [
    "ENGINE_SERIES",
    "Evaluation",
    "Hooks",
    "Trainer",
    "check_network",
    "network_layout",
    "load_weights",
    "save_weights",
    "model_values",
    "rebuild_model",
    "make_optimizer",
    "make_scheduler",
    "OPTIM_PARAMS",
    "PERF_PARAMS",
    "TRAINING_PARAMS",
]
