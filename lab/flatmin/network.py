"""The network variant: any registry model trained by GD, SGD, label-noise SGD or GD on
the explicit ``L + lambda R``, as a fixed function of a flat parameter vector
(``torch.func.functional_call``; BatchNorm uses its running statistics, which never
change, so it acts as an affine layer, and dropout is off: the theory needs ``L`` to be a
mean of per-sample losses).

Losses, per sample, meaned over the batch:

* ``mse``: ``1/2 sum_outputs (f - y)^2`` against one-hot (``targets=onehot``) or the
  standardised class index (``targets=scalar``, one output). Label noise adds fresh
  ``eps`` (Gaussian of std ``delta`` or ``+-delta``) to every target entry of every batch
  member at every step; ``sigma^2 = delta^2``.
* ``ce``: cross-entropy. Label noise replaces each batch member's label, every step, with
  probability ``flip`` by a uniformly random class; the expected objective is CE against
  the label-smoothed target ``(1-flip) onehot + flip/K``, and ``sigma^2 = 1``
  (:mod:`lab.flatmin.regulariser`).

``explicit`` steps full-batch on the expected objective plus ``lambda R_small`` with
``R_small = 1/4 z^T Hess L z`` for one fresh Rademacher ``z`` per step (an unbiased
Hutchinson estimate of ``tr Hess L / 4``, differentiated by ``torch.func``), with the
``lambda = lr sigma^2 / batch`` of the label-noise run it predicts.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad

from ..data import load_data
from ..models import build_model
from ..sgd.batches import BatchSampler
from .hessian import flat_parameters, hvp_fn, rademacher

#: batches of iid indices drawn at once
INDEX_BLOCK = 1024


class NetworkProblem:
    """Data on the device, the model as a function of ``theta`` (flat), and the losses."""

    def __init__(self, p: Mapping[str, Any], device: torch.device, generator: torch.Generator):
        data = load_data(p, device)
        self.data = data
        self.loss_kind, self.device = p["loss"], device
        self.num_classes = data.num_classes
        scalar = self.loss_kind == "mse" and p["targets"] == "scalar"
        outputs = 1 if scalar else data.num_classes
        model = (
            build_model(
                p["model"],
                data.input_shape,
                outputs,
                widths=list(p["mlp_widths"]),
                activation=p["activation"],
                init=p["init"],
                dropout=0.0,
            )
            .to(device)
            .eval()
        )
        self.model = model
        self.buffers = dict(model.named_buffers())
        self.theta0, self.unflatten = flat_parameters(model)
        labels = data.y["train"].float()
        self.label_mean, self.label_std = float(labels.mean()), float(labels.std().clamp_min(1e-6))
        self.x = {s: data.normalise(data.x[s]) for s in ("train", "test")}
        self.labels = {s: data.y[s] for s in ("train", "test")}
        self.t = {s: self.targets(self.labels[s], scalar) for s in ("train", "test")}
        self.scalar = scalar
        self.smooth = p["flip"] if self.loss_kind == "ce" else 0.0

    @property
    def n_train(self) -> int:
        return len(self.labels["train"])

    def targets(self, labels: torch.Tensor, scalar: bool) -> torch.Tensor:
        if scalar:
            return ((labels.float() - self.label_mean) / self.label_std)[:, None]
        return F.one_hot(labels, self.num_classes).float()

    def forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, (self.unflatten(theta), self.buffers), (x,))

    def objective(self, theta: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean per-sample loss against targets ``t`` (soft targets for ``ce``)."""
        f = self.forward(theta, x)
        if self.loss_kind == "mse":
            return 0.5 * ((f - t) ** 2).sum(1).mean()
        return -(t * F.log_softmax(f, 1)).sum(1).mean()

    def expected_targets(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of the noisy targets: ``t`` for mse, label-smoothed one-hot for ce."""
        return t if self.loss_kind == "mse" else (1 - self.smooth) * t + self.smooth / self.num_classes

    def train_objective(self, theta: torch.Tensor) -> torch.Tensor:
        """``L(theta)``: the expected training objective (what R and the Hessian refer to)."""
        return self.objective(theta, self.x["train"], self.expected_targets(self.t["train"]))

    def test_loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.objective(theta, self.x["test"], self.expected_targets(self.t["test"]))


class NetworkTrainer:
    """One method's steps on a :class:`NetworkProblem`; draws from ``generator``."""

    def __init__(
        self,
        prob: NetworkProblem,
        method: str,
        lr: float,
        batch: int,
        delta: float,
        noise_form: str,
        lam: float,
        generator: torch.Generator,
    ):
        self.prob, self.method, self.lr, self.lam = prob, method, lr, lam
        self.delta, self.form, self.gen = delta, noise_form, generator
        self.full = method in ("gd", "explicit") or batch >= prob.n_train
        self.sampler = None if self.full else BatchSampler(prob.n_train, batch, generator=generator, device=prob.device)
        self._idx = torch.empty((0, batch), dtype=torch.int64, device=prob.device)
        self.grad = grad(prob.objective)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.prob
        if self.full:
            return p.x["train"], p.t["train"], p.labels["train"]
        if not len(self._idx):
            assert self.sampler is not None  # made unless full
            self._idx = self.sampler.iid(INDEX_BLOCK).long()
        i, self._idx = self._idx[0], self._idx[1:]
        return p.x["train"][i], p.t["train"][i], p.labels["train"][i]

    def _noisy(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p, dev = self.prob, self.prob.device
        if p.loss_kind == "ce":
            flip = torch.rand(len(labels), generator=self.gen, device=dev) < p.smooth
            other = torch.randint(0, p.num_classes, (len(labels),), generator=self.gen, device=dev)
            return F.one_hot(torch.where(flip, other, labels), p.num_classes).float()
        if self.form == "gaussian":
            eps = torch.randn(t.shape, generator=self.gen, device=dev) * self.delta
        else:
            eps = (2 * torch.randint(0, 2, t.shape, generator=self.gen, device=dev) - 1).float() * self.delta
        return t + eps

    def step(self, theta: torch.Tensor) -> torch.Tensor:
        p = self.prob
        x, t, labels = self._batch()
        if self.method == "label-noise":
            return theta - self.lr * self.grad(theta, x, self._noisy(t, labels))
        if self.method == "explicit":
            z = rademacher(1, theta.numel(), self.gen, theta.dtype, theta.device)[0]
            g = grad(
                lambda th: (
                    p.objective(th, x, p.expected_targets(t))
                    + self.lam * 0.25 * (z * hvp_fn(p.train_objective, th)(z[None])[0]).sum()
                )
            )(theta)
            return theta - self.lr * g
        return theta - self.lr * self.grad(theta, x, p.expected_targets(t))


def check_network_params(p: Mapping[str, Any]) -> None:
    """Refuse combinations before a file exists (raises :class:`lab.params.ParamError`)."""
    from ..data.dataset import split_sizes
    from ..params import ParamError
    from ..training import check_network

    check_network(p)  # the data folder, the pair map, a convolutional model on feature vectors
    n_train = split_sizes(p)[0]
    if p["method"] in ("sgd", "label-noise") and p["batch"] > n_train:
        raise ParamError("batch", p["batch"], f"an integer in [1, {n_train}] (the training split's size)")
