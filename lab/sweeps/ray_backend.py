"""The ``ray`` backend: one Ray task per run on an existing cluster (``address``: a
``ray start --head`` address, ``auto``, or a ``ray://host:10001`` client address). With
no address Ray joins the cluster ``ray start`` runs on this machine, if any, and else
starts a local instance for the sweep (stopped after it). A Ray connection the process
has already made is used as it is.

Each task asks for ``num_cpus`` CPUs and ``num_gpus`` GPUs (fractions pack several small
runs on one GPU). The remote function is declared with ``max_calls=0``, so a worker
process serves run after run (Ray would otherwise restart a GPU worker, and re-import
torch, for every run). Progress goes to a small actor (:class:`ProgressInbox`, one per
Ray connection, kept between sweeps) without waiting for an answer; the coordinator drains it without waiting either, so a slow
actor never holds back the runs' results. A task writes its run file into the sweep folder when it sees the coordinator's
marker file there (a shared file system), and otherwise sends the finished file's bytes
back. A cancel removes queued tasks, then interrupts running ones (their files end
``cancelled``). Tasks are not retried: a worker that dies leaves its run ``interrupted``.

Ray is an optional extra (``pip install -e ".[ray]"``), imported only when a sweep uses
this backend.
"""

from __future__ import annotations

import collections
import functools
import os
import time
import uuid
from typing import Any, Sequence

from ..params import ParamError
from .backends import PROGRESS_HZ, Backend, Event, Finished, NotStarted, RunTask, execute, refuse
from .ray_inbox import NAME as INBOX
from .ray_inbox import ProgressInbox
from .sweepfile import SweepError

MISSING_RAY = (
    'the ray backend needs Ray, which is not installed: pip install -e ".[ray]" '
    '(or pip install "ray[default]"), or use --backend local'
)
#: name of the file whose presence tells a task it shares the coordinator's file system
MARKER = ".noiselab-shared-fs"
#: how long a cancel waits for queued tasks to leave before it stops the running ones
CANCEL_WAIT_S = 30.0


def import_ray():
    """The ``ray`` module, or a :class:`SweepError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SweepError(MISSING_RAY) from None
    return ray


#: the inbox of the current Ray connection, held here since a named actor goes when its
#: last handle does: ((job id, driver's node id), handle). Job ids restart with every
#: cluster, node ids do not, so the pair names one connection.
_inbox: tuple[tuple[str, str], Any] | None = None


def progress_inbox(ray):
    """This connection's :class:`ProgressInbox`, started on first use and kept, so a sweep
    does not wait for an actor process to start."""
    global _inbox
    ctx = ray.get_runtime_context()
    key = (ctx.get_job_id(), ctx.get_node_id())
    if _inbox is None or _inbox[0] != key:  # a handle of an earlier connection is dead
        _inbox = key, ray.remote(ProgressInbox).options(name=INBOX, get_if_exists=True, num_cpus=0).remote()
    return _inbox[1]


def _task(task: RunTask, inbox, marker: str, token: str, files: str) -> Finished:
    """The body of one Ray task (runs on a worker)."""
    import ray

    try:
        with open(marker) as f:
            shared = f.read() == token
    except OSError:
        shared = False
    return execute(
        task,
        functools.partial(inbox.put.remote, token),
        write_here=shared and files != "returned",
        node=ray.get_runtime_context().get_node_id(),
    )


class RayBackend(Backend):
    """``files``: ``auto`` (shared folder when the marker is visible), or ``returned``
    (always send the file's bytes back)."""

    name = "ray"

    def __init__(self, address: str = "", num_cpus: float = 1.0, num_gpus: float = 0.0, files: str = "auto"):
        if num_cpus < 0 or num_gpus < 0:
            raise ParamError(
                "--cpus-per-run" if num_cpus < 0 else "--gpus-per-run",
                min(num_cpus, num_gpus),
                "a number of CPUs or GPUs per run >= 0",
            )
        self.address, self.num_cpus, self.num_gpus, self.files = address, num_cpus, num_gpus, files
        self.ray = import_ray()
        self.refs: dict[Any, int] = {}
        self.started_ray = False
        self.inbox: Any = None  # a Ray actor handle once started
        self.events: collections.deque = collections.deque()
        self.drained = 0.0  # when the inbox was last asked for its events (time.monotonic)
        self.draining = None  # that request, until its answer is in
        self.marker = ""

    @classmethod
    def from_options(cls, *, jobs=1, address="", num_cpus=None, num_gpus=None) -> RayBackend:
        refuse(cls.name, jobs=jobs if jobs != 1 else None)
        return cls(address or "", 1.0 if num_cpus is None else num_cpus, num_gpus or 0.0)

    def check(self, values: dict) -> None:
        if values["device"] == "cuda" and not self.num_gpus:
            raise ParamError("device", "cuda", "cpu or auto unless each run gets a GPU (--gpus-per-run, e.g. 0.25)")

    def describe(self) -> dict:
        return {
            "name": self.name,
            "address": self.address or "local instance",
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
        }

    def start(self, tasks: Sequence[RunTask], folder: str) -> None:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address or None, include_dashboard=False, log_to_driver=False)
            self.started_ray = True
        self.inbox = progress_inbox(ray)
        token = self.token = uuid.uuid4().hex
        self.marker = os.path.join(os.path.abspath(folder), MARKER)
        with open(self.marker, "w") as f:
            f.write(token)
        # a rerun would meet the file its killed attempt left: a lost run is reported, not retried
        remote = ray.remote(max_calls=0, max_retries=0)(_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        self.refs = {remote.remote(t, self.inbox, self.marker, token, self.files): t.index for t in tasks}
        self.waiting = list(self.refs)
        self.started: set[int] = set()  # tasks that have reported progress

    def next_event(self, timeout: float) -> Event | None:
        now = time.monotonic()
        if self.draining is None and now - self.drained >= 1.0 / PROGRESS_HZ:  # a few times a second
            self.draining, self.drained = self.inbox.drain.remote(self.token), now
        if not self.events:
            refs = self.waiting + ([self.draining] if self.draining is not None else [])
            if not refs:
                return None
            wait = 1.0 / PROGRESS_HZ if self.draining is not None else self.drained + 1.0 / PROGRESS_HZ - now
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=max(0.0, min(timeout, wait)))
            if not ready:
                return None
            if ready[0] == self.draining:
                self.events.extend(self.ray.get(self.draining))
                self.draining = None
            else:
                return self._result(ready[0])
        if not self.events:
            return None
        ev = self.events.popleft()
        self.started.add(ev.index)
        return ev

    def _result(self, ref) -> Event:
        self.waiting.remove(ref)
        index = self.refs[ref]
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return NotStarted(index)
        except self.ray.exceptions.RayError as e:  # the worker died (killed, out of memory, node lost)
            return Finished(index, "interrupted", {}, f"the Ray task ended without a result: {type(e).__name__}")

    def cancel(self) -> None:
        """Queued tasks first, and only once they are gone the running ones: a CPU freed
        by a cancelled run must not start a queued one."""
        queued = [ref for ref in self.waiting if self.refs[ref] not in self.started]
        for ref in queued:
            self.ray.cancel(ref)
        self.ray.wait(queued, num_returns=len(queued), timeout=CANCEL_WAIT_S, fetch_local=False)
        for ref in self.waiting:
            if ref not in queued:
                self.ray.cancel(ref)

    def close(self) -> None:
        if self.inbox is not None:
            self.inbox.forget.remote(self.token)
        if self.marker and os.path.exists(self.marker):
            os.remove(self.marker)
        if self.started_ray:
            self.ray.shutdown()
