"""Writing a run's series to CSV (one row per step)."""
from __future__ import annotations

import numpy as np

from lab.runfile import RunData


def series_columns(run: RunData) -> tuple[list[str], np.ndarray, list[str]]:
    """``(names, table, skipped)``: ``series/step`` and every series with as many rows
    as it, vectors split into ``name_1, name_2, ...``; ``skipped`` lists series on
    another row axis."""
    step = run.get("series/step")
    if step is None:
        raise ValueError("this run has no series/step axis to export")
    names, cols, skipped = ["step"], [step.astype(float)], []
    for path in sorted(p for p in run.arrays if p.startswith("series/") and p != "series/step"):
        a = run.arrays[path]
        base = path[len("series/"):]
        if len(a) != len(step) or a.ndim > 2:
            skipped.append(base)
        elif a.ndim == 1:
            names.append(base)
            cols.append(a)
        else:
            names += [f"{base}_{j + 1}" for j in range(a.shape[1])]
            cols += [a[:, j] for j in range(a.shape[1])]
    return names, np.column_stack(cols), skipped


def write_series_csv(run: RunData, path: str) -> list[str]:
    """Write the series table to ``path``; returns the series that were skipped."""
    names, table, skipped = series_columns(run)
    np.savetxt(path, table, delimiter=",", header=",".join(names), comments="", fmt="%.17g")
    return skipped
