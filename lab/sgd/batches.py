"""Mini-batch index draws for many SGD chains at once.

``iid``: every step a fresh uniformly random set of ``batch`` DISTINCT indices out of ``n``.
Drawn with replacement, rows that repeat an index are redrawn until none does (rejection
sampling: accepted rows are uniform over ordered distinct tuples). When that is unlikely to
succeed (``batch`` comparable to ``sqrt(n)``) the first ``batch`` entries of random
permutations are used instead. Rows are exchangeable, so callers may lay them out in
whatever order suits their computation.

``shuffle``: every epoch each chain draws a permutation of the ``n`` indices and cuts it
into ``n // batch`` consecutive batches (the ``n % batch`` left over are dropped, as with
``drop_last``); epochs run on across calls, so these come in time order per chain.
"""

from __future__ import annotations

import math

import torch

BATCHINGS = ("iid", "shuffle")
#: below this chance of a draw with replacement having no repeat, permutations are used
_MIN_ACCEPT = 0.25
#: random keys sorted at once when drawing permutations (bounds memory)
_PERM_ELEMENTS = 1 << 22


def index_dtype(n: int) -> torch.dtype:
    """dtype of drawn indices in ``[0, n]``: the smallest that holds them (less memory traffic)."""
    return torch.int16 if n <= torch.iinfo(torch.int16).max else torch.int32


def has_repeat(idx: torch.Tensor) -> torch.Tensor:
    """Per row of ``idx`` (rows, batch): does any index appear twice?"""
    b = idx.shape[1]
    if b > 8:
        s = idx.sort(1).values
        return (s[:, 1:] == s[:, :-1]).any(1)
    out = torch.zeros(idx.shape[:1], dtype=torch.bool, device=idx.device)
    for i in range(b):
        for j in range(i + 1, b):
            out.logical_or_(idx[:, i] == idx[:, j])
    return out


class BatchSampler:
    """Draws batch indices over ``n`` samples from ``generator``."""

    def __init__(self, n: int, batch: int, *, generator: torch.Generator, device: torch.device | str = "cpu"):
        if not 1 <= batch <= n:
            raise ValueError(f"batch {batch} must lie in [1, n={n}]")
        self.n, self.batch = n, batch
        self.gen, self.device = generator, torch.device(device)
        self.accept = math.prod(1 - j / n for j in range(batch))
        self.dtype = index_dtype(n)
        self._left: torch.Tensor | None = None

    def _randint(self, shape) -> torch.Tensor:
        return torch.randint(self.n, shape, generator=self.gen, device=self.device, dtype=self.dtype)

    def iid(self, rows: int) -> torch.Tensor:
        """``rows`` independent batches of distinct indices: shape ``(rows, batch)``."""
        if self.accept < _MIN_ACCEPT:
            return self._permutation_heads(rows, self.batch)
        idx = self._randint((rows, self.batch))
        bad = has_repeat(idx).nonzero().squeeze(1)
        while len(bad):
            idx[bad] = self._randint((len(bad), self.batch))
            bad = bad[has_repeat(idx[bad])]
        return idx

    def shuffled(self, chains: int, steps: int) -> torch.Tensor:
        """The next ``steps`` batches of shuffled epochs for each of ``chains`` chains, in
        time order: shape ``(chains, steps, batch)``."""
        per_epoch = self.n // self.batch
        if self._left is None:
            self._left = torch.empty((chains, 0, self.batch), dtype=self.dtype, device=self.device)
        need = steps - self._left.shape[1]
        if need > 0:
            epochs = -(-need // per_epoch)
            perm = self._permutation_heads(chains * epochs, per_epoch * self.batch)
            fresh = perm.reshape(chains, epochs * per_epoch, self.batch)
            self._left = torch.cat([self._left, fresh], 1)
        out, self._left = self._left[:, :steps], self._left[:, steps:]
        return out

    def _permutation_heads(self, rows: int, keep: int) -> torch.Tensor:
        """The first ``keep`` entries of ``rows`` random permutations: ``(rows, keep)``."""
        step = max(1, _PERM_ELEMENTS // self.n)
        parts = []
        for start in range(0, rows, step):
            m = min(step, rows - start)
            keys = torch.rand((m, self.n), generator=self.gen, device=self.device, dtype=torch.float64)
            parts.append(keys.argsort(1)[:, :keep].to(self.dtype))
        return torch.cat(parts)
