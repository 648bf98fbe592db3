"""Models by name, for the ``model`` parameter."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch.nn as nn

from ..params import Param, ParamError
from .mlp import ACTIVATIONS, MLP
from .preact_resnet import PreActResNet
from .resnet_cifar import CifarResNet
from .wide_resnet import WideResNet

MODEL_NAMES = (
    "mlp",
    "cnn",
    "resnet20",
    "resnet32",
    "resnet56",
    "preact-resnet18",
    "preact-resnet34",
    "wrn-16-1",
    "wrn-16-2",
    "wrn-16-4",
    "wrn-28-10",
    "wrn-40-1",
    "wrn-40-2",
)
G = "Model"
MODEL_PARAMS = (
    Param(
        "model",
        "choice",
        "mlp",
        choices=MODEL_NAMES,
        group=G,
        help="mlp (widths below), cnn (a small 2-layer CNN), CIFAR ResNet-20/32/56, pre-activation "
        "ResNet-18/34, WideResNet WRN-depth-width.",
    ),
    Param(
        "mlp_widths",
        "ints",
        [256],
        low=1,
        high=1_000_000,
        group=G,
        help="Hidden widths of the MLP, comma separated (e.g. 1024,1024,1024).",
    ),
    Param("activation", "choice", "relu", choices=tuple(ACTIVATIONS), group=G, help="MLP activation."),
    Param(
        "init",
        "choice",
        "default",
        choices=("default", "normal"),
        group=G,
        help="MLP initialisation: PyTorch's default, or weights N(0, 1/fan_in) and biases 0.",
    ),
    Param(
        "dropout",
        "float",
        0.0,
        low=0.0,
        high=0.95,
        group=G,
        help="Dropout rate: after each MLP hidden layer, inside WRN blocks, before the classifier otherwise.",
    ),
)


class SmallCNN(nn.Module):
    """conv3x3(32)-ReLU-maxpool, conv3x3(64)-ReLU-maxpool, global average pool, linear."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))


def check_model_params(params: Mapping[str, Any], images: bool) -> None:
    """Refuse :data:`MODEL_PARAMS` that cannot build a model, before a run starts: a
    convolutional model for a data set of feature vectors (``images`` false); raises
    :class:`ParamError`."""
    if params.get("model", "mlp") != "mlp" and not images:  # no 'model': an MLP-only experiment
        raise ParamError(
            "model",
            params["model"],
            "mlp: the other models need images (C, H, W) and this data set gives feature vectors",
        )


def build_model(
    name: str,
    input_shape: tuple,
    num_classes: int,
    *,
    widths=(256,),
    activation: str = "relu",
    init: str = "default",
    dropout: float = 0.0,
    **mlp_options: Any,
) -> nn.Module:
    """A fresh model; ``input_shape`` is (C, H, W) for images or (D,) for features.
    ``mlp_options`` (``nin_layer``, ``nin_sigma``, ``nin_init_std``) go to :class:`MLP`."""
    if name == "mlp":
        return MLP(
            math.prod(input_shape),
            widths,
            num_classes,
            activation=activation,
            init=init,
            dropout=dropout,
            **mlp_options,
        )
    if len(input_shape) != 3:
        raise ParamError("model", name, f"mlp: {name} needs images (C, H, W), the data set gives {input_shape}")
    c = input_shape[0]
    if name == "cnn":
        return SmallCNN(c, num_classes, dropout)
    if m := re.fullmatch(r"resnet(\d+)", name):
        return CifarResNet(int(m[1]), num_classes, c, dropout)
    if name in ("preact-resnet18", "preact-resnet34"):
        return PreActResNet((2, 2, 2, 2) if name.endswith("18") else (3, 4, 6, 3), num_classes, c, dropout)
    if m := re.fullmatch(r"wrn-(\d+)-(\d+)", name):
        return WideResNet(int(m[1]), int(m[2]), num_classes, c, dropout)
    raise ParamError("model", name, "one of " + ", ".join(MODEL_NAMES))


def model_from_params(params: Mapping[str, Any], data, **mlp_options: Any) -> nn.Module:
    """The model the parameters of :data:`MODEL_PARAMS` describe, shaped for ``data``."""
    return build_model(
        params["model"],
        data.input_shape,
        data.num_classes,
        widths=list(params["mlp_widths"]),
        activation=params["activation"],
        init=params["init"],
        dropout=params["dropout"],
        **mlp_options,
    )


def n_parameters(model: nn.Module) -> int:
    """Number of trainable and frozen parameter entries (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def set_dropout(model: nn.Module, active: bool) -> nn.Module:
    """Switch only the dropout layers to training (``active``) or eval mode, e.g. for a
    teacher that keeps dropout on while the rest of it (batch norm) is in eval mode."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train(active)
    return model
