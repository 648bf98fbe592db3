"""Models: MLP with a noise injection node, CIFAR ResNets, pre-activation ResNets,
WideResNets, and the registry behind the ``model`` parameter."""

from .mlp import MLP, NoiseInjection
from .preact_resnet import PreActResNet
from .registry import (
    MODEL_NAMES,
    MODEL_PARAMS,
    SmallCNN,
    build_model,
    check_model_params,
    model_from_params,
    n_parameters,
    set_dropout,
)
from .resnet_cifar import CifarResNet
from .wide_resnet import WideResNet

__all__ = [
    "MLP",
    "NoiseInjection",
    "PreActResNet",
    "MODEL_NAMES",
    "MODEL_PARAMS",
    "SmallCNN",
    "build_model",
    "check_model_params",
    "model_from_params",
    "n_parameters",
    "set_dropout",
    "CifarResNet",
    "WideResNet",
]
