"""The ``elr`` experiment on the built-in digits: plain CE memorises 40 % symmetric label
noise, ELR does not and ends with a better test accuracy; ELR+ trains two networks with
mixup end to end; the stored measurements agree with the saved weights."""

import numpy as np
import pytest
import torch

from lab.data import load_data
from lab.elr import hooks as elr_hooks
from lab.experiments import elr
from lab.models import model_from_params
from lab.params import resolve_preset
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.training import load_weights


def _run(preset, out, **over):
    values = resolve_preset(elr.SPEC, elr.PRESETS, preset, dict(device="cpu", **over))
    r = run_experiment("elr", values, out_dir=str(out))
    assert r.status == "completed", r.error
    return r, read_run(r.path)


@pytest.fixture(scope="module")
def ce_and_elr(tmp_path_factory):
    out = tmp_path_factory.mktemp("elr_runs")
    return _run("digits-ce-sym40", out, seed=3), _run("digits-elr-sym40", out, seed=3)


def test_ce_memorises_and_elr_prevents_it(ce_and_elr):
    (ce, ce_run), (el, el_run) = ce_and_elr
    epochs = elr.PRESETS["digits-ce-sym40"]["epochs"]
    mem_ce, mem_elr = ce_run["series/noisy_memorized"], el_run["series/noisy_memorized"]
    assert len(mem_ce) == len(mem_elr) == epochs + 1  # epoch 0 = before training
    # about r (1 - 1/C) = 36 % of the labels are wrong (the true class can be drawn)
    assert 0.31 < ce.summary["noise_realised_rate"] < 0.41
    # early learning: after two epochs both fit the clean labels and few wrong ones ...
    assert mem_ce[2] < 0.3 and ce_run["series/noisy_correct"][2] > 0.6
    # ... then CE memorises: its fraction rises to nearly all wrong labels
    assert ce.summary["memorized_noisy"] > 0.8
    assert ce.summary["memorized_noisy"] - mem_ce[2] > 0.5
    blocks = [mem_ce[i : i + 10].mean() for i in (1, 11, 21)]
    assert blocks[0] + 0.1 < blocks[1] and blocks[1] + 0.1 < blocks[2]  # a rise, not a blip
    # ELR keeps it clearly lower and predicts most wrongly labelled examples correctly
    assert el.summary["memorized_noisy"] < 0.35
    assert ce.summary["memorized_noisy"] - el.summary["memorized_noisy"] > 0.5
    assert el.summary["correct_noisy"] > 0.6 > ce.summary["correct_noisy"]
    # and generalises better on the same seed and the same corrupted labels
    np.testing.assert_array_equal(ce_run["data/labels_noisy"], el_run["data/labels_noisy"])
    assert el.summary["test_acc_last"] - ce.summary["test_acc_last"] > 0.1
    assert ce.summary["test_acc_best"] >= ce.summary["test_acc_last"]
    assert ce.summary["test_acc_best"] == pytest.approx(np.nanmax(ce_run["series/test_acc"][1:]))


def test_fractions_and_coefficients_are_consistent(ce_and_elr):
    (_, ce_run), (_, el_run) = ce_and_elr
    for run in (ce_run, el_run):
        s = lambda k, run=run: run[f"series/{k}"]
        np.testing.assert_allclose(s("noisy_correct") + s("noisy_memorized") + s("noisy_other"), 1, atol=1e-9)
        np.testing.assert_allclose(s("clean_correct") + s("clean_other"), 1, atol=1e-9)
        np.testing.assert_allclose(s("clean_coef"), s("clean_ce_term") + s("clean_reg_term"), atol=1e-6)
    # plain CE has no regulariser
    assert np.all(ce_run["series/noisy_reg_term"] == 0) and np.all(np.isnan(ce_run["series/reg"][1:]))
    assert np.all(el_run["series/reg"][1:] < 0)
    e = lambda k: el_run[f"series/{k}"][-1]
    # Figure 2, wrong labels: the regularisation term cancels most of the CE term p_c* > 0
    assert e("noisy_ce_term") > 0.5 and e("noisy_reg_term") < 0
    assert abs(e("noisy_coef")) < 0.3 * e("noisy_ce_term")
    # Figure 2, clean labels: the CE term vanishes, the regularisation term keeps learning going
    assert abs(e("clean_ce_term")) < 0.02 and e("clean_reg_term") < -0.03
    # memorisation drives the wrong labels' true-class probability down under CE only
    assert ce_run["series/noisy_p_true"][-1] < 0.25 and e("noisy_p_true") > 0.6


def test_measurement_matches_the_saved_model(ce_and_elr):
    (ce, ce_run), _ = ce_and_elr
    params = elr.SPEC.validate(ce_run.header.params)
    data = load_data(params, "cpu")
    model = load_weights(ce_run.arrays, model_from_params(params, data)).eval()
    with torch.no_grad():
        pred = model(data.normalise(data.x["train"])).argmax(1).numpy()
    noisy = ce_run["data/noise_mask"].astype(bool)
    mem = np.mean(pred[noisy] == ce_run["data/labels_noisy"][noisy])
    assert mem == pytest.approx(ce.summary["memorized_noisy"], abs=1e-6)  # float32 mean on device


def test_elr_plus_two_networks_and_mixup(tmp_path, monkeypatch):
    calls = []
    real = elr_hooks.mixup

    def counting(x, y, t, alpha, rng, perm=None):
        out = real(x, y, t, alpha, rng, perm)
        calls.append(out[3])
        return out

    monkeypatch.setattr(elr_hooks, "mixup", counting)
    r, run = _run("digits-elr+-sym40", tmp_path, epochs=3, seed=1)
    steps = 3 * -(-run["data/labels_noisy"].size // elr.PRESETS["digits-elr+-sym40"]["batch"])
    assert len(calls) == 2 * steps  # one mixup per network per batch
    assert 0.5 <= min(calls) and max(calls) <= 1.0 and np.std(calls) > 0.05
    w1, w2 = run["weights/net1.out.weight"], run["weights/net2.out.weight"]
    a1 = run["weights_avg/net1.out.weight"]
    assert w1.shape == w2.shape and not np.allclose(w1, w2)  # two networks, two initialisations
    assert not np.allclose(a1, w1)  # the average lags the trained weights
    assert len(run["series/test_acc"]) == 4 and run["series/test_acc"][-1] > 0.8
    assert r.summary["memorized_noisy"] < 0.3


def test_elr_plus_is_reproducible(tmp_path):
    (r1, a), (r2, b) = (_run("digits-elr+-sym40", tmp_path, epochs=1, seed=5) for _ in range(2))
    np.testing.assert_array_equal(a["series/noisy_memorized"], b["series/noisy_memorized"])
    np.testing.assert_array_equal(a["weights_avg/net2.out.weight"], b["weights_avg/net2.out.weight"])
    assert r1.summary["test_acc_last"] == r2.summary["test_acc_last"]


def test_elr_plus_predicts_with_the_raw_networks_unless_asked(tmp_path):
    """Default (Algorithm 2, official code): test logits = mean of the two trained networks';
    ``averaged``: of their weight averages. Rebuilt from the saved weights, each choice
    reproduces the test accuracy its run logged."""
    import torch

    from lab.data import load_data
    from lab.models import model_from_params
    from lab.training import load_weights

    for predict, prefix in (("raw", "weights"), ("averaged", "weights_avg")):
        _, run = _run("digits-elr+-sym40", tmp_path, epochs=2, seed=2, elr_plus_predict=predict)
        params = elr.SPEC.validate(run.header.params)
        data = load_data(params, "cpu")
        nets = torch.nn.ModuleDict({k: model_from_params(params, data) for k in ("net1", "net2")})
        load_weights(run.arrays, nets, prefix).eval()
        with torch.no_grad():
            x = data.normalise(data.x["test"])
            acc = float(((nets["net1"](x) + nets["net2"](x)).argmax(1) == data.y["test"]).float().mean())
        assert acc == pytest.approx(run["series/test_acc"][-1], abs=1e-6), predict
        assert ("weight-averaged" in run.header.attrs["elr_plus_test_prediction"]) == (predict == "averaged")


def test_average_momentum_ramps_like_the_official_code():
    from lab.elr.plus import average_momentum

    assert average_momentum(1, 0.997, 0) == 0.0 and average_momentum(2, 0.997, 0) == 0.5
    assert average_momentum(10_000, 0.997, 0) == 0.997
    assert average_momentum(40_000, 0.997, 40_000) == 0.997 == average_momentum(90_000, 0.997, 40_000)
    assert average_momentum(20_000, 0.997, 40_000) == pytest.approx(0.997 * np.exp(-1.25))
    assert average_momentum(1, 0.997, 40_000) == pytest.approx(0.997 * np.exp(-5 * (1 - 1 / 40_000) ** 2))
