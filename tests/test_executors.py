"""Executors: worker processes (``--jobs``), Ray and a plugin's executor give the serial run's numbers
bit for bit at the same torch threads per cell; a killed worker or driver resumes; a failing plugin
or a dying worker fails only its cell; bad executor options are one-line errors."""

from __future__ import annotations

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

HERE = Path(__file__).parent
#: columns that differ between two executions of the same cells: timings, and where they ran
VARYING = {"wall_s", "train_s", "steps_per_s", "eval_s", "trajectory_eval_s", "checkpoint_s", "started_at",
           "resumed_from", "other_runs", "executor", "worker", "node", "device_share", "device"}
GRID = dict(models="vanilla", losses="nonsat,lsgan", datasets="ring8", seeds=[0, 1], device="cpu", threads=1,
            model_options=["vanilla.hidden=64"], checkpoint_every=0,
            settings={"steps": 60, "batch_size": 32, "eval_samples": 300, "sample_every": 30, "eval_every": 30})


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df[sorted(c for c in df.columns if c not in VARYING)].sort_values("cell_id").reset_index(drop=True)


def _same_cells(a: Path, b: Path, cells) -> None:
    """Histories, metric trajectories and generator weights equal, cell by cell."""
    for cell in cells:
        for name in ("history.csv", "trajectory.csv"):
            pd.testing.assert_frame_equal(pd.read_csv(a / "cells" / cell / name), pd.read_csv(b / "cells" / cell / name))
        ga = torch.load(a / "cells" / cell / "generator.pt", weights_only=True)
        gb_ = torch.load(b / "cells" / cell / "generator.pt", weights_only=True)
        assert ga.keys() == gb_.keys() and all(torch.equal(ga[k], gb_[k]) for k in ga), cell


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, gb.run(out=out, **GRID)


def test_local_workers_give_the_serial_numbers(serial, tmp_path):
    out, reference = serial
    df = gb.run(out=tmp_path, jobs=2, **GRID)
    pd.testing.assert_frame_equal(_comparable(df), _comparable(reference))
    pd.testing.assert_frame_equal(_comparable(pd.read_csv(tmp_path / "results.csv")),
                                  _comparable(pd.read_csv(out / "results.csv")))
    _same_cells(out, tmp_path, df["cell_id"])
    assert set(df["worker"]) == {"local-1", "local-2"} and set(df["executor"]) == {"local"}
    assert set(df["threads"]) == {1} and set(df["device_share"]) == {0.5}  # two workers shared the CPU
    assert set(reference["executor"]) == {"serial"} and set(reference["device_share"]) == {1.0}
    assert (df["status"] == "ok").all() and df["eval_points"].eq(2).all()


def test_ray_tasks_give_the_serial_numbers_with_gpu_shares(serial, tmp_path, faulty_site, monkeypatch):
    """A real local Ray instance with two logical GPUs: each cell asks for half a GPU (the scheduling
    path of a shared GPU runs; the cells train on the CPU, as the run's device says). Then a cell whose
    worker process SIGKILLs itself once (as the OOM killer would) is re-run by Ray and continues from its
    checkpoint (docs/scale.md)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ganbench[ray]')")
    out, reference = serial
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("GANBENCH_FAULTY_MARKS", str(marks))
    # Ray's worker processes start with this environment: they find the faulty plugin by its entry point
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(map(str, faulty_site)))
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        df = gb.run(out=tmp_path / "grid", executor="ray", gpus_per_cell=0.5, **GRID)
        for path in faulty_site:  # this process finds it too
            monkeypatch.syspath_prepend(str(path))
        lost = gb.run(out=tmp_path / "lost", executor="ray", **{
            **GRID, "losses": "dies-once", "seeds": [0], "checkpoint_every": 2, "metrics": "modes,fid",
            "settings": {**GRID["settings"], "steps": 8, "sample_every": 0, "eval_every": 0}}).iloc[0]
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(_comparable(df), _comparable(reference))
    _same_cells(out, tmp_path / "grid", df["cell_id"])
    assert set(df["executor"]) == {"ray"} and set(df["device_share"]) == {0.5}
    assert df["worker"].str.startswith("ray-").all() and df["node"].notna().all()
    assert (marks / "dies-once").exists()  # its worker died once ...
    assert (lost["status"], lost["resumed_from"], lost["steps_done"]) == ("ok", 2, 8)  # ... and Ray re-ran it


def test_a_dry_run_with_the_ray_executor_starts_nothing(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ganbench[ray]')")
    assert not ray.is_initialized()
    res = CliRunner().invoke(cli, ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "-s", "0", "--steps", "5",
                                   "--executor", "ray", "--dry-run", "-o", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "ray: not started (a dry run starts nothing)" in res.output
    assert not ray.is_initialized() and not (tmp_path / "run").exists()


def test_an_installed_executor_plugin_runs_the_grid(serial, tmp_path):
    """``ganbench-reversed 0.1.0``, found through its entry point, runs the cells last first: the
    same table."""
    out, reference = serial
    site = tmp_path / "site"
    install(site, "ganbench-reversed", "0.1.0", {"reversed": "ganbench_reversed"})
    listed = ganbench("plugins", pythonpath=[site, HERE / "executor_plugin"])
    line = next(ln for ln in listed.stdout.splitlines() if "ganbench_register_executors" in ln and "reversed" in ln)
    assert "ganbench-reversed" in line and "0.1.0" in line and "executors: reversed" in line
    res = ganbench("run", "-m", "vanilla", "-l", "nonsat,lsgan", "-d", "ring8", "-s", "0,1", "--threads", "1",
                   "--model-opt", "vanilla.hidden=64", "--steps", "60", "--batch-size", "32", "--set", "eval_samples=300",
                   "--set", "sample_every=30", "--set", "eval_every=30", "--checkpoint-every", "0", "--device", "cpu",
                   "--executor", "reversed", "-o", str(tmp_path / "run"), pythonpath=[site, HERE / "executor_plugin"])
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(tmp_path / "run" / "results.csv")
    pd.testing.assert_frame_equal(_comparable(table), _comparable(pd.read_csv(out / "results.csv")))
    assert set(table["executor"]) == {"reversed"}
    began = {c: (tmp_path / "run" / "cells" / c / "config.json").stat().st_mtime_ns for c in reference["cell_id"]}
    grid = [f"ring8__vanilla__{loss}__s{seed}" for loss in ("nonsat", "lsgan") for seed in (0, 1)]
    assert sorted(began, key=began.get) == grid[::-1]  # config.json is written as a cell starts


@pytest.fixture(scope="module")
def faulty_site(tmp_path_factory) -> list[Path]:
    site = tmp_path_factory.mktemp("site")
    install(site, "ganbench-faulty", "0.2.0", {"faulty": "ganbench_faulty"})
    return [site, HERE / "faulty"]


def test_failures_and_dead_workers_stay_in_their_cells(tmp_path, faulty_site, monkeypatch):
    """Under ``--jobs 2``, each (loss) a replica group of seeds 0 and 1 (``--replicas 2``): a raising
    plugin fails its cells naming plugin and version; a worker SIGKILLed once (as the OOM killer does)
    is replaced and its group continues from the group's checkpoint; a group whose worker dies every
    time fails both its cells as ``lost``, as does one whose worker hangs every time (killed after
    ``local.stall`` seconds without a message); the healthy cells have the serial numbers (the watchdog
    never took them for hung)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    args = ["run", "-m", "vanilla", "-l", "hangs-always,dies-always,nonsat,raise-at-3,dies-once", "-d", "ring8",
            "-s", "0,1", "--model-opt", "vanilla.hidden=64", "--steps", "8", "--set", "eval_samples=200",
            "--checkpoint-every", "2", "--metrics", "modes,fid", "--replicas", "2",
            "--threads", "1", "--device", "cpu"]
    monkeypatch.setenv("GANBENCH_FAULTY_MARKS", str(marks))
    res = ganbench(*args, "-j", "2", "--executor-opt", "local.stall=12", "-o", str(tmp_path / "jobs"),
                   pythonpath=faulty_site)
    assert res.returncode == 1, res.stderr
    rows = pd.read_csv(tmp_path / "jobs" / "results.csv")
    for seed in (0, 1):
        row = rows[rows["seed"] == seed].set_index("loss")
        assert row.loc["raise-at-3", "message"] == ("loss 'raise-at-3' of plugin 'faulty' (ganbench-faulty 0.2.0) raised "
                                                    "in after_d_step at step 3: RuntimeError: injected failure at step 3")
        assert row.loc["dies-once", "status"] == "ok" and row.loc["dies-once", "resumed_from"] == 2
        assert row.loc["dies-once", "replica_group"] == "ring8__vanilla__dies-once__s0"
        lost = row.loc["dies-always"]
        assert lost["status"] == "failed" and lost["failure"] == "lost"
        assert "died with signal 9 (SIGKILL) while running this cell (2 attempts)" in lost["message"]
        hung = row.loc["hangs-always"]
        assert hung["status"] == "failed" and hung["failure"] == "lost" and hung["message"].endswith(
            "sent nothing for 12 s (hung; killed) while running this cell (2 attempts); a deadlock or a device that "
            "stopped answering; if one evaluation of this cell takes longer, raise --executor-opt local.stall; "
            "re-run to retry it")
        for loss in ("hangs-always", "dies-always", "raise-at-3", "nonsat", "dies-once"):  # where each ran, failed or not
            assert row.loc[loss, "worker"] in ("local-1", "local-2") and row.loc[loss, "threads"] == 1, loss
            assert row.loc[loss, "device_share"] == 0.5 and isinstance(row.loc[loss, "node"], str), loss
    assert "worker local-" in res.stderr and "the cell goes to a new worker" in res.stderr  # the first death
    hung = [line for line in res.stderr.splitlines() if "(hung; killed) while training" in line]  # warnings only
    assert len(hung) == 1 and "sent nothing for 12 s" in hung[0] and "/hangs-always " in hung[0], hung
    assert (marks / "dies-once").exists()
    alone = ganbench(*args[:4], "nonsat", *args[5:], "-o", str(tmp_path / "alone"), pythonpath=faulty_site)
    assert alone.returncode == 0, alone.stderr
    healthy = pd.read_csv(tmp_path / "alone" / "results.csv").dropna(axis=1, how="all")
    beside = pd.read_csv(tmp_path / "jobs" / "results.csv").query("loss == 'nonsat'").dropna(axis=1, how="all")
    pd.testing.assert_frame_equal(_comparable(healthy), _comparable(beside), check_dtype=False)  # NaN of failed rows


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_a_killed_driver_takes_its_workers_and_the_rerun_resumes(tmp_path):
    """kill -9 of the driver of a ``--jobs 2`` run, inside a cell after its checkpoint: its workers
    die with it (nobody keeps writing into the run directory), and the same command run again
    continues the cell from its checkpoint; the table equals an uninterrupted serial run's."""
    args = ["run", "-m", "vanilla", "-l", "nonsat,lsgan", "-d", "ring8", "--seeds", "0,1", "--steps", "300",
            "--model-opt", "vanilla.hidden=64", "--set", "eval_samples=300", "--set", "sample_every=100",
            "--checkpoint-every", "25", "--threads", "1", "--device", "cpu", "-q"]
    reference = ganbench_here(*args, "-o", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    cells = out / "cells"
    script = str(Path(sys.executable).parent / "ganbench")
    proc = subprocess.Popen([script, *args, "-j", "2", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (cells.is_dir() and any((c / "checkpoint.pt").exists() and not (c / "result.json").exists()
                                      for c in cells.iterdir())):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers = [p for p in _children(proc.pid) if "spawn" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: the workers are not in the signal's way
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers):
        assert time.monotonic() < deadline, "a worker outlived its driver"
        time.sleep(0.05)
    killed = {c.name: torch.load(c / "checkpoint.pt", weights_only=True)["step"] for c in cells.iterdir()
              if (c / "checkpoint.pt").exists() and not (c / "result.json").exists()}
    assert killed
    final = ganbench_here(*args, "-j", "2", "-o", str(out))
    assert final.returncode == 0, final.stderr
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4 and table["cell_id"].is_unique and (table["status"] == "ok").all()
    for cell, step in killed.items():
        assert table.set_index("cell_id").loc[cell, "resumed_from"] == step
    assert list(cells.glob("*/checkpoint.pt")) == []
    pd.testing.assert_frame_equal(_comparable(table), _comparable(pd.read_csv(tmp_path / "reference" / "results.csv")))
    _same_cells(tmp_path / "reference", out, table["cell_id"])


def test_plugin_objects_of_this_process_cannot_go_to_worker_processes(tmp_path):
    class Local:
        @gb.hookimpl
        def ganbench_register_losses(self, registry):
            pass

    with pytest.raises(UsageError, match="runs cells in other processes.*use --executor serial"):
        gb.run(out=tmp_path, plugins=[Local()], jobs=2, **{k: v for k, v in GRID.items() if k != "threads"})
    assert not (tmp_path / "results.csv").exists()


def test_without_ray_the_ray_executor_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    res = CliRunner().invoke(cli, ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--executor", "ray",
                                   "-o", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: --executor ray needs Ray, which is not installed: pip install 'ganbench[ray]'"
    assert list(tmp_path.iterdir()) == []


def test_the_progress_display_follows_several_busy_cells(tmp_path):
    """One display for parallel work: each busy cell keeps its own step and speed, the run's ETA is
    the work left shared out over the workers, and each finished line names its worker."""
    import io

    from rich.console import Console

    from ganbench.execution.session import Plan
    from ganbench.progress import RichReporter
    from ganbench.suite import Cell

    cells = [Cell("ring8", "vanilla", loss, 0) for loss in ("nonsat", "lsgan", "hinge", "wgan")]
    plan = Plan(tmp_path, cells, {"losses": 4}, [], [], dict.fromkeys(cells, 10.0), dict.fromkeys(cells, 0.0), [],
                "local", ["local-1 cpu", "local-2 cpu"], 2, 1)
    assert plan.wall_s() == 20.0 and plan.total_s() == 40.0
    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=200))
    reporter.run_planned(plan)
    reporter.run_started(cells, tmp_path)
    now = time.perf_counter()
    reporter.cell_started(cells[0], 0, 100, worker="local-1")
    reporter.cell_started(cells[1], 1, 100, worker="local-2")
    assert reporter.remaining_s(now) == pytest.approx(20.0, abs=0.5)  # 2 busy + 2 waiting cells of 10 s, 2 workers
    reporter._busy[cells[0]].start -= 5  # local-1 has trained for 5 s
    reporter.step({"step": 50, "d_loss": 1.0, "g_loss": 0.5}, cell=cells[0])
    assert reporter._busy[cells[0]].step == 50 and reporter._busy[cells[1]].step == 0
    assert reporter._busy[cells[0]].live_total == pytest.approx(10.0, rel=0.05)  # 50 steps in 5 s: 10 s in all
    reporter.cell_finished(cells[0], {"status": "ok", "wall_s": 10.0, "train_s": 10.0, "eval_s": 0.0,
                                      "worker": "local-1"}, False)
    text = out.getvalue()
    assert "executor local: 2 worker(s), up to 2 cells at once, 1 torch thread(s) per cell" in text
    assert "[1/4] ring8/vanilla/nonsat seed 0: ok, 10.0s, local-1 (eta" in text


def test_ctrl_c_under_jobs_stops_the_workers_and_the_rerun_matches_serial(serial, tmp_path):
    """Ctrl-C while two workers train (here: raised by the reporter at a step event, as the signal
    would be in the driver): the run stops at once, the workers are gone, and running the same
    request again gives the serial table."""
    import multiprocessing

    from ganbench.execution.session import NullReporter

    class Interrupt(NullReporter):
        def step(self, record, cell=None):
            if record["step"] > 1:
                raise KeyboardInterrupt

    out, reference = serial
    with pytest.raises(KeyboardInterrupt):
        gb.run(out=tmp_path, jobs=2, reporter=Interrupt(), **{**GRID, "checkpoint_every": 10})
    assert multiprocessing.active_children() == []  # no worker left behind
    assert len(list((tmp_path / "cells").glob("*/result.json"))) < 4
    df = gb.run(out=tmp_path, jobs=2, **{**GRID, "checkpoint_every": 10})
    pd.testing.assert_frame_equal(_comparable(df), _comparable(reference))
    _same_cells(out, tmp_path, df["cell_id"])


def test_fail_fast_under_jobs_stops_the_other_workers(tmp_path, monkeypatch):
    """``--fail-fast`` with two workers: the first failed cell stops the run; the cell the other
    worker was training and the cells not started have no row (a re-run trains them)."""
    from ganbench.api import runner

    monkeypatch.syspath_prepend(str(HERE / "faulty"))  # the workers inherit this path
    import ganbench_faulty

    run = runner(out=tmp_path, jobs=2, plugins=[ganbench_faulty], fail_fast=True, metrics="modes",
                 **{**GRID, "losses": "raise-at-3,nonsat,lsgan,hinge", "seeds": [0],
                    "settings": {**GRID["settings"], "steps": 400}})
    df = run.run()
    failed = df[df["status"] == "failed"]
    assert list(failed["loss"]) == ["raise-at-3"] and failed["message"].str.contains("injected failure at step 3").all()
    assert run.not_run and len(df) + len(run.not_run) == 4
    written = {p.parent.name for p in (tmp_path / "cells").glob("*/result.json")}
    assert written == set(df["cell_id"]) and not written & {c.id for c in run.not_run}


def test_a_worker_that_loads_other_data_fails_its_cell_naming_both_fingerprints(tmp_path, faulty_site, monkeypatch):
    """docs/scale.md: a worker whose data set loads with another fingerprint than the driver's (another
    machine's files under the data root) fails its cell instead of training on other data: ``elsewhere``
    is ring8 in the driver and a shifted ring8 in any worker process."""
    for path in faulty_site:
        monkeypatch.syspath_prepend(str(path))
    from ganbench import paths
    from ganbench.plugins import load_plugins

    driver = load_plugins().registry.get("dataset", "elsewhere").load(root=tmp_path).info.fingerprint
    row = gb.run(out=tmp_path / "run", jobs=2, **{**GRID, "datasets": "elsewhere", "losses": "nonsat", "seeds": [0],
                                                 "metrics": "modes"}).iloc[0]
    assert (row["status"], row["failure"]) == ("failed", "error")
    assert row["message"] == (f"data set 'elsewhere' loaded here has fingerprint {driver}-w, the run's is {driver}: "
                              f"this machine sees other files under {paths.data_root()}")
