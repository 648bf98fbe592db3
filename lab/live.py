"""The growing in-memory run: the twin of a run file that is being written, built from
the layout the runner announces and grown by the same rows the file receives.

A window that runs an experiment never reopens its file while it is written; it draws a
:class:`~lab.runfile.RunData` that :class:`RunGrower` keeps equal to the file: growable
datasets start empty and fixed ones filled, exactly as :class:`~lab.runfile.RunWriter`
declares them (one fill rule: :meth:`lab.runfile.Dataset.empty`).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .runfile import Dataset, RunData, RunHeader, utc_now


def new_run_data(
    path: str, experiment: str, params: Mapping[str, Any], seed: int, device: str, layout: Iterable[Dataset]
) -> RunData:
    """A ``running`` header and every dataset of ``layout`` as a new file holds it."""
    header = RunHeader(
        path=path,
        experiment=experiment,
        status="running",
        params=dict(params),
        seed=int(seed),
        created=utc_now(),
        finished="",
        device=device,
        summary={},
        error="",
        diverged_step=-1,
        versions={},
        last_heartbeat=time.time(),
        attrs={"writer": f"{socket.gethostname()}:{os.getpid()}"},
    )
    run = RunData(header)
    for d in layout:
        run.arrays[d.path] = d.empty()
        if d.growable:
            run.growable.add(d.path)
    return run


class RunGrower:
    """Grows a RunData in place as its run file grows, in amortised O(rows) per append:
    each growable dataset lives in a buffer with spare capacity (doubling) and
    ``run.arrays[path]`` is a view of its filled part."""

    def __init__(self, run: RunData):
        self.run = run
        self._buffers: dict[str, np.ndarray] = {}

    def apply(self, appends: Mapping[str, np.ndarray], saves: Sequence[tuple[str, np.ndarray, Any]] = ()) -> None:
        """Rows appended per growable dataset, then array saves in call order (``index``
        ``None`` replaces the array, else fills that part of it)."""
        for path, rows in appends.items():
            self._extend(path, rows)
        for path, array, index in saves:
            if index is None:
                self.run.arrays[path] = array
            else:
                self.run.arrays[path][index] = array

    def _extend(self, path: str, rows: np.ndarray) -> None:
        old = self.run.arrays.get(path)
        n0 = 0 if old is None else len(old)
        n = n0 + len(rows)
        buf = self._buffers.get(path)
        if buf is None or n > len(buf) or buf.shape[1:] != rows.shape[1:]:
            grown = np.empty((max(n, 2 * n0, 1024), *rows.shape[1:]), dtype=rows.dtype)
            if n0:
                grown[:n0] = old
            buf = self._buffers[path] = grown
        buf[n0:n] = rows
        self.run.arrays[path] = buf[:n]
        self.run.growable.add(path)
