"""Data and label-noise parameters every data-using experiment includes in its SPEC."""

from __future__ import annotations

from ..params import Param
from .corruption import ASYM_MODES

DATASETS = ("digits", "gaussian", "fashion-mnist", "cifar10", "cifar100", "svhn")
G = "Data"
DATA_PARAMS = (
    Param(
        "dataset",
        "choice",
        "digits",
        choices=DATASETS,
        group=G,
        help="digits and gaussian are built in; the others are read from data_root "
        "(torchvision's folder layouts; `noiselab data DIR` shows what is found).",
    ),
    Param(
        "data_root",
        "path",
        "",
        group=G,
        help="Folder holding FashionMNIST/, cifar-10-batches-py/, cifar-100-python/ or svhn/.",
    ),
    Param(
        "train_fraction",
        "float",
        1.0,
        low=0.05,
        high=1.0,
        group=G,
        help="Share of the training set used for training; the rest is the validation split.",
    ),
    Param(
        "data_seed",
        "int",
        0,
        low=0,
        high=2**31 - 1,
        group=G,
        help="Seeds the train/validation split, the Gaussian mixture and the label corruption "
        "(the run seed seeds initialisation, batch order and augmentation).",
    ),
    Param(
        "augment",
        "choice",
        "auto",
        choices=("auto", "none", "crop", "flip", "crop+flip"),
        group=G,
        help="Batched on the device: random crop with 4 pixels of zero padding and horizontal flip. "
        "auto = crop+flip for CIFAR, crop for SVHN, none otherwise.",
    ),
    Param(
        "normalise",
        "choice",
        "channel",
        choices=("channel", "feature"),
        group=G,
        help="Standardise inputs with the training split's mean and std per channel or per feature.",
    ),
    Param(
        "gaussian_train",
        "int",
        1000,
        low=2,
        high=10_000_000,
        group="Gaussian mixture",
        help="Training samples of the Gaussian mixture (before the validation split).",
    ),
    Param("gaussian_test", "int", 1000, low=1, high=10_000_000, group="Gaussian mixture", help="Test samples."),
    Param("gaussian_classes", "int", 3, low=2, high=1000, group="Gaussian mixture", help="Number of classes."),
    Param("gaussian_dim", "int", 2, low=1, high=100_000, group="Gaussian mixture", help="Input dimension."),
    Param(
        "gaussian_separation",
        "float",
        3.0,
        low=0.0,
        high=1e3,
        group="Gaussian mixture",
        help="Norm of each class mean; samples are mean + N(0, I).",
    ),
)
NOISE_PARAMS = (
    Param(
        "noise_type",
        "choice",
        "none",
        choices=("none", "symmetric", "asymmetric"),
        group="Label noise",
        help="symmetric: a fraction noise_rate of the training labels gets a uniformly random class "
        "(the true one included); asymmetric: that fraction of each mapped class moves to its "
        "partner (CIFAR maps, or noise_pairs).",
    ),
    Param("noise_rate", "float", 0.0, low=0.0, high=1.0, group="Label noise", help="Corruption rate r."),
    Param(
        "asym_mode",
        "choice",
        "exact",
        choices=ASYM_MODES,
        group="Label noise",
        help="Asymmetric noise: exact = round(r n_c) of each source class c, drawn from the clean labels "
        "(cat<->dog both 40% wrong at r = 0.4); official = the official ELR code's in-place loop over "
        "classes, which moves some cats turned dog back to cat (cat about 24% wrong at r = 0.4).",
    ),
    Param(
        "noise_pairs",
        "str",
        "",
        group="Label noise",
        help="Asymmetric map source:target, comma separated (e.g. 3:5,5:3); empty = the paper's map for CIFAR-10/100.",
    ),
)
