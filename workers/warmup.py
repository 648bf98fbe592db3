"""What a first run would load lazily, loaded on a background thread as soon as the
window is up.

``torch.optim``'s first optimizer imports ``torch._dynamo`` (with sympy and inductor:
some 800 modules) and numba's first compiled call loads its typing and lowering
registries (with scipy.linalg): 2-3 s in which the run's thread holds the GIL almost
throughout, and longer under PySide6, which inspects the source of every module
imported once it is loaded. Paid during the first run, it froze the window for hundreds
of milliseconds at a time; paid here, it falls in the seconds after start-up, before a
run is drawn.
"""

from __future__ import annotations

import gc
import importlib
import threading

from lab.training.optim import OPTIMIZER_MODULES


def _twice(x: float) -> float:
    return 2.0 * x


def _load_torch_optimizers() -> None:
    for module in OPTIMIZER_MODULES:
        importlib.import_module(module)


def _load_numba_dispatch() -> None:
    """A first compiled call (of a trivial function) loads what every later one needs."""
    try:
        import numba
    except ImportError:  # optional: the runs use torch instead
        return
    numba.njit(_twice)(1.0)


LOADS = (_load_torch_optimizers, _load_numba_dispatch)


def _load_all() -> None:
    for load in LOADS:
        load()
    gc.freeze()  # what they built lives as long as the process (see widgets.app)


def start_warm_up() -> threading.Thread:
    """Run :data:`LOADS` on a daemon thread (returned, started)."""
    t = threading.Thread(target=_load_all, name="noiselab-warm-up", daemon=True)
    t.start()
    return t
