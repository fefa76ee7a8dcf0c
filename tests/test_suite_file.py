"""Suite files (TOML): a real tiny run from a file, command-line overrides, and one-line errors
naming the file, the key and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ganbench.cli import cli
from ganbench.suite import load_suite_file

ROOT = Path(__file__).resolve().parents[1]

TINY_SUITE = """
datasets = ["ring8"]
models = "vanilla"
losses = ["wasserstein", "label-smoothed"]
seeds = "0-1"
recipe = "same"

[settings]
steps = 3
batch_size = 16
eval_samples = 50
sample_every = 0

[loss-options.label-smoothed]
real = 0.7

[model-options.vanilla]
hidden = 16

[data-options.ring8]
size = 500
"""


def test_a_suite_file_runs_and_the_command_line_overrides_it(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--seeds", "1", "--paper-settings",
                                   "--loss-opt", "wgan.clip=0.02", "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "results.csv").set_index("loss")
    assert sorted(df.index) == ["label-smooth", "wgan"] and (df["seed"] == 1).all()  # aliases resolved, seeds overridden
    assert (df["recipe"] == "paper").all() and df.loc["wgan", "hp_optimizer"] == "rmsprop"
    assert (df["hp_steps"] == 3).all() and (df["hp_batch_size"] == 16).all()  # the file's settings beat WGAN's 64
    assert df.loc["wgan", "loss_options"] == "clip=0.02" and df.loc["label-smooth", "loss_options"] == "real=0.7"
    assert (df["model_options"] == "hidden=16;norm=none").all()
    cfg = json.loads((out / "cells" / "ring8__vanilla__wgan__s1" / "config.json").read_text())
    assert cfg["data_options"]["size"] == 500
    suite_json = json.loads((out / "suite.json").read_text())
    assert suite_json["losses"] == ["wgan", "label-smooth"] and suite_json["recipe"] == "paper"


def test_the_benchmark_suite_file_is_valid(plugins):
    from ganbench.api import build_suite

    suite = build_suite(plugins.registry, suite_file=ROOT / "benchmarks" / "ring8-losses.toml")
    builtin = [n for n, _, prov in plugins.registry.items("loss") if prov.plugin == "builtin-losses"]
    later = {"rpgan-r1r2"}  # added after the published board this file requests (its run directory resumes)
    assert sorted(suite.losses) == sorted(set(builtin) - later) and suite.seeds == [0, 1, 2]
    assert suite.settings["steps"] == 5000


@pytest.mark.parametrize(
    "text, message",
    [
        ("losses = [\"nonsat\"\n", "invalid TOML: "),
        ("loss = [\"nonsat\"]", "unknown key 'loss'; known keys: datasets, models, losses, metrics, seeds, recipe, "
                                "settings, extractor, protocol, model-options, loss-options, data-options, "
                                "extractor-options"),
        ("extractor = 3", "key 'extractor' expects a name (e.g. 'auto', 'domain', 'inception'), got 3"),
        ("losses = 3", "key 'losses' expects a list of names or a comma-separated string, got 3"),
        ("seeds = [0, -1]", "key 'seeds' expects a list of non-negative integers or a string like '0-4', got [0, -1]"),
        ("recipe = \"mine\"", "key 'recipe' expects one of paper, same, got 'mine'"),
        ("[settings]\nsteps = 0", "key 'settings.steps': setting 'steps' expects a positive integer, got 0"),
        ("[settings]\nlr = 1", "key 'settings.lr': unknown setting 'lr'; known settings: steps,"),
        ("settings = 5", "key 'settings' expects a table [settings] of KEY = VALUE, got 5"),
        ("[loss-options]\nreal = 0.8", "key 'loss-options' expects tables like [loss-options.NAME] of KEY = VALUE"),
        ("[loss-options.label-smooth]\nreal = [0.8]", "key 'loss-options.label-smooth.real' expects a single value"),
        # names and option values are checked against the installed plugins, and still name the file and key
        ("models = [\"vanila\"]", "key 'models': unknown model 'vanila' (did you mean 'vanilla'?); known models: "),
        ("metrics = \"fid,fidd\"", "key 'metrics': unknown metric 'fidd' (did you mean 'fid'?)"),
        ("protocol = \"pacgan\"", "key 'protocol': unknown protocol 'pacgan' (did you mean 'pacgan-ring'?)"),
        ("[model-options.dcgan]\nnorm = \"foo\"", "key 'model-options.dcgan': model option dcgan.norm expects one of "
                                                   "batch, layer, spectral, none, got 'foo'"),
        ("[data-options.ring8]\nradius = \"far\"", "key 'data-options.ring8': dataset option ring8.radius expects"),
        ("[loss-options.label-smooth]\nfake = 0.1", "key 'loss-options.label-smooth': loss 'label-smooth' has no "
                                                   "option 'fake'; its options: "),
        ("[sweep]\n\"dcgan.norm\" = [\"layer\", \"foo\"]", "key 'sweep': sweep key 'dcgan.norm' expects one of"),
    ],
)
def test_a_bad_suite_file_is_one_line_naming_file_and_key(tmp_path, monkeypatch, text, message):
    from ganbench.execution.session import Runner

    monkeypatch.setattr(Runner, "run", lambda self: pytest.fail("bad input must be refused before any training"))
    suite = tmp_path / "bad.toml"
    suite.write_text(text)
    res = CliRunner().invoke(cli, ["run", "--suite", str(suite), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and line.startswith(f"Error: suite file {suite}: {message}"), line


def test_an_unreadable_suite_file(tmp_path):
    with pytest.raises(Exception, match=r"suite file .*missing.toml: cannot be read \(No such file or directory\)"):
        load_suite_file(tmp_path / "missing.toml")
