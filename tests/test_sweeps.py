"""Sweeps and random search (issue 23): the grid they expand to, the same search points for every loss and
re-run, a real swept run with its rows and resume, one-line errors, and the best-of-k estimator checked
against brute-force enumeration of every k-subset."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ganbench import sweeps
from ganbench.api import build_suite
from ganbench.cli import cli
from ganbench.errors import UsageError
from ganbench.leaderboard import build_board
from ganbench.plugins import load_plugins
from ganbench.suite import Suite


@pytest.fixture(scope="module")
def registry():
    return load_plugins().registry


def _points(cells, model, loss):
    return [c.point for c in cells if (c.model, c.loss, c.seed) == (model, loss, 0)]


# (sweep axes, models, losses) -> the points each (model, loss) trains, as the docs describe them
EXPANSIONS = [
    ({"lr_d": ["1e-4", "2e-4"]}, ["vanilla"], ["nonsat"],
     {("vanilla", "nonsat"): [(("lr_d", 1e-4),), (("lr_d", 2e-4),)]}),
    # joined keys take one value together; the last axis varies fastest
    ({"lr_g+lr_d": [1e-4, 1e-3], "n_critic": [1, 5]}, ["vanilla"], ["nonsat"],
     {("vanilla", "nonsat"): [((k, lr), (k2, lr), ("n_critic", n)) for lr in (1e-4, 1e-3) for n in (1, 5)
                              for k, k2 in [("lr_d", "lr_g")]]}),
    # a model's option applies to that model's cells only: the other model trains each remaining point once
    ({"dcgan.norm": ["batch", "spectral"], "beta1": [0.0, 0.5]}, ["vanilla", "dcgan"], ["nonsat"],
     {("dcgan", "nonsat"): [(("beta1", b), ("dcgan.norm", n)) for n in ("batch", "spectral") for b in (0.0, 0.5)],
      ("vanilla", "nonsat"): [(("beta1", 0.0),), (("beta1", 0.5),)]}),
    # joined keys with one value each (V1:V2 on the command line, a list in TOML): PacGAN-k's pack and batch
    ({"pacgan.pack+batch_size": [[1, 100], [2, 200]]}, ["pacgan"], ["nonsat"],
     {("pacgan", "nonsat"): [(("batch_size", 100), ("pacgan.pack", 1)), (("batch_size", 200), ("pacgan.pack", 2))]}),
    # a loss's option: only that loss's cells
    ({"wgan.clip": [0.01, 0.1]}, ["vanilla"], ["nonsat", "wgan"],
     {("vanilla", "wgan"): [(("wgan.clip", 0.01),), (("wgan.clip", 0.1),)], ("vanilla", "nonsat"): [()]}),
]


@pytest.mark.parametrize("axes, models, losses, expected", EXPANSIONS)
def test_sweep_expands_to_the_documented_cells(registry, axes, models, losses, expected):
    suite = build_suite(registry, models=models, losses=losses, datasets="ring8", seeds="0,1", sweep=axes)
    cells = suite.cells()
    for (model, loss), points in expected.items():
        assert _points(cells, model, loss) == points
    assert len(cells) == 2 * sum(len(p) for p in expected.values())
    assert len({c.id for c in cells}) == len(cells)  # every point of every seed has a directory of its own
    # the command-line spelling ('1e-4' as text) gives the same cells as typed values
    typed = build_suite(registry, models=models, losses=losses, datasets="ring8", seeds="0,1",
                        sweep=[f"{k}=" + ",".join(":".join(map(str, x)) if isinstance(x, list) else str(x) for x in v)
                               for k, v in axes.items()])
    assert [c.id for c in typed.cells()] == [c.id for c in cells]


def test_search_points_are_the_same_for_every_loss_and_re_run(registry):
    def suite(losses, seed=0):
        return build_suite(registry, models="vanilla,dcgan", losses=losses, datasets="ring8", seeds="0", search=6,
                           space="lucic2018-wide", search_seed=seed)

    one, other = suite("nonsat,wgan"), suite("hinge")
    common = ("beta1", "lr_d", "lr_g", "n_critic")
    shared = [[dict(p)[k] for k in common] for p in _points(one.cells(), "vanilla", "nonsat")]
    assert len(shared) == 6 and len({tuple(p) for p in shared}) == 6
    for s, model, loss in ((one, "vanilla", "wgan"), (one, "dcgan", "nonsat"), (other, "vanilla", "hinge")):
        assert [[dict(p)[k] for k in common] for p in _points(s.cells(), model, loss)] == shared
    wgan = [dict(p) for p in _points(one.cells(), "vanilla", "wgan")]
    assert all(1e-3 <= p["wgan.clip"] <= 1 and "wgan-gp.lambda" not in p for p in wgan)  # its own key only
    assert all(p["dcgan.norm"] in ("batch", "none") for p in map(dict, _points(one.cells(), "dcgan", "nonsat")))
    assert all(0 <= beta1 < 1 and 1e-5 <= lr_d <= 1e-2 and lr_d == lr_g and n in (1, 5)
               for beta1, lr_d, lr_g, n in shared)
    assert [c.id for c in suite("nonsat,wgan").cells()] == [c.id for c in one.cells()]  # a re-run draws them again
    assert [c.id for c in suite("nonsat,wgan", seed=1).cells()] != [c.id for c in one.cells()]
    # the request records the space itself, so a resumed run draws from what it was given
    assert Suite.from_dict(json.loads(json.dumps(one.to_dict()))).cells() == one.cells()
    # a point equal to an earlier one is drawn again (N points are N settings: the board says 'best of N');
    # a value rounded to 4 digits stays inside its range
    small = sweeps.draw({"n_critic": sweeps.Dist("choice", (1, 2, 3))}, 3, seed=0)
    assert sorted(p["n_critic"] for p in small) == [1, 2, 3]
    with pytest.raises(UsageError, match=r"^--search 7 asks for 7 settings; the space holds only 6 \(every key"):
        sweeps.check_search({"n_critic": sweeps.Dist("choice", (1, 2, 3)), "g_steps": sweeps.Dist("integer", (1, 2))}, 7)
    with pytest.raises(UsageError, match=r"^--search 3 asks for 3 settings; the space holds only 2"):
        build_suite(registry, models="vanilla", losses="nonsat", datasets="ring8", search=3,
                    space={"n_critic": {"choice": [1, 2]}})
    edge = sweeps.draw({"beta2": sweeps.Dist("uniform", (0.9, 0.9999))}, 200, seed=0)
    assert all(0.9 <= p["beta2"] <= 0.9999 for p in edge) and len({p["beta2"] for p in edge}) == 200
    with pytest.raises(UsageError, match=r"key 'dcgan.norm': a value may not contain ';', got 'batch;x'"):
        sweeps.parse_space({"dcgan.norm": {"choice": ["batch;x", "none"]}}, "space")  # the point column's separator


def test_expected_best_matches_every_k_subset():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 7):
        values = [float(v) for v in rng.normal(size=n)]
        values[0] = values[-1]  # ties
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(values, k))
            assert sweeps.expected_best(values, k) == pytest.approx(np.mean([min(s) for s in subsets]), rel=1e-12)
            assert sweeps.expected_best(values, k, higher=True) == pytest.approx(np.mean([max(s) for s in subsets]),
                                                                                 rel=1e-12)
    curve = sweeps.best_of_k({0: [3.0, 1.0, 2.0], 1: [5.0, 4.0, 6.0]})
    assert [r["k"] for r in curve] == [1, 2, 3] and curve[2]["mean"] == pytest.approx((1 + 4) / 2)
    assert curve[0]["mean"] == pytest.approx((2 + 5) / 2) and curve[0]["std"] == pytest.approx(np.std([2, 5], ddof=1))


def test_best_setting_is_chosen_on_some_seeds_and_reported_on_the_others():
    # point a wins on the selection seeds (0, 1) by luck; its estimate comes from seeds 2, 3 only
    table = {"a": {0: 1.0, 1: 1.0, 2: 9.0, 3: 7.0}, "b": {0: 2.0, 1: 2.0, 2: 2.0, 3: 2.0}, "c": {0: 5.0, 2: 0.0}}
    out = sweeps.select_and_report(table)
    assert out["select_seeds"] == [0, 1] and out["report_seeds"] == [2, 3]
    assert out["point"] == "a" and out["candidates"] == 2  # c lacks seed 1: not a candidate
    assert out["mean"] == pytest.approx(8.0) and out["std"] == pytest.approx(np.std([9, 7], ddof=1)) and out["honest"]
    high = sweeps.select_and_report(table, higher=True)  # b now wins selection: reported on seeds 2, 3
    assert high["point"] == "b" and high["mean"] == pytest.approx(2.0) and high["select_mean"] == pytest.approx(2.0)
    lone = sweeps.select_and_report({"a": {0: 1.0}})
    assert lone["point"] == "a" and not lone["honest"] and lone["n"] == 0


SWEPT_ARGS = ["run", "-d", "ring8", "-m", "vanilla", "-l", "nonsat", "-s", "0,1", "--steps", "10", "--batch-size", "32",
              "--metrics", "modes", "--set", "eval_samples=200", "--set", "sample_every=0", "--device", "cpu",
              "--sweep", "lr_g+lr_d=1e-4,1e-3", "--sweep", "vanilla.norm=none,batch", "-q"]


@pytest.fixture(scope="module")
def swept_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swept")
    res = CliRunner().invoke(cli, [*SWEPT_ARGS, "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def test_a_swept_run_has_a_row_per_point_and_resumes(swept_run):
    df = pd.read_csv(swept_run / "results.csv")
    assert len(df) == 8 and (df["status"] == "ok").all() and df["cell_id"].nunique() == 8
    assert sorted(set(df["point"])) == sorted(f"lr_d={lr};lr_g={lr};vanilla.norm={n}" for lr in ("0.0001", "0.001")
                                              for n in ("batch", "none"))
    for row in df.itertuples():  # the swept values are the cell's effective settings and options
        point = dict(item.split("=") for item in row.point.split(";"))
        assert row.hp_lr_d == row.hp_lr_g == float(point["lr_d"]) and f"norm={point['vanilla.norm']}" in row.model_options
        assert "lr_d=user" in row.hp_source
    before = {p.name: p.stat().st_mtime_ns for p in (swept_run / "cells").glob("*/result.json")}
    again = CliRunner().invoke(cli, [*SWEPT_ARGS, "-o", str(swept_run)], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert {p.name: p.stat().st_mtime_ns for p in (swept_run / "cells").glob("*/result.json")} == before
    rep = CliRunner().invoke(cli, ["report", str(swept_run), "--format", "csv"], catch_exceptions=False)
    summary = pd.read_csv(pd.io.common.StringIO(rep.output))
    assert summary.loc[summary["model"] == "vanilla", "point"].nunique() == 4  # points are never averaged together


def test_a_sweep_board_ranks_the_best_setting_on_other_seeds(swept_run, tmp_path):
    df = pd.read_csv(swept_run / "results.csv")
    res = CliRunner().invoke(cli, ["leaderboard", str(swept_run), "--metrics", "mode_kl", "--best-setting",
                                   "--publish", str(tmp_path / "board")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "board" / "leaderboard.md").read_text()
    on = {s: df[df["seed"] == s].set_index("point")["mode_kl"] for s in (0, 1)}
    chosen = on[0].idxmin()  # chosen on seed 0 (the first half), shown on seed 1 only
    table = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    mine = table[table["model"] == "vanilla"].iloc[0]
    assert mine["seeds"] == 1 and "point" not in table  # one row per loss: losses pair by seed
    assert mine["mode_kl_mean"] == pytest.approx(on[1][chosen])
    assert f"best of 4 points, chosen on seed(s) 0: {chosen}" in mine["note"]
    for best in (["--best-setting"], []):  # the best-of-k section takes --select-seeds too: refused alike
        one_seed = CliRunner().invoke(cli, ["leaderboard", str(swept_run), *best, "--select-seeds", "0,1"])
        assert one_seed.exit_code == 2 and "is every seed of these runs" in one_seed.output
        assert len(one_seed.output.strip().splitlines()) == 1
        unknown = CliRunner().invoke(cli, ["leaderboard", str(swept_run), *best, "--select-seeds", "7"])
        assert unknown.exit_code == 2 and "--select-seeds 7: not a seed of these runs" in unknown.output
    # the best-of-k section: every k of the 4 points against brute force, per seed, then the mean
    for k in (1, 2, 4):
        want = np.mean([np.mean([min(c) for c in itertools.combinations(on[s].tolist(), k)]) for s in (0, 1)])
        assert f"{want:.4g}" in md
    for name in ("sweep-best-of-k-ring8-mode_kl", "sweep-sensitivity-ring8-mode_kl"):
        assert (tmp_path / "board" / "plots" / f"{name}.png").stat().st_size > 1000
    assert "--sweep lr_g+lr_d=0.0001,0.001 --sweep vanilla.norm=none,batch" in md  # the command that reproduces it
    # a loss with no point measured on every selection seed says why it has no row, rather than vanish
    broken = tmp_path / "broken"
    shutil.copytree(swept_run, broken)
    for cell in broken.glob("cells/*__s0*/result.json"):
        row = json.loads(cell.read_text())
        cell.write_text(json.dumps({**row, "mode_kl": None}))
    (broken / "results.csv").unlink()
    board = build_board([broken], load_plugins().registry, metrics=["mode_kl"], best_setting=True)
    assert any(n.startswith("ring8/vanilla/nonsat has no row: none of its 4 points has a mode_kl on every selection "
                            "seed (0)") for n in board.notes)


@pytest.mark.parametrize("args, message", [
    (["--sweep", "lr_d=1e-4,abc"], "sweep setting 'lr_d' expects float, got 'abc'"),
    (["--sweep", "nosuch=1,2"], "sweep key 'nosuch': unknown setting 'nosuch'"),
    (["--sweep", "vanilla.norm=none,fancy"], "sweep key 'vanilla.norm' expects one of"),
    (["--sweep", "lr_d=1e-4,2e-4", "--set", "lr_d=1e-3"], "'lr_d' is also set to one value"),
    (["--sweep", "lr_d=1e-4,1e-4"], "lists 0.0001 more than once"),
    (["--search", "3"], "--search N draws points from a search space"),
    (["--search", "3", "--space", "nosuch-preset"], "neither a search space preset"),
    (["--search", "2", "--space", "{space}"], "space.toml: key 'n_critic': setting 'n_critic' takes integers"),
])
def test_bad_sweep_input_is_one_line_and_exit_2(tmp_path, args, message):
    space = tmp_path / "space.toml"
    space.write_text('[space]\nn_critic = {log-uniform = [1, 5]}\n')
    args = [a.replace("{space}", str(space)) for a in args]
    res = CliRunner().invoke(cli, ["run", "-d", "ring8", "-m", "vanilla", "-l", "nonsat", *args, "-o",
                                   str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
    assert len([line for line in res.output.splitlines() if line.strip()]) == 1, res.output
    assert not (tmp_path / "run").exists()


def test_a_bad_space_file_names_the_file_and_key(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('[space]\nlr_d = {gaussian = [0, 1]}\n')
    with pytest.raises(Exception, match=f"space file {path}: key 'lr_d' has unknown distribution 'gaussian'"):
        sweeps.load_space(str(path))
    path.write_text('[space]\nlr_d = {log-uniform = [0, 1]}\n')
    with pytest.raises(Exception, match=r"key 'lr_d' expects log-uniform \[low, high\] with 0 < low < high"):
        sweeps.load_space(str(path))


def test_suite_file_sweep_and_search(registry, tmp_path):
    path = tmp_path / "suite.toml"
    path.write_text('datasets = ["ring8"]\nmodels = ["vanilla"]\nlosses = ["nonsat"]\nseeds = [0]\nsearch = 2\n'
                    'space = "lucic2018-narrow"\n[sweep]\nbatch_size = [32, 64]\n')
    suite = build_suite(registry, suite_file=path)
    sizes = [dict(c.point)["batch_size"] for c in suite.cells()]
    assert sizes == [32, 32, 64, 64] and all(dict(c.point)["beta1"] == 0.5 for c in suite.cells())
    # the preset's key that is already taken is refused, naming both
    with pytest.raises(Exception, match="'vanilla.norm' is already in sweep key 'vanilla.norm'"):
        build_suite(registry, suite_file=path, sweep=["vanilla.norm=none,batch"])
    # the command line adds an axis to the file's
    more = build_suite(registry, suite_file=path, sweep=["latent_dim=2,8"])
    assert len(more.cells()) == 8
    path.write_text('[sweep]\nn_critic = [1, "five"]\n')
    with pytest.raises(Exception, match=rf"suite file {path}: key 'sweep.n_critic': setting 'n_critic' expects int"):
        build_suite(registry, suite_file=path)


def test_failed_points_rank_last_and_all_failed_subsets_are_left_out():
    values, failed = [3.0, 1.0, 2.0], 2  # N = 5 points, two of them failed on this seed
    for k in range(1, 6):
        subsets = [s for s in itertools.combinations([*values, None, None], k) if any(v is not None for v in s)]
        want = np.mean([min(v for v in s if v is not None) for s in subsets]) if subsets else float("nan")
        got = sweeps.expected_best(values, k, failed=failed)
        assert got == pytest.approx(want, rel=1e-12) if subsets else np.isnan(got)
        assert sweeps.all_failed(5, failed, k) == pytest.approx(
            sum(all(v is None for v in s) for s in itertools.combinations([*values, None, None], k))
            / len(list(itertools.combinations(range(5), k))))
    # no overflow at large N: the minimum of k of 0..N-1 has mean (N - k) / (k + 1)
    assert sweeps.expected_best(list(range(1100)), 550) == pytest.approx(550 / 551, rel=1e-9)


def test_search_points_survive_suite_json_and_bad_search_requests_are_refused_early(registry):
    one = build_suite(registry, models="vanilla", losses="wgan", datasets="ring8", seeds="0", search=4,
                      space="lucic2018-wide")
    stored = json.loads(json.dumps(one.to_dict(), sort_keys=True))  # as suite.json keeps it: keys sorted
    assert Suite.from_dict(stored).cells() == one.cells()
    with pytest.raises(Exception, match="this request has 2,000,000 cells .*2000000 points"):
        build_suite(registry, models="vanilla", losses="nonsat", datasets="ring8", seeds="0", search=2_000_000,
                    space="lucic2018-wide")
    with pytest.raises(Exception, match="'eval_samples' cannot be swept: reports compare only cells measured alike"):
        build_suite(registry, models="vanilla", losses="nonsat", datasets="ring8", sweep=["eval_samples=100,200"])
    with pytest.raises(Exception, match="none of its keys .* applies to a model or loss of this run"):
        build_suite(registry, models="vanilla", losses="nonsat", datasets="ring8", search=2,
                    space={"wgan.clip": {"log-uniform": [0.01, 0.1]}})
    with pytest.raises(Exception, match="option 'vanilla.hidden' takes integers"):
        build_suite(registry, models="vanilla", losses="nonsat", datasets="ring8", search=2,
                    space={"vanilla.hidden": {"log-uniform": [64, 512]}})
    with pytest.raises(Exception, match="option 'label-smooth.real' expects a value in"):
        build_suite(registry, models="vanilla", losses="label-smooth", datasets="ring8", search=2,
                    space={"label-smooth.real": {"uniform": [0.5, 1.5]}})


def test_cells_outside_the_sweep_group_pair_and_plot_like_the_others():
    from ganbench.report import summarize

    rows = [{"cell_id": f"{loss}{s}", "dataset": "ring8", "model": "vanilla", "loss": loss, "seed": s, "status": "ok",
             "message": "", "mode_kl": value + 0.01 * s, "point": point}
            for s in range(6) for loss, value, point in (("nonsat", 1.0, None), ("wgan", 0.1, "wgan.clip=0.01"))]
    summary = summarize(pd.DataFrame(rows), [("mode_kl", False)], baseline="nonsat").set_index("loss")
    assert list(summary["point"]) == ["wgan.clip=0.01", ""] or list(summary["point"]) == ["", "wgan.clip=0.01"]
    assert summary.loc["wgan", "mode_kl_best"] and not summary.loc["nonsat", "mode_kl_best"]  # separated: 6 seeds
    assert summary.loc["wgan", "mode_kl_pairs"] == 6 and summary.loc["wgan", "mode_kl_delta"] == pytest.approx(-0.9)


def test_integer_settings_take_scientific_notation_when_it_is_whole():
    from ganbench.suite import coerce_setting

    assert coerce_setting("schedule_images", "2e7") == 20_000_000 and coerce_setting("steps", "1e4") == 10_000
    with pytest.raises(Exception, match="setting 'steps' expects int, got '2.5e0'"):
        coerce_setting("steps", "2.5e0")
