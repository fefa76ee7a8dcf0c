"""Contract tests parametrized over *every* registered loss, model, data set and metric (built-in or
installed by a third party: the lists come from the real plugin discovery), so a new plugin is tested
the moment it registers — a translation model with its paper loss and wgan-gp only (its networks, not the
losses, are what differ from the generation models'). The checks are ganbench.testing's, the same that
plugin authors run."""

from __future__ import annotations

import pytest
import torch

from ganbench import paths
from ganbench.options import option_table
from ganbench.plugins import load_plugins
from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.testing import build, check_dataset, check_loss, check_metric, check_model, check_training

_REGISTRY = load_plugins().registry
LOSSES = _REGISTRY.names("loss")
MODELS = _REGISTRY.names("model")
DATASETS = _REGISTRY.names("dataset")
METRICS = _REGISTRY.names("metric")


def _small(model: str) -> dict:
    """Small widths for the built-in models (the contract does not depend on size; the suite's time
    does): third-party models are tested as they are."""
    _, spec, prov = next(item for item in _REGISTRY.items("model") if item[0] == model)
    if prov.plugin != "builtin-models":
        return {}
    table = option_table(spec.options)
    small = (("width", 8), ("hidden", 32), ("ch", 2), ("g_width", 8), ("d_width", 8), ("w_dim", 16), ("blocks", 1))
    return {k: v for k, v in small if k in table}


def _pairs() -> list[tuple[str, str]]:
    """(loss, model) of the loss and training contracts: every loss with every generation model; a translation
    model (its networks, not the losses, are what differs) with its paper loss and wgan-gp (the penalty
    through a patch D)."""
    out = []
    for model in MODELS:
        spec = _REGISTRY.get("model", model)
        losses = LOSSES if spec.task == "generation" else [n for n in LOSSES if n in (spec.loss, "wgan-gp")]
        out += [(name, model) for name in losses]
    return out


@pytest.mark.parametrize("name, model", _pairs())
def test_loss_contract(plugins, name, model):
    """Finite scalar losses, gradients to D (never G) from D's loss and to G from G's loss."""
    check_loss(plugins.registry, name, model, **_small(model))


@pytest.mark.parametrize("name, model", _pairs())
def test_real_training_steps_with_the_paper_recipe(plugins, name, model):
    """A few real steps end ok with finite history; the same seed gives the same numbers. Reproducibility
    comes from the model's draws (initialisation, forward) and the loss's (its stream, n_critic): it is
    checked for every model with wgan-gp (the loss stream, 5 critic steps) and every loss with vanilla,
    rather than for every pair (half the time of this grid)."""
    check_training(plugins.registry, model, name, repeat=name == "wgan-gp" or model == "vanilla", **_small(model))


@pytest.mark.parametrize("name", [n for n in DATASETS if _REGISTRY.get("dataset", n).name_option is None])
def test_dataset_contract(plugins, name):
    """Every data set that loads offline gives data consistent with its DataInfo. Whether it loads
    offline is decided here, under the test session's own data root (conftest isolates it), not
    from the user's: the same data sets are tested on every machine."""
    spec = plugins.registry.get("dataset", name)
    missing = spec.missing(paths.data_root())
    if missing is not None:
        pytest.skip(f"{name} needs files that the test session's data root lacks ({missing}); tests/test_datasets.py "
                    "loads it from tiny files in its real layout")
    check_dataset(plugins.registry, name)


@pytest.mark.parametrize("name", METRICS)
def test_metric_contract(plugins, name):
    spec = plugins.registry.get("metric", name)
    ring = plugins.registry.get("dataset", "ring8").load(size=64).info
    check_metric(plugins.registry, name, "ring8" if spec.supports(ring) is None else "mnist5k")


def test_contract_covers_the_builtins():
    assert {"minimax", "nonsat", "wgan", "wgan-gp", "lsgan", "hinge", "label-smooth"} <= set(LOSSES)
    assert {"vanilla", "dcgan", "cgan", "acgan", "sngan-proj", "biggan"} <= set(MODELS)
    assert GLOBAL_DEFAULTS["n_critic"] == 1


def test_the_raw_score_check_catches_a_sigmoid_called_in_forward(plugins):
    """A D that returns torch.sigmoid(logits) from forward (no nn.Sigmoid module to find) is refused."""
    import types

    from ganbench import hookimpl
    from ganbench.plugins import load_plugins
    from ganbench.specs import ModelSpec
    from ganbench_builtins.models.nets.vanilla import build as vanilla

    class Probabilities(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.sigmoid(self.inner(x))

    def build_it(info, *, latent_dim):
        G, D = vanilla(info, latent_dim, hidden=32)
        return G, Probabilities(D)

    @hookimpl
    def ganbench_register_models(registry):
        registry.add_model(ModelSpec("probabilities", build_it))

    module = types.ModuleType("probabilities")
    module.ganbench_register_models = ganbench_register_models
    registry = load_plugins(extra=[module]).registry
    with pytest.raises(AssertionError, match=r"probabilities: D's scores of 192 varied inputs all lie in \[0, 1\]"):
        check_model(registry, "probabilities")


def _model_options_grid():
    cases = []
    for model in MODELS:
        table = option_table(_REGISTRY.get("model", model).options)
        norms = table["norm"].choices if "norm" in table and table["norm"].choices else (None,)
        cases += [(model, norm) for norm in norms]
    return cases


@pytest.mark.parametrize("model, norm", _model_options_grid())
def test_models_give_raw_scores_and_support_a_gradient_penalty(plugins, model, norm):
    check_model(plugins.registry, model, **({"norm": norm} if norm else {}))


@pytest.mark.parametrize("norm, layer", [("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm),
                                         ("none", None), ("spectral", None)])
def test_dcgan_norm_option_changes_only_the_normalisation(plugins, mnist, norm, layer):
    _, D = build(plugins.registry, "dcgan", mnist, norm=norm)
    kinds = {type(m) for m in D.modules()}
    norms = {torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm, torch.nn.BatchNorm1d}
    assert kinds & norms == ({layer} if layer else set())
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3  # 28 px: same layout for every norm
    spectral = [m for m in convs if torch.nn.utils.parametrize.is_parametrized(m, "weight")]
    assert len(spectral) == (3 if norm == "spectral" else 0)
