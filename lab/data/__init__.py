"""Data sets (built-in and folder ones), label corruption and device-resident loading."""

from .augment import crop_flip_at, random_crop_flip
from .corruption import (
    CIFAR10_ASYMMETRIC,
    CIFAR100_SUPERCLASSES,
    asymmetric_map,
    cifar100_asymmetric,
    corrupt_labels,
    parse_pairs,
    randomise_labels,
)
from .dataset import Data, check_data, data_layout, data_shape, load_data, load_source, split_sizes
from .folders import FORMATS, FolderStatus, download, read_folder, scan
from .loader import DeviceLoader
from .params import DATA_PARAMS, DATASETS, NOISE_PARAMS
from .source import DataError, Source

__all__ = [
    "crop_flip_at",
    "random_crop_flip",
    "CIFAR10_ASYMMETRIC",
    "CIFAR100_SUPERCLASSES",
    "asymmetric_map",
    "cifar100_asymmetric",
    "corrupt_labels",
    "parse_pairs",
    "randomise_labels",
    "Data",
    "check_data",
    "data_layout",
    "data_shape",
    "load_data",
    "load_source",
    "split_sizes",
    "FORMATS",
    "FolderStatus",
    "download",
    "read_folder",
    "scan",
    "DeviceLoader",
    "DATA_PARAMS",
    "DATASETS",
    "NOISE_PARAMS",
    "DataError",
    "Source",
]
