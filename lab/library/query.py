"""Filter expressions over the library: whitespace-separated terms that must all hold.

- ``word``: case-insensitive text found in the file name, experiment, status, tags,
  note or the changed parameters;
- ``key=value``, ``key!=value``: a parameter, a summary value or a field (``experiment``,
  ``status``, ``tag``, ``note``, ``name``, ``sweep``) equal to ``value`` (numbers compare
  as numbers, ``tag=x`` means the run has tag x);
- ``key>x``, ``key>=x``, ``key<x``, ``key<=x``: numeric comparisons;
- ``key~text``: ``text`` is part of the value.

A key names a summary value first, then a parameter; ``summary.key`` and ``params.key``
say which. Quote values with blanks: ``note~"bad seed"``. A run without the key fails
the term. :func:`parse` raises :class:`FilterError` naming the bad term.
"""

from __future__ import annotations

import math
import operator
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable

from .records import Record, changed_params, fmt_value

_TERM = re.compile(r"^([A-Za-z_][\w.\-]*)\s*(>=|<=|!=|==|=|>|<|~)(.*)$", re.S)
_NUMERIC = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_FIELDS = {"experiment", "status", "tag", "tags", "note", "name", "file", "sweep", "group"}


class FilterError(ValueError):
    """A filter expression that cannot be understood; the message names the term."""


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _lookup(r: Record, key: str) -> tuple[bool, Any]:
    """``(found, value)`` of ``key`` for run ``r``."""
    if key in _FIELDS:
        return True, {
            "experiment": r.experiment,
            "status": r.display_status,
            "tag": r.tags,
            "tags": r.tags,
            "note": r.note,
            "name": r.name,
            "file": r.name,
            "sweep": r.group,
            "group": r.group,
        }[key]
    for prefix, source in (("summary.", r.summary), ("params.", r.params)):
        if key.startswith(prefix):
            return (key[len(prefix) :] in source), source.get(key[len(prefix) :])
    if key in r.summary:
        return True, r.summary[key]
    if key in r.params:
        return True, r.params[key]
    return False, None


def _equal(value: Any, literal: str) -> bool:
    if isinstance(value, list) and not (literal.startswith("[")):
        return any(_equal(v, literal) for v in value)  # tag=x: one of the tags
    a, b = _number(value), _number(literal)
    if a is not None and b is not None and not isinstance(value, str):
        return a == b or math.isclose(a, b, rel_tol=1e-9)
    text = fmt_value(value).lower()
    return text == literal.lower() or (isinstance(value, str) and value.lower() == literal.lower())


@dataclass
class Term:
    key: str
    op: str
    literal: str

    def __call__(self, r: Record) -> bool:
        found, value = _lookup(r, self.key)
        if not found:
            return False
        if self.op in _NUMERIC:
            a = _number(value)
            return a is not None and not math.isnan(a) and _NUMERIC[self.op](a, float(self.literal))
        if self.op == "~":
            return self.literal.lower() in fmt_value(value).lower()
        equal = _equal(value, self.literal)
        return not equal if self.op == "!=" else equal


def search_text(r: Record) -> str:
    """What plain words of a filter are looked for in, lower case."""
    params = " ".join(f"{k}={fmt_value(v)}" for k, v in changed_params(r).items())
    return " ".join((r.rel, r.experiment, r.display_status, " ".join(r.tags), r.note, params)).lower()


def parse(expression: str) -> Callable[[Record], bool]:
    """A predicate over records for ``expression`` (see the module docstring); the empty
    expression accepts everything."""
    try:
        words = shlex.split(expression)
    except ValueError as e:
        raise FilterError(f"filter {expression!r}: {e}") from None
    tests: list[Callable[[Record], bool]] = []
    for w in words:
        m = _TERM.match(w)
        if m is None:
            word = w.lower()

            def contains(r: Record, word: str = word) -> bool:
                return word in search_text(r)

            tests.append(contains)
            continue
        key, op, literal = m.group(1), "=" if m.group(2) == "==" else m.group(2), m.group(3).strip()
        if op in _NUMERIC and _number(literal) is None:
            raise FilterError(f"filter term {w!r}: {literal!r} is not a number (use {key}={literal} to compare text)")
        if not literal and op != "=":
            raise FilterError(f"filter term {w!r}: nothing after {op!r}")
        tests.append(Term(key, op, literal))
    return lambda r: all(t(r) for t in tests)
