"""The shared supervised-training engine and its parameters (see :mod:`.engine`)."""

from .engine import ENGINE_SERIES, Evaluation, Hooks, Trainer, check_network, load_weights, network_layout, save_weights
from .optim import make_optimizer, make_scheduler
from .params import NOISE_RESOURCE_SCHEDULE, OPTIM_PARAMS, PERF_PARAMS, SELF_DISTILLATION_SCHEDULE, TRAINING_PARAMS
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
    "NOISE_RESOURCE_SCHEDULE",
    "SELF_DISTILLATION_SCHEDULE",
]
