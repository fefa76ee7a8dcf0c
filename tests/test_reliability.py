"""Reliability: a killed run resumes exactly, failures stay in their cell, divergence is a result,
a run directory holds one configuration, and output directories are guarded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from plugin_dists import ganbench, ganbench_here, install

import ganbench as gb
from ganbench.cli import cli
from ganbench.errors import UsageError
from ganbench.execution.session import NullReporter
from ganbench.store import RunStore

FAULTY = Path(__file__).parent / "faulty"
#: columns that measure time (or when): they differ between any two runs
TIMING = {"wall_s", "train_s", "steps_per_s", "eval_s", "trajectory_eval_s", "checkpoint_s", "started_at", "resumed_from",
          "other_runs"}


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df[sorted(c for c in df.columns if c not in TIMING)].sort_values("cell_id").reset_index(drop=True)


def _cell_files_equal(a: Path, b: Path, cell: str) -> None:
    for name in ("history.csv", "trajectory.csv"):
        if (a / "cells" / cell / name).exists() or (b / "cells" / cell / name).exists():
            pd.testing.assert_frame_equal(pd.read_csv(a / "cells" / cell / name), pd.read_csv(b / "cells" / cell / name))
    ga = torch.load(a / "cells" / cell / "generator.pt", weights_only=True)
    gb_ = torch.load(b / "cells" / cell / "generator.pt", weights_only=True)
    assert ga.keys() == gb_.keys() and all(torch.equal(ga[k], gb_[k]) for k in ga), cell


class _Interrupt(NullReporter):
    """A reporter that interrupts the run (as Ctrl-C would) at the given global step counts."""

    def __init__(self, at: set[int]):
        self.at, self.count = at, 0

    def run_started(self, cells, out): ...
    def cell_started(self, cell, index, steps, resumed_from=0): ...
    def cell_finished(self, cell, row, resumed): ...

    def step(self, record):
        self.count += 1
        if self.count in self.at:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_checkpoints_resume_bit_identically(tmp_path):
    """Interrupted three times (mid-cell, after checkpoints) and resumed: the same weights, history,
    metric trajectory and results as a run never interrupted — through BatchNorm (dcgan), Adam with
    betas (0, 0.9), 5 critic steps and the gradient penalty's own random stream (wgan-gp)."""
    kw = dict(models="vanilla,dcgan", losses="nonsat,wgan-gp", datasets="mnist5k", seeds=[0], device="cpu", metrics="fid",
              settings={"steps": 24, "batch_size": 16, "eval_samples": 200, "sample_every": 8, "eval_every": 8})
    whole = gb.run(out=tmp_path / "whole", checkpoint_every=0, **kw)
    reporter, attempts = _Interrupt({13, 37, 75}), 0
    while True:
        attempts += 1
        try:
            resumed = gb.run(out=tmp_path / "resumed", checkpoint_every=6, reporter=reporter, **kw)
            break
        except KeyboardInterrupt:
            assert attempts < 5
    assert attempts == 4
    # interrupted at vanilla/nonsat step 13 (checkpoint 12), vanilla/wgan-gp step 12 (before that step's
    # checkpoint: 6), dcgan/nonsat step 20 (18); dcgan/wgan-gp ran whole
    got = resumed.set_index("cell_id")["resumed_from"].to_dict()
    assert got == {"mnist5k__vanilla__nonsat__s0": 12, "mnist5k__vanilla__wgan-gp__s0": 6,
                   "mnist5k__dcgan__nonsat__s0": 18, "mnist5k__dcgan__wgan-gp__s0": 0}
    pd.testing.assert_frame_equal(_comparable(whole), _comparable(resumed), check_like=True)
    for cell in whole["cell_id"]:
        _cell_files_equal(tmp_path / "whole", tmp_path / "resumed", cell)
        assert not (tmp_path / "resumed" / "cells" / cell / "checkpoint.pt").exists()
    assert (resumed["eval_points"] == 3).all()


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"ganbench exited ({proc.returncode}) before the moment to kill it: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the moment to kill ganbench")
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_mid_grid_and_mid_cell_then_rerun(tmp_path):
    """The real command, stopped twice — by SIGTERM after a cell finished (Ctrl-C's way out), by SIGKILL inside
    a cell after its checkpoint — then run again: every cell once, finished cells untouched, the killed cell
    continued from its checkpoint, and the table equal to an uninterrupted run's."""
    args = ["run", "-m", "vanilla", "-l", "nonsat,lsgan", "-d", "ring8", "--seeds", "0,1", "--steps", "200",
            "--model-opt", "vanilla.hidden=64", "--set", "eval_samples=300", "--set", "sample_every=100",
            "--checkpoint-every", "25", "-q"]
    reference = ganbench_here(*args, "-o", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    cells = out / "cells"
    script = str(Path(sys.executable).parent / "ganbench")

    def start() -> subprocess.Popen:
        return subprocess.Popen([script, *args, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)

    def results() -> list[Path]:
        return sorted(cells.glob("*/result.json"))

    proc = start()  # 1: terminated (SIGTERM, as timeout(1) does) as soon as the first cell has its row (mid-grid)
    _wait_for(lambda: len(results()) >= 1, proc)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait() == 130 and "interrupted; finished cells are kept in" in proc.stderr.read()
    done = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in results()}
    assert 1 <= len(done) < 4

    proc = start()  # 2: killed inside a cell that has written a checkpoint (mid-cell)
    _wait_for(lambda: any(not (c / "result.json").exists() and (c / "checkpoint.pt").exists() for c in cells.iterdir()),
              proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_in = [c.name for c in cells.iterdir() if (c / "checkpoint.pt").exists() and not (c / "result.json").exists()]
    assert len(killed_in) == 1
    checkpoint_step = torch.load(cells / killed_in[0] / "checkpoint.pt", weights_only=True)["step"]
    assert 25 <= checkpoint_step < 200 and checkpoint_step % 25 == 0

    # a kill inside an atomic write leaves its temporary file (whether a kill above did is luck): planted here
    stray = cells / killed_in[0] / ".history.csv.x1y2z3.ganbench-tmp"
    stray.write_text("half a history")
    final = ganbench_here(*args, "-o", str(out))
    assert final.returncode == 0, final.stderr
    table = pd.read_csv(out / "results.csv")
    assert sorted(table["cell_id"]) == sorted(pd.read_csv(tmp_path / "reference" / "results.csv")["cell_id"])
    assert table["cell_id"].is_unique and len(table) == 4 and (table["status"] == "ok").all()
    for path, (inode, mtime) in done.items():  # finished cells were not run again (nor their row rewritten)
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)
    row = table.set_index("cell_id")
    assert row.loc[killed_in[0], "resumed_from"] == checkpoint_step
    assert list(cells.glob("*/checkpoint.pt")) == [] and list(out.rglob("*.ganbench-tmp")) == []
    pd.testing.assert_frame_equal(_comparable(table), _comparable(pd.read_csv(tmp_path / "reference" / "results.csv")))
    for cell in table["cell_id"]:
        _cell_files_equal(tmp_path / "reference", out, cell)


@pytest.fixture(scope="module")
def faulty_site(tmp_path_factory) -> list[Path]:
    """``ganbench-faulty 0.2.0`` installed (dist-info on PYTHONPATH) with its module beside it."""
    site = tmp_path_factory.mktemp("site")
    install(site, "ganbench-faulty", "0.2.0", {"faulty": "ganbench_faulty"})
    return [site, FAULTY]


def _faulty_grid(datasets="ring8,grid25", models="vanilla,nan-at-5,nan-in-eval,oom-at-2", losses="nonsat,raise-at-3"):
    return ["run", "-d", datasets, "-m", models, "-l", losses, "--metrics", "modes,fragile", "--seeds", "0", "--steps",
            "8", "--batch-size", "32", "--set", "eval_every=4", "--set", "eval_samples=200", "--set", "sample_every=0",
            *(["--model-opt", "vanilla.hidden=64"] if "vanilla" in models else []), "-q"]


FAULTY_GRID = _faulty_grid()
WHO = {"loss": "loss 'raise-at-3' of plugin 'faulty' (ganbench-faulty 0.2.0)",
       "metric": "metric 'fragile' of plugin 'faulty' (ganbench-faulty 0.2.0)"}


def _model(name: str) -> str:
    return f"model '{name}' of plugin 'faulty' (ganbench-faulty 0.2.0)"


@pytest.mark.slow
def test_injected_failures_stay_in_their_cells(tmp_path, faulty_site, monkeypatch):
    res = ganbench(*FAULTY_GRID, "-o", str(tmp_path / "grid"), pythonpath=faulty_site)
    assert res.returncode == 1, res.stderr
    df = pd.read_csv(tmp_path / "grid" / "results.csv")
    assert len(df) == 16 and df["cell_id"].is_unique
    got = {(r.dataset, r.model, r.loss): (r.status, r.message if r.status != "ok" else "") for r in df.itertuples()}
    oom = ("failed", f"out of memory on cpu: {_model('oom-at-2')} raised in G forward at step 2: OutOfMemoryError: "
           "CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
    raised = ("failed", f"{WHO['loss']} raised in after_d_step at step 3: RuntimeError: injected failure at step 3")
    nan5 = ("diverged", "non-finite generated samples, d_loss, g_loss, d_fake, grad_norm_d, grad_norm_g at step 5")
    fragile = ("failed", f"{WHO['metric']} raised at step 4: ValueError: fragile metric cannot handle grid25")
    expected = {}
    for d in ("ring8", "grid25"):
        expected.update({
            (d, "vanilla", "nonsat"): ("ok", "") if d == "ring8" else fragile,
            (d, "vanilla", "raise-at-3"): raised,
            (d, "nan-at-5", "nonsat"): nan5 if d == "ring8" else fragile,  # grid25: evaluated at step 4
            (d, "nan-at-5", "raise-at-3"): raised,
            (d, "nan-in-eval", "nonsat"): ("diverged", "non-finite generated samples (evaluation, eval mode) at step 4"),
            (d, "nan-in-eval", "raise-at-3"): raised,
            (d, "oom-at-2", "nonsat"): oom,
            (d, "oom-at-2", "raise-at-3"): oom,
        })
    assert got == expected
    rows = df.set_index(["dataset", "model", "loss"])
    assert rows.loc[("ring8", "oom-at-2", "nonsat"), "failure"] == "oom"
    assert rows.loc[("ring8", "vanilla", "raise-at-3"), "failure"] == "error"
    assert rows.loc[("ring8", "nan-at-5", "nonsat"), "diverged_at"] == 5
    assert rows.loc[("ring8", "nan-in-eval", "nonsat"), "diverged_at"] == 4
    # a diverged cell keeps its history up to the step it diverged at, and the report counts it
    history = pd.read_csv(tmp_path / "grid" / "cells" / "ring8__nan-at-5__nonsat__s0" / "history.csv")
    assert list(history["step"]) == [1, 2, 3, 4, 5] and history.iloc[:4]["d_loss"].notna().all()
    assert "RuntimeError: injected failure at step 3" in \
        (tmp_path / "grid" / "cells" / "ring8__vanilla__raise-at-3__s0" / "error.txt").read_text()
    # the summary names each failed cell
    assert "failed: grid25/oom-at-2/nonsat seed 0, grid25/oom-at-2/raise-at-3 seed 0, ring8/oom-at-2/nonsat seed 0, " \
        "ring8/oom-at-2/raise-at-3 seed 0: out of memory on cpu" in res.stderr
    n_failed = sum(status == "failed" for status, _ in expected.values())
    assert n_failed == 12 and res.stderr.strip().splitlines()[-1] == \
        f"{n_failed} cell(s) failed; tracebacks in {tmp_path / 'grid'}/cells/<cell>/error.txt"
    # the same command lines again, in this process (the first run above is the subject; these compare with it)
    for path in faulty_site:
        monkeypatch.syspath_prepend(str(path))
    # the one healthy cell is exactly what it is in a run without any faulty neighbour
    alone = ganbench_here(*_faulty_grid("ring8", "vanilla", "nonsat"), "-o", str(tmp_path / "alone"))
    assert alone.returncode == 0, alone.stderr
    clean = pd.read_csv(tmp_path / "alone" / "results.csv")
    ok = df[df["status"] == "ok"]
    assert clean["modes"].notna().all() and clean["fragile"].notna().all()
    extra = sorted(set(ok.columns) - set(clean.columns))  # columns only failed cells have
    assert extra == ["failure"] and ok["failure"].isna().all()
    pd.testing.assert_frame_equal(_comparable(clean), _comparable(ok.drop(columns=extra)), check_dtype=False)
    # re-running retries the failed cells only; --fail-fast stops at the first failure
    before = {p: p.stat().st_ino for p in (tmp_path / "grid" / "cells").glob("*/result.json")}
    again = ganbench_here(*FAULTY_GRID, "-o", str(tmp_path / "grid"))
    assert again.returncode == 1
    after = pd.read_csv(tmp_path / "grid" / "results.csv")
    pd.testing.assert_frame_equal(_comparable(after)[["cell_id", "status", "message"]],
                                  _comparable(df)[["cell_id", "status", "message"]])
    rerun = {p.parent.name for p, inode in before.items() if p.stat().st_ino != inode}
    assert rerun == set(df.loc[df["status"] == "failed", "cell_id"])
    fast = ganbench_here(*FAULTY_GRID, "--fail-fast", "-o", str(tmp_path / "fast"))
    assert fast.returncode == 1
    assert list(pd.read_csv(tmp_path / "fast" / "results.csv")["status"]) == ["ok", "failed"]  # nonsat, raise-at-3
    assert fast.stderr.strip().splitlines()[-1] == ("--fail-fast: stopped at the first failed cell; 14 cell(s) not "
                                                    "run (re-run without --fail-fast to run them)")


@pytest.mark.slow
def test_a_crashing_extractor_fails_its_data_sets_cells(tmp_path, faulty_site):
    res = ganbench("run", "-d", "ring8", "-m", "vanilla", "-l", "nonsat", "--seeds", "0,1", "--steps", "2", "--metrics",
                   "fid", "--extractor", "crashing", "-q", "-o", str(tmp_path), pythonpath=faulty_site)
    assert res.returncode == 1
    message = ("extractor 'crashing' of plugin 'faulty' (ganbench-faulty 0.2.0) failed on 'ring8': OSError: feature "
               "weights are corrupt (injected)")
    assert f"failed: ring8/vanilla/nonsat seed 0, ring8/vanilla/nonsat seed 1: {message}" in res.stderr
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df["status"]) == ["failed", "failed"] and (df["message"] == message).all()
    error = (tmp_path / "cells" / "ring8__vanilla__nonsat__s0" / "error.txt").read_text()
    assert error.startswith("Traceback") and "OSError: feature weights are corrupt" in error


def _losses(module_name: str):
    import types

    import torch.nn.functional as F

    from ganbench import hookimpl
    from ganbench.specs import LossSpec

    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec(name="soft", d_loss=lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
                                   g_loss=lambda f: F.softplus(-f).mean()))

    mod = types.ModuleType(module_name)
    mod.ganbench_register_losses = ganbench_register_losses
    return mod


def test_a_cell_trained_by_another_plugin_is_refused(tmp_path, tiny):
    kw = dict(models="vanilla", losses="soft", datasets="ring8", seeds=[0], settings={**tiny, "steps": 2},
              device="cpu", out=tmp_path)
    gb.run(plugins=[_losses("soft-v1")], **kw)
    first = (tmp_path / "cells" / "ring8__vanilla__soft__s0" / "result.json").read_text()
    with pytest.raises(UsageError) as info:
        gb.run(plugins=[_losses("soft-v2")], **kw)
    assert str(info.value) == (f"{tmp_path} holds cell ring8/vanilla/soft seed 0 with another configuration "
                               "(provenance.loss: plugin 'soft-v1' -> plugin 'soft-v2'); use --fresh to replace it, "
                               "or another --out")
    assert (tmp_path / "cells" / "ring8__vanilla__soft__s0" / "result.json").read_text() == first
    df = gb.run(plugins=[_losses("soft-v2")], fresh=True, **kw)
    assert list(df["status"]) == ["ok"]


def test_guarded_output_directories(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "steps": 2},
              device="cpu")
    # in use by another process: refused, naming its pid
    with RunStore(tmp_path / "busy").lock():
        res = CliRunner().invoke(cli, ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "-o", str(tmp_path / "busy")])
    assert res.exit_code == 2
    assert res.output.strip() == (f"Error: run directory {tmp_path / 'busy'} is in use by another ganbench process "
                                  f"(pid {os.getpid()}); wait for it to finish or choose another --out")
    # an output directory that cannot be created
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=f"^output directory {tmp_path / 'file' / 'run'} is not writable: Not a directory$"):
        gb.run(out=tmp_path / "file" / "run", **kw)
    # --fresh removes what ganbench wrote, nothing else
    gb.run(out=tmp_path / "run", **kw)
    (tmp_path / "run" / "notes.txt").write_text("mine")
    gb.run(out=tmp_path / "run", fresh=True, **{**kw, "losses": "lsgan"})
    assert sorted(p.name for p in (tmp_path / "run" / "cells").iterdir()) == ["ring8__vanilla__lsgan__s0"]
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory(tmp_path, tiny):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(UsageError, match=f"^output directory {ro} is not writable: Permission denied$"):
            gb.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings=tiny, out=ro, device="cpu")
    finally:
        ro.chmod(0o755)


def test_resume_interrupt_and_damaged_rows(tmp_path, monkeypatch):
    args = ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--seeds", "0,1", "--steps", "3", "--set",
            "eval_samples=100", "-q", "-o", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    rows = {p: p.stat().st_ino for p in tmp_path.glob("cells/*/result.json")}
    res = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    assert {p: p.stat().st_ino for p in tmp_path.glob("cells/*/result.json")} == rows  # nothing re-ran
    res = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path), "--steps", "4", "--losses", "lsgan"])
    assert res.exit_code == 2 and res.output.strip() == (
        f"Error: --resume takes the request from {tmp_path / 'suite.json'}; it cannot be combined with --losses, --steps")
    res = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "cells")])
    assert res.exit_code == 2 and res.output.strip() == f"Error: {tmp_path / 'cells'} is not a ganbench run directory " \
                                                        "(no suite.json)"
    # a damaged row: the report names the file; a re-run moves it aside and trains that cell again
    damaged = tmp_path / "cells" / "ring8__vanilla__nonsat__s1" / "result.json"
    damaged.write_text('{"cell_id": "ring8__vanil')
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 2 and res.output.startswith(f"Error: {damaged} is not a result row: not JSON (")
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert json.loads(damaged.read_text())["status"] == "ok"
    assert damaged.with_name("result.json.unreadable").read_text() == '{"cell_id": "ring8__vanil'
    # Ctrl-C: one line saying how to continue, exit status 130, finished cells kept

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("ganbench.execution.cell.run_training", interrupted)
    res = CliRunner().invoke(cli, [*args[:-2], "-o", str(tmp_path / "new")])
    assert res.exit_code == 130
    assert res.output.strip().splitlines()[-1] == (
        f"interrupted; finished cells are kept in {tmp_path / 'new'} — re-run the same command (or 'ganbench run "
        f"--resume {tmp_path / 'new'}') to continue")
    # before the run directory exists (plugins loading, data set read): nothing to resume, and exit 130 all the same
    from ganbench.plugins import load_plugins

    monkeypatch.setattr("ganbench.plugins.load_plugins", interrupted)
    res = CliRunner().invoke(cli, ["list"])
    assert (res.exit_code, res.output.strip()) == (130, "interrupted")
    monkeypatch.setattr("ganbench.plugins.load_plugins", load_plugins)
    monkeypatch.setattr("ganbench.execution.session.Runner.run", interrupted)
    res = CliRunner().invoke(cli, [*args[:-2], "-o", str(tmp_path / "never")])
    assert (res.exit_code, res.output.strip().splitlines()[-1]) == (
        130, "interrupted before the run started; nothing was written")


def _observing_model():
    """A ``vanilla`` MLP whose G records, at every forward, whether torch's deterministic algorithms
    are on and the cuDNN flags: what the model sees while it trains."""
    import types

    from ganbench import hookimpl
    from ganbench.specs import ModelSpec
    from ganbench_builtins.models.nets.vanilla import build as vanilla

    seen: list[tuple[bool, bool, bool]] = []

    class Observed(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
                         torch.backends.cudnn.benchmark))
            return self.inner(z)

    def build(info, *, latent_dim):
        G, D = vanilla(info, latent_dim, hidden=32)
        return Observed(G), D

    @hookimpl
    def ganbench_register_models(registry):
        registry.add_model(ModelSpec("observed", build))

    module = types.ModuleType("observing")
    module.ganbench_register_models = ganbench_register_models
    return module, seen


def test_deterministic_mode_is_recorded_and_restored(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "steps": 5},
              device="cpu")
    plain = gb.run(out=tmp_path / "plain", **kw)
    det = gb.run(out=tmp_path / "det", deterministic=True, **kw)
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run
    # what the model sees while it trains: on with the flag, off without it
    plugin, seen = _observing_model()
    gb.run(**{**kw, "models": "observed"}, out=tmp_path / "observed-det", deterministic=True, plugins=[plugin])
    assert seen and set(seen) == {(True, True, False)}
    seen.clear()
    gb.run(**{**kw, "models": "observed"}, out=tmp_path / "observed", plugins=[plugin])
    assert seen and {flags[0] for flags in seen} == {False}
    config = json.loads((tmp_path / "det" / "cells" / "ring8__vanilla__nonsat__s0" / "config.json").read_text())
    assert config["deterministic"] is True and json.loads((tmp_path / "det" / "suite.json").read_text())["deterministic"]
    assert plain.iloc[0]["config_hash"] != det.iloc[0]["config_hash"]
    assert plain.iloc[0]["fid"] == det.iloc[0]["fid"]  # the CPU was deterministic already
    with pytest.raises(UsageError, match=r"another configuration \(deterministic: False -> True\)"):
        gb.run(out=tmp_path / "plain", deterministic=True, **kw)


def test_other_runs_on_the_machine_are_announced_and_recorded(tmp_path, tiny):
    import platform

    from ganbench import paths

    running = paths.cache_dir() / "running"
    running.mkdir(parents=True, exist_ok=True)
    host = platform.node() or "localhost"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = running / f"{host}-{dead.stdout.strip()}.json"  # a run killed with -9: its process is gone
    stale.write_text(json.dumps({"pid": int(dead.stdout), "out": "gone"}))
    alive = running / f"{host}-{os.getppid()}.json"  # a live process
    alive.write_text(json.dumps({"pid": os.getppid(), "out": "elsewhere"}))
    warnings = []

    class Rec(NullReporter):
        def warning(self, text):
            warnings.append(text)

    try:
        df = gb.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "steps": 2},
                    device="cpu", out=tmp_path, reporter=Rec())
    finally:
        alive.unlink()
    assert df.iloc[0]["other_runs"] == 1 and not stale.exists()
    assert warnings == [f"1 other ganbench run(s) are training on this machine (pid {os.getppid()}): both slow down, so "
                        "this run's timings are not comparable (each row records other_runs); results are unaffected"]
    assert list(running.glob(f"{host}-{os.getpid()}.json")) == []  # our own entry is gone after the run


def _flaky_loss():
    """``flaky``: the non-saturating loss, 20 ms per D update (so seconds pass), raising at step 12
    while ``state["fail"]`` is set: a cell that fails mid-training, then succeeds when retried."""
    import types

    import torch.nn.functional as F

    from ganbench import hookimpl
    from ganbench.specs import LossSpec

    state = {"fail": True, "calls": 0}

    def d_loss(d_real, d_fake):
        state["calls"] += 1
        time.sleep(0.02)
        if state["fail"] and state["calls"] == 12:
            raise RuntimeError("flaky failure at step 12")
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec(name="flaky", d_loss=d_loss, g_loss=lambda d_fake: F.softplus(-d_fake).mean()))

    module = types.ModuleType("flaky")
    module.ganbench_register_losses = ganbench_register_losses
    return module, state


def test_the_default_timed_checkpoint_lets_a_failed_cell_continue(tmp_path, tiny, monkeypatch):
    """Without --checkpoint-every a checkpoint is written at the first step after CHECKPOINT_SECONDS of
    training (shortened here from 60 s); a cell that then fails keeps it, and the retry continues from
    it to the same numbers as a run that never failed."""
    monkeypatch.setattr("ganbench.execution.cell.CHECKPOINT_SECONDS", 0.1)
    plugin, state = _flaky_loss()
    kw = dict(models="vanilla", losses="flaky", datasets="ring8", seeds=[0], device="cpu", metrics="modes",
              settings={**tiny, "steps": 20, "sample_every": 0}, model_options=["vanilla.hidden=32"], plugins=[plugin])
    first = gb.run(out=tmp_path / "run", **kw).iloc[0]
    assert first["status"] == "failed" and first["message"].endswith("raised in d_loss at step 12: RuntimeError: flaky "
                                                                     "failure at step 12")
    checkpoint = tmp_path / "run" / "cells" / "ring8__vanilla__flaky__s0" / "checkpoint.pt"
    step = torch.load(checkpoint, weights_only=True)["step"]
    assert 5 <= step < 12  # ≥ 0.1 s of training: at least 5 steps of 20 ms
    state.update(fail=False, calls=0)
    retried = gb.run(out=tmp_path / "run", **kw).iloc[0]
    assert retried["status"] == "ok" and retried["resumed_from"] == step and not checkpoint.exists()
    state.update(calls=0)
    whole = gb.run(out=tmp_path / "whole", **{**kw, "settings": {**kw["settings"]}}, checkpoint_every=0).iloc[0]
    assert whole["resumed_from"] == 0 and whole["modes"] == retried["modes"] and whole["hq_pct"] == retried["hq_pct"]
    _cell_files_equal(tmp_path / "whole", tmp_path / "run", "ring8__vanilla__flaky__s0")


def test_a_failure_in_ganbench_own_step_code_is_named_as_ganbench(tmp_path, tiny, monkeypatch):
    from ganbench.train import BatchSampler

    real_next = BatchSampler.__next__

    def failing(self):
        if self.pos >= 2 * self.batch_size:
            raise RuntimeError("the batch index is broken")
        return real_next(self)

    monkeypatch.setattr(BatchSampler, "__next__", failing)
    row = gb.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings=tiny, device="cpu",
                 metrics="modes", out=tmp_path).iloc[0]
    assert (row["status"], row["failure"], row["message"]) == (
        "failed", "error", "ganbench 0.1.0 raised in data batch at step 3: RuntimeError: the batch index is broken")


@pytest.mark.slow
def test_a_sample_grid_that_is_not_finite_is_divergence(tmp_path, faulty_site):
    res = ganbench("run", "-d", "ring8", "-m", "nan-in-eval", "-l", "nonsat", "--metrics", "modes", "--seeds", "0",
                   "--steps", "6", "--set", "sample_every=2", "-q", "-o", str(tmp_path), pythonpath=faulty_site)
    assert res.returncode == 0, res.stderr
    row = pd.read_csv(tmp_path / "results.csv").iloc[0]
    assert (row["status"], row["diverged_at"], row["message"]) == (
        "diverged", 2, "non-finite generated samples (sample grid, eval mode) at step 2")
    assert list(pd.read_csv(tmp_path / "cells" / "ring8__nan-in-eval__nonsat__s0" / "history.csv")["step"]) == [1, 2]


def test_changed_data_is_refused_naming_its_fingerprint(tmp_path, tiny):
    from datafiles import write_image_folder
    from PIL import Image

    folder = write_image_folder(tmp_path / "pictures", classes=(), per_class=6)
    kw = dict(models="vanilla", losses="nonsat", datasets=f"folder:{folder}", seeds=[0], metrics="", device="cpu",
              settings={**tiny, "steps": 2, "batch_size": 4}, data_options={"image-folder": {"image_size": 28}},
              out=tmp_path / "run")
    gb.run(**kw)
    first = sorted(folder.glob("*.png"))[0]
    Image.new("RGB", Image.open(first).size, (255, 0, 0)).save(first)  # the same file name, other pixels
    with pytest.raises(UsageError, match=r"with another configuration \(data_fingerprint: [0-9a-f]+ -> [0-9a-f]+\)"):
        gb.run(**kw)
    assert list(gb.run(**kw, fresh=True)["status"]) == ["ok"]


def test_a_checkpoint_written_by_other_code_or_threads_is_noted_in_the_row():
    """Resuming is bit-identical only with the same code and threads: a checkpoint written otherwise is still
    continued from (the configuration is the same), and the row says what differed."""
    from types import SimpleNamespace

    from ganbench.execution.cell import resumed_otherwise, written_by

    plan = SimpleNamespace(row={"git_commit": "abc123"}, threads=2)
    same = {"step": 40, "written_by": written_by(plan)}
    assert resumed_otherwise(same, plan) == [] and resumed_otherwise({"step": 40}, plan) == []  # older checkpoints
    other = {"step": 40, "written_by": {**written_by(plan), "git_commit": "def456", "threads": 1}}
    assert resumed_otherwise(other, plan) == [
        "resumed from a checkpoint written with git_commit def456 (now abc123), threads 1 (now 2): the steps after "
        "step 40 may differ in their last digits from an uninterrupted run"]
