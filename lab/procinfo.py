"""Is the process that wrote a run file still that process? (PID reuse.)

A PID alone is not an identity: after a kill the number is handed to a new process,
and a run file would show ``running`` forever. On Linux a process is identified by the
boot (``/proc/sys/kernel/random/boot_id``) and its start time in clock ticks since
boot (field 22 of ``/proc/<pid>/stat``); elsewhere only the PID is known.
"""

from __future__ import annotations

import os


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def start_token(pid: int) -> str:
    """``boot_id:start_ticks`` of process ``pid``, or "" where that cannot be read."""
    boot = _read("/proc/sys/kernel/random/boot_id").strip()
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    if not boot or len(fields) < 20:
        return ""
    return f"{boot}:{fields[19]}"


def alive(pid: int, token: str = "") -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not) and, when a
    ``token`` from :func:`start_token` is given and can be checked, is the same process
    that token was taken from."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):  # a zombie holds its PID until its parent reaps it
        return False
    if token:
        now = start_token(pid)
        if now and now != token:
            return False
    return True
