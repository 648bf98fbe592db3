"""The sweep file: ``sweep.json`` in the sweep's folder, written only by the coordinating
process (atomic replace, so a viewer can reread it at any time)::

    {"format": "noiselab-sweep", "format_version": 2, "experiment": "nin-toy",
     "preset": "", "params": {...base values...}, "swept": ["sigma_eps", "lr"],
     "grid": {"sigma_eps": [...distinct values visited...], ...},
     "space": {"mode": "grid" | "random", "random": N, "sample_seed": S, "axes": {...}},
     "seeds": K, "backend": {"name": "local" | "ray", "files": "shared" | "returned", ...},
     "coordinator": "host:pid", "heartbeat": <unix time>,
     "status": "running" | "completed" | "cancelled", "created": ..., "finished": ...,
     "runs": [{"index": 0, "point": 0, "replicate": 0, "values": {..., "seed": 0},
               "path": "runs/....h5", "status": "pending" | "running" | <run status>,
               "progress": [done, total], "summary": {...}, "error": "",
               "written_by": "worker" | "coordinator", "node": "...", "previous": [...]}, ...],
     "points": [{"index": 0, "values": {...}, "runs": [0, 1, 2],
                 "n": {key: n}, "mean": {key: m}, "sd": {key: s}}, ...]}

Run paths are relative to the sweep file. ``points`` holds, per swept point, the mean
and sample standard deviation (``ddof = 1``; null below two values) of every numeric
summary over its replicates that ended ``completed`` or ``diverged`` with a finite value.
Readers recompute ``points`` from the runs, so a file edited by hand stays consistent.
A file left ``running`` whose coordinator is gone (same host: the process is dead;
elsewhere: no heartbeat for ``STALE_AFTER_S``) reads as ``interrupted``. Version 1
files (one run per point, no ``points``) are read too.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..procinfo import alive as process_alive

FORMAT = "noiselab-sweep"
FORMAT_VERSION = 2
SWEEP_FILE = "sweep.json"
#: how often a coordinator rewrites the sweep file at least, to show it is alive
HEARTBEAT_S = 5.0
#: a running sweep whose heartbeat is older than this is shown as interrupted
STALE_AFTER_S = 30.0
#: run statuses whose summaries are averaged over seeds
ENDED = ("completed", "diverged")


class SweepError(Exception):
    """A sweep file that is missing or not a Noise Lab sweep, or a sweep that cannot run;
    the message says which."""


def write_sweep(path: str, doc: dict) -> None:
    """Replace the sweep file atomically. One line of JSON through ``json.dumps`` (C
    encoder); ``json.dump`` and indenting take the pure-Python one, tens of times slower
    for a sweep of many runs."""
    text = json.dumps(doc, default=_plain)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in a sweep file")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def aggregate(runs: Sequence[dict], points: Sequence[dict]) -> list[dict]:
    """Per point (``{"values": ...}``, in order), mean and sample sd (``ddof = 1``) of each
    numeric summary over the point's runs (``run["point"]``) that ended; ``n`` counts them."""
    members: dict[int, list[dict]] = {i: [] for i in range(len(points))}
    for r in runs:
        members.setdefault(r.get("point", r["index"]), []).append(r)
    return [point_summary(i, pt["values"], members[i]) for i, pt in enumerate(points)]


def point_summary(index: int, values: dict, runs: Sequence[dict]) -> dict:
    """One entry of ``points``: its values, runs, and per summary key n, mean and sd."""
    vals: dict[str, list[float]] = {}
    for r in runs:
        if r["status"] not in ENDED:
            continue
        for k, v in r["summary"].items():
            x = _number(v)
            if x is not None:
                vals.setdefault(k, []).append(x)
    return {
        "index": index,
        "values": dict(values),
        "runs": [r["index"] for r in runs],
        "n": {k: len(v) for k, v in vals.items()},
        "mean": {k: float(np.mean(v)) for k, v in vals.items()},
        "sd": {k: float(np.std(v, ddof=1)) if len(v) > 1 else None for k, v in vals.items()},
    }


def coordinator_gone(coordinator: str, heartbeat: float | None) -> bool:
    """Whether the process ``host:pid`` that writes a sweep file has stopped: on this host,
    a dead pid; elsewhere, a heartbeat older than :data:`STALE_AFTER_S`."""
    host, _, pid = coordinator.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not process_alive(int(pid))
    return heartbeat is None or time.time() - heartbeat > STALE_AFTER_S


@dataclass
class SweepData:
    """A sweep file, decoded; run paths made absolute."""

    path: str
    experiment: str
    params: dict
    swept: list
    grid: dict
    status: str
    runs: list = field(default_factory=list)
    points: list = field(default_factory=list)
    seeds: int = 1
    space: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)
    coordinator: str = ""
    heartbeat: float | None = None

    @property
    def interrupted(self) -> bool:
        """A sweep that says ``running`` but whose coordinator was killed."""
        return (
            self.status == "running" and bool(self.coordinator) and coordinator_gone(self.coordinator, self.heartbeat)
        )

    @property
    def display_status(self) -> str:
        return "interrupted" if self.interrupted else self.status

    def run_status(self, run: dict) -> str:
        """A run's status as shown: one left going by an interrupted sweep is ``interrupted``."""
        return "interrupted" if run["status"] == "running" and self.interrupted else run["status"]

    def column(self, key: str) -> np.ndarray:
        """A summary value (or a swept value) of every run, NaN where missing or not a number."""
        return _column(self.runs, key)

    def point_column(self, key: str) -> np.ndarray:
        """A swept value of every point."""
        return _column(self.points, key)

    def point_stats(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, sd (NaN where undefined) and count of summary ``key`` per point."""
        get = lambda part: np.asarray(
            [np.nan if p[part].get(key) is None else p[part][key] for p in self.points], dtype=float
        )
        return get("mean"), get("sd"), np.asarray([p["n"].get(key, 0) for p in self.points], dtype=int)

    def bands(self, x_key: str, label_key: str) -> list[tuple[float, float, str]]:
        """Contiguous ranges of ``x_key`` whose runs share the text summary ``label_key``
        (a phase): ``(lo, hi, label)``, split halfway (geometrically for positive x)
        between neighbouring runs of different labels."""
        x = self.column(x_key)
        labels = [str(r["summary"].get(label_key, "")) for r in self.runs]
        order = [i for i in np.argsort(x) if np.isfinite(x[i]) and labels[i]]
        if not order:
            return []
        xs, ls = x[order], [labels[i] for i in order]
        geo = bool((xs > 0).all())
        mid = lambda a, b: float(np.sqrt(a * b)) if geo else float((a + b) / 2)
        out, start = [], float(xs[0])
        for k in range(1, len(xs)):
            if ls[k] != ls[k - 1]:
                edge = mid(xs[k - 1], xs[k])
                out.append((start, edge, ls[k - 1]))
                start = edge
        out.append((start, float(xs[-1]), ls[-1]))
        return out

    def label_keys(self) -> list[str]:
        """Summary keys holding text (a phase), not numbers written as text ("nan")."""

        def is_label(v):
            if not isinstance(v, str):
                return False
            try:
                float(v)
            except ValueError:
                return True
            return False

        return sorted({k for r in self.runs for k, v in r["summary"].items() if is_label(v)})

    def summary_keys(self) -> list[str]:
        """Numeric summary keys present in any finished run, in first-seen order."""
        keys: dict[str, None] = {}
        for r in self.runs:
            for k, v in r["summary"].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    keys.setdefault(k)
        return list(keys)


def _column(rows: Sequence[dict], key: str) -> np.ndarray:
    out = []
    for r in rows:
        v = r["values"].get(key, r.get("summary", {}).get(key))
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(np.nan)
    return np.asarray(out)


def read_sweep(path: str) -> SweepData:
    """Read a sweep file (or the folder holding ``sweep.json``)."""
    if os.path.isdir(path):
        path = os.path.join(path, SWEEP_FILE)
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise SweepError(f"{path}: no such sweep file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise SweepError(f"{path}: not a JSON sweep file ({e})") from None
    except OSError as e:
        raise SweepError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SweepError(f"{path}: not a Noise Lab sweep file (no 'format = {FORMAT}')")
    version = doc.get("format_version")
    if not isinstance(version, int):
        raise SweepError(f"{path}: a damaged sweep file ('format_version' is {version!r}, not a number)")
    if version > FORMAT_VERSION:
        raise SweepError(f"{path}: sweep format {version} is newer than this Noise Lab reads")
    types = {"experiment": str, "params": dict, "swept": list, "grid": dict, "status": str, "runs": list}
    bad = [f"{key} ({kind.__name__})" for key, kind in types.items() if not isinstance(doc.get(key), kind)]
    if bad:
        raise SweepError(f"{path}: a damaged sweep file (missing or mistyped entries: {', '.join(bad)})")
    for i, r in enumerate(doc["runs"]):
        if not (
            isinstance(r, dict)
            and isinstance(r.get("path"), str)
            and isinstance(r.get("values"), dict)
            and isinstance(r.get("summary", {}), dict)
            and isinstance(r.get("status", ""), str)
        ):
            raise SweepError(f"{path}: a damaged sweep file (run {i} lacks a path, values, status or summary)")
    base = os.path.dirname(os.path.abspath(path))
    try:
        runs = [
            {"status": "", "summary": {}, "error": "", **r, "path": os.path.join(base, r["path"])} for r in doc["runs"]
        ]
        points = aggregate(runs, doc.get("points") or [{"values": r["values"]} for r in runs])
        return SweepData(
            path=os.path.abspath(path),
            experiment=doc["experiment"],
            params=doc["params"],
            swept=doc["swept"],
            grid=doc["grid"],
            status=doc["status"],
            runs=runs,
            points=points,
            seeds=int(doc.get("seeds", 1)),
            space=doc.get("space", {}),
            backend=doc.get("backend", {}),
            coordinator=doc.get("coordinator", ""),
            heartbeat=doc.get("heartbeat"),
        )
    except (KeyError, TypeError) as e:
        raise SweepError(f"{path}: a damaged sweep file (bad or missing entry {e})") from None
