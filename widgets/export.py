"""Writing a run's series to CSV (one row per step)."""
from __future__ import annotations

import numpy as np

from lab.runfile import RunData
from lab.tables import series_columns


def write_series_csv(run: RunData, path: str) -> list[str]:
    """Write the series table to ``path``; returns the series that were skipped."""
    names, table, skipped = series_columns(run)
    np.savetxt(path, table, delimiter=",", header=",".join(names), comments="", fmt="%.17g")
    return skipped
