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
import os
from typing import Any, Mapping

import torch

from ..data import DATA_PARAMS, NOISE_PARAMS, DataError, load_data, randomise_labels
from ..data.shifted import SEVERITIES, cifar10c_corruptions, cinic10_files
from ..distill.grad_norm import mean_grad_norm
from ..distill.logit_noise import NOISES
from ..distill.methods import METHODS, TEACHERLESS, DistillHooks
from ..distill.robustness import noise_accuracy, pgd_accuracy
from ..distill.shift import cifar10c_accuracy, cinic10_accuracy
from ..distill.teachers import Teacher, TeacherError, load_teacher, record_teacher
from ..models import MODEL_NAMES, MODEL_PARAMS, model_from_params, n_parameters
from ..params import Param, ParamError, Spec, comma_items
from ..runfile import Dataset
from ..training import TRAINING_PARAMS, Trainer, load_weights, network_layout
from ._common import RUN_PARAMS

NAME = "distill"
TITLE = "Knowledge distillation with noise (noisy self-distillation, fickle teacher, soft randomisation, ...)"
ORDER = 30

T, D, M = "Teacher", "Distillation", "Measurements"
DISTILL_PARAMS = (
    Param("teacher", "path", "", group=T,
          help="Run file of the teacher (a finished supervised or distill run with final weights). "
               "Empty: train one first (teacher_model, same data and training parameters)."),
    Param("teacher_model", "choice", "same", choices=("same",) + MODEL_NAMES, group=T,
          help="Architecture of a teacher trained first by this run (same = the student's model)."),
    Param("teacher_dropout", "float", 0.0, low=0.0, high=0.95, group=T,
          help="Dropout rate of a teacher trained first. For fickle-teacher with a teacher file: "
               "0 keeps the teacher's own rate, > 0 sets its dropout layers to this rate."),
    Param("method", "choice", "kd", choices=METHODS, group=D,
          help="kd: Hinton's loss; noisy-logits: learn the teacher's logits with fresh noise each iteration; "
               "fickle-teacher: the teacher keeps dropout on; soft-randomization: noisy input to the student, "
               "clean to the teacher; gaussian-augmentation: student alone on noisy input; "
               "messy-collaboration: KD with labels randomised per batch at messy_rate."),
    Param("noise", "choice", "gaussian", choices=NOISES, group=D,
          help="noisy-logits: gaussian adds N(0, sigma2 I_L); symmetric swaps each logit value with "
               "probability swap_p with another dimension chosen uniformly."),
    Param("sigma2", "float", 1.0, low=0.0, high=1e4, group=D, help="Variance of the Gaussian logit noise."),
    Param("swap_p", "float", 0.1, low=0.0, high=1.0, group=D, help="Swap probability of the symmetric logit noise."),
    Param("distill_loss", "choice", "mse", choices=("mse", "kd"), group=D,
          help="noisy-logits: mse = 1/2 squared error on logits (the theory's setting) or Hinton's kd loss."),
    Param("alpha", "float", 0.9, low=0.0, high=1.0, group=D, help="KD weight of the soft (teacher) term."),
    Param("tau", "float", 4.0, low=0.01, high=100.0, group=D, help="KD temperature."),
    Param("input_sigma", "float", 0.1, low=0.0, high=10.0, group=D,
          help="Std of the Gaussian input noise of soft-randomization and gaussian-augmentation."),
    Param("messy_rate", "float", 0.1, low=0.0, high=1.0, group=D,
          help="messy-collaboration: probability that a label of a batch becomes a uniformly random class."),
    Param("grad_samples", "int", 256, low=0, high=100_000, group=M,
          help="Training samples in the fixed subset for the per-sample gradient norm (0 = off)."),
    Param("robust_samples", "int", 1000, low=0, high=1_000_000, group=M,
          help="Test samples for the robustness evaluation at the end (0 = off)."),
    Param("noise_sigmas", "str", "0.05,0.1,0.2,0.3", group=M,
          help="Std of Gaussian input noise at which test accuracy is measured, comma separated."),
    Param("pgd_eps", "float", 8 / 255, low=0.0, high=1.0, group=M,
          help="PGD l_inf radius (8/255 = 0.0314)."),
    Param("pgd_step", "float", 2 / 255, low=0.0, high=1.0, group=M, help="PGD step size."),
    Param("pgd_steps", "int", 20, low=0, high=10_000, group=M, help="PGD iterations N (0 = no attack)."),
    Param("pgd_restarts", "int", 5, low=1, high=100, group=M, help="Random starts; the worst one counts."),
    Param("cifar10c_root", "path", "", group=M,
          help="cifar10 runs: folder holding CIFAR-10-C/ (<corruption>.npy, labels.npy); accuracy per "
               "corruption and severity at the end. Empty: skip."),
    Param("cinic10_root", "path", "", group=M,
          help="cifar10 runs: folder holding CINIC-10/test/<class>/*.png; accuracy on its ImageNet images "
               "at the end. Empty: skip."),
    Param("shift_samples", "int", 1000, low=0, high=1_000_000, group=M,
          help="Images per corruption and severity of CIFAR-10-C, and of CINIC-10 (a subset seeded by "
               "data_seed; 0 = all)."),
)
SPEC = Spec(*DATA_PARAMS, *NOISE_PARAMS, *MODEL_PARAMS, *TRAINING_PARAMS, *DISTILL_PARAMS, *RUN_PARAMS)

_DIGITS = {"dataset": "digits", "model": "mlp", "mlp_widths": "256", "lr": 0.05, "weight_decay": 5e-4,
           "epochs": 15, "batch": 64, "schedule": "cosine", "grad_samples": 256, "robust_samples": 450,
           "pgd_steps": 10, "pgd_restarts": 2, "pgd_eps": 0.05, "pgd_step": 0.0125}
# the paper trains noisy students "as the teacher" after Hinton's KD: the kd loss on noisy logits
_PAPER_SELF = {"model": "resnet56", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "epochs": 200, "batch": 64,
               "schedule": "multistep", "milestones": "100,150", "gamma": 0.1, "train_fraction": 0.8,
               "method": "noisy-logits", "distill_loss": "kd", "grad_samples": 512}
_PAPER_KD = {"model": "wrn-16-2", "teacher_model": "wrn-40-2", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
             "epochs": 200, "batch": 128, "schedule": "multistep", "milestones": "60,120,150", "gamma": 0.2,
             "method": "kd"}
PRESETS = {
    "digits-kd": {**_DIGITS, "method": "kd"},
    # squared error on logits of a few tens: a smaller rate than CE, or the ReLUs die
    "digits-noisy-logits": {**_DIGITS, "method": "noisy-logits", "noise": "gaussian", "sigma2": 1.0,
                            "distill_loss": "mse", "train_fraction": 0.8, "lr": 0.01},
    "digits-symmetric": {**_DIGITS, "method": "noisy-logits", "noise": "symmetric", "swap_p": 0.3,
                         "distill_loss": "mse", "train_fraction": 0.8, "lr": 0.01},
    "digits-fickle-teacher": {**_DIGITS, "method": "fickle-teacher", "teacher_dropout": 0.3},
    "digits-soft-randomization": {**_DIGITS, "method": "soft-randomization", "input_sigma": 0.2},
    "digits-gaussian-augmentation": {**_DIGITS, "method": "gaussian-augmentation", "input_sigma": 0.2},
    "digits-messy-collaboration": {**_DIGITS, "method": "messy-collaboration", "messy_rate": 0.2,
                                   "noise_type": "symmetric", "noise_rate": 0.4},
    "cifar10-resnet56-gaussian": {**_PAPER_SELF, "dataset": "cifar10", "noise": "gaussian", "sigma2": 1.0},
    "cifar10-resnet56-symmetric": {**_PAPER_SELF, "dataset": "cifar10", "noise": "symmetric", "swap_p": 0.1},
    "svhn-resnet56-gaussian": {**_PAPER_SELF, "dataset": "svhn", "noise": "gaussian", "sigma2": 1.0},
    "cifar10-wrn40-2-wrn16-2": {**_PAPER_KD, "dataset": "cifar10"},
    "svhn-wrn40-2-wrn16-2": {**_PAPER_KD, "dataset": "svhn"},
    "cifar10-wrn-fickle-teacher": {**_PAPER_KD, "dataset": "cifar10", "method": "fickle-teacher",
                                   "teacher_dropout": 0.1, "epochs": 250, "milestones": "75,150,200"},
    "cifar10-wrn-soft-randomization": {**_PAPER_KD, "dataset": "cifar10", "method": "soft-randomization",
                                       "input_sigma": 0.05},
    "cifar10-wrn-messy-collaboration": {**_PAPER_KD, "dataset": "cifar10", "method": "messy-collaboration",
                                        "messy_rate": 0.1, "noise_type": "symmetric", "noise_rate": 0.2},
}
#: raw grey levels of a fully white pixel, where it is not 255
PIXEL_MAX = {"digits": 16.0}
EXTRA_SERIES = ("agree", "grad_norm")


def noise_sigmas(params: Mapping[str, Any]) -> list[float]:
    text = params["noise_sigmas"]
    try:
        values = [float(t) for t in comma_items(text)]
    except ValueError:
        values = [-1.0]
    if any(not (0.0 <= v <= 10.0) for v in values):
        raise ParamError("noise_sigmas", text, "numbers in [0, 10] separated by commas, e.g. 0.05,0.1,0.2")
    return values


def check_teacher_params(params: Mapping[str, Any]) -> None:
    """Combinations that would fail only after a teacher was trained; raises :class:`ParamError`."""
    if params["method"] == "fickle-teacher" and not params["teacher"] and params["teacher_dropout"] <= 0:
        raise ParamError("teacher_dropout", params["teacher_dropout"],
                         "a rate > 0 for fickle-teacher when the run trains its own teacher (or a teacher file "
                         "trained with dropout)")


def layout(params: Mapping[str, Any]):
    check_teacher_params(params)  # before the run file is made: a bad combination never leaves a file
    k = len(noise_sigmas(params))
    return (network_layout(params, *EXTRA_SERIES) + shift_layout(params)
            + [Dataset("robust/noise_sigma", (k,), growable=False), Dataset("robust/noise_acc", (k,), growable=False)])


SHIFT_ROOTS = {"cifar10c_root": ("CIFAR-10-C", cifar10c_corruptions), "cinic10_root": ("CINIC-10", cinic10_files)}


def shift_layout(params: Mapping[str, Any]) -> list[Dataset]:
    """Checks the shifted test sets' folders before the run starts (a :class:`ParamError`
    when one is set for a data set other than cifar10 or does not hold its set) and
    declares ``robust/cifar10c_acc`` / ``robust/cifar10c_cond_acc`` (corruptions x 5)."""
    found = {}
    for name, (title, check) in SHIFT_ROOTS.items():
        root = params[name]
        if not root:
            continue
        if params["dataset"] != "cifar10":
            raise ParamError(name, root, f"empty for dataset '{params['dataset']}': {title} tests models "
                                         "trained on cifar10")
        try:
            found[name] = check(root)
        except DataError as e:
            raise ParamError(name, root, f"a folder holding {title} ({e})") from None
    if "cifar10c_root" not in found:
        return []
    names = found["cifar10c_root"]
    return [Dataset(f"robust/{key}", (len(names), SEVERITIES), growable=False, attrs={"corruptions": names})
            for key in ("cifar10c_acc", "cifar10c_cond_acc")]


# ======================================================================== teacher ======
class _FollowCancel:
    """A cancel flag for a nested run that follows the outer run's context."""

    def __init__(self, ctx):
        self.ctx = ctx

    def is_set(self) -> bool:
        return self.ctx.cancelled

    def set(self) -> None:
        self.ctx.cancel()


def teacher_values(params: Mapping[str, Any]) -> dict:
    """Parameters of the ``supervised`` run that trains a teacher for ``params``."""
    from . import get

    spec = get("supervised").SPEC
    values = {k: v for k, v in params.items() if k in spec}
    if params["teacher_model"] != "same":
        values["model"] = params["teacher_model"]
    values["dropout"] = params["teacher_dropout"]
    values["seed"] = (int(params["seed"]) + 1) % 2**31
    return values


def train_teacher(params: Mapping[str, Any], ctx) -> str:
    """Train a teacher with a ``supervised`` run beside the student's file; its path.

    Progress covers both phases: the teacher's ``t`` batches out of ``t + s``, where the
    student's ``s`` is the teacher's total scaled by the ratio of their epochs (the same
    data and batch size); afterwards ``ctx.progress_base`` adds the teacher's batches to
    the student's reports."""
    from ..runner import default_run_dir, run_experiment

    out_dir = os.path.dirname(ctx.writer.path) if ctx.writer is not None else default_run_dir()
    values = teacher_values(params)
    ratio = int(params["epochs"]) / max(int(values["epochs"]), 1)
    seen = {"total": 0}

    def forward(kind, name, payload, fn):
        if kind == "progress":
            done, total = payload
            seen["total"] = total
            fn(kind, "teacher", (done, total + round(total * ratio)))

    progress = [lambda kind, name, payload, fn=fn: forward(kind, name, payload, fn) for fn in ctx.listeners]
    result = run_experiment("supervised", values, out_dir=out_dir, tag="teacher",
                            cancel_event=_FollowCancel(ctx), listeners=progress)
    ctx.progress_base = seen["total"]
    ctx.check_cancel()
    if result.status != "completed":
        raise TeacherError(f"training the teacher first ended '{result.status}' ({result.path}); "
                           f"{result.error.strip().splitlines()[-1] if result.error else 'nothing to distil from'}")
    return result.path


#: data parameters that change the inputs a network sees: the standardisation of images, the
#: mixture itself for ``gaussian`` (feature vectors are standardised per feature either way)
SAME_INPUTS = {"gaussian": ("gaussian_classes", "gaussian_dim", "gaussian_separation", "data_seed")}
IMAGE_INPUTS = ("normalise",)


def build_teacher(teacher: Teacher, params: Mapping[str, Any], data, device) -> torch.nn.Module:
    """The teacher network with its final weights, checked against the student's data."""
    tp = teacher.params
    if tp.get("dataset") != params["dataset"]:
        raise TeacherError(f"teacher {teacher.path} was trained on '{tp.get('dataset')}', the student uses "
                           f"'{params['dataset']}'; choose a teacher of the same data set")
    keys = SAME_INPUTS.get(params["dataset"], IMAGE_INPUTS)
    defaults = {p.name: p.default for p in DATA_PARAMS}
    differ = [f"{k}={tp.get(k, defaults[k])!r} (student: {params[k]!r})" for k in keys
              if tp.get(k, defaults[k]) != params[k]]
    if differ:
        raise TeacherError(f"teacher {teacher.path} saw other inputs than the student: {', '.join(differ)}; "
                           "set these as the teacher had them, or leave teacher empty to train a matching one")
    model = model_from_params({**{p.name: p.default for p in MODEL_PARAMS}, **tp}, data)
    try:
        load_weights(teacher.run.arrays, model)
    except (KeyError, RuntimeError) as e:
        raise TeacherError(f"teacher {teacher.path}: its weights do not fit its recorded model ({e})") from None
    model.to(device).eval()
    if params["method"] == "fickle-teacher":
        drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
        if not drops:
            raise TeacherError(f"fickle-teacher needs a teacher with dropout; {teacher.path} has none "
                               "(train it with dropout > 0, or leave teacher empty and set teacher_dropout)")
        if params["teacher_dropout"] > 0:
            for m in drops:
                m.p = float(params["teacher_dropout"])
    return model


# ================================================================== measurements ======
def pixel_scale(data) -> tuple[float, tuple | None]:
    """Raw units per pixel unit and the pixel bounds: (255 or 16, (0, 1)) for images,
    (1, None) for feature vectors, which have no valid range."""
    if data.x["test"].dtype == torch.uint8:
        return PIXEL_MAX.get(data.name, 255.0), (0.0, 1.0)
    return 1.0, None


def pixel_forward(model: torch.nn.Module, data):
    """``forward(x_pixels)`` -> logits, applying the data set's normalisation inside."""
    scale, _ = pixel_scale(data)
    mean, std = data.mean, data.std

    def forward(x):
        return model((x * scale - mean) / std)

    return forward


class EpochMeasures:
    """Per epoch: agreement with the teacher on the test split and the gradient norm on a
    fixed training subset. At construction, the teacher's own numbers on the student's
    splits (``teacher``: accuracies, gradient norm), the reference of the paper's Figure 2."""

    def __init__(self, data, teacher, n_grad: int):
        n_grad = min(n_grad, data.n_train)
        self.x_grad = next(data.batches("train", n_grad))[0] if n_grad > 0 else None
        self.teacher_pred: dict[str, torch.Tensor] = {}
        self.teacher: dict[str, float] = {}
        if teacher is not None:
            for split in ("val", "test"):
                if data.size(split):
                    with torch.no_grad():
                        pred = torch.cat([teacher(x).argmax(1) for x, _, _ in data.batches(split, 1024)])
                    self.teacher_pred[split] = pred
                    self.teacher[f"teacher_{split}_acc"] = float((pred == data.y[split]).float().mean())
            if self.x_grad is not None:
                self.teacher["teacher_grad_norm"] = mean_grad_norm(teacher, self.x_grad)
        #: the latest row, for the summary
        self.last: dict = {}

    def __call__(self, trainer, epoch, evals) -> dict:
        row = {"agree": math.nan, "grad_norm": math.nan}
        if "test" in self.teacher_pred and "test" in evals:
            row["agree"] = float((evals["test"].predictions == self.teacher_pred["test"]).float().mean())
        if self.x_grad is not None:
            row["grad_norm"] = mean_grad_norm(trainer.model, self.x_grad)
        self.last = row
        return row


def robustness(model, data, params, generator) -> dict:
    """Gaussian-noise and PGD accuracies on the first ``robust_samples`` test samples."""
    n = min(int(params["robust_samples"]), data.size("test"))
    sigmas = noise_sigmas(params)
    if n == 0:
        return {"noise_acc_per_sigma": [math.nan] * len(sigmas), "pgd_acc": math.nan}
    forward = pixel_forward(model.eval(), data)
    scale, bounds = pixel_scale(data)
    x, y = data.x["test"][:n].float() / scale, data.y["test"][:n]
    accs = noise_accuracy(forward, x, y, sigmas, generator, bounds)
    pgd = math.nan
    if params["pgd_steps"] > 0:
        pgd = pgd_accuracy(forward, x, y, eps=params["pgd_eps"], step=params["pgd_step"],
                           n_steps=params["pgd_steps"], restarts=params["pgd_restarts"],
                           generator=generator, bounds=bounds)
    return {"noise_acc_per_sigma": accs, "pgd_acc": pgd}


def shift_accuracy(model, data, params, ctx) -> dict:
    """CIFAR-10-C and CINIC-10 accuracies (for the folders that are set), saved to the run
    file; the summary's ``cifar10c_acc``, ``cifar10c_cond_acc`` and ``cinic10_acc``."""
    model.eval()

    def forward(x):
        return model(data.normalise(x))

    out = {}
    k, seed = int(params["shift_samples"]), int(params["data_seed"])
    if params["cifar10c_root"]:
        res = cifar10c_accuracy(forward, params["cifar10c_root"], k, seed, (data.x["test"], data.y["test"]),
                                ctx.device, before_each=ctx.check_cancel)
        ctx.save("robust/cifar10c_acc", res.acc)
        ctx.save("robust/cifar10c_cond_acc", res.cond_acc)
        ctx.attr("cifar10c_corruptions", ",".join(res.corruptions))
        out.update(cifar10c_acc=res.mca, cifar10c_cond_acc=res.mean_cond_acc)
    if params["cinic10_root"]:
        out["cinic10_acc"] = cinic10_accuracy(forward, params["cinic10_root"], k, seed, ctx.device)
    return out


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
    ctx.attr("conventions", "noisy-logits mse loss: 1/2 ||S(x) - (T(x) + noise)||^2 summed over logits, "
                            "mean over the batch; grad_norm: 1/N sum_i ||df(x_i)/dtheta||^2 summed over logits, "
                            "eval mode, fixed training subset; robustness in pixel space [0, 1]")
    model = model_from_params(params, data).to(ctx.device)
    ctx.summary["n_parameters"] = n_parameters(model)
    gen = torch.Generator(device=ctx.device)
    gen.manual_seed(int(params["seed"]))
    scale, _ = pixel_scale(data)
    measures = EpochMeasures(data, teacher, int(params["grad_samples"]))
    ctx.summary.update(measures.teacher)
    hooks = DistillHooks(method, params, teacher, data.std / scale, gen,
                         relabel=lambda y, rate, g: randomise_labels(y, rate, data.num_classes, g),
                         epoch_measure=measures)
    summary = Trainer(model, data, params, ctx, hooks).fit()
    summary.update(measures.last)
    if ctx.cancelled:
        return summary
    res = robustness(model, data, params, gen)
    ctx.save("robust/noise_sigma", noise_sigmas(params))
    ctx.save("robust/noise_acc", res["noise_acc_per_sigma"])
    finite = [a for a in res["noise_acc_per_sigma"] if math.isfinite(a)]
    summary.update(pgd_acc=res["pgd_acc"], noise_acc=sum(finite) / len(finite) if finite else math.nan)
    summary.update(shift_accuracy(model, data, params, ctx))
    return summary
