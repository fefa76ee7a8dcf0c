"""``ganbench evaluate``: saved generators rescored without retraining — bit-identical to the original
evaluation, refused in one line where it cannot be done, whole row files across a kill; resume
refuses rows scored by other weights of an extractor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganbench.cli import cli

RUN = ["run", "-d", "ring8", "-m", "vanilla", "-l", "nonsat,lsgan", "-s", "0", "--model-opt", "vanilla.hidden=32",
       "--steps", "20", "--batch-size", "32", "--set", "eval_samples=300", "--set", "sample_every=20", "--threads", "1",
       "--device", "cpu", "--metrics", "fid,kid,modes,prdc,stability", "-q"]
CELL = "ring8__vanilla__nonsat__s0"


def rows(run: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((run / "cells").glob("*/result.json"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("evaluate") / "run"
    res = CliRunner().invoke(cli, [*RUN, "-o", str(run)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "run"))


def test_rescoring_reproduces_the_original_evaluation_bit_for_bit(run):
    before = rows(run)
    res = CliRunner().invoke(cli, ["evaluate", str(run)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "2 cell(s) rescored" in res.output
    after = rows(run)
    for cell, old in before.items():
        new = after[cell]
        assert {k: new[k] for k in old} == old  # every value exactly as the cell computed it
        assert set(new) - set(old) == {"rescored_at", "rescored_by", "rescored_metrics"}
        assert new["rescored_metrics"] == "fid,kid,modes,prdc"  # stability reads the history: not recomputed
    # a later run of the same request keeps the rescored rows (no retraining, no changed request)
    res = CliRunner().invoke(cli, [*RUN, "-o", str(run), "--dry-run"], catch_exceptions=False)
    assert res.exit_code == 0 and "0 to train; 2 already done" in res.output, res.output


def test_fewer_samples_replace_the_metric_columns_and_say_so(run):
    """--eval-samples is the row's sample count: rescoring only fid at it would leave kid, modes and prdc
    measured at 300 under a row that says 100 (and its reference rows rescored for every metric) — refused,
    nothing written; every sample-based metric at 100 is accepted."""
    before = {p: p.read_bytes() for p in run.rglob("result.json")}
    res = CliRunner().invoke(cli, ["evaluate", str(run), "--metrics", "fid", "--eval-samples", "100"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "--metrics leaves out kid, modes, prdc: rescore them too (--metrics fid,kid,modes,prdc)" in res.output
    assert {p: p.read_bytes() for p in run.rglob("result.json")} == before
    res = CliRunner().invoke(cli, ["evaluate", str(run), "--eval-samples", "100"])
    assert res.exit_code == 0, res.output
    row = rows(run)[CELL]
    assert (row["fid_n_fake"], row["hp_eval_samples"], row["rescored_metrics"]) == (100, 100, "fid,kid,modes,prdc")


@pytest.mark.parametrize("break_it, words", [
    (lambda run: (run / "cells" / CELL / "generator.pt").unlink(), "saved no generator (e.g. " + CELL),
    (lambda run: (run / "cells").rename(run / "elsewhere"), "is not a ganbench run directory"),
])
def test_what_cannot_be_rescored_is_refused_in_one_line_and_nothing_is_written(run, break_it, words):
    break_it(run)
    before = {p: p.read_bytes() for p in run.rglob("result.json")}
    res = CliRunner().invoke(cli, ["evaluate", str(run)])
    assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert {p: p.read_bytes() for p in run.rglob("result.json")} == before


def test_a_rescoring_that_would_measure_nothing_or_has_no_data_root_is_refused(run):
    before = {p: p.read_bytes() for p in run.rglob("result.json")}
    for args, words in ((["--metrics", "cond-acc"], "cond-acc applies to none of its measured cells (not metrics of "
                                                    "these cells); no row was changed"),
                        (["--metrics", "modes,cond-acc"], "cond-acc applies to none of its measured cells"),
                        (["--data-root", str(run / "nowhere")], f"data root {run / 'nowhere'} is not an existing "
                                                                 "directory")):
        res = CliRunner().invoke(cli, ["evaluate", str(run), *args])
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert {p: p.read_bytes() for p in run.rglob("result.json")} == before


def test_resume_refuses_rows_scored_by_other_weights_of_the_extractor(run):
    path = run / "cells" / CELL / "result.json"
    row = json.loads(path.read_text())
    path.write_text(json.dumps({**row, "fid_extractor": "raw:0123456789ab"}))
    res = CliRunner().invoke(cli, [*RUN, "-o", str(run)])
    assert res.exit_code == 2, res.output
    assert f"cell {CELL} was scored by raw:0123456789ab (fid_extractor)" in res.output and "ganbench evaluate" in res.output
    assert json.loads(path.read_text())["fid_extractor"] == "raw:0123456789ab"  # nothing rewritten


def test_a_kill_inside_the_write_of_a_row_leaves_every_row_whole(run):
    """SIGKILL at the moment the first rescored row is renamed into place: every result.json is the
    old one, whole; the next evaluate removes the temporary file and finishes."""
    before = rows(run)
    script = textwrap.dedent(f"""
        import os, signal, sys
        import ganbench.store as store
        real = os.replace
        def replace(src, dst):
            if str(dst).endswith("result.json"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)
        store.os.replace = replace
        from ganbench.cli import main
        sys.argv = ["ganbench", "evaluate", {str(run)!r}]
        main()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9, proc.stderr
    assert rows(run) == before  # whole, and unchanged
    assert list(run.rglob("*.ganbench-tmp"))  # the half-done write
    res = CliRunner().invoke(cli, ["evaluate", str(run)], catch_exceptions=False)
    assert res.exit_code == 0 and not list(run.rglob("*.ganbench-tmp"))
    assert all("rescored_at" in r for r in rows(run).values())


def test_references_are_written_shown_last_never_ranked_and_follow_a_rescoring(run):
    """The run wrote its reference rows; the report shows them after the cells with no rank and no
    best mark; evaluate at another sample count recomputes them at that count."""
    import csv
    import io

    refs = sorted(p.name for p in (run / "references").glob("*.json"))
    assert refs == ["ring8__reference__gaussian__s0.json", "ring8__reference__real__s0.json"]
    res = CliRunner().invoke(cli, ["report", str(run), "-f", "csv", "--metrics", "fid,modes"], catch_exceptions=False)
    table = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["model"], r["loss"]) for r in table][-2:] == [("reference", "real"), ("reference", "gaussian")]
    for r in table[-2:]:
        assert r["reference"] == "True" and r["fid_rank"] == "" and r["fid_best"] == "False"
    assert {"hq_pct_mean", "mode_kl_mean"} <= set(table[0])  # modes is never shown alone
    res = CliRunner().invoke(cli, ["evaluate", str(run), "--eval-samples", "100"])  # every sample-based metric
    assert res.exit_code == 0, res.output
    ref = json.loads((run / "references" / "ring8__reference__gaussian__s0.json").read_text())
    assert ref["reference_n"] == 100 and ref["fid_n_fake"] == 100


def test_a_rescoring_that_would_mix_two_weights_of_one_extractor_in_a_row_is_refused(run):
    """--metrics fid after the extractor changed would leave kid scored by the old weights: refused,
    nothing written; rescoring both is accepted."""
    path = run / "cells" / CELL / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "kid_extractor": "raw:0123456789ab"}))
    before = {p: p.read_bytes() for p in run.rglob("result.json")}
    res = CliRunner().invoke(cli, ["evaluate", str(run), "--metrics", "fid"])
    assert res.exit_code == 2 and "would leave kid_extractor = raw:0123456789ab beside raw:identity" in res.output
    assert {p: p.read_bytes() for p in run.rglob("result.json")} == before
    res = CliRunner().invoke(cli, ["evaluate", str(run), "--metrics", "fid,kid"])
    assert res.exit_code == 0 and json.loads(path.read_text())["kid_extractor"] == "raw:identity", res.output


def test_a_rescored_rows_message_keeps_its_notes_and_says_what_is_not_measured_now():
    from ganbench.execution.rescore import _skipped_message

    skipped = "fid: no extractor; it needs images | kid: no extractor"
    row = {"message": f"metrics not applicable: {skipped}; resumed from step 40", "metrics_skipped": skipped}
    assert _skipped_message(row, ["fid"], {}) == {
        "message": "metrics not applicable: kid: no extractor; resumed from step 40",
        "metrics_skipped": "kid: no extractor"}
    assert _skipped_message(row, ["fid", "kid"], {}) == {"message": "resumed from step 40", "metrics_skipped": ""}
    assert _skipped_message(row, ["fid", "kid", "prdc"], {"prdc": "no room"}) == {
        "message": "metrics not applicable: prdc: no room; resumed from step 40", "metrics_skipped": "prdc: no room"}
    # a row from before metrics_skipped: its list is rewritten only when nothing follows it
    assert _skipped_message({"message": "metrics not applicable: fid: x | kid: y"}, ["fid"], {}) == {
        "message": "metrics not applicable: kid: y", "metrics_skipped": "kid: y"}
    old = {"message": "metrics not applicable: fid: x; a note"}
    assert _skipped_message(old, ["fid"], {}) == {"message": "metrics not applicable: fid: x; a note"}
    assert _skipped_message({"message": "a note"}, ["fid"], {"fid": "x"}) == {"message": "a note"}
