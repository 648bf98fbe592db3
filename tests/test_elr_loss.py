"""ELR loss pieces: Lemma 2 against autograd, the target update rule, mixup, weight
averaging and the memorisation measurements on hand-made cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab.elr.loss import P_MAX, P_MIN, ElrTargets, elr_loss, lemma2_coefficient, lemma2_g
from lab.elr.memorization import KEYS, memorization_stats, to_host
from lab.elr.plus import WeightAverage, mixup


def _batch(seed, b=16, c=10, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(b, c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (b,), generator=g)
    t = torch.rand(b, c, generator=g, dtype=torch.float64)
    return z, y, t / t.sum(1, keepdim=True) * 0.9  # an averaged target sums to < 1 early on


@pytest.mark.parametrize("lam", [0.0, 3.0, 7.0])
def test_gradient_matches_lemma2(lam):
    z, y, t = _batch(1)
    p = F.softmax(z, 1)
    assert P_MIN < p.min() and p.max() < P_MAX  # the clamp is inactive, Lemma 2 applies
    z.requires_grad_(True)
    loss, _, _ = elr_loss(z.double(), y, t, lam)
    # elr_loss computes in float32; repeat in float64 for a tight comparison
    zz = z.detach().clone().requires_grad_(True)
    pp = F.softmax(zz, 1)
    ref = F.cross_entropy(zz, y) + lam * torch.log(1 - (t * pp).sum(1)).mean()
    ref.backward()
    coef = lemma2_coefficient(p, F.one_hot(y, 10).double(), t, lam) / len(z)
    torch.testing.assert_close(zz.grad, coef, rtol=1e-9, atol=1e-12)
    loss.backward()
    torch.testing.assert_close(z.grad, coef, rtol=1e-4, atol=1e-6)


def test_lemma2_g_sign():
    """Early learning: the target puts its mass on the true class c*, so g_c* < 0 and
    the regulariser keeps pushing p_c* up (paper, discussion after Lemma 2)."""
    p = torch.tensor([[0.6, 0.3, 0.1]])
    t = torch.tensor([[0.8, 0.1, 0.1]])
    g = lemma2_g(p, t)
    assert g[0, 0] < 0 and g[0, 1] > 0
    assert abs(float(g.sum())) < 1e-6  # gradients of a function of softmax sum to zero


def test_targets_update_rule():
    torch.manual_seed(0)
    n, c, beta = 20, 5, 0.7
    tg = ElrTargets(n, c, beta)
    assert float(tg.t.abs().sum()) == 0.0
    idx = torch.tensor([3, 7, 11])
    z1 = torch.randn(3, c) * 20  # saturates: the clamp and renormalisation matter
    _, _, _ = tg.step_loss(idx, z1, torch.tensor([0, 1, 2]), 3.0)
    p1 = F.softmax(z1, 1).clamp(P_MIN, P_MAX)
    p1 = p1 / p1.sum(1, keepdim=True)
    torch.testing.assert_close(tg.t[idx], (1 - beta) * p1)
    z2 = torch.randn(3, c)
    tg.step_loss(idx, z2, torch.tensor([0, 1, 2]), 3.0)
    p2 = F.softmax(z2, 1).clamp(P_MIN, P_MAX)
    p2 = p2 / p2.sum(1, keepdim=True)
    torch.testing.assert_close(tg.t[idx], beta * (1 - beta) * p1 + (1 - beta) * p2)
    others = torch.ones(n, dtype=torch.bool)
    others[idx] = False
    assert float(tg.t[others].abs().sum()) == 0.0  # only the batch's rows move
    torch.testing.assert_close(tg.t[idx].sum(1), torch.full((3,), 1 - beta**2))


def test_regulariser_uses_updated_targets():
    """The official order: targets first, then the loss with the new rows."""
    tg = ElrTargets(4, 3, 0.5)
    idx = torch.tensor([0, 1])
    z = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    _, _, reg = tg.step_loss(idx, z, torch.tensor([0, 1]), 1.0)
    p = F.softmax(z, 1)
    expect = torch.log(1 - (tg.t[idx] * p).sum(1)).mean()
    torch.testing.assert_close(reg, expect)
    assert float(reg) < 0


def test_mixup_mixes_x_y_t_alike():
    rng = np.random.default_rng(0)
    x = torch.arange(8.0)[:, None].repeat(1, 3)
    y = F.one_hot(torch.arange(8) % 4, 4).float()
    t = torch.rand(8, 4)
    perm = torch.tensor([1, 0, 3, 2, 5, 4, 7, 6])
    for _ in range(20):
        xm, ym, tm, l = mixup(x, y, t, 1.0, rng, perm)
        assert 0.5 <= l <= 1.0
        torch.testing.assert_close(xm, l * x + (1 - l) * x[perm])
        torch.testing.assert_close(ym, l * y + (1 - l) * y[perm])
        torch.testing.assert_close(tm, l * t + (1 - l) * t[perm])
    ls = [mixup(x, y, t, 1.0, rng)[3] for _ in range(4000)]
    # Beta(1,1) = U(0,1), so l' = max(l, 1-l) ~ U(1/2, 1): mean 3/4, sd 0.144/sqrt(4000)
    assert abs(np.mean(ls) - 0.75) < 0.01


def test_weight_average_momentum():
    net = torch.nn.Linear(2, 1)
    avg = WeightAverage(net, gamma=0.9)
    w0 = net.weight.detach().clone()
    avg.update(net)  # first update copies
    torch.testing.assert_close(avg.model.weight, w0)
    with torch.no_grad():
        net.weight.add_(1.0)
    avg.update(net)  # a = min(1 - 1/2, 0.9) = 0.5
    torch.testing.assert_close(avg.model.weight, w0 + 0.5)
    for _ in range(30):
        avg.update(net)  # a -> 0.9: the gap to w0+1 shrinks by 0.9 per update at most
    gap = float((w0 + 1 - avg.model.weight).abs().max())
    assert 0.5 * np.prod([min(1 - 1 / (k + 1), 0.9) for k in range(2, 32)]) == pytest.approx(gap, rel=1e-4)
    assert not any(p.requires_grad for p in avg.model.parameters())


def test_memorization_stats_by_hand():
    true = torch.tensor([0, 1, 2, 0, 1, 2])
    given = torch.tensor([0, 1, 2, 1, 2, 0])  # last three wrongly labelled
    pred = torch.tensor([0, 1, 0, 1, 0, 2])  # clean: 2/3 correct; noisy: memorised, other, correct
    logits = 10 * F.one_hot(pred, 3).float()
    m = to_host(memorization_stats(logits, given, true, None, 0.0))
    assert list(m) == list(KEYS)
    assert m["clean_correct"] == pytest.approx(2 / 3) and m["clean_other"] == pytest.approx(1 / 3)
    assert m["noisy_correct"] == pytest.approx(1 / 3)
    assert m["noisy_memorized"] == pytest.approx(1 / 3)
    assert m["noisy_other"] == pytest.approx(1 / 3)
    p = F.softmax(logits, 1)
    pt = p[torch.arange(6), true]
    assert m["noisy_p_true"] == pytest.approx(float(pt[3:].mean()), rel=1e-6)
    # plain CE: the coefficient at c* is p_c* - 1 for clean examples and p_c* for wrong ones
    assert m["clean_coef"] == pytest.approx(float((pt[:3] - 1).mean()), rel=1e-6)
    assert m["noisy_coef"] == pytest.approx(float(pt[3:].mean()), rel=1e-6)
    assert m["clean_reg_term"] == 0.0


def test_memorization_stats_with_targets_and_no_noise():
    torch.manual_seed(0)
    z = torch.randn(50, 4)
    y = torch.randint(0, 4, (50,))
    t = F.softmax(torch.randn(50, 4), 1) * 0.5
    m = to_host(memorization_stats(z, y, y, t, 3.0))
    assert np.isnan(m["noisy_correct"]) and np.isnan(m["noisy_memorized"])
    p = F.softmax(z, 1)
    full = lemma2_coefficient(p, F.one_hot(y, 4).float(), t, 3.0)[torch.arange(50), y]
    assert m["clean_coef"] == pytest.approx(float(full.mean()), rel=1e-5, abs=1e-6)
    assert m["clean_coef_std"] == pytest.approx(float(full.std(unbiased=False)), rel=1e-4)
