"""Model sizes, shapes and the MLP's noise injection node."""

import math

import pytest
import torch

from lab.models import MLP, build_model, n_parameters, set_dropout


@pytest.mark.parametrize(
    "name, expected, tol",
    [
        ("wrn-40-2", 2.2e6, 0.05e6),
        ("wrn-16-2", 0.7e6, 0.02e6),
        ("resnet20", 0.27e6, 0.005e6),
        ("resnet32", 0.46e6, 0.01e6),
        ("resnet56", 0.85e6, 0.01e6),
        ("preact-resnet18", 11.2e6, 0.1e6),
        ("preact-resnet34", 21.3e6, 0.1e6),
    ],
)
def test_parameter_counts_match_the_papers(name, expected, tol):
    assert abs(n_parameters(build_model(name, (3, 32, 32), 10)) - expected) < tol


@pytest.mark.parametrize("name", ["cnn", "resnet20", "wrn-16-2", "preact-resnet18"])
def test_image_models_give_logits(name):
    model = build_model(name, (3, 16, 16), 7).eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 7)


def test_cnn_on_features_is_refused():
    with pytest.raises(ValueError, match="needs images"):
        build_model("resnet20", (10,), 3)


def test_normal_fan_in_init():
    torch.manual_seed(0)
    m = MLP(400, [1000], 10, init="normal")
    w = m.hidden[0].weight
    assert abs(w.std().item() - 1 / math.sqrt(400)) < 0.01 / math.sqrt(400) * 5
    assert m.hidden[0].bias.abs().max() == 0 and m.out.bias.abs().max() == 0
    assert abs(m.out.weight.std().item() - 1 / math.sqrt(1000)) < 0.05 / math.sqrt(1000)


def test_nin_adds_w_times_eps_exactly_in_training_and_nothing_at_eval():
    torch.manual_seed(0)
    m = MLP(5, [6, 4], 3, activation="linear", nin_layer=1, nin_sigma=2.0)
    x = torch.randn(8, 5)
    eps = torch.randn(8)
    with torch.no_grad():
        h0 = m.hidden[0](x)
        z1 = m.hidden[1](h0)
        expected = m.out(z1 + eps[:, None] * m.nin.weight[None, :])
        clean = m.out(z1)
    m.train()
    assert torch.allclose(m(x, eps=eps), expected, atol=1e-6)
    assert not torch.allclose(m(x), clean)  # a fresh eps is drawn when none is given
    m.eval()
    assert torch.allclose(m(x, eps=eps), clean, atol=1e-6)
    # W_NI is trainable and receives the gradient sum_b eps_b dL/dz_b
    m.train()
    m(x, eps=eps).sum().backward()
    assert m.nin.weight.grad is not None and m.nin.weight.grad.abs().sum() > 0
    assert m.next_layer() is m.out


def test_set_dropout_only_touches_dropout():
    m = build_model("wrn-16-2", (3, 32, 32), 10, dropout=0.3).eval()
    set_dropout(m, True)
    modes = {
        type(mod).__name__: mod.training for mod in m.modules() if type(mod).__name__ in ("Dropout", "BatchNorm2d")
    }
    assert modes == {"Dropout": True, "BatchNorm2d": False}
