"""Multi-layer perceptron with an optional noise injection node (NIN) on one layer.

A NIN adds one random scalar per sample to the preactivations of hidden layer
``nin_layer`` through trainable weights (papers/noise-injection-nodes.txt)::

    z <- z + W_NI * eps,   eps ~ N(0, sigma_eps^2),   W_NI in R^width

It acts only in training mode (test metrics use eps = 0). The caller may pass ``eps``
per sample (the ``fixed`` mode keeps one eps per training sample, indexed by the batch's
sample ids); otherwise a fresh eps is drawn on every forward pass.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


class NoiseInjection(nn.Module):
    """``z + W_NI * eps`` with trainable ``weight`` = W_NI (one entry per unit)."""

    def __init__(self, width: int, sigma: float = 0.0, init_std: float = 1.0):
        super().__init__()
        self.sigma = float(sigma)
        # a NIN is a unit with fan-in 1, so N(0, 1/fan_in) means N(0, 1) times init_std
        self.weight = nn.Parameter(torch.randn(width) * init_std)

    def forward(self, z: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return z
        if eps is None:
            eps = torch.randn(z.shape[0], device=z.device, dtype=z.dtype) * self.sigma
        return z + eps.reshape(-1, 1).to(z.dtype) * self.weight


class MLP(nn.Module):
    """``widths`` hidden layers with ``activation``; ``init='normal'`` draws every weight
    from N(0, 1/fan_in) and sets biases to 0 (else PyTorch's default); ``dropout`` after
    each hidden activation; a NIN on hidden layer ``nin_layer`` (0-based, -1 = none)."""

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        num_classes: int,
        *,
        activation: str = "relu",
        init: str = "default",
        dropout: float = 0.0,
        nin_layer: int = -1,
        nin_sigma: float = 0.0,
        nin_init_std: float = 1.0,
    ):
        super().__init__()
        dims = [in_features, *widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], num_classes)
        self.act = ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if not -1 <= nin_layer < len(widths):
            raise ValueError(f"nin_layer {nin_layer}: the MLP has hidden layers 0..{len(widths) - 1} (-1 = no NIN)")
        self.nin_layer = nin_layer
        self.nin = NoiseInjection(widths[nin_layer], nin_sigma, nin_init_std) if nin_layer >= 0 else None
        if init == "normal":
            for lin in self.layers:
                nn.init.normal_(lin.weight, 0.0, 1.0 / math.sqrt(lin.in_features))
                nn.init.zeros_(lin.bias)

    @property
    def layers(self) -> list[nn.Linear]:
        """Every linear layer, the output one last."""
        return [*self.hidden, self.out]

    def next_layer(self) -> nn.Linear:
        """The layer fed by the NIN layer's activations (its weights' norm is measured)."""
        return self.layers[self.nin_layer + 1]

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        for i, lin in enumerate(self.hidden):
            z = lin(h)
            if self.nin is not None and i == self.nin_layer:
                z = self.nin(z, eps)
            h = self.drop(self.act(z))
        return self.out(h)
