"""Plots, published leaderboards and the HTML report in a real headless browser, on real tiny runs."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganbench
from ganbench.cli import cli
from ganbench.leaderboard import build_board, command_line, publish, write_index
from ganbench.plots import figures
from ganbench.report import load_runs


def read_markdown_table(text: str) -> list[list[str]]:
    """The cells of the first pipe table in Markdown ``text``."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([c.strip().replace("\0", "|") for c in line[1:-1].replace("\\|", "\0").split("|")])
        elif rows:
            break
    return rows

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, plugins):
    """vanilla × nonsat, minimax on ring8 (2-D) and mnist5k (images), 2 seeds, evaluated every 10 steps."""
    out = tmp_path_factory.mktemp("tiny-run")
    settings = {"steps": 20, "batch_size": 32, "eval_samples": 200, "sample_every": 10, "eval_every": 10}
    ganbench.run(models="vanilla", losses="nonsat,minimax", datasets="ring8,mnist5k", seeds=[0, 1], settings=settings,
                 device="cpu", out=out)
    return out


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_plots_are_drawn_from_the_run_files(tiny_run, plugins):
    rows, _ = load_runs([tiny_run])
    figs, notes = figures(rows, ["dataset", "model", "loss"], ["fid", "modes"], plugins.registry)
    names = [f.name for f in figs]
    assert names == ["losses-mnist5k", "trajectory-mnist5k", "samples-mnist5k",
                     "losses-ring8", "trajectory-ring8", "scatter-ring8"], (names, notes)
    assert notes == []
    for fig in figs:
        img = _png(fig.png)
        assert img.shape[0] > 150 and img.shape[1] > 300
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20, f"{fig.name} looks blank"
        assert fig.caption and fig.title


def test_the_2d_scatter_shows_the_points_the_modes_metric_counted(tiny_run, plugins):
    """A 2-D cell saves its final evaluation's points; they are the generator's samples on the cell's
    evaluation noise (rebuilt here, independently of ganbench's cell code) and give the row's modes."""
    from ganbench import seeding
    from ganbench.store import RunStore
    from ganbench.train import generate
    from ganbench_builtins.metrics.modes import mixture_modes

    rows, _ = load_runs([tiny_run])
    for _, row in rows[rows["dataset"] == "ring8"].iterrows():
        points = RunStore(tiny_run).points(row["cell_id"])
        assert points.shape == (2500, 2) and points.dtype == np.float32
        data = plugins.registry.get("dataset", "ring8").load()
        got = mixture_modes(torch.from_numpy(points), torch.tensor(data.info.modes), data.info.mode_std)
        assert got["modes"] == row["modes"] and got["hq_pct"] == pytest.approx(row["hq_pct"])
        config = json.loads((tiny_run / "cells" / row["cell_id"] / "config.json").read_text())
        G, _ = plugins.registry.get("model", "vanilla").build(data.info, latent_dim=config["settings"]["latent_dim"],
                                                              **config["model_options"])
        G.load_state_dict(torch.load(tiny_run / "cells" / row["cell_id"] / "generator.pt", weights_only=True))
        noise = seeding.eval_noise(int(row["seed"]), "ring8", "vanilla", 200, config["settings"]["latent_dim"], 2500)
        np.testing.assert_array_equal(points, generate(G, noise[:2500], torch.device("cpu")).numpy())
    assert RunStore(tiny_run).points("mnist5k__vanilla__nonsat__s0") is None  # images: the sample grids


def test_plots_say_why_one_is_missing(tmp_path, plugins, tiny):
    out = tmp_path / "run"
    ganbench.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings=tiny, device="cpu", out=out)
    rows, _ = load_runs([out])
    (out / "cells" / "ring8__vanilla__nonsat__s0" / "points.npy").unlink()
    figs, notes = figures(rows, ["dataset", "model", "loss"], ["fid"], plugins.registry)
    assert [f.name for f in figs] == ["losses-ring8", "samples-ring8"]  # the scatter the cell drew, instead
    assert notes[0].startswith("ring8: no metric trajectory (a single evaluation per cell); run with --set eval_every=N")
    assert notes[1] == ("ring8 vanilla / nonsat: no 2-D scatter (the cell has no saved evaluation points: trained "
                        "before ganbench saved them, or it did not finish its evaluation)")


def test_provenance_says_how_the_rows_trained_not_how_they_were_published(tiny_run):
    """A board published by a later invocation (other threads, rows reused) reports the rows' torch threads, and
    its cells' dates run to the last one's end (started + wall time), not its start."""
    from ganbench.report import provenance

    df, runs = load_runs([tiny_run])
    runs[0].environment["torch_threads"] = 7  # the publishing invocation's
    df = df.assign(threads=2)
    assert provenance(runs, df)["torch threads"] == "2"
    last = df["started_at"].idxmax()
    df.loc[last, "started_at"], df.loc[last, "wall_s"] = "2026-12-07T23:05:25+00:00", 5626.6  # ends 12-08 00:39
    first = str(df["started_at"].min())[:10]
    assert provenance(runs, df)["cells trained"] == f"{len(df[~df['model'].eq('reference')])} from {first} to 2026-12-08"
    assert provenance(runs, df.drop(columns="threads"))["torch threads"] == "7"  # rows without: the environment's


def test_publish_writes_the_board_and_the_index(tiny_run, plugins, tmp_path):
    results = tmp_path / "results"
    board = build_board([tiny_run], plugins.registry, title="Tiny board")
    files = publish(board, results / "tiny")
    assert {p.name for p in (results / "tiny").iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.html",
                                                              "provenance.json", "runs.json", "plots"}
    prov = json.loads(files["provenance"].read_text())
    umask = os.umask(0)
    os.umask(umask)
    assert files["html"].stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, like a file from open()
    for key in ("ganbench", "git commit (training)", "plugins", "device", "torch", "steps", "batch size", "seeds",
                "feature extractor", "generated samples (eval_samples)", "real samples (FID)", "cells trained",
                "published", "command"):
        assert prov[key] and prov[key] != "—", key
    assert prov["steps"] == "20" and prov["batch size"] == "32" and prov["seeds"] == "0, 1"
    from ganbench.provenance import git_commit

    assert prov["git commit (training)"] == git_commit()  # every row records the code that trained it
    assert prov["command"].startswith("ganbench run --datasets ring8,mnist5k --models vanilla --losses nonsat,minimax "
                                      "--seeds 0,1 --set batch_size=32 --set eval_every=10")
    md = files["md"].read_text()
    table = read_markdown_table(md)
    assert table[0][:3] == ["dataset", "model", "loss"] and len(table) == 2 + 4 + 4  # 4 cells, 2 references per data set
    assert [(r[1], r[2]) for r in table[2:] if r[1] == "reference"] == [("reference", "real"), ("reference", "gaussian")] * 2
    for fig in board.figures:
        assert f"](plots/{fig.name}.png)" in md and (results / "tiny" / "plots" / f"{fig.name}.png").exists()
    csv = pd.read_csv(files["csv"])
    assert len(csv) == 8 and set(csv["dataset"]) == {"ring8", "mnist5k"} and csv["reference"].sum() == 4
    # a second board: the index links both
    publish(build_board([tiny_run], plugins.registry, title="Second", metrics=["modes"]), results / "second")
    index = (results / "README.md").read_text()
    assert "[Tiny board](tiny/leaderboard.md)" in index and "[Second](second/leaderboard.md)" in index
    rows = read_markdown_table(index[index.index("| board"):])
    assert len(rows) == 2 + 2
    # a first publish killed halfway (here: at its last file) leaves no folder that is not a board — it is
    # written beside the folder and renamed into place — so publishing again works; the index ignores it
    import ganbench.leaderboard as lb

    real = lb.atomic_write_json

    def killed(path, value):
        if path.name == "provenance.json":
            raise KeyboardInterrupt
        real(path, value)

    lb.atomic_write_json = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            publish(board, results / "third")
    finally:
        lb.atomic_write_json = real
    assert not (results / "third").exists() and (results / ".third.ganbench-tmp").is_dir()
    assert "third" not in write_index(results).read_text()
    publish(board, results / "third")
    assert (results / "third" / "provenance.json").is_file() and not (results / ".third.ganbench-tmp").exists()


def test_a_board_keeps_its_rows_and_is_rebuilt_and_extended_from_them(tiny_run, plugins, tmp_path, monkeypatch):
    """Run directories are not committed (checkpoints): a published board keeps the rows it was built from
    (runs.json), so it can be rebuilt, re-tested and extended with more runs once they are gone."""
    from ganbench.errors import UsageError
    from ganbench.report import to_csv

    board = build_board([tiny_run], plugins.registry, title="Tiny board")
    folder = tmp_path / "results" / "tiny"
    publish(board, folder)
    again = build_board([folder], plugins.registry, title="Tiny board")
    assert to_csv(again.summary) == to_csv(board.summary)  # every mean, spread, rank, best mark and paired test
    assert len(again.rows) == len(board.rows) == 8 + 8  # cells and reference rows
    prov = again.provenance()
    assert prov["run directories"] == f"{tiny_run} (rows kept by {folder})"
    assert prov["command"] == board.provenance()["command"] and prov["torch"] == torch.__version__
    assert prov["git commit (training)"] == board.provenance()["git commit (training)"]
    assert again.figures == [] and again.notes == [
        f"8 cell(s) of {tiny_run} (rows kept by {folder}) are in the table, not in the plots: a board keeps rows, not "
        "the training histories, points and generators the plots are drawn from"]
    # the board and a run directory together (here the same run: a cell counted once), republished in place
    both = build_board([folder, tiny_run], plugins.registry, title="Tiny board")
    assert to_csv(both.summary) == to_csv(board.summary) and len(both.figures) == len(board.figures)
    assert both.provenance()["run directories"] == str(tiny_run)  # the kept copy, replaced entirely, is no source
    publish(both, folder)
    kept = json.loads((folder / "runs.json").read_text())
    assert [(r["path"], len(r["rows"])) for r in kept["runs"]] == [(str(tiny_run), 16)]  # the rows it counted, once
    assert kept["options"]["title"] == "Tiny board" and kept["options"]["metrics"] is None
    assert to_csv(build_board([folder], plugins.registry).summary) == to_csv(board.summary)
    # extended from the command line: the board's title, metrics and notes are kept unless given again
    res = CliRunner().invoke(cli, ["leaderboard", str(folder), "--metrics", "modes", "--note", "n1", "--publish",
                                   str(folder)], catch_exceptions=False)
    assert res.exit_code == 0 and "as published in" in res.output and "title" in res.output
    res = CliRunner().invoke(cli, ["leaderboard", str(folder), str(tiny_run), "--publish", str(folder)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "as published in " + str(folder) + ": title, notes, metrics (give them to change)" in res.output
    md = (folder / "leaderboard.md").read_text()
    assert md.startswith("# Tiny board") and "- n1" in md and "modes ↑" in md and "fid ↓" not in md
    # republished over from a run that lacks some of its kept rows: refused, nothing written
    partial = tmp_path / "partial"
    shutil.copytree(tiny_run, partial)
    shutil.rmtree(next(p for p in (partial / "cells").iterdir() if p.name.startswith("ring8")))
    res = CliRunner().invoke(cli, ["report", str(partial), "-f", "md"], catch_exceptions=False)
    assert "1 cell(s) of the request have no row (not trained yet, or their result.json is gone)" in res.output
    before = (folder / "leaderboard.md").read_text()
    with pytest.raises(UsageError, match=r"--publish .*: the board there keeps 1 row\(s\) the new board lacks \(ring8"):
        publish(build_board([partial], plugins.registry), folder)
    assert (folder / "leaderboard.md").read_text() == before
    # a board from before boards kept rows (no runs.json): its table's lines are what a publish could lose
    old_board = tmp_path / "old-board"
    shutil.copytree(folder, old_board)
    (old_board / "runs.json").unlink()
    with pytest.raises(UsageError, match=r"--publish .*old-board: the board there has 1 line\(s\) the new board lacks or "
                                         r"has fewer seeds of \(ring8 / .* \(\d seeds, now \d\)\) and keeps no rows"):
        publish(build_board([partial], plugins.registry), old_board)
    assert (old_board / "leaderboard.md").read_text() == before
    publish(build_board([tiny_run], plugins.registry), old_board)  # every line again: published
    publish(build_board([partial], plugins.registry), old_board, replace=True)  # on purpose
    # options of the wrong type in the board's runs.json: one line naming the file and the key
    kept = json.loads((folder / "runs.json").read_text())
    (folder / "runs.json").write_text(json.dumps({**kept, "options": {**kept["options"], "notes": 5}}))
    res = CliRunner().invoke(cli, ["leaderboard", str(folder)])
    assert res.exit_code == 2 and "runs.json: options.notes is 5; expected a list of lines of text" in res.output
    (folder / "runs.json").write_text(json.dumps(kept))
    here = tmp_path / "results" / "here"  # published into the current folder, new and empty
    here.mkdir()
    monkeypatch.chdir(here)
    files = publish(build_board([folder], plugins.registry), Path("."))
    assert files["md"] == Path("leaderboard.md") and (here / "leaderboard.md").is_file()
    assert sorted(p.name for p in here.parent.iterdir()) == ["README.md", "here", "tiny"]  # no staging folder left
    # a damaged file, and a board published before boards kept their rows: one line naming the folder
    kept = json.loads((folder / "runs.json").read_text())
    kept["runs"][0]["rows"][0]["status"] = "fine"
    (folder / "runs.json").write_text(json.dumps(kept))
    with pytest.raises(UsageError, match=r"runs.json: runs\[0\].rows\[0\]: .*status.*publish the board again from"):
        load_runs([folder])
    (folder / "runs.json").unlink()
    with pytest.raises(UsageError, match="is a board published before boards kept their rows"):
        load_runs([folder])


def test_command_line_is_accepted_by_the_run_command(tiny_run):
    from ganbench.cli import run

    suite = json.loads((tiny_run / "suite.json").read_text())
    suite["loss_options"] = {"label-smooth": {"real": 0.8}}
    suite["recipe"] = "same"
    args = shlex.split(command_line(suite))
    assert args[:2] == ["ganbench", "run"]
    params = run.make_context("run", args[2:]).params  # click parses it as 'ganbench run' would
    assert params["datasets"] == "ring8,mnist5k" and params["losses"] == "nonsat,minimax" and params["seeds"] == "0,1"
    assert params["set_opts"] == ("batch_size=32", "eval_every=10", "eval_samples=200", "sample_every=10", "steps=20")
    assert params["loss_opts"] == ("label-smooth.real=0.8",) and params["paper"] is False
    assert params["metrics"] == ",".join(suite["metrics"])


@pytest.mark.slow
def test_leaderboard_cli(tiny_run, tmp_path):
    res = CliRunner().invoke(cli, ["leaderboard", str(tiny_run), "--publish", str(tmp_path / "r" / "b")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"index: {tmp_path / 'r' / 'README.md'}" in res.output
    assert f"runs: {tmp_path / 'r' / 'b' / 'runs.json'}" in res.output
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "r" / "b"), "-f", "md"], catch_exceptions=False)
    assert res.exit_code == 0 and "| ring8 | vanilla | nonsat |" in res.output  # the rows the board kept
    res = CliRunner().invoke(cli, ["report", str(tiny_run), "--plots", str(tmp_path / "plots")], catch_exceptions=False)
    assert res.exit_code == 0 and sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "losses-mnist5k.png", "losses-ring8.png", "samples-mnist5k.png", "scatter-ring8.png", "trajectory-mnist5k.png",
        "trajectory-ring8.png"]
    res = CliRunner().invoke(cli, ["leaderboard", str(tiny_run)], catch_exceptions=False)
    assert res.exit_code == 0 and "git commit" in res.output and "command: ganbench run" in res.output
    blocked = tmp_path / "file"
    blocked.write_text("x")
    res = CliRunner().invoke(cli, ["leaderboard", str(tiny_run), "--publish", str(blocked / "b")])
    assert res.exit_code == 2 and res.output.startswith(f"Error: --publish {blocked / 'b'}: cannot create the folder")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


PROBE = """<script>window.addEventListener("load", () => {
  const t = document.querySelector("table.results").getBoundingClientRect();
  document.body.setAttribute("data-probe", JSON.stringify({
    images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().height]),
    table: [t.width, t.height], rows: document.querySelectorAll("table.results tbody tr").length,
    best: document.querySelectorAll("td.best").length}));
});</script></body>"""


@pytest.mark.skipif(_chromium() is None, reason="no headless browser: install Debian's chromium (apt-get install "
                    "chromium) to open the HTML report in a real browser; .ci/run installs it where it can")
def test_html_report_renders_in_headless_chromium(tiny_run, tmp_path):
    page = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", str(tiny_run), "-f", "html", "-o", str(page)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    text = page.read_text()
    assert "http://" not in text and "https://" not in text.replace("https://arxiv", "")  # nothing fetched
    browser = [_chromium(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    shot = tmp_path / "shot.png"
    subprocess.run([*browser, "--window-size=1300,2400", f"--screenshot={shot}", page.as_uri()], env=env,
                   capture_output=True, timeout=120, check=True)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (2400, 1300)
    assert (img != 255).any(axis=2).mean() > 0.05, "the screenshot is (nearly) blank"
    orange = (img[..., 0] > 200) & (img[..., 1] > 100) & (img[..., 1] < 180) & (img[..., 2] < 80)
    assert orange.sum() > 200, "no plot lines (matplotlib's orange) visible"
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", PROBE))
    dom = subprocess.run([*browser, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    from html import unescape

    data = json.loads(unescape(dom.split('data-probe="', 1)[1].split('"', 1)[0]))
    # 4 cells and 2 references per data set
    assert data["rows"] == 4 + 4 and data["table"][0] > 300 and data["table"][1] > 50 and data["best"] >= 2
    assert len(data["images"]) == 6
    for complete, width, height, shown in data["images"]:
        assert complete and width > 300 and height > 150 and shown > 100
