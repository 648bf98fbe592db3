"""Parameter sweeps: many runs of one experiment over a sweep space, one run file per run,
plus one sweep file that lists them (format: :mod:`lab.sweeps.sweepfile`).

The coordinator here builds the plan (the space's points, each repeated over seeds),
validates every point with :func:`lab.runner.prepare` and the backend before any file
exists, then hands the runs to a :class:`~lab.sweeps.backends.Backend` and drains its
events: progress and endings go into the sweep file (rewritten at most once a second,
and every ``HEARTBEAT_S`` as a heartbeat) and to the callbacks. ``resume`` reruns a
sweep in its folder: runs whose files ended ``completed`` or ``diverged`` are kept as
they are; failed, cancelled, interrupted and never-started runs run again, into new
files (the old ones stay, listed under ``previous``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from .interrupts import cancel_on_signals
from .runfile import RunFileError, partial_path, read_header, utc_now
from .runner import prepare
from .sweeps.backends import Backend, Finished, LocalBackend, Progress, RunTask, make_backend
from .sweeps.space import MAX_POINTS, Axis, Space, grid_points, parse_axis, parse_values, replicate
from .sweeps.sweepfile import (
    ENDED,
    FORMAT,
    FORMAT_VERSION,
    HEARTBEAT_S,
    SWEEP_FILE,
    SweepData,
    SweepError,
    aggregate,
    point_summary,
    read_sweep,
    write_sweep,
)

__all__ = [
    "Axis",
    "Backend",
    "LocalBackend",
    "Space",
    "SweepData",
    "SweepError",
    "SWEEP_FILE",
    "grid_points",
    "make_backend",
    "parse_axis",
    "parse_values",
    "read_sweep",
    "run_sweep",
    "write_sweep",
]

#: the sweep file is rewritten at most this often for progress alone
WRITE_INTERVAL_S = 1.0


def _run_name(experiment: str, index: int, values: Mapping[str, Any], attempt: int = 0) -> str:
    vals = "_".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    return f"{experiment}-{index:03d}-{vals}{f'-a{attempt}' if attempt else ''}.h5".replace(os.sep, "-")


def _plain_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _new_doc(experiment: str, preset: str, base: dict, space: Space, seeds: int, plan: list) -> dict:
    points = space.points()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "experiment": experiment,
        "preset": preset,
        "params": base,
        "swept": space.names,
        "grid": {n: sorted({pt[n] for pt in points}, key=lambda v: (isinstance(v, str), v)) for n in space.names},
        "space": space.describe(),
        "seeds": seeds,
        "backend": {},
        "coordinator": "",
        "heartbeat": None,
        "status": "running",
        "created": utc_now(),
        "finished": "",
        "runs": [
            {
                "index": i,
                "point": p,
                "replicate": k,
                "values": v,
                "path": os.path.join("runs", _run_name(experiment, i, v)),
                "status": "pending",
                "progress": [0, 0],
                "summary": {},
                "error": "",
                "written_by": "",
                "node": "",
                "previous": [],
            }
            for i, (p, k, v) in enumerate(plan)
        ],
        "points": [{"values": pt} for pt in points],
    }


def _resumed_doc(sweep_path: str, fresh: dict) -> dict:
    """The sweep file in ``sweep_path`` ready to run again, after checking it is the same
    sweep (experiment, base values, runs) and that nobody is still running it."""
    old = read_sweep(sweep_path)
    with open(sweep_path) as f:
        doc = json.load(f)
    same = (
        doc["experiment"] == fresh["experiment"]
        and _plain_json(doc["params"]) == _plain_json(fresh["params"])
        and [r["values"] for r in doc["runs"]] == _plain_json([r["values"] for r in fresh["runs"]])
    )
    if not same:
        raise SweepError(
            f"{sweep_path} holds another sweep ({doc['experiment']}, {len(doc['runs'])} runs); "
            "resume it with the experiment, values and options that started it, or choose a new --out"
        )
    if old.status == "running" and not old.interrupted:
        raise SweepError(f"{sweep_path} is being run by {old.coordinator} still; stop it first")
    folder = os.path.dirname(sweep_path)
    for r in doc["runs"]:
        r.setdefault("previous", [])
        path = os.path.join(folder, r["path"])
        # a writer killed while building its finished copy leaves that copy half made beside
        # the (complete) file: the dead coordinator's runs have no writer left to finish it
        with contextlib.suppress(OSError):
            os.remove(partial_path(path))
        try:
            header = read_header(path) if os.path.exists(path) else None
        except RunFileError:
            header = None
        if header is not None and header.status in ENDED:  # finished: kept, never rerun
            r.update(status=header.status, summary=header.summary, error=header.error)
            continue
        if os.path.exists(path):  # failed, cancelled or interrupted: kept beside the new attempt
            r["previous"].append(r["path"])
            r["path"] = os.path.join("runs", _run_name(doc["experiment"], r["index"], r["values"], len(r["previous"])))
        r.update(status="pending", progress=[0, 0], summary={}, error="")
    return dict(doc, status="running", finished="", points=fresh["points"])


class _Coordinator:
    """Keeps the sweep file in step with the backend's events."""

    def __init__(self, path: str, doc: dict, backend: Backend, on_run, on_progress):
        self.path, self.doc, self.backend = path, doc, backend
        self.on_run, self.on_progress = on_run, on_progress
        self.last_write = 0.0
        self.dirty = False

    def save(self, force: bool = False) -> None:
        now = time.time()
        if force or (self.dirty and now - self.last_write >= WRITE_INTERVAL_S) or now - self.last_write >= HEARTBEAT_S:
            self.doc["heartbeat"] = now
            write_sweep(self.path, self.doc)
            self.last_write, self.dirty = now, False

    def handle(self, ev) -> bool:
        """Apply one event; True once the run it names is accounted for."""
        entry = self.doc["runs"][ev.index]
        if isinstance(ev, Progress):
            if entry["status"] in ("pending", "running"):
                entry.update(status="running", progress=[ev.done, ev.total])
                self.dirty = True
                if self.on_progress:
                    self.on_progress(entry)
            return False
        if isinstance(ev, Finished):
            self.finish(entry, ev)
        return True

    def finish(self, entry: dict, ev: Finished) -> None:
        entry.update(status=ev.status, summary=ev.summary, error=ev.error, node=ev.node, written_by=ev.written_by)
        if ev.data is not None:
            try:
                with open(os.path.join(os.path.dirname(self.path), entry["path"]), "xb") as f:  # never overwrites
                    f.write(ev.data)
            except OSError as e:
                entry.update(status="failed", error=f"the coordinator could not write the run file: {e}")
        by = {r["written_by"] for r in self.doc["runs"] if r["written_by"]}
        self.doc["backend"]["files"] = (
            "shared" if by == {"worker"} else "returned" if by == {"coordinator"} else "mixed"
        )
        p = entry["point"]
        self.doc["points"][p] = point_summary(
            p, self.doc["points"][p]["values"], [self.doc["runs"][i] for i in self.doc["points"][p]["runs"]]
        )
        self.save(force=True)
        if self.on_run:
            done = sum(r["status"] not in ("pending", "running") for r in self.doc["runs"])
            self.on_run(entry, done, len(self.doc["runs"]))


def _drain(backend: Backend, co: _Coordinator, outstanding: set, cancel_event: threading.Event) -> bool:
    """Hand the backend's events to the coordinator until every run has ended; True when
    the sweep was cancelled on the way."""
    cancelling = False
    while outstanding:
        try:
            ev = backend.next_event(timeout=0.5)
        except KeyboardInterrupt:  # Ctrl-C where no handler could be installed
            cancel_event.set()
            ev = None
        if cancel_event.is_set() and not cancelling:
            backend.cancel()
            cancelling = True
        if ev is not None and co.handle(ev):
            outstanding.discard(ev.index)
        co.save()
    return cancelling


def run_sweep(
    experiment: str,
    base: Mapping[str, Any],
    space: Space | Mapping[str, Sequence],
    out_dir: str,
    *,
    preset: str = "",
    seeds: int = 1,
    backend: Backend | None = None,
    jobs: int = 1,
    resume: bool = False,
    cancel_event: threading.Event | None = None,
    on_run: Callable[[dict, int, int], None] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> str:
    """Run every point of ``space`` (a :class:`Space` or a ``{name: values}`` grid) of
    ``experiment`` — ``base`` values with the swept ones replaced, ``seeds`` replicates
    each — into ``out_dir/runs/``; returns the sweep file's path. ``backend`` defaults to
    local processes (``jobs``). ``on_run(entry, done, total)`` after each run ends,
    ``on_progress(entry)`` as a run goes. Setting ``cancel_event`` (or Ctrl-C) cancels:
    queued runs never start (they stay ``pending``), running ones end ``cancelled``."""
    backend = backend or LocalBackend(jobs)
    space = Space.of(space)
    if not out_dir:
        raise SweepError("no folder given for the sweep (--out is empty)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SweepError(f"{out_dir} is a file, not a folder; choose an empty folder for the sweep")
    if space.size * seeds > MAX_POINTS:
        raise SweepError(
            f"the grid has {space.size * seeds:,} points; a sweep runs at most {MAX_POINTS:,} (one run file each)"
        )
    _, base_values = prepare(experiment, base)
    plan = replicate(space.points(), base_values["seed"], seeds)
    checked = []
    for _, _, values in plan:  # every point is validated before any file exists
        _, params = prepare(experiment, {**base, **values})
        backend.check(params)
        checked.append(params)
    sweep_path = os.path.join(out_dir, SWEEP_FILE)
    doc = _new_doc(experiment, preset or "", base_values, space, seeds, plan)
    if os.path.exists(sweep_path):
        if not resume:
            raise SweepError(f"{sweep_path} exists already; choose an empty --out folder, or --resume that sweep")
        doc = _resumed_doc(sweep_path, doc)
    try:
        os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    except OSError as e:
        raise SweepError(f"{out_dir}: the sweep's folder cannot be made ({e.strerror or e})") from None
    doc.update(backend=backend.describe(), coordinator=f"{socket.gethostname()}:{os.getpid()}")
    doc["points"] = aggregate(doc["runs"], doc["points"])
    co = _Coordinator(sweep_path, doc, backend, on_run, on_progress)
    co.save(force=True)
    folder = os.path.abspath(out_dir)
    tasks = [
        RunTask(r["index"], experiment, checked[r["index"]], os.path.join(folder, r["path"]))
        for r in doc["runs"]
        if r["status"] == "pending"
    ]
    outstanding = {t.index for t in tasks}
    cancel_event = cancel_event or threading.Event()
    backend.start(tasks, folder)
    try:
        with cancel_on_signals(cancel_event.set):  # SIGINT, SIGTERM, SIGHUP: cancel like the window's button
            cancelling = _drain(backend, co, outstanding, cancel_event)
    finally:
        backend.close()
    unfinished = any(r["status"] in ("pending", "running", "cancelled") for r in doc["runs"])
    doc.update(status="cancelled" if cancelling or unfinished else "completed", finished=utc_now())
    co.save(force=True)
    return sweep_path
