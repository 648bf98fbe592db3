"""Runs as tables: one run's series on its step axis, and many runs' parameters and
summaries, one row per run (for pandas, CSV and the ``export`` command).

pandas is imported only when a DataFrame is asked for; the CSV writer needs only the
standard library.
"""

from __future__ import annotations

import csv
import glob
import os
import warnings
from typing import Any, Iterable

import numpy as np

from .runfile import RunData, RunFileError, read_header

#: columns of :func:`runs_table` before the parameters and summaries
META_COLUMNS = ("path", "experiment", "status", "created", "finished", "seed", "device")
#: how a non-finite summary number is stored in the run file's JSON
_NON_FINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("tables of runs need pandas, which is not installed: pip install pandas") from None
    return pandas


def series_columns(run: RunData) -> tuple[list[str], np.ndarray, list[str]]:
    """``(names, table, skipped)``: ``series/step`` and every growable series with as
    many rows as it, vectors split into ``name_1, name_2, ...``; ``skipped`` lists series
    on another row axis."""
    step = run.get("series/step")
    if step is None:
        raise ValueError("this run has no series/step axis to export")
    names, cols, skipped = ["step"], [step.astype(float)], []
    for path in sorted(p for p in run.arrays if p.startswith("series/") and p != "series/step"):
        a = run.arrays[path]
        base = path[len("series/") :]
        if len(a) != len(step) or a.ndim > 2:
            skipped.append(base)
        elif a.ndim == 1:
            names.append(base)
            cols.append(a)
        else:
            names += [f"{base}_{j + 1}" for j in range(a.shape[1])]
            cols += [a[:, j] for j in range(a.shape[1])]
    return names, np.column_stack(cols), skipped


def series_frame(run: RunData):
    """The run's series as a DataFrame: index ``step``, one column per scalar series and
    ``name_1, name_2, ...`` per vector series (the CSV export's columns). Series on
    another row axis are left out (``df.attrs["skipped"]`` names them)."""
    pd = _pandas()
    names, table, skipped = series_columns(run)
    df = pd.DataFrame(table[:, 1:], columns=names[1:], index=pd.Index(run["series/step"], name="step"))
    df.attrs["skipped"] = skipped
    return df


def _plain(v: Any) -> Any:
    """A cell: lists become tuples (hashable, for groupby); "nan" summaries floats."""
    if isinstance(v, list):
        return tuple(_plain(x) for x in v)
    if isinstance(v, str) and v in _NON_FINITE:
        return _NON_FINITE[v]
    return v


def run_files(folder: str) -> list[str]:
    """Every ``*.h5`` under ``folder`` (sweeps' ``runs/`` included), sorted."""
    if not os.path.isdir(folder):
        raise RunFileError(f"{folder}: no such folder")
    return sorted(glob.glob(os.path.join(glob.escape(folder), "**", "*.h5"), recursive=True))


def runs_table(folder: str, experiment: str | None = None) -> list[dict]:
    """One row per run file under ``folder`` (of ``experiment`` only, if given): the
    columns :data:`META_COLUMNS`, then every parameter by name, then every summary value
    by name (``summary.<key>`` where a key equals a parameter's or a column's name).
    Files that are not readable runs are skipped with a warning naming them."""
    rows, skipped = [], []
    for path in run_files(folder):
        try:
            h = read_header(path)
        except RunFileError as e:
            skipped.append(str(e))
            continue
        if experiment is not None and h.experiment != experiment:
            continue
        row = {
            "path": os.path.abspath(path),
            "experiment": h.experiment,
            "status": h.display_status,
            "created": h.created,
            "finished": h.finished,
            "seed": h.seed,
            "device": h.device,
        }
        row.update({k: _plain(v) for k, v in h.params.items() if k not in META_COLUMNS})
        for k, v in h.summary.items():
            row[f"summary.{k}" if k in row else k] = _plain(v)
        rows.append(row)
    if skipped:
        warnings.warn("skipped files that are not readable runs:\n  " + "\n  ".join(skipped), stacklevel=2)
    return rows


def read_runs(folder: str, experiment: str | None = None):
    """:func:`runs_table` as one pandas DataFrame (missing values NaN)."""
    return _pandas().DataFrame(runs_table(folder, experiment))


def _csv_cell(v: Any) -> Any:
    """Tuples as the command line writes lists (``10,100,0``); None empty."""
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    return "" if v is None else v


def columns_of(rows: Iterable[dict]) -> list[str]:
    """Every key of ``rows`` in first-seen order."""
    return list(dict.fromkeys(k for r in rows for k in r))


def write_runs_csv(rows: list[dict], stream) -> None:
    """Write :func:`runs_table` rows as CSV with a header line."""
    writer = csv.DictWriter(stream, fieldnames=columns_of(rows), restval="", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _csv_cell(v) for k, v in r.items()})
