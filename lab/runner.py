"""Run one experiment into one run file, recording how it ended.

The same function serves the command line, the GUI worker, sweeps and tests, so a run
file never depends on who started it.
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

import torch

from . import experiments
from .context import Cancelled, Diverged, Listener, RunContext
from .data.source import DataError
from .device import resolve_device
from .experiments import ExperimentLike
from .interrupts import cancel_on_signals
from .live import new_run_data
from .provenance import provenance
from .runfile import RunFileError, RunWriter


def default_run_dir() -> str:
    """Where runs go unless told otherwise: ``$NOISELAB_RUNS`` or ``~/noiselab-runs``."""
    return os.environ.get("NOISELAB_RUNS") or os.path.join(os.path.expanduser("~"), "noiselab-runs")


def new_run_path(out_dir: str, experiment: str, tag: str = "") -> str:
    """A fresh, sortable file name: ``ols-fig1-g-20261123-142501-3fa2.h5``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parts = [experiment] + ([tag] if tag else []) + [stamp, uuid.uuid4().hex[:4]]
    return os.path.join(out_dir, "-".join(parts) + ".h5")


@dataclass
class RunResult:
    """How a run ended: its file, final status, summary, error text and divergence step."""

    path: str
    status: str
    summary: dict
    error: str = ""
    diverged_step: int = -1


def prepare(name: str, values: Mapping[str, Any]) -> tuple[ExperimentLike, dict]:
    """The experiment and its validated, checked parameters (raises ParamError)."""
    exp = experiments.get(name)
    return exp, exp.validate(values)


def _run_child(
    experiment: str, values: Mapping[str, Any], out_dir: str, tag: str, cancel_event: threading.Event, listeners: list
) -> RunResult:
    return run_experiment(
        experiment, values, out_dir=out_dir or None, tag=tag, cancel_event=cancel_event, listeners=listeners
    )


def run_experiment(
    name: str,
    values: Mapping[str, Any],
    *,
    path: str | None = None,
    out_dir: str | None = None,
    tag: str = "",
    cancel_event: threading.Event | None = None,
    listeners: Iterable[Listener] = (),
    command: str | None = None,
) -> RunResult:
    """Validate and check, lay out, create the run file, run, and record the final status.

    Parameter errors (the spec's and the experiment's ``check``: combinations, data
    folders, teachers, CUDA) raise before any file is made. The layout is computed once
    and announced to the listeners as the first event, ``("layout", path, RunData)``.
    Anything raised by the experiment is recorded in the file (``failed`` with the
    traceback) and returned, not re-raised: what was written stays readable. A file that
    cannot be written any more (a full disk) ends ``failed`` with the reason. SIGINT,
    SIGTERM and SIGHUP cancel the run (:mod:`lab.interrupts`); a KeyboardInterrupt raised
    anyway (no handler outside the main thread) records ``cancelled`` and is re-raised.
    ``command`` is stored as the file's
    provenance (default: this process's command line; the window passes ``window``).
    """
    exp, params = prepare(name, values)
    for module in getattr(exp, "preload", ()):
        importlib.import_module(module)
    device = resolve_device(params["device"])
    path = os.path.abspath(path or new_run_path(out_dir or default_run_dir(), name, tag))
    seed = int(params["seed"])
    torch.manual_seed(seed)
    layout = exp.layout(params)
    writer = RunWriter(
        path,
        experiment=name,
        params=params,
        seed=seed,
        device=str(device),
        layout=layout,
        attrs=provenance(command, device),
    )
    listeners = list(listeners)
    start = new_run_data(path, name, params, seed, str(device), layout)
    for fn in listeners:
        fn("layout", path, start)
    ctx = RunContext(
        writer, device=device, seed=seed, cancel_event=cancel_event, listeners=listeners, run_child=_run_child
    )
    status, error, step, interrupt = "completed", "", -1, None
    with cancel_on_signals(ctx.cancel) as caught:  # also while the end is written
        try:
            ctx.summary.update(exp.run(params, ctx) or {})
            if ctx.cancelled:
                status = "cancelled"
        except Cancelled:
            status = "cancelled"
        except Diverged as e:
            status, error, step = "diverged", str(e), e.step
        except KeyboardInterrupt as e:
            status, interrupt = "cancelled", e
        except (RunFileError, DataError) as e:  # a full disk, a data folder or teacher file: a message
            status, error = "failed", str(e)
        except Exception:  # recorded in the run file and returned to the caller
            status, error = "failed", traceback.format_exc()
        if status == "cancelled" and caught["signal"]:
            error = f"cancelled by {caught['signal']}"
        try:
            status, error = writer.finish(status, summary=ctx.summary, error=error, diverged_step=step)
        except RunFileError as e:
            status, error = "failed", (error + "\n" if error else "") + str(e)
    if interrupt is not None:
        raise interrupt
    return RunResult(path, status, dict(ctx.summary), error, step)
