"""Rebuilding the network a run trained from the run's parameters and final weights: the
one way a teacher, a reopened run or a test gets a trained model back."""

from __future__ import annotations

from typing import Any, Mapping

import torch.nn as nn

from ..models import MODEL_PARAMS, model_from_params
from .engine import load_weights


def model_values(params: Mapping[str, Any]) -> dict:
    """The model parameters of a run, canonical (an older file's ``"256,256"`` becomes
    ``[256, 256]``), defaults where the run's experiment has none (``model`` for nin-mlp)."""
    return {**params, **{p.name: p.validate(params.get(p.name, p.default)) for p in MODEL_PARAMS}}


def rebuild_model(
    params: Mapping[str, Any], arrays: Mapping[str, Any], data, prefix: str = "weights", **model_options: Any
) -> nn.Module:
    """The network ``params`` describe for ``data``'s inputs, with the weights stored under
    ``prefix/`` in ``arrays``; a KeyError or RuntimeError when they do not fit."""
    model = model_from_params(model_values(params), data, **model_options)
    return load_weights(arrays, model, prefix)
