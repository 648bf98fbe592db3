"""PGD lowers accuracy and stays inside the eps-ball and [0, 1]; Gaussian input noise."""

import pytest
import torch
from torch import nn

from lab.distill.robustness import accuracy, gaussian_input_noise, noise_accuracy, pgd_accuracy, pgd_attack


@pytest.fixture(scope="module")
def trained():
    """An MLP trained on the digits (grey levels scaled to [0, 1]) and 300 of its images."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(80):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    yield model.eval(), x[:300], y[:300]


def test_pgd_lowers_accuracy_and_never_leaves_the_eps_ball_or_the_pixel_range(trained):
    model, x, y = trained
    clean = accuracy(model, x, y)
    assert clean > 0.95
    eps = 0.1
    g = torch.Generator().manual_seed(0)
    x_adv, robust = pgd_attack(model, x, y, eps=eps, step=0.025, n_steps=10, restarts=2, generator=g)
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    robust_acc = float(robust.float().mean())
    assert robust_acc < clean - 0.3
    # the reported robust mask is consistent with the returned images
    with torch.no_grad():
        assert torch.all(model(x_adv).argmax(1)[~robust] != y[~robust])
    # uniform noise of the same size barely hurts: the attack is not just noise
    rand = (x + eps * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1)
    assert accuracy(model, rand, y) > robust_acc + 0.3
    # more random starts can only lower (never raise) the robust accuracy
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    one = pgd_accuracy(model, x, y, eps=eps, step=0.025, n_steps=5, restarts=1, generator=g1)
    three = pgd_accuracy(model, x, y, eps=eps, step=0.025, n_steps=5, restarts=3, generator=g2)
    assert three <= one


def test_gaussian_input_noise_stays_in_range_and_lowers_accuracy_with_sigma(trained):
    model, x, y = trained
    noisy = gaussian_input_noise(x, 0.5, torch.Generator().manual_seed(0))
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0
    accs = noise_accuracy(model, x, y, [0.0, 0.3, 1.0], torch.Generator().manual_seed(1))
    assert accs[0] == accuracy(model, x, y)
    assert accs[2] < accs[0] - 0.2
