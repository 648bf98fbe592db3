"""From parameters to device-resident splits: read the source, split train/validation
(seeded by ``data_seed``), corrupt the training labels, standardise with statistics of
the training split, and serve batches."""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from ..params import ParamError
from ..runfile import Dataset
from .builtin import digits, gaussian_mixture
from .corruption import asymmetric_map, corrupt_labels
from .folders import FORMATS, counts, read_folder
from .loader import DeviceLoader
from .source import DataError, Source

AUGMENT_MODES = {"none": (False, False), "crop": (True, False), "flip": (False, True), "crop+flip": (True, True)}


def load_source(params: Mapping[str, Any]) -> Source:
    """The data set named by ``params['dataset']`` as arrays."""
    name = params["dataset"]
    if name == "digits":
        return digits()
    if name == "gaussian":
        return gaussian_mixture(
            params["gaussian_train"],
            params["gaussian_test"],
            params["gaussian_classes"],
            params["gaussian_dim"],
            params["gaussian_separation"],
            params["data_seed"],
        )
    return read_folder(name, params["data_root"])


def _source_counts(params: Mapping[str, Any]) -> tuple[int, int]:
    name = params["dataset"]
    if name == "gaussian":
        return params["gaussian_train"], params["gaussian_test"]
    if name in FORMATS:
        try:
            return counts(name, params["data_root"])
        except DataError as e:  # before the run starts: a parameter error, shown as such
            raise ParamError("data_root", params["data_root"], f"a folder holding {name} ({e})") from None
    s = load_source(params)
    return len(s.y_train), len(s.y_test)


def split_sizes(params: Mapping[str, Any]) -> tuple[int, int, int]:
    """(train, validation, test) sizes; the training split keeps ``round(f N)`` samples."""
    n, n_test = _source_counts(params)
    n_train = _train_count(n, params["train_fraction"])
    return n_train, n - n_train, n_test


def data_shape(params: Mapping[str, Any]) -> tuple[tuple, int]:
    """``(input_shape, num_classes)`` of the data set ``params`` name, without reading a
    folder: what a model for it is built from (:func:`lab.models.model_from_params`)."""
    name = params["dataset"]
    if name == "gaussian":
        return (int(params["gaussian_dim"]),), int(params["gaussian_classes"])
    if name in FORMATS:
        return FORMATS[name].input_shape, FORMATS[name].num_classes
    s = load_source(params)
    return s.input_shape, s.num_classes


def _train_count(n: int, fraction: float) -> int:
    return min(n, max(1, int(round(fraction * n))))


def check_data(params: Mapping[str, Any]) -> None:
    """The data folder holds the chosen data set and the asymmetric pair map fits it;
    raises :class:`ParamError` (``data_root`` or ``noise_pairs``) before a run starts."""
    split_sizes(params)
    if params["noise_type"] == "asymmetric" and params["noise_rate"] > 0:
        asymmetric_map(params["dataset"], params["noise_pairs"], data_shape(params)[1])


def data_layout(params: Mapping[str, Any]) -> list[Dataset]:
    """Fixed datasets for the training split's labels, indexed by sample id ``idx``:
    ``data/labels_clean``, ``data/labels_noisy`` (int64) and ``data/noise_mask``
    (uint8, 1 where the label was changed), plus ``data/train_index`` (position of each
    training sample in the source's training set)."""
    n_train = split_sizes(params)[0]
    return [
        Dataset("data/labels_clean", (n_train,), "i8", growable=False),
        Dataset("data/labels_noisy", (n_train,), "i8", growable=False),
        Dataset("data/noise_mask", (n_train,), "u1", growable=False),
        Dataset("data/train_index", (n_train,), "i8", growable=False),
    ]


class Data:
    """Splits on a device. ``x[split]`` raw inputs (uint8 images or float32 features),
    ``y[split]`` labels (the training split's are the noisy ones), ``labels_clean`` and
    ``noise_mask`` for the training split, ``mean`` / ``std`` from the training split."""

    def __init__(self, source: Source, params: Mapping[str, Any], device: torch.device | str):
        self.name, self.num_classes = source.name, source.num_classes
        self.input_shape = source.input_shape
        self.device = torch.device(device)
        n_train = _train_count(len(source.y_train), params["train_fraction"])
        order = np.random.default_rng([params["data_seed"], 0x5B117]).permutation(len(source.y_train))
        tr, va = np.sort(order[:n_train]), np.sort(order[n_train:])
        self.train_index = tr
        clean = source.y_train[tr]
        noisy = corrupt_labels(
            clean,
            params["noise_type"],
            params["noise_rate"],
            self.num_classes,
            dataset=source.name,
            pairs=params["noise_pairs"],
            seed=params["data_seed"],
            asym_mode=params["asym_mode"],
        )
        self.noise_type, self.noise_rate = params["noise_type"], params["noise_rate"]
        dev = self.device
        self.x = {
            "train": torch.as_tensor(source.x_train[tr], device=dev),
            "val": torch.as_tensor(source.x_train[va], device=dev),
            "test": torch.tensor(source.x_test, device=dev),
        }
        self.y = {
            "train": torch.as_tensor(noisy, device=dev),
            "val": torch.as_tensor(source.y_train[va], device=dev),
            "test": torch.tensor(source.y_test, device=dev),
        }
        self.labels_clean = torch.as_tensor(clean, device=dev)
        self.noise_mask = self.y["train"] != self.labels_clean
        augment = source.augment if params["augment"] == "auto" else params["augment"]
        self.crop, self.flip = AUGMENT_MODES[augment]
        self.augment = augment
        self._set_statistics(params["normalise"])

    def _set_statistics(self, mode: str) -> None:
        """mean/std over the training split, per channel (axis 1) or per feature."""
        x = self.x["train"].double()
        dims = (0,) if mode == "feature" or x.ndim == 2 else (0, 2, 3)
        mean = x.mean(dim=dims, keepdim=True)
        if math.prod(x.shape[d] for d in dims) < 2:  # one value each: no spread to divide by
            std = torch.ones_like(mean)
        else:
            std = x.std(dim=dims, keepdim=True).clamp_min(1e-6 * float(x.abs().max()) + 1e-12)
        self.mean, self.std = mean[0].float(), std[0].float()
        self._scale, self._shift = (1 / std[0]).float(), (-mean[0] / std[0]).float()

    # -- access -----------------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return len(self.y["train"])

    def size(self, split: str) -> int:
        return len(self.y[split])

    @property
    def realised_noise_rate(self) -> float:
        """Fraction of training labels that differ from the clean ones."""
        return float(self.noise_mask.float().mean()) if self.n_train else 0.0

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs -> standardised float32 ``(x - mean) / std`` (a new tensor)."""
        return torch.addcmul(self._shift, x.float(), self._scale)

    def train_loader(
        self, batch: int, seed: int = 0, channels_last: bool = False, augment: bool = True
    ) -> DeviceLoader:
        """Shuffled, augmented batches ``(x, y_noisy, idx)`` of the training split."""
        return DeviceLoader(
            self.x["train"],
            self.y["train"],
            batch,
            self.normalise,
            crop=augment and self.crop,
            flip=augment and self.flip,
            seed=seed,
            channels_last=channels_last,
        )

    def batches(self, split: str, batch: int, channels_last: bool = False) -> Iterator:
        """Batches ``(x, y, idx)`` of ``split`` in order, without augmentation."""
        return iter(
            DeviceLoader(
                self.x[split], self.y[split], batch, self.normalise, shuffle=False, channels_last=channels_last
            )
        )

    def save_labels(self, ctx) -> None:
        """Write the datasets of :func:`data_layout` and the realised noise rate."""
        ctx.save("data/labels_clean", self.labels_clean.cpu().numpy())
        ctx.save("data/labels_noisy", self.y["train"].cpu().numpy())
        ctx.save("data/noise_mask", self.noise_mask.cpu().numpy().astype(np.uint8))
        ctx.save("data/train_index", self.train_index)
        ctx.summary["noise_realised_rate"] = self.realised_noise_rate
        ctx.attr(
            "data_normalisation",
            f"mean {self.mean.flatten().tolist()[:8]}, std "
            f"{self.std.flatten().tolist()[:8]} (training split, raw units)",
        )


def load_data(params: Mapping[str, Any], device: torch.device | str) -> Data:
    """Read, split, corrupt and move to ``device`` the data set the parameters name."""
    return Data(load_source(params), params, device)
