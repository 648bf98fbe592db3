"""Experiment panels, discovered like experiments.

A panel module in this package defines ``EXPERIMENTS = ("ols",)``, the experiment
NAMEs it draws, and ``class Panel(QWidget)`` with ``__init__(self, parent=None)``,
``show_run(self, run)`` (draw a :class:`lab.runfile.RunData` from scratch) and
``refresh(self, run)`` (the same RunData grown in place, called ≤10x a second while
live: keep plot items and call ``setData``). It may define ``plots()`` returning
``{name: PlotItem}`` for export. Experiments without a panel get ``generic.Panel``.
"""
from __future__ import annotations

from lab.plugins import public_submodules

_PANELS: dict[str, type] | None = None


def registry() -> dict[str, type]:
    """Panel classes by experiment NAME."""
    global _PANELS
    if _PANELS is None:
        _PANELS = {name: mod.Panel for mod in public_submodules(__name__, __path__)
                   for name in getattr(mod, "EXPERIMENTS", ())}
    return _PANELS


def panel_class(experiment: str) -> type:
    """The panel drawing ``experiment``'s runs (the generic one if none is registered)."""
    from .generic import Panel as Generic

    return registry().get(experiment, Generic)
