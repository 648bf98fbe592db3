"""GPU-resident loading: the training split lives on the device as one tensor (uint8 for
images); each epoch is a permutation of the indices; each batch is gathered, augmented
and normalised on the device and carries its sample indices."""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from .augment import random_crop_flip


class DeviceLoader:
    """Iterate ``(x, y, idx)`` batches of ``(xs, ys)`` in a fresh seeded order each epoch.

    ``normalise`` maps a raw batch to float inputs; ``crop`` / ``flip`` switch the batched
    augmentation (images only). Every index appears exactly once per epoch: the last
    batch may be smaller, except that a lone left-over sample joins the batch before it
    (batch norm cannot train on a batch of one).
    """

    def __init__(
        self,
        xs: torch.Tensor,
        ys: torch.Tensor,
        batch: int,
        normalise: Callable,
        *,
        crop: bool = False,
        flip: bool = False,
        seed: int = 0,
        shuffle: bool = True,
        channels_last: bool = False,
    ):
        self.xs, self.ys, self.batch, self.normalise = xs, ys, int(batch), normalise
        self.crop, self.flip, self.shuffle = crop, flip, shuffle
        self.channels_last = channels_last and xs.ndim == 4
        self.generator = torch.Generator(device=xs.device)
        self.generator.manual_seed(int(seed))

    def bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of each batch in an epoch's order."""
        n, b = len(self.xs), self.batch
        edges = list(range(0, n, b)) + [n]
        if n > b and n % b == 1:
            del edges[-2]  # the lone last sample joins the previous batch
        return list(zip(edges[:-1], edges[1:]))

    def __len__(self) -> int:
        return len(self.bounds())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        n, dev = len(self.xs), self.xs.device
        order = torch.randperm(n, device=dev, generator=self.generator) if self.shuffle else torch.arange(n, device=dev)
        for start, stop in self.bounds():
            idx = order[start:stop]
            x = self.xs[idx]
            if x.ndim == 4:
                x = random_crop_flip(x, crop=self.crop, flip=self.flip, generator=self.generator)
            x = self.normalise(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.ys[idx], idx
