"""The example third-party distribution in plugins/ganbench-relativistic, installed for real with pip
(into a temporary folder on PYTHONPATH, offline) and used through its entry points by the installed
``ganbench`` script; its own tests run against that installation with ``ganbench.testing``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "plugins" / "ganbench-relativistic"
SCRIPT = Path(sys.executable).parent / "ganbench"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip install`` of a copy of the example (the build writes into its source folder)."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_plugins_lists_the_installed_distribution(installed):
    res = subprocess.run([str(SCRIPT), "plugins"], env={**installed, "COLUMNS": "250"}, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    lines = {ln.split("│")[1].strip(): ln for ln in res.stdout.splitlines() if ln.count("│") > 3}
    assert "ganbench-relativistic" in lines["relativistic-losses"] and "0.1.0" in lines["relativistic-losses"]
    assert "losses: ragan, rsgan" in lines["relativistic-losses"]
    assert "models: resmlp" in lines["relativistic-models"]


@pytest.mark.slow
def test_run_with_the_plugin_loss_and_model(installed, tmp_path):
    out = tmp_path / "run"
    res = subprocess.run([str(SCRIPT), "run", "--losses", "rsgan,ragan,nonsat", "--models", "resmlp", "-d", "ring8",
                          "--steps", "20", "--batch-size", "32", "--set", "eval_samples=200", "--seeds", "0",
                          "--device", "cpu", "-q", "-o", str(out)], env=installed, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out / "results.csv").set_index("loss")
    assert (df["status"] == "ok").all() and df["modes"].notna().all()
    config = (out / "cells" / "ring8__resmlp__rsgan__s0" / "config.json").read_text()
    assert "plugin 'relativistic-losses' (ganbench-relativistic 0.1.0)" in config  # provenance of the loss
    # without the distribution, the names are unknown and the error lists what is installed
    bare = subprocess.run([str(SCRIPT), "run", "--losses", "rsgan"], capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and bare.stderr.startswith("Error: unknown loss 'rsgan'")


@pytest.mark.slow
def test_the_example_passes_its_own_tests(installed):
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                         env=installed, capture_output=True, text=True, timeout=600, cwd=EXAMPLE)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "5 passed" in res.stdout
