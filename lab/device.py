"""Choosing the compute device: ``auto`` takes CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from .params import Param, ParamError

DEVICE_PARAM = Param(
    "device",
    "choice",
    "auto",
    choices=("auto", "cpu", "cuda"),
    group="Run",
    help="Where the tensors live: auto = CUDA when present, else CPU.",
)


def resolve_device(name: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` -> a torch device; CUDA asked for but absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParamError("device", name, "cpu or auto: no CUDA device is available on this machine")
    if name not in ("cpu", "cuda"):
        raise ParamError("device", name, DEVICE_PARAM.allowed())
    return torch.device(name)
