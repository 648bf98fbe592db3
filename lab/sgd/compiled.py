"""The steps of :class:`lab.sgd.least_squares.LeastSquaresSGD` as one compiled CPU loop
(numba; :data:`AVAILABLE` is False without it, and the engine composes maps in torch
instead, with the same numbers up to rounding). Written for the 2-D problems of ``ols``.

Per step ``k`` of problem ``p``, with the per-sample table rows ``T_i = (-lr/B vec(x_i x_i^T),
lr/B x_i r_i)`` (or ``lr/B x_i`` weighted by the step's ``eps``)::

    S_k = sum_{i in S_k} T_i[:d*d],  g_k = sum_{i in S_k} T_i[d*d:] (* eps_ik),
    e_noisy <- e_noisy + S_k e_noisy + g_k,   e_clean <- e_clean + S_k e_clean

so both chains of a problem read each batch once: ``O(B d^2)`` per step in one pass over the
drawn indices, against ``O(B d^2 + d^3)`` per step and several passes for composing maps,
which pays only on a wide device (a GPU) that a loop over a few chains would leave idle.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

try:
    import numba
except ImportError:  # optional: the torch path gives the same numbers
    numba = None  # type: ignore[assignment]  # optional dependency

AVAILABLE = numba is not None


def _advance(idx, eps, table, n_rows, e_noisy, e_clean, chunk, out_noisy, out_clean):
    """``idx`` (Ls, P, C, L1, B) in the engine's layout (:class:`lab.sgd.least_squares.Draws`);
    ``eps`` the same shape (or (0, ...) for fixed noise); ``table`` (P * n_rows, 6) for
    ``d = 2``; ``e_*`` (2, P) updated in place; ``out_*`` (P, C, 2) receive the iterates at
    chunk ends. Scalars rather than small arrays keep a step in registers."""
    ls, P, C, _, B = idx.shape
    redraw = eps.shape[0] > 0
    for p in range(P):
        base = p * n_rows
        n0, n1 = e_noisy[0, p], e_noisy[1, p]
        c0, c1 = e_clean[0, p], e_clean[1, p]
        for c in range(C):
            for t in range(chunk):
                piece, j = divmod(t, ls)
                s00 = s01 = s10 = s11 = g0 = g1 = 0.0
                for m in range(B):
                    row = table[base + idx[j, p, c, piece, m]]
                    s00 += row[0]
                    s01 += row[1]
                    s10 += row[2]
                    s11 += row[3]
                    w = eps[j, p, c, piece, m] if redraw else 1.0
                    g0 += w * row[4]
                    g1 += w * row[5]
                n0, n1 = n0 + (s00 * n0 + s01 * n1 + g0), n1 + (s10 * n0 + s11 * n1 + g1)
                c0, c1 = c0 + (s00 * c0 + s01 * c1), c1 + (s10 * c0 + s11 * c1)
            out_noisy[p, c, 0], out_noisy[p, c, 1] = n0, n1
            out_clean[p, c, 0], out_clean[p, c, 1] = c0, c1
        e_noisy[0, p], e_noisy[1, p] = n0, n1
        e_clean[0, p], e_clean[1, p] = c0, c1


_advance_jit: Any = numba.njit(cache=True, nogil=True)(_advance) if AVAILABLE else None


@contextlib.contextmanager
def one_thread():
    """torch's intra-op pool at one thread while the enclosed draws run: a block's tensors
    are too small to gain from more, and where cores are shared, waiting threads made a
    run several times slower (measured: 6.9 s against 1.0 s for 3,000,000 ``ols`` steps)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def advance(
    idx: torch.Tensor,
    eps: torch.Tensor | None,
    table: torch.Tensor,
    n_rows: int,
    e_noisy: torch.Tensor,
    e_clean: torch.Tensor,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the drawn steps of 2-D problems (CPU tensors); ``e_noisy``, ``e_clean`` (2, P) are
    advanced in place. Returns the offsets from the centres at every chunk end, each ``(P, C, 2)``."""
    p, c = idx.shape[1:3]
    d = e_noisy.shape[0]
    if d != 2:
        raise ValueError(f"the compiled step loop is written for 2-D problems, not d={d}")
    out_noisy = torch.empty((p, c, d), dtype=torch.float64)
    out_clean = torch.empty((p, c, d), dtype=torch.float64)
    no_eps = np.zeros((0, 1, 1, 1, 1))
    _advance_jit(
        idx.numpy(),
        no_eps if eps is None else eps.numpy(),
        table.numpy(),
        n_rows,
        e_noisy.numpy(),
        e_clean.numpy(),
        chunk,
        out_noisy.numpy(),
        out_clean.numpy(),
    )
    return out_noisy, out_clean
