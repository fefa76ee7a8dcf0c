"""Loss formulas against hand-computed values and textbook formulas in float64; WGAN-GP's penalty
against an independent numpy computation; WGAN's clipping; options reaching the loss functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.specs import LossSpec
from ganbench.train import BoundLoss

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


# -- every built-in loss against its textbook formula, value and gradient, float64 ------------------

def _bce(p_target, d):  # binary cross-entropy of sigmoid(d) against target t, on probabilities
    p = torch.sigmoid(d)
    return -(p_target * torch.log(p) + (1 - p_target) * torch.log(1 - p))


TEXTBOOK = {
    # name: (options, L_D(r, f), L_G(f)) written on probabilities / plain algebra
    "minimax": ({}, lambda r, f: _bce(1.0, r).mean() + _bce(0.0, f).mean(),
                lambda f: torch.log(1 - torch.sigmoid(f)).mean()),
    "nonsat": ({}, lambda r, f: _bce(1.0, r).mean() + _bce(0.0, f).mean(), lambda f: -torch.log(torch.sigmoid(f)).mean()),
    "nonsat-r1": ({}, lambda r, f: _bce(1.0, r).mean() + _bce(0.0, f).mean(),  # + R1: test_r1_penalty_* below
                  lambda f: -torch.log(torch.sigmoid(f)).mean()),
    "label-smooth": ({}, lambda r, f: _bce(0.9, r).mean() + _bce(0.0, f).mean(),
                     lambda f: -torch.log(torch.sigmoid(f)).mean()),
    "wgan": ({}, lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "wgan-gp": ({}, lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "lsgan": ({}, lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(), lambda f: 0.5 * ((f - 1) ** 2).mean()),
    "hinge": ({}, lambda r, f: torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean(), lambda f: -f.mean()),
    # -log sigmoid(d_r - d_f), pairs i with i; its G loss needs D's real scores: test_rpgan_* below
    "rpgan-r1r2": ({}, lambda r, f: -torch.log(torch.sigmoid(r - f)).mean(), None),
}
WITH_OPTIONS = {
    "label-smooth real=0.8": ("label-smooth", {"real": 0.8}, lambda r, f: _bce(0.8, r).mean() + _bce(0.0, f).mean(),
                              None),
    "lsgan a=-1 b=1 c=0": ("lsgan", {"a": -1.0, "b": 1.0, "c": 0.0},
                           lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean(),
                           lambda f: 0.5 * (f**2).mean()),
}
CASES = {name: (name, *spec) for name, spec in TEXTBOOK.items()} | WITH_OPTIONS


def test_every_builtin_loss_has_a_textbook_case(plugins):
    builtin = [n for n, _, prov in plugins.registry.items("loss") if prov.plugin == "builtin-losses"]
    assert sorted(builtin) == sorted(TEXTBOOK)


@pytest.mark.parametrize("case", list(CASES))
def test_value_and_gradient_match_the_textbook(plugins, case):
    name, options, d_text, g_text = CASES[case]
    spec = plugins.registry.get("loss", name)
    bound = BoundLoss(spec, {**{k: o.default for k, o in _options(spec).items()}, **options})

    def leaf(v):
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    r1, f1, r2, f2 = leaf(D_REAL), leaf(D_FAKE), leaf(D_REAL), leaf(D_FAKE)
    got, want = bound.d_loss(r1, f1), d_text(r2, f2)
    assert got.item() == pytest.approx(want.item(), rel=1e-12, abs=1e-12)
    got.backward()
    want.backward()
    assert torch.allclose(r1.grad, r2.grad, rtol=1e-10, atol=1e-14)
    assert torch.allclose(f1.grad, f2.grad, rtol=1e-10, atol=1e-14)
    if g_text is not None:
        f1, f2 = leaf(D_FAKE), leaf(D_FAKE)
        got, want = bound.g_loss(f1), g_text(f2)
        assert got.item() == pytest.approx(want.item(), rel=1e-12, abs=1e-12)
        got.backward()
        want.backward()
        assert torch.allclose(f1.grad, f2.grad, rtol=1e-10, atol=1e-14)


def _options(spec):
    from ganbench.options import option_table

    return option_table(spec.options)


def test_hand_computed_values(loss):
    r = torch.tensor([2.0, -1.0], dtype=torch.float64)
    f = torch.tensor([-3.0, 0.5], dtype=torch.float64)
    # hinge: mean(relu(1 - r)) + mean(relu(1 + f)) = mean(0, 2) + mean(0, 1.5)
    assert loss("hinge").d_loss(r, f).item() == pytest.approx(1.75)
    assert loss("hinge").g_loss(f).item() == pytest.approx(1.25)
    # wasserstein: mean(f) - mean(r) = -1.25 - 0.5
    assert loss("wgan").d_loss(r, f).item() == pytest.approx(-1.75)
    # lsgan (0-1 coding): 0.5 mean((r - 1)^2) + 0.5 mean(f^2) = 0.5 * 2.5 + 0.5 * 4.625
    assert loss("lsgan").d_loss(r, f).item() == pytest.approx(3.5625)
    assert loss("lsgan").g_loss(f).item() == pytest.approx(0.5 * (16 + 0.25) / 2)
    # label smoothing at d_real = 0: -(0.9 log 0.5 + 0.1 log 0.5) = log 2 whatever the target
    zero = torch.zeros(1, dtype=torch.float64)
    big = torch.full((1,), -50.0, dtype=torch.float64)
    assert loss("label-smooth").d_loss(zero, big).item() == pytest.approx(math.log(2), rel=1e-9)


def test_label_smoothing_is_one_sided(loss):
    # the optimum of D's loss on a real sample is logit(0.9), not +inf; fakes keep target 0
    d = torch.tensor([math.log(0.9 / 0.1)], dtype=torch.float64, requires_grad=True)
    loss("label-smooth").d_loss(d, torch.zeros(1, dtype=torch.float64)).backward()
    assert abs(d.grad.item()) < 1e-12
    f = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    loss("label-smooth").d_loss(torch.zeros(1, dtype=torch.float64), f).backward()
    assert f.grad.item() == pytest.approx(0.5)  # d/df softplus(f) = sigmoid(0): the fake target is still 0


def test_aliases_resolve_to_the_same_loss(plugins):
    reg = plugins.registry
    assert reg.get("loss", "wasserstein") is reg.get("loss", "wgan")
    assert reg.canonical("loss", "label-smoothed") == "label-smooth"
    assert reg.aliases("loss", "wgan") == ["wasserstein"]
    assert "wasserstein" not in reg.names("loss")


# -- WGAN-GP's penalty against an independent computation ---------------------------------------

class TanhCritic(torch.nn.Module):
    """D(x) = v · tanh(W x + b) + c: its input gradient is W^T (v * (1 - tanh^2(W x + b)))."""

    def __init__(self, dim, hidden, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = torch.nn.Parameter(torch.randn(hidden, dim, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.randn(hidden, generator=g, dtype=torch.float64))
        self.v = torch.nn.Parameter(torch.randn(hidden, generator=g, dtype=torch.float64))
        self.c = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        return torch.tanh(x.flatten(1) @ self.W.T + self.b) @ self.v + self.c


def _numpy_penalty(W, b, v, real, fake, eps, lam):
    x_hat = eps * real + (1 - eps) * fake  # [N, d]
    h = np.tanh(x_hat @ W.T + b)  # [N, hidden]
    grad = (v * (1 - h**2)) @ W  # [N, d]
    return lam * np.mean((np.linalg.norm(grad, axis=1) - 1) ** 2)


@pytest.mark.parametrize("lam", [10.0, 2.5])
def test_gradient_penalty_matches_numpy(loss, lam):
    D = TanhCritic(dim=3, hidden=4)
    g = torch.Generator().manual_seed(1)
    real = torch.randn(6, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(6, 3, generator=g, dtype=torch.float64)
    bound = BoundLoss(loss("wgan-gp"), {"lambda": lam}, torch.Generator().manual_seed(7))
    got = bound.penalty(D, real, fake)
    eps = torch.rand(6, 1, generator=torch.Generator().manual_seed(7), dtype=torch.float32).double().numpy()
    W, b, v = (p.detach().numpy() for p in (D.W, D.b, D.v))
    want = _numpy_penalty(W, b, v, real.numpy(), fake.numpy(), eps, lam)
    assert got.item() == pytest.approx(want, rel=1e-6)
    # D's update differentiates through the penalty (create_graph): check dP/dv by central differences
    got.backward()
    h = 1e-6
    for i in range(4):
        vp, vm = v.copy(), v.copy()
        vp[i] += h
        vm[i] -= h
        num = (_numpy_penalty(W, b, vp, real.numpy(), fake.numpy(), eps, lam)
               - _numpy_penalty(W, b, vm, real.numpy(), fake.numpy(), eps, lam)) / (2 * h)
        assert D.v.grad[i].item() == pytest.approx(num, rel=1e-5, abs=1e-8)


def test_gradient_penalty_of_a_linear_critic_on_images(loss):
    # D(x) = <w, x>: the gradient is w at every interpolate, so the penalty is lambda (|w| - 1)^2
    w = torch.randn(1, 4, 4, dtype=torch.float64)

    def D(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 1, 4, 4, dtype=torch.float64), torch.randn(5, 1, 4, 4, dtype=torch.float64)
    got = BoundLoss(loss("wgan-gp")).penalty(D, real, fake)
    assert got.item() == pytest.approx(10 * (w.norm().item() - 1) ** 2, rel=1e-10)


def test_losses_without_penalty_return_none(loss):
    assert BoundLoss(loss("wgan")).penalty(lambda x: x.sum(1), torch.zeros(2, 2), torch.zeros(2, 2)) is None


def test_wgan_clips_every_critic_weight(loss):
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
    BoundLoss(loss("wgan"), {"clip": 0.005}).after_d_step(D)
    params = torch.cat([p.detach().flatten() for p in D.parameters()])
    assert params.abs().max().item() == pytest.approx(0.005)  # BatchNorm's weight of 1 is clamped too
    assert BoundLoss(loss("nonsat")).after_d_step(D) is None


class _Quadratic(torch.nn.Module):
    """D(x) = Σ_j w_j x_j² + b: ∇_x D = 2 w ⊙ x, so ‖∇_x D‖² = Σ_j 4 w_j² x_j², and the R1 penalty's
    derivative in w_j is γ/2 · mean(8 w_j x_j²) · interval — both by hand."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return (self.w * x * x).sum(1) + self.b


def test_r1_penalty_value_and_double_backward_match_the_hand_computation(plugins):
    spec = plugins.registry.get("loss", "nonsat-r1")
    bound = BoundLoss(spec, {"gamma": 4.0, "interval": 3})
    D = _Quadratic()
    real = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]], dtype=torch.float64)
    fake = torch.zeros_like(real)
    w = D.w.detach()
    grad_sq = (4 * w**2 * real**2).sum(1)  # [N]
    expected = 4.0 / 2 * grad_sq.mean() * 3
    penalty = bound.penalty(D, real, fake, step=1)  # the first D update: computed (lazily, ×interval)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)
    penalty.backward()
    assert torch.allclose(D.w.grad, 4.0 / 2 * (8 * w * real**2).mean(0) * 3, rtol=1e-12)
    assert D.b.grad is None or D.b.grad.abs().item() == 0  # a constant does not change the gradient
    assert real.grad is None  # the penalty differentiates through a copy of the batch
    for step in (2, 3, 5, 6):
        assert bound.penalty(D, real, fake, step=step) is None  # lazy: only updates 1, 4, 7, ...
    assert bound.penalty(D, real, fake, step=4) is not None
    every = BoundLoss(spec, {"gamma": 4.0, "interval": 1})
    assert every.penalty(D, real, fake, step=2).item() == pytest.approx(expected.item() / 3, rel=1e-12)
    off = BoundLoss(spec, {"gamma": 0.0, "interval": 3})  # no R1: no phase step on zero gradients (Adam would move D)
    assert off.penalty(D, real, fake, step=1) is None and off.penalty(D, real, fake, step=4) is None


def test_rpgan_generator_loss_and_r1_r2_penalty_match_independent_formulas(plugins):
    """RpGAN's G loss -log sigmoid(d_f - d_r) (float64, value and gradients); R1 + R2 on a quadratic D,
    γ/2 (E‖∇D(x)‖² + E‖∇D(x̃)‖²) with ‖∇D(x)‖² = Σ 4w²x² by hand, at every update; γ's cosine schedule
    from γ to γ·ratio at its start, middle and end and after it."""
    spec = plugins.registry.get("loss", "rpgan-r1r2")
    bound = BoundLoss(spec, {"gamma": 2.0, "gamma_ratio": 0.1, "gamma_updates": 10})

    def leaf(v):
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    f1, r1, f2, r2 = leaf(D_FAKE), leaf(D_REAL), leaf(D_FAKE), leaf(D_REAL)
    got, want = bound.g_loss(f1, r1), -torch.log(torch.sigmoid(f2 - r2)).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    got.backward()
    want.backward()
    assert torch.allclose(f1.grad, f2.grad, rtol=1e-10) and torch.allclose(r1.grad, r2.grad, rtol=1e-10)
    D = _Quadratic()
    real = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]], dtype=torch.float64)
    fake = torch.tensor([[0.0, -1.0, 2.0], [1.5, 1.0, 0.0]], dtype=torch.float64)
    w = D.w.detach()

    def by_hand(gamma):
        return gamma / 2 * ((4 * w**2 * real**2).sum(1).mean() + (4 * w**2 * fake**2).sum(1).mean())

    for step, gamma in ((1, 2.0), (6, 2.0 + (1 - 0.5 * (1 + math.cos(math.pi / 2))) * (0.2 - 2.0)), (11, 0.2),
                        (50, 0.2)):
        penalty = bound.penalty(D, real, fake, step=step)
        assert penalty.item() == pytest.approx(by_hand(gamma).item(), rel=1e-12), step
    penalty.backward()
    assert torch.allclose(D.w.grad, 0.2 / 2 * (8 * w * real**2).mean(0) + 0.2 / 2 * (8 * w * fake**2).mean(0), rtol=1e-12)
    constant = BoundLoss(spec, {"gamma": 2.0})
    assert constant.penalty(D, real, fake, step=1000).item() == pytest.approx(by_hand(2.0).item(), rel=1e-12)


def test_r1_is_added_on_the_lazy_d_updates_of_a_real_training(plugins):
    from ganbench.suite import GLOBAL_DEFAULTS
    from ganbench.testing import build, small_data
    from ganbench.train import run_training

    data = small_data(plugins.registry, "vector")
    G, D = build(plugins.registry, "vanilla", data)
    settings = {**GLOBAL_DEFAULTS, "steps": 6, "batch_size": 16, "latent_dim": 8, "sample_every": 0, "n_critic": 2}
    result = run_training(G, D, plugins.registry.get("loss", "nonsat-r1"), data, settings, seed=0,
                          device=torch.device("cpu"), eval_noise=torch.zeros(2, 8),
                          loss_options={"gamma": 10.0, "interval": 4})
    # D updates 1..12, two per step; R1 lazily at updates 1, 5 and 9: the steps holding them record it
    assert [r["d_penalty"] > 0 for r in result.history] == [True, False, True, False, True, False]
    result = run_training(*build(plugins.registry, "vanilla", data), plugins.registry.get("loss", "nonsat-r1"), data,
                          {**settings, "n_critic": 1}, seed=0, device=torch.device("cpu"), eval_noise=torch.zeros(2, 8),
                          loss_options={"gamma": 10.0, "interval": 4})
    assert [r["d_penalty"] > 0 for r in result.history] == [True, False, False, False, True, False]


def test_a_penalty_that_returns_no_scalar_is_named():
    """A penalty must return its mean over the batch: a per-sample [N] would otherwise surface as a shape error
    in another phase (G's backward), blaming the wrong code."""
    spec = LossSpec(name="vecpen", d_loss=lambda r, f: r.mean(), g_loss=lambda f: f.mean(),
                    penalty=lambda D, real, fake: D(real).view(-1) ** 2)
    with pytest.raises(TypeError, match=r"^penalty of loss 'vecpen' returned a tensor of shape \[4\]; expected a "
                                        r"scalar tensor \(its mean over the batch, added to D's loss\) or None$"):
        BoundLoss(spec).penalty(torch.nn.Linear(2, 1), torch.zeros(4, 2), torch.zeros(4, 2))
