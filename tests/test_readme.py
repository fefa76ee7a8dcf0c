"""The README's commands, run for real in subprocesses through the installed ``ganbench`` script."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SCRIPT = Path(sys.executable).parent / "ganbench"
TINY = ["--steps", "10", "--batch-size", "32", "--set", "eval_samples=100", "--device", "cpu"]


def readme_command(marker: str) -> str:
    lines = [ln.strip() for ln in README.splitlines() if ln.strip().startswith("pip install") and marker in ln]
    assert len(lines) == 1, f"README should have exactly one set-up line containing {marker!r}"
    return lines[0]


def _run(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **kw})


def test_ci_runs_the_readme_test_command_verbatim():
    test_cmd = readme_command("pytest")
    assert test_cmd == 'pip install -e ".[test]" && python -m pytest'
    assert test_cmd in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.slow
def test_readme_main_command_runs_through_the_installed_script(tmp_path):
    main_cmd = readme_command("ganbench run")
    install, _, command = main_cmd.partition(" && ")
    assert install == "pip install -e ."
    args = shlex.split(command)
    assert args[:2] == ["ganbench", "run"] and SCRIPT.exists()
    # the README's command, made tiny (steps, seeds) so it fits in a test
    res = _run([str(SCRIPT), *args[1:], *TINY, "--seeds", "0", "--out", str(tmp_path / "run")], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "fid ↓" in res.stdout
    df = pd.read_csv(tmp_path / "run" / "results.csv")
    assert sorted(zip(df["model"], df["loss"], strict=True)) == [
        ("dcgan", "minimax"), ("dcgan", "nonsat"), ("vanilla", "minimax"), ("vanilla", "nonsat")]
    assert (df["status"] == "ok").all() and df["fid"].notna().all()


@pytest.mark.slow
def test_default_out_dir_is_under_results_and_resumes(tmp_path):
    args = [str(SCRIPT), "run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--seeds", "0", *TINY]
    first = _run(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    runs = list((tmp_path / "results" / "runs").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"run-[0-9a-f]{10}", runs[0].name)
    again = _run(args, cwd=tmp_path)
    assert again.returncode == 0 and "kept ring8/vanilla/nonsat seed 0: ok" in again.stderr


@pytest.mark.slow
def test_python_dash_m_and_errors_in_a_subprocess(tmp_path):
    res = _run([sys.executable, "-m", "ganbench", "--version"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ganbench, version 0.1.0"
    res = _run([str(SCRIPT), "run", "--models", "vanila"], cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == ("Error: unknown model 'vanila' (did you mean 'vanilla'?); known models: acgan, biggan, "
                                  "cgan, cyclegan, dcgan, pacgan, pacgan-dcgan, pix2pix, sngan-proj, stylegan2, "
                                  "stylegan2-cifar, toy-mlp, vanilla")
    assert "Traceback" not in res.stderr and not (tmp_path / "results").exists()


@pytest.mark.parametrize("blocked", ["builtin-models"])
def test_plugins_lists_entry_points_and_honours_blocking(tmp_path, blocked):
    res = _run([str(SCRIPT), "plugins"], cwd=tmp_path, COLUMNS="250")
    assert res.returncode == 0 and "builtin-models" in res.stdout and "0.1.0" in res.stdout
    res = _run([str(SCRIPT), "list", "models"], cwd=tmp_path, GANBENCH_DISABLE_PLUGINS=blocked, COLUMNS="250")
    assert res.returncode == 0 and "dcgan" not in res.stdout
