"""Where a run came from, stored as root attributes of its file at creation: the command
line (or ``window``), the code's git commit and dirty flag when it runs from a checkout,
host, user and the CUDA device's name."""

from __future__ import annotations

import functools
import getpass
import os
import shlex
import socket
import subprocess
import sys
from typing import Any

#: the folder holding ``lab/``: a git checkout when Noise Lab runs from source
CODE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", CODE_ROOT, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """``{"git_commit": sha, "git_dirty": bool}`` when the code is a git checkout (its
    top level is :data:`CODE_ROOT`), else ``{}`` (an installed wheel). Dirty means
    tracked files differ from the commit."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or os.path.realpath(top.strip()) != os.path.realpath(CODE_ROOT):
        return {}
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return {}
    return {"git_commit": commit.strip(), "git_dirty": bool(status.strip())}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else ""


def cuda_device_name(device: Any) -> str:
    """The CUDA device's name for a CUDA ``device`` (``""`` otherwise); torch is only
    consulted when it is already imported."""
    torch = sys.modules.get("torch")
    if torch is None or not str(device).startswith("cuda") or not torch.cuda.is_available():
        return ""
    return torch.cuda.get_device_name(torch.device(device))


def provenance(command: str | None = None, device: Any = "cpu") -> dict[str, Any]:
    """The root attributes: ``command`` (default: this process's ``sys.argv``), git
    state, ``host``, ``user`` and ``cuda_device``."""
    return {
        "command": command if command is not None else shlex.join(sys.argv),
        **git_state(),
        "host": socket.gethostname(),
        "user": _user(),
        "cuda_device": cuda_device_name(device),
    }
