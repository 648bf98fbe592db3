"""Declarative parameter specs: one declaration per parameter drives validation,
the GUI form, the command line's ``--set name=value``, presets and the run file's
attributes (DESIGN.md, contract 1).

A bad value raises :class:`ParamError` naming the parameter, the value and what is
allowed, so every front end can show the same message.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

KINDS = ("float", "int", "bool", "choice", "str", "path", "floats", "ints", "strs")
#: kinds whose value is a list, written ``1,2,3`` on the command line and in the form
LIST_KINDS = ("floats", "ints", "strs")


class ParamError(ValueError):
    """A parameter value that is not allowed; the message says which and why."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"parameter '{name}': {value!r} is not allowed; expected {allowed}")


@dataclass(frozen=True)
class Param:
    """One parameter: name, kind, default, bounds or choices, unit, help and group.

    ``kind`` is one of :data:`KINDS`. The list kinds (``floats``, ``ints``, ``strs``) are
    written ``1,2`` on the command line and in the form; every element is checked against
    the bounds (numbers) or ``choices`` (texts); ``length`` fixes the number of elements,
    else there are ``min_items`` or more; ``increasing`` asks for strictly increasing
    numbers (milestones). Bounds are inclusive. ``log`` asks the form for a logarithmic
    step (a hint only).
    """

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    length: int | None = None
    min_items: int = 1
    increasing: bool = False
    unit: str = ""
    help: str = ""
    group: str = "General"
    log: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"{self.name}: a choice needs choices")
        self.validate(self.default)  # a spec with a bad default is a bug, caught at import

    def allowed(self) -> str:
        """Human text of what this parameter accepts."""
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("str", "path"):
            return "a text" if self.kind == "str" else "a file or folder path"
        if self.kind in LIST_KINDS:
            return self._allowed_list()
        return ("a number" if self.kind == "float" else "an integer") + self._range()

    def _range(self) -> str:
        if self.low is None and self.high is None:
            return ""
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f" in [{lo}, {hi}]" + (f" {self.unit}" if self.unit else "")

    def _allowed_list(self) -> str:
        what = {"floats": "numbers", "ints": "integers", "strs": "names"}[self.kind]
        if self.length is not None:
            count = f"{self.length} {what}"
        else:
            count = f"{self.min_items} or more {what}" if self.min_items > 1 else what
        order = "increasing " if self.increasing else ""
        text = f"{order}{count} separated by commas"
        if self.kind == "strs":
            return text + (" from " + ", ".join(map(str, self.choices)) if self.choices else "")
        return text + (", each" + self._range() if self._range() else "")

    def _in_bounds(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        return (self.low is None or x >= self.low) and (self.high is None or x <= self.high)

    def validate(self, value: Any) -> Any:
        """Return the value in canonical type, or raise :class:`ParamError`."""
        bad = ParamError(self.name, value, self.allowed())
        k = self.kind
        if k == "bool":
            if isinstance(value, bool):
                return value
            raise bad
        if k == "choice":
            if value in self.choices:
                return value
            raise bad
        if k in ("str", "path"):
            if isinstance(value, str):
                return value
            raise bad
        if k in ("int", "float"):
            # numbers.Real takes numpy scalars too; bool is a Python int but not a number here
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not self._in_bounds(float(value)):
                raise bad
            if k == "float":
                return float(value)
            if int(value) != value:  # type: ignore[call-overload]  # Real stub lacks __int__
                raise bad
            return int(value)  # type: ignore[call-overload]  # Real stub lacks __int__
        return self._validate_list(value, bad)

    def _validate_list(self, value: Any, bad: ParamError) -> list:
        """A list kind: a comma-separated text or a sequence, element by element."""
        items = comma_items(value) if isinstance(value, str) else value
        try:
            if isinstance(items, bytes):
                raise TypeError
            items = list(items)
            if self.kind == "strs":
                vals: list = [str(v).strip() for v in items]
                if not all(vals) or (self.choices and any(v not in self.choices for v in vals)):
                    raise ValueError
            else:
                nums = [float(v) for v in items]
                if self.kind == "ints":
                    if any(isinstance(v, bool) or not math.isfinite(n) or n != int(n) for v, n in zip(items, nums)):
                        raise ValueError
                    vals = [int(n) for n in nums]
                else:
                    vals = nums
                if not all(self._in_bounds(n) for n in nums):
                    raise ValueError
                if self.increasing and any(b <= a for a, b in zip(vals, vals[1:])):
                    raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if len(vals) != self.length if self.length is not None else len(vals) < self.min_items:
            raise bad
        return vals

    def parse(self, text: str) -> Any:
        """Parse a command-line or form text into a validated value."""
        t = text.strip()
        try:
            if self.kind == "bool":
                low = t.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if self.kind == "int":
                f = float(t)
                value: Any = int(f) if f == int(f) else f
            elif self.kind == "float":
                value = float(t)
            elif self.kind in LIST_KINDS:
                value = t.strip("[]()")
            elif self.kind == "choice":
                # choices may be numbers (batch sizes, say); match by text
                matches = [c for c in self.choices if str(c) == t]
                value = matches[0] if matches else t
            else:
                value = t
        except (ValueError, OverflowError):
            raise ParamError(self.name, text, self.allowed()) from None
        return self.validate(value)

    def format(self, value: Any) -> str:
        """Inverse of :meth:`parse`."""
        if self.kind in LIST_KINDS:
            return ",".join(f"{v:g}" if self.kind == "floats" else str(v) for v in value)
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "float":
            return f"{value:g}"
        return str(value)


@dataclass(frozen=True)
class Spec:
    """The ordered parameters of one experiment."""

    params: tuple[Param, ...]
    by_name: dict = field(init=False, repr=False, compare=False)

    def __init__(self, *params: Param):
        names = [p.name for p in params]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate parameter names: {sorted(dup)}")
        object.__setattr__(self, "params", tuple(params))
        object.__setattr__(self, "by_name", {p.name: p for p in params})

    def __iter__(self):
        return iter(self.params)

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Param:
        try:
            return self.by_name[name]
        except KeyError:
            raise ParamError(name, "(unknown)", "one of " + ", ".join(self.by_name)) from None

    @property
    def names(self) -> list[str]:
        """Parameter names in declaration order."""
        return [p.name for p in self.params]

    def groups(self) -> dict[str, list[Param]]:
        """Parameters by ``group``, groups in order of first appearance (the form's boxes)."""
        out: dict[str, list[Param]] = {}
        for p in self.params:
            out.setdefault(p.group, []).append(p)
        return out

    def defaults(self) -> dict:
        """Every parameter's default value."""
        return {p.name: p.default for p in self.params}

    def validate(self, values: Mapping[str, Any]) -> dict:
        """Complete ``values`` with defaults and validate every entry; unknown names fail."""
        for name in values:
            self[name]  # raises for an unknown name
        return {p.name: p.validate(values.get(p.name, p.default)) for p in self.params}

    def parse_sets(self, sets: Iterable[str]) -> dict:
        """Parse ``name=value`` strings (the CLI's ``--set``) into a dict of values."""
        out = {}
        for item in sets:
            if "=" not in item:
                raise ParamError(item, item, "name=value")
            name, text = item.split("=", 1)
            out[name.strip()] = self[name.strip()].parse(text)
        return out

    def describe(self) -> list[dict]:
        """Plain description of every parameter, for listings and docs."""
        return [
            {
                "name": p.name,
                "kind": p.kind,
                "default": p.format(p.default),
                "allowed": p.allowed(),
                "unit": p.unit,
                "group": p.group,
                "help": p.help,
            }
            for p in self.params
        ]


def comma_items(text: Any) -> list[str]:
    """``"100, 150,"`` -> ``["100", "150"]``: the items of a comma-separated list parameter."""
    return [t for t in str(text).replace(" ", "").split(",") if t]


def with_defaults(params: Iterable[Param], defaults: Mapping[str, Any]) -> tuple[Param, ...]:
    """Shared parameter declarations with one experiment's own defaults."""
    return tuple(replace(p, default=defaults[p.name]) if p.name in defaults else p for p in params)


def resolve_preset(
    spec: Spec, presets: Mapping[str, Mapping[str, Any]], name: str | None, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Defaults, then the named preset, then ``overrides``; validated."""
    values = spec.defaults()
    if name:
        if name not in presets:
            raise ParamError("preset", name, "one of " + ", ".join(presets))
        values.update(presets[name])
    values.update(overrides or {})
    return spec.validate(values)
