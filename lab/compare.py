"""Comparing runs: which parameters differ between them, and legend labels naming them."""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

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
    sets = [{p[len("series/"):] for p in r.arrays if p.startswith("series/") and p != "series/step"}
            for r in runs]
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
