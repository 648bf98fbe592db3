"""Label corruption: exact counts, seeded, the paper's maps, per-batch randomisation."""

import numpy as np
import pytest
import torch

from lab.data import (
    CIFAR10_ASYMMETRIC,
    CIFAR100_SUPERCLASSES,
    cifar100_asymmetric,
    corrupt_labels,
    parse_pairs,
    randomise_labels,
)
from lab.params import ParamError


def balanced(n_per_class, classes):
    return np.random.default_rng(1).permutation(np.repeat(np.arange(classes), n_per_class))


def test_cifar100_superclasses_partition_the_100_classes():
    flat = [c for group in CIFAR100_SUPERCLASSES for c in group]
    assert len(CIFAR100_SUPERCLASSES) == 20 and all(len(g) == 5 for g in CIFAR100_SUPERCLASSES)
    assert sorted(flat) == list(range(100))
    # spot checks against the CIFAR-100 class list: 4 beaver, 30 dolphin, 55 otter (aquatic
    # mammals); 8 bicycle, 13 bus, 90 train (vehicles 1); 2 baby, 98 woman (people)
    assert {4, 30, 55} <= set(CIFAR100_SUPERCLASSES[0])
    assert {8, 13, 90} <= set(CIFAR100_SUPERCLASSES[18]) and {2, 98} <= set(CIFAR100_SUPERCLASSES[14])


def test_cifar100_map_moves_within_the_superclass_as_a_cycle():
    m = cifar100_asymmetric()
    coarse = {c: k for k, g in enumerate(CIFAR100_SUPERCLASSES) for c in g}
    assert sorted(m) == list(range(100)) and sorted(m.values()) == list(range(100))
    assert all(coarse[a] == coarse[b] and a != b for a, b in m.items())
    assert m[4] == 30 and m[95] == 4


def test_symmetric_rate_is_exact_seeded_and_can_draw_the_true_class():
    classes, y = 10, balanced(1000, 10)
    r = 0.4
    a = corrupt_labels(y, "symmetric", r, classes, seed=3)
    b = corrupt_labels(y, "symmetric", r, classes, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, corrupt_labels(y, "symmetric", r, classes, seed=4))
    # round(rN) labels are redrawn uniformly over all C classes: changed ~ Bin(rN, 1 - 1/C)
    k = round(r * len(y))
    changed = int((a != y).sum())
    mean, sd = k * (1 - 1 / classes), np.sqrt(k * (1 / classes) * (1 - 1 / classes))
    assert abs(changed - mean) < 4 * sd
    assert changed < k  # some redrawn labels landed on the true class
    # noisy labels are uniform over the other classes: each wrong class ~ changed / 9
    wrong = a[a != y]
    assert np.bincount(wrong, minlength=10).min() > 0


def test_asymmetric_cifar10_map_is_exact_per_class():
    y = balanced(200, 10)
    r = 0.3
    noisy = corrupt_labels(y, "asymmetric", r, 10, dataset="cifar10", seed=0)
    for c in range(10):
        members = y == c
        moved = noisy[members] != c
        if c in CIFAR10_ASYMMETRIC:
            assert moved.sum() == round(r * 200)
            assert set(noisy[members][moved]) == {CIFAR10_ASYMMETRIC[c]}
        else:
            assert moved.sum() == 0
    assert noisy[(y == 3) & (noisy != 3)].tolist() == [5] * 60 and noisy[(y == 5) & (noisy != 5)].tolist() == [3] * 60


def test_asymmetric_cifar100_and_pairs():
    y = balanced(10, 100)
    noisy = corrupt_labels(y, "asymmetric", 0.4, 100, dataset="cifar100", seed=1)
    m = cifar100_asymmetric()
    assert (noisy != y).sum() == 100 * 4
    assert all(m[a] == b for a, b in zip(y[noisy != y], noisy[noisy != y]))
    y = balanced(50, 10)
    noisy = corrupt_labels(y, "asymmetric", 1.0, 10, dataset="digits", pairs="3:5,5:3")
    assert (
        (noisy[y == 3] == 5).all()
        and (noisy[y == 5] == 3).all()
        and (noisy[(y != 3) & (y != 5)] == y[(y != 3) & (y != 5)]).all()
    )
    with pytest.raises(ParamError, match="noise_pairs"):
        corrupt_labels(y, "asymmetric", 0.5, 10, dataset="digits")
    with pytest.raises(ParamError, match="noise_pairs"):
        parse_pairs("3:12", 10)


def test_per_batch_randomisation_is_fresh_with_the_right_rate():
    g = torch.Generator().manual_seed(0)
    y = torch.zeros(20000, dtype=torch.long)
    a, b = randomise_labels(y, 0.5, 10, g), randomise_labels(y, 0.5, 10, g)
    assert not torch.equal(a, b)
    # changed with probability r (1 - 1/C) = 0.45
    for z in (a, b):
        p = (z != 0).float().mean().item()
        assert abs(p - 0.45) < 4 * np.sqrt(0.45 * 0.55 / 20000)
    assert torch.equal(randomise_labels(y, 0.0, 10, g), y)


def _official_cifar10_loop(train_labels, percent, rng):
    """The official ELR CIFAR-10 asymmetric noise, written as that code writes it (one
    shuffle per class, in place, from the current labels), with ``rng`` for np.random."""
    train_labels = train_labels.copy()
    for i in range(10):
        indices = np.where(train_labels == i)[0]
        rng.shuffle(indices)
        for j, idx in enumerate(indices):
            if j < percent * len(indices):
                if i == 9:  # truck -> automobile
                    train_labels[idx] = 1
                elif i == 2:  # bird -> airplane
                    train_labels[idx] = 0
                elif i == 3:  # cat -> dog
                    train_labels[idx] = 5
                elif i == 5:  # dog -> cat
                    train_labels[idx] = 3
                elif i == 4:  # deer -> horse
                    train_labels[idx] = 7
    return train_labels


@pytest.mark.parametrize("rate", [0.4, 0.25])
def test_official_asymmetric_mode_is_the_official_loop(rate):
    """asym_mode official equals the official loop label for label on CIFAR-10's 5,000 per
    class, so some cats moved to dog move back: cat about 24% wrong at r = 0.4, against
    exactly 40% (and 20% overall) for the exact mode."""
    y = balanced(5000, 10)
    seed = 3
    ours = corrupt_labels(y, "asymmetric", rate, 10, dataset="cifar10", seed=seed, asym_mode="official")
    ref = _official_cifar10_loop(y, rate, np.random.default_rng([seed, 0x1ABE1]))
    np.testing.assert_array_equal(ours, ref)
    wrong = {c: int((ours[y == c] != c).sum()) for c in range(10)}
    k = int(np.ceil(rate * 5000))
    # cats moved back = those among the ceil(r (5000 + k)) "dogs" flipped to cat: hypergeometric
    n_dog = 5000 + k
    flipped = int(np.ceil(rate * n_dog))
    back_mean = flipped * k / n_dog
    back_sd = np.sqrt(flipped * (k / n_dog) * (1 - k / n_dog) * (n_dog - flipped) / (n_dog - 1))
    back = k - wrong[3]
    assert abs(back - back_mean) < 4 * back_sd
    assert wrong[5] == flipped - back and all(wrong[c] == k for c in (9, 2, 4))
    assert all(wrong[c] == 0 for c in (0, 1, 6, 7, 8))
    exact = corrupt_labels(y, "asymmetric", rate, 10, dataset="cifar10", seed=seed, asym_mode="exact")
    assert all(int((exact[y == c] != c).sum()) == round(rate * 5000) for c in CIFAR10_ASYMMETRIC)
