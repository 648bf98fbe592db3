"""What a researcher who cares about speed writes instead: plain per-step loops compiled by
numba, the peers the benchmarks time the lab's engines against (numba is in the ``bench``
extra; :data:`AVAILABLE` is False without it).

* :func:`ols_sgd`: label-noise SGD on 2-D least squares (paper Sec. 4), every problem's noisy
  and noiseless chain advanced together one step at a time on a shared batch of ``B``
  distinct indices (drawn with replacement, redrawn while any repeats),
  ``beta <- beta - lr/B sum_S x_i (x_i.beta - y_i)``; keeps every step up to ``stride``,
  then every ``stride``-th iterate and the last, as the ``ols`` experiment does;
* :func:`nin_phase_points`: the linear NIN model (paper Sec. 3) trained point by point
  with per-sample gradients on shared draws, with the summaries a phase map classifies.
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
    np.random.seed(seed)  # noqa: NPY002  (numba compiles the legacy generator, not np.random.Generator)
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
                    idx[j] = np.random.randint(0, N)  # noqa: NPY002
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


def _nin_points(u, z, M, sx, se, lr, w_init, blowup):
    T, B = u.shape
    G = len(se)
    out = np.full((G, 7), np.nan)  # loss0, loss_max, loss_final, wni_max, wni_final, decay_step, blowup_step
    for p in range(G):
        w0, w1, wn = w_init[0], w_init[1], w_init[2]
        s2 = se[p] * se[p]
        loss0 = 0.5 * ((w1 * w0 - M) ** 2 * sx**2 + (w1 * wn) ** 2 * s2)
        thr = abs(wn) / np.e if wn != 0 else -1.0
        loss_max, wn_max = loss0, abs(wn)
        decay, blown = np.nan, np.nan
        for k in range(T):
            g0 = g1 = gn = 0.0
            for j in range(B):
                x, e = sx * u[k, j], se[p] * z[k, j]
                h = w0 * x + wn * e
                r = w1 * h - M * x
                g0 += r * w1 * x
                g1 += r * h
                gn += r * w1 * e
            w0, w1, wn = w0 - lr[p] * g0 / B, w1 - lr[p] * g1 / B, wn - lr[p] * gn / B
            loss = 0.5 * ((w1 * w0 - M) ** 2 * sx**2 + (w1 * wn) ** 2 * s2)
            if not abs(w0) + abs(w1) + abs(wn) < blowup:
                blown = k + 1.0
                break
            loss_max, wn_max = max(loss_max, loss), max(wn_max, abs(wn))
            if np.isnan(decay) and abs(wn) <= thr:
                decay = k + 1.0
        out[p, 0], out[p, 1], out[p, 3], out[p, 5], out[p, 6] = loss0, loss_max, wn_max, decay, blown
        out[p, 2] = 0.5 * ((w1 * w0 - M) ** 2 * sx**2 + (w1 * wn) ** 2 * s2)
        out[p, 4] = abs(wn)
    return out


_nin_jit = numba.njit(cache=False)(_nin_points) if AVAILABLE else None


def nin_phase_points(u, z, M: float, sigma_x: float, sigma_eps, lr, w_init, blowup: float) -> dict:
    """The linear NIN model (paper Sec. 3) trained point by point with per-sample batch-mean
    gradients of ``1/(2B) sum (w1 (w0 x + wNI eps) - M x)^2`` on the drawn batches ``u``,
    ``z`` (T, B) (``x = sigma_x u``, ``eps = sigma_eps z``), stopping at a blow-up; per-point
    summaries as :meth:`lab.nin.toy.MomentStepper.summaries` names them."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed (pip install -e '.[bench]')")
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)
    out = _nin_jit(f64(u), f64(z), float(M), float(sigma_x), f64(sigma_eps), f64(lr), f64(w_init), float(blowup))
    keys = ("loss0", "loss_max", "loss_final", "wni_max", "wni_final", "decay_step", "blowup_step")
    return {k: out[:, i] for i, k in enumerate(keys)}
