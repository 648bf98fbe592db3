"""Exponential fits for decay time-scales (NIW norm, losses): ``y(t) = A exp(-t/tau) + C``.

For a fixed ``tau`` the model is linear in ``(A, C)`` (or in ``A`` alone with
``offset=False``), solved by least squares; ``tau`` minimises the residual, found on a
logarithmic grid and refined by golden-section search on ``log tau``. The fit range,
the number of points and the quality (R^2 and the RMS residual) are returned with the
parameters, so a run file can record how each time-scale was obtained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ExpFit:
    tau: float
    amplitude: float
    offset: float
    r2: float
    rms: float
    t_min: float
    t_max: float
    n: int

    @property
    def ok(self) -> bool:
        """A usable decay: finite positive tau, inside ~100x the fit range, R^2 >= 0.5."""
        span = self.t_max - self.t_min
        return bool(np.isfinite(self.tau) and 0 < self.tau < 100 * max(span, 1e-300) and self.r2 >= 0.5)

    def curve(self, t) -> np.ndarray:
        return self.amplitude * np.exp(-np.asarray(t, float) / self.tau) + self.offset

    def as_dict(self, prefix: str = "") -> dict:
        return {prefix + k: v for k, v in {**asdict(self), "ok": self.ok}.items()}


FAILED = dict(tau=math.nan, amplitude=math.nan, offset=math.nan, r2=math.nan, rms=math.nan)


def _solve(t: np.ndarray, y: np.ndarray, tau: float, offset: bool) -> tuple[float, float, float]:
    """Least-squares ``(A exp(-t[0]/tau), C)`` for fixed tau (the amplitude at the first
    point, which cannot overflow) and the sum of squared residuals."""
    e = np.exp(-(t - t[0]) / tau)
    X = np.stack([e, np.ones_like(e)], axis=1) if offset else e[:, None]
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ coef
    return float(coef[0]), float(coef[1]) if offset else 0.0, float(r @ r)


def fit_exponential(t, y, *, offset: bool = True, t_range: tuple[float, float] | None = None) -> ExpFit:
    """Fit ``A exp(-t/tau) + C`` (``C = 0`` without ``offset``) to the finite points of
    ``(t, y)`` inside ``t_range`` (default: all). Needs 3 points (4 with an offset)."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    keep = np.isfinite(t) & np.isfinite(y)
    if t_range is not None:
        keep &= (t >= t_range[0]) & (t <= t_range[1])
    t, y = t[keep], y[keep]
    n = len(t)
    lo, hi = (float(t.min()), float(t.max())) if n else (math.nan, math.nan)
    if n < (4 if offset else 3) or hi <= lo:
        return ExpFit(**FAILED, t_min=lo, t_max=hi, n=n)
    span = hi - lo
    dt = float(np.min(np.diff(np.unique(t))))
    grid = np.geomspace(dt / 10, span * 100, 200)
    sse = [_solve(t, y, tau, offset)[2] for tau in grid]
    k = int(np.argmin(sse))
    a_lo, a_hi = math.log(grid[max(k - 1, 0)]), math.log(grid[min(k + 1, len(grid) - 1)])
    g = (math.sqrt(5) - 1) / 2
    c, d = a_hi - g * (a_hi - a_lo), a_lo + g * (a_hi - a_lo)
    fc, fd = _solve(t, y, math.exp(c), offset)[2], _solve(t, y, math.exp(d), offset)[2]
    for _ in range(60):
        if fc < fd:
            a_hi, d, fd = d, c, fc
            c = a_hi - g * (a_hi - a_lo)
            fc = _solve(t, y, math.exp(c), offset)[2]
        else:
            a_lo, c, fc = c, d, fd
            d = a_lo + g * (a_hi - a_lo)
            fd = _solve(t, y, math.exp(d), offset)[2]
    tau = math.exp((a_lo + a_hi) / 2)
    a_first, off, res = _solve(t, y, tau, offset)
    # A = A(t0) exp(t0/tau): +-inf (curve NaN) when a fast decay starts late, instead of an OverflowError
    amp = a_first * math.exp(t[0] / tau) if t[0] / tau < 700 else math.copysign(math.inf, a_first)
    tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - res / tot if tot > 0 else math.nan
    return ExpFit(tau=tau, amplitude=amp, offset=off, r2=r2, rms=math.sqrt(res / n), t_min=lo, t_max=hi, n=n)
