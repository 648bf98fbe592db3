"""What a researcher who cares about speed writes instead: plain per-step loops compiled by
numba, the peers the benchmarks time the lab's engines against (numba is in the ``bench``
extra; :data:`AVAILABLE` is False without it).

* :func:`ols_sgd`: label-noise SGD on 2-D least squares (paper Sec. 4), every problem's noisy
  and noiseless chain advanced together one step at a time on a shared batch of ``B``
  distinct indices (drawn with replacement, redrawn while any repeats),
  ``beta <- beta - lr/B sum_S x_i (x_i.beta - y_i)``; keeps every step up to ``stride``,
  then every ``stride``-th iterate and the last, as the ``ols`` experiment does.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # the peers are optional: the benchmarks skip them
    numba = None

AVAILABLE = numba is not None


def kept_steps(steps: int, stride: int) -> np.ndarray:
    """Step numbers kept: ``0..stride``, then multiples of ``stride``, then ``steps``."""
    head = np.arange(min(stride, steps) + 1)
    tail = np.arange(2 * stride, steps + 1, stride)
    out = np.concatenate([head, tail])
    return out if out[-1] == steps else np.append(out, steps)


def _ols_loop(x, y, star, start, lr, batch, steps, keep, seed):
    np.random.seed(seed)
    P, N, _ = x.shape
    T = len(keep)
    noisy = np.empty((P, T, 2))
    clean = np.empty((P, T, 2))
    idx = np.empty(batch, np.int64)
    scale = lr / batch
    for p in range(P):
        n0, n1 = start[p, 0], start[p, 1]
        c0, c1 = n0, n1
        noisy[p, 0] = (n0, n1)
        clean[p, 0] = (c0, c1)
        t = 1
        for k in range(1, steps + 1):
            while True:  # B distinct indices
                for j in range(batch):
                    idx[j] = np.random.randint(0, N)
                ok = True
                for a in range(batch):
                    for b in range(a + 1, batch):
                        ok = ok and idx[a] != idx[b]
                if ok:
                    break
            gn0 = gn1 = gc0 = gc1 = 0.0
            for j in range(batch):
                i = idx[j]
                x0, x1 = x[p, i, 0], x[p, i, 1]
                rn = x0 * n0 + x1 * n1 - y[p, i]
                rc = x0 * (c0 - star[p, 0]) + x1 * (c1 - star[p, 1])  # noiseless label x.beta*
                gn0 += x0 * rn
                gn1 += x1 * rn
                gc0 += x0 * rc
                gc1 += x1 * rc
            n0, n1 = n0 - scale * gn0, n1 - scale * gn1
            c0, c1 = c0 - scale * gc0, c1 - scale * gc1
            if t < T and keep[t] == k:
                noisy[p, t] = (n0, n1)
                clean[p, t] = (c0, c1)
                t += 1
    return noisy, clean


_ols_jit = numba.njit(cache=False)(_ols_loop) if AVAILABLE else None


def ols_sgd(x, y, star, start, lr: float, batch: int, steps: int, stride: int, seed: int = 0):
    """``(steps_kept, noisy, clean)``: kept step numbers and iterates ``(P, T, d)`` of the
    noisy chains (labels ``y``) and noiseless chains (labels ``x.beta*``), all from ``start``."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed (pip install -e '.[bench]')")
    keep = kept_steps(steps, stride)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)
    noisy, clean = _ols_jit(f64(x), f64(y), f64(star), f64(start), float(lr), int(batch), int(steps), keep, int(seed))
    return keep, noisy, clean
