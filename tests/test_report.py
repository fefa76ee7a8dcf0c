"""Reports: aggregates of hand-made result rows against numbers computed here, the protocol checks,
the paired comparison, every output format parsed back, and the CLI."""

from __future__ import annotations

import io
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from ganbench.cli import cli
from ganbench.errors import UsageError
from ganbench.report import (
    MIN_PAIRED,
    display,
    load_runs,
    metric_columns,
    paired_test,
    render,
    summarize,
    to_latex,
    to_markdown,
    wilcoxon_p,
)
from ganbench.store import atomic_write_json

FID = ("fid", False)
MODES = ("modes", True)


def row(model="vanilla", loss="nonsat", seed=0, status="ok", dataset="mnist5k", **values):
    base = {"dataset": dataset, "model": model, "loss": loss, "seed": seed, "status": status, "message": "",
            "config_hash": f"{model}-{loss}", "hp_steps": 1200, "hp_batch_size": 64, "hp_eval_samples": 2000,
            "hp_real_samples": 10000, "steps_per_s": 10.0, "started_at": "2026-11-22T10:00:00+00:00",
            "recipe": "paper"}
    if status == "ok":
        base.update(fid_extractor="domain:abc", diverged=False)
    if status == "diverged":
        base.update(diverged=True, message="non-finite d_loss at step 7")
    base.update(values)
    base["cell_id"] = f"{dataset}__{model}__{loss}__s{seed}"
    return base


def make_run(path: Path, rows, fingerprint="fp1", environment=None) -> Path:
    for r in rows:
        cell = path / "cells" / r["cell_id"]
        atomic_write_json(cell / "result.json", r)
        atomic_write_json(cell / "config.json", {"data_fingerprint": fingerprint, "settings": {}})
    cells = [r for r in rows if not r.get("reference")]  # the request the rows answer: every cell has its row
    atomic_write_json(path / "suite.json", {
        **{axis: sorted({r[key] for r in cells}) or default for axis, key, default in (
            ("datasets", "dataset", ["mnist5k"]), ("models", "model", ["vanilla"]), ("losses", "loss", ["nonsat"]),
            ("seeds", "seed", [0]))},
        "settings": {}, "recipe": "paper"})
    atomic_write_json(path / "environment.json", environment or {"ganbench": "0.1.0", "torch": "2.x", "device": "cpu",
                                                                 "git_commit": "abc123", "plugins": {"p": "d 1.0"}})
    return path


FIDS = {"nonsat": [100.0, 110.0, 130.0], "minimax": [90.0, 95.0, 160.0]}


@pytest.fixture
def run_dir(tmp_path):
    rows = [row(loss=loss, seed=s, fid=f, modes=10 - s) for loss, fids in FIDS.items() for s, f in enumerate(fids)]
    rows += [row(loss="wgan", seed=0, fid=300.0, modes=4), row(loss="wgan", seed=1, status="diverged", diverged_at=7),
             row(loss="wgan", seed=2, status="failed", message="RuntimeError: boom")]
    return make_run(tmp_path / "run", rows)


def test_aggregates_match_an_independent_computation(run_dir):
    df, _ = load_runs([run_dir])
    s = summarize(df, [FID, MODES, ("diverged", False)]).set_index("loss")
    for loss, fids in FIDS.items():
        x = np.array(fids)
        assert s.loc[loss, "fid_mean"] == pytest.approx(x.mean())
        assert s.loc[loss, "fid_std"] == pytest.approx(x.std(ddof=1))
        # 95% Student-t half-width, t(0.975, 2) = 4.302652729911275
        assert s.loc[loss, "fid_ci95"] == pytest.approx(4.302652729911275 * x.std(ddof=1) / math.sqrt(3))
        assert s.loc[loss, "fid_n"] == 3 and s.loc[loss, "n_ok"] == 3
    w = s.loc["wgan"]
    assert (w["seeds"], w["n_ok"], w["n_diverged"], w["n_failed"]) == (3, 1, 1, 1)
    assert w["fid_mean"] == 300.0 and w["fid_n"] == 1 and math.isnan(w["fid_std"]) and math.isnan(w["fid_ci95"])
    # the diverged seed has no FID but counts for 'diverged': 1 of the 2 measured seeds
    assert w["diverged_mean"] == pytest.approx(0.5) and w["diverged_n"] == 2
    assert "RuntimeError: boom" in w["note"]
    # ranks: FID lower is better (nonsat 113.3 < minimax 115 < wgan 300), modes higher is better
    assert s["fid_rank"].to_dict() == {"nonsat": 1.0, "minimax": 2.0, "wgan": 3.0}
    # 3 seeds cannot separate two rows (the paired test needs 6): every measured row is tied for best
    assert s["fid_best"].all() and s["fid_q_best"].isna().all()
    assert any("weak evidence" in note for note in s.attrs["evidence"])
    assert s.loc["nonsat", "modes_rank"] == 1 and s.loc["minimax", "modes_rank"] == 1  # a tie shares rank 1
    assert s.loc["wgan", "modes_rank"] == 3
    # sorted by the first metric within the data set
    assert list(summarize(df, [FID])["loss"]) == ["nonsat", "minimax", "wgan"]


def bh(ps):
    """Benjamini–Hochberg adjusted p-values by hand (numpy): q_(i) = min over j >= i of p_(j)·m/j."""
    ps = np.asarray(ps, dtype=float)
    order = np.argsort(ps)
    m = len(ps)
    ranked = ps[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    out = np.empty(m)
    out[order] = q
    return out


def best_table(means, seeds=8, spread=1.0, dataset="mnist5k"):
    """Rows of losses whose FID per seed is mean + a seed effect shared by all losses (common random
    numbers) × spread + the k-th loss's own noise (the seed pattern shifted by 3k, × 0.3)."""
    pattern = [0.3, -0.5, 0.9, -0.2, 0.4, -0.8, 0.1, -0.6, 0.7, -0.4][:seeds]
    return [row(loss=loss, seed=s, dataset=dataset, fid=mean + spread * pattern[s] + 0.3 * pattern[(s + 3 * k) % seeds])
            for k, (loss, mean) in enumerate(means.items()) for s in range(seeds)]


@pytest.mark.parametrize("means, best", [
    ({"a": 10.0, "b": 20.0, "c": 30.0}, {"a"}),  # a clear winner: separated from both on every seed
    ({"a": 10.0, "b": 10.02, "c": 30.0}, {"a", "b"}),  # a tie within noise, one clearly worse
    ({"a": 10.0, "b": 10.01, "c": 10.02}, {"a", "b", "c"}),  # a three-way tie
])
def test_best_is_marked_only_where_the_paired_evidence_holds(tmp_path, means, best):
    df, _ = load_runs([make_run(tmp_path / "run", best_table(means))])
    s = summarize(df, [FID]).set_index("loss")
    assert set(s.index[s["fid_best"]]) == best
    assert s.attrs["evidence"] == []  # 8 seeds, nothing missing, nothing shared the machine
    # the p-values are scipy's one-sided Wilcoxon ("worse": a higher FID) of the per-seed differences to
    # the top-mean row 'a'
    fid = df.pivot_table(index="seed", columns="loss", values="fid")
    for loss in set(means) - {"a"}:
        assert s.loc[loss, "fid_p_best"] == pytest.approx(stats.wilcoxon(fid[loss] - fid["a"], alternative="greater").pvalue)


def test_a_row_better_on_most_seeds_is_not_separated_by_an_outlier(tmp_path):
    """b beats a on 7 of 8 seeds, but one disastrous seed gives it the worse mean: a has the top mean,
    yet b is not 'significantly worse' (the test is one-sided), so both are marked."""
    rows = [row(loss="a", seed=s, fid=10.0 + 0.1 * s) for s in range(8)]
    rows += [row(loss="b", seed=s, fid=(9.5 if s else 30.0) + 0.1 * s) for s in range(8)]
    df, _ = load_runs([make_run(tmp_path / "run", rows)])
    s = summarize(df, [FID]).set_index("loss")
    assert s.loc["a", "fid_mean"] < s.loc["b", "fid_mean"] and s["fid_best"].all()



def test_a_row_of_few_seeds_is_not_the_row_the_others_are_tested_against(tmp_path):
    """c has the best mean from one seed (the others diverged without a value): the top row is a, the best of
    the rows measured on 6 seeds or more, so b is still separated from it; c cannot be, and is tied."""
    rows = best_table({"a": 10.0, "b": 20.0})
    rows += [row(loss="c", seed=s, fid=1.0 if s == 0 else None, status="ok" if s == 0 else "diverged")
             for s in range(8)]
    df, _ = load_runs([make_run(tmp_path / "run", rows)])
    s = summarize(df, [FID]).set_index("loss")
    assert s.loc["c", "fid_n"] == 1 and s.loc["c", "fid_mean"] < s.loc["a", "fid_mean"]
    assert set(s.index[s["fid_best"]]) == {"a", "c"} and math.isnan(s.loc["c", "fid_p_best"])

def test_best_adjusts_every_claim_of_a_table_together(tmp_path):
    """Benjamini–Hochberg over both data sets' comparisons, checked against a numpy computation; a
    data set with fewer than 6 seeds has no test and is tied, and says so."""
    rows = best_table({"a": 10.0, "b": 10.3, "c": 12.0}) + best_table({"a": 5.0, "b": 9.0}, seeds=3, dataset="digits")
    df, _ = load_runs([make_run(tmp_path / "run", rows)])
    s = summarize(df, [FID])
    mn = s[s["dataset"] == "mnist5k"].set_index("loss")
    ps = [mn.loc["b", "fid_p_best"], mn.loc["c", "fid_p_best"]]
    assert list(mn.loc[["b", "c"], "fid_q_best"]) == pytest.approx(list(bh(ps)))
    assert list(mn["fid_best"]) == [True, *(bh(ps) >= 0.05)]
    dg = s[s["dataset"] == "digits"].set_index("loss")
    assert dg["fid_best"].all() and dg["fid_q_best"].isna().all()
    assert any("3 seed(s)" in note for note in s.attrs["evidence"])
    assert "weak evidence" in display(s, [FID]).caption.lower()


def test_evidence_flags_missing_cells_and_shared_machines(tmp_path):
    rows = best_table({"a": 10.0, "b": 20.0}, seeds=6)
    rows[0]["other_runs"] = 1
    rows[-1] = row(loss="b", seed=5, status="failed", message="RuntimeError: boom")
    df, _ = load_runs([make_run(tmp_path / "run", rows)])
    notes = summarize(df, [FID]).attrs["evidence"]
    assert any("missing cells: 1 failed" in n for n in notes)
    assert any("1 cell(s) trained while other runs" in n for n in notes)


def test_group_by_and_metric_selection(run_dir, plugins):
    df, _ = load_runs([run_dir])
    by_loss = summarize(df, [FID], by=["loss"])
    assert set(by_loss.columns) >= {"loss", "fid_mean"} and "model" not in by_loss.columns
    cols = metric_columns(plugins.registry, df, ["fid", "diverged", "modes"])
    assert cols == [("fid", False), ("diverged", False), ("modes", True)]
    assert metric_columns(plugins.registry, df) == [("modes", True), ("fid", False)] or \
        set(metric_columns(plugins.registry, df)) == {("modes", True), ("fid", False)}
    with pytest.raises(UsageError, match="no metric column 'fdi' in these results; columns with values: "):
        metric_columns(plugins.registry, df, ["fdi"])
    with pytest.raises(UsageError, match=r"--by colour: no such column; choose from "):
        summarize(df, [FID], by=["colour"])


def test_data_sets_are_never_averaged_together(tmp_path):
    run = make_run(tmp_path / "r", [row(seed=0, fid=1.0), row(seed=0, dataset="ring8", fid=2.0)])
    df, _ = load_runs([run])
    with pytest.raises(UsageError, match="the rows span data sets mnist5k, ring8; add 'dataset' to --by"):
        summarize(df, [FID], by=["loss"])
    assert len(summarize(df, [FID], by=["dataset", "loss"])) == 2


@pytest.mark.parametrize(
    "change, words, values",
    [
        ({"hp_steps": 600}, "steps", "1200 vs 600"),
        ({"hp_eval_samples": 500}, "generated samples (eval_samples)", "2000 vs 500"),
        ({"hp_real_samples": 5000}, "real samples (real_samples)", "10000 vs 5000"),
        ({"fid_extractor": "inception:0123"}, "feature extractor", "domain:abc vs inception:0123"),
    ],
)
def test_runs_with_different_protocols_are_refused(tmp_path, change, words, values):
    a = make_run(tmp_path / "a", [row(seed=0, fid=1.0)])
    b = make_run(tmp_path / "b", [row(seed=1, fid=2.0, **change)])
    with pytest.raises(UsageError) as err:
        load_runs([a, b])
    assert str(err.value) == (f"cannot merge {a} and {b}: {words} differ on mnist5k ({values}); "
                              "report them separately")


def test_different_data_versions_are_refused_and_matching_runs_merge(tmp_path):
    a = make_run(tmp_path / "a", [row(seed=0, fid=1.0)], fingerprint="fp1")
    b = make_run(tmp_path / "b", [row(seed=1, fid=2.0)], fingerprint="fp2")
    with pytest.raises(UsageError, match=r"data set version differ on mnist5k \(fp1 vs fp2\)"):
        load_runs([a, b])
    c = make_run(tmp_path / "c", [row(seed=1, fid=3.0), row(seed=2, fid=5.0)], fingerprint="fp1")
    df, runs = load_runs([a, c])
    assert len(runs) == 2 and sorted(df["seed"]) == [0, 1, 2]
    assert summarize(df, [FID]).iloc[0]["fid_mean"] == pytest.approx(3.0)
    # a different data set in the other run is no conflict
    d = make_run(tmp_path / "d", [row(seed=0, dataset="ring8", fid=9.0, hp_steps=5000)], fingerprint="other")
    assert len(load_runs([a, d])[0]) == 2



def test_runs_whose_conditional_metrics_used_other_classifiers_are_not_merged(tmp_path):
    """cond_acc is measured with a classifier (cond_classifier), an instrument as the feature extractors are:
    two runs scored by different weights are refused like two extractors."""
    a = make_run(tmp_path / "a", [row(seed=0, fid=1.0, cond_acc=0.8, cond_classifier="domain:aaa")])
    b = make_run(tmp_path / "b", [row(seed=1, fid=2.0, cond_acc=0.7, cond_classifier="domain:bbb")])
    with pytest.raises(UsageError, match=r"feature extractor differ on mnist5k"):
        load_runs([a, b])
    same = make_run(tmp_path / "same", [row(seed=2, fid=3.0, cond_acc=0.9, cond_classifier="domain:aaa")])
    assert len(load_runs([a, same])[0]) == 2

def test_a_seed_is_never_counted_twice(tmp_path):
    a = make_run(tmp_path / "a", [row(seed=0, fid=1.0)])
    same = make_run(tmp_path / "same", [row(seed=0, fid=1.0)])
    assert len(load_runs([a, same])[0]) == 1  # the same configuration copied: one row
    other = make_run(tmp_path / "other", [row(seed=0, fid=2.0, config_hash="changed")])
    with pytest.raises(UsageError, match="cell mnist5k__vanilla__nonsat__s0 is in .* with different configurations"):
        load_runs([a, other])



def test_seeds_of_one_row_that_ran_with_different_settings_are_not_averaged(tmp_path):
    """Runs merged into one table: seeds of the same data set, model and loss at another learning rate, loss
    option or recipe are refused in one line naming the setting; how seeds were batched (replicas) or how
    often pictures were drawn may differ, a setting an older run does not record is not compared, and
    another loss's settings are its own."""
    a = make_run(tmp_path / "a", [row(seed=0, fid=1.0, hp_lr_d=1e-4, hp_replicas=1, loss_options="")])
    for name, extra, what in (("lr", {"hp_lr_d": 2e-4}, r"lr_d \(0.0001 vs 0.0002\)"),
                              ("opt", {"loss_options": "gamma=1.0"}, r"loss_options \(— vs gamma=1.0\)"),
                              ("recipe", {"recipe": "same"}, r"recipe \(paper vs same\)")):
        b = make_run(tmp_path / name, [row(seed=1, fid=2.0, **{"hp_lr_d": 1e-4, **extra})])
        with pytest.raises(UsageError, match=r"^cannot merge .*a and .*: the seeds of mnist5k/vanilla/nonsat ran with "
                                             rf"different {what}, and a table averages them as one configuration"):
            load_runs([a, b])
    # --by that keeps them apart, or that averages configurations on purpose: merged
    assert len(load_runs([a, b], by=["dataset", "model", "loss", "recipe"])[0]) == 2
    assert len(load_runs([a, b], by=["dataset"])[0]) == 2
    fine = make_run(tmp_path / "fine", [row(seed=1, fid=2.0, hp_lr_d=1e-4, hp_replicas=10, hp_sample_every=7),
                                        row(seed=2, fid=3.0, model="dcgan", config_hash="d", hp_lr_d=2e-4)])
    older = make_run(tmp_path / "older", [row(seed=3, fid=4.0)])  # no hp_lr_d recorded
    assert len(load_runs([a, fine, older])[0]) == 4
    # a setting added later (g_steps): absent from an older run's rows, which trained at its neutral value 1
    two = make_run(tmp_path / "two", [row(seed=4, fid=5.0, hp_lr_d=1e-4, hp_g_steps=2)])
    with pytest.raises(UsageError, match=r"different g_steps \(1 vs 2\)"):
        load_runs([older, two])
    assert len(load_runs([older, make_run(tmp_path / "one", [row(seed=5, fid=5.0, hp_g_steps=1)])])[0]) == 2
    # a plugin's numbers-changing revision: a row without one ran at revision 0
    revised = make_run(tmp_path / "revised", [row(seed=6, fid=6.0, revision="model=1")])
    with pytest.raises(UsageError, match=r"different revision \(0 vs model=1\)"):
        load_runs([older, revised])
    assert len(load_runs([revised, make_run(tmp_path / "rev", [row(seed=7, fid=6.0, revision="model=1")])])[0]) == 2

def test_reference_rows_of_merged_runs_computed_differently_are_refused(tmp_path):
    """Reference rows carry no configuration hash: two runs' copies of one (scored at another N, say) are refused
    by their reference_key, not counted once from whichever run came first."""
    runs = []
    for name, key, n in (("a", "k1", 1000), ("b", "k2", 2000)):
        run = make_run(tmp_path / name, [row(seed=0, fid=1.0)])
        ref = {"cell_id": "mnist5k__reference__real__s0", "dataset": "mnist5k", "model": "reference", "loss": "real",
               "seed": 0, "status": "ok", "message": "reference", "reference": True, "fid": 7.0, "reference_key": key,
               "reference_n": n, "data_fingerprint": "fp1", "reference_version": "4"}
        atomic_write_json(run / "references" / f"{ref['cell_id']}.json", ref)
        runs.append(run)
    with pytest.raises(UsageError, match=r"^reference row mnist5k__reference__real__s0 is in .*a and .*b computed from "
                                         r"different inputs"):
        load_runs(runs, references=True)
    assert len(load_runs(runs[:1], references=True)[0]) == 2
    # the same inputs, another request (more seeds, more metrics: another reference_key): counted once
    other = json.loads((runs[1] / "references" / "mnist5k__reference__real__s0.json").read_text())
    atomic_write_json(runs[1] / "references" / "mnist5k__reference__real__s0.json", {**other, "reference_n": 1000})
    assert len(load_runs(runs, references=True)[0]) == 2


def sign_p(better: int, n: int) -> float:
    """Two-sided exact sign test, by hand."""
    k = min(better, n - better)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def test_paired_test_against_hand_and_scipy():
    deltas = [-5.0, -3.0, -8.0, 2.0, -1.0, -4.0, -6.0]
    got = paired_test(deltas, higher=False)
    assert got["pairs"] == 7 and got["better"] == 6 and got["delta"] == pytest.approx(np.mean(deltas))
    assert got["p_sign"] == pytest.approx(sign_p(6, 7))  # = 16/128 = 0.125
    assert got["p_wilcoxon"] == pytest.approx(stats.wilcoxon(deltas).pvalue)
    # exact Wilcoxon by enumeration of the 2^7 sign patterns
    ranks = stats.rankdata(np.abs(deltas))
    w = ranks[np.array(deltas) > 0].sum()
    sums = [sum(r for r, bit in zip(ranks, f"{m:07b}", strict=True) if bit == "1") for m in range(2**7)]
    lo = min(w, ranks.sum() - w)
    assert got["p_wilcoxon"] == pytest.approx(min(1.0, 2 * np.mean([s <= lo for s in sums])))
    few = paired_test(deltas[:MIN_PAIRED - 1], higher=False)
    assert math.isnan(few["p_sign"]) and math.isnan(few["p_wilcoxon"]) and few["better"] == 4
    # 20 seeds of whole-number counts, 16 equal: the exact p of 4 differences of -1 is 1/16 one-sided, 1/8 two-sided
    # (scipy's default takes the normal approximation from 14 pairs with zeros: 0.023, 'significant')
    ties = [0.0] * 16 + [-1.0] * 4
    assert wilcoxon_p(ties, "less") == pytest.approx(1 / 16)
    assert paired_test(ties, True)["p_wilcoxon"] == pytest.approx(1 / 8)
    assert wilcoxon_p([0.0] * 6) == 1.0
    one = [0.0] * 5 + [1.0]  # a single non-zero difference: two equally likely signs
    assert (wilcoxon_p(one), wilcoxon_p(one, "greater"), wilcoxon_p(one, "less")) == (1.0, 0.5, 1.0)


def test_a_swept_runs_points_are_never_averaged_as_seeds(tmp_path):
    """One swept run, --by without point: its points would be averaged as seeds; refused in one line. A key an
    older row lacks (None) matches its absence when rows are paired with the top row."""
    swept = [{**row(seed=s, fid=30.0 + s + 30 * k, point=f"lr_d={lr}", config_hash=lr),
              "cell_id": f"mnist5k__vanilla__nonsat__p{k}__s{s}"} for k, lr in enumerate(("0.0001", "0.0002"))
             for s in range(3)]
    run = make_run(tmp_path / "s", swept)
    with pytest.raises(UsageError, match=r"^the seeds of mnist5k/vanilla/nonsat ran at different sweep points "
                                         r"\(lr_d=0.0001 vs lr_d=0.0002\), .*: keep point in --by"):
        load_runs([run], by=["dataset", "model", "loss"])
    assert len(load_runs([run])[0]) == 6  # the default groups keep the point
    old = make_run(tmp_path / "old", [row(loss=lo, seed=s, fid=f + s % 2, tag=None if lo == "x" else "t")
                                      for lo, f in (("x", 80.0), ("y", 20.0)) for s in range(10)])
    df, _ = load_runs([old])
    s = summarize(df, [FID], by=["dataset", "model", "loss", "tag"]).set_index("loss")
    assert not s.loc["x", "fid_best"] and s.loc["x", "fid_q_best"] < 0.05  # compared on its 10 seeds, not tied


def test_paired_columns_against_a_baseline(tmp_path):
    base = [100.0, 120.0, 90.0, 110.0, 105.0, 95.0]
    other = [90.0, 118.0, 95.0, 100.0, 101.0, 80.0]
    rows = [row(loss="nonsat", seed=s, fid=f) for s, f in enumerate(base)]
    rows += [row(loss="minimax", seed=s, fid=f) for s, f in enumerate(other)]
    rows.append(row(loss="minimax", seed=6, fid=1.0))  # no baseline partner: not paired
    df, _ = load_runs([make_run(tmp_path / "r", rows)])
    s = summarize(df, [FID], baseline="nonsat").set_index("loss")
    d = np.array(other) - np.array(base)
    m = s.loc["minimax"]
    assert m["fid_delta"] == pytest.approx(d.mean()) and m["fid_pairs"] == 6 and m["fid_better"] == 5
    assert m["fid_p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert m["fid_p_sign"] == pytest.approx(sign_p(5, 6))
    assert m["fid_deltas"].startswith("0:-10;1:-2;2:5")
    assert pd.isna(s.loc["nonsat", "fid_delta"])
    table = display(summarize(df, [FID], baseline="nonsat"), [FID])
    assert "Δfid vs nonsat" in table.headers
    cells = dict(zip([r[2] for r in table.rows], [r[table.headers.index("Δfid vs nonsat")] for r in table.rows],
                     strict=True))
    assert cells["nonsat"] == "baseline"
    assert cells["minimax"] == f"−{abs(d.mean()):.1f} (5/6 better) p={stats.wilcoxon(d).pvalue:.3g}"
    with pytest.raises(UsageError, match="--baseline hinge: no such loss in these results; losses: minimax, nonsat"):
        summarize(df, [FID], baseline="hinge")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_every_format_parses_back(run_dir):
    df, runs = load_runs([run_dir])
    metrics = [FID, MODES]
    summary = summarize(df, metrics)
    csv = pd.read_csv(io.StringIO(render("csv", summary, metrics)))
    assert list(csv["loss"]) == list(summary["loss"])
    assert np.allclose(csv["fid_mean"], summary["fid_mean"]) and np.allclose(csv["fid_ci95"].fillna(-1),
                                                                               summary["fid_ci95"].fillna(-1))
    doc = json.loads(render("json", summary, metrics))
    assert [m["column"] for m in doc["metrics"]] == ["fid", "modes"]
    assert doc["rows"][0]["fid_mean"] == pytest.approx(summary["fid_mean"][0])
    assert doc["rows"][2]["fid_std"] is None  # NaN -> null, valid JSON

    table = display(summary, metrics)
    md = to_markdown(table)
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(summary)
    widths = {ln.count(" | ") for ln in lines[2:]} | {lines[0].count(" | ")}
    assert widths == {len(table.headers) - 1}
    assert lines[1] == "|" + "|".join("---:" if n else ":---" for n in table.numeric) + "|"
    assert "**113.3 ± 15.3**" in md  # nonsat's FID, the best, in bold (digits follow the column's magnitude)

    tex = to_latex(table)
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert len(body) == len(summary) and all(b.count(" & ") == len(table.headers) - 1 for b in body)
    assert r"\textbf{113.3 $\pm$ 15.3}" in tex and r"fid $\downarrow$" in tex and "_" not in tex.replace(r"\_", "")

    page = render("html", summary, metrics, title="t")
    p = _Tags()
    p.feed(page)
    names = [t for t, _ in p.tags]
    assert names.count("tr") == 1 + len(summary) and names.count("th") == len(table.headers)
    assert any(a.get("class") == "num best" for t, a in p.tags if t == "td")
    assert any("95% CI [" in a.get("title", "") for t, a in p.tags if t == "td")


def test_report_cli_formats_and_errors(run_dir, tmp_path):
    runner = CliRunner()
    for fmt in ("rich", "md", "csv", "latex", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        res = runner.invoke(cli, ["report", str(run_dir), "-f", fmt, "-o", str(out), "--metrics", "fid,modes,diverged",
                                  "--baseline", "nonsat"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 200, fmt
    assert json.loads((tmp_path / "report.json").read_text())["baseline"] == "nonsat"
    assert "Δfid vs nonsat" in (tmp_path / "report.rich").read_text()
    for args, message in [
        (["--metrics", "fdi"], "Error: no metric column 'fdi' in these results; columns with values: "),
        (["--by", "colour"], "Error: --by colour: no such column; choose from "),
        (["--baseline", "hinge"], "Error: --baseline hinge: no such loss in these results; losses: minimax, nonsat, "
                                  "wgan"),
        (["-f", "pdf"], "Error: Invalid value for '--format' / '-f': 'pdf' is not one of "),
    ]:
        res = runner.invoke(cli, ["report", str(run_dir), *args])
        assert res.exit_code == 2 and res.output.startswith(message) and len(res.output.strip().splitlines()) == 1, \
            res.output


def test_interval_ci_shows_the_t_half_width(run_dir):
    df, _ = load_runs([run_dir])
    summary = summarize(df, [FID])
    md = render("md", summary, [FID], interval="ci")
    half = 4.302652729911275 * np.std(FIDS["nonsat"], ddof=1) / math.sqrt(3)
    assert f"**113.3 ± {half:.1f}**" in md and "mean ± 95% CI half-width (Student t)" in md


def test_published_boards_are_indexed_and_linked():
    """Every board in results/ has its files, the index links each one, and the README links the index."""
    root = Path(__file__).resolve().parents[1]
    boards = sorted(p.parent for p in (root / "results").glob("*/provenance.json"))
    assert len(boards) >= 2
    index = (root / "results" / "README.md").read_text()
    for board in boards:
        prov = json.loads((board / "provenance.json").read_text())
        assert f"]({board.name}/leaderboard.md)" in index
        for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html"):
            assert (board / name).stat().st_size > 500
        md = (board / "leaderboard.md").read_text()
        for link in [part.split(")", 1)[0] for part in md.split("](")[1:]]:
            assert (board / link).exists(), f"{board.name}: broken link {link}"
        assert prov["git commit (training)"] and "-dirty" not in prov["git commit (training)"]
    readme = (root / "README.md").read_text()
    assert "(results/README.md)" in readme
    assert all(f"(results/{b.name}/leaderboard.md)" in readme for b in boards)
