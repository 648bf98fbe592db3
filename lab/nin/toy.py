"""SGD on the linear NIN model ``f = w1 (w0 x + wNI eps)``, ``y = M x`` (paper Sec. 3).

Loss ``1/(2|B|) sum_B (f - y)^2``, step ``w -= lr * grad``. Two implementations that use
the same random draws:

* :func:`literal_run` — the definition: per step a mini-batch of samples, residuals and
  batch-mean gradients (one trajectory, Python loop; what ``nin-toy`` runs).
* :class:`MomentStepper` — the same step written through the batch moments
  ``Suu = <u^2>, Suz = <u z>, Szz = <z^2>`` of the standardised inputs ``u = x/sigma_x``
  and noises ``z = eps/sigma_eps``: with ``a = w1 w0 - M``, ``b = w1 wNI``,
  ``grad w0 = w1 g_a``, ``grad w1 = w0 g_a + wNI g_b``, ``grad wNI = w1 g_b`` where
  ``g_a = a sx^2 Suu + b sx se Suz`` and ``g_b = a sx se Suz + b se^2 Szz``. Exact for this
  quadratic loss, it advances many grid points at once (the phase map) and, with the
  population moments ``(1, 0, 1)``, is the averaged dynamics of Eq. (3).

Draws (:class:`ToyDraws`): a training set of ``n_samples`` inputs ``u_i ~ N(0, 1)``;
each step ``batch`` indices drawn i.i.d. (with replacement); the noise is ``fixed`` (one
``z_i`` per training sample, drawn once) or ``redraw`` (fresh ``z`` for every sample used).
Draws are made on the CPU in chunks of :data:`CHUNK` steps, so a seed gives the same
numbers whatever the device. A run with a smaller batch than the draws uses the first
``batch`` columns (the phase map's batch axis).

Phase rules (:func:`classify`), on the population loss ``Lp(t)`` (expected loss of the
current weights, :func:`lab.theory.nin.population_loss`) and ``|wNI(t)|`` at every step:

* ``divergent``: the weights blow up (``|w0| + |w1| + |wNI| >= BLOWUP`` or not finite), or
  the loss spiked (below) and ended above its initial value (no recovery);
* ``catapult``: ``max_t Lp >= SPIKE * Lp(0)`` and ``Lp(T) < Lp(0)`` (spike, then recovery);
* ``decay``: ``|wNI|`` fell to ``|wNI(0)|/e`` within the run (decay time = first such step);
* ``decoupled``: none of these (the NIW random-walks over the run's horizon).

The decoupled/decay rule depends on the run's length (a NIW decaying at rate
``lr w1^2 sigma_eps^2`` needs about ``1/(lr w1^2 sigma_eps^2)`` steps), so it agrees with the
paper's ``sigma_eps,dec`` only well inside each region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..theory.nin import PHASE_CODE, averaged_step, population_loss
from . import compiled as loops

CHUNK = 1000
BLOWUP = 1e6


def blown_up(w) -> np.ndarray:
    """True where ``|w0| + |w1| + |wNI| >= BLOWUP`` or is not finite, for (..., 3) rows."""
    return ~(np.abs(np.asarray(w)).sum(axis=-1) < BLOWUP)


SPIKE = 2.0
DTYPE = torch.float64


def decay_threshold(wni0):
    """``|wNI(0)|/e``; -1 (never reached) when ``wNI(0) = 0``: nothing can decay."""
    thr = abs(wni0) / math.e
    if isinstance(thr, torch.Tensor):
        return torch.where(thr > 0, thr, torch.full_like(thr, -1.0))
    return thr if thr > 0 else -1.0


class ToyDraws:
    """The random numbers of one seed: training inputs, fixed noises, batch draws."""

    def __init__(self, seed: int, n_samples: int, batch: int, timing: str):
        if timing not in ("fixed", "redraw"):
            raise ValueError(f"noise timing {timing!r}: expected 'fixed' or 'redraw'")
        self.seed, self.n, self.batch, self.timing = int(seed), int(n_samples), int(batch), timing
        self.reset()

    def reset(self) -> None:
        self.g = torch.Generator().manual_seed(self.seed)
        self.u = torch.randn(self.n, generator=self.g, dtype=DTYPE)
        self.z_fixed = torch.randn(self.n, generator=self.g, dtype=DTYPE) if self.timing == "fixed" else None

    def chunks(self, steps: int):
        """Yield ``(t0, u_batch, z_batch)`` with shapes ``(K, batch)``, ``K <= CHUNK``."""
        self.reset()
        for t0 in range(0, steps, CHUNK):
            k = min(CHUNK, steps - t0)
            idx = torch.randint(self.n, (k, self.batch), generator=self.g)
            z = (
                self.z_fixed[idx]
                if self.z_fixed is not None
                else torch.randn(k, self.batch, generator=self.g, dtype=DTYPE)
            )
            yield t0, self.u[idx], z

    @staticmethod
    def moments(u: torch.Tensor, z: torch.Tensor, batches) -> torch.Tensor:
        """``(K, len(batches), 3)`` moments (Suu, Suz, Szz) over the first ``b`` columns."""
        cs = torch.stack([u * u, u * z, z * z], dim=-1).cumsum(dim=1)  # (K, Bmax, 3)
        b = torch.as_tensor(list(batches), dtype=torch.long)
        return cs[:, b - 1, :] / b.to(DTYPE)[None, :, None]


@dataclass
class ToyConfig:
    """Model and SGD constants of one trajectory (floats) or of a grid (tensors)."""

    M: float | torch.Tensor
    sigma_x: float | torch.Tensor
    sigma_eps: float | torch.Tensor
    lr: float | torch.Tensor


def literal_run(cfg: ToyConfig, w_init, draws: ToyDraws, steps: int, device="cpu", on_chunk=None):
    """Per-sample SGD, one trajectory; returns ``(W, Lb, ok)``: weights ``(T+1, 3)`` (w0, w1,
    wNI; row 0 the initial ones), batch losses ``(T,)`` and whether it stayed finite.

    Stops at the first step whose weights blow up (that row included). ``on_chunk(rows_from,
    W_rows, Lb_rows)`` is called after each chunk (streaming); returning True cancels.
    """
    M, sx, se, lr = (float(v) for v in (cfg.M, cfg.sigma_x, cfg.sigma_eps, cfg.lr))
    w0, w1, wn = (torch.tensor(float(v), dtype=DTYPE, device=device) for v in w_init)
    W = [np.asarray([[float(w0), float(w1), float(wn)]])]
    L = []
    for t0, u, z in draws.chunks(steps):
        xs, es = (sx * u).to(device), (se * z).to(device)
        rows = torch.empty(len(xs), 3, dtype=DTYPE, device=device)
        losses = torch.empty(len(xs), dtype=DTYPE, device=device)
        for k in range(len(xs)):
            x, e = xs[k], es[k]
            h = w0 * x + wn * e
            r = w1 * h - M * x
            g0, g1, gn = (r * w1 * x).mean(), (r * h).mean(), (r * w1 * e).mean()
            losses[k] = 0.5 * (r * r).mean()
            w0, w1, wn = w0 - lr * g0, w1 - lr * g1, wn - lr * gn
            rows[k, 0], rows[k, 1], rows[k, 2] = w0, w1, wn
        rows_np, loss_np = rows.cpu().numpy(), losses.cpu().numpy()
        bad = blown_up(rows_np)
        if bad.any():
            stop = int(np.argmax(bad)) + 1
            W.append(rows_np[:stop])
            L.append(loss_np[:stop])
            if on_chunk:
                on_chunk(t0 + 1, rows_np[:stop], loss_np[:stop])
            return np.concatenate(W), np.concatenate(L), False
        W.append(rows_np)
        L.append(loss_np)
        if on_chunk and on_chunk(t0 + 1, rows_np, loss_np):
            break
    return np.concatenate(W), np.concatenate(L) if L else np.zeros(0), True


class MomentStepper:
    """Advances ``G`` trajectories at once through the batch moments (module docstring).

    Every argument may be a float or a ``(G,)`` tensor; ``compiled`` (default: on the CPU
    when numba is installed) runs :meth:`run` as one compiled loop. A point whose weights blow up is
    frozen (its learning rate set to 0) at the first such step. Keeps per point, over all
    steps ``0..T``: max ``Lp``, max ``|wNI|``, the first step with ``|wNI| <= |wNI(0)|/e``
    and the first blow-up step (both NaN when never reached).
    """

    def __init__(self, cfg: ToyConfig, w_init, G: int, device="cpu", compiled: bool | None = None):
        vec = lambda v: torch.as_tensor(v, dtype=DTYPE, device=device).expand(G).clone()
        # constants shared by every point stay Python floats: one tensor op fewer each time
        const = lambda v: vec(v) if torch.is_tensor(v) or np.ndim(v) else float(v)
        self.M, sx, se, self.lr = (const(v) for v in (cfg.M, cfg.sigma_x, cfg.sigma_eps, cfg.lr))
        can_compile = loops.AVAILABLE and torch.device(device).type == "cpu"
        if compiled and not can_compile:
            raise ValueError("the compiled phase-map loop needs numba and the CPU")
        self.compiled = can_compile if compiled is None else compiled
        self.se = se
        self.sx, self.sx2, self.sxse, self.se2 = sx, sx * sx, sx * se, se * se
        self.w0, self.w1, self.wn = (vec(v) for v in w_init)
        self.alive = torch.ones(G, dtype=DTYPE, device=device)
        self.lr_eff = self.lr * self.alive
        self.thr = decay_threshold(self.wn)
        self.not_decayed = torch.ones(G, dtype=DTYPE, device=device)
        self.decay_step = torch.zeros(G, dtype=DTYPE, device=device)
        self.alive_steps = torch.zeros(G, dtype=DTYPE, device=device)
        self.loss0 = self.pop_loss()
        self.loss_max = self.loss0.clone()
        self.wn_max = self.wn.abs()
        self._track()

    def pop_loss(self) -> torch.Tensor:
        return population_loss(self.w0, self.w1, self.wn, self.se2, self.sx, self.M)

    def _track(self) -> None:
        wn_abs = self.wn.abs()
        self.not_decayed.mul_(wn_abs > self.thr)
        self.decay_step.add_(self.not_decayed)
        torch.maximum(self.wn_max, wn_abs, out=self.wn_max)
        size = wn_abs.add_(self.w0.abs()).add_(self.w1.abs())
        self.alive.mul_(size < BLOWUP)
        self.alive_steps.add_(self.alive)
        torch.mul(self.alive, self.lr, out=self.lr_eff)
        torch.maximum(self.loss_max, self.pop_loss(), out=self.loss_max)

    def run(self, m: torch.Tensor, bidx: torch.Tensor | None = None) -> None:
        """The steps of moments ``m`` (K, n_batches, 3); point ``p`` uses ``m[:, bidx[p]]``
        (every point the first column when ``bidx`` is None). On the CPU with numba, one
        compiled loop (:mod:`lab.nin.compiled`); else :meth:`step` per row."""
        if self.compiled:
            G = self.w0.shape[0]
            full = lambda v: torch.as_tensor(v, dtype=DTYPE).expand(G).contiguous().numpy()
            consts = tuple(full(v) for v in (self.M, self.sx, self.se, self.lr, self.thr))
            b = np.zeros(G, np.int64) if bidx is None else bidx.cpu().numpy().astype(np.int64)
            loops.run_chunk(m.cpu().numpy(), b, consts, self._state(), BLOWUP)
            torch.mul(self.alive, self.lr, out=self.lr_eff)
            return
        if bidx is None:
            for suu, suz, szz in m[:, 0, :].tolist():
                self.step(suu, suz, szz)
        else:
            for k in range(len(m)):
                mk = m[k][bidx]
                self.step(mk[:, 0], mk[:, 1], mk[:, 2])

    def _state(self) -> tuple:
        """The per-point state the compiled loop updates in place (numpy views)."""
        return tuple(
            t.numpy()
            for t in (
                self.w0,
                self.w1,
                self.wn,
                self.alive,
                self.not_decayed,
                self.decay_step,
                self.alive_steps,
                self.loss_max,
                self.wn_max,
            )
        )

    def step(self, suu, suz, szz) -> None:
        """One SGD step with batch moments (floats or ``(G,)`` tensors)."""
        w0, w1, wn = self.w0, self.w1, self.wn
        a = (w1 * w0).sub_(self.M)
        b = w1 * wn
        cxe = self.sxse * suz
        ga = (a * (self.sx2 * suu)).add_(b * cxe)
        gb = (a * cxe).add_(b.mul_(self.se2 * szz))
        self.w0 = w0 - self.lr_eff * (w1 * ga)
        self.w1 = w1 - self.lr_eff * ga.mul_(w0).add_(wn * gb)
        self.wn = wn - self.lr_eff * gb.mul_(w1)
        self._track()

    def weights(self) -> torch.Tensor:
        return torch.stack([self.w0, self.w1, self.wn], dim=-1)

    def summaries(self, steps: int) -> dict:
        """Per-point numbers (numpy) that :func:`classify` reads; see :func:`series_summaries`."""
        never = lambda t: torch.where(t < steps + 1, t, torch.full_like(t, math.nan))
        out = {
            "loss0": self.loss0,
            "loss_max": self.loss_max,
            "loss_final": self.pop_loss(),
            "wni_max": self.wn_max,
            "wni_final": self.wn.abs(),
            "decay_step": never(self.decay_step),
            "blowup_step": never(self.alive_steps),
        }
        return {k: v.cpu().numpy() for k, v in out.items()}


def series_summaries(W: np.ndarray, cfg: ToyConfig) -> dict:
    """The same numbers as :meth:`MomentStepper.summaries` from one trajectory ``W (T+1, 3)``
    (``T`` = steps actually run; a blown-up run ends on its blow-up row)."""
    w0, w1, wn = W[:, 0], W[:, 1], W[:, 2]
    lp = population_loss(w0, w1, wn, float(cfg.sigma_eps) ** 2, float(cfg.sigma_x), float(cfg.M))
    decayed = np.abs(wn) <= decay_threshold(wn[0])
    blown = blown_up(W)
    first = lambda m: float(np.argmax(m)) if m.any() else math.nan
    return {
        "loss0": lp[0],
        "loss_max": np.nanmax(lp),
        "loss_final": lp[-1],
        "wni_max": np.nanmax(np.abs(wn)),
        "wni_final": abs(wn[-1]),
        "decay_step": first(decayed),
        "blowup_step": first(blown),
    }


def classify(s: dict) -> np.ndarray:
    """Phase codes (:data:`lab.theory.nin.PHASES`) from summaries, by the module's rules."""
    loss0, loss_max, loss_final = (np.asarray(s[k], dtype=float) for k in ("loss0", "loss_max", "loss_final"))
    spiked = loss_max >= SPIKE * loss0
    blown = np.isfinite(np.asarray(s["blowup_step"], dtype=float)) | ~np.isfinite(loss_final)
    failed = blown | (spiked & ~(loss_final < loss0))
    code = np.where(np.isfinite(np.asarray(s["decay_step"], dtype=float)), PHASE_CODE["decay"], PHASE_CODE["decoupled"])
    code = np.where(spiked, PHASE_CODE["catapult"], code)
    code = np.where(failed, PHASE_CODE["divergent"], code)
    return code.astype(np.int8)


def averaged_run(cfg: ToyConfig, w_init, steps: int) -> np.ndarray:
    """The averaged dynamics, Eq. (3) with the zero-mean A terms dropped
    (:func:`lab.theory.nin.averaged_step`): ``(T+1, 3)`` rows (w0, w1, wNI); after a
    blow-up the rows are NaN."""
    c = tuple(float(v) for v in (cfg.M, cfg.sigma_x, cfg.sigma_eps, cfg.lr))
    out = np.full((steps + 1, 3), np.nan)
    w = tuple(float(v) for v in w_init)
    out[0] = w
    for t in range(1, steps + 1):
        w = averaged_step(w, *c)
        if blown_up(w):
            break
        out[t] = w
    return out
