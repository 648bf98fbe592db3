"""Every experiment's series share one row axis: each growable ``series/*`` dataset has as
many rows as ``series/step`` (NaN where a quantity is undefined), so readers that pair
series row by row pair the right steps."""

import h5py
import pytest

from lab import experiments
from lab.runner import run_experiment

_NET = {"dataset": "digits", "model": "mlp", "mlp_widths": [16], "epochs": 2, "batch": 256, "device": "cpu"}
#: a tiny run of every experiment (a new experiment must add one here)
TINY = {
    "ols": {"steps": 300, "stride": 10},
    "nin-toy": {"steps": 50},
    "nin-phase-map": {"steps": 20, "n_sigma": 3, "n_y": 2},
    "nin-mlp": {"dataset": "digits", "mlp_widths": [16], "epochs": 2, "batch": 256},
    "elr": {**_NET, "method": "elr"},
    "supervised": _NET,
    "flat-minima": {"d": 20, "n": 8, "k": 2, "batch": 8, "steps": 300, "log_points": 6, "probes": 4},
    "distill": {
        **_NET,
        "method": "kd",
        "grad_samples": 16,
        "robust_samples": 16,
        "noise_sigmas": "0.1",
        "pgd_steps": 1,
        "pgd_restarts": 1,
    },
}
CASES = [(name, {}) for name in TINY] + [("elr", {"method": "ce"}), ("elr", {"method": "elr+"})]


def test_every_experiment_has_a_tiny_run():
    shipped = {n for n, e in experiments.registry().items() if e.run.__module__.startswith("lab.experiments.")}
    assert set(TINY) == shipped


def _growable_series(path):
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.attrs.get("growable", False):
                out[name] = len(obj)

        f["series"].visititems(lambda n, o: visit("series/" + n, o))
    return out


@pytest.mark.parametrize("name, extra", CASES, ids=[f"{n}{'-' + e['method'] if e else ''}" for n, e in CASES])
def test_every_series_has_one_row_per_step(tmp_path, name, extra):
    res = run_experiment(name, {**TINY[name], **extra}, out_dir=str(tmp_path))
    assert res.status == "completed", res.error
    rows = _growable_series(res.path)
    step = "series/step" if "series/step" in rows else None
    assert step or rows.keys() == {"series/rows_done"}, rows  # the phase map's only series is its axis
    if step:
        assert rows[step] > 1
        assert {k: v for k, v in rows.items() if v != rows[step]} == {}, rows
