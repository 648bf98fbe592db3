"""Experiment modules and their registry.

An experiment is a module in this package that defines::

    NAME     registry name used by the CLI and the run file (``ols``)
    TITLE    one-line human title
    SPEC     a :class:`lab.params.Spec`; must contain ``seed`` and ``device``
    PRESETS  {preset name: {param: value}}, paper figures by name (``fig1-g``)
    layout(params) -> list[lab.runfile.Dataset]   every series/array known up front
    run(params, ctx) -> dict                       the summary (final headline numbers)
    ORDER    optional int placing the family in listings and the window's tabs

Modules are discovered, so adding a family never edits a shared list.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..params import ParamError

_REGISTRY: dict[str, ModuleType] | None = None


def registry() -> dict[str, ModuleType]:
    """All experiment modules by ``NAME``, ordered by ``ORDER`` then name."""
    global _REGISTRY
    if _REGISTRY is None:
        found = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(mod, "NAME") and hasattr(mod, "run"):
                found[mod.NAME] = mod
        _REGISTRY = dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 100), kv[0])))
    return _REGISTRY


def get(name: str) -> ModuleType:
    reg = registry()
    if name not in reg:
        raise ParamError("experiment", name, "one of " + ", ".join(reg))
    return reg[name]
