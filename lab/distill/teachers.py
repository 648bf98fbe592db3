"""Teachers are runs: a finished run file holding final weights (``weights/<key>`` and the
``weights_keys`` attribute written by :func:`lab.training.save_weights`), from the
``supervised`` experiment or from ``distill`` itself.

A student records the teacher's absolute path and the SHA-256 of its weights (root
attributes ``teacher_path`` and ``teacher_sha256``), so the chain teacher -> student can
always be traced; :func:`verify_teacher` re-checks it when the student is reopened.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..runfile import RunData, RunFileError, read_run

PREFIX = "weights"


class TeacherError(RunFileError):
    """A teacher file that is missing, has no weights, or changed since a student used it."""


def weights_sha256(arrays: Mapping[str, np.ndarray], keys: list[str], prefix: str = PREFIX) -> str:
    """SHA-256 over the weight bytes in state-dict order; each entry contributes its key,
    dtype and shape before its C-ordered bytes, so renaming or reshaping changes it too."""
    h = hashlib.sha256()
    for key in keys:
        a = np.ascontiguousarray(arrays[f"{prefix}/{key}"])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class Teacher:
    """A teacher run read from disk: its path, run data, weight keys and hash."""

    path: str
    run: RunData
    keys: list[str]
    sha256: str

    @property
    def params(self) -> dict:
        return self.run.header.params

    @property
    def test_acc(self) -> float:
        return float(self.run.header.summary.get("test_acc", float("nan")))


def load_teacher(path: str) -> Teacher:
    """Read a teacher run; a clear :class:`TeacherError` if it cannot serve as one."""
    if not path:
        raise TeacherError("no teacher given: set teacher=FILE.h5 to a finished run with final weights "
                           "(a 'supervised' or 'distill' run), or leave it empty to train one first")
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise TeacherError(f"teacher file {path} does not exist; choose a finished 'supervised' or "
                           "'distill' run file")
    run = read_run(path)
    keys_text = run.header.attrs.get(f"{PREFIX}_keys")
    if run.header.status not in ("completed", "cancelled"):
        raise TeacherError(f"teacher file {path} holds no final weights (status '{run.header.display_status}'); "
                           "choose a run that completed")
    if not keys_text:
        raise TeacherError(f"teacher file {path} is a '{run.header.experiment}' run, which saves no network "
                           "weights; choose a 'supervised' or 'distill' run")
    keys = json.loads(keys_text)
    missing = [k for k in keys if f"{PREFIX}/{k}" not in run.arrays]
    if missing:
        raise TeacherError(f"teacher file {path} lists weights it does not hold ({missing[:3]}); it is damaged")
    return Teacher(path, run, keys, weights_sha256(run.arrays, keys))


def record_teacher(ctx: Any, teacher: Teacher) -> None:
    """Note the link in the student's run file (call before the first logged row)."""
    ctx.attr("teacher_path", teacher.path)
    ctx.attr("teacher_sha256", teacher.sha256)
    ctx.attr("teacher_experiment", teacher.run.header.experiment)
    ctx.attr("teacher_test_acc", teacher.test_acc)


def verify_teacher(student: RunData) -> Teacher | None:
    """Check that the teacher a student recorded is still there and unchanged.

    Returns the teacher (``None`` for a student trained without one) or raises
    :class:`TeacherError` saying what happened and what the user can do.
    """
    attrs = student.header.attrs
    path, recorded = attrs.get("teacher_path", ""), attrs.get("teacher_sha256", "")
    if not path:
        return None
    if not os.path.exists(path):
        raise TeacherError(f"the teacher of {student.header.path} was {path}, which is missing now; "
                           "the student's own curves are intact, but the link to its teacher is broken "
                           "(restore the file or move it back to that path)")
    try:
        teacher = load_teacher(path)
    except RunFileError as e:
        raise TeacherError(f"the teacher of {student.header.path} ({path}) cannot be read any more: {e}") from None
    if teacher.sha256 != recorded:
        raise TeacherError(f"the teacher file {path} changed since {student.header.path} was distilled from it: "
                           f"its weights hash to {teacher.sha256[:12]}..., the student recorded "
                           f"{recorded[:12]}...; the file was overwritten or edited")
    return teacher
