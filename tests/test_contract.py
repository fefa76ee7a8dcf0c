"""Contract tests parametrized over *every* registered loss and model (built-in or installed by a
third party: the lists come from the real plugin discovery), so a new plugin is tested the moment it
registers."""

from __future__ import annotations

import pytest
import torch

from ganbench import seeding
from ganbench.options import defaults, option_table
from ganbench.plugins import load_plugins
from ganbench.specs import Data
from ganbench.suite import GLOBAL_DEFAULTS, resolve_settings
from ganbench.training import BoundLoss, train

_REGISTRY = load_plugins().registry
LOSSES = _REGISTRY.names("loss")
MODELS = _REGISTRY.names("model")


@pytest.fixture(scope="module")
def small_data(plugins, mnist):
    """For each model, a small data set it supports: 256 real MNIST digits or ring8 points."""
    ring = plugins.registry.get("dataset", "ring8").load(size=256)
    digits = Data(mnist.info, mnist.x[:256], mnist.y[:256])
    out = {}
    for name in MODELS:
        spec = plugins.registry.get("model", name)
        usable = [d for d in (digits, ring) if spec.supports(d.info) is None]
        assert usable, f"model {name} supports neither images (mnist5k) nor vectors (ring8)"
        out[name] = usable[0]
    return out


def _build(plugins, model, data, **opts):
    spec = plugins.registry.get("model", model)
    torch.manual_seed(0)
    G, D = spec.build(data.info, latent_dim=8, **{**defaults(spec.options), **opts})
    return G, D


@pytest.mark.parametrize("name", LOSSES)
def test_loss_values_are_finite_scalars(plugins, name):
    bound = BoundLoss(plugins.registry.get("loss", name))
    for scale in (1.0, 30.0):  # ordinary and very confident discriminators
        d_real = torch.linspace(-1, 1, 16) * scale
        d_fake = torch.linspace(1, -1, 16) * scale
        for value in (bound.d_loss(d_real, d_fake), bound.g_loss(d_fake, d_real)):
            assert value.dim() == 0 and torch.isfinite(value), f"{name}: {value}"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradients_flow_to_d_and_g(plugins, small_data, name, model):
    data = small_data[model]
    G, D = _build(plugins, model, data)
    bound = BoundLoss(plugins.registry.get("loss", name), generator=torch.Generator().manual_seed(0))
    real = data.x[:16]
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    fake = G(z).detach()
    d_loss = bound.d_loss(D(real).view(-1), D(fake).view(-1))
    penalty = bound.penalty(D, real, fake)
    (d_loss + (penalty if penalty is not None else 0)).backward()
    d_grads = [p.grad for p in D.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in d_grads), f"{name}: D lacks gradients"
    assert any(g.abs().sum() > 0 for g in d_grads), f"{name}: D's gradients are all zero"
    assert all(p.grad is None for p in G.parameters()), f"{name}: D's loss must not reach G"
    D.zero_grad(set_to_none=True)
    g_loss = bound.g_loss(D(G(z)).view(-1), D(real).view(-1))
    g_loss.backward()
    g_grads = [p.grad for p in G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in g_grads), f"{name}: G lacks gradients"
    assert any(g.abs().sum() > 0 for g in g_grads), f"{name}: G's gradients are all zero"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", LOSSES)
def test_real_training_steps_with_the_paper_recipe(plugins, small_data, name, model):
    data = small_data[model]
    loss = plugins.registry.get("loss", name)
    spec = plugins.registry.get("model", model)
    settings, _ = resolve_settings({"steps": 3, "batch_size": 16, "latent_dim": 8, "sample_every": 0},
                                   loss.settings, spec.settings)
    usable = {k: v for k, v in loss.model_options.items() if k in option_table(spec.options)}
    G, D = _build(plugins, model, data, **usable)
    eval_noise = torch.randn(64, 8, generator=seeding.generator(0, "eval"))
    result = train(G, D, loss, data, settings, seed=0, device=torch.device("cpu"), eval_noise=eval_noise)
    assert result.status == "ok", result.message
    assert len(result.history) == 3
    for rec in result.history:
        assert all(torch.isfinite(torch.tensor(v)) for v in rec.values()), rec
        assert rec["grad_norm_d"] > 0 and rec["grad_norm_g"] > 0


def test_contract_covers_the_builtins():
    assert {"minimax", "nonsat", "wgan", "wgan-gp", "lsgan", "hinge", "label-smooth"} <= set(LOSSES)
    assert {"vanilla", "dcgan"} <= set(MODELS)
    assert GLOBAL_DEFAULTS["n_critic"] == 1


def _model_options_grid():
    cases = []
    for model in MODELS:
        table = option_table(_REGISTRY.get("model", model).options)
        norms = table["norm"].choices if "norm" in table and table["norm"].choices else (None,)
        cases += [(model, norm) for norm in norms]
    return cases


@pytest.mark.parametrize("model, norm", _model_options_grid())
def test_models_give_raw_scores_and_support_a_gradient_penalty(plugins, small_data, model, norm):
    data = small_data[model]
    G, D = _build(plugins, model, data, **({"norm": norm} if norm else {}))
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in D.modules()), "D must return raw scores, no sigmoid"
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    x = G(z)
    assert x.shape == (8, *data.info.shape)
    if data.info.value_range is not None:
        lo, hi = data.info.value_range
        assert x.min() >= lo and x.max() <= hi
    scores = D(x)
    assert scores.shape == (8,) and torch.isfinite(scores).all()
    # WGAN-GP differentiates through D's input gradient: every normalisation must allow it
    gp = BoundLoss(plugins.registry.get("loss", "wgan-gp")).penalty(D, data.x[:8], x.detach())
    gp.backward()
    assert torch.isfinite(gp) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())


@pytest.mark.parametrize("norm, layer", [("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm),
                                         ("none", None), ("spectral", None)])
def test_dcgan_norm_option_changes_only_the_normalisation(plugins, mnist, norm, layer):
    _, D = _build(plugins, "dcgan", mnist, norm=norm)
    kinds = {type(m) for m in D.modules()}
    norms = {torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.BatchNorm1d}
    assert kinds & norms == ({layer} if layer else set())
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3  # 28 px: same layout for every norm
    spectral = [m for m in convs if torch.nn.utils.parametrize.is_parametrized(m, "weight")]
    assert len(spectral) == (3 if norm == "spectral" else 0)
