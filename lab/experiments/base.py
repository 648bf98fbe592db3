"""The experiment contract (DESIGN.md, contract 2): one :class:`Experiment` object per
family module, checked by the registry at discovery.

The runner, the window's form, the command line and sweeps use it in the same order::

    params = exp.validate(values)   # spec (each parameter) + exp.check (combinations, files,
                                    # devices): a ParamError before any file exists
    layout = exp.layout(params)     # every dataset of the run file, computed once
    summary = exp.run(params, ctx)  # streams through ctx; returns the headline numbers

``check`` holds every test that involves more than one parameter or the world outside
(data folders, teacher files, CUDA); ``layout`` and ``run`` may then assume valid input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from ..device import resolve_device
from ..params import Spec, resolve_preset
from ..runfile import Dataset

Values = Mapping[str, Any]
#: functions of the parameters; Any, so that a family may type them as dict or Mapping
Check = Callable[[Any], None]


class ExperimentError(TypeError):
    """An object registered as an experiment that does not meet the contract."""


@runtime_checkable
class ExperimentLike(Protocol):
    """What the runner, the CLI, sweeps and the window rely on."""

    name: str
    title: str
    spec: Spec
    presets: Mapping[str, Values]
    preset_notes: Mapping[str, str]
    order: int

    def check(self, params: Values) -> None: ...

    def layout(self, params: Values) -> list[Dataset]: ...

    def run(self, params: Values, ctx: Any) -> Mapping[str, Any] | None: ...

    def validate(self, values: Values) -> dict: ...

    def resolve(self, preset: str | None = None, overrides: Values | None = None) -> dict: ...


def check_device(params: Values) -> None:
    """CUDA asked for on a machine without it (every experiment has ``device``)."""
    resolve_device(params["device"])


@dataclass(frozen=True)
class Experiment:
    """One experiment family.

    ``checks`` run in order after the spec's own validation and raise
    :class:`lab.params.ParamError` naming the parameter; the device check is always
    first. ``layout(params)`` must be pure: the same parameters give the same datasets.
    """

    name: str
    title: str
    spec: Spec
    layout: Callable[[Any], list[Dataset]]
    run: Callable[[Any, Any], Any]
    presets: Mapping[str, Any] = field(default_factory=dict)
    checks: Sequence[Check] = ()
    order: int = 100
    #: a line saying what a preset is for, by preset name (shown by ``noiselab list``)
    preset_notes: Mapping[str, str] = field(default_factory=dict)
    #: modules the run imports lazily (seconds), imported by the runner before the run file
    #: exists: a kill meanwhile then loses nothing the file would have shown as begun
    preload: Sequence[str] = ()

    def check(self, params: Values) -> None:
        """Every cross-parameter and environment check; raises ParamError."""
        check_device(params)
        for fn in self.checks:
            fn(params)

    def validate(self, values: Values) -> dict:
        """Defaults completed, each parameter validated, then :meth:`check`."""
        params = self.spec.validate(values)
        self.check(params)
        return params

    def resolve(self, preset: str | None = None, overrides: Values | None = None) -> dict:
        """Defaults, the named preset, then ``overrides``; validated and checked."""
        params = resolve_preset(self.spec, self.presets, preset, overrides)
        self.check(params)
        return params


def conform(obj: Any, where: str) -> ExperimentLike:
    """``obj`` if it meets the contract, else :class:`ExperimentError` saying what is missing."""
    if not isinstance(obj, ExperimentLike):
        missing = [
            n
            for n in (
                "name",
                "title",
                "spec",
                "presets",
                "preset_notes",
                "order",
                "check",
                "layout",
                "run",
                "validate",
                "resolve",
            )
            if not hasattr(obj, n)
        ]
        raise ExperimentError(f"{where}: {obj!r} is not an experiment; it lacks {', '.join(missing)}")
    problems = []
    if not (isinstance(obj.name, str) and obj.name):
        problems.append("a non-empty text 'name'")
    if not isinstance(obj.spec, Spec):
        problems.append("a lab.params.Spec 'spec'")
    elif not {"seed", "device"} <= set(obj.spec.names):
        problems.append("'seed' and 'device' in its spec (lab.experiments._common.RUN_PARAMS)")
    for attr in ("check", "layout", "run"):
        if not callable(getattr(obj, attr)):
            problems.append(f"a callable '{attr}'")
    if problems:
        raise ExperimentError(f"{where}: experiment {getattr(obj, 'name', '?')!r} needs " + "; ".join(problems))
    for preset, values in obj.presets.items():
        try:
            obj.spec.validate(values)
        except ValueError as e:
            raise ExperimentError(f"{where}: preset {preset!r} of {obj.name!r}: {e}") from None
    return obj
