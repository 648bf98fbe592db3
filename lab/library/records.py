"""One run of the library as a :class:`Record`: what its header says (or why it cannot
be read), where it lives in the runs folder, and its tags and note."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Iterable

from ..runfile import RunHeader

#: the status of a file whose header cannot be read
UNREADABLE = "unreadable"
#: what the browser's status filter offers
STATUSES_SHOWN = ("running", "completed", "cancelled", "failed", "diverged", "interrupted", UNREADABLE)


@dataclass
class Record:
    """A run file in the library. ``rel`` is its path relative to the runs folder,
    ``group`` the folder it lies in ("" at the top; a sweep's folder otherwise)."""

    rel: str
    mtime_ns: int
    size: int
    experiment: str = ""
    status: str = UNREADABLE
    created: str = ""
    finished: str = ""
    params: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    error: str = ""
    writer: str = ""
    heartbeat: float | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""
    #: tags or note edited since they were last written into the run file
    pending: bool = False

    @cached_property
    def group(self) -> str:
        return os.path.dirname(self.rel)

    @cached_property
    def name(self) -> str:
        return os.path.basename(self.rel)

    @property
    def display_status(self) -> str:
        """``interrupted`` for a run whose writer died; ``unreadable: why`` for a bad file."""
        if self.status == UNREADABLE:
            return f"{UNREADABLE}: {self.error}"
        return self.header().display_status if self.status == "running" else self.status

    def header(self) -> RunHeader:
        return RunHeader(
            path=self.rel,
            experiment=self.experiment,
            status=self.status,
            params=self.params,
            seed=int(self.params.get("seed", -1)),
            created=self.created,
            finished=self.finished,
            device="",
            summary=self.summary,
            error=self.error,
            diverged_step=-1,
            versions={},
            last_heartbeat=self.heartbeat,
            attrs={"writer": self.writer},
        )

    def prepared(self) -> Record:
        """This record with its derived values computed (on the thread that reads it,
        not on the one that shows it)."""
        _ = self.group, self.name, self.scalars
        return self

    @property
    def writing(self) -> bool:
        """A writer may hold the file: it says ``running`` and was not interrupted."""
        return self.status == "running" and self.display_status == "running"

    def duration_s(self) -> float:
        """Seconds from creation to the end (or to the last heartbeat of a run that has
        not ended); NaN if unknown."""
        start = _timestamp(self.created)
        end = _timestamp(self.finished) if self.finished else (self.heartbeat or math.nan)
        return end - start

    @cached_property
    def scalars(self) -> dict[str, float]:
        """The summary's scalar numbers (booleans and lists left out)."""
        return {k: float(v) for k, v in self.summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


#: the root attributes a record is made of (the others are not read)
FIELDS = (
    "format",
    "format_version",
    "experiment",
    "status",
    "created",
    "finished",
    "params",
    "summary",
    "error",
    "writer",
    "writer_start",
    "tags",
    "note",
)


def from_header(rel: str, mtime_ns: int, size: int, h: RunHeader) -> Record:
    """The record of a readable run file; tags and note as the file stores them."""
    return Record(
        rel,
        mtime_ns,
        size,
        h.experiment,
        h.status,
        h.created,
        h.finished,
        h.params,
        h.summary,
        h.error if h.status == "failed" else "",
        str(h.attrs.get("writer", "")),
        h.last_heartbeat,
        parse_tags(h.attrs.get("tags", "")),
        str(h.attrs.get("note", "")),
    )


def parse_tags(text) -> list[str]:
    """Tags from a run file's ``tags`` attribute or the browser's editor: separated by
    commas, blanks stripped, each once, in order."""
    out: list[str] = []
    for t in str(text).split(","):
        t = t.strip()
        if t and t not in out:
            out.append(t)
    return out


def unreadable(rel: str, mtime_ns: int, size: int, reason: str) -> Record:
    return Record(rel, mtime_ns, size, error=reason)


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return math.nan


def fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ",".join(fmt_value(x) for x in v) + "]"
    return str(v)


_DEFAULTS: dict[str, dict] = {}


def experiment_defaults(experiment: str) -> dict:
    """The experiment's default parameters ({} for one this Noise Lab does not have)."""
    if experiment not in _DEFAULTS:
        from .. import experiments  # here: reading records needs no experiment code (nor torch)
        from ..params import ParamError

        try:
            _DEFAULTS[experiment] = experiments.get(experiment).spec.defaults()
        except ParamError:
            _DEFAULTS[experiment] = {}
    return _DEFAULTS[experiment]


def changed_params(r: Record) -> dict:
    """The parameters that differ from the experiment's defaults (all if it is unknown)."""
    defaults = experiment_defaults(r.experiment)
    missing = object()
    return {k: v for k, v in r.params.items() if k != "device" and defaults.get(k, missing) != v}


def write_csv(records: Iterable[Record], path: str) -> int:
    """One row per run: file, experiment, status, created, then every parameter and every
    scalar summary value (``summary.<key>``) any of them has. Returns the rows written;
    raises OSError when the file cannot be written."""
    records = list(records)
    params = sorted({k for r in records for k in r.params})
    metrics = sorted({k for r in records for k in r.scalars})
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["file", "experiment", "status", "created", "tags", "note", *params, *(f"summary.{k}" for k in metrics)]
        )
        for r in records:
            m = r.scalars
            w.writerow(
                [
                    r.rel,
                    r.experiment,
                    r.display_status,
                    r.created,
                    ", ".join(r.tags),
                    r.note,
                    *(fmt_value(r.params[k]) if k in r.params else "" for k in params),
                    *(repr(m[k]) if k in m else "" for k in metrics),
                ]
            )
    return len(records)
