"""Shell completion of the command line (argcomplete): experiments, presets (built-in and
the user's) and ``--set NAME=`` with the choices of choice and boolean parameters.

Enable it once per shell: ``eval "$(register-python-argcomplete noiselab)"``.
"""

from __future__ import annotations

from typing import Any

from . import experiments
from .configs import preset_names
from .params import ParamError


def _experiment(parsed_args: Any):
    try:
        return experiments.get(getattr(parsed_args, "experiment", None) or "")
    except ParamError:
        return None


def complete_experiments(prefix: str, **_kw) -> list[str]:
    return [n for n in experiments.registry() if n.startswith(prefix)]


def complete_presets(prefix: str, parsed_args: Any = None, **_kw) -> list[str]:
    exp = _experiment(parsed_args)
    return [n for n in preset_names(exp) if n.startswith(prefix)] if exp else []


def complete_sets(prefix: str, parsed_args: Any = None, **_kw) -> list[str]:
    """``NAME=`` for every parameter; after ``NAME=``, the values a choice or boolean takes."""
    exp = _experiment(parsed_args)
    if exp is None:
        return []
    if "=" not in prefix:
        return [f"{n}=" for n in exp.spec.names if n.startswith(prefix)]
    name, _, start = prefix.partition("=")
    if name not in exp.spec:
        return []
    p = exp.spec[name]
    values = [str(c) for c in p.choices] if p.kind == "choice" else ["true", "false"] if p.kind == "bool" else []
    return [f"{name}={v}" for v in values if v.startswith(start)]
