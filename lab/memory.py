"""Refusing parameters whose memory cannot fit, before anything is built.

An experiment estimates the peak bytes its parameters need (the formula beside the
experiment) and calls :func:`refuse_over` from its layout, so the run is refused with
the estimate in the message before a file exists.
"""

from __future__ import annotations

import os

from .params import ParamError


def available_bytes() -> int:
    """Memory available to a new allocation: ``MemAvailable`` of ``/proc/meminfo``, else
    the physical memory (``NOISELAB_MEMORY_MB`` overrides both)."""
    if os.environ.get("NOISELAB_MEMORY_MB"):
        return int(float(os.environ["NOISELAB_MEMORY_MB"]) * 2**20)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 2**62


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def refuse_over(name: str, value, estimate: float, what: str) -> None:
    """ParamError naming ``name = value`` when ``estimate`` bytes exceed what is available."""
    avail = available_bytes()
    if estimate > avail:
        raise ParamError(
            name,
            value,
            f"settings that fit in memory: these need about {gib(estimate)} ({what}) and {gib(avail)} are available",
        )
