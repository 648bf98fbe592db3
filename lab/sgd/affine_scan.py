"""Compose long sequences of affine maps ``e -> A_k e + b_k`` without a Python loop per step.

Composed maps are stored component-first: ``A`` has shape ``(d, d, *batch)`` and ``b``
shape ``(d, *batch)``. Three primitives, each vectorised over every independent sequence:

* :func:`compose_sequential` composes ``L`` consecutive steps given as rows
  ``(A_k - I, b_k)``, one vectorised update per step (so ``L`` stays small);
* :func:`reduce_last` composes along the last batch axis by a pairwise tree
  (``ceil(log2 K)`` levels): ``M_{K-1} o ... o M_0``;
* :func:`prefix_last` forms every prefix ``M_c o ... o M_0`` along the last batch axis by
  the Hillis-Steele scan (``ceil(log2 K)`` levels).

Cutting a run into chunks, composing each chunk and scanning over the chunks gives the
state at every chunk end from the start state, with ``O(K)`` work and few Python steps.
"""

from __future__ import annotations

import torch

Maps = tuple[torch.Tensor, torch.Tensor]


def compose(later: Maps, earlier: Maps) -> Maps:
    """``later o earlier``: ``e -> A2 (A1 e + b1) + b2 = (A2 A1) e + (A2 b1 + b2)``
    (both of the same shape)."""
    a2, b2 = later
    a1, b1 = earlier
    a = torch.empty_like(a2)
    b = torch.empty_like(b2)
    d = a2.shape[0]
    for i in range(d):
        torch.add(b2[i], a2[i, 0] * b1[0], out=b[i])
        for j in range(1, d):
            b[i].addcmul_(a2[i, j], b1[j])
        for k in range(d):
            torch.mul(a2[i, 0], a1[0, k], out=a[i, k])
            for j in range(1, d):
                a[i, k].addcmul_(a2[i, j], a1[j, k])
    return a, b


def apply(maps: Maps, e: torch.Tensor, offset: bool = True) -> torch.Tensor:
    """``A e + b`` (``A e`` without ``offset``), ``e`` of shape ``(d, ...)`` broadcast
    against the maps' batch axes."""
    a, b = maps
    out = b.clone() if offset else torch.zeros_like(b)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i].addcmul_(a[i, j], e[j])
    return out


def compose_sequential(a_rows: torch.Tensor, b_rows: torch.Tensor) -> Maps:
    """Compose ``L`` steps of ``M`` independent sequences, time along axis 0.

    ``a_rows`` (L, M, d*d) holds ``vec(A_k - I)`` (row-major), ``b_rows`` (L, M, d) holds
    ``b_k``; the rows may be strided views. Returns ``(A, b)`` of shapes ``(d, d, M)`` and
    ``(d, M)``: ``M_{L-1} o ... o M_0``. Carrying ``[A | b]`` as ``d`` rows of length
    ``d + 1``, a step is ``V <- V + (A_k - I) V + [0 | b_k]``.
    """
    steps, m, dd = a_rows.shape
    d = b_rows.shape[2]
    v = torch.zeros((d, d + 1, m), dtype=a_rows.dtype, device=a_rows.device)
    for i in range(d):
        v[i, i] = 1.0
    for k in range(steps):
        s, g = a_rows[k], b_rows[k]
        new = v.clone()
        for i in range(d):
            for j in range(d):
                new[i].addcmul_(s[:, i * d + j], v[j])
            new[i, d].add_(g[:, i])
        v = new
    return v[:, :d], v[:, d]


def reduce_last(maps: Maps) -> Maps:
    """Compose along the last axis, earliest first; that axis is removed."""
    a, b = maps
    while a.shape[-1] > 1:
        n = a.shape[-1]
        m = n - n % 2
        pa, pb = compose((a[..., 1:m:2], b[..., 1:m:2]), (a[..., 0:m:2], b[..., 0:m:2]))
        if n % 2:  # the odd last map passes to the next level unchanged
            pa, pb = torch.cat([pa, a[..., -1:]], -1), torch.cat([pb, b[..., -1:]], -1)
        a, b = pa, pb
    return a[..., 0], b[..., 0]


def prefix_last(maps: Maps) -> Maps:
    """Inclusive prefix compositions along the last axis: entry ``c`` is ``M_c o ... o M_0``."""
    a, b = maps
    n = a.shape[-1]
    s = 1
    while s < n:
        pa, pb = compose((a[..., s:], b[..., s:]), (a[..., :-s], b[..., :-s]))
        a, b = torch.cat([a[..., :s], pa], -1), torch.cat([b[..., :s], pb], -1)
        s *= 2
    return a, b
