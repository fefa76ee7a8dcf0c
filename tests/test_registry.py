"""Plugin discovery through the installed entry points, provenance, and registry errors."""

from __future__ import annotations

import types

import pytest
from plugin_dists import broken_distribution

from ganbench import __version__, hookimpl
from ganbench.errors import PluginError, UnknownNameError
from ganbench.options import Option, positive
from ganbench.plugins import load_plugins
from ganbench.registry import Provenance, Registry
from ganbench.specs import LossSpec, MetricSpec, ModelSpec


def _plugin(name, **hooks):
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, hookimpl(fn))
    return mod


def test_builtins_come_from_the_installed_entry_points(plugins):
    reg = plugins.registry
    assert reg.names("model") == ["acgan", "biggan", "cgan", "cyclegan", "dcgan", "pacgan", "pacgan-dcgan", "pix2pix",
                                  "sngan-proj", "stylegan2", "stylegan2-cifar", "toy-mlp", "vanilla"]
    assert set(reg.names("loss")) >= {"minimax", "nonsat"}
    assert set(reg.names("dataset")) >= {"mnist5k", "ring8"}
    assert "fid" in reg.names("metric")
    prov = reg.provenance("loss", "minimax")
    assert prov == Provenance("builtin-losses", "ganbench", __version__)
    info = {p.name: p for p in plugins.info()}
    assert info["builtin-models"].registered == {"models": reg.names("model")}
    assert info["builtin-models"].hooks == ["ganbench_register_models"]
    assert info["builtin-models"].location.endswith("plugins/ganbench_builtins/models/__init__.py")  # where it came from
    assert info["builtin-protocols"].registered == {"protocols": [
        "pacgan-grid", "pacgan-grid-cpu", "pacgan-ring", "pacgan-ring-cpu", "pacgan-stacked-mnist",
        "pacgan-stacked-mnist-cpu", "wgan-gp-toy", "wgan-gp-toy-cpu"]}


def test_unknown_name_lists_known_names(plugins):
    with pytest.raises(UnknownNameError) as e:
        plugins.registry.get("model", "nope")
    assert str(e.value) == ("unknown model 'nope'; known models: acgan, biggan, cgan, cyclegan, dcgan, pacgan, "
                            "pacgan-dcgan, pix2pix, sngan-proj, stylegan2, stylegan2-cifar, toy-mlp, vanilla")
    with pytest.raises(UnknownNameError, match="unknown kind 'widgets'; known kinds: models, losses, datasets, metrics, "
                       "extractors"):
        plugins.registry.names("widgets")


def test_glob_filtering(plugins):
    assert plugins.registry.names("loss", "*sat") == ["nonsat"]
    assert plugins.registry.names("models", "d*") == ["dcgan"]


def test_duplicate_name_names_both_plugins():
    def register(registry):
        registry.add_model(ModelSpec(name="vanilla", build=lambda info, latent_dim: None))

    with pytest.raises(PluginError) as e:
        load_plugins(extra=[_plugin("dupe", ganbench_register_models=register)])
    assert str(e.value) == (
        f"model 'vanilla' registered twice: by plugin 'builtin-models' (ganbench {__version__}) and by plugin 'dupe'"
    )


def test_bad_specs_are_clear_errors():
    reg = Registry()
    with reg.contributing(Provenance("mine", "mine-dist", "1.2")):
        with pytest.raises(PluginError, match=r"plugin 'mine' \(mine-dist 1.2\) passed ModelSpec to add_loss"):
            reg.add_loss(ModelSpec(name="x", build=print))
        with pytest.raises(PluginError, match="registered loss name 'Bad Name'"):
            reg.add_loss(LossSpec(name="Bad Name", d_loss=print, g_loss=print))
        with pytest.raises(PluginError, match="registered loss 'x' whose 'g_loss' is not callable"):
            reg.add_loss(LossSpec(name="x", d_loss=print, g_loss=3))
        for bad in (-1, "1", True, 1.0):  # a revision is a count of numbers-changing releases
            with pytest.raises(PluginError, match=rf"registered model 'r' with revision {bad!r}; expected an integer >= 0"):
                reg.add_model(ModelSpec(name="r", build=print, revision=bad))
        # a direction that is no bool would rank the column the wrong way; a default its own check refuses
        with pytest.raises(PluginError, match=r"metric 'm' whose higher_is_better is 'lower'; expected True or False"):
            reg.add_metric(MetricSpec(name="m", compute=print, primary="m", higher_is_better="lower"))
        with pytest.raises(PluginError, match=r"metric 'm' with columns 'z': 'up'; each column's direction is True"):
            reg.add_metric(MetricSpec(name="m", compute=print, primary="m", higher_is_better=True, columns={"z": "up"}))
        with pytest.raises(PluginError, match=r"loss 'x' whose default of option 'margin' expects a positive number, "
                                              r"got -1.0"):
            reg.add_loss(LossSpec(name="x", d_loss=lambda r, f, margin: r.mean(), g_loss=print,
                                  options={"margin": Option(-1.0, check=positive)}))


def test_a_misspelled_hook_is_named():
    pl = load_plugins(extra=[_plugin("typo", ganbench_register_loss=lambda registry: None)])
    assert pl.warnings == ["plugin 'typo' defines ganbench_register_loss, which is no ganbench hook, so it is never "
                           "called: did you mean ganbench_register_losses?"]


def test_a_crashing_plugin_is_named():
    def register(registry):
        raise KeyError("boom")

    with pytest.raises(PluginError, match="plugin 'crashy' failed in ganbench_register_losses: KeyError"):
        load_plugins(extra=[_plugin("crashy", ganbench_register_losses=register)])


def test_extra_plugin_and_blocking():
    def register(registry):
        registry.add_loss(LossSpec(name="extra-loss", d_loss=lambda r, f: r.mean(), g_loss=lambda f: f.mean()))

    extra = _plugin("extra", ganbench_register_losses=register)
    pl = load_plugins(extra=[extra])
    assert "extra-loss" in pl.registry.names("loss")
    assert pl.registry.provenance("loss", "extra-loss") == Provenance("extra")
    pl = load_plugins(extra=[extra], disabled=["builtin-losses", "extra"])
    assert pl.registry.names("loss") == []
    assert pl.blocked == {"builtin-losses", "extra"}


def test_blocking_from_environment(monkeypatch):
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGINS", "builtin-models")
    assert load_plugins().registry.names("model") == []
    monkeypatch.delenv("GANBENCH_DISABLE_PLUGINS")
    monkeypatch.setenv("GANBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load_plugins().registry.names("loss") == []


@pytest.mark.parametrize("settings, message", [
    ({"lr": 1e-4}, "plugin '<direct>' registered unknown loss 'x' setting 'lr'; known settings: steps,"),
    ({"n_critic": 0}, "plugin '<direct>' registered loss 'x' setting 'n_critic' expects a positive integer, got 0"),
    ({"optimizer": "sgd"}, "plugin '<direct>' registered loss 'x' setting 'optimizer' expects one of adam, rmsprop"),
])
def test_a_paper_recipe_with_bad_settings_is_refused_at_registration(settings, message):
    with pytest.raises(PluginError) as info:
        Registry().add_loss(LossSpec(name="x", d_loss=lambda r, f: r, g_loss=lambda f: f, settings=settings))
    assert str(info.value).startswith(message)


@pytest.mark.slow
def test_a_plugin_that_fails_to_import_does_not_break_the_others(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    site = tmp_path / "site"
    broken_distribution(site)
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "250"}
    script = str(Path(sys.executable).parent / "ganbench")
    warning = ("Warning: plugin 'broken-losses' (broken-gan 0.3.0) could not be loaded (broken_gan.losses): "
               "ModuleNotFoundError: No module named 'cupy_that_is_not_installed'; disable it with "
               "'-p no:broken-losses' or GANBENCH_DISABLE_PLUGINS=broken-losses")
    res = subprocess.run([script, "run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--steps", "5", "--seeds", "0",
                          "--set", "eval_samples=100", "-q", "-o", str(tmp_path / "run")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0 and res.stderr.splitlines()[0] == warning, res.stderr
    # asking for a name it would have provided: the unknown-name error says which plugin failed
    res = subprocess.run([script, "run", "-l", "rsgan"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    error = res.stderr.splitlines()[-1]
    assert error.startswith("Error: unknown loss 'rsgan' (did you mean 'rpgan-r1r2'?); known losses: hinge, ")
    assert error.endswith("; " + warning.removeprefix("Warning: "))
    listing = subprocess.run([script, "plugins"], env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "plugins that failed to load" in listing.stdout
    row = next(ln for ln in listing.stdout.splitlines() if "broken-losses" in ln)
    assert "broken-gan" in row and "0.3.0" in row and "ModuleNotFoundError" in row
    assert "builtin-losses" in listing.stdout
    # blocked: no warning at all
    res = subprocess.run([script, "-p", "no:broken-losses", "list", "metrics"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stderr == ""
