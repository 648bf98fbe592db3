"""Writing a run's data to CSV or NPY: any one dataset (a series, the phase map, a
theory array), or every series as one table with a row per step.

``export_names(run)`` lists what can be written; ``write_export(run, name, path)``
writes it, as NumPy's ``.npy`` (exact, any shape) or as ``.csv`` (up to two dimensions:
a 2-D array keeps its rows and columns, e.g. the phase map's ``(n_y, n_x)``).
"""

from __future__ import annotations

import os

import numpy as np

from .runfile import RunData
from .tables import series_columns

#: the name of the all-series table in :func:`export_names`
SERIES_TABLE = "series"


class ExportError(ValueError):
    """What was asked for cannot be written (an unknown name, a shape CSV cannot hold)."""


def export_names(run: RunData) -> list[str]:
    """What :func:`write_export` can write: the series table (when the run has a step
    axis), then every numeric dataset by path."""
    numeric = sorted(p for p, a in run.arrays.items() if np.asarray(a).dtype.kind in "biuf")
    return ([SERIES_TABLE] if "series/step" in run else []) + numeric


def write_export(run: RunData, name: str, path: str) -> list[str]:
    """Write ``name`` (see :func:`export_names`) to ``path`` (``.csv`` or ``.npy``);
    returns the series left out of a series table (another row axis). Nothing is
    written when the request is bad (:class:`ExportError`, naming what is wrong)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".npy"):
        raise ExportError(f"{path}: the file must end in .csv or .npy")
    names = export_names(run)
    if name not in names:
        raise ExportError(f"this run has no '{name}' to export; it has: {', '.join(names)}")
    if name == SERIES_TABLE:
        try:
            cols, table, skipped = series_columns(run)
        except ValueError as e:  # no series/step axis
            raise ExportError(str(e)) from None
        if ext == ".npy":
            np.save(path, table)
        else:
            np.savetxt(path, table, delimiter=",", header=",".join(cols), comments="", fmt="%.17g")
        return skipped
    a = np.asarray(run[name])
    if ext == ".npy":
        np.save(path, a)
        return []
    if a.ndim > 2:
        raise ExportError(f"'{name}' has shape {a.shape}: CSV holds at most two dimensions; write .npy instead")
    shape = "x".join(str(n) for n in a.shape) or "scalar"
    np.savetxt(
        path,
        np.atleast_1d(a) if a.ndim < 2 else a,
        delimiter=",",
        fmt="%.17g",
        header=f"{name} ({shape}) from {os.path.basename(run.header.path)}",
    )
    return []
