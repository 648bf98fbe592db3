"""Discovery of modules in a package, so adding an experiment or a panel never edits a
shared list."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Iterable


def public_submodules(package: str, path: Iterable[str]) -> list[ModuleType]:
    """Import every module of ``package`` (its ``__path__`` is ``path``) whose name does
    not start with ``_``, in name order."""
    infos = sorted(pkgutil.iter_modules(path), key=lambda i: i.name)
    return [importlib.import_module(f"{package}.{i.name}") for i in infos if not i.name.startswith("_")]
