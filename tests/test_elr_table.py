"""Table 1 rows from run headers, and the parameters that differ between runs."""

import math
from types import SimpleNamespace as NS

import pytest

from lab.compare import common_series, differing_params, legend_label
from lab.elr.table import PAPER_TABLE1, table1


def _h(
    method,
    rate,
    acc,
    seed=0,
    dataset="cifar10",
    schedule="multistep",
    status="completed",
    noise_type="symmetric",
    experiment="elr",
):
    params = dict(
        method=method,
        dataset=dataset,
        noise_type=noise_type,
        noise_rate=rate,
        schedule=schedule,
        seed=seed,
        device="cpu",
    )
    return NS(
        experiment=experiment,
        status=status,
        params=params,
        summary={"test_acc_last": acc},
        path=f"/runs/{method}-{rate}-{seed}.h5",
    )


def test_paper_numbers_are_table1():
    assert PAPER_TABLE1["cifar10"]["CE"][:4] == ((86.98, 0.12), (81.88, 0.29), (74.14, 0.56), (53.82, 1.04))
    assert [m for m, _ in PAPER_TABLE1["cifar10"]["ELR"][:4]] == [91.16, 89.15, 86.12, 73.86]


def test_table_groups_runs_into_cells():
    heads = [
        _h("ce", 0.4, 0.80, 0),
        _h("ce", 0.4, 0.82, 1),
        _h("elr", 0.4, 0.89, 0),
        _h("elr", 0.4, 0.90, 0, schedule="cosine"),
        _h("elr+", 0.4, 0.93),
        _h("elr", 0.4, 0.5, status="failed"),
        _h("elr", 0.4, 0.5, dataset="cifar100"),
        _h("elr", 0.4, 0.5, experiment="ols"),
        _h("elr", 0.35, 0.7),
    ]
    t = table1(heads, "cifar10")
    sym40 = ("symmetric", 0.4)
    ce = t.cells[("CE", sym40)]
    assert ce.paper == (81.88, 0.29) and ce.ours == pytest.approx([80.0, 82.0])
    assert ce.mean == pytest.approx(81.0) and ce.sd == pytest.approx(math.sqrt(2.0))
    assert t.cells[("ELR", sym40)].ours == pytest.approx([89.0])
    assert t.cells[("ELR*", sym40)].ours == pytest.approx([90.0])
    assert t.cells[("ELR+", sym40)].paper is None and t.cells[("ELR+", sym40)].ours == pytest.approx([93.0])
    # a setting outside the paper's layout gets its own column, in order
    assert ("symmetric", 0.35) in t.columns
    assert t.columns.index(("symmetric", 0.35)) < t.columns.index(sym40)
    assert "ours 81.00 \u00b1 1.41 (n=2)" in ce.text() and ce.text().startswith("81.88")
    assert t.cells[("CE", ("asymmetric", 0.4))].text().endswith("ours \u2014")


def test_differing_params_names_only_what_differs():
    a, b = _h("ce", 0.4, 0.8, seed=1), _h("elr", 0.4, 0.9, seed=1)
    b.params["device"] = "cuda"  # where a run ran never explains its curve
    assert differing_params([a, b]) == ["method"]
    assert legend_label(a, ["method"]) == "method=ce"
    c = _h("elr", 0.6, 0.9, seed=2)
    assert differing_params([a, b, c]) == ["method", "noise_rate", "seed"]
    assert legend_label(c, ["method", "noise_rate"]) == "method=elr, noise_rate=0.6"
    assert differing_params([a, a]) == [] and legend_label(a, []) == "ce-0.4-1.h5"
    d = _h("ce", 0.4, 0.8, seed=1, experiment="distill")
    del d.params["method"]
    assert differing_params([a, d]) == ["experiment", "method"]


def test_common_series():
    r1 = NS(arrays={"series/step": 0, "series/a": 0, "series/b": 0, "data/x": 0})
    r2 = NS(arrays={"series/step": 0, "series/b": 0, "series/c": 0})
    assert common_series([r1, r2]) == ["b"]


def test_presets_hold_the_papers_settings():
    from lab.experiments import elr
    from lab.params import resolve_preset

    for name in elr.PRESETS:
        v = resolve_preset(elr.SPEC, elr.PRESETS, name)
        if v["schedule"] == "multistep":
            assert max(v["milestones"]) < v["epochs"], name
    c10 = resolve_preset(elr.SPEC, elr.PRESETS, "cifar10-elr-sym40")
    assert (c10["epochs"], c10["lr"], c10["weight_decay"], c10["milestones"], c10["gamma"], c10["batch"]) == (
        120,
        0.02,
        1e-3,
        [40, 80],
        0.01,
        128,
    )
    assert (c10["elr_lambda"], c10["elr_beta"], c10["noise_type"], c10["noise_rate"]) == (3.0, 0.7, "symmetric", 0.4)
    c100 = resolve_preset(elr.SPEC, elr.PRESETS, "cifar100-ce-asym40")
    assert (c100["epochs"], c100["milestones"], c100["elr_lambda"], c100["elr_beta"], c100["method"]) == (
        150,
        [80, 120],
        7.0,
        0.9,
        "ce",
    )
    assert c100["noise_type"] == "asymmetric"
    plus = resolve_preset(elr.SPEC, elr.PRESETS, "cifar10-elr+-sym80")
    assert (plus["schedule"], plus["epochs"], plus["weight_decay"], plus["ema_momentum"], plus["mixup_alpha"]) == (
        "cosine",
        200,
        5e-4,
        0.997,
        1.0,
    )
    assert {f"cifar10-{m}-{t}" for m in ("ce", "elr") for t in ("sym20", "sym40", "sym60", "sym80", "asym40")} <= set(
        elr.PRESETS
    )
