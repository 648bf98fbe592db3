"""The distill experiment end to end on digits: a teacher trained first in the same go,
the student reaching the teacher's accuracy, the teacher link and its hash check, the
methods' losses, and clear errors for teachers that cannot serve."""

import json
import math
import os
import shutil

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from lab.distill.losses import kd_loss, logit_mse
from lab.distill.methods import DistillHooks
from lab.distill.teachers import TeacherError, load_teacher, teacher_params, teacher_weights, verify_teacher
from lab.experiments import get
from lab.params import ParamError
from lab.runfile import read_header, read_run, set_attrs
from lab.runner import run_experiment

STUDENT = {
    "dataset": "digits",
    "model": "mlp",
    "mlp_widths": [128],
    "lr": 0.05,
    "batch": 64,
    "epochs": 8,
    "schedule": "cosine",
    "device": "cpu",
    "method": "kd",
    "grad_samples": 64,
    "robust_samples": 200,
    "noise_sigmas": "0.1,0.3",
    "pgd_eps": 0.05,
    "pgd_step": 0.02,
    "pgd_steps": 5,
    "pgd_restarts": 1,
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A student distilled with ``teacher`` empty: the run trains its teacher first."""
    res = run_experiment("distill", STUDENT, out_dir=str(tmp_path_factory.mktemp("chain")))
    assert res.status == "completed", res.error
    return res


def test_teacher_trained_first_is_linked_and_the_student_reaches_its_accuracy(chain):
    student = read_run(chain.path)
    attrs = student.header.attrs
    teacher = load_teacher(attrs["teacher_path"])
    assert teacher.run.header.experiment == "supervised"
    assert teacher.params["seed"] == STUDENT.get("seed", 0) + 1
    assert attrs["teacher_sha256"] == teacher.sha256
    s = chain.summary
    assert teacher.test_acc > 0.9
    assert s["teacher_test_acc"] == pytest.approx(teacher.test_acc, abs=1e-6)
    assert s["test_acc"] >= teacher.test_acc - 0.03
    assert s["agree"] > 0.93
    # one gradient-norm row per epoch (epoch 0 included), positive
    g = student["series/grad_norm"]
    assert len(g) == STUDENT["epochs"] + 1 and np.all(g > 0) and s["grad_norm"] == pytest.approx(g[-1])
    assert math.isfinite(s["teacher_grad_norm"]) and s["teacher_grad_norm"] > 0
    # robustness: noise hurts more with larger sigma, PGD hurts more than clean
    acc = student["robust/noise_acc"]
    np.testing.assert_allclose(student["robust/noise_sigma"], [0.1, 0.3])
    assert acc[1] < acc[0] <= 1.0
    assert s["noise_acc"] == pytest.approx(acc.mean())
    assert s["pgd_acc"] < s["test_acc"] - 0.05
    # the student's own weights are saved, so it can teach in turn
    assert load_teacher(chain.path).sha256 != teacher.sha256


def test_teacher_hash_is_checked_when_the_student_is_reopened(chain, tmp_path):
    student = read_run(chain.path)
    path = student.header.attrs["teacher_path"]
    assert verify_teacher(student).sha256 == student.header.attrs["teacher_sha256"]
    backup = tmp_path / "teacher.h5"
    shutil.copy(path, backup)
    try:
        with h5py.File(path, "r+") as f:
            key = next(k for k in f["weights"] if k.endswith("weight"))
            f["weights"][key][0, 0] += 1.0
        with pytest.raises(TeacherError, match="changed since .* was distilled from it"):
            verify_teacher(read_run(chain.path))
        os.remove(path)
        with pytest.raises(TeacherError, match="missing now"):
            verify_teacher(read_run(chain.path))
    finally:
        shutil.copy(backup, path)
    assert verify_teacher(read_run(chain.path)).sha256 == student.header.attrs["teacher_sha256"]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"method": "fickle-teacher"}, "fickle-teacher needs a teacher with dropout"),
        ({"dataset": "gaussian", "gaussian_dim": 64, "gaussian_classes": 10}, "trained on 'digits'"),
        ({"normalise": "feature"}, "normalise='channel' (student: 'feature')"),
    ],
)
def test_a_teacher_that_cannot_serve_is_refused_before_a_file_exists(chain, tmp_path, values, message):
    teacher = read_run(chain.path).header.attrs["teacher_path"]
    with pytest.raises(ParamError, match="teacher") as e:
        run_experiment("distill", {**STUDENT, "epochs": 1, "teacher": teacher, **values}, out_dir=str(tmp_path))
    assert e.value.name == "teacher" and message in str(e.value)
    assert not list(tmp_path.iterdir())


def test_a_teacher_of_another_mixture_or_without_weights_is_refused_with_a_clear_message(tmp_path):
    mixture = {"dataset": "gaussian", "gaussian_dim": 2, "model": "mlp", "mlp_widths": [8], "epochs": 1}
    teacher = run_experiment("supervised", mixture, out_dir=str(tmp_path / "t"))
    assert teacher.status == "completed", teacher.error
    with pytest.raises(ParamError, match=r"gaussian_dim=2 \(student: 3\)"):
        run_experiment(
            "distill", {**STUDENT, **mixture, "gaussian_dim": 3, "teacher": teacher.path}, out_dir=str(tmp_path / "s")
        )
    toy = run_experiment("nin-toy", {"steps": 5}, out_dir=str(tmp_path / "t"))
    with pytest.raises(ParamError, match="'nin-toy' run, which saves no network weights"):
        run_experiment("distill", {**STUDENT, "teacher": toy.path}, out_dir=str(tmp_path / "s"))
    assert not os.path.exists(tmp_path / "s")


def test_a_fickle_teacher_to_be_trained_without_dropout_is_refused_before_training(tmp_path):
    with pytest.raises(ParamError, match="teacher_dropout"):
        run_experiment(
            "distill", {**STUDENT, "method": "fickle-teacher", "teacher_dropout": 0.0}, out_dir=str(tmp_path)
        )
    assert not list(tmp_path.iterdir())  # neither a teacher nor a student file


def test_a_missing_teacher_file_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ParamError, match="nope.h5 does not exist"):
        run_experiment("distill", {**STUDENT, "teacher": str(tmp_path / "nope.h5")}, out_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ method losses ---
PARAMS = {
    "alpha": 0.9,
    "tau": 4.0,
    "noise": "gaussian",
    "sigma2": 2.0,
    "swap_p": 0.5,
    "distill_loss": "mse",
    "input_sigma": 0.2,
    "messy_rate": 0.5,
}


class Spy(nn.Module):
    """A linear map that remembers its last input."""

    def __init__(self, d=6, c=4, dropout=0.0):
        super().__init__()
        self.lin, self.drop = nn.Linear(d, c), nn.Dropout(dropout)

    def forward(self, x):
        self.seen = x.detach().clone()
        return self.lin(self.drop(x))


def _hooks(method, teacher, **over):
    return DistillHooks(
        method,
        {**PARAMS, **over},
        teacher,
        torch.full((6,), 0.5),
        torch.Generator().manual_seed(0),
        relabel=lambda y, r, g: torch.where(
            torch.rand(y.shape, generator=g) < r, torch.randint(0, 4, y.shape, generator=g), y
        ),
    )


@torch.no_grad()
def test_kd_and_noisy_logit_losses_use_the_teacher_as_defined():
    torch.manual_seed(0)
    teacher, student = Spy(), Spy()
    x, y = torch.randn(8, 6), torch.randint(0, 4, (8,))
    h = _hooks("kd", teacher)
    assert float(h.loss(student, x, y, None, 1)) == pytest.approx(float(kd_loss(student(x), teacher(x), y)))
    h = _hooks("noisy-logits", teacher)
    noise = torch.randn((8, 4), generator=torch.Generator().manual_seed(0)) * math.sqrt(2.0)
    expected = logit_mse(student(x), teacher(x) + noise)
    assert float(h.loss(student, x, y, None, 1)) == pytest.approx(float(expected), rel=1e-6)


@torch.no_grad()
def test_soft_randomization_feeds_noise_to_the_student_only_and_augmentation_needs_no_teacher():
    teacher, student = Spy(), Spy()
    x, y = torch.zeros(4000, 6), torch.zeros(4000, dtype=torch.long)
    _hooks("soft-randomization", teacher).loss(student, x, y, None, 1)
    assert torch.equal(teacher.seen, x)
    # pixel sigma 0.2 over a normalisation std of 0.5 -> 0.4 in normalised units
    assert float(student.seen.std()) == pytest.approx(0.4, rel=0.03)
    ga = _hooks("gaussian-augmentation", None)
    ga.loss(student, x, y, None, 1)
    assert float(student.seen.std()) == pytest.approx(0.4, rel=0.03)


def test_fickle_teacher_keeps_dropout_active_and_messy_collaboration_randomises_labels():
    teacher = Spy(dropout=0.5)
    h = _hooks("fickle-teacher", teacher)
    assert not teacher.training and teacher.drop.training
    x = torch.randn(16, 6)
    assert not torch.equal(teacher(x), teacher(x))
    _hooks("kd", teacher)
    assert not teacher.drop.training  # a plain teacher is deterministic
    h = _hooks("messy-collaboration", Spy())
    y = torch.zeros(20_000, dtype=torch.long)
    _, y2 = h.batch(None, y, None, 1)
    # rate 0.5, a uniform class among 4 (the true one included): 0.5 * 3/4 change
    assert float((y2 != y).float().mean()) == pytest.approx(0.375, abs=0.015)


def test_cancelling_while_the_teacher_trains_cancels_the_student_too(tmp_path):
    import threading

    stop = threading.Event()
    res = run_experiment(
        "distill",
        STUDENT,
        out_dir=str(tmp_path),
        cancel_event=stop,
        listeners=[lambda kind, name, payload: kind == "progress" and stop.set()],
    )
    assert res.status == "cancelled"
    teacher = [p for p in tmp_path.iterdir() if p.name.startswith("supervised-teacher")]
    assert len(teacher) == 1 and read_run(teacher[0]).header.status == "cancelled"


def _crafted_teacher(chain, tmp_path, **params):
    """A copy of the chain's teacher whose recorded parameters say ``params``."""
    teacher = read_run(chain.path).header.attrs["teacher_path"]
    path = str(tmp_path / "crafted-teacher.h5")
    shutil.copy(teacher, path)
    set_attrs(path, params=json.dumps({**read_header(path).params, **params}))
    assert read_header(path).params["mlp_widths"] == params.get("mlp_widths", STUDENT["mlp_widths"])
    return path


def test_a_teacher_whose_network_cannot_fit_in_memory_is_refused_with_the_estimate(chain, tmp_path, monkeypatch):
    monkeypatch.setenv("NOISELAB_MEMORY_MB", "16384")  # 16 GiB available, whatever the machine has
    path = _crafted_teacher(chain, tmp_path, mlp_widths=[80000, 80000])  # 6.4e9 weights: 25.6 GB of float32
    out = tmp_path / "student"
    with pytest.raises(ParamError) as e:
        run_experiment("distill", {**STUDENT, "epochs": 1, "teacher": path}, out_dir=str(out))
    n = 64 * 80000 + 80000 + 80000 * 80000 + 80000 + 80000 * 10 + 10  # digits 8x8 -> 80000 -> 80000 -> 10
    assert e.value.name == "teacher"
    assert f"the teacher's {n:,} weights" in str(e.value)
    assert f"about {8 * n / 2**30:,.1f} GiB" in str(e.value) and "16.0 GiB are available" in str(e.value)
    assert not out.exists()  # refused in check: no file of the student's run


def test_a_teacher_whose_recorded_parameters_are_invalid_is_refused_naming_the_parameter(chain, tmp_path):
    path = _crafted_teacher(chain, tmp_path, mlp_widths=[0])
    with pytest.raises(ParamError) as e:
        run_experiment("distill", {**STUDENT, "epochs": 1, "teacher": path}, out_dir=str(tmp_path / "student"))
    assert e.value.name == "teacher"
    assert "'supervised' experiment does not accept" in str(e.value) and "parameter 'mlp_widths'" in str(e.value)
    assert not (tmp_path / "student").exists()


def test_a_good_teacher_file_passes_the_check_and_its_estimate_is_its_stored_weights(chain, tmp_path, monkeypatch):
    teacher = load_teacher(read_run(chain.path).header.attrs["teacher_path"])
    stored = sum(teacher.run[f"weights/{k}"].size for k in teacher.keys)
    assert teacher_weights(teacher_params(teacher.path, teacher.run.header, lambda e: get(e).spec)) == stored
    monkeypatch.setenv("NOISELAB_MEMORY_MB", str(8 * stored / 2**20 * 1.01))  # just enough
    values = {**STUDENT, "epochs": 1, "teacher": teacher.path}
    get("distill").validate(values)
    monkeypatch.setenv("NOISELAB_MEMORY_MB", str(8 * stored / 2**20 * 0.99))  # just too little
    with pytest.raises(ParamError, match="settings that fit in memory"):
        get("distill").validate(values)
