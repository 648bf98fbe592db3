"""Experiment panels and sweep views, discovered like experiments.

Each public module of this package defines ``VIEW``, a :class:`View` naming the
experiments it draws (``lab.experiments`` names), its panel class and, optionally, the
sweep view for sweeps of those experiments. A panel's class has
``__init__(self, parent=None)``, ``show_run(self, run)`` (draw a
:class:`lab.runfile.RunData` from scratch), ``refresh(self, run)`` (the same RunData
grown in place, called ≤10x a second while live: keep plot items and call ``setData``)
and ``plots()`` returning ``{name: PlotItem}`` for export. Panels talk to the window
only through their signals. Experiments without a panel get ``generic``'s; sweeps
without a view get :class:`widgets.sweep_view.SweepView`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.plugins import public_submodules

#: what the tab calls on a panel
PANEL_METHODS = ("show_run", "refresh", "plots")


class ViewError(TypeError):
    """A panel module whose ``VIEW`` does not meet the contract."""


@dataclass(frozen=True)
class View:
    """The pairing of experiments with their panel and sweep view."""

    experiments: tuple[str, ...]
    panel: type
    sweep_view: type | None = None


_VIEWS: dict[str, View] | None = None


def _conform(mod) -> View:
    view = getattr(mod, "VIEW", None)
    if not isinstance(view, View):
        raise ViewError(f"{mod.__name__} defines no VIEW (a widgets.panels.View)")
    missing = [m for m in PANEL_METHODS if not callable(getattr(view.panel, m, None))]
    if missing:
        raise ViewError(f"{mod.__name__}: panel {view.panel.__name__} lacks {', '.join(missing)}")
    return view


def registry() -> dict[str, View]:
    """Views by experiment name."""
    global _VIEWS
    if _VIEWS is None:
        _VIEWS = {
            name: view for view in map(_conform, public_submodules(__name__, __path__)) for name in view.experiments
        }
    return _VIEWS


def panel_class(experiment: str) -> type:
    """The panel drawing ``experiment``'s runs (the generic one if none is registered)."""
    from .generic import Panel as Generic

    view = registry().get(experiment)
    return view.panel if view is not None else Generic


def sweep_view_class(experiment: str) -> type:
    """The view of sweeps over ``experiment`` (the generic one if none is registered)."""
    from ..sweep_view import SweepView

    view = registry().get(experiment)
    return view.sweep_view if view is not None and view.sweep_view is not None else SweepView
