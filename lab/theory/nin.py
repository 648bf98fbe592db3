"""Theory of the linear Noise-Injection-Node model (paper: noise-injection-nodes, Sec. 3,
Eq. (3), App. D).

Model ``f = w1 (w0 x + wNI eps)``, target ``y = M x``, ``x ~ N(0, sigma_x^2)``,
``eps ~ N(0, sigma_eps^2)``, per-sample loss ``1/2 (f - y)^2``. Writing ``a = w1 w0 - M``
and ``b = w1 wNI``, the averaged SGD map (Eq. (3) with the zero-mean ``A`` terms dropped,
and the data weight's own step, which Eq. (3) leaves implicit) is::

    w0'  = w0 - lr w1 a sigma_x^2
    w1'  = w1 (1 - B sigma_eps^2) - C,   B = lr wNI^2,  C = lr a w0 sigma_x^2
    wNI' = wNI (1 - B~ sigma_eps^2),     B~ = lr w1^2

Phase thresholds. ``B sigma_eps^2`` and ``B~ sigma_eps^2`` are the dimensionless factors
of the map, so its stability conditions ``|1 - B~ sigma_eps^2| < 1`` and
``|1 - B sigma_eps^2| < 1`` are thresholds on **sigma_eps^2**: catapult above
``sigma_eps,cat^2 = min(2/B0, 2/B~0)``, divergent above ``sigma_eps,div^2 = max(2/B0, 2/B~0)``.
This is how the paper itself writes the divergent phase (``sigma_eps^2 >= sigma_eps,div^2``)
and how its Table 1 lists noise levels (sigma_eps^2 proportional to 1/lr, as 2/(lr w^2) is);
the paper's "sigma_eps > 2/B0" in the catapult paragraph is read the same way.
The decoupled/decay boundary ``sigma_eps,dec = 2 A~0 / B~0`` compares the random kick
``A~ sigma_eps`` with the decay ``B~ sigma_eps^2``; it is a threshold on sigma_eps itself,
with ``|Phi| = 1``: ``sigma_eps,dec = 2 sigma_x |w1 (w1 w0 - M)| / (sqrt(|B|) w1^2)``.

The paper's ``max(2/B0, 2/B~0)`` is an upper bound for divergence: for unequal initial
weights the averaged map already blows up near ``lr sigma_eps^2 (w1^2 + wNI^2) = 4`` (the
two-layer catapult limit of Lewkowycz et al. 2020, whose "NTK" here is
``sigma_eps^2 (w1^2 + wNI^2)``), and so does direct SGD (at lr 0.01, w1 = 1, wNI = 0.1 the
estimate is 396: 10 of 10 seeds diverge at sigma_eps^2 = 1000, 2 of 10 at 350, where the
paper's bound is 20000). That estimate ``sigma_eps2_div_uv`` (always between the catapult
and the paper's divergence boundaries) is therefore the divergence boundary of
:func:`theory_phase`; :func:`paper_phase` keeps the paper's.
"""

from __future__ import annotations

import numpy as np

#: phase codes stored in run files; 0 marks a phase-map cell not computed yet
PHASES = ("pending", "decoupled", "decay", "catapult", "divergent")
PHASE_CODE = {name: i for i, name in enumerate(PHASES)}


def boundaries(lr, batch, sigma_x, M, w0, w1, wni) -> dict:
    """Theory boundaries from the initial condition, all as sigma_eps^2 (arrays broadcast).

    ``sigma_eps2_dec`` = (2 A~0/B~0)^2, ``sigma_eps2_cat`` = min(2/B0, 2/B~0),
    ``sigma_eps2_div`` = max(2/B0, 2/B~0), ``sigma_eps2_div_uv`` = 4/(lr (w1^2 + wNI^2)).
    """
    lr, batch, sigma_x, M, w0, w1, wni = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lr, batch, sigma_x, M, w0, w1, wni))
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        b0 = lr * wni**2
        bt0 = lr * w1**2
        a_t0 = lr * sigma_x / np.sqrt(batch) * np.abs(w1 * (w1 * w0 - M))
        dec = np.where(bt0 > 0, 2 * a_t0 / bt0, np.inf) ** 2
        cat_b, cat_bt = 2 / b0, 2 / bt0
        out = {
            "sigma_eps2_dec": dec,
            "sigma_eps2_cat": np.minimum(cat_b, cat_bt),
            "sigma_eps2_div": np.maximum(cat_b, cat_bt),
            "sigma_eps2_div_uv": 4 / (lr * (w1**2 + wni**2)),
        }
    return {k: (float(v) if v.ndim == 0 else v) for k, v in out.items()}


def theory_phase(sigma_eps2, bounds: dict, divergence: str = "sigma_eps2_div_uv") -> np.ndarray:
    """The theory's phase (code in :data:`PHASES`) for each sigma_eps^2, from :func:`boundaries`:
    decay above ``sigma_eps2_dec``, catapult above ``sigma_eps2_cat``, divergent above the
    two-layer estimate ``sigma_eps2_div_uv`` (module docstring; ``divergence`` names the
    boundary used)."""
    s = np.asarray(sigma_eps2, dtype=float)
    code = np.full(np.broadcast(s, bounds["sigma_eps2_cat"]).shape, PHASE_CODE["decoupled"], dtype=np.int8)
    code = np.where(s > bounds["sigma_eps2_dec"], PHASE_CODE["decay"], code)
    code = np.where(s > bounds["sigma_eps2_cat"], PHASE_CODE["catapult"], code)
    code = np.where(s > bounds[divergence], PHASE_CODE["divergent"], code)
    return code.astype(np.int8)


def paper_phase(sigma_eps2, bounds: dict) -> np.ndarray:
    """The paper's phase: :func:`theory_phase` with its divergence boundary max(2/B0, 2/B~0)."""
    return theory_phase(sigma_eps2, bounds, "sigma_eps2_div")


def population_loss(w0, w1, wni, sigma_eps2, sigma_x, M):
    """Expected loss over x and eps: ``1/2 ((w1 w0 - M)^2 sigma_x^2 + (w1 wNI)^2 sigma_eps^2)``."""
    return 0.5 * ((w1 * w0 - M) ** 2 * sigma_x**2 + (w1 * wni) ** 2 * sigma_eps2)


def decay_rates(w0, w1, sigma_eps2, sigma_x) -> dict:
    """App. D, Eqs. (24)-(25): per-step rates of the loss (``2 sigma_x^2 (w0^2 + w1^2)``)
    and of the NIW (``sigma_eps^2 w1^2``), in units of lr."""
    return {"loss": 2 * sigma_x**2 * (w0**2 + w1**2), "niw": sigma_eps2 * w1**2}


def averaged_step(w, M, sigma_x, sigma_eps, lr):
    """One step of the averaged map (module docstring) on ``w = (w0, w1, wNI)`` floats."""
    w0, w1, wni = w
    a = w1 * w0 - M
    s2, x2 = sigma_eps * sigma_eps, sigma_x * sigma_x
    return (w0 - lr * w1 * a * x2, w1 * (1 - lr * wni * wni * s2) - lr * a * w0 * x2, wni * (1 - lr * w1 * w1 * s2))
