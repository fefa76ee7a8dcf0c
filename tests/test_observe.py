"""Observability: the observer hooks reach an installed plugin in order with the documented arguments
(serial and in the workers of --jobs 2), a failing observer never costs a result, TensorBoard event
files read back with TensorBoard's own reader hold what the run files hold (live and exported alike),
history.csv is whole lines while a cell trains and across a kill, and reports of a run directory
written before these changes render the same tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from plugin_dists import ganbench, ganbench_here, install

import ganbench as gb
from ganbench import tensorboard as tb
from ganbench.cli import cli
from ganbench.train import HISTORY_COLUMNS

HERE = Path(__file__).parent
ROOT = HERE.parent
OLD_RUN = "tests/data/runs/ring8-2026-12"
TINY = ["-m", "vanilla", "-l", "nonsat,lsgan", "-d", "ring8", "-s", "0", "--model-opt", "vanilla.hidden=64",
        "--steps", "20", "--batch-size", "32", "--set", "eval_samples=300", "--set", "sample_every=10", "--set",
        "eval_every=10", "--threads", "1", "--device", "cpu", "--metrics", "fid,modes", "-q"]


@pytest.mark.parametrize("fmt, args", [("md", []), ("csv", []), ("json", []), ("latex", []),
                                       ("baseline.md", ["--baseline", "nonsat"])])
def test_reports_of_an_earlier_run_directory_render_the_same_tables(fmt, args, monkeypatch):
    """tests/data/runs/ring8-2026-12 was written by ganbench before the read API and the live history;
    its reports are the ones rendered then (tests/data/runs/expected)."""
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(cli, ["report", OLD_RUN, "-f", fmt.split(".")[-1], *args])
    assert res.exit_code == 0, res.output
    assert res.stdout == (HERE / "data" / "runs" / "expected" / f"ring8-2026-12.{fmt}").read_text()


@pytest.fixture(scope="module")
def recorder(tmp_path_factory) -> list[Path]:
    site = tmp_path_factory.mktemp("site")
    install(site, "ganbench-recorder", "0.1.0", {"recorder": "ganbench_recorder"})
    return [site, HERE / "observer_plugin"]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("jobs", [1, 2])
def test_observer_hooks_are_called_in_order_with_the_documented_arguments(jobs, recorder, tmp_path, monkeypatch):
    log = tmp_path / "record.jsonl"
    monkeypatch.setenv("GANBENCH_RECORD", str(log))
    out = tmp_path / "run"
    res = ganbench("run", *TINY, "-j", str(jobs), "-o", str(out), pythonpath=recorder)
    assert res.returncode == 0, res.stderr
    records = _records(log)
    table = pd.read_csv(out / "results.csv").set_index("cell_id")
    cells = sorted(table.index)
    assert records[0]["hook"] == "run_started" and records[-1]["hook"] == "run_finished"
    assert sorted(records[0]["cells"]) == cells and records[0]["models"] == ["vanilla"] and records[0]["log"] == []
    assert records[-1]["rows"] == 2 and records[-1]["cells"] == cells
    driver = records[0]["pid"]
    assert records[-1]["pid"] == driver
    for cell in cells:
        mine = [r for r in records if r.get("cell") == cell]
        assert [r["hook"] for r in mine] == (["cell_started"] + ["step"] * 10 + ["samples", "evaluated"]
                                             + ["step"] * 10 + ["samples", "evaluated", "cell_finished"])
        start, finish = mine[0], mine[-1]
        assert start["resumed_from"] == 0 and start["steps"] == 20 and start["log"] == []
        assert start["cell_dir"] == str((out / "cells" / cell).resolve())
        assert start["config_hash"] == table.loc[cell, "config_hash"]
        history = pd.read_csv(out / "cells" / cell / "history.csv")
        steps = pd.DataFrame([r["record"] for r in mine if r["hook"] == "step"])
        pd.testing.assert_frame_equal(steps[list(HISTORY_COLUMNS)], history, check_dtype=False)
        evals = [r for r in mine if r["hook"] == "evaluated"]
        assert [e["step"] for e in evals] == [10, 20] and evals[-1]["fid"] == pytest.approx(table.loc[cell, "fid"])
        pictures = [r for r in mine if r["hook"] == "samples"]
        assert [p["step"] for p in pictures] == [10, 20] and all(p["exists"] for p in pictures)
        assert finish["status"] == "ok" and finish["fid"] == pytest.approx(table.loc[cell, "fid"])
        pids = {r["pid"] for r in mine}
        assert len(pids) == 1 and (pids == {driver}) == (jobs == 1)  # cell hooks run where the cell trains


def test_a_failing_observer_costs_no_result(recorder, tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_RECORD", str(tmp_path / "record.jsonl"))
    monkeypatch.setenv("GANBENCH_RECORD_FAIL", "step,run_finished")
    res = ganbench("run", *TINY[:-1], "-o", str(tmp_path / "a"), pythonpath=recorder)  # not -q: warnings show
    assert res.returncode == 0, res.stderr
    rows = pd.read_csv(tmp_path / "a" / "results.csv")
    assert set(rows["status"]) == {"ok"}
    assert set(rows["message"]) == {"observer plugin 'recorder' (ganbench-recorder 0.1.0) raised in ganbench_step "
                                    "(20 times): RuntimeError: recorder fails in step"}
    assert ("Warning: observer plugin 'recorder' (ganbench-recorder 0.1.0) raised in ganbench_run_finished: "
            "RuntimeError: recorder fails in run_finished") in res.stderr
    plain = ganbench_here("run", *TINY, "-o", str(tmp_path / "c"))  # no observer installed
    assert plain.returncode == 0, plain.stderr
    # an observer never changes a number
    assert pd.read_csv(tmp_path / "a" / "results.csv")["fid"].tolist() == pd.read_csv(
        tmp_path / "c" / "results.csv")["fid"].tolist()


def test_tensorboard_holds_what_the_run_files_hold_live_and_exported(tmp_path):
    out = tmp_path / "run"
    df = gb.run(out=out, models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], device="cpu", threads=1,
                model_options=["vanilla.hidden=64"], metrics="fid,modes", log="tensorboard",
                settings={"steps": 30, "batch_size": 32, "eval_samples": 300, "sample_every": 10, "eval_every": 15})
    cell = df["cell_id"][0]
    live = tb.read(tb.cell_logdir(out, cell))
    history = pd.read_csv(out / "cells" / cell / "history.csv")
    for col in HISTORY_COLUMNS[1:]:
        steps, values = zip(*live[f"train/{col}"], strict=True)
        assert list(steps) == history["step"].tolist()
        np.testing.assert_array_equal(np.float32(values), history[col].to_numpy(np.float32))  # events hold float32
    trajectory = pd.read_csv(out / "cells" / cell / "trajectory.csv")
    assert [s for s, _ in live["metrics/fid"]] == trajectory["step"].tolist() == [15, 30]
    assert live["final/fid"] == [(30, pytest.approx(df["fid"][0], rel=1e-6))]
    assert [s for s, _ in live["samples"]] == [10, 20, 30] and live["samples"][0][1] == (256, 256)
    hparams = tb.hparams_of(tb.cell_logdir(out, cell))
    assert (hparams["loss"], hparams["seed"], hparams["steps"], hparams["status"]) == ("nonsat", 0, 30, "ok")
    assert hparams["model_options"] == "hidden=64;norm=none"

    res = CliRunner().invoke(cli, ["export", "tensorboard", str(out), "--out", str(tmp_path / "exported")])
    assert res.exit_code == 0, res.output
    assert tb.read(tmp_path / "exported" / cell) == live
    assert tb.hparams_of(tmp_path / "exported" / cell) == hparams

    from ganbench_builtins import tensorboard as plugin

    assert plugin._open == {}  # every cell's writer is closed
    gb.run(out=out, models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], device="cpu", threads=1,
           model_options=["vanilla.hidden=64"], metrics="fid,modes", log="tensorboard", fresh=True,
           settings={"steps": 30, "batch_size": 32, "eval_samples": 300, "sample_every": 10, "eval_every": 15})
    again = tb.read(tb.cell_logdir(out, cell))  # trained again from step 0: its events once, not twice
    assert len(again["train/d_loss"]) == 30 and again["train/d_loss"] == live["train/d_loss"]


def test_export_writes_tensorboard_for_a_run_trained_without_it(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(cli, ["export", "tensorboard", OLD_RUN, "--out", str(tmp_path / "tb")])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"4 cell(s) -> {tmp_path / 'tb'}"
    events = tb.read(tmp_path / "tb" / "ring8__vanilla__lsgan__s1")
    assert [s for s, _ in events["metrics/modes"]] == [20, 40] and len(events["train/g_loss"]) == 40
    again = CliRunner().invoke(cli, ["export", "tensorboard", OLD_RUN, "--out", str(tmp_path / "tb")])
    assert again.exit_code == 0 and tb.read(tmp_path / "tb" / "ring8__vanilla__lsgan__s1") == events  # replaced
    (tmp_path / "afile").write_text("x")  # an output under a file: one line, exit 3
    res = CliRunner().invoke(cli, ["export", "tensorboard", OLD_RUN, "--out", str(tmp_path / "afile" / "tb")])
    assert res.exit_code == 3 and res.stderr.strip().startswith(f"Error: cannot write {tmp_path / 'afile' / 'tb'}/")


def test_loggers_are_named_like_every_plugin_and_say_how_to_install_them(tmp_path, monkeypatch):
    res = CliRunner().invoke(cli, ["run", "-m", "vanilla", "-d", "ring8", "--log", "wandb", "-o", str(tmp_path / "x")])
    assert (res.exit_code, res.stderr.strip()) == (2, "Error: unknown logger 'wandb'; known loggers: tensorboard")
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    res = CliRunner().invoke(cli, ["run", "-m", "vanilla", "-d", "ring8", "--log", "tensorboard", "-o", str(tmp_path)])
    assert (res.exit_code, res.stderr.strip()) == (2, "Error: --log tensorboard needs the module 'tensorboard', which "
                                                      "is not installed: pip install 'ganbench[tensorboard]'")
    assert not any(tmp_path.iterdir())


def _whole_lines(path: Path) -> int:
    """Check ``history.csv`` as a reader sees it now: a header and complete lines of consecutive
    steps; the number of steps."""
    text = path.read_text()
    assert text.endswith("\n"), text[-200:]
    lines = text.splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    for i, line in enumerate(lines[1:], start=1):
        fields = line.split(",")
        assert len(fields) == len(HISTORY_COLUMNS) and int(fields[0]) == i, line
    return len(lines) - 1


@pytest.mark.slow
def test_history_is_whole_lines_while_training_and_after_a_kill(tmp_path):
    """A cell's history.csv grows while it trains (flushed at each checkpoint), is whole lines at any
    moment — also right after kill -9 — and the resumed cell ends with the uninterrupted history."""
    args = ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "-s", "0", "--model-opt", "vanilla.hidden=64",
            "--steps", "1000", "--batch-size", "32", "--set", "eval_samples=300", "--metrics", "modes",
            "--checkpoint-every", "100", "--threads", "1", "--device", "cpu", "-q"]
    out = tmp_path / "run"
    history = out / "cells" / "ring8__vanilla__nonsat__s0" / "history.csv"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ganbench"), *args, "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not seen or seen[-1] < 400):
        if history.is_file():
            seen.append(_whole_lines(history))
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len({s for s in seen if 0 < s < 1000}) >= 3, seen  # it grew while the cell trained
    killed = _whole_lines(history)
    assert 400 <= killed < 1000
    res = ganbench_here(*args, "-o", str(out))
    assert res.returncode == 0, res.stderr
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["resumed_from"] >= 300  # polling can see a flush before its checkpoint is on disk
    reference = tmp_path / "reference"
    assert ganbench_here(*args, "-o", str(reference)).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(history),
                                  pd.read_csv(reference / "cells" / "ring8__vanilla__nonsat__s0" / "history.csv"))


def test_the_logger_contract_holds_tensorboard_and_catches_a_logger_that_writes_elsewhere(plugins, tmp_path):
    from ganbench import hookimpl
    from ganbench.specs import LoggerSpec
    from ganbench.testing import check_logger

    check_logger(plugins.registry, "tensorboard", tmp_path / "tb", where="tensorboard")  # its folder since 0.1

    class Stray:
        """Appends a line per cell to RUN_DIR/stray.log: outside its folder, and --fresh keeps it."""

        @hookimpl
        def ganbench_register_loggers(self, registry):
            registry.add_logger(LoggerSpec(name="stray", description="writes beside the run files"))

        @hookimpl
        def ganbench_cell_finished(self, cell, row):
            if "stray" in cell.log:
                with open(cell.run_dir / "stray.log", "a") as f:
                    f.write(cell.cell_id + "\n")

    class Tidy(Stray):
        """The same lines in its log_dir: within the rule, and --fresh starts it anew."""

        @hookimpl
        def ganbench_register_loggers(self, registry):
            registry.add_logger(LoggerSpec(name="tidy", description="writes into its log_dir"))

        @hookimpl
        def ganbench_cell_finished(self, cell, row):
            if "tidy" in cell.log:
                cell.log_dir("tidy").mkdir(parents=True, exist_ok=True)
                with open(cell.log_dir("tidy") / "cells.log", "a") as f:
                    f.write(cell.cell_id + "\n")

    with pytest.raises(AssertionError, match="wrote stray.log into the run directory"):
        check_logger(plugins.registry, "stray", tmp_path / "stray", plugins=(Stray(),))
    check_logger(plugins.registry, "tidy", tmp_path / "tidy", plugins=(Tidy(),))
    assert (tmp_path / "tidy" / "logs" / "tidy" / "cells.log").read_text().count("\n") == 2  # not 4: --fresh cleared it
