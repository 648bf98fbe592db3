"""Many small real run files, fast: one written by :class:`lab.runfile.RunWriter`, the
others copies of it with their own attributes (parameters, summary, status, dates), so
thousands take seconds. Used by the library tests and ``benchmarks/bench_browser.py``."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone

import numpy as np

from lab.experiments import ols
from lab.runfile import Dataset, RunWriter, set_attrs

STATUSES = ("completed", "completed", "completed", "cancelled", "failed", "diverged")


def run_values(i: int) -> tuple[dict, dict, str]:
    """Parameters, summary and status of run ``i``: lr and batch vary, the summary's
    ``final_loss`` is ``1 / (i + 1)`` and ``score`` is ``i mod 97``."""
    params = dict(ols.SPEC.defaults(), lr=round(0.001 * (1 + i % 50), 6), batch=1 + i % 7, seed=i)
    return params, {"final_loss": 1.0 / (i + 1), "score": float(i % 97)}, STATUSES[i % len(STATUSES)]


def make_runs(folder: str, n: int, sweep_every: int = 10, start: int = 0) -> list[str]:
    """``n`` run files in ``folder``; every ``sweep_every``-th lies in a sweep folder
    ``sweep-<k>/`` (ten runs each). Returns their paths, run ``i`` at index ``i - start``."""
    os.makedirs(folder, exist_ok=True)
    template = os.path.join(folder, ".template.h5")
    if not os.path.exists(template):
        w = RunWriter(
            template,
            experiment="ols",
            params=run_values(0)[0],
            seed=0,
            device="cpu",
            layout=[Dataset("series/step", (), "i8")],
        )
        w.append("series/step", np.arange(10))
        w.finish("completed", summary=run_values(0)[1])
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    paths = []
    for i in range(start, start + n):
        sub = f"sweep-{i // (10 * sweep_every)}" if sweep_every and i % sweep_every == 0 else ""
        path = os.path.join(folder, sub, f"ols-{i:05d}.h5")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(template, path)
        params, summary, status = run_values(i)
        set_attrs(
            path,
            params=json.dumps(params),
            summary=json.dumps(summary),
            status=status,
            seed=i,
            created=(t0 + timedelta(minutes=i)).isoformat(timespec="seconds"),
            finished=(t0 + timedelta(minutes=i, seconds=1 + i % 30)).isoformat(timespec="seconds"),
        )
        paths.append(path)
    return paths
