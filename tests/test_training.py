"""The shared engine end to end: accuracy, saved weights, hooks, cancel, divergence."""

import os
import threading

import numpy as np
import pytest
import torch

from lab.context import RunContext
from lab.data import DATA_PARAMS, NOISE_PARAMS, load_data
from lab.experiments import supervised
from lab.models import MODEL_PARAMS, model_from_params
from lab.params import ParamError, Spec
from lab.runfile import read_run
from lab.runner import run_experiment
from lab.training import ENGINE_SERIES, TRAINING_PARAMS, Hooks, Trainer, load_weights

DIGITS = {
    "dataset": "digits",
    "model": "mlp",
    "mlp_widths": [128],
    "lr": 0.05,
    "batch": 64,
    "epochs": 6,
    "schedule": "multistep",
    "milestones": [4],
    "gamma": 0.1,
    "device": "cpu",
}


def test_supervised_digits_learns_and_its_weights_reload(tmp_path):
    res = run_experiment("supervised", DIGITS, out_dir=str(tmp_path))
    assert res.status == "completed", res.error
    run = read_run(res.path)
    acc = run["series/test_acc"]
    assert len(acc) == 7 and np.array_equal(run["series/step"], np.arange(7))
    assert acc[0] < 0.3 and acc[-1] > 0.85  # chance is 0.1
    assert res.summary["test_acc"] == pytest.approx(acc[-1])
    assert np.isnan(run["series/val_acc"]).all()  # train_fraction = 1: no validation split
    # multistep: lr 0.05 for epochs 1-4, 0.005 for 5-6 (the row's lr is the one trained with)
    np.testing.assert_allclose(run["series/lr"][1:], [0.05] * 4 + [0.005] * 2)
    assert np.all(np.diff(run["series/loss"][1:3]) < 0)
    assert set(ENGINE_SERIES) <= {k.split("/")[1] for k in run.arrays if k.startswith("series/")}
    # weights reload into a fresh model with identical outputs
    params = supervised.SPEC.validate(run.header.params)
    data = load_data(params, "cpu")
    model = supervised.load_trained_model(res.path, data)
    with torch.no_grad():
        x = data.normalise(data.x["test"])
        acc_reloaded = (model(x).argmax(1) == data.y["test"]).float().mean().item()
        fresh = load_weights(run.arrays, model_from_params(params, data)).eval()
        assert torch.equal(fresh(x), model(x))
    assert acc_reloaded == pytest.approx(acc[-1], abs=1e-6)
    np.testing.assert_array_equal(run["data/labels_clean"], run["data/labels_noisy"])


def test_training_stops_once_train_accuracy_is_reached(tmp_path):
    res = run_experiment("supervised", {**DIGITS, "epochs": 50, "stop_train_acc": 0.9}, out_dir=str(tmp_path))
    assert res.status == "completed", res.error
    acc = read_run(res.path)["series/train_acc"]
    assert acc[-1] >= 0.9 and np.all(acc[:-1] < 0.9)  # stopped at the first epoch that reached it
    assert len(acc) - 1 == res.summary["epochs_done"] < 50
    assert res.summary["stopped_at_train_acc"] == acc[-1]


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    runs = [
        read_run(
            run_experiment(
                "supervised",
                {**DIGITS, "epochs": 2, "seed": seed, "noise_type": "symmetric", "noise_rate": 0.3},
                out_dir=str(tmp_path),
            ).path
        )
        for seed in (1, 1, 2)
    ]
    np.testing.assert_array_equal(runs[0]["series/loss"], runs[1]["series/loss"])
    assert not np.array_equal(runs[0]["series/loss"][1:], runs[2]["series/loss"][1:])
    # the corruption follows data_seed, not the run seed
    np.testing.assert_array_equal(runs[0]["data/noise_mask"], runs[2]["data/noise_mask"])


def test_cancel_mid_epoch_keeps_the_rows(tmp_path):
    stop = threading.Event()

    def cancel_in_epoch_two(kind, name, payload):
        if kind == "progress" and payload[0] >= 22 + 5:  # 22 batches of 64 per epoch
            stop.set()

    res = run_experiment(
        "supervised", {**DIGITS, "epochs": 5}, out_dir=str(tmp_path), cancel_event=stop, listeners=[cancel_in_epoch_two]
    )
    assert res.status == "cancelled"
    run = read_run(res.path)
    assert run["series/step"].tolist() == [0, 1]  # epoch 0 and the completed epoch 1
    assert res.summary["epochs_done"] == 1
    assert "weights/out.weight" in run.arrays


def test_huge_learning_rate_ends_diverged(tmp_path):
    res = run_experiment("supervised", {**DIGITS, "lr": 1e4, "schedule": "constant"}, out_dir=str(tmp_path))
    assert res.status == "diverged" and res.diverged_step == 1
    assert read_run(res.path).header.status == "diverged"


class Recorder(Hooks):
    """Checks what hooks receive and adds a series."""

    def setup(self, trainer):
        self.seen = torch.zeros(trainer.data.n_train, dtype=torch.long)
        self.n_classes = trainer.data.num_classes

    def batch(self, x, y, idx, epoch):
        self.seen[idx] += 1
        return x, y

    def loss(self, model, x, y, idx, epoch):
        assert torch.equal(y, self.trainer_labels[idx])  # the batch's labels belong to its ids
        return super().loss(model, x, y, idx, epoch)

    def epoch_end(self, trainer, epoch, evals):
        assert evals["test"].logits.shape == (trainer.data.size("test"), self.n_classes)
        return {"times_seen": self.seen.float().mean()}


def test_hooks_see_every_sample_once_per_epoch_and_add_series():
    spec = Spec(*DATA_PARAMS, *NOISE_PARAMS, *MODEL_PARAMS, *TRAINING_PARAMS)
    params = spec.validate(
        {k: v for k, v in DIGITS.items() if k != "device"}
        | {"epochs": 2, "train_fraction": 0.5, "noise_type": "symmetric", "noise_rate": 0.5}
    )
    rows = []
    ctx = RunContext(
        None,
        device=torch.device("cpu"),
        seed=0,
        listeners=[lambda kind, name, p: rows.append((name, float(p[0]))) if kind == "append" else None],
    )
    data = load_data(params, "cpu")
    hooks = Recorder()
    hooks.trainer_labels = data.y["train"]
    Trainer(model_from_params(params, data), data, params, ctx, hooks, save_weights=False).fit()
    seen = [v for n, v in rows if n == "series/times_seen"]
    assert seen == [0.0, 1.0, 2.0]
    val = [v for n, v in rows if n == "series/val_acc"]
    assert len(val) == 3 and val[-1] > 0.5  # validation labels are clean
    clean = [v for n, v in rows if n == "series/train_acc_clean"]
    noisy = [v for n, v in rows if n == "series/train_acc"]
    assert clean[-1] > noisy[-1]  # early learning: predictions follow the clean labels


@pytest.mark.parametrize(
    "bad,name",
    [
        ({"milestones": [4, 2]}, "milestones"),
        ({"mlp_widths": "12,x"}, "mlp_widths"),
        ({"model": "cnn", "dataset": "gaussian"}, "model"),
    ],
)
def test_bad_model_and_schedule_parameters_are_refused_before_a_file_is_made(tmp_path, bad, name):
    with pytest.raises(ParamError, match=f"parameter '{name}'"):
        run_experiment("supervised", {**DIGITS, **bad}, out_dir=str(tmp_path))
    assert not os.listdir(tmp_path)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_channels_last_run(tmp_path):
    res = run_experiment(
        "supervised",
        {**DIGITS, "model": "cnn", "device": "cuda", "bf16": True, "channels_last": True, "epochs": 3, "lr": 0.1},
        out_dir=str(tmp_path),
    )
    assert res.status == "completed", res.error
    assert res.summary["test_acc"] > 0.5


def test_weights_of_a_bigger_or_other_shaped_model_are_refused():
    from lab.models import MLP

    deeper = MLP(64, [16, 16], 10)
    arrays = {f"weights/{k}": v.numpy() for k, v in deeper.state_dict().items()}
    with pytest.raises(KeyError, match="lacks.*hidden.1.weight"):  # the first layers would fit: no silent cut
        load_weights(arrays, MLP(64, [16], 10))
    with pytest.raises(KeyError, match="another shape"):
        load_weights(arrays, MLP(64, [16, 8], 10))
    same = load_weights(arrays, MLP(64, [16, 16], 10))
    assert torch.equal(same.out.weight, deeper.out.weight)


@pytest.mark.parametrize("experiment", ["supervised", "elr", "distill", "nin-mlp"])
@pytest.mark.parametrize("bad", [{"mlp_widths": "64,x"}, {"milestones": "5,soon"}])
def test_every_network_experiment_refuses_bad_model_or_schedule_before_a_file(tmp_path, experiment, bad):
    from lab.params import ParamError

    with pytest.raises(ParamError, match="mlp_widths|milestones"):
        run_experiment(experiment, {"dataset": "digits", "device": "cpu", **bad}, out_dir=str(tmp_path))
    assert not list(tmp_path.iterdir())
