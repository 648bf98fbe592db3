"""Device-resident loading: epochs, augmentation, splits and normalisation."""

import numpy as np
import pytest
import torch

from lab.data import DATA_PARAMS, NOISE_PARAMS, DeviceLoader, crop_flip_at, load_data, random_crop_flip, split_sizes
from lab.params import Spec

SPEC = Spec(*DATA_PARAMS, *NOISE_PARAMS)


def params(**kw):
    return SPEC.validate(kw)


def test_every_index_appears_once_per_epoch_and_orders_differ():
    xs = torch.arange(103, dtype=torch.float32)[:, None]
    ys = torch.arange(103)
    loader = DeviceLoader(xs, ys, 10, lambda x: x, seed=1)
    assert len(loader) == 11
    epochs = []
    for _ in range(2):
        idx = torch.cat([i for _, _, i in loader])
        assert sorted(idx.tolist()) == list(range(103))
        for x, y, i in loader:
            assert torch.equal(y, i) and torch.equal(x[:, 0].long(), i)  # each batch carries its own ids
        epochs.append(idx)
    assert not torch.equal(epochs[0], epochs[1])
    again = torch.cat([i for _, _, i in DeviceLoader(xs, ys, 10, lambda x: x, seed=1)])
    assert torch.equal(again, epochs[0])  # seeded


@pytest.mark.parametrize("n,batch,sizes", [(21, 10, [10, 11]), (1, 10, [1]), (20, 10, [10, 10]), (22, 10, [10, 10, 2])])
def test_a_lone_last_sample_joins_the_batch_before_it(n, batch, sizes):
    xs, ys = torch.zeros(n, 1), torch.arange(n)
    loader = DeviceLoader(xs, ys, batch, lambda x: x, seed=0)
    got = [len(i) for _, _, i in loader]
    assert got == sizes and len(loader) == len(sizes)
    assert sorted(torch.cat([i for _, _, i in loader]).tolist()) == list(range(n))


def test_batch_norm_model_trains_when_one_sample_is_left_over(tmp_path):
    """66-sample batches of a 67-sample split: preact-resnet18 shrinks digits to 1x1, where
    batch norm cannot train on a single sample."""
    from lab.runner import run_experiment

    r = run_experiment(
        "supervised",
        {
            "dataset": "digits",
            "model": "preact-resnet18",
            "train_fraction": 0.05,
            "batch": 66,
            "epochs": 1,
            "device": "cpu",
        },
        out_dir=str(tmp_path),
    )
    assert r.status == "completed", r.error


def test_crop_and_flip_move_a_known_pixel():
    x = torch.zeros(3, 2, 8, 8, dtype=torch.uint8)
    x[:, :, 2, 5] = 200  # one bright pixel at row 2, column 5
    dy, dx = torch.tensor([4, 0, 6]), torch.tensor([4, 8, 1])
    flip = torch.tensor([False, False, True])
    out = crop_flip_at(x, dy, dx, flip, pad=4)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # no shift (dy = dx = pad) and no flip: identical
    assert torch.equal(out[0], x[0])
    # crop offset (0, 8) of the padded image: content moves down 4 rows, left 4 columns
    assert out[1, :, 6, 1].tolist() == [200, 200] and int(out[1].sum()) == 400
    # offset (6, 1) then a flip
    x2 = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    x2[0, 0, 3, 1] = 9
    o2 = crop_flip_at(x2, torch.tensor([6]), torch.tensor([1]), torch.tensor([True]), pad=4)
    # crop: pixel goes to (3 + 4 - 6, 1 + 4 - 1) = (1, 4); flip: column 7 - 4 = 3
    assert o2[0, 0, 1, 3] == 9 and int(o2.sum()) == 9
    # a shift by the full padding pushes the pixel out: zero padding comes in
    o3 = crop_flip_at(x2, torch.tensor([4]), torch.tensor([8]), torch.tensor([False]), pad=4)
    assert int(o3.sum()) == 0 and o3[0, 0, :, 4:].sum() == 0


def test_random_augmentation_really_flips_and_shifts_with_the_right_odds():
    g = torch.Generator().manual_seed(0)
    img = torch.arange(64, dtype=torch.uint8).reshape(1, 1, 8, 8).repeat(4000, 1, 1, 1)
    flipped = random_crop_flip(img, crop=False, flip=True, generator=g)
    is_flip = (flipped == img.flip(3)).flatten(1).all(1)
    is_same = (flipped == img).flatten(1).all(1)
    assert bool((is_flip | is_same).all())
    assert abs(is_flip.float().mean().item() - 0.5) < 4 * np.sqrt(0.25 / 4000)
    cropped = random_crop_flip(img, crop=True, flip=False, generator=g)
    unchanged = (cropped == img).flatten(1).all(1).float().mean().item()
    assert abs(unchanged - 1 / 81) < 4 * np.sqrt((1 / 81) * (80 / 81) / 4000)  # offset (4, 4) of 9 x 9


def test_splits_noise_and_training_statistics_on_digits():
    p = params(dataset="digits", train_fraction=0.8, noise_type="symmetric", noise_rate=0.4, data_seed=2)
    d = load_data(p, "cpu")
    n_train, n_val, n_test = split_sizes(p)
    assert (d.size("train"), d.size("val"), d.size("test")) == (n_train, n_val, n_test) == (1078, 270, 449)
    assert d.x["train"].dtype == torch.uint8 and d.input_shape == (1, 8, 8) and d.augment == "none"
    # the noise mask marks exactly the changed labels; validation and test stay clean
    assert torch.equal(d.noise_mask, d.y["train"] != d.labels_clean)
    assert 0.3 < d.realised_noise_rate < 0.4
    x = d.normalise(d.x["train"])
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-3
    assert abs(d.normalise(d.x["test"]).mean().item()) < 0.1  # test uses the training statistics
    same = load_data(p, "cpu")
    assert torch.equal(same.y["train"], d.y["train"]) and np.array_equal(same.train_index, d.train_index)


def test_gaussian_mixture_per_feature_statistics_and_auto_augment():
    p = params(
        dataset="gaussian",
        gaussian_train=500,
        gaussian_test=200,
        gaussian_classes=4,
        gaussian_dim=3,
        gaussian_separation=5.0,
        normalise="feature",
    )
    d = load_data(p, "cpu")
    assert d.input_shape == (3,) and d.num_classes == 4 and d.size("test") == 200
    assert torch.bincount(d.y["train"]).tolist() == [125] * 4
    raw = d.x["train"].clone()
    x = d.normalise(d.x["train"])
    assert torch.equal(d.x["train"], raw)  # the stored data are left alone
    assert torch.allclose(x.mean(0), torch.zeros(3), atol=1e-5) and torch.allclose(x.std(0), torch.ones(3), atol=1e-3)
    batch = next(iter(d.train_loader(64, seed=0)))
    assert batch[0].shape == (64, 3) and batch[2].shape == (64,)


def test_cifar_folder_loads_with_crop_and_flip(tmp_path):
    from tests.test_data_formats import make_cifar

    make_cifar(str(tmp_path), per_batch=8)
    d = load_data(params(dataset="cifar10", data_root=str(tmp_path), train_fraction=0.75), "cpu")
    assert (d.crop, d.flip) == (True, True) and split_sizes(
        params(dataset="cifar10", data_root=str(tmp_path), train_fraction=0.75)
    ) == (30, 10, 3)
    x, y, idx = next(iter(d.train_loader(16, seed=0)))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="cifar-100-python"):
        load_data(params(dataset="cifar100", data_root=str(tmp_path)), "cpu")


def test_a_one_sample_training_split_still_normalises_to_finite_numbers():
    p = params(dataset="gaussian", gaussian_train=2, gaussian_test=5, train_fraction=0.5, normalise="feature")
    d = load_data(p, "cpu")
    assert d.size("train") == 1 and d.size("val") == 1
    assert torch.isfinite(d.normalise(d.x["test"])).all()
    assert torch.allclose(d.normalise(d.x["train"]), torch.zeros(1, 2))  # centred on the one sample


@pytest.mark.parametrize("pairs", ["", "3:12", "3:x"])
def test_a_bad_asymmetric_map_is_refused_by_the_data_check(pairs):
    from lab.data import check_data, data_layout
    from lab.params import ParamError

    p = params(dataset="digits", noise_type="asymmetric", noise_rate=0.2, noise_pairs=pairs)
    with pytest.raises(ParamError, match="noise_pairs"):
        check_data(p)
    good = {**p, "noise_pairs": "3:5,5:3"}
    check_data(good)
    assert len(data_layout(good)) == 4
