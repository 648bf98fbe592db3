"""Sweep spaces: which parameter values a sweep visits.

One axis per swept parameter, written ``NAME=v1,v2,v3`` (a list: numbers, or choices of
a choice parameter), ``NAME=lin:lo:hi:n`` or ``NAME=log:lo:hi:n``. A grid visits the
Cartesian product of the axes' values (first axis slowest). ``--random N`` instead
draws N points, each coordinate independently: uniform on ``[lo, hi]`` for ``lin:``,
log-uniform (``exp(U(ln lo, ln hi))``) for ``log:``, one list entry with equal
probability for a list; ``n`` is then ignored and may be left out. Draws come from
``numpy.random.default_rng(sample_seed)``, so the same seed gives the same points.
``seeds = K`` repeats every point with the run seeds ``seed, seed + 1, ..., seed + K - 1``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..params import ParamError, Spec

#: parameter kinds a sweep can vary
SWEEPABLE = ("float", "int", "choice")
RANGE_FORM = "lin:lo:hi:n or log:lo:hi:n with finite numbers lo, hi and a count n >= 1"
#: the most runs a sweep may have (one run file each): checked before any value list is built
MAX_POINTS = 10_000


@dataclass(frozen=True)
class Axis:
    """One swept parameter: a list of values, or a ``lin``/``log`` range ``[lo, hi]``
    with ``n`` grid values (``n = 0``: a range only random sampling can use)."""

    name: str
    scale: str  # "list" | "lin" | "log"
    values: tuple = ()
    lo: float = 0.0
    hi: float = 0.0
    n: int = 0
    kind: str = "float"

    def grid(self) -> list:
        """The grid values; a range without a count has none."""
        if self.scale != "list" and self.n < 1:
            raise ParamError(self.name, f"{self.scale}:{self.lo:g}:{self.hi:g}", RANGE_FORM)
        return list(self.values)

    def sample(self, rng: np.random.Generator, n: int) -> list:
        """``n`` draws: uniform (``lin``), log-uniform (``log``) or a uniform pick (list)."""
        if self.scale == "list":
            return [self.values[i] for i in rng.integers(len(self.values), size=n)]
        if self.scale == "log":
            raw = np.exp(rng.uniform(np.log(self.lo), np.log(self.hi), size=n))
        else:
            raw = rng.uniform(self.lo, self.hi, size=n)
        return [int(round(v)) if self.kind == "int" else float(v) for v in raw]

    def describe(self) -> dict:
        return {"scale": self.scale, "values": list(self.values), "lo": self.lo, "hi": self.hi, "n": self.n}


def parse_axis(spec: Spec, item: str, *, need_count: bool = True) -> Axis:
    """``NAME=...`` -> an :class:`Axis`; every value (and both ends of a range) is validated.
    ``need_count=False`` accepts ``lin:lo:hi`` without ``n`` (random sampling)."""
    if "=" not in item:
        raise ParamError("--param", item, "NAME=v1,v2,... or NAME=lin:lo:hi:n or NAME=log:lo:hi:n")
    name, text = (s.strip() for s in item.split("=", 1))
    p = spec[name]
    if p.kind not in SWEEPABLE:
        raise ParamError(name, text, f"a numeric or choice parameter to sweep ({name} is a {p.kind})")
    if not text.startswith(("lin:", "log:")):
        listed = [p.parse(v) for v in text.split(",") if v.strip()]
        if not listed:
            raise ParamError(name, text, "at least one value")
        return Axis(name, "list", tuple(dict.fromkeys(listed)), kind=p.kind)
    if p.kind == "choice":
        raise ParamError(name, text, f"a list of choices ({p.allowed()}); ranges need a numeric parameter")
    parts = text.split(":")
    try:
        lo, hi = float(parts[1]), float(parts[2])
        count = float(parts[3]) if len(parts) == 4 else (-1.0 if need_count else 0.0)  # n may be written 1e4
        n = int(count) if count.is_integer() else -1
    except (IndexError, ValueError, OverflowError):
        lo = hi = math.nan
        n = -1
    if len(parts) not in (3, 4) or n < (1 if need_count else 0) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParamError(
            name, text, RANGE_FORM if need_count else "lin:lo:hi[:n] or log:lo:hi[:n] with finite numbers lo, hi"
        )
    if n > MAX_POINTS:
        raise ParamError(name, text, f"at most {MAX_POINTS:,} values (one run file each; {n:,} asked)")
    if parts[0] == "log" and (lo <= 0 or hi <= 0):
        raise ParamError(name, text, f"{parts[0]}:lo:hi:n with lo, hi > 0")
    lo, hi = float(p.validate(lo)), float(p.validate(hi))
    values: tuple = ()
    if n >= 1:
        raw = (np.geomspace if parts[0] == "log" else np.linspace)(lo, hi, n)
        values = tuple(dict.fromkeys(p.validate(round(float(v)) if p.kind == "int" else float(v)) for v in raw))
    return Axis(name, parts[0], values, lo, hi, n, p.kind)


def parse_values(spec: Spec, item: str) -> tuple[str, list]:
    """``NAME=v1,v2,v3`` | ``NAME=lin:lo:hi:n`` | ``NAME=log:lo:hi:n`` -> (name, grid values)."""
    axis = parse_axis(spec, item)
    return axis.name, axis.grid()


def grid_points(grid: Mapping[str, Sequence]) -> list[dict]:
    """The Cartesian product of the swept values, first parameter slowest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


@dataclass(frozen=True)
class Space:
    """The axes and how they are visited: ``random = 0`` a grid, else that many draws
    seeded with ``sample_seed``."""

    axes: tuple[Axis, ...]
    random: int = 0
    sample_seed: int = 0

    @classmethod
    def of(cls, space: Space | Mapping[str, Sequence]) -> Space:
        """A space, or a plain ``{name: values}`` grid made into one."""
        if isinstance(space, Space):
            return space
        return cls(tuple(Axis(k, "list", tuple(v)) for k, v in space.items()))

    @classmethod
    def parse(cls, spec: Spec, items: Sequence[str], random: int = 0, sample_seed: int = 0) -> Space:
        if random < 0:
            raise ParamError("--random", random, "a number of points >= 1 (or 0 for a grid)")
        axes = tuple(parse_axis(spec, item, need_count=not random) for item in items)
        names = [a.name for a in axes]
        if len(set(names)) < len(names):
            raise ParamError("--param", ", ".join(names), "each parameter swept once")
        return cls(axes, random, sample_seed)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]

    @property
    def size(self) -> int:
        """How many points the sweep visits (without building them)."""
        if self.random:
            return self.random
        return int(math.prod(len(a.grid()) for a in self.axes))

    def points(self) -> list[dict]:
        """Every point the sweep visits, in run order."""
        if not self.random:
            return grid_points({a.name: a.grid() for a in self.axes})
        rng = np.random.default_rng(self.sample_seed)
        cols = [a.sample(rng, self.random) for a in self.axes]
        return [dict(zip(self.names, combo)) for combo in zip(*cols)]

    def describe(self) -> dict:
        return {
            "mode": "random" if self.random else "grid",
            "random": self.random,
            "sample_seed": self.sample_seed,
            "axes": {a.name: a.describe() for a in self.axes},
        }


def replicate(points: Sequence[Mapping[str, Any]], base_seed: int, seeds: int) -> list[tuple[int, int, dict]]:
    """``(point index, replicate k, values)`` for every run: each point ``seeds`` times with
    the run seed ``base_seed + k`` (``seeds = 1``: the base seed, as a single run would)."""
    if seeds < 1:
        raise ParamError("--seeds", seeds, "a number of seeds >= 1")
    if seeds > 1 and any("seed" in pt for pt in points):
        raise ParamError("--seeds", seeds, "1 when 'seed' itself is swept")
    return [
        (i, k, {**pt, "seed": base_seed + k} if seeds > 1 else dict(pt))
        for i, pt in enumerate(points)
        for k in range(seeds)
    ]
