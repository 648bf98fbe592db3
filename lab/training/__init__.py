"""The shared supervised-training engine and its parameters (see :mod:`.engine`)."""
from .engine import ENGINE_SERIES, Evaluation, Hooks, Trainer, network_layout, load_weights, save_weights
from .optim import make_optimizer, make_scheduler, parse_milestones
from .params import OPTIM_PARAMS, PERF_PARAMS, TRAINING_PARAMS

__all__ = ["ENGINE_SERIES", "Evaluation", "Hooks", "Trainer", "network_layout", "load_weights", "save_weights",
           "make_optimizer", "make_scheduler", "parse_milestones", "OPTIM_PARAMS", "PERF_PARAMS",
           "TRAINING_PARAMS"]
