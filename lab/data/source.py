"""A data set as read from its source, before splitting, corruption and moving to a device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DataError(ValueError):
    """A data set folder that is missing or malformed; the message names the file and the
    layout that was expected."""


@dataclass
class Source:
    """Arrays of one data set: images as uint8 ``(N, C, H, W)`` or features as float32
    ``(N, D)``; labels int64 in ``[0, num_classes)``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    augment: str = "none"  # what ``augment=auto`` means for this data set

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])
