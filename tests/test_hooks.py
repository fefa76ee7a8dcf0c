"""Every hook of ganbench.hookspecs: a plugin object implementing it registers a working spec, and
docs/plugins.md documents the hook with its exact signature. A new hookspec without an example here
or without its documented signature fails this file."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import ganbench
from ganbench import hookspecs
from ganbench.evaluation import FeatureExtractor
from ganbench.observe import OBSERVER_HOOKS
from ganbench.plugins import load_plugins
from ganbench.specs import (
    Data,
    DataInfo,
    DatasetSpec,
    ExecutorSpec,
    ExtractorSpec,
    LoggerSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    ProtocolSpec,
)

DOCS = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec"))
#: the hooks that register specs; the others are observer hooks (tests/test_observe.py records each)
REGISTER = [h for h in HOOKS if h.startswith("ganbench_register_")]


def _model():
    def build(info, *, latent_dim):
        n = info.shape[0]
        return torch.nn.Linear(latent_dim, n), torch.nn.Sequential(torch.nn.Linear(n, 1), torch.nn.Flatten(0))
    return ModelSpec(name="hook-model", build=build)


def _dataset():
    def load(root=None):
        x = torch.randn(32, 2)
        return Data(DataInfo("hook-data", "vector", (2,), None, 32, fingerprint="hook"), x)
    return DatasetSpec(name="hook-data", load=load, modality="vector", shape=(2,))


def _extractor():
    def build(data, *, device, cache_root):
        return FeatureExtractor("hook-ext", "v1", 2, embed=lambda x: x.flatten(1))
    return ExtractorSpec(name="hook-ext", build=build)


#: hook -> (registry kind, a spec to register through it)
EXAMPLES = {
    "ganbench_register_models": ("model", _model),
    "ganbench_register_losses": ("loss", lambda: LossSpec(name="hook-loss", d_loss=lambda r, f: (f - r).mean(),
                                                          g_loss=lambda f: -f.mean())),
    "ganbench_register_datasets": ("dataset", _dataset),
    "ganbench_register_metrics": ("metric", lambda: MetricSpec(name="hook-metric", primary="hook", higher_is_better=True,
                                                               compute=lambda ctx: {"hook": 1.0})),
    "ganbench_register_extractors": ("extractor", _extractor),
    "ganbench_register_executors": ("executor", lambda: ExecutorSpec(name="hook-executor", make=lambda config, **kw: None)),
    "ganbench_register_loggers": ("logger", lambda: LoggerSpec(name="hook-logger", description="records nothing")),
    "ganbench_register_protocols": ("protocol", lambda: ProtocolSpec(
        name="hook-protocol", description="a toy protocol", paper="none", datasets=("ring8",), models=("vanilla",),
        losses=("nonsat",), seeds=(0,), settings={"steps": 10})),
}


def _signature(fn) -> str:
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {fn.__name__}({params}) -> {sig.return_annotation}"


def test_every_hook_has_an_example_and_documented_signature():
    assert REGISTER == sorted(EXAMPLES), "add an example for each new hookspec"
    assert sorted(set(HOOKS) - set(REGISTER)) == sorted(OBSERVER_HOOKS), "ganbench.observe must call every observer hook"
    for name in HOOKS:
        signature = _signature(getattr(hookspecs, name))
        assert signature in DOCS, f"docs/plugins.md lacks `{signature}`"


@pytest.mark.parametrize("hook", REGISTER)
def test_a_plugin_registers_through_each_hook(hook):
    kind, make = EXAMPLES[hook]
    spec = make()

    def register(registry):
        getattr(registry, f"add_{kind}")(spec)  # registry.add_model(...), registry.add_loss(...), ...

    plugin = type(f"{hook}_plugin", (), {hook: staticmethod(ganbench.hookimpl(register))})
    plugin.__name__ = f"test-{kind}"
    pl = load_plugins(extra=[plugin], autoload=False)
    assert pl.registry.get(kind, spec.name) is spec
    assert pl.registry.provenance(kind, spec.name).plugin == f"test-{kind}"
    info = {p.name: p for p in pl.info()}[f"test-{kind}"]
    assert info.hooks == [hook]
