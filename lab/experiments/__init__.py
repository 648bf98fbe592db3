"""Experiment families and their registry.

Each public module of this package defines ``EXPERIMENT``, an
:class:`~lab.experiments.base.Experiment` (the contract: ``docs/architecture.md``).
Modules are discovered, so adding a family never edits a shared list; the registry
refuses, with a message, a module whose ``EXPERIMENT`` does not meet the contract.
"""

from __future__ import annotations

from ..params import ParamError
from ..plugins import public_submodules
from .base import Experiment, ExperimentError, ExperimentLike, conform

__all__ = ["Experiment", "ExperimentError", "ExperimentLike", "get", "register", "registry"]

_REGISTRY: dict[str, ExperimentLike] | None = None
#: modules of this package that hold shared pieces, not a family
_NOT_FAMILIES = {"base"}


def _discover() -> dict[str, ExperimentLike]:
    found: dict[str, ExperimentLike] = {}
    for mod in public_submodules(__name__, __path__):
        short = mod.__name__.rsplit(".", 1)[-1]
        if short in _NOT_FAMILIES:
            continue
        if not hasattr(mod, "EXPERIMENT"):
            raise ExperimentError(
                f"{mod.__name__} defines no EXPERIMENT (an lab.experiments.Experiment); "
                "shared helpers belong in a module whose name starts with '_'"
            )
        exp = conform(mod.EXPERIMENT, mod.__name__)
        if exp.name in found:
            raise ExperimentError(f"{mod.__name__}: a second experiment named {exp.name!r}")
        found[exp.name] = exp
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def registry() -> dict[str, ExperimentLike]:
    """Every experiment by name, ordered by ``order`` then name."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def register(obj: object, where: str = "register()") -> ExperimentLike:
    """Add an experiment defined outside this package (a plug-in, a test's); checked first."""
    exp = conform(obj, where)
    registry()[exp.name] = exp
    return exp


def get(name: str) -> ExperimentLike:
    """The experiment called ``name``; :class:`ParamError` lists the known ones."""
    reg = registry()
    if name not in reg:
        raise ParamError("experiment", name, "one of " + ", ".join(reg))
    return reg[name]
