"""Comparing runs: which parameters differ between them, legend labels naming them, the
series and x axes they share, replicates (runs that differ only in their seed) as a
mean with a standard deviation, and smoothing."""

from __future__ import annotations

import os
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

#: parameters that never explain a difference between curves
IGNORED = frozenset({"device"})
_MISSING = object()


def differing_params(headers: Sequence[Any]) -> list[str]:
    """Names of the parameters whose values are not the same in every run (a parameter
    some runs lack counts as differing), in first-seen order; ``experiment`` leads when
    the runs come from different experiments. ``headers`` are :class:`RunHeader`s (or
    anything with ``.params`` and ``.experiment``)."""
    names: list[str] = []
    for h in headers:
        names += [k for k in h.params if k not in names and k not in IGNORED]
    out = [k for k in names if len({_key(h.params.get(k, _MISSING)) for h in headers}) > 1]
    if len({h.experiment for h in headers}) > 1:
        out.insert(0, "experiment")
    return out


def _key(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else (id(v) if v is _MISSING else v)


def legend_label(header: Any, names: Iterable[str]) -> str:
    """``"method=elr, noise_rate=0.4"`` for the given parameter names (the file name when
    no parameter differs)."""
    parts = []
    for k in names:
        v = header.experiment if k == "experiment" else header.params.get(k, "-")
        parts.append(f"{k}={_fmt(v)}")
    return ", ".join(parts) if parts else os.path.basename(header.path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ",".join(_fmt(x) for x in v)
    return str(v)


def common_series(runs: Sequence[Any]) -> list[str]:
    """Names ``x`` of the ``series/x`` datasets (except the step axis) that every run has."""
    sets = [{p[len("series/") :] for p in r.arrays if p.startswith("series/") and p != "series/step"} for r in runs]
    return sorted(set.intersection(*sets)) if sets else []


def headers_in_folder(folder: str) -> list:
    """The headers of every readable run file (``*.h5``) under ``folder``, sorted by path;
    files that are not Noise Lab runs are skipped."""
    from pathlib import Path

    from .runfile import RunFileError, read_header

    out = []
    for path in sorted(Path(folder).rglob("*.h5")):
        try:
            out.append(read_header(path))
        except RunFileError:
            continue
    return out


def unshared_series(runs: Sequence[Any]) -> list[str]:
    """Series some of the runs have and others lack (left out of a comparison)."""
    sets = [{p[len("series/") :] for p in r.arrays if p.startswith("series/") and p != "series/step"} for r in runs]
    return sorted(set.union(*sets) - set.intersection(*sets)) if sets else []


def step_axis_name(headers: Sequence[Any]) -> str:
    """What ``series/step`` counts in every run: ``epoch`` when all runs train by
    epochs, ``step`` when all iterate by steps, else ``step or epoch``."""
    kinds = {"epoch" if "epochs" in h.params and "steps" not in h.params else "step" for h in headers}
    return kinds.pop() if len(kinds) == 1 else "step or epoch"


def shared_axes(runs: Sequence[Any]) -> list[str]:
    """Candidate x axes: ``step`` (``series/step``) and every shared scalar series that
    never decreases in any run (a clock, a cumulative count)."""
    out = ["step"]
    for name in common_series(runs):
        ok = True
        for r in runs:
            a = np.asarray(r.arrays[f"series/{name}"], float)
            if a.ndim != 1 or len(a) < 2 or not (np.isfinite(a).all() and (np.diff(a) >= 0).all()):
                ok = False
                break
        if ok:
            out.append(name)
    return out


def replicate_groups(headers: Sequence[Any]) -> list[list[int]]:
    """Indices of runs that are replicates (the same experiment and parameters except
    ``seed``), grouped in first-seen order."""
    groups: dict[tuple, list[int]] = {}
    for i, h in enumerate(headers):
        key = (h.experiment, tuple(sorted((k, _key(v)) for k, v in h.params.items() if k not in IGNORED | {"seed"})))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def mean_sd(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(x, mean, sd, n)`` over replicates at the x values they all have: the mean
    and the sample standard deviation (ddof = 1; 0 for one run) of the ``n`` curves,
    NaNs ignored where some runs have a value."""
    common = xs[0]
    for x in xs[1:]:
        common = np.intersect1d(common, x)
    rows = []
    for x, y in zip(xs, ys):
        _, idx, _ = np.intersect1d(x, common, return_indices=True)
        rows.append(np.asarray(y, float)[idx])
    stack = np.vstack(rows) if rows else np.zeros((0, 0))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an x where every run is NaN stays NaN
        mean = np.nanmean(stack, axis=0)
        sd = np.nanstd(stack, axis=0, ddof=1) if len(rows) > 1 else np.zeros_like(mean)
    return np.asarray(common, float), mean, sd, len(rows)


def debiased_ema(y: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (Adam's, Kingma & Ba 2015,
    Sec. 3): ``m_t = w m_{t-1} + (1 - w) y_t``, shown as ``m_t / (1 - w^k)`` with ``k`` the
    number of finite values so far, so the start is not pulled towards 0. NaNs are
    skipped (the average carries over them)."""
    y = np.asarray(y, float)
    out = np.full_like(y, np.nan)
    m, k = 0.0, 0
    for i, v in enumerate(y):
        if np.isfinite(v):
            m = weight * m + (1.0 - weight) * v
            k += 1
        if k:
            out[i] = m / (1.0 - weight**k)
    return out
