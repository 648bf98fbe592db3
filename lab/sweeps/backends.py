"""Where a sweep's runs execute: one :class:`Backend` interface, one class per engine.

The coordinator (:func:`lab.sweep.run_sweep`) hands a backend every :class:`RunTask`
at once, then drains its events until each task is accounted for: :class:`Progress`
while a run goes, one :class:`Finished` per run that started, one :class:`NotStarted`
per run a cancel took out of the queue. Every backend runs a task through
:func:`execute`, so a run file never depends on where it ran.

``local`` runs in this process (``jobs = 1``) or in a pool of ``jobs`` spawned processes
with one torch thread each; ``ray`` (:mod:`lab.sweeps.ray_backend`) runs one Ray task
per run on a cluster.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..device import resolve_device
from ..params import ParamError
from ..runfile import RunFileError, read_header
from ..runner import run_experiment

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as ProcessEvent

#: progress of one run reaches the coordinator at most this often a second
PROGRESS_HZ = 4.0


@dataclass(frozen=True)
class RunTask:
    """One run: its sweep index, experiment, validated values and run-file path (as the
    coordinator sees it)."""

    index: int
    experiment: str
    values: dict
    path: str


@dataclass(frozen=True)
class Progress:
    index: int
    done: int
    total: int


@dataclass(frozen=True)
class Finished:
    """How a run ended. ``data`` holds the run file's bytes when the worker could not
    write into the sweep folder (``written_by = "coordinator"`` then)."""

    index: int
    status: str
    summary: dict
    error: str = ""
    node: str = ""
    written_by: str = "worker"
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class NotStarted:
    """A run a cancel removed before it started."""

    index: int


Event = Progress | Finished | NotStarted


class ProgressRelay:
    """A run listener that forwards ``progress`` calls as :class:`Progress` events, at
    most :data:`PROGRESS_HZ` a second."""

    def __init__(self, index: int, send: Callable[[Event], None]):
        self.index, self.send, self.last = index, send, 0.0

    def __call__(self, kind: str, _name: str, payload: Any) -> None:
        now = time.monotonic()
        if kind == "progress" and now - self.last >= 1.0 / PROGRESS_HZ:
            self.last = now
            self.send(Progress(self.index, *payload))


def execute(
    task: RunTask, send: Callable[[Event], None], *, cancel_event=None, write_here: bool = True, node: str = ""
) -> Finished:
    """Run one task, streaming its progress through ``send``. ``write_here``: the run file
    goes to ``task.path``; otherwise to a private temporary folder and its bytes come back
    in the result. A ``KeyboardInterrupt`` (Ctrl-C, a Ray cancel) ends the run
    ``cancelled``, which is then returned like any other ending."""
    tmp = "" if write_here else tempfile.mkdtemp(prefix="noiselab-run-")
    path = task.path if write_here else os.path.join(tmp, os.path.basename(task.path))
    try:
        try:
            r = run_experiment(
                task.experiment,
                task.values,
                path=path,
                cancel_event=cancel_event,
                listeners=[ProgressRelay(task.index, send)],
            )
            status, summary, error = r.status, r.summary, r.error
        except KeyboardInterrupt:  # the file is finished 'cancelled' already
            status, summary, error = "cancelled", _summary_of(path), ""
        except (ParamError, RunFileError, OSError) as e:  # before or while making the file
            status, summary, error = "failed", {}, f"{type(e).__name__}: {e}"
        data = None
        if not write_here and os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
        return Finished(
            task.index,
            status,
            summary,
            error,
            node or socket.gethostname(),
            "worker" if write_here else "coordinator",
            data,
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _summary_of(path: str) -> dict:
    try:
        return read_header(path).summary
    except RunFileError:
        return {}


class Backend(ABC):
    """Runs a sweep's tasks and reports what happens to them (see the module docstring)."""

    #: the name ``--backend`` takes
    name: str = ""

    @classmethod
    @abstractmethod
    def from_options(
        cls, *, jobs: int = 1, address: str = "", num_cpus: float | None = None, num_gpus: float | None = None
    ) -> Backend:
        """The backend the command line's options ask for; options it has no use for are
        refused with a message naming them."""

    def check(self, values: dict) -> None:  # noqa: B027  (most backends can run any point)
        """Raise :class:`ParamError` for a point this backend cannot run (before any file)."""

    def describe(self) -> dict:
        """What the sweep file records about the backend."""
        return {"name": self.name}

    @abstractmethod
    def start(self, tasks: Sequence[RunTask], folder: str) -> None:
        """Submit every task; ``folder`` is the sweep folder."""

    @abstractmethod
    def next_event(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds without one."""

    @abstractmethod
    def cancel(self) -> None:
        """Take queued tasks out (each gives :class:`NotStarted`) and stop running ones
        (each ends ``cancelled`` and gives :class:`Finished`)."""

    def close(self) -> None:  # noqa: B027  (a backend that holds nothing has nothing to release)
        """Release what :meth:`start` took; called once, after the last event."""


def refuse(backend: str, **options: Any) -> None:
    """A :class:`ParamError` for the first option given that ``backend`` does not use."""
    for name, value in options.items():
        if value not in (None, "", 0):
            raise ParamError(f"--{name.replace('_', '-')}", value, f"no value with --backend {backend}")


# -- local ---------------------------------------------------------------------------------
_pool_events: Any = None
_pool_cancel: Any = None


def _pool_init(events, cancel) -> None:
    """Pool worker set-up: one torch thread, and the shared event queue and cancel flag."""
    import torch

    global _pool_events, _pool_cancel
    torch.set_num_threads(1)
    _pool_events, _pool_cancel = events, cancel


def _pool_run(task: RunTask) -> Finished:
    return execute(task, _pool_events.put, cancel_event=_pool_cancel)


class LocalBackend(Backend):
    """Runs on this machine: in this process one after another (``jobs = 1``), or in
    ``jobs`` spawned processes; run files are written into the sweep folder."""

    name = "local"

    def __init__(self, jobs: int = 1):
        if jobs < 1:
            raise ParamError("--jobs", jobs, "a number of processes >= 1")
        self.jobs = jobs
        self.events: queue.Queue = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[Future, int] = {}

    @classmethod
    def from_options(cls, *, jobs=1, address="", num_cpus=None, num_gpus=None) -> LocalBackend:
        refuse(cls.name, address=address, cpus_per_run=num_cpus, gpus_per_run=num_gpus)
        return cls(jobs)

    def check(self, values: dict) -> None:
        resolve_device(values["device"])  # a device this machine lacks fails before any file

    def describe(self) -> dict:
        return {"name": self.name, "jobs": self.jobs, "files": "shared"}

    def start(self, tasks: Sequence[RunTask], folder: str) -> None:
        if self.jobs == 1:
            self.cancel_event: threading.Event | ProcessEvent = threading.Event()
            self.threads = [threading.Thread(target=self._in_process, args=(list(tasks),), daemon=True)]
        else:
            ctx = mp.get_context("spawn")
            self.cancel_event, shared = ctx.Event(), ctx.Queue()
            self.pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=ctx, initializer=_pool_init, initargs=(shared, self.cancel_event)
            )
            self.stop_relay = threading.Event()
            self.threads = [threading.Thread(target=self._relay, args=(shared,), daemon=True)]
            for t in tasks:
                fut = self.pool.submit(_pool_run, t)
                self.futures[fut] = t.index
                fut.add_done_callback(self._on_done)
        for th in self.threads:
            th.start()

    def _in_process(self, tasks: list[RunTask]) -> None:
        for t in tasks:
            if self.cancel_event.is_set():
                self.events.put(NotStarted(t.index))
            else:
                self.events.put(execute(t, self.events.put, cancel_event=self.cancel_event))

    def _relay(self, shared) -> None:
        """Move the pool's progress events into :attr:`events`."""
        while not self.stop_relay.is_set():
            try:
                self.events.put(shared.get(timeout=0.2))
            except queue.Empty:
                pass
            except (EOFError, OSError):  # the queue went with the pool
                return

    def _on_done(self, fut: Future) -> None:
        index = self.futures[fut]
        if fut.cancelled():
            self.events.put(NotStarted(index))
        elif fut.exception() is not None:  # a worker process that died
            self.events.put(Finished(index, "interrupted", {}, f"the worker process ended: {fut.exception()}"))
        else:
            self.events.put(fut.result())

    def next_event(self, timeout: float) -> Event | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def cancel(self) -> None:
        self.cancel_event.set()
        for fut in reversed(list(self.futures)):
            fut.cancel()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.stop_relay.set()
        for th in self.threads:
            th.join()


def backends() -> dict[str, type[Backend]]:
    """Every backend by name (the Ray one is imported, but Ray itself is not)."""
    from .ray_backend import RayBackend

    return {b.name: b for b in (LocalBackend, RayBackend)}


def make_backend(name: str, **options: Any) -> Backend:
    """The backend called ``name`` built from the command line's options."""
    known = backends()
    if name not in known:
        raise ParamError("--backend", name, "one of " + ", ".join(known))
    return known[name].from_options(**options)
