"""Nothing of the user's is destroyed, one plugin never takes the grid down, and names never become
paths or markup: each case reproduces a report of issue 16 first, then checks the fix."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from plugin_dists import ganbench_here
from test_report import make_run, row

import ganbench as gb
from ganbench.cli import cli
from ganbench.leaderboard import INDEX_MARKER
from ganbench.suite import Cell

FAULTY = Path(__file__).parent / "faulty" / "ganbench_faulty.py"


@pytest.fixture(scope="module")
def faulty():
    """The fault-injection plugin module, registered in-process (``plugins=[module]``)."""
    spec = importlib.util.spec_from_file_location("ganbench_faulty", FAULTY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def board_run(path: Path, dataset: str = "mnist5k") -> Path:
    """A hand-made run directory whose cells have histories (so a board has a loss plot)."""
    rows = [row(loss=loss, seed=s, dataset=dataset, fid=100.0 + 10 * s + (loss == "minimax")) for loss in
            ("nonsat", "minimax") for s in range(2)]
    for r in rows:  # the folder name the runner gives such a cell
        r["cell_id"] = Cell(r["dataset"], r["model"], r["loss"], r["seed"]).id
    make_run(path, rows)
    for r in rows:
        pd.DataFrame({"step": [1, 2, 3], "d_loss": [1.0, 0.9, 0.8], "g_loss": [0.7, 0.8, 0.9]}).to_csv(
            path / "cells" / r["cell_id"] / "history.csv", index=False)
    return path


# -- 1. publishing a board ----------------------------------------------------------------------------
def test_publish_never_replaces_a_readme_or_files_it_did_not_write(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# My project\n")
    run = board_run(project / "run")
    monkeypatch.chdir(project)
    res = invoke("leaderboard", "run", "--publish", "board")  # the reported case: from a project's root
    assert res.exit_code == 0, res.output
    assert (project / "README.md").read_text() == "# My project\n"
    assert f"index: not rebuilt ({project / 'README.md'} is not a ganbench board index" in res.stderr
    assert (project / "board" / "plots" / "losses-mnist5k.png").is_file()
    # a folder of someone else's files is refused, untouched
    (project / "docs").mkdir()
    (project / "docs" / "leaderboard.md").write_text("mine")
    before = tree(project / "docs")
    res = invoke("leaderboard", "run", "--publish", "docs")
    assert res.exit_code == 2 and res.stderr.strip() == (
        "Error: --publish docs: the folder holds files and is not a ganbench board (no provenance.json); publish into a "
        "new or empty folder, or over an earlier board")
    assert tree(project / "docs") == before
    # republishing over the board removes only the plots the earlier board listed as its own
    (project / "board" / "plots" / "mine.png").write_bytes(b"not ganbench's")
    board_run(tmp_path / "ring", dataset="ring8")
    res = invoke("leaderboard", str(tmp_path / "ring"), "--publish", "board")  # it would drop the board's kept rows
    assert res.exit_code == 2 and "Error: --publish board: the board there keeps 4 row(s) the new board lacks" in res.stderr
    res = invoke("leaderboard", str(tmp_path / "ring"), "--publish", "board", "--replace")
    assert res.exit_code == 0, res.output
    plots = sorted(p.name for p in (project / "board" / "plots").iterdir())
    assert plots == ["losses-ring8.png", "mine.png"]
    assert json.loads((project / "board" / "provenance.json").read_text())["plots"] == ["losses-ring8.png"]
    assert run.is_dir()


def test_the_index_is_written_only_where_ganbench_keeps_one(tmp_path):
    run = board_run(tmp_path / "run")
    boards = tmp_path / "boards"
    for name in ("first", "second"):
        res = invoke("leaderboard", str(run), "--publish", str(boards / name), "--title", f"board {name}")
        assert res.exit_code == 0 and f"index: {boards / 'README.md'}" in res.output, res.output
    index = (boards / "README.md").read_text()
    assert index.splitlines()[0] == INDEX_MARKER
    assert "[board first](first/leaderboard.md)" in index and "[board second](second/leaderboard.md)" in index
    # a sibling folder whose provenance.json is not a board's is neither listed nor an error
    (boards / "notes").mkdir()
    (boards / "notes" / "provenance.json").write_text("[1, 2]")
    res = invoke("leaderboard", str(run), "--publish", str(boards / "third"), "--title", "board third")
    assert res.exit_code == 0, res.output
    index = (boards / "README.md").read_text()
    assert "board third" in index and "notes" not in index
    # an index written before the marker line existed is still ganbench's
    old = index.split("\n", 1)[1]
    (boards / "README.md").write_text(old)
    assert invoke("leaderboard", str(run), "--publish", str(boards / "third")).exit_code == 0
    assert (boards / "README.md").read_text().splitlines()[0] == INDEX_MARKER


# -- 2, 3. refused requests and --fresh delete nothing ------------------------------------------------
def test_a_refused_request_deletes_nothing(tmp_path):
    user = tmp_path / "u"
    (user / "notes").mkdir(parents=True)
    (user / "notes" / ".draft.tmp").write_text("my draft")
    res = invoke("run", "-m", "dcgan", "-d", "ring8", "--out", str(user))  # the reported case
    assert res.exit_code == 2
    assert (user / "notes" / ".draft.tmp").read_text() == "my draft"
    assert res.stderr.strip() == (f"Error: output directory {user} is not a ganbench run directory (no suite.json) and "
                                  "is not empty (notes); choose a new or empty folder with --out")
    # refused for another reason in a folder of its own: still nothing created, nothing removed
    res = invoke("run", "-m", "dcgan", "-d", "ring8", "--out", str(tmp_path / "new"))
    assert res.exit_code == 2 and res.stderr.startswith("Error: no cell of this run can train")
    assert not (tmp_path / "new").exists()


def test_fresh_refuses_a_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "mine"
    (folder / "cells").mkdir(parents=True)
    (folder / "cells" / "keep.txt").write_text("keep")
    (folder / "results.csv").write_text("a,b\n1,2\n")
    before = tree(folder)
    res = invoke("run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--steps", "2", "--fresh", "--out", str(folder))
    assert res.exit_code == 2 and "is not a ganbench run directory (no suite.json)" in res.stderr
    assert tree(folder) == before
    # a suite.json of someone else's does not make it a run directory either
    (folder / "suite.json").write_text('{"name": "my test suite", "cases": 3}')
    before = tree(folder)
    res = invoke("run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--steps", "2", "--fresh", "--out", str(folder))
    assert res.exit_code == 2 and res.stderr.strip() == (
        f"Error: output directory {folder} holds a suite.json that is not a ganbench run's (nor an environment.json of "
        "one); choose a new or empty folder with --out")
    assert tree(folder) == before


def test_a_held_lock_is_refused_after_a_short_wait(tmp_path):
    from ganbench.errors import UsageError
    from ganbench.store import RunStore

    with RunStore(tmp_path).lock():
        with pytest.raises(UsageError, match=r"is in use by another ganbench process \(pid \d+\)"):
            with RunStore(tmp_path).lock():
                pass
    with RunStore(tmp_path).lock():  # released: free again
        pass


def test_the_clean_up_after_a_kill_removes_only_ganbench_temporaries(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "steps": 2},
              device="cpu", metrics="modes", out=tmp_path)
    gb.run(**kw)
    cell = tmp_path / "cells" / "ring8__vanilla__nonsat__s0"
    ours = [tmp_path / ".results.csv.k1l2.ganbench-tmp", cell / ".history.csv.a1b2.ganbench-tmp",
            cell / "samples" / ".step_000002.png.x9.ganbench-tmp"]
    theirs = [tmp_path / ".notes.tmp", cell / ".draft.tmp", cell / "mine" / ".x.ganbench-tmp"]
    for path in ours + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    gb.run(**kw)
    assert [p.exists() for p in ours] == [False] * 3 and [p.exists() for p in theirs] == [True] * 3


# -- 4, 5. one plugin fails only its own cells ---------------------------------------------------------
WHO = "of plugin 'ganbench_faulty'"


@pytest.mark.slow
def test_hostile_models_and_losses_fail_only_their_cells(tmp_path, tiny, faulty):
    models = ["vanilla", "exits-in-build", "build-raises", "supports-raises", "backward-raises", "memory-error", "cpu-oom"]
    losses = ["nonsat", "exits", "unprintable", "g-loss-raises", "penalty-raises"]
    df = gb.run(models=",".join(models), losses=",".join(losses), datasets="ring8", seeds=[0], metrics="modes",
                settings={**tiny, "steps": 3}, model_options=["vanilla.hidden=64"], device="cpu", out=tmp_path,
                plugins=[faulty])
    got = {(r.model, r.loss): (r.status, r.failure if r.status == "failed" else None, r.message) for r in df.itertuples()}
    assert len(got) == len(models) * len(losses)

    def who(kind: str, name: str) -> str:
        builtin = name in ("nonsat",)
        return f"{kind} '{name}' " + ("of plugin 'builtin-losses' (ganbench 0.1.0)" if builtin else WHO)

    loss_failure = {  # step 1: the loss fails before anything the model could break
        "exits": f"{who('loss', 'exits')} raised in g_loss at step 1: SystemExit: 3",
        "unprintable": f"{who('loss', 'unprintable')} raised in d_loss at step 1: Unprintable: <unprintable "
                       "Unprintable: str() raised ValueError>",
        "g-loss-raises": f"{who('loss', 'g-loss-raises')} raised in g_loss at step 1: RuntimeError: injected failure "
                         "in g_loss",
        "penalty-raises": f"{who('loss', 'penalty-raises')} raised in penalty at step 1: RuntimeError: injected failure "
                          "in penalty",
    }
    expected = {}
    for lo in losses:
        expected[("vanilla", lo)] = ("ok", None, "") if lo == "nonsat" else ("failed", "error", loss_failure[lo])
        expected[("exits-in-build", lo)] = ("failed", "error", f"{who('model', 'exits-in-build')} raised in build: "
                                                               "SystemExit: 4")
        expected[("build-raises", lo)] = ("failed", "error", f"{who('model', 'build-raises')} raised in build: "
                                                             "ValueError: injected failure in build")
        expected[("supports-raises", lo)] = ("failed", "error", f"{who('model', 'supports-raises')} raised in supports: "
                                                                "RuntimeError: supports cannot decide about ring8")
        # D's backward comes after d_loss and penalty, before g_loss
        expected[("backward-raises", lo)] = ("failed", "error", loss_failure[lo]) if lo in ("unprintable",
                                                                                            "penalty-raises") else \
            ("failed", "error", f"{who('model', 'backward-raises')} / {who('loss', lo)} raised in D backward at step 1: "
                                "RuntimeError: injected failure in the backward pass")
        # G breaks at step 2: only the loss that survives step 1 gets there
        expected[("memory-error", lo)] = ("failed", "error", loss_failure[lo]) if lo != "nonsat" else \
            ("failed", "oom", f"out of memory on host: {who('model', 'memory-error')} raised in G forward at step 2: "
                              "MemoryError: injected host allocation failure")
        expected[("cpu-oom", lo)] = ("failed", "error", loss_failure[lo]) if lo != "nonsat" else None
    oom = got.pop(("cpu-oom", "nonsat"))
    expected.pop(("cpu-oom", "nonsat"))
    assert got == expected
    assert oom[:2] == ("failed", "oom") and oom[2].startswith(
        f"out of memory on host: {who('model', 'cpu-oom')} raised in G forward at step 2: RuntimeError: ")
    assert "DefaultCPUAllocator" in oom[2]
    assert "SystemExit: 3" in (tmp_path / "cells" / "ring8__vanilla__exits__s0" / "error.txt").read_text()


def test_a_data_set_that_returns_no_data_fails_its_cells_only(tmp_path, tiny, faulty):
    df = gb.run(models="vanilla", losses="nonsat", datasets="ring8,not-data", seeds=[0], metrics="modes",
                settings={**tiny, "steps": 2}, device="cpu", out=tmp_path, plugins=[faulty])
    got = dict(zip(df["dataset"], zip(df["status"], df["message"], strict=True), strict=True))
    assert got["ring8"][0] == "ok"
    assert got["not-data"] == ("failed", f"dataset 'not-data' {WHO} returned unusable data from load: got int, "
                                         "expected ganbench.specs.Data")


@pytest.mark.parametrize("metric, message", [
    ("hijack", f"metric 'hijack' {WHO} returned the runner's column(s) loss, seed, cell_id, config_hash at step 2: "
               "identity, "
               "status, settings, timings and provenance belong to the runner; a metric adds columns of its own"),
    ("listy", f"metric 'listy' {WHO} returned a list for column 'listy'; expected a number, text, true/false or None"),
    ("wordy", f"metric 'wordy' {WHO} returned text for its ranked column 'wordy' at step 2 ('high'); expected a number, "
              "true/false or None"),
    ("supports-raises", f"metric 'supports-raises' {WHO} raised in supports: RuntimeError: supports cannot decide "
                        "about ring8"),
])
def test_a_metric_never_overwrites_the_row(tmp_path, tiny, faulty, metric, message):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], metrics=f"modes,{metric}",
              settings={**tiny, "steps": 2}, device="cpu", out=tmp_path, plugins=[faulty])
    r = gb.run(**kw).iloc[0]
    assert (r["status"], r["message"], r["loss"], r["seed"], r["cell_id"]) == (
        "failed", message, "nonsat", 0, "ring8__vanilla__nonsat__s0")
    stored = json.loads((tmp_path / "cells" / "ring8__vanilla__nonsat__s0" / "result.json").read_text())
    assert stored["loss"] == "nonsat" and stored["config_hash"] == r["config_hash"] != "forged"


# -- 6. names never become paths or markup -------------------------------------------------------------
def test_crafted_names_stay_inside_the_output_folders(tmp_path):
    run = board_run(tmp_path / "run", dataset="folder:../../../escaped")
    out = tmp_path / "deep" / "er" / "plots"
    res = invoke("report", str(run), "--plots", str(out), "-f", "csv", "-o", str(tmp_path / "r.csv"))
    assert res.exit_code == 0, res.output
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    assert written and all(p.parts[:3] == ("deep", "er", "plots") for p in written), written
    digest = hashlib.sha256(b"folder:../../../escaped").hexdigest()[:8]
    assert [p.name for p in written] == [f"losses-folder_.._.._.._escaped-{digest}.png"]
    # an output over what the run holds is refused before anything is read or written; a new file beside is fine
    suite = (run / "suite.json").read_bytes()
    for flag, target in (("-o", run / "suite.json"), ("-o", run / "cells" / "x.md"), ("--plots", run / "cells")):
        res = invoke("report", str(run), flag, str(target))
        assert res.exit_code == 2 and res.stderr.strip().startswith(f"Error: {flag} {target} would overwrite what {run}")
    assert (run / "suite.json").read_bytes() == suite
    assert invoke("report", str(run), "-f", "md", "-o", str(run / "report.md")).exit_code == 0
    # written by replacing: a link, a pipe or a device given as -o would be replaced, not written into
    (tmp_path / "target.md").write_text("kept")
    (tmp_path / "link.md").symlink_to(tmp_path / "target.md")
    os.mkfifo(tmp_path / "pipe")
    for target, why in ((tmp_path / "link.md", "is a symbolic link"), (tmp_path / "pipe", "is not a regular file"),
                        (Path("/dev/null"), "is not a regular file")):
        res = invoke("report", str(run), "-f", "csv", "-o", str(target))
        assert res.exit_code == 2 and res.stderr.strip().startswith(f"Error: -o {target} {why}"), res.output
    assert (tmp_path / "link.md").is_symlink() and (tmp_path / "pipe").is_fifo() and Path("/dev/null").is_char_device()
    assert (tmp_path / "target.md").read_text() == "kept"
    res = invoke("report", str(run), "-o", "")  # click reads '' as '.'
    assert res.exit_code == 2 and res.stderr.strip() == "Error: -o . is a folder: give a file path"
    (tmp_path / "plots-here").mkdir()
    (tmp_path / "plots-link").symlink_to(tmp_path / "plots-here")  # a folder's link: the files go inside it
    assert invoke("report", str(run), "--plots", str(tmp_path / "plots-link"), "-f", "csv").exit_code == 0
    assert list((tmp_path / "plots-here").glob("*.png")) and (tmp_path / "plots-link").is_symlink()
    empty = tmp_path / "empty"  # a run with no finished cell: one line, not an empty table
    (empty / "cells").mkdir(parents=True)
    shutil.copy(run / "suite.json", empty / "suite.json")
    res = invoke("report", str(empty))
    assert (res.exit_code, res.stderr.strip()) == (2, f"Error: no result rows in {empty}: nothing to report (no cell "
                                                      "has finished)")
    # a damaged value: a runner's number that is text is refused when the row is read, a ranked metric's when reported
    folder = Cell("folder:../../../escaped", "vanilla", "nonsat", 0).id
    cell = run / "cells" / folder / "result.json"
    good = cell.read_text()
    for col, value, why in (("wall_s", "fast", "its wall_s 'fast' is not a number"),
                            ("steps_done", -5, "its steps_done -5 is not a count (a non-negative integer)")):
        cell.write_text(json.dumps({**json.loads(good), col: value}))
        res = invoke("report", str(run))
        assert res.exit_code == 2 and why in res.stderr and str(cell) in res.stderr, res.output
    ranked = next(k for k, v in json.loads(good).items() if k in ("fid", "modes") and isinstance(v, float))
    cell.write_text(json.dumps({**json.loads(good), ranked: "abc"}))
    for command in (("report", str(run)), ("leaderboard", str(run))):
        res = invoke(*command)
        assert res.exit_code == 2 and res.stderr.strip() == (
            f"Error: {run}: cell {folder} has {ranked} 'abc', not a number: its result row is damaged (train the "
            "cell again, or remove the row, before reporting)"), res.output
    cell.write_text(good)
    # a result row whose cell_id points elsewhere is refused, naming the file
    folder = Cell("folder:../../../escaped", "vanilla", "nonsat", 0).id
    cell = run / "cells" / folder / "result.json"
    bad = json.loads(cell.read_text())
    bad["cell_id"] = "../../../outside"
    cell.write_text(json.dumps(bad))
    res = invoke("report", str(run))
    assert res.exit_code == 2 and res.stderr.strip() == (
        f"Error: {cell} is not a ganbench result row: its cell_id '../../../outside' is not the folder it is in "
        f"('{folder}'); re-run the command that made {run} to train that cell again")


def test_markdown_outputs_escape_titles_notes_and_messages(tmp_path):
    rows = [row(seed=s, fid=100.0 + s) for s in range(2)]
    rows.append(row(seed=2, status="failed", message="<script>alert(1)</script> [x](http://evil.example)"))
    run = make_run(tmp_path / "run [x](http://evil.example)", rows)
    title, note = "Best [click](http://evil.example) <b>GAN</b> *ever*", "![img](http://evil.example/i.png) | a | b"
    res = invoke("leaderboard", str(run), "--publish", str(tmp_path / "board"), "--title", title, "--note", note)
    assert res.exit_code == 0, res.output
    report = invoke("report", str(run), "-f", "md")
    assert report.exit_code == 0, report.output
    for text in ((tmp_path / "board" / "leaderboard.md").read_text(), (tmp_path / "README.md").read_text(),
                 report.stdout):
        tokens = []
        for block in MarkdownIt("commonmark").enable("table").parse(text):
            tokens += [block, *(block.children or [])]
        html = [t.content for t in tokens if t.type in ("html_inline", "html_block")]
        assert html in ([], [INDEX_MARKER + "\n"]), html  # only the index's own marker comment
        targets = [t.attrs.get("href") or t.attrs.get("src") for t in tokens if t.type in ("link_open", "image")]
        assert not any("evil" in str(target) for target in targets), targets
        headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1"]
        assert headings and "*" not in headings[0].replace("\\*", ""), headings
    assert "Best \\[click\\](http://evil.example) \\<b\\>GAN\\</b\\> \\*ever\\*" in \
        (tmp_path / "board" / "leaderboard.md").read_text()


# -- 9. output that cannot be written mid-run --------------------------------------------------------
@pytest.mark.slow
def test_a_run_whose_output_cannot_be_written_stops_with_one_line_and_keeps_its_cells(tmp_path):
    """The real command under a file-size limit (RLIMIT_FSIZE: a write past 512 KiB fails with EFBIG,
    as writes fail on a full disk): the small MLP's cell is written, the DCGAN's 1.4 MB generator.pt is
    not. One line, exit status 3, the finished cell kept; without the limit the same command finishes
    the grid, training only the cell that is missing."""
    import resource
    import signal
    import subprocess
    import sys

    args = ["run", "-m", "vanilla,dcgan", "-l", "nonsat", "-d", "mnist5k", "--seeds", "0", "--steps", "2",
            "--metrics", "stability", "--model-opt", "vanilla.hidden=32", "-q", "-o", str(tmp_path / "run")]
    script = str(Path(sys.executable).parent / "ganbench")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))

    res = subprocess.run([script, *args], capture_output=True, text=True, preexec_fn=limit, timeout=300)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 3 and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    generator = tmp_path / "run" / "cells" / "mnist5k__dcgan__nonsat__s0" / "generator.pt"
    assert lines[0] == f"Error: cannot write {generator}: File too large"
    kept = tmp_path / "run" / "cells" / "mnist5k__vanilla__nonsat__s0" / "result.json"
    inode = kept.stat().st_ino
    assert json.loads(kept.read_text())["status"] == "ok" and not generator.exists()
    assert not list((tmp_path / "run").rglob("*.ganbench-tmp"))
    again = ganbench_here(*args)  # the same command in this process, without the limit
    assert again.returncode == 0, again.stderr
    assert kept.stat().st_ino == inode and generator.is_file()
    assert list(pd.read_csv(tmp_path / "run" / "results.csv")["status"]) == ["ok", "ok"]


def test_names_with_markup_characters_are_printed_as_they_are(tmp_path, tiny):
    out = tmp_path / "x[/y] [red]z"
    res = invoke("run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--seeds", "0", "--steps", "2",
                 "--metrics", "modes", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert f"ganbench results — {out}" in res.stdout and f"results: {out / 'results.csv'}" in res.stdout
    assert f"-> {out}" in res.stderr


def test_output_that_is_not_a_terminal_is_never_cut(tmp_path, tiny):
    res = invoke("run", "-m", "vanilla", "-l", "label-smooth,minimax", "-d", "ring8", "--seeds", "0", "--steps", "2",
                 "--metrics", "modes,prdc", "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "…" not in res.output and "label-smooth" in res.stdout and "coverage ↑" in res.stdout
    assert "(1 seed)" not in res.stdout
    table = [ln for ln in res.stdout.splitlines() if "ring8" in ln and "minimax" in ln][0]
    modes = table.split("│")[4].strip()
    assert modes.rstrip(" *").isdigit(), table  # a count is a whole number, not 1.00
    # plain progress lines: position and ETA of the run
    assert "[1/2] ring8/vanilla/label-smooth seed 0: ok" in res.stderr and "(eta " in res.stderr


def test_the_plan_is_printed_first_and_dry_run_trains_nothing(tmp_path):
    args = ["run", "-m", "vanilla,dcgan", "-l", "nonsat,wgan-gp", "-d", "ring8", "--seeds", "0,1", "--steps", "4",
            "--metrics", "modes", "--out", str(tmp_path / "run")]
    dry = invoke(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert not (tmp_path / "run").exists()
    lines = dry.stdout.strip().splitlines()
    assert lines[0] == f"ganbench: 8 cells (1 data set × 2 models × 2 losses × 2 seeds) -> {tmp_path / 'run'}"
    assert lines[1].startswith("  4 to train; 4 skipped (the model cannot take the data); estimated ")
    assert lines[1].endswith("of training (evaluation is measured by the first cells), from a timed probe of 5 steps "
                             "per model and recipe")
    res = invoke(*args)
    assert res.exit_code == 0 and res.stderr.startswith(lines[0]), res.output
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert invoke(*args, "--dry-run").stdout.splitlines()[1] == "  0 to train; 8 already done (kept)"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").rglob("*") if p.is_file()} == before
    # a cell lost (a kill before its row): the earlier rows of its loss measure its time, evaluation included
    (tmp_path / "run" / "cells" / "ring8__vanilla__nonsat__s1" / "result.json").unlink()
    more = invoke(*args, "--dry-run").stdout.splitlines()[1]
    assert more.startswith("  1 to train; 7 already done (kept); estimated ")
    assert more.endswith(f" s, from earlier rows in {tmp_path / 'run'}"), more


def test_long_preparations_say_what_they_do(tmp_path, monkeypatch, plugins):
    from ganbench_builtins.extractors.domain import train_domain_classifier

    calls = []
    digits = plugins.registry.get("dataset", "mnist5k").load()
    from ganbench.specs import Data

    small = Data(digits.info, digits.x[:64], digits.y[:64], digits.x_test[:32], digits.y_test[:32])
    train_domain_classifier(small, __import__("torch").device("cpu"), epochs=2, progress=lambda *a: calls.append(a))
    assert calls == [(0, 2), (1, 2), (2, 2)]
    # the CLI shows the one-time real-feature computation (a fresh cache)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    res = invoke("run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--seeds", "0", "--steps", "2", "--metrics",
                 "fid", "--out", str(tmp_path / "run"))
    assert res.exit_code == 0, res.output
    assert f"ring8: raw features of 10,000 real samples, once (cached in {tmp_path / 'cache' / 'stats'}) — done" \
        in res.stderr


def test_results_csv_orders_its_columns(tmp_path, tiny):
    gb.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "steps": 2},
           metrics="modes,stability", device="cpu", out=tmp_path)
    cols = list(pd.read_csv(tmp_path / "results.csv").columns)
    assert cols[:5] == ["cell_id", "dataset", "model", "loss", "seed"] and cols[5] == "status"
    metrics = ["modes", "hq_pct", "mode_kl", "diverged"]
    positions = {c: cols.index(c) for c in ["message", *metrics, "train_s", "recipe", "hp_steps", "hp_source",
                                            "config_hash", "git_commit"]}
    order = ["message", "modes", "diverged", "train_s", "recipe", "hp_steps", "hp_source", "config_hash"]
    assert [positions[c] for c in order] == sorted(positions[c] for c in order), cols


def test_report_of_metrics_that_no_cell_has(tmp_path):
    run = make_run(tmp_path / "run", [row(seed=s, status="diverged", diverged_at=3) for s in range(2)])
    res = invoke("report", str(run), "--metrics", "fid,diverged", "-f", "csv")
    assert res.exit_code == 0, res.output
    table = pd.read_csv(__import__("io").StringIO(res.stdout))
    assert table["fid_n"].tolist() == [0] and table["diverged_mean"].tolist() == [1.0]


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe not utf-8", "is not a result row: not UTF-8 text (invalid start byte at byte 0)"),
    (b"[1, 2]", "is not a result row: expected a JSON object, got list"),
    (b"{}", "is not a ganbench result row: a result row needs cell_id, dataset, model, loss, seed, status"),
    (b'{"cell_id": "x"}', "is not a ganbench result row: a result row needs dataset, model, loss, seed, status"),
])
def test_damaged_result_rows_are_named_by_report_and_retrained_by_run(tmp_path, tiny, content, problem):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0, 1], settings={**tiny, "steps": 2},
              metrics="modes", device="cpu", out=tmp_path)
    gb.run(**kw)
    damaged = tmp_path / "cells" / "ring8__vanilla__nonsat__s1" / "result.json"
    damaged.write_bytes(content)
    res = invoke("report", str(tmp_path))
    assert res.exit_code == 2 and res.stderr.startswith(f"Error: {damaged} {problem}"), res.stderr
    df = gb.run(**kw)  # moved aside, trained again: never a ghost row
    assert list(df["status"]) == ["ok", "ok"] and damaged.with_name("result.json.unreadable").read_bytes() == content


@pytest.mark.parametrize("content", [b"\x80\x81", b"[1, 2]", b"{not json"])
def test_a_damaged_suite_json_is_one_line_in_run_and_resume(tmp_path, tiny, content):
    args = ["run", "-m", "vanilla", "-l", "nonsat", "-d", "ring8", "--seeds", "0", "--steps", "2", "--metrics", "modes",
            "-q", "--out", str(tmp_path)]
    assert invoke(*args).exit_code == 0
    good = json.loads((tmp_path / "suite.json").read_text())
    (tmp_path / "suite.json").write_bytes(content)
    for res in (invoke(*args), invoke("run", "--resume", str(tmp_path))):
        assert res.exit_code == 2 and res.stderr.startswith(f"Error: {tmp_path / 'suite.json'} is not a ganbench suite: ")
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    if content == b"[1, 2]":  # JSON of a suite whose values have the wrong type: named, one line
        for key, value, message in (
                ("model_options", {"vanilla": 5}, 'model_options expects a table of plugin name -> table of option -> '
                                                  'value, got {"vanilla": 5}'),
                ("device", 5, "device is 5; expected a device name such as cpu or cuda")):
            (tmp_path / "suite.json").write_text(json.dumps({**good, key: value}))
            res = invoke("run", "--resume", str(tmp_path), "--dry-run")
            assert (res.exit_code, res.stderr.strip()) == (2, f"Error: {tmp_path / 'suite.json'}: {message}")


def test_a_damaged_history_is_left_out_of_the_html_report_with_a_note(tmp_path):
    run = board_run(tmp_path / "run")
    cell = run / "cells" / Cell("mnist5k", "vanilla", "nonsat", 0).id
    (cell / "history.csv").write_text("step,d_loss\n1,abc\n1,2\n")
    res = invoke("report", str(run), "-f", "html", "-o", str(tmp_path / "report.html"))
    assert res.exit_code == 0, res.output
    page = (tmp_path / "report.html").read_text()
    assert "history.csv left out of the plots: unreadable" in page and "<img" in page  # the other cells' curves
    (cell / "history.csv").write_text("step,d_loss,g_loss\n1,0.5,0.7\n2,0.4,0.")  # cut short mid-line
    res = invoke("report", str(run), "-f", "html", "-o", str(tmp_path / "report.html"))
    assert res.exit_code == 0 and "its last line is cut short (the file was truncated)" in (
        tmp_path / "report.html").read_text()


def test_a_replica_group_killed_between_its_rows_is_finished_from_its_journal(tmp_path, tiny):
    """A kill after the first row of a replica group was written: the re-run writes the other rows from the
    group's journal (not a retraining of K-1 seeds from step 0: the group's checkpoint went with the first row),
    then removes the checkpoint and the journal."""
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0, 1], replicas=2, metrics="modes",
              settings={**tiny, "steps": 2}, device="cpu", out=tmp_path)
    first = gb.run(**kw)
    assert list(first["status"]) == ["ok", "ok"] and set(first["replica_group"]) == {"ring8__vanilla__nonsat__s0"}
    lead, other = (tmp_path / "cells" / f"ring8__vanilla__nonsat__s{s}" for s in (0, 1))
    assert not (lead / "group_rows.json").exists() and not (lead / "checkpoint.pt").exists()
    rows = [json.loads((d / "result.json").read_text()) for d in (lead, other)]
    (lead / "group_rows.json").write_text(json.dumps({"rows": rows}))  # as the kill left them
    # the other seed still holds the row of an earlier, failed training of the group (retrained since)
    (other / "result.json").write_text(json.dumps({**rows[1], "status": "failed", "message": "an earlier failure"}))
    (lead / "checkpoint.pt").write_bytes(b"the group's")
    again = gb.run(**kw)
    assert list(again["started_at"]) == [r["started_at"] for r in rows]  # the rows as trained, nothing trained again
    assert json.loads((other / "result.json").read_text()) == rows[1]
    assert not (lead / "group_rows.json").exists() and not (lead / "checkpoint.pt").exists()
