"""Pieces every experiment's spec and layout share."""
from __future__ import annotations

from ..device import DEVICE_PARAM
from ..params import Param
from ..runfile import Dataset

SEED_PARAM = Param("seed", "int", 0, low=0, high=2**31 - 1, group="Run",
                   help="Seeds every random draw; same seed, parameters and device give the same numbers.")
RUN_PARAMS = (SEED_PARAM, DEVICE_PARAM)


def scalar_series(*names: str) -> list[Dataset]:
    """``series/step`` (int64) plus one float64 series per name, as ``ctx.log`` writes them."""
    return [Dataset("series/step", (), "i8")] + [Dataset(f"series/{n}", ()) for n in names]
