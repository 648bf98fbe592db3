"""Knowledge distillation with noise: noisy self-distillation (label-noise paper, section 5;
SCIENCE.md section 2) and noise as a resource in distillation (SCIENCE.md section 6).

A student (any registry model) learns from a teacher, a finished run file with final
weights (``teacher=FILE.h5``, a ``supervised`` or ``distill`` run). The student's file
records the teacher's path and the SHA-256 of its weights
(:mod:`lab.distill.teachers`). With ``teacher`` empty the run first trains one: a
``supervised`` run of ``teacher_model`` with the same data and training parameters
(seed + 1, dropout ``teacher_dropout``), written beside the student's file and linked
like any other teacher. The methods are in :mod:`lab.distill.methods`.

Measured per epoch (one row, ``series/step`` = epoch): the engine's losses and
accuracies on train / validation / test, ``agree`` (fraction of test samples where
student and teacher predict the same class; the teacher in evaluation mode) and
``grad_norm`` = ``1/N sum_i ||d f(x_i)/d theta||^2`` summed over the L logits, on the
first ``grad_samples`` samples of the training split (a fixed subset, evaluation
mode). At the end, on the first ``robust_samples`` test samples, in pixel space
([0, 1] images: grey levels / 255, digits / 16): accuracy under Gaussian input noise
for each sigma (``robust/noise_sigma``, ``robust/noise_acc``) and under PGD. For a
``cifar10`` run, when their folders are given, accuracy on natural shifts
(:mod:`lab.distill.shift`): CIFAR-10-C per corruption and severity
(``robust/cifar10c_acc``, rows named by the dataset's ``corruptions`` attribute and the
root attribute ``cifar10c_corruptions``; ``robust/cifar10c_cond_acc`` given the clean
image is classified correctly) and CINIC-10's ImageNet test images.

Summary: ``test_acc``, ``grad_norm``, ``pgd_acc``, ``noise_acc`` (mean over the sigmas),
``agree``, ``cifar10c_acc`` (mCA), ``cifar10c_cond_acc``, ``cinic10_acc``, and the
teacher's ``teacher_val_acc``, ``teacher_test_acc`` and ``teacher_grad_norm`` measured
on the student's splits and gradient subset.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from ..data import DATA_PARAMS, NOISE_PARAMS, DataError, load_data, randomise_labels
from ..data.shifted import SEVERITIES, cifar10c_corruptions, cinic10_files
from ..distill.logit_noise import NOISES
from ..distill.measures import EpochMeasures, pixel_scale, robustness, shift_accuracy
from ..distill.methods import METHODS, TEACHERLESS, DistillHooks
from ..distill.teachers import TeacherError, build_teacher, check_teacher_file, load_teacher, record_teacher
from ..models import MODEL_NAMES, MODEL_PARAMS, model_from_params, n_parameters
from ..params import Param, ParamError, Spec
from ..runfile import Dataset, RunFileError
from ..training import (
    NOISE_RESOURCE_SCHEDULE,
    SELF_DISTILLATION_SCHEDULE,
    TRAINING_PARAMS,
    Trainer,
    check_network,
    network_layout,
)
from ..training.optim import OPTIMIZER_MODULES
from . import get
from ._common import RUN_PARAMS
from .base import Experiment

T, D, M = "Teacher", "Distillation", "Measurements"
DISTILL_PARAMS = (
    Param(
        "teacher",
        "path",
        "",
        group=T,
        help="Run file of the teacher (a finished supervised or distill run with final weights). "
        "Empty: train one first (teacher_model, same data and training parameters).",
    ),
    Param(
        "teacher_model",
        "choice",
        "same",
        choices=("same",) + MODEL_NAMES,
        group=T,
        help="Architecture of a teacher trained first by this run (same = the student's model).",
    ),
    Param(
        "teacher_dropout",
        "float",
        0.0,
        low=0.0,
        high=0.95,
        group=T,
        help="Dropout rate of a teacher trained first. For fickle-teacher with a teacher file: "
        "0 keeps the teacher's own rate, > 0 sets its dropout layers to this rate.",
    ),
    Param(
        "method",
        "choice",
        "kd",
        choices=METHODS,
        group=D,
        help="kd: Hinton's loss; noisy-logits: learn the teacher's logits with fresh noise each iteration; "
        "fickle-teacher: the teacher keeps dropout on; soft-randomization: noisy input to the student, "
        "clean to the teacher; gaussian-augmentation: student alone on noisy input; "
        "messy-collaboration: KD with labels randomised per batch at messy_rate.",
    ),
    Param(
        "noise",
        "choice",
        "gaussian",
        choices=NOISES,
        group=D,
        help="noisy-logits: gaussian adds N(0, sigma2 I_L); symmetric swaps each logit value with "
        "probability swap_p with another dimension chosen uniformly.",
    ),
    Param("sigma2", "float", 1.0, low=0.0, high=1e4, group=D, help="Variance of the Gaussian logit noise."),
    Param("swap_p", "float", 0.1, low=0.0, high=1.0, group=D, help="Swap probability of the symmetric logit noise."),
    Param(
        "distill_loss",
        "choice",
        "mse",
        choices=("mse", "kd"),
        group=D,
        help="noisy-logits: mse = 1/2 squared error on logits (the theory's setting) or Hinton's kd loss.",
    ),
    Param("alpha", "float", 0.9, low=0.0, high=1.0, group=D, help="KD weight of the soft (teacher) term."),
    Param("tau", "float", 4.0, low=0.01, high=100.0, group=D, help="KD temperature."),
    Param(
        "input_sigma",
        "float",
        0.1,
        low=0.0,
        high=10.0,
        group=D,
        help="Std of the Gaussian input noise of soft-randomization and gaussian-augmentation.",
    ),
    Param(
        "messy_rate",
        "float",
        0.1,
        low=0.0,
        high=1.0,
        group=D,
        help="messy-collaboration: probability that a label of a batch becomes a uniformly random class.",
    ),
    Param(
        "grad_samples",
        "int",
        256,
        low=0,
        high=100_000,
        group=M,
        help="Training samples in the fixed subset for the per-sample gradient norm (0 = off).",
    ),
    Param(
        "robust_samples",
        "int",
        1000,
        low=0,
        high=1_000_000,
        group=M,
        help="Test samples for the robustness evaluation at the end (0 = off).",
    ),
    Param(
        "noise_sigmas",
        "floats",
        [0.05, 0.1, 0.2, 0.3],
        low=0.0,
        high=10.0,
        group=M,
        help="Std of Gaussian input noise at which test accuracy is measured, comma separated.",
    ),
    Param("pgd_eps", "float", 8 / 255, low=0.0, high=1.0, group=M, help="PGD l_inf radius (8/255 = 0.0314)."),
    Param(
        "pgd_step",
        "float",
        2 / 255,
        low=0.0,
        high=1.0,
        group=M,
        help="PGD step size. Default 2/255 (Madry et al.'s eps/4 at 8/255); the noise-as-a-resource paper "
        "uses 0.03, nearly the whole radius per step, as its cifar10/svhn wrn presets do.",
    ),
    Param("pgd_steps", "int", 20, low=0, high=10_000, group=M, help="PGD iterations N (0 = no attack)."),
    Param("pgd_restarts", "int", 5, low=1, high=100, group=M, help="Random starts; the worst one counts."),
    Param(
        "cifar10c_root",
        "path",
        "",
        group=M,
        help="cifar10 runs: folder holding CIFAR-10-C/ (<corruption>.npy, labels.npy); accuracy per "
        "corruption and severity at the end. Empty: skip.",
    ),
    Param(
        "cinic10_root",
        "path",
        "",
        group=M,
        help="cifar10 runs: folder holding CINIC-10/test/<class>/*.png; accuracy on its ImageNet images "
        "at the end. Empty: skip.",
    ),
    Param(
        "shift_samples",
        "int",
        1000,
        low=0,
        high=1_000_000,
        group=M,
        help="Images per corruption and severity of CIFAR-10-C, and of CINIC-10 (a subset seeded by "
        "data_seed; 0 = all).",
    ),
)
SPEC = Spec(*DATA_PARAMS, *NOISE_PARAMS, *MODEL_PARAMS, *TRAINING_PARAMS, *DISTILL_PARAMS, *RUN_PARAMS)

_DIGITS = {
    "dataset": "digits",
    "model": "mlp",
    "mlp_widths": [256],
    "lr": 0.05,
    "weight_decay": 5e-4,
    "epochs": 15,
    "batch": 64,
    "schedule": "cosine",
    "grad_samples": 256,
    "robust_samples": 450,
    "pgd_steps": 10,
    "pgd_restarts": 2,
    "pgd_eps": 0.05,
    "pgd_step": 0.0125,
}
# the paper trains noisy students "as the teacher" after Hinton's KD: the kd loss on noisy logits
_PAPER_SELF = {
    "model": "resnet56",
    **SELF_DISTILLATION_SCHEDULE,
    "method": "noisy-logits",
    "distill_loss": "kd",
    "grad_samples": 512,
}
_PAPER_KD = {
    "model": "wrn-16-2",
    "teacher_model": "wrn-40-2",
    **NOISE_RESOURCE_SCHEDULE,
    "method": "kd",
    "pgd_eps": 8 / 255,
    "pgd_step": 0.03,
    "pgd_steps": 20,
    "pgd_restarts": 5,
}
PRESETS = {
    "digits-kd": {**_DIGITS, "method": "kd"},
    # squared error on logits of a few tens: a smaller rate than CE, or the ReLUs die
    "digits-noisy-logits": {
        **_DIGITS,
        "method": "noisy-logits",
        "noise": "gaussian",
        "sigma2": 1.0,
        "distill_loss": "mse",
        "train_fraction": 0.8,
        "lr": 0.01,
    },
    "digits-symmetric": {
        **_DIGITS,
        "method": "noisy-logits",
        "noise": "symmetric",
        "swap_p": 0.3,
        "distill_loss": "mse",
        "train_fraction": 0.8,
        "lr": 0.01,
    },
    "digits-fickle-teacher": {**_DIGITS, "method": "fickle-teacher", "teacher_dropout": 0.3},
    "digits-soft-randomization": {**_DIGITS, "method": "soft-randomization", "input_sigma": 0.2},
    "digits-gaussian-augmentation": {**_DIGITS, "method": "gaussian-augmentation", "input_sigma": 0.2},
    "digits-messy-collaboration": {
        **_DIGITS,
        "method": "messy-collaboration",
        "messy_rate": 0.2,
        "noise_type": "symmetric",
        "noise_rate": 0.4,
    },
    "cifar10-resnet56-gaussian": {**_PAPER_SELF, "dataset": "cifar10", "noise": "gaussian", "sigma2": 1.0},
    "cifar10-resnet56-symmetric": {**_PAPER_SELF, "dataset": "cifar10", "noise": "symmetric", "swap_p": 0.1},
    "svhn-resnet56-gaussian": {**_PAPER_SELF, "dataset": "svhn", "noise": "gaussian", "sigma2": 1.0},
    "cifar10-wrn40-2-wrn16-2": {**_PAPER_KD, "dataset": "cifar10"},
    "svhn-wrn40-2-wrn16-2": {**_PAPER_KD, "dataset": "svhn"},
    "cifar10-wrn-fickle-teacher": {
        **_PAPER_KD,
        "dataset": "cifar10",
        "method": "fickle-teacher",
        "teacher_dropout": 0.1,
        "epochs": 250,
        "milestones": [75, 150, 200],
    },
    "cifar10-wrn-soft-randomization": {
        **_PAPER_KD,
        "dataset": "cifar10",
        "method": "soft-randomization",
        "input_sigma": 0.05,
    },
    "cifar10-wrn-messy-collaboration": {
        **_PAPER_KD,
        "dataset": "cifar10",
        "method": "messy-collaboration",
        "messy_rate": 0.1,
        "noise_type": "symmetric",
        "noise_rate": 0.2,
    },
}
EXTRA_SERIES = ("agree", "grad_norm")
SHIFT_ROOTS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "cifar10c_root": ("CIFAR-10-C", cifar10c_corruptions),
    "cinic10_root": ("CINIC-10", cinic10_files),
}


def check_teacher(params: Mapping[str, Any]) -> None:
    """A teacher file that can serve this student, or a run that can train its own."""
    if params["method"] in TEACHERLESS:
        return
    if not params["teacher"]:
        if params["method"] == "fickle-teacher" and params["teacher_dropout"] <= 0:
            raise ParamError(
                "teacher_dropout",
                params["teacher_dropout"],
                "a rate > 0 for fickle-teacher when the run trains its own teacher (or a teacher "
                "file trained with dropout)",
            )
        return
    try:
        check_teacher_file(params, lambda experiment: get(experiment).spec)
    except RunFileError as e:  # TeacherError included: the header says the file cannot serve
        raise ParamError("teacher", params["teacher"], f"a teacher run file that fits this student: {e}") from None


def check_shift_roots(params: Mapping[str, Any]) -> None:
    """The shifted test sets' folders: only for cifar10, and each must hold its set."""
    for name, (title, listing) in SHIFT_ROOTS.items():
        root = params[name]
        if not root:
            continue
        if params["dataset"] != "cifar10":
            raise ParamError(
                name, root, f"empty for dataset '{params['dataset']}': {title} tests models trained on cifar10"
            )
        try:
            listing(root)
        except DataError as e:
            raise ParamError(name, root, f"a folder holding {title} ({e})") from None


def layout(params: Mapping[str, Any]) -> list[Dataset]:
    k = len(params["noise_sigmas"])
    return (
        network_layout(params, *EXTRA_SERIES)
        + shift_layout(params)
        + [Dataset("robust/noise_sigma", (k,), growable=False), Dataset("robust/noise_acc", (k,), growable=False)]
    )


def shift_layout(params: Mapping[str, Any]) -> list[Dataset]:
    """``robust/cifar10c_acc`` / ``robust/cifar10c_cond_acc`` (corruptions x 5) when a
    CIFAR-10-C folder is set."""
    if not params["cifar10c_root"]:
        return []
    names = cifar10c_corruptions(params["cifar10c_root"])
    return [
        Dataset(f"robust/{key}", (len(names), SEVERITIES), growable=False, attrs={"corruptions": names})
        for key in ("cifar10c_acc", "cifar10c_cond_acc")
    ]


def teacher_values(params: Mapping[str, Any]) -> dict:
    """Parameters of the ``supervised`` run that trains a teacher for ``params``."""
    spec = get("supervised").spec
    values = {k: v for k, v in params.items() if k in spec}
    if params["teacher_model"] != "same":
        values["model"] = params["teacher_model"]
    values["dropout"] = params["teacher_dropout"]
    values["seed"] = (int(params["seed"]) + 1) % 2**31
    return values


def train_teacher(params: Mapping[str, Any], ctx) -> str:
    """Train a teacher as a nested ``supervised`` run beside the student's file (half of
    the progress bar: the same schedule as the student's); its path."""
    result = ctx.child_run("supervised", teacher_values(params), tag="teacher", share=0.5)
    ctx.check_cancel()
    if result.status != "completed":
        last = result.error.strip().splitlines()[-1] if result.error else "nothing to distil from"
        raise TeacherError(f"training the teacher first ended '{result.status}' ({result.path}); {last}")
    return result.path


# ============================================================================ run ======
def run(params: Mapping[str, Any], ctx) -> dict:
    method = params["method"]
    teacher_path = params["teacher"]
    if method not in TEACHERLESS and not teacher_path:
        teacher_path = train_teacher(params, ctx)
        torch.manual_seed(int(params["seed"]))  # the student starts as it would from a teacher file
    data = load_data(params, ctx.device)
    teacher = None
    if teacher_path and method not in TEACHERLESS:
        info = load_teacher(teacher_path)
        teacher = build_teacher(info, params, data, ctx.device)
        record_teacher(ctx, info)
    data.save_labels(ctx)
    ctx.attr(
        "conventions",
        "noisy-logits mse loss: 1/2 ||S(x) - (T(x) + noise)||^2 summed over logits, "
        "mean over the batch; grad_norm: 1/N sum_i ||df(x_i)/dtheta||^2 summed over logits, "
        "eval mode, fixed training subset; robustness in pixel space [0, 1]. kd loss: "
        "(1 - alpha) CE + alpha tau^2 KL(T||S), KL(T||S) = sum_c softmax(T/tau)_c "
        "log(softmax(T/tau)_c / softmax(S/tau)_c), Hinton's form; the paper's Eq. 1 writes "
        f"D_KL(S||T). PGD: radius {params['pgd_eps']:.4g}, step {params['pgd_step']:.4g} "
        "(the paper: 0.031 and 0.03), worst of pgd_restarts random starts",
    )
    model = model_from_params(params, data).to(ctx.device)
    ctx.summary["n_parameters"] = n_parameters(model)
    gen = torch.Generator(device=ctx.device)
    gen.manual_seed(int(params["seed"]))
    scale, _ = pixel_scale(data)
    measures = EpochMeasures(data, teacher, int(params["grad_samples"]))
    ctx.summary.update(measures.teacher)
    hooks = DistillHooks(
        method,
        params,
        teacher,
        data.std / scale,
        gen,
        relabel=lambda y, rate, g: randomise_labels(y, rate, data.num_classes, g),
        epoch_measure=measures,
    )
    summary = Trainer(model, data, params, ctx, hooks).fit()
    summary.update(measures.last)
    if ctx.cancelled:
        return summary
    res = robustness(model, data, params, gen)
    ctx.save("robust/noise_sigma", params["noise_sigmas"])
    ctx.save("robust/noise_acc", res["noise_acc_per_sigma"])
    finite = [a for a in res["noise_acc_per_sigma"] if math.isfinite(a)]
    summary.update(pgd_acc=res["pgd_acc"], noise_acc=sum(finite) / len(finite) if finite else math.nan)
    summary.update(shift_accuracy(model, data, params, ctx))
    return summary


EXPERIMENT = Experiment(
    name="distill",
    title="Knowledge distillation with noise (noisy self-distillation, fickle teacher, soft randomisation, ...)",
    spec=SPEC,
    presets=PRESETS,
    checks=(check_network, check_shift_roots, check_teacher),
    layout=layout,
    run=run,
    order=30,
    preload=OPTIMIZER_MODULES,
)
