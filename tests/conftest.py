"""Shared fixtures: an isolated cache (holding the domain classifiers of tests/data/cache; any other
is trained once per session) and tiny settings so every training run in the suite takes well under a
second."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: settings for real but tiny runs
TINY = {"steps": 20, "batch_size": 32, "eval_samples": 200, "sample_every": 10}


#: domain classifiers ganbench would train on first use, trained once by tests/data/cache/make.py
SHIPPED_CACHE = Path(__file__).parent / "data" / "cache"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("ganbench-cache")
    shutil.copytree(SHIPPED_CACHE / "extractors", cache / "extractors")  # saves ~60 s of classifier training
    mp.setenv("GANBENCH_CACHE", str(cache))
    mp.delenv("GANBENCH_DISABLE_PLUGINS", raising=False)
    mp.delenv("GANBENCH_DATA_ROOT", raising=False)  # the data root is <the isolated cache>/data, on every machine
    mp.delenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def plugins():
    from ganbench.plugins import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def mnist(plugins):
    return plugins.registry.get("dataset", "mnist5k").load()


@pytest.fixture
def tiny():
    return dict(TINY)


@pytest.fixture(scope="session")
def make_ctx(plugins):
    """``EvalContext`` on the CPU with the real registry (extractors resolve as in a run)."""
    import functools

    import torch

    from ganbench.evaluation import EvalContext

    return functools.partial(EvalContext, device=torch.device("cpu"), registry=plugins.registry)
