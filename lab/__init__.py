"""Noise Lab's core: experiments, run files and theory. Never imports Qt.

The public API for scripts (imported on first use, so ``import lab`` stays cheap)::

    lab.Run(experiment, params, out=...)     # your own run file (lab.api)
    lab.read_run(path)                       # a run in memory; .to_pandas() its series
    lab.read_runs(folder, experiment=...)    # one DataFrame: a row per run (lab.tables)
"""

__version__ = "0.1.0"

_API = {"Run": ("api", "Run"), "read_run": ("runfile", "read_run"), "read_runs": ("tables", "read_runs")}
__all__ = ["Run", "__version__", "read_run", "read_runs"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'lab' has no attribute {name!r}")
    import importlib

    module, attr = _API[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
