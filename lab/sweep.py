"""Parameter sweeps: a grid over numeric parameters of any experiment, one run file per
grid point, plus one sweep file that lists them.

The sweep file is a small JSON document, ``sweep.json`` in the sweep's folder (only the
coordinating process writes it, after every finished run, by atomic replace, so a viewer
can reread it at any time)::

    {"format": "noiselab-sweep", "format_version": 1, "experiment": "nin-toy",
     "preset": "", "params": {...base values...}, "swept": ["sigma_eps"],
     "grid": {"sigma_eps": [0.1, 1, 10]}, "status": "running" | "completed" | "cancelled",
     "created": ..., "finished": ...,
     "runs": [{"index": 0, "values": {"sigma_eps": 0.1}, "path": "runs/....h5",
               "status": "completed", "summary": {...}, "error": ""}, ...]}

Run paths are relative to the sweep file. Runs go one after another or in ``jobs``
parallel local processes (each with one torch thread).
"""
from __future__ import annotations

import itertools
import json
import os
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import experiments
from .interrupts import cancel_on_signals
from .params import ParamError, Spec
from .runfile import utc_now
from .runner import run_experiment

FORMAT = "noiselab-sweep"
FORMAT_VERSION = 1
SWEEP_FILE = "sweep.json"
#: the most grid points a sweep may have (one run file each)
MAX_POINTS = 10_000


class SweepError(Exception):
    """A sweep file that is missing or not a Noise Lab sweep; the message says which."""


def parse_values(spec: Spec, item: str) -> tuple[str, list]:
    """``NAME=v1,v2,v3`` | ``NAME=lin:lo:hi:n`` | ``NAME=log:lo:hi:n`` -> (name, values).

    Only ``float`` and ``int`` parameters can be swept; every value is validated.
    """
    if "=" not in item:
        raise ParamError("--param", item, "NAME=v1,v2,... or NAME=lin:lo:hi:n or NAME=log:lo:hi:n")
    name, text = (s.strip() for s in item.split("=", 1))
    p = spec[name]
    if p.kind not in ("float", "int"):
        raise ParamError(name, text, f"a numeric parameter to sweep ({name} is a {p.kind})")
    if text.startswith(("lin:", "log:")):
        parts = text.split(":")
        try:
            lo, hi, count = float(parts[1]), float(parts[2]), float(parts[3])  # n may be written 1e4
            n = int(count) if count.is_integer() else 0
        except (IndexError, ValueError):
            n = 0
        if len(parts) != 4 or n < 1 or not (np.isfinite(lo) and np.isfinite(hi)):
            raise ParamError(name, text, "lin:lo:hi:n or log:lo:hi:n with finite numbers lo, hi and a count n >= 1")
        if n > MAX_POINTS:
            raise ParamError(name, text, f"at most {MAX_POINTS:,} values (one run file each; {n:,} asked)")
        if parts[0] == "log" and (lo <= 0 or hi <= 0):
            raise ParamError(name, text, "log:lo:hi:n with lo, hi > 0")
        raw = (np.geomspace if parts[0] == "log" else np.linspace)(lo, hi, n)
        raw = [round(float(v)) if p.kind == "int" else float(v) for v in raw]
        values = [p.validate(v) for v in dict.fromkeys(raw)]
    else:
        values = [p.parse(v) for v in text.split(",") if v.strip()]
    if not values:
        raise ParamError(name, text, "at least one value")
    return name, values


def grid_points(grid: Mapping[str, Sequence]) -> list[dict]:
    """The Cartesian product of the swept values, first parameter slowest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _run_name(experiment: str, index: int, point: Mapping[str, Any]) -> str:
    vals = "_".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())
    return f"{experiment}-{index:03d}-{vals}.h5".replace(os.sep, "-")


def _one_run(experiment: str, values: dict, path: str,
             cancel_event: threading.Event | None = None) -> tuple[str, dict, str]:
    """Worker body (also used in-process, where ``cancel_event`` stops the run going):
    run and return (status, summary, error)."""
    r = run_experiment(experiment, values, path=path, cancel_event=cancel_event)
    return r.status, r.summary, r.error


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def write_sweep(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=_plain)
    os.replace(tmp, path)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot store {type(v).__name__} in a sweep file")


def run_sweep(experiment: str, base: Mapping[str, Any], grid: Mapping[str, Sequence], out_dir: str, *,
              preset: str = "", jobs: int = 1, cancel_event: threading.Event | None = None,
              on_run: Callable[[dict, int, int], None] | None = None) -> str:
    """Run every grid point of ``experiment`` (``base`` values, the swept ones replaced)
    into ``out_dir/runs/``; returns the sweep file's path. Every point is validated and
    checked (the experiment's ``check``: combinations, folders, devices) before the sweep
    file is made. ``on_run(entry, done, total)``
    after each run. Setting ``cancel_event`` stops the sweep: with ``jobs=1`` the run going
    stops too (status ``cancelled``); with parallel jobs the runs going finish and the rest
    never start."""
    exp = experiments.get(experiment)
    if not out_dir:
        raise SweepError("no folder given for the sweep (--out is empty)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SweepError(f"{out_dir} is a file, not a folder; choose an empty folder for the sweep")
    size = int(np.prod([len(v) for v in grid.values()], dtype=np.float64))
    if size > MAX_POINTS:
        raise SweepError(f"the grid has {size:,} points; a sweep runs at most {MAX_POINTS:,} (one run file each)")
    points = grid_points(grid)
    values = [exp.validate({**base, **pt}) for pt in points]  # spec and check, devices included
    try:
        os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    except OSError as e:
        raise SweepError(f"{out_dir}: the sweep's folder cannot be made ({e.strerror or e})") from None
    sweep_path = os.path.join(out_dir, SWEEP_FILE)
    if os.path.exists(sweep_path):
        raise SweepError(f"{sweep_path} exists already; choose an empty --out folder")
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "experiment": experiment, "preset": preset or "",
           "params": exp.spec.validate(base), "swept": list(grid), "grid": {k: list(v) for k, v in grid.items()},
           "status": "running", "created": utc_now(), "finished": "",
           "runs": [{"index": i, "values": pt, "path": os.path.join("runs", _run_name(experiment, i, pt)),
                     "status": "pending", "summary": {}, "error": ""} for i, pt in enumerate(points)]}
    write_sweep(sweep_path, doc)
    cancel_event = cancel_event or threading.Event()

    def record(i: int, result: tuple[str, dict, str]) -> None:
        entry = doc["runs"][i]
        entry["status"], entry["summary"], entry["error"] = result
        write_sweep(sweep_path, doc)
        if on_run:
            on_run(entry, sum(r["status"] != "pending" for r in doc["runs"]), len(points))

    paths = [os.path.join(out_dir, r["path"]) for r in doc["runs"]]
    with cancel_on_signals(cancel_event.set):
        _run_points(experiment, values, paths, jobs, cancel_event, record)
    doc["status"] = "cancelled" if any(r["status"] in ("pending", "cancelled") for r in doc["runs"]) else "completed"
    doc["finished"] = utc_now()
    write_sweep(sweep_path, doc)
    return sweep_path


def _run_points(experiment: str, values: list[dict], paths: list[str], jobs: int,
                cancel_event: threading.Event, record: Callable[[int, tuple], None]) -> None:
    """Run the grid points one after another or in ``jobs`` processes until cancelled."""
    if jobs <= 1:
        for i, v in enumerate(values):
            if cancel_event.is_set():
                break
            record(i, _one_run(experiment, v, paths[i], cancel_event))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            futures = {pool.submit(_one_run, experiment, v, paths[i]): i for i, v in enumerate(values)}
            for fut in as_completed(futures):
                record(futures[fut], fut.result())
                if cancel_event.is_set():
                    for f in futures:
                        f.cancel()


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

    def column(self, key: str) -> np.ndarray:
        """A summary value (or a swept value) of every run, NaN where missing or not a number."""
        out = []
        for r in self.runs:
            v = r["values"].get(key, r["summary"].get(key))
            try:
                out.append(float(v))
            except (TypeError, ValueError):
                out.append(np.nan)
        return np.asarray(out)

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
        raise SweepError(f"{path}: sweep format {doc['format_version']} is newer than this Noise Lab reads")
    base = os.path.dirname(os.path.abspath(path))
    types = {"experiment": str, "params": dict, "swept": list, "grid": dict, "status": str, "runs": list}
    bad = [f"{key} ({kind.__name__})" for key, kind in types.items() if not isinstance(doc.get(key), kind)]
    if bad:
        raise SweepError(f"{path}: a damaged sweep file (missing or mistyped entries: {', '.join(bad)})")
    runs = []
    for i, r in enumerate(doc["runs"]):
        if not (isinstance(r, dict) and isinstance(r.get("path"), str) and isinstance(r.get("values"), dict)
                and isinstance(r.get("summary", {}), dict) and isinstance(r.get("status", ""), str)):
            raise SweepError(f"{path}: a damaged sweep file (run {i} lacks a path, values, status or summary)")
        runs.append({"status": "", "summary": {}, "error": "", **r, "path": os.path.join(base, r["path"])})
    return SweepData(path=os.path.abspath(path), experiment=doc["experiment"], params=doc["params"],
                     swept=doc["swept"], grid=doc["grid"], status=doc["status"], runs=runs)
