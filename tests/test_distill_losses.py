"""Hinton's KD loss and the logit MSE against hand computations."""

import math

import pytest
import torch

from lab.distill.losses import kd_loss, logit_mse


def _softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def test_kd_loss_equals_a_hand_computation():
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    y = [1, 2]
    alpha, tau = 0.9, 4.0
    total = 0.0
    for si, ti, yi in zip(s, t, y):
        ce = -math.log(_softmax(si)[yi])
        ps, pt = _softmax([v / tau for v in si]), _softmax([v / tau for v in ti])
        kl = sum(a * math.log(a / b) for a, b in zip(pt, ps))
        total += (1 - alpha) * ce + alpha * tau**2 * kl
    expected = total / len(s)
    got = kd_loss(
        torch.tensor(s, dtype=torch.float64),
        torch.tensor(t, dtype=torch.float64),
        torch.tensor(y),
        alpha=alpha,
        tau=tau,
    )
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_kd_loss_with_alpha_zero_is_cross_entropy_and_kl_vanishes_on_equal_logits():
    s = torch.randn(8, 10, dtype=torch.float64)
    y = torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(s, y)
    assert float(kd_loss(s, s + 5.0, y, alpha=0.0)) == pytest.approx(float(ce))
    # softmax is shift-invariant, so a shifted teacher gives KL = 0
    assert float(kd_loss(s, s + 5.0, y, alpha=1.0)) == pytest.approx(0.0, abs=1e-12)


def test_logit_mse_is_half_the_squared_error_summed_over_outputs():
    s = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert float(logit_mse(s, t)) == pytest.approx((0.5 * 5 + 0.5 * 25) / 2)
