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

from types import ModuleType

from ..params import ParamError
from ..plugins import public_submodules

_REGISTRY: dict[str, ModuleType] | None = None


def registry() -> dict[str, ModuleType]:
    """All experiment modules by ``NAME``, ordered by ``ORDER`` then name."""
    global _REGISTRY
    if _REGISTRY is None:
        found = {mod.NAME: mod for mod in public_submodules(__name__, __path__)
                 if hasattr(mod, "NAME") and hasattr(mod, "run")}
        _REGISTRY = dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 100), kv[0])))
    return _REGISTRY


def get(name: str) -> ModuleType:
    """The experiment module called ``name``; :class:`ParamError` lists the known ones."""
    reg = registry()
    if name not in reg:
        raise ParamError("experiment", name, "one of " + ", ".join(reg))
    return reg[name]
