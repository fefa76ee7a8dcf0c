"""Every row of the bad-input table in docs/reliability.md, run as documented: exactly that one line
on stderr, exit status 2, nothing trained, nothing written."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from plugin_dists import broken_distribution, ganbench

from ganbench.cli import cli
from ganbench.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def _table() -> list[tuple[str, str, str]]:
    """(case, command, message) of each row under '## Bad input'."""
    text = DOC.read_text().split("## Bad input", 1)[1]
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| case") or line.startswith("|---"):
            continue
        case, command, message = (c.strip() for c in line.strip("|").split(" | "))
        message = re.fullmatch(r"`(.*)`", message).group(1).replace("\\|", "|")  # a | escaped for the table
        rows.append((case, re.search(r"`([^`]*)`", command).group(1), message))
    return rows


ROWS = _table()


def test_the_table_covers_every_case_the_issue_lists():
    cases = " ".join(case for case, _, _ in ROWS)
    for words in ("unknown model", "unknown loss", "unknown data set", "unknown metric", "suite file: TOML syntax",
                  "suite file: unknown key", "zero steps", "negative steps", "zero batch", "negative batch",
                  "negative seed", "no seeds", "data root does not exist", "output directory not writable",
                  "image size the model cannot take", "plugin fails to import"):
        assert words in cases
    assert len(ROWS) == len({case for case, _, _ in ROWS}) >= 24


@pytest.mark.parametrize("case, command, message", ROWS, ids=[case for case, _, _ in ROWS])
def test_bad_input_row(case, command, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the table are relative to the repository
    run_dir = tmp_path / "RUN"
    args = shlex.split(command.replace("$RUN", str(run_dir)))[1:]
    expected = message.replace("$RUN", str(run_dir)).replace("PID", str(os.getpid())).replace(
        "CORES", str(len(os.sched_getaffinity(0))))
    if args[0] == "run" and "--out" not in args and "--resume" not in args:
        args += ["--out", str(tmp_path / "out")]
    if case == "plugin fails to import, its name asked for":  # needs an installed distribution: a real process
        broken_distribution(tmp_path / "site")
        res = ganbench(*args, pythonpath=[tmp_path / "site"], timeout=120)
        assert res.returncode == 2 and res.stderr.strip().splitlines()[-1] == expected, res.stderr
        return
    before = None
    if case == "run directory holds another request":
        first = CliRunner().invoke(cli, [a if a != "5" else "3" for a in args] + ["-q"])
        assert first.exit_code == 0, first.output
        before = sorted((p, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock")
    if case == "run directory in use":
        with RunStore(run_dir).lock():
            res = CliRunner().invoke(cli, args)
    else:
        res = CliRunner().invoke(cli, args)
    assert (res.exit_code, res.stderr.strip(), res.stdout) == (2, expected, "")
    assert not (tmp_path / "out" / "cells").exists()
    if before is not None:  # the refused request changed nothing
        assert sorted((p, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock") == before
