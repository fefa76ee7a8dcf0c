"""Loss formulas against hand-computed values and textbook formulas in float64."""

from __future__ import annotations

import math

import pytest
import torch

D_REAL = [2.0, -1.0, 0.5]
D_FAKE = [-3.0, 0.0, 1.5]


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def _log_one_minus_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(x))


def _mean(v):
    return sum(v) / len(v)


@pytest.fixture
def loss(plugins):
    return lambda name: plugins.registry.get("loss", name)


def test_discriminator_loss_is_the_gan_cross_entropy(loss):
    expected = -_mean([_log_sigmoid(x) for x in D_REAL]) - _mean([_log_one_minus_sigmoid(x) for x in D_FAKE])
    for name in ("minimax", "nonsat"):
        got = loss(name).d_loss(torch.tensor(D_REAL, dtype=torch.float64), torch.tensor(D_FAKE, dtype=torch.float64))
        assert got.item() == pytest.approx(expected, rel=1e-12)


def test_minimax_generator_loss_is_log_one_minus_d(loss):
    # E[log(1 - D(G(z)))], minimised by G: the saturating form
    expected = _mean([_log_one_minus_sigmoid(x) for x in D_FAKE])
    assert loss("minimax").g_loss(torch.tensor(D_FAKE, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-12)
    # hand-computed: log(1 - sigmoid(0)) = log(0.5)
    assert loss("minimax").g_loss(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(math.log(0.5))


def test_nonsat_generator_loss_is_minus_log_d(loss):
    expected = -_mean([_log_sigmoid(x) for x in D_FAKE])
    assert loss("nonsat").g_loss(torch.tensor(D_FAKE, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-12)
    assert loss("nonsat").g_loss(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(math.log(2))


def _g_grad(g_loss, value: float) -> float:
    d = torch.tensor([value], dtype=torch.float64, requires_grad=True)
    g_loss(d).backward()
    return d.grad.item()


def test_saturation_at_confident_rejection(loss):
    # At d_fake = -10 (D is sure the sample is fake) the minimax gradient vanishes, nonsat's does not.
    minimax = _g_grad(loss("minimax").g_loss, -10.0)
    nonsat = _g_grad(loss("nonsat").g_loss, -10.0)
    sig = 1 / (1 + math.exp(10))
    assert minimax == pytest.approx(-sig, rel=1e-9)  # d/dd [-softplus(d)] = -sigmoid(d)
    assert abs(minimax) < 1e-4
    assert nonsat == pytest.approx(-(1 - sig), rel=1e-9)  # d/dd [softplus(-d)] = -sigmoid(-d)
    assert abs(nonsat) > 0.99


def test_gradients_match_the_probability_form(loss):
    # autograd through the textbook formula on probabilities, float64
    for name, textbook in (("minimax", lambda p: torch.log(1 - p).mean()), ("nonsat", lambda p: -torch.log(p).mean())):
        d1 = torch.tensor(D_FAKE, dtype=torch.float64, requires_grad=True)
        d2 = torch.tensor(D_FAKE, dtype=torch.float64, requires_grad=True)
        loss(name).g_loss(d1).backward()
        textbook(torch.sigmoid(d2)).backward()
        assert torch.allclose(d1.grad, d2.grad, rtol=1e-10, atol=0)


def test_no_overflow_at_extreme_logits(loss):
    d = torch.tensor([-1e4, 1e4])
    for name in ("minimax", "nonsat"):
        assert torch.isfinite(loss(name).d_loss(d, d)) and torch.isfinite(loss(name).g_loss(d))
