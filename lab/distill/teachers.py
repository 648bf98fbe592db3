"""Teachers are runs: a finished run file holding final weights (``weights/<key>`` and the
``weights_keys`` attribute written by :func:`lab.training.save_weights`), from the
``supervised`` experiment or from ``distill`` itself.

A student records the teacher's absolute path and the SHA-256 of its weights (root
attributes ``teacher_path`` and ``teacher_sha256``), so the chain teacher -> student can
always be traced; :func:`verify_teacher` re-checks it when the student is reopened.

Before anything is built (:func:`check_teacher_file`, from the experiment's ``check``) a
teacher file's parameters are validated by its experiment's spec, and the memory its
network needs is estimated from them: :data:`BYTES_PER_WEIGHT` bytes per state-dict
entry (its float32 weights as read from the file, and again in the model), the entries
counted by building the network on PyTorch's meta device (nothing allocated). A file
whose parameters are invalid, or ask for more memory than is available, is refused then.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..data import DATA_PARAMS, data_shape
from ..memory import refuse_over
from ..models import model_from_params
from ..params import ParamError, Spec
from ..runfile import RunData, RunFileError, RunHeader, read_header, read_run
from ..training import rebuild_model
from ..training.trained import model_values

PREFIX = "weights"
#: bytes a teacher needs per weight: float32 read from its file, and float32 in its model
BYTES_PER_WEIGHT = 8


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


def _teacher_header(path: str) -> tuple[str, RunHeader]:
    if not path:
        raise TeacherError(
            "no teacher given: set teacher=FILE.h5 to a finished run with final weights "
            "(a 'supervised' or 'distill' run), or leave it empty to train one first"
        )
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise TeacherError(f"teacher file {path} does not exist; choose a finished 'supervised' or 'distill' run file")
    header = read_header(path)
    if header.status not in ("completed", "cancelled"):
        raise TeacherError(
            f"teacher file {path} holds no final weights (status '{header.display_status}'); "
            "choose a run that completed"
        )
    if not header.attrs.get(f"{PREFIX}_keys"):
        raise TeacherError(
            f"teacher file {path} is a '{header.experiment}' run, which saves no network "
            "weights; choose a 'supervised' or 'distill' run"
        )
    return path, header


#: data parameters that change the inputs a network sees: the standardisation of images, the
#: mixture itself for ``gaussian`` (feature vectors are standardised per feature either way)
SAME_INPUTS = {"gaussian": ("gaussian_classes", "gaussian_dim", "gaussian_separation", "data_seed")}
IMAGE_INPUTS = ("normalise",)


def check_teacher_fits(path: str, teacher_params: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    """The teacher saw the student's data set and inputs, and has dropout where the method
    needs it (``fickle-teacher``); raises :class:`TeacherError` saying what differs."""
    tp = teacher_params
    if tp.get("dataset") != params["dataset"]:
        raise TeacherError(
            f"teacher {path} was trained on '{tp.get('dataset')}', the student uses "
            f"'{params['dataset']}'; choose a teacher of the same data set"
        )
    keys = SAME_INPUTS.get(params["dataset"], IMAGE_INPUTS)
    defaults = {p.name: p.default for p in DATA_PARAMS}
    differ = [
        f"{k}={tp.get(k, defaults[k])!r} (student: {params[k]!r})" for k in keys if tp.get(k, defaults[k]) != params[k]
    ]
    if differ:
        raise TeacherError(
            f"teacher {path} saw other inputs than the student: {', '.join(differ)}; "
            "set these as the teacher had them, or leave teacher empty to train a matching one"
        )
    if params["method"] == "fickle-teacher" and not float(tp.get("dropout", 0.0)) > 0:
        raise TeacherError(
            f"fickle-teacher needs a teacher with dropout; {path} has none "
            "(train it with dropout > 0, or leave teacher empty and set teacher_dropout)"
        )


def teacher_params(path: str, header: RunHeader, spec_of: Callable[[str], Spec]) -> dict:
    """The teacher's recorded parameters validated by its experiment's spec (names the
    spec does not know, left by older versions, are ignored); :class:`TeacherError`
    naming the parameter that is not allowed."""
    try:
        spec = spec_of(header.experiment)
        return spec.validate({k: v for k, v in header.params.items() if k in spec})
    except ParamError as e:
        raise TeacherError(
            f"teacher file {path} records parameters its '{header.experiment}' experiment does not accept ({e}); "
            "it was edited or damaged, choose another teacher"
        ) from None


def teacher_weights(params: Mapping[str, Any]) -> int:
    """Entries of the state dict of the network ``params`` describe (what
    :func:`lab.training.rebuild_model` builds), counted on the meta device."""
    shape, classes = data_shape(params)
    with torch.device("meta"):
        model = model_from_params(model_values(params), SimpleNamespace(input_shape=shape, num_classes=classes))
    return sum(v.numel() for v in model.state_dict().values())


def check_teacher_file(params: Mapping[str, Any], spec_of: Callable[[str], Spec]) -> None:
    """Everything about ``params['teacher']`` that can be known from its header alone:
    it fits the student, its parameters are valid (``spec_of(experiment)`` is the spec
    of its experiment) and its network fits in memory (else a :class:`ParamError` for
    ``teacher`` with the estimate, from :func:`lab.memory.refuse_over`)."""
    path, header = _teacher_header(params["teacher"])
    check_teacher_fits(path, header.params, params)
    n = teacher_weights(teacher_params(path, header, spec_of))
    refuse_over(
        "teacher",
        path,
        BYTES_PER_WEIGHT * n,
        f"the teacher's {n:,} weights, read from its file and built into its model",
    )


def build_teacher(teacher: Teacher, params: Mapping[str, Any], data, device) -> torch.nn.Module:
    """The teacher network with its final weights, in eval mode (dropout at the student's
    ``teacher_dropout`` for ``fickle-teacher`` when that is > 0)."""
    check_teacher_fits(teacher.path, teacher.params, params)
    try:
        model = rebuild_model(teacher.params, teacher.run.arrays, data, PREFIX)
    except (KeyError, RuntimeError) as e:
        raise TeacherError(f"teacher {teacher.path}: its weights do not fit its recorded model ({e})") from None
    model.to(device).eval()
    if params["method"] == "fickle-teacher" and params["teacher_dropout"] > 0:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = float(params["teacher_dropout"])
    return model


def load_teacher(path: str) -> Teacher:
    """Read a teacher run; a clear :class:`TeacherError` if it cannot serve as one."""
    path, _ = _teacher_header(path)
    run = read_run(path)
    keys = json.loads(run.header.attrs[f"{PREFIX}_keys"])
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
        raise TeacherError(
            f"the teacher of {student.header.path} was {path}, which is missing now; "
            "the student's own curves are intact, but the link to its teacher is broken "
            "(restore the file or move it back to that path)"
        )
    try:
        teacher = load_teacher(path)
    except RunFileError as e:
        raise TeacherError(f"the teacher of {student.header.path} ({path}) cannot be read any more: {e}") from None
    if teacher.sha256 != recorded:
        raise TeacherError(
            f"the teacher file {path} changed since {student.header.path} was distilled from it: "
            f"its weights hash to {teacher.sha256[:12]}..., the student recorded "
            f"{recorded[:12]}...; the file was overwritten or edited"
        )
    return teacher
