"""The steps of :class:`lab.nin.toy.MomentStepper` as one compiled CPU loop over points
(numba; :data:`AVAILABLE` is False without it and the stepper runs its torch ops instead,
with the same numbers up to rounding).

Per point and step, with batch moments ``(Suu, Suz, Szz)`` shared by every point that has
the same batch size (module docstring of :mod:`lab.nin.toy`)::

    a = w1 w0 - M,  b = w1 wNI,  g_a = a sx^2 Suu + b sx se Suz,  g_b = a sx se Suz + b se^2 Szz
    w0 -= lr' w1 g_a,  w1 -= lr' (w0 g_a + wNI g_b),  wNI -= lr' w1 g_b

then the tracking of :meth:`lab.nin.toy.MomentStepper._track` (``lr' = 0`` from the first
blow-up on; maxima propagate NaN as ``torch.maximum`` does). A point's state stays in
registers for a whole chunk of steps instead of one pass over every point's state per op.
"""

from __future__ import annotations

import math

import numpy as np

try:
    import numba
except ImportError:  # optional: the torch path gives the same numbers
    numba = None  # type: ignore[assignment]  # optional dependency

AVAILABLE = numba is not None


def _nan_max(current, value):
    """``torch.maximum``: NaN if either is NaN."""
    if math.isnan(current) or math.isnan(value):
        return current + value
    return max(current, value)


def _run_chunk(
    m, bidx, M, sx, se, lr, blowup, thr, w0s, w1s, wns, alive, not_decayed, decay_step, alive_steps, loss_max, wn_max
):
    K = m.shape[0]
    for p in range(w0s.shape[0]):
        bi = bidx[p]
        Mp, sxp, sep, lrp, th = M[p], sx[p], se[p], lr[p], thr[p]
        sx2, sxse, se2 = sxp * sxp, sxp * sep, sep * sep
        w0, w1, wn = w0s[p], w1s[p], wns[p]
        al, nd, ds, als, lm, wm = alive[p], not_decayed[p], decay_step[p], alive_steps[p], loss_max[p], wn_max[p]
        lr_eff = al * lrp
        for k in range(K):
            suu, suz, szz = m[k, bi, 0], m[k, bi, 1], m[k, bi, 2]
            a = w1 * w0 - Mp
            b = w1 * wn
            cxe = sxse * suz
            ga = a * (sx2 * suu) + b * cxe
            gb = a * cxe + b * (se2 * szz)
            w0, w1, wn = w0 - lr_eff * (w1 * ga), w1 - lr_eff * (ga * w0 + wn * gb), wn - lr_eff * (gb * w1)
            wn_abs = abs(wn)
            nd *= 1.0 if wn_abs > th else 0.0
            ds += nd
            wm = _nan_max(wm, wn_abs)
            al *= 1.0 if wn_abs + abs(w0) + abs(w1) < blowup else 0.0
            als += al
            lr_eff = al * lrp
            r = w1 * w0 - Mp
            q = w1 * wn
            lm = _nan_max(lm, 0.5 * (r * r * (sxp * sxp) + q * q * se2))
        w0s[p], w1s[p], wns[p] = w0, w1, wn
        alive[p], not_decayed[p], decay_step[p], alive_steps[p], loss_max[p], wn_max[p] = al, nd, ds, als, lm, wm


if AVAILABLE:
    _nan_max = numba.njit(inline="always")(_nan_max)
    _run_chunk_jit = numba.njit(cache=True, nogil=True)(_run_chunk)


def run_chunk(m: np.ndarray, bidx: np.ndarray, consts: tuple, state: tuple, blowup: float) -> None:
    """Advance every point over the ``K`` steps of ``m`` (K, n_batches, 3); point ``p`` uses
    ``m[:, bidx[p]]``. ``consts`` = (M, sx, se, lr, thr), each (G,) float64; ``state`` =
    (w0, w1, wNI, alive, not_decayed, decay_step, alive_steps, loss_max, wn_max), (G,)
    float64 arrays updated in place."""
    M, sx, se, lr, thr = consts
    _run_chunk_jit(m, bidx, M, sx, se, lr, float(blowup), thr, *state)
