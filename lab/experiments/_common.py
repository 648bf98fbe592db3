"""Pieces every experiment's spec and layout share."""

from __future__ import annotations

from ..device import DEVICE_PARAM
from ..params import Param

SEED_PARAM = Param(
    "seed",
    "int",
    0,
    low=0,
    high=2**31 - 1,
    group="Run",
    help="Seeds every random draw; same seed, parameters and device give the same numbers.",
)
RUN_PARAMS = (SEED_PARAM, DEVICE_PARAM)
