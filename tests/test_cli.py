"""The CLI through click's runner: a real tiny run, listing, and one-line errors with exit code 2
(beyond the documented table of docs/reliability.md, which tests/test_bad_input.py runs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ganbench.cli import cli

TINY_ARGS = ["--steps", "20", "--batch-size", "32", "--set", "eval_samples=200", "--set", "sample_every=10",
             "--device", "cpu", "--seeds", "0,1"]


@pytest.fixture
def invoke():
    def _invoke(*args):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return _invoke


@pytest.mark.slow
def test_run_prints_a_table_and_writes_results(invoke, tmp_path):
    res = invoke("run", "--models", "vanilla,dcgan", "--losses", "nonsat", *TINY_ARGS, "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "fid ↓" in res.output and "mean ± sample std (ddof=1)" in res.output
    for model in ("vanilla", "dcgan"):
        assert f"mnist5k/{model}/nonsat seed 1: ok" in res.output  # progress lines
    df = pd.read_csv(tmp_path / "results.csv")
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert df["fid"].notna().all() and df["fid_extractor"].nunique() == 1
    assert (tmp_path / "cells" / "mnist5k__dcgan__nonsat__s0" / "samples" / "step_000020.png").exists()
    # the report command renders the same run directory
    rep = invoke("report", str(tmp_path), "--format", "csv", "-o", str(tmp_path / "summary.csv"))
    assert rep.exit_code == 0 and rep.output.strip() == f"csv: {tmp_path / 'summary.csv'}"
    summary = pd.read_csv(tmp_path / "summary.csv")
    refs = summary[summary["model"] == "reference"].set_index("loss")  # held-out real digits, a pixel Gaussian
    assert list(refs.index) == ["real", "gaussian"] and refs.loc["real", "fid_mean"] < refs.loc["gaussian", "fid_mean"]
    assert "reference" in res.output  # the run's own table shows them too
    summary = summary[summary["model"] != "reference"]
    assert len(summary) == 2 and (summary["fid_n"] == 2).all() and summary["fid_std"].notna().all()
    fid = df[(df["model"] == "dcgan") & (df["loss"] == "nonsat")]["fid"]
    got = summary[(summary["model"] == "dcgan") & (summary["loss"] == "nonsat")].iloc[0]
    assert got["fid_mean"] == pytest.approx(fid.mean()) and got["fid_std"] == pytest.approx(fid.std(ddof=1))


def test_dcgan_on_ring8_is_skipped_with_its_reason(invoke, tmp_path):
    res = invoke("run", "-m", "vanilla,dcgan", "-l", "nonsat", "-d", "ring8", *TINY_ARGS, "--steps", "2",
                 "--out", str(tmp_path))
    assert res.exit_code == 0
    assert "ring8/dcgan/nonsat seed 0: skipped, dcgan needs images" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--losses", "wasserstien"], "Error: unknown loss 'wasserstien' (did you mean 'wgan'?); known losses: "
                                             "hinge, label-smooth, lsgan, minimax, nonsat, nonsat-r1, rpgan-r1r2, wgan, "
                                             "wgan-gp"),
        (["run", "--losses", "wgan,wasserstein"], "Error: --losses lists wgan more than once"),
        (["run", "-l", "label-smooth", "--loss-opt", "label-smooth.reel=0.8"],
         "Error: loss 'label-smooth' has no option 'reel'; its options: real"),
        (["run", "-l", "label-smooth", "--loss-opt", "label-smoothed.real=1.5"],
         "Error: loss option label-smooth.real expects a value in (0, 1], got '1.5'"),
        (["run", "-l", "lsgan", "--loss-opt", "lsgan.a=zero"], "Error: loss option lsgan.a expects float, got 'zero'"),
        (["run", "-l", "nonsat", "--loss-opt", "wgan.clip=0.1"],
         "Error: --loss-opt (or a suite file's [loss-options]) names 'wgan', which is not in this run (nonsat)"),
        (["run", "--loss-opt", "real=0.8"],
         "Error: --loss-opt expects NAME.KEY=VALUE (e.g. label-smooth.real=0.8), got 'real=0.8'"),
        (["run", "-m", "dcgan", "--model-opt", "dcgan.norm=group"],
         "Error: model option dcgan.norm expects one of batch, layer, spectral, none, got 'group'"),
        (["run", "-d", "ring8", "--data-opt", "ring8.std=-1"],
         "Error: dataset option ring8.std expects a positive number, got '-1'"),
        (["run", "--datasets", "ring8:2"], "Error: dataset 'ring8' takes no ':VALUE' in its name (got 'ring8:2')"),
        (["run", "--datasets", "folder:"], "Error: dataset 'folder:' needs a value after ':' (its path), e.g. "
         "'image-folder:VALUE'"),
        (["run", "--datasets", "grid25", "--data-opt", "grid25.modes=10"],
         "Error: dataset option grid25.modes expects a square number (4, 9, 16, 25, ...), got '10'"),
        (["run", "--datasets", "mnist", "--data-opt", "mnist.image_size=48"],
         "Error: dataset option mnist.image_size expects one of 28, 32, 64, got '48'"),
        (["run", "--seeds", "0,x"], "Error: --seeds expects comma-separated non-negative integers or ranges like "
                                    "0-4, got 'x'"),
        (["run", "--seeds", "1,1"], "Error: --seeds lists 1 more than once"),
        (["run", "--set", "lr=3"], "Error: unknown setting 'lr'; known settings: steps, batch_size, n_critic, g_steps, "
                                   "updates, optimizer, lr_g, lr_d, beta1, beta2, schedule_images, lr_final_ratio, "
                                   "beta2_start, latent_dim, latent_dist, sample_every, eval_samples, real_samples, "
                                   "eval_every, g_ema, "
                                   "g_ema_rampup, g_ema_schedule, g_ema_start, fake_labels, aux_weight, amp, compile, "
                                   "cuda_graphs, channels_last, augment, ada, ada_p, ada_target, ada_kimg, ada_p_schedule, "
                                   "pool_size, replicas"),
        (["run", "--set", "optimizer=sgd"], "Error: setting 'optimizer' expects one of adam, rmsprop, got 'sgd'"),
        (["run", "--replicas", "0"], "Error: setting 'replicas' expects a positive integer, got 0"),
        (["run", "--amp", "fp8"], "Error: Invalid value for '--amp': 'fp8' is not one of 'none', 'bf16'."),
        (["run", "--device", "tpu"], "Error: --device 'tpu' is not a device; expected auto|cpu|cuda|cuda:N|mps"),
        (["run", "--steps", "many"], "Error: Invalid value for '--steps': 'many' is not a valid integer."),
        (["run", "--set", "steps"], "Error: Invalid value for --set: expected KEY=VALUE, got 'steps'"),
        (["run", "--set", "lr_g=1e-4", "--set", "lr_g=2e-4"],  # given twice: the last would win unseen
         "Error: Invalid value for --set: lr_g is set twice (1e-4 and 2e-4): give it once"),
        (["run", "-l", "label-smooth", "--loss-opt", "label-smooth.real=0.8", "--loss-opt", "label-smooth.real=0.7"],
         "Error: --loss-opt sets label-smooth.real twice (0.8 and 0.7): give it once"),
        (["run", "-l", "wgan", "--loss-opt", "wasserstein.clip=0.1", "--loss-opt", "wgan.clip=0.2"],
         "Error: --loss-opt sets wgan.clip twice, by two of its names (0.1 and 0.2): give it once"),
        (["-p", "no:", "list"], "Error: Invalid value for -p: expected NAME or no:NAME, got 'no:'"),
        (["-p", "builtin-modles", "list"], "Error: -p builtin-modles: no installed ganbench plugin of that name; "
                                           "installed: builtin-datasets, builtin-executors, builtin-extractors, "
                                           "builtin-losses, builtin-metrics, builtin-models, builtin-protocols, "
                                           "builtin-tensorboard"),
        (["list", "widgets"],
         "Error: unknown kind 'widgets'; known kinds: models, losses, datasets, metrics, extractors, executors, "
         "loggers, protocols"),
        (["-p", "no:builtin-losses", "run", "--losses", "nonsat"],
         "Error: unknown loss 'nonsat'; known losses: (none registered)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(invoke, tmp_path, monkeypatch, args, message):
    from ganbench.execution.session import Runner

    monkeypatch.setattr(Runner, "run", lambda self: pytest.fail("bad input must be refused before any training"))
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path)] if args[0] == "run" or args[2:3] == ["run"]
                             else args)
    assert res.exit_code == 2
    assert res.output.strip() == message
    assert not (tmp_path / "cells").exists()  # nothing ran, nothing written


def test_cuda_request_without_cuda_is_clear(invoke, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = CliRunner().invoke(cli, ["run", "--device", "cuda", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: --device cuda: CUDA is not available on this machine (use --device cpu or auto)"


def test_list_and_plugins(invoke, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at the terminal width
    res = invoke("list", "losses", "-v")
    assert res.exit_code == 0
    assert "minimax" in res.output and "nonsat" in res.output and "E[log(1 - D(G(z)))]" in res.output
    # the effective paper recipe, * = set by the paper
    wgan = res.output[res.output.index("wgan (wasserstein)"):res.output.index("wgan-gp")]
    for item in ("optimizer=rmsprop*", "lr_d=5e-05*", "n_critic=5*", "beta2=0.999", "clip=0.01"):
        assert item in wgan
    gp = res.output[res.output.index("wgan-gp"):]
    for item in ("optimizer=adam*", "lr_g=0.0001*", "beta1=0.0*", "beta2=0.9*", "model norm=layer*", "lambda=10.0"):
        assert item in gp
    assert "label-smooth (label-smoothed)" in res.output and "real=0.9" in res.output
    r3 = res.output[res.output.index("rpgan-r1r2"):res.output.index("wgan (wasserstein)")]
    for item in ("beta2=0.99*", "schedule_images=20000000*", "beta2_start=0.9*", "lr_final_ratio=0.25*"):
        assert item in r3  # R3GAN's schedules are part of its recipe
    res = invoke("list", "models", "-v")
    assert "norm=batch [batch|layer|spectral|none]" in res.output and "latent_dim=64" in res.output
    res = invoke("list", "models", "d*")
    assert "dcgan" in res.output and "vanilla" not in res.output
    res = invoke("list", "losses", "wasserstein")  # an alias finds its loss
    assert "wgan (wasserstein)" in res.output and "nonsat" not in res.output
    res = CliRunner().invoke(cli, ["plugins"])
    assert res.exit_code == 0
    for name in ("builtin-models", "builtin-losses", "builtin-datasets", "builtin-metrics"):
        assert name in res.output
    assert "ganbench" in res.output and "0.1.0" in res.output
    res = CliRunner().invoke(cli, ["-p", "no:builtin-metrics", "plugins"])
    assert "builtin-metrics" not in res.output.split("blocked:")[0] and "blocked: builtin-metrics" in res.output


def test_out_that_is_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("precious")
    res = CliRunner().invoke(cli, ["run", "--out", str(f)])
    assert res.exit_code == 2
    assert res.output.strip() == f"Error: Invalid value for '--out' / '-o': Directory '{f}' is a file."
    assert f.read_text() == "precious"


def test_report_on_a_non_run_directory(invoke, tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip() == f"Error: {tmp_path} is not a ganbench run directory (no cells/ folder)"


def test_recipe_flag_and_plugin_options(invoke, tmp_path):
    common = ["-m", "vanilla", "-d", "ring8", "-l", "wgan,label-smoothed", "--loss-opt", "label-smoothed.real=0.8",
              "--model-opt", "vanilla.hidden=32", "--data-opt", "ring8.std=0.02", *TINY_ARGS]
    res = invoke("run", *common, "--same-settings", "--out", str(tmp_path / "same"))
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "same" / "results.csv").query("seed == 0").set_index("loss")
    assert (df["recipe"] == "same").all() and (df["hp_optimizer"] == "adam").all()
    assert df.loc["label-smooth", "loss_options"] == "real=0.8"
    assert (df["model_options"] == "hidden=32;norm=none").all()
    import json

    cfg = json.loads((tmp_path / "same" / "cells" / "ring8__vanilla__wgan__s0" / "config.json").read_text())
    assert cfg["data_options"]["std"] == 0.02
    res = invoke("run", *common, "--out", str(tmp_path / "paper"))  # --paper-settings is the default
    df = pd.read_csv(tmp_path / "paper" / "results.csv").query("seed == 1").set_index("loss")
    assert df.loc["wgan", "hp_optimizer"] == "rmsprop" and (df["recipe"] == "paper").all()


def test_autoload_off_loads_only_the_plugins_named_with_p(invoke):
    res = invoke("--disable-plugin-autoload", "-p", "builtin-losses", "plugins")
    assert res.exit_code == 0
    assert "builtin-losses" in res.output and "builtin-models" not in res.output
    res = invoke("--disable-plugin-autoload", "-p", "builtin-losses", "-p", "builtin-models", "list", "models")
    assert res.exit_code == 0 and "vanilla" in res.output
    res = CliRunner().invoke(cli, ["--disable-plugin-autoload", "run", "-l", "nonsat"])
    assert res.exit_code == 2 and res.output.strip() == "Error: unknown loss 'nonsat'; known losses: (none registered)"


@pytest.mark.parametrize("args, message", [
    (["--extractor", "domain", "--metrics", "fid"],
     "Error: metric 'fid' applies to no cell of this run: ring8: extractor 'domain' cannot take ring8: the domain "
     "classifier needs labelled images; ring8 is vector data"),
    (["--metrics", "modes,cond-acc"],
     "Error: metric 'cond-acc' applies to no cell of this run: ring8: not a metric of vanilla's cells on it"),
])
def test_a_named_metric_that_applies_to_no_cell_is_refused_before_training(invoke, tmp_path, args, message):
    """The run would train and then measure nothing of it (an empty column, a note per row)."""
    res = invoke("run", "-d", "ring8", "-m", "vanilla", "-l", "nonsat", "-s", "0", "--steps", "2", *args,
                 "-o", str(tmp_path / "run"))
    assert (res.exit_code, res.output.strip()) == (2, message)
    assert not list(tmp_path.glob("run/cells/*/result.json"))


def test_baseline_takes_a_losss_alias(plugins, tmp_path):
    """--baseline r3gan is rpgan-r1r2, as --losses r3gan is; a loss no installed plugin knows stays as given."""
    from ganbench.cli import _loss_name

    assert _loss_name(plugins.registry, "r3gan") == "rpgan-r1r2"
    assert _loss_name(plugins.registry, "wasserstein") == "wgan"
    assert _loss_name(plugins.registry, "someone-elses-loss") == "someone-elses-loss"
    assert _loss_name(plugins.registry, None) is None


def test_report_refuses_a_column_named_twice_or_none(invoke):
    run = str(Path(__file__).parent / "data" / "runs" / "ring8-2026-12")
    for args, message in ((["--metrics", "modes,modes"], "Error: --metrics lists modes more than once"),
                          (["--by", "dataset,loss,loss"], "Error: --by lists loss more than once"),
                          (["--metrics", ""], "Error: --metrics '' names nothing; give at least one name, or leave "
                                              "--metrics out for the default")):
        res = invoke("report", run, *args)
        assert (res.exit_code, res.output.strip()) == (2, message)


def test_a_stored_request_resumes_whatever_metrics_it_named(tmp_path):
    """--resume runs the recorded request: a metric list accepted then (the registry's of then, say) is not
    refused now, even where no cell of it can be measured by one of them."""
    import json

    from ganbench.api import runner as make_runner
    from ganbench.errors import UsageError
    from ganbench.execution.session import NullReporter

    r = make_runner(datasets="ring8", models="vanilla", losses="nonsat", seeds="0", metrics="modes,cond-acc",
                    out=tmp_path / "run", device="cpu", reporter=NullReporter())
    datasets = r._load_data()
    r._resolve_extractors(datasets)
    with pytest.raises(UsageError, match="metric 'cond-acc' applies to no cell of this run"):
        r._check_measurable(r.suite.cells(), datasets)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "suite.json").write_text(json.dumps(r.suite.to_dict()))  # as a run of then recorded it
    r._check_measurable(r.suite.cells(), datasets)
