"""NIN in an MLP on the built-in digits: the NIW decays in the decay phase; Table 1
levels; the phase rules."""

import math

import numpy as np
import pytest

from lab.experiments import nin_mlp
from lab.nin.mlp import classify_run, objective, table1_sigma_eps
from lab.params import resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment


def test_table1_levels():
    # MSE: sigma_eps^2 = f d_in / (N_w lr); CE: f d_in / lr (paper Table 1)
    assert table1_sigma_eps("mse", "catapult", 784, 1024, 0.01) ** 2 == pytest.approx(47 * 784 / (1024 * 0.01))
    assert table1_sigma_eps("ce", "divergent", 784, 1024, 0.01) ** 2 == pytest.approx(1.8 * 784 / 0.01)


def test_mse_objective_is_the_mean_over_outputs():
    import torch

    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    y = torch.tensor([0, 1])
    assert float(objective(logits, y, "mse")) == pytest.approx((0 + 0 + 0 + 0 + 1 + 4) / 6)


@pytest.mark.parametrize(
    "kw,phase",
    [
        (dict(diverged=True), "divergent"),
        (dict(objective_final=2.0), "divergent"),  # no learning
        (dict(wni_max=2.0), "catapult"),
        (dict(loss_max=3.0), "catapult"),
        (dict(wni_final=0.3), "decay"),
        ({}, "decoupled"),
    ],
)
def test_phase_rules(kw, phase):
    base = dict(
        diverged=False,
        wni0=1.0,
        wni_max=1.0,
        wni_final=0.9,
        loss_first=1.0,
        loss_max=1.0,
        objective0=1.0,
        objective_final=0.5,
    )
    assert classify_run(**{**base, **kw}) == phase


def test_a_nin_layer_beyond_the_hidden_layers_is_refused_before_a_file_is_made(tmp_path):
    from lab.params import ParamError

    with pytest.raises(ParamError, match="nin_layer.*0..1 of mlp_widths=8,8"):
        run_experiment("nin-mlp", {"mlp_widths": [8, 8], "nin_layer": 2, "epochs": 1}, out_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_niw_decays_in_the_decay_phase_on_digits():
    res = run_experiment(
        "nin-mlp",
        {
            "dataset": "digits",
            "mlp_widths": [32],
            "batch": 50,
            "lr": 0.05,
            "epochs": 12,
            "loss": "mse",
            "sigma_eps": math.sqrt(200.0),
            "seed": 0,
        },
    )
    assert res.status == "completed"
    run = read_run(res.path)
    niw, obj = run["series/niw_norm"], run["series/test_objective"]
    assert len(niw) == 13
    assert niw[-1] < niw[0] / math.e  # |W_NI| decays ...
    assert np.all(np.diff(niw) < 0)  # ... monotonically (no catapult)
    assert obj[-1] < obj[0]  # while the model learns (eps = 0)
    s = res.summary
    assert s["phase"] == "decay"
    assert s["tau_niw_ok"] and 0.5 < s["tau_niw"] < 30  # a fitted decay time in epochs
    assert s["tau_niw_r2"] > 0.9 and s["tau_niw_range"] == [0.0, 12.0]
    fit = run["fit/niw_norm"]
    assert np.nanmax(np.abs(fit - niw) / niw[0]) < 0.15  # the stored fit follows the data


@pytest.mark.parametrize("preset", [p for p in nin_mlp.PRESETS if p.startswith("digits-")])
def test_digits_presets_end_in_the_phase_they_are_named_for(tmp_path, preset):
    """Each calibrated preset, run as it stands on the built-in digits, is classified (from
    its measured NIW norm and losses) as the phase in its name."""
    values = resolve_preset(nin_mlp.SPEC, nin_mlp.PRESETS, preset, {"device": "cpu"})
    res = run_experiment("nin-mlp", values, out_dir=str(tmp_path))
    phase = preset.split("-")[-1]
    assert res.summary["phase"] == phase, (res.summary.get("niw_norm_final"), res.summary.get("niw_norm_max"))
    assert res.status == ("diverged" if phase == "divergent" else "completed")
    conv = read_run(res.path).header.attrs["conventions"]
    assert "stand-in for the paper's FashionMNIST" in conv


def test_paper_presets_are_fashion_mnist():
    for name in nin_mlp.PRESETS:
        if name.startswith("fig"):
            assert nin_mlp.PRESETS[name]["dataset"] == "fashion-mnist" and "FashionMNIST" in nin_mlp.PRESET_NOTES[name]
