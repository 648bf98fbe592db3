"""Timing and memory figures shared by the benchmarks.

* :class:`Stopwatch`: wall time of a region; on CUDA measured with CUDA events (the time
  the device spent between the two marks, not when the host got ahead of it);
* :func:`best_of`: the fastest of ``n`` timed calls (the least disturbed by a loaded machine);
  :func:`interleaved_best_of` the same for several contenders taking turns, so that a
  burst of load on a shared machine falls on all of them;
* :func:`peak_rss_mb`: the process's peak resident set size (``getrusage``);
* :func:`memory_line`: peak RSS and, on CUDA, the peak GPU memory, as one printable line;
* :func:`time_on_gpu` and :func:`print_engine_ratios`: the tail the engine benchmarks share.
"""

from __future__ import annotations

import resource
import sys
import time

import torch


class Stopwatch:
    """``with Stopwatch(device) as w: ...`` then ``w.seconds``."""

    def __init__(self, device="cpu"):
        self.cuda = torch.device(device).type == "cuda"
        self.seconds = float("nan")

    def __enter__(self):
        if self.cuda:
            self._start, self._end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self._end.record()
            self._end.synchronize()
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            self.seconds = time.perf_counter() - self._t0
        return False


def best_of(n: int, fn, device="cpu") -> tuple[float, object]:
    """``(fastest seconds, last result)`` of ``n`` calls of ``fn()``."""
    best, out = float("inf"), None
    for _ in range(n):
        with Stopwatch(device) as w:
            out = fn()
        best = min(best, w.seconds)
    return best, out


def interleaved_best_of(n: int, contenders: dict) -> dict:
    """``{name: (fastest seconds, last result)}`` over ``n`` rounds in which every
    contender's ``fn()`` runs once, in turn (CPU timing)."""
    best = {name: (float("inf"), None) for name in contenders}
    for _ in range(n):
        for name, fn in contenders.items():
            with Stopwatch() as w:
                out = fn()
            best[name] = (min(best[name][0], w.seconds), out)
    return best


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far [MiB] (``ru_maxrss``: KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024


def memory_line() -> str:
    """``peak_rss_mb=... [peak_gpu_mb=...]`` for the end of a benchmark's output."""
    line = f"peak_rss_mb={peak_rss_mb():.0f}"
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        line += f" peak_gpu_mb={torch.cuda.max_memory_allocated() / (1 << 20):.0f}"
    return line


def time_on_gpu(run, device, repeats: int) -> float | None:
    """Best of ``repeats`` of ``run(device, full=True)`` after a warm-up ``run(device,
    full=False)``, printed; None when ``device`` is not CUDA."""
    if torch.device(device).type != "cuda":
        return None
    run(device, full=False)
    t, _ = best_of(repeats, lambda: run(device, full=True), device=device)
    print(f"engine on {torch.cuda.get_device_name()}: {t:.3f} s (best of {repeats}, CUDA events)")
    return t


def print_engine_ratios(name: str, t_engine: float, t_gpu, t_numba, t_naive: float) -> None:
    """The closing lines: memory, ``<name>=<engine s>``, the GPU and numba ratios when
    measured, and ``speedup_vs_naive`` last."""
    print(memory_line())
    print(f"{name}={t_engine:.3f}")
    if t_gpu is not None:
        print(f"gpu_speedup_vs_cpu_core={t_engine / t_gpu:.2f}")
    if t_numba is not None:
        print(f"speedup_vs_numba={t_numba / t_engine:.2f}")
    print(f"speedup_vs_naive={t_naive / t_engine:.1f}")
