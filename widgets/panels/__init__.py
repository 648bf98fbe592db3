"""Experiment panels, discovered like experiments.

A panel module in this package defines ``EXPERIMENTS = ("ols",)``, the experiment
NAMEs it draws, and ``class Panel(QWidget)`` with ``__init__(self, parent=None)``,
``show_run(self, run)`` (draw a :class:`lab.runfile.RunData` from scratch) and
``refresh(self, run)`` (the same RunData grown in place, called ≤10x a second while
live: keep plot items and call ``setData``). It may define ``plots()`` returning
``{name: PlotItem}`` for export. Experiments without a panel get ``generic.Panel``.
"""
from __future__ import annotations

import importlib
import pkgutil

_PANELS: dict[str, type] | None = None


def registry() -> dict[str, type]:
    """Panel classes by experiment NAME."""
    global _PANELS
    if _PANELS is None:
        found = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            for name in getattr(mod, "EXPERIMENTS", ()):
                found[name] = mod.Panel
        _PANELS = found
    return _PANELS


def panel_class(experiment: str) -> type:
    """The panel drawing ``experiment``'s runs (the generic one if none is registered)."""
    from .generic import Panel as Generic

    return registry().get(experiment, Generic)
