"""CIFAR-10-C and CINIC-10 readers on tiny files in the real layouts, and the accuracy
under shift of a model whose rule is known."""

import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lab.context import RunContext
from lab.data import DataError
from lab.data.corruption import CIFAR10_CLASSES
from lab.data.shifted import cifar10c_corruptions, read_cifar10c, read_cinic10, subsample
from lab.distill.shift import cifar10c_accuracy, cinic10_accuracy, severity_accuracy
from lab.experiments import distill
from lab.params import ParamError
from lab.runfile import RunWriter, read_run
from lab.runner import run_experiment

N = 20  # images per severity block
LEVEL, STEP = 5, 20  # class c is drawn with red level LEVEL + STEP * c


def encode(labels, rng):
    """Images (n, 32, 32, 3) whose red channel is flat at the level of ``labels``."""
    x = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    x[..., 0] = (LEVEL + STEP * np.asarray(labels))[:, None, None]
    return x


class RedLevel(torch.nn.Module):
    """Classifies by the red level of normalised images ``x / 255``: the nearest class level."""

    def forward(self, x):
        m = x[:, 0].mean((1, 2)) * 255
        return -((m[:, None] - (LEVEL + STEP * torch.arange(10.0))) ** 2)


def wrong_at(severity):
    """Positions drawn with the wrong class in the 'fog' corruption at ``severity``."""
    return np.arange(2 * severity)


def make_cifar10c(root, rng):
    """CIFAR-10-C/ with 'gaussian_noise' (every image keeps its class) and 'fog' (the
    first 2 s images of severity s drawn as the next class): fog's accuracy is 1 - s / 10."""
    d = os.path.join(root, "CIFAR-10-C")
    os.makedirs(d)
    y = np.arange(N) % 10
    np.save(os.path.join(d, "labels.npy"), np.tile(y, 5))
    np.save(os.path.join(d, "gaussian_noise.npy"), np.concatenate([encode(y, rng) for _ in range(5)]))
    blocks = []
    for s in range(1, 6):
        drawn = y.copy()
        drawn[wrong_at(s)] = (drawn[wrong_at(s)] + 1) % 10
        blocks.append(encode(drawn, rng))
    np.save(os.path.join(d, "fog.npy"), np.concatenate(blocks))
    return d, y


def make_cinic(root, rng, per_class=3, cifar_per_class=1):
    """CINIC-10/test/<class>/ with ImageNet-named PNGs drawn as their class and
    cifar10-named ones drawn as the wrong class; class folders created in shuffled order."""
    for c in rng.permutation(10):
        d = os.path.join(root, "CINIC-10", "test", CIFAR10_CLASSES[c])
        os.makedirs(d)
        for i, x in enumerate(encode([c] * per_class, rng)):
            Image.fromarray(x).save(os.path.join(d, f"n0{c}_{i}.png"))
        for i, x in enumerate(encode([(c + 1) % 10] * cifar_per_class, rng)):
            Image.fromarray(x).save(os.path.join(d, f"cifar10-test-{c}{i}.png"))
    return os.path.join(root, "CINIC-10", "test")


def forward(x):
    return RedLevel()(x.float() / 255)


# ================================================================== readers ======
def test_cifar10c_is_read_per_corruption_and_severity_with_its_labels(tmp_path):
    d, y = make_cifar10c(tmp_path, np.random.default_rng(0))
    assert cifar10c_corruptions(str(tmp_path)) == ["fog", "gaussian_noise"]
    assert cifar10c_corruptions(d) == ["fog", "gaussian_noise"]  # the folder itself is accepted too
    x, labels = read_cifar10c(str(tmp_path), "fog")
    assert x.dtype == torch.uint8 and x.shape == (5, N, 3, 32, 32) and labels.shape == (5, N)
    assert (labels == torch.as_tensor(y)).all()
    raw = np.load(os.path.join(d, "fog.npy"))
    np.testing.assert_array_equal(x[3, 7].numpy(), raw[3 * N + 7].transpose(2, 0, 1))  # severity 4, image 7
    index = subsample(N, 6, seed=3)
    xs, ys = read_cifar10c(str(tmp_path), "fog", index)
    assert xs.shape == (5, 6, 3, 32, 32) and torch.equal(xs, x[:, index]) and torch.equal(ys, labels[:, index])


def test_subsample_is_seeded_distinct_and_keeps_everything_when_asked():
    a = subsample(100, 10, seed=1)
    assert len(set(a.tolist())) == 10 and np.array_equal(a, np.sort(a)) and a.max() < 100
    assert np.array_equal(a, subsample(100, 10, seed=1)) and not np.array_equal(a, subsample(100, 10, seed=2))
    assert np.array_equal(subsample(7, 0, seed=0), np.arange(7)) and np.array_equal(subsample(7, 9, 0), np.arange(7))


def test_cinic10_labels_follow_the_cifar10_class_names(tmp_path):
    make_cinic(tmp_path, np.random.default_rng(1))
    x, y = read_cinic10(str(tmp_path))
    assert x.dtype == torch.uint8 and x.shape == (30, 3, 32, 32)
    assert (torch.bincount(y, minlength=10) == 3).all()
    assert torch.equal((x[:, 0, 0, 0].long() - LEVEL) // STEP, y)  # the class drawn is the folder's class
    x_all, y_all = read_cinic10(str(tmp_path / "CINIC-10"), imagenet_only=False)
    assert len(y_all) == 40
    xs, ys = read_cinic10(str(tmp_path), samples=7, seed=0)
    assert len(ys) == 7 and torch.equal(xs, read_cinic10(str(tmp_path), samples=7, seed=0)[0])


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"not an array")


@pytest.mark.parametrize(
    "damage, named",
    [
        (None, "labels.npy"),  # no folder at all
        (lambda d: np.save(os.path.join(d, "fog.npy"), np.zeros((5 * N, 32, 32), np.uint8)), "fog.npy"),
        (lambda d: np.save(os.path.join(d, "fog.npy"), np.zeros((4 * N, 32, 32, 3), np.uint8)), "fog.npy"),
        (lambda d: _garbage(os.path.join(d, "fog.npy")), "fog.npy"),
        (lambda d: np.save(os.path.join(d, "labels.npy"), np.zeros(5 * N + 1, np.int64)), "labels.npy"),
        (lambda d: np.save(os.path.join(d, "labels.npy"), np.full(5 * N, 10)), "labels.npy"),
    ],
)
def test_a_missing_or_malformed_cifar10c_file_is_named_with_the_layout(tmp_path, damage, named):
    root = tmp_path / "data"
    os.makedirs(root)
    if damage is not None:
        d, _ = make_cifar10c(root, np.random.default_rng(0))
        damage(d)
    with pytest.raises(DataError) as e:
        read_cifar10c(str(root), "fog")
    msg = str(e.value)
    assert named in msg and "CIFAR10C_ROOT/CIFAR-10-C/" in msg and "<corruption>.npy" in msg


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda t: os.rename(t / "truck", t / "lorry"), "truck"),
        (lambda t: _garbage(t / "cat" / "n03_0.png"), "n03_0.png"),
        (lambda t: Image.new("RGB", (64, 64)).save(t / "dog" / "n05_1.png"), "n05_1.png"),
    ],
)
def test_a_missing_or_malformed_cinic10_file_is_named_with_the_layout(tmp_path, damage, named):
    damage(Path(make_cinic(tmp_path, np.random.default_rng(0))))
    with pytest.raises(DataError) as e:
        read_cinic10(str(tmp_path))
    assert named in str(e.value) and "CINIC10_ROOT/CINIC-10/" in str(e.value) and "test/airplane/*.png" in str(e.value)


# =============================================================== accuracies ======
def test_severity_accuracy_and_its_conditional_form_count_what_they_should():
    rng = np.random.default_rng(2)
    y = np.arange(N) % 10
    drawn = np.stack([y] * 3)
    drawn[1, :4] = (y[:4] + 3) % 10  # severity 2: positions 0..3 wrong
    drawn[2, 10:] = (y[10:] + 1) % 10  # severity 3: positions 10..19 wrong
    x = torch.from_numpy(np.stack([encode(d, rng) for d in drawn]).transpose(0, 1, 4, 2, 3).copy())
    clean_ok = torch.ones(N, dtype=torch.bool)
    clean_ok[:5] = False  # positions 0..4 count as misclassified clean images
    acc, cond = severity_accuracy(forward, x, torch.from_numpy(np.stack([y] * 3)), clean_ok, batch=7)
    np.testing.assert_allclose(acc, [1.0, 16 / 20, 10 / 20])
    np.testing.assert_allclose(cond, [1.0, 1.0, 5 / 15])
    assert np.isnan(severity_accuracy(forward, x, torch.from_numpy(np.stack([y] * 3)))[1]).all()


def test_cifar10c_and_cinic10_accuracy_of_a_known_rule(tmp_path):
    _, y = make_cifar10c(tmp_path, np.random.default_rng(0))
    clean_labels = torch.as_tensor(y)
    clean_drawn = y.copy()
    clean_drawn[-2:] = (y[-2:] + 5) % 10  # the rule misclassifies clean images 18 and 19
    clean_x = torch.from_numpy(encode(clean_drawn, np.random.default_rng(1)).transpose(0, 3, 1, 2).copy())
    res = cifar10c_accuracy(forward, str(tmp_path), clean=(clean_x, clean_labels), batch=16)
    s = np.arange(1, 6)
    assert res.corruptions == ["fog", "gaussian_noise"] and res.n_samples == N
    np.testing.assert_allclose(res.acc, [1 - s / 10, np.ones(5)])
    np.testing.assert_allclose(res.cond_acc, [(18 - 2 * s) / 18, np.ones(5)])
    assert res.mca == pytest.approx(np.mean([1 - s / 10, np.ones(5)]))
    # a subset: the same positions at every severity, so fog's accuracy counts its wrong ones there
    sub = cifar10c_accuracy(forward, str(tmp_path), samples=8, seed=4)
    index = subsample(N, 8, seed=4)
    np.testing.assert_allclose(sub.acc[0], [1 - np.isin(index, wrong_at(k)).mean() for k in s])
    assert np.isnan(sub.cond_acc).all()  # no clean set given
    # a clean set that is not the one the corruptions came from: no conditional accuracy
    other = cifar10c_accuracy(forward, str(tmp_path), clean=(clean_x, (clean_labels + 1) % 10))
    assert np.isnan(other.cond_acc).all()
    make_cinic(tmp_path, np.random.default_rng(3))
    assert cinic10_accuracy(forward, str(tmp_path)) == 1.0  # ImageNet images only: all drawn right


# ================================================================= experiment ======
def test_shift_roots_are_refused_for_other_data_sets_before_the_run(tmp_path):
    make_cifar10c(tmp_path, np.random.default_rng(0))
    for name in ("cifar10c_root", "cinic10_root"):
        with pytest.raises(ParamError) as e:
            run_experiment("distill", {"dataset": "digits", name: str(tmp_path)}, out_dir=str(tmp_path / "runs"))
        assert e.value.name == name and "cifar10" in str(e.value) and "digits" in str(e.value)
    assert not os.path.exists(tmp_path / "runs")  # refused before any training or file
    params = distill.SPEC.validate({"dataset": "cifar10", "cinic10_root": str(tmp_path)})
    with pytest.raises(ParamError) as e:
        distill.check_shift_roots(params)
    assert e.value.name == "cinic10_root" and "CINIC10_ROOT/CINIC-10/" in str(e.value)


def test_the_distill_run_stores_shift_accuracies_in_its_file(tmp_path):
    make_cifar10c(tmp_path, np.random.default_rng(0))
    make_cinic(tmp_path, np.random.default_rng(3))
    params = distill.SPEC.validate(
        {"dataset": "cifar10", "cifar10c_root": str(tmp_path), "cinic10_root": str(tmp_path), "shift_samples": 0}
    )
    layout = distill.shift_layout(params)
    assert [(d.path, d.shape) for d in layout] == [
        ("robust/cifar10c_acc", (2, 5)),
        ("robust/cifar10c_cond_acc", (2, 5)),
    ]
    assert list(layout[0].attrs["corruptions"]) == ["fog", "gaussian_noise"]
    _, y = make_cifar10c(tmp_path / "clean", np.random.default_rng(0))
    clean = torch.from_numpy(encode(y, np.random.default_rng(1)).transpose(0, 3, 1, 2).copy())
    data = types.SimpleNamespace(normalise=lambda x: x.float() / 255, x={"test": clean}, y={"test": torch.as_tensor(y)})
    path = str(tmp_path / "run.h5")
    writer = RunWriter(path, experiment="distill", params=params, seed=0, device="cpu", layout=layout)
    ctx = RunContext(writer, device=torch.device("cpu"), seed=0)
    summary = distill.shift_accuracy(RedLevel(), data, params, ctx)
    writer.finish("completed", summary=summary)
    run = read_run(path)
    s = np.arange(1, 6)
    np.testing.assert_allclose(run["robust/cifar10c_acc"], [1 - s / 10, np.ones(5)])
    np.testing.assert_allclose(run["robust/cifar10c_cond_acc"], [1 - s / 10, np.ones(5)])  # clean all right
    assert run.header.attrs["cifar10c_corruptions"] == "fog,gaussian_noise"
    assert run.header.summary["cinic10_acc"] == 1.0
    assert run.header.summary["cifar10c_acc"] == pytest.approx(np.mean([1 - s / 10, np.ones(5)]))


def test_a_cancel_between_corruptions_stops_the_evaluation(tmp_path):
    from lab.context import Cancelled

    make_cifar10c(tmp_path, np.random.default_rng(0))
    ctx = RunContext(None)
    seen = []

    def check():
        seen.append(1)
        if len(seen) == 2:
            ctx.cancel()
        ctx.check_cancel()

    with pytest.raises(Cancelled):  # checked before each of the two corruptions: stops at the second
        cifar10c_accuracy(forward, str(tmp_path), before_each=check)
    assert len(seen) == 2 == len(cifar10c_corruptions(str(tmp_path)))
