"""SGD on least-squares problems, many chains as one tensor program.

Per-sample loss ``1/2 (x_i.beta - y_i)^2``; one step on a batch ``S_k`` of ``B`` distinct
indices is ``beta <- beta - lr (1/B) sum_{S_k} x_i (x_i.beta - y_i)``. Around any point
``c`` that is exactly an affine map of ``e = beta - c``::

    e_{k+1} = A_k e_k + b_k,   A_k = I - lr H_k,   H_k = (1/B) sum_{S_k} x_i x_i^T,
                               b_k = lr (1/B) sum_{S_k} x_i (y_ik - x_i.c)

Each problem ``p`` carries two chains that share every batch and the start point:

* the noisy chain, around ``c = beta_hat`` (least squares on the fixed noisy labels), so
  ``b_k = lr/B sum x_i r_i``; or, with labels redrawn every step
  (``y_ik = x_i.beta* + eps_ik``), around ``c = beta*`` with ``b_k = lr/B sum x_i eps_ik``;
* the noiseless chain (labels ``x_i.beta*``), around ``beta*``, where ``b_k = 0``.

A run is cut into chunks whose ends are the kept iterates. For a block of chunks the
per-step rows ``(A_k - I, b_k)`` come from one sparse product (the batch incidence matrix
times per-sample tables ``-lr/B x_i x_i^T`` and ``lr/B x_i r_i``); each chunk is composed
in at most ``SEQ_STEPS`` vectorised updates (longer chunks are split into pieces that are
composed alongside each other, then reduced by a tree); a scan over the chunks gives every
kept iterate from the block's start (:mod:`lab.sgd.affine_scan`). On the CPU, when numba is
installed, the same draws and table rows are instead run as one compiled per-step loop
(:mod:`lab.sgd.compiled`): the chains of a CPU run are too few to pay for composing maps.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from . import compiled as loops
from .affine_scan import apply, compose_sequential, prefix_last, reduce_last
from .batches import BATCHINGS, BatchSampler

NOISE_TIMINGS = ("fixed", "redraw")
#: steps drawn and composed at once per problem (sets the progress granularity) ...
BLOCK_STEPS = 1 << 16
#: ... and at most this many steps summed over the problems (bounds memory)
BLOCK_MAPS = 1 << 19
#: longest run of steps composed one vectorised update at a time
SEQ_STEPS = 128


def chunk_layout(chunk: int) -> tuple[int, int]:
    """``(Ls, L1)``: a chunk of ``chunk`` steps is composed as ``L1`` pieces of ``Ls``
    steps (``Ls * L1 >= chunk``, the rest padded with identity maps)."""
    pieces = -(-chunk // SEQ_STEPS)
    return -(-chunk // pieces), pieces


@dataclass
class Draws:
    """The random draws of ``C`` chunks of ``chunk`` steps for ``P`` problems.

    ``idx`` (Ls, P, C, L1, B): sample indices in the engine's layout, where step
    ``l1 * Ls + j`` of chunk ``c`` of problem ``p`` sits at ``[j, p, c, l1]`` and ``N``
    marks padding;
    ``eps`` the same for the redrawn label noise of every batch member (or None).
    Both are views of storage in time order ``(P, C, L1, Ls, B)``: the compiled loop reads
    them front to back, the torch path gathers them into its layout.
    """

    idx: torch.Tensor
    eps: torch.Tensor | None
    chunk: int

    def in_time_order(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(idx, eps)`` as ``(P, K, B)`` tensors in step order."""

        def order(t):
            ls, p, c, l1, b = t.shape
            return t.permute(1, 2, 3, 0, 4).reshape(p, c, l1 * ls, b)[:, :, : self.chunk].reshape(p, -1, b)

        return order(self.idx), None if self.eps is None else order(self.eps)


def _to_layout(t: torch.Tensor, chunk: int, fill) -> torch.Tensor:
    """``(P, K, B)`` in step order -> the engine's ``(Ls, P, C, L1, B)`` layout (a view)."""
    ls, l1 = chunk_layout(chunk)
    p, k, b = t.shape
    t = t.reshape(p, k // chunk, chunk, b)
    if ls * l1 > chunk:
        t = torch.cat([t, t.new_full((p, k // chunk, ls * l1 - chunk, b), fill)], 2)
    return t.reshape(p, k // chunk, l1, ls, b).permute(3, 0, 1, 2, 4)


@dataclass
class Block:
    """Kept iterates: ``steps`` (T,), ``noisy`` and ``clean`` (P, T, d) (numpy)."""

    steps: np.ndarray
    noisy: np.ndarray
    clean: np.ndarray


class LeastSquaresSGD:
    """Noisy and noiseless SGD chains on ``P`` least-squares problems of equal size.

    ``x`` (P, N, d) samples; ``beta_star`` (P, d); ``labels`` (P, N): the noisy labels for
    ``noise='fixed'`` (unused for ``redraw``, whose labels are ``x.beta*`` plus fresh noise
    of variance ``sigma2`` (P,) at every step); ``start`` (P, d) the common start point.
    ``compiled``: take the steps in the compiled loop of :mod:`lab.sgd.compiled` (default:
    for 2-D problems on the CPU when numba is installed) rather than by composing maps in
    torch; both give the same iterates up to rounding.
    """

    def __init__(
        self,
        x,
        beta_star,
        start,
        *,
        lr: float,
        batch: int,
        labels=None,
        noise: str = "fixed",
        sigma2=None,
        batching: str = "iid",
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        block_steps: int = BLOCK_STEPS,
        compiled: bool | None = None,
    ):
        if noise not in NOISE_TIMINGS:
            raise ValueError(f"noise must be one of {NOISE_TIMINGS}, not {noise!r}")
        if batching not in BATCHINGS:
            raise ValueError(f"batching must be one of {BATCHINGS}, not {batching!r}")
        dev = torch.device(device)
        f64: dict[str, Any] = dict(dtype=torch.float64, device=dev)
        x = torch.as_tensor(np.asarray(x), **f64)
        self.P, self.N, self.d = P, N, d = x.shape
        can_compile = dev.type == "cpu" and loops.AVAILABLE and d == 2
        if compiled and not can_compile:
            raise ValueError("the compiled step loop needs numba, the CPU and 2-D problems")
        self.compiled = can_compile if compiled is None else compiled
        self.lr, self.batch, self.noise, self.batching = float(lr), int(batch), noise, batching
        self.gen, self.device, self.block_steps = generator, dev, int(block_steps)
        self.sampler = BatchSampler(N, batch, generator=generator, device=dev)
        self.beta_star = torch.as_tensor(np.asarray(beta_star), **f64)
        scale = self.lr / self.batch
        outer = -scale * (x[:, :, :, None] * x[:, :, None, :]).reshape(P, N, d * d)
        if noise == "fixed":
            y = torch.as_tensor(np.asarray(labels), **f64)
            self.centre = torch.linalg.lstsq(x, y[..., None]).solution[..., 0]
            resid = y - (x @ self.centre[..., None])[..., 0]
            extra = scale * x * resid[..., None]  # x_i r_i
            self.sigma = None
        else:
            self.centre = self.beta_star
            extra = scale * x  # weighted by fresh eps at every step
            self.sigma = torch.as_tensor(np.asarray(sigma2), **f64).sqrt().reshape(1, P, 1, 1, 1)
        table = torch.cat([outer, extra], 2)
        # row p (N + 1) + N of the table is zero: the identity step that pads chunks
        self._table = torch.cat([table, table.new_zeros(P, 1, d * d + d)], 1).reshape(P * (N + 1), -1)
        if P * (N + 1) >= 2**31:
            raise ValueError(f"{P} problems of {N} samples are too many to index with int32")
        self._offsets = (torch.arange(P, device=dev, dtype=torch.int32) * (N + 1)).reshape(1, P, 1, 1, 1)
        self._ones = torch.ones(0, dtype=torch.float64, device=dev)  # grown on demand
        start = torch.as_tensor(np.asarray(start), **f64)
        self.e_noisy = (start - self.centre).T.contiguous()  # (d, P)
        self.e_clean = (start - self.beta_star).T.contiguous()

    # -- draws and maps --------------------------------------------------------------------
    def draw(self, steps: int, chunk: int) -> Draws:
        """Batch indices (and fresh label noise for ``redraw``) for the next ``steps`` steps,
        a whole number of chunks of ``chunk`` steps."""
        if steps % chunk:
            raise ValueError(f"{steps} steps are not a whole number of chunks of {chunk}")
        ls, l1 = chunk_layout(chunk)
        shape = (self.P, steps // chunk, l1, ls, self.batch)  # time order
        layout = (3, 0, 1, 2, 4)
        if self.batching == "shuffle":
            idx = _to_layout(self.sampler.shuffled(self.P, steps), chunk, self.N)
        else:
            idx = self.sampler.iid(math.prod(shape[:-1])).reshape(shape)
            if ls * l1 > chunk:
                t = ls * torch.arange(l1, device=self.device)[:, None] + torch.arange(ls, device=self.device)
                idx.masked_fill_((t >= chunk)[None, None, :, :, None], self.N)
            idx = idx.permute(layout)
        eps = None
        if self.noise == "redraw":
            assert self.sigma is not None  # set whenever noise is redrawn
            eps = torch.randn(shape, generator=self.gen, dtype=torch.float64, device=self.device).permute(layout)
            eps = eps * self.sigma
        return Draws(idx, eps, chunk)

    def _step_rows(self, draws: Draws) -> torch.Tensor:
        """Rows ``(vec(A_k - I), b_k)`` of every step, ``(Ls * P * C * L1, d*d + d)``."""
        b = draws.idx.shape[-1]
        cols = (draws.idx + self._offsets).reshape(-1)
        rows = cols.numel() // b
        crow = torch.arange(0, rows * b + 1, b, device=self.device, dtype=torch.int32)
        if len(self._ones) < len(cols):
            self._ones = torch.ones(len(cols), dtype=torch.float64, device=self.device)
        ones = self._ones[: len(cols)]

        def incidence(values):
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                return torch.sparse_csr_tensor(
                    crow, cols, values, size=(rows, len(self._table)), check_invariants=False
                )

        if draws.eps is None:
            return incidence(ones) @ self._table
        dd = self.d * self.d
        return torch.cat(
            [incidence(ones) @ self._table[:, :dd], incidence(draws.eps.reshape(-1)) @ self._table[:, dd:]], 1
        )

    def advance(self, draws: Draws) -> tuple[torch.Tensor, torch.Tensor]:
        """Take the drawn steps; return the iterates at every chunk end, ``(noisy, clean)``
        each ``(P, C, d)``, and carry the last ones on."""
        if self.compiled:
            noisy, clean = loops.advance(
                draws.idx, draws.eps, self._table, self.N + 1, self.e_noisy, self.e_clean, draws.chunk
            )
            return noisy + self.centre[:, None, :], clean + self.beta_star[:, None, :]
        ls, p, c, l1, _ = draws.idx.shape
        d, dd = self.d, self.d * self.d
        rows = self._step_rows(draws).reshape(ls, p * c * l1, dd + d)
        a, b = compose_sequential(rows[..., :dd], rows[..., dd:])
        ends = prefix_last(reduce_last((a.reshape(d, d, p, c, l1), b.reshape(d, p, c, l1))))
        e_noisy = apply(ends, self.e_noisy[..., None])
        e_clean = apply(ends, self.e_clean[..., None], offset=False)
        self.e_noisy, self.e_clean = e_noisy[..., -1].clone(), e_clean[..., -1].clone()
        return (
            e_noisy.permute(1, 2, 0) + self.centre[:, None, :],
            e_clean.permute(1, 2, 0) + self.beta_star[:, None, :],
        )

    # -- a whole run -----------------------------------------------------------------------
    def schedule(self, steps: int, stride: int) -> list[tuple[int, int]]:
        """``(steps, chunk)`` segments: every one of the first ``stride`` steps is kept, then
        every ``stride``-th in blocks of about ``min(block_steps, BLOCK_MAPS / P)`` steps,
        then the final step."""
        head = min(stride, steps)
        out = [(head, 1)] if head else []
        rest = steps - head
        block = stride * max(1, min(self.block_steps, BLOCK_MAPS // self.P) // stride)
        while rest >= stride:
            k = min(block, rest - rest % stride)
            out.append((k, stride))
            rest -= k
        if rest:
            out.append((rest, rest))
        return out

    def kept_steps(self, steps: int, stride: int) -> np.ndarray:
        """The step numbers :meth:`blocks` yields, in order (step 0 is the start point)."""
        out, done = [np.zeros(1, np.int64)], 0
        for k, chunk in self.schedule(steps, stride):
            out.append(done + np.arange(chunk, k + 1, chunk, dtype=np.int64))
            done += k
        return np.concatenate(out)

    def blocks(self, steps: int, stride: int, record: list | None = None) -> Iterator[Block]:
        """Run ``steps`` steps, yielding the kept iterates block by block (first the start).

        ``record``, if given, receives each segment's :class:`Draws` (to replay them).
        """
        noisy0 = (self.e_noisy.T + self.centre)[:, None, :]
        clean0 = (self.e_clean.T + self.beta_star)[:, None, :]
        yield Block(np.zeros(1, np.int64), noisy0.cpu().numpy(), clean0.cpu().numpy())
        done = 0
        for k, chunk in self.schedule(steps, stride):
            with loops.one_thread() if self.compiled else contextlib.nullcontext():
                draws = self.draw(k, chunk)
                noisy, clean = self.advance(draws)
            if record is not None:
                record.append(draws)
            yield Block(done + np.arange(chunk, k + 1, chunk, dtype=np.int64), noisy.cpu().numpy(), clean.cpu().numpy())
            done += k


def reference_sgd(
    x: np.ndarray,
    labels: np.ndarray,
    start: np.ndarray,
    lr: float,
    batches: Iterable[np.ndarray],
    noise: Iterable[np.ndarray] | None = None,
) -> np.ndarray:
    """One chain, one Python step at a time: ``beta -= lr/B X_S^T (X_S beta - y_S)`` with
    ``y_S = labels[S] (+ noise_k)``. Returns every iterate, ``(K + 1, d)``. The plain
    baseline the batched engine is checked and timed against."""
    beta = np.array(start, dtype=np.float64)
    out = [beta]
    noise = iter(noise) if noise is not None else None
    for s in batches:
        xb = x[s]
        yb = labels[s] if noise is None else labels[s] + next(noise)
        beta = beta - lr / len(s) * (xb.T @ (xb @ beta - yb))
        out.append(beta)
    return np.array(out)
