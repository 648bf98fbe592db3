"""The one supervised-training loop every network experiment uses.

An experiment builds a model and its data, then hands both to :class:`Trainer`
together with a :class:`Hooks` object that changes only what the experiment changes::

    data = load_data(params, ctx.device)                      # lab.data
    data.save_labels(ctx)                                     # data/labels_clean, ...
    model = model_from_params(params, data).to(ctx.device)    # lab.models
    summary = Trainer(model, data, params, ctx, MyHooks()).fit()

What the loop does, epoch by epoch (``epoch`` counts from 1; epoch 0 is the
evaluation before any training when ``eval_before`` is true)::

    hooks.setup(trainer)                                      # once
    for epoch in 1..E:
        for x, y, idx in data.train_loader(...):              # device-resident, augmented,
            x, y = hooks.batch(x, y, idx, epoch)              # normalised; idx = sample ids
            loss = hooks.step(trainer, x, y, idx, epoch)      # default: SGD step on hooks.loss
            (cancel checked here; NaN checked every ``nan_check_every`` steps)
        scheduler.step()
        evals = {split: trainer.evaluate(split)}              # per-sample logits on device
        extra = hooks.epoch_end(trainer, epoch, evals)        # more scalars for this row
        ctx.log(epoch, **engine scalars, **extra)             # one synchronisation
    final weights -> ``weights/<state-dict key>`` (see :func:`save_weights`)

Series the engine writes (declare them with :func:`network_layout`, which adds the
experiment's own scalar series and the training labels), one row per epoch with
``series/step`` = epoch:

=================  ==========================================================
``lr``             learning rate used during the epoch (first param group)
``loss``           mean over the epoch's mini-batches of the loss that was
                   optimised (hooks.loss / hooks.step, with augmentation)
``train_loss``     cross-entropy on the training split, eval mode, no
``train_acc``      augmentation, against the labels trained on (noisy ones)
``train_acc_clean`` accuracy on the training split against the clean labels
``val_loss/_acc``  the validation split (NaN when ``train_fraction`` = 1)
``test_loss/_acc`` the test split
``epoch_time``     wall time of the epoch's training pass [s]
=================  ==========================================================

A split left out of ``eval_splits`` logs NaN. Training losses and accuracies stay on
the device during the epoch; the row is synchronised once, at the end of the epoch.

Within an epoch the engine also records its progress, so that a killed run loses at
most about a second of training (:meth:`lab.context.RunContext.pacer`: a row, flushed
at once, whenever the writer's flush interval has passed, and one at the end of every
epoch), on an axis of its own (``batches/*``, one row per record, declared by
:func:`network_layout`):

=================  ==========================================================
``batches/step``   optimisation steps taken since the start of training
``batches/epoch``  fractional epoch, ``epoch - 1 + batches done / batches per epoch``
``batches/loss``   mean of the epoch's batch losses so far (at the epoch's end it
                   equals ``series/loss``)
``batches/time``   wall-clock time of the record (Unix seconds)
=================  ==========================================================

Recording reads the loss sum once (one device synchronisation per record); it draws no
random numbers and changes nothing the epoch computes.

Hooks (override only what you need; every method has a working default)
-------------------------------------------------------------------------
``setup(trainer)``
    Once, after the optimiser exists and before epoch 0. Allocate per-sample state
    here, e.g. ELR targets ``torch.zeros(trainer.data.n_train, C, device=...)``
    indexed by the batch's ``idx``, fixed NIN noise per sample, a teacher model.
``batch(x, y, idx, epoch) -> (x, y)``
    Per-batch inputs and targets after augmentation and normalisation: add input
    noise, randomise labels (:func:`lab.data.randomise_labels`), build soft targets.
``loss(model, x, y, idx, epoch) -> Tensor``
    The scalar to minimise. Default: cross-entropy of ``model(x)`` against ``y``.
``step(trainer, x, y, idx, epoch) -> Tensor``
    One full optimisation step; returns the (detached) loss for the epoch mean.
    Default: zero_grad, ``loss`` under ``trainer.autocast()``, backward, optimiser
    step. Override for two networks with EMA copies and mixup (ELR+): the trainer's
    ``model`` may then be an ``nn.ModuleDict`` holding both networks (so the
    optimiser, the schedule and the saved weights cover both) and ``predict``
    chooses what is evaluated.
``predict(trainer, x) -> logits``
    Logits used by :meth:`Trainer.evaluate`. Default ``trainer.model(x)``.
``epoch_end(trainer, epoch, evals) -> dict``
    Extra scalars (floats or 0-d tensors) for this epoch's row; ``evals`` maps split
    name to :class:`Evaluation` with per-sample logits kept on the device (e.g. ELR's
    memorisation fractions over clean and noisy subsets, norms of W_NI, gradient
    norms). Called for epoch 0 too when ``eval_before`` is true.

A run that is cancelled stops between batches, keeps every row written and still
saves the weights reached. A non-finite loss raises :class:`lab.context.Diverged`
with the epoch as its step (the series axis), the message naming the batch step.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..context import Diverged, RunContext, scalar_series
from ..data import check_data, data_layout
from ..models import check_model_params
from ..runfile import Dataset
from .optim import make_optimizer, make_scheduler

ENGINE_SERIES = (
    "lr",
    "loss",
    "train_loss",
    "train_acc",
    "train_acc_clean",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "epoch_time",
)
SPLITS = ("train", "val", "test")
#: the within-epoch progress records (module docstring), each its own growable series
BATCH_SERIES = (("batches/step", "i8"), ("batches/epoch", "f8"), ("batches/loss", "f8"), ("batches/time", "f8"))


def check_network(params: Mapping[str, Any]) -> None:
    """Refuse, with :class:`lab.params.ParamError`, what would fail only once training
    starts: a data folder without its data set, a pair map that does not fit it, a
    convolutional model on feature vectors."""
    check_data(params)
    check_model_params(params, images=params["dataset"] != "gaussian")


def network_layout(params: Mapping[str, Any], *extra_series: str) -> list[Dataset]:
    """The layout of a network experiment: ``series/step``, the engine's series, the
    experiment's own scalar series, the within-epoch records ``batches/*`` and the
    training labels (:func:`lab.data.data_layout`)."""
    return (
        scalar_series(*ENGINE_SERIES, *extra_series)
        + [Dataset(path, (), dtype) for path, dtype in BATCH_SERIES]
        + data_layout(params)
    )


@dataclass
class Evaluation:
    """One split evaluated in eval mode: per-sample results kept on the device.

    ``logits`` (N, C) float32, ``labels`` (N,) the split's labels (the noisy ones for
    the training split), ``losses`` (N,) per-sample cross-entropy.
    """

    split: str
    logits: torch.Tensor
    labels: torch.Tensor
    losses: torch.Tensor

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)

    @property
    def correct(self) -> torch.Tensor:
        return self.predictions == self.labels

    @property
    def loss(self) -> torch.Tensor:
        return self.losses.mean()

    @property
    def acc(self) -> torch.Tensor:
        return self.correct.float().mean()


class Hooks:
    """The overridable pieces of the training loop; see the module docstring."""

    def setup(self, trainer: Trainer) -> None:
        pass

    def batch(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, epoch: int):
        return x, y

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, epoch: int) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    def step(self, trainer: Trainer, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, epoch: int) -> torch.Tensor:
        opt = trainer.optimizer
        opt.zero_grad(set_to_none=True)
        with trainer.autocast():
            loss = self.loss(trainer.model, x, y, idx, epoch)
        loss.backward()
        opt.step()
        return loss.detach()

    def predict(self, trainer: Trainer, x: torch.Tensor) -> torch.Tensor:
        return trainer.model(x)

    def epoch_end(self, trainer: Trainer, epoch: int, evals: Mapping[str, Evaluation]) -> dict:
        return {}


class Trainer:
    """Supervised training of ``model`` on ``data`` (a :class:`lab.data.Data`).

    ``params`` must hold the training parameters of :data:`lab.training.TRAINING_PARAMS`
    (lr, momentum, weight_decay, epochs, batch, schedule, milestones, gamma,
    channels_last, bf16, compile). ``optimizer`` / ``scheduler`` replace the ones built from
    ``params`` (a scheduler is stepped once per epoch). ``eval_splits`` chooses which
    splits are evaluated each epoch; ``save_weights`` writes the final state dict
    under ``weights_prefix``.
    """

    def __init__(
        self,
        model: nn.Module,
        data,
        params: Mapping[str, Any],
        ctx: RunContext,
        hooks: Hooks | None = None,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler=None,
        eval_splits: Iterable[str] = SPLITS,
        eval_batch: int = 1024,
        eval_before: bool = True,
        save_weights: bool = True,
        weights_prefix: str = "weights",
        nan_check_every: int = 50,
    ):
        self.model, self.data, self.params, self.ctx = model, data, params, ctx
        self.hooks = hooks or Hooks()
        self.device = torch.device(ctx.device)
        self.epochs = int(params["epochs"])
        self.stop_train_acc = float(params.get("stop_train_acc", 0.0))
        self.batch_size = int(params["batch"])
        self.eval_splits = tuple(s for s in eval_splits if data.size(s) > 0)
        self.eval_batch = eval_batch
        self.eval_before = eval_before
        self.save_weights = save_weights
        self.weights_prefix = weights_prefix
        self.nan_check_every = max(1, int(nan_check_every))
        cuda = self.device.type == "cuda"
        self.bf16 = bool(params.get("bf16", False)) and cuda
        self.channels_last = bool(params.get("channels_last", False)) and cuda
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.compile = bool(params.get("compile", False))
        if self.compile:  # in place: state-dict keys and the hooks' model(x) calls unchanged
            self.model.compile()
        self.warmup_s = math.nan  # the first optimisation step's wall time (compile)
        self.optimizer = optimizer or make_optimizer(self.model.parameters(), params)
        self.scheduler = scheduler or make_scheduler(self.optimizer, params)
        self.loader = data.train_loader(self.batch_size, seed=ctx.seed, channels_last=self.channels_last)
        self.steps_per_epoch = len(self.loader)
        self.epoch = 0
        self.step = 0  # optimisation steps taken
        self._pace = ctx.pacer()  # when to record progress within an epoch

    # -- helpers for hooks -------------------------------------------------------------------
    def autocast(self):
        """bfloat16 autocast on CUDA when the ``bf16`` parameter asks for it, else nothing."""
        if self.bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @torch.no_grad()
    def evaluate(self, split: str) -> Evaluation:
        """Per-sample logits, labels and losses of ``split`` in eval mode (no augmentation)."""
        was_training = self.model.training
        self.model.eval()
        logits, labels = [], []
        for x, y, _ in self.data.batches(split, self.eval_batch, channels_last=self.channels_last):
            with self.autocast():
                out = self.hooks.predict(self, x)
            logits.append(out.float())
            labels.append(y)
        self.model.train(was_training)
        lg, lb = torch.cat(logits), torch.cat(labels)
        return Evaluation(split, lg, lb, F.cross_entropy(lg, lb, reduction="none"))

    # -- the loop ----------------------------------------------------------------------------
    def _check_finite(self, loss_sum: torch.Tensor, epoch: int) -> None:
        value = float(loss_sum)
        if not math.isfinite(value):
            raise Diverged(
                epoch,
                f"the training loss became {value} in epoch {epoch} "
                f"(by optimisation step {self.step}); try a smaller learning rate",
            )

    def train_epoch(self, epoch: int) -> tuple[torch.Tensor, int]:
        """One pass over the training split; returns (sum of batch losses, batches done)."""
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        done = 0
        total = self.epochs * self.steps_per_epoch
        for x, y, idx in self.loader:
            if self.ctx.cancelled:
                break
            x, y = self.hooks.batch(x, y, idx, epoch)
            t0 = time.perf_counter()
            loss_sum += self.hooks.step(self, x, y, idx, epoch).float()
            if self.compile and self.step == 0:
                self.warmup_s = _synchronised_seconds(self.device, t0)
            self.step += 1
            done += 1
            if done % self.nan_check_every == 0:
                self._check_finite(loss_sum, epoch)
            self.ctx.progress(self.step, total)
            if self._pace.due():
                self._record_progress(epoch, loss_sum, done)
                self.ctx.flush()
        if done:
            self._check_finite(loss_sum, epoch)
            self._record_progress(epoch, loss_sum, done)  # flushed with the epoch's row
        return loss_sum, done

    def _record_progress(self, epoch: int, loss_sum: torch.Tensor, done: int) -> None:
        """One ``batches/*`` row: the epoch's progress so far (module docstring)."""
        ctx = self.ctx
        ctx.append("batches/step", np.asarray([self.step], dtype=np.int64))
        ctx.append("batches/epoch", np.asarray([epoch - 1 + done / self.steps_per_epoch]))
        ctx.append("batches/loss", np.asarray([float(loss_sum / done)]))
        ctx.append("batches/time", np.asarray([time.time()]))

    def _row(self, epoch: int, lr: float, loss: Any, seconds: float) -> dict:
        evals = {s: self.evaluate(s) for s in self.eval_splits}
        row: dict[str, Any] = dict.fromkeys(ENGINE_SERIES, math.nan)
        row.update(lr=lr, loss=loss, epoch_time=seconds)
        for s, ev in evals.items():
            row[f"{s}_loss"], row[f"{s}_acc"] = ev.loss, ev.acc
        if "train" in evals:
            row["train_acc_clean"] = (evals["train"].predictions == self.data.labels_clean).float().mean()
        row.update(self.hooks.epoch_end(self, epoch, evals))
        return _to_floats(row)

    def fit(self) -> dict:
        """Train for ``epochs`` epochs, until cancelled, or until the training accuracy
        reaches ``stop_train_acc`` (when > 0); returns the summary numbers."""
        self.hooks.setup(self)
        ctx = self.ctx
        if self.eval_before:
            ctx.log(0, **self._row(0, self.lr, math.nan, 0.0))
        for epoch in range(1, self.epochs + 1):
            self.epoch = epoch
            lr = self.lr
            t0 = time.perf_counter()
            loss_sum, done = self.train_epoch(epoch)
            if ctx.cancelled:
                break
            seconds = time.perf_counter() - t0
            self.scheduler.step()
            row = self._row(epoch, lr, loss_sum / max(done, 1), seconds)
            ctx.log(epoch, **row)
            ctx.summary.update(_summary(row, epoch))
            if self.compile:
                ctx.summary["compile_warmup_s"] = self.warmup_s
            if 0 < self.stop_train_acc <= row.get("train_acc", math.nan):
                ctx.summary["stopped_at_train_acc"] = row["train_acc"]
                break
        if self.save_weights:
            save_weights(ctx, self.model, self.weights_prefix)
        return dict(ctx.summary)


def _synchronised_seconds(device: torch.device, t0: float) -> float:
    """Wall time since ``t0`` once the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _to_floats(row: Mapping[str, Any]) -> dict:
    """Scalars and 0-d tensors -> floats with one device synchronisation."""
    values = list(row.values())
    dev = next((v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu"))
    stacked = torch.stack([torch.as_tensor(v, device=dev).detach().double().reshape(()) for v in values])
    return dict(zip(row, stacked.tolist()))


def _summary(row: Mapping[str, float], epoch: int) -> dict:
    out: dict[str, float] = {"epochs_done": epoch}
    for k in ("test_acc", "val_acc", "train_acc", "train_acc_clean", "test_loss"):
        if math.isfinite(row.get(k, math.nan)):
            out[k] = row[k]
    return out


# ============================================================ final weights ======
def save_weights(ctx: RunContext, model: nn.Module, prefix: str = "weights") -> None:
    """Store ``model.state_dict()`` as arrays ``<prefix>/<key>`` (parameters and buffers,
    e.g. ``weights/fc.weight``, ``weights/bn1.running_mean``) and the key order as the
    JSON root attribute ``<prefix>_keys``; :func:`load_weights` reads them back."""
    state = model.state_dict()
    for key, value in state.items():
        ctx.save(
            f"{prefix}/{key}",
            value.detach().float().cpu().numpy() if value.is_floating_point() else value.detach().cpu().numpy(),
        )
    ctx.attr(f"{prefix}_keys", json.dumps(list(state)))


def load_weights(arrays: Mapping[str, Any], model: nn.Module, prefix: str = "weights") -> nn.Module:
    """Load a state dict saved by :func:`save_weights` from ``RunData.arrays`` (or any
    mapping path -> array) into ``model``; a missing or extra key, or a shape that differs,
    is an error."""
    state = model.state_dict()
    saved = {path[len(prefix) + 1 :]: arr for path, arr in arrays.items() if path.startswith(prefix + "/")}
    problems = {
        "no weights for": [k for k in state if k not in saved],
        "weights the model lacks:": [k for k in saved if k not in state],
        "weights of another shape for": [
            k for k, v in state.items() if k in saved and tuple(np.shape(saved[k])) != tuple(v.shape)
        ],
    }
    for what, keys in problems.items():
        if keys:
            raise KeyError(
                f"the run file has {what} {keys[:5]}{'...' if len(keys) > 5 else ''}: "
                "was it saved from the same model and parameters?"
            )
    new = {k: torch.as_tensor(saved[k]).to(dtype=v.dtype) for k, v in state.items()}
    model.load_state_dict(new, strict=True)
    return model
