"""Real tiny training runs through the Python API: history, statuses, determinism, common random
numbers, resume, failure isolation, incompatible cells."""

from __future__ import annotations

import json
import types

import pandas as pd
import pytest
import torch

import ganbench
from ganbench import hookimpl
from ganbench.execution.session import NullReporter
from ganbench.specs import LossSpec
from ganbench.train import HISTORY_COLUMNS


def _losses_plugin(name="test-losses"):
    """Losses for probing the runner: 'frozen' yields exactly zero gradients (so the weights stay
    at their initial values), 'nan' diverges at step 1, 'raises' fails at step 1."""

    def frozen_d(d_real, d_fake):
        return 0.0 * (d_real.sum() + d_fake.sum())

    def frozen_g(d_fake):
        return 0.0 * d_fake.sum()

    def boom(*args):
        raise RuntimeError("loss exploded on purpose")

    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec(name="frozen", d_loss=frozen_d, g_loss=frozen_g))
        registry.add_loss(LossSpec(name="frozen2", d_loss=frozen_d, g_loss=frozen_g))
        registry.add_loss(LossSpec(name="nan", d_loss=lambda r, f: r.mean() * float("nan"), g_loss=frozen_g))
        registry.add_loss(LossSpec(name="raises", d_loss=boom, g_loss=boom))

    mod = types.ModuleType(name)
    mod.ganbench_register_losses = ganbench_register_losses
    return mod


def test_tiny_run_writes_every_file(tmp_path, tiny):
    df = ganbench.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings=tiny, out=tmp_path,
                      device="cpu")
    assert list(df["status"]) == ["ok"]
    row = df.iloc[0]
    assert row["hp_steps"] == 20 and row["hp_batch_size"] == 32 and row["hp_latent_dim"] == 64
    assert row["hp_source"] == "steps=user;batch_size=user;latent_dim=model;sample_every=user;eval_samples=user"
    assert row["steps_per_s"] > 0 and row["device"] == "cpu"
    assert row["message"] == "" and row["fid_extractor"] == "raw:identity" and row["fid_n_real"] == 10000
    assert not row["diverged"] and row["grad_d_max"] >= row["grad_d_mean"] > 0 and row["eval_s"] > 0
    assert row["eval_points"] == 1 and row["trajectory_eval_s"] == 0 and pd.isna(row["track_final_gap"])
    cell = tmp_path / "cells" / "ring8__vanilla__nonsat__s0"
    hist = pd.read_csv(cell / "history.csv")
    assert tuple(hist.columns) == HISTORY_COLUMNS and len(hist) == 20
    assert hist[list(HISTORY_COLUMNS)].notna().all().all() and (hist["grad_norm_d"] > 0).all()
    assert sorted(p.name for p in (cell / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
    state = torch.load(cell / "generator.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values())
    config = json.loads((cell / "config.json").read_text())
    assert config["settings"]["lr_g"] == 2e-4 and config["settings_source"]["lr_g"] == "default"
    assert config["extractor"] == "raw"
    points = pd.read_csv(cell / "trajectory.csv")  # without eval_every: the final evaluation only
    assert list(points["step"]) == [20] and points.loc[0, "fid"] == row["fid"]
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 1 and table.loc[0, "cell_id"] == "ring8__vanilla__nonsat__s0"


def test_replicas_train_seeds_as_groups_each_with_its_own_cell_and_row(tmp_path, tiny):
    """``replicas=2`` over seeds 0-2: seeds 0 and 1 train as one group (both rows name it), seed 2 alone;
    each cell has its own files and its numbers are its seed's trained alone (replicas=1) within
    floating-point tolerance; ``replicas`` is part of the configuration hash. A setting that cannot be
    vectorised (amp=bf16) trains the group's seeds one after another and says why in each row."""
    run = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0, 1, 2], metrics="modes,fid", device="cpu")
    together = ganbench.run(**run, settings={**tiny, "eval_every": 10}, replicas=2, out=tmp_path / "r2")
    alone = ganbench.run(**run, settings={**tiny, "eval_every": 10}, out=tmp_path / "r1")
    assert list(together["status"]) == ["ok"] * 3 and list(together["hp_replicas"]) == [2, 2, 2]
    assert list(together["replica_group"].iloc[:2]) == ["ring8__vanilla__nonsat__s0"] * 2
    assert pd.isna(together["replica_group"].iloc[2]) and "replica_group" not in alone.columns
    assert set(together["config_hash"]).isdisjoint(alone["config_hash"])
    assert together["fid"].tolist() == pytest.approx(alone["fid"].tolist(), rel=1e-4, abs=1e-6)
    # the mode metrics count evaluation samples: weights 1e-6 apart may move one sample across a mode's 3σ radius
    # or a boundary between modes (seen on one host: mode_kl 3e-4 apart), never more
    one = 100 / tiny["eval_samples"]
    for column, tol in (("modes", {"abs": 1}), ("hq_pct", {"abs": one + 1e-9}), ("mode_kl", {"rel": 1e-2})):
        assert together[column].tolist() == pytest.approx(alone[column].tolist(), **tol), column
    for seed in (0, 1):
        cell = tmp_path / "r2" / "cells" / f"ring8__vanilla__nonsat__s{seed}"
        assert sorted(p.name for p in (cell / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
        hist, ref = (pd.read_csv(d / "cells" / cell.name / "history.csv") for d in (tmp_path / "r2", tmp_path / "r1"))
        # float32 rounding of batched matmuls, amplified by Adam (a seed 2e-4 apart from step 15 on one host):
        # tests/test_train.py holds replicas to 1e-5 of each seed alone in float64
        assert len(hist) == 20 and hist.to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-3, abs=1e-5)
        assert list(pd.read_csv(cell / "trajectory.csv")["step"]) == [10, 20]
        assert torch.load(cell / "generator.pt", weights_only=True)["net.0.weight"].shape[0] == 256  # its own, not [K, ...]
    bf16 = ganbench.run(**{**run, "seeds": [0, 1]}, settings={**tiny, "amp": "bf16"}, replicas=2, out=tmp_path / "amp")
    assert list(bf16["status"]) == ["ok", "ok"] and "replica_group" not in bf16.columns
    assert list(bf16["message"]) == ["trained alone, not as replicas: setting amp=bf16 is not vectorised yet"] * 2


def test_replica_groups_are_those_of_the_whole_grid_whichever_cells_are_done():
    """Seeds 0-7 in groups of 4: a re-run with s1 (failed alone) and s4-s7 (a killed group) left trains s1
    alone and s4-s7 as the group they were, whose checkpoint is in s4's directory; groups never mix
    configurations."""
    from ganbench.execution.plan import CellPlan, group_key, replica_groups

    def plan(seed, loss="nonsat"):
        config = {"cell": {"seed": seed}, "settings": {"replicas": 4}, "loss_options": {}}
        return CellPlan(key=f"d__m__{loss}__s{seed}", index=seed, dataset="d", model="m", loss=loss, seed=seed,
                        run_dir=".", data_options={}, data_root=".", data_fingerprint=None, extractor=None,
                        extractor_reason=None, extractor_options={}, metrics=[], metric_samples=0,
                        settings={"replicas": 4}, model_options={}, loss_options={}, notes=[], config=config,
                        config_hash="h", row={})

    every = [plan(s) for s in range(8)] + [plan(s, "hinge") for s in range(3)]
    grid = [(p.key, group_key(p.dataset, p.model, p.loss, p.config), 4) for p in every]
    left = [every[1], *every[4:8], *every[8:]]
    groups = replica_groups(left, grid)
    assert [[p.key for p in g.members()] for g in groups] == [
        ["d__m__nonsat__s1"], [f"d__m__nonsat__s{s}" for s in range(4, 8)], [f"d__m__hinge__s{s}" for s in range(3)]]
    assert [[p.key for p in g.members()] for g in replica_groups(every[:6])] == [  # without the grid: the plans'
        [f"d__m__nonsat__s{s}" for s in range(4)], ["d__m__nonsat__s4", "d__m__nonsat__s5"]]


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path, tiny):
    # one model: every model's reproducibility of its own draws is check_training's (tests/test_contract.py)
    kw = dict(models="dcgan", losses="nonsat", datasets="mnist5k", seeds=[1], settings=tiny, device="cpu")
    a = ganbench.run(out=tmp_path / "a", **kw)
    b = ganbench.run(out=tmp_path / "b", **kw)
    assert (a["status"] == "ok").all()
    assert list(a["fid"]) == list(b["fid"])
    for cell in a["cell_id"]:
        ha = pd.read_csv(tmp_path / "a" / "cells" / cell / "history.csv")
        hb = pd.read_csv(tmp_path / "b" / "cells" / cell / "history.csv")
        pd.testing.assert_frame_equal(ha, hb)
    c = ganbench.run(out=tmp_path / "c", **{**kw, "seeds": [2]})
    assert list(c["fid"]) != list(a["fid"])


def test_common_random_numbers_across_losses(tmp_path, tiny):
    # 'frozen' and 'frozen2' never move the weights: their final generators are the initial ones.
    df = ganbench.run(models="vanilla", losses="frozen,frozen2", datasets="ring8", seeds=[0, 1], settings=tiny,
                      out=tmp_path, device="cpu", plugins=[_losses_plugin()])
    assert (df["status"] == "ok").all()

    def weights(loss, seed):
        return torch.load(tmp_path / "cells" / f"ring8__vanilla__{loss}__s{seed}" / "generator.pt", weights_only=True)

    for seed in (0, 1):
        a, b = weights("frozen", seed), weights("frozen2", seed)
        assert all(torch.equal(a[k], b[k]) for k in a)  # same init for every loss
    a0, a1 = weights("frozen", 0), weights("frozen", 1)
    assert not all(torch.equal(a0[k], a1[k]) for k in a0)  # other seed, other init


def test_failures_are_isolated_and_diverged_is_detected(tmp_path, tiny):
    df = ganbench.run(models="vanilla", losses="nan,raises,nonsat", datasets="ring8", seeds=[0], settings=tiny,
                      out=tmp_path, device="cpu", plugins=[_losses_plugin()])
    status = dict(zip(df["loss"], df["status"], strict=True))
    assert status == {"nan": "diverged", "raises": "failed", "nonsat": "ok"}
    row = df.set_index("loss")
    assert row.loc["nan", "diverged_at"] == 1 and row.loc["nan", "message"].startswith("non-finite d_loss")
    assert row.loc["raises", "message"] == ("loss 'raises' of plugin 'test-losses' raised in d_loss at step 1: "
                                              "RuntimeError: loss exploded on purpose")
    assert "loss exploded on purpose" in (tmp_path / "cells" / "ring8__vanilla__raises__s0" / "error.txt").read_text()
    assert len(pd.read_csv(tmp_path / "results.csv")) == 3


def test_incompatible_cells_are_skipped_with_a_reason(tmp_path, tiny):
    df = ganbench.run(models="vanilla,dcgan", losses="nonsat", datasets="ring8", seeds=[0],
                      settings={**tiny, "steps": 2}, out=tmp_path, device="cpu").set_index("model")
    assert list(df["status"]) == ["skipped", "ok"]
    assert df.loc["dcgan", "message"] == "dcgan needs images (C×H×W); ring8 is vector data of shape (2,)"
    # a grid in which nothing can train is bad input, refused before anything is written
    with pytest.raises(ganbench.errors.UsageError, match=r"^no cell of this run can train: dcgan needs images"):
        ganbench.run(models="dcgan", losses="nonsat", datasets="ring8", seeds=[0], out=tmp_path / "none", device="cpu")
    assert not (tmp_path / "none" / "cells").exists()


def test_rerun_resumes_and_changed_settings_retrain(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], out=tmp_path, device="cpu")
    ganbench.run(settings=tiny, **kw)
    result = tmp_path / "cells" / "ring8__vanilla__nonsat__s0" / "result.json"
    first = result.read_text()
    events = []

    class Rec(NullReporter):
        def run_started(self, cells, out): ...
        def cell_started(self, cell, index, steps, resumed_from=0): events.append("started")
        def step(self, record): ...
        def cell_finished(self, cell, row, resumed): events.append(("finished", resumed))

    ganbench.run(settings=tiny, reporter=Rec(), **kw)
    assert events == [("finished", True)] and result.read_text() == first
    events.clear()
    # another request for the same directory is refused, naming the difference; --fresh replaces it
    with pytest.raises(ganbench.errors.UsageError) as info:
        ganbench.run(settings={**tiny, "steps": 25}, reporter=Rec(), **kw)
    assert str(info.value) == (f"{tmp_path} holds a run with another configuration (settings.steps: 20 -> 25); "
                               "use --fresh to replace it, or another --out")
    assert events == [] and result.read_text() == first
    df = ganbench.run(settings={**tiny, "steps": 25}, reporter=Rec(), fresh=True, **kw)
    assert events == ["started", ("finished", False)] and df.iloc[0]["hp_steps"] == 25


def test_settings_precedence(plugins):
    from ganbench.suite import resolve_settings

    eff, src = resolve_settings({"lr_g": 1e-3}, {"lr_g": 5e-5, "n_critic": 5, "latent_dim": 7}, {"latent_dim": 64})
    assert eff["lr_g"] == 1e-3 and src["lr_g"] == "user"
    assert eff["n_critic"] == 5 and src["n_critic"] == "loss"
    assert eff["latent_dim"] == 7 and src["latent_dim"] == "loss"
    assert eff["beta1"] == 0.5 and src["beta1"] == "default"
    eff, src = resolve_settings({}, {}, {"latent_dim": 64})
    assert eff["latent_dim"] == 64 and src["latent_dim"] == "model"


def test_paper_recipe_is_the_default_and_same_recipe_is_shared(tmp_path, tiny):
    kw = dict(models="vanilla", losses="wgan,wgan-gp,nonsat", datasets="ring8", seeds=[0], device="cpu",
              settings={**tiny, "steps": 3})
    paper = ganbench.run(out=tmp_path / "paper", **kw).set_index("loss")
    assert (paper["status"] == "ok").all() and (paper["recipe"] == "paper").all()
    assert paper.loc["wgan", "hp_optimizer"] == "rmsprop" and paper.loc["wgan", "hp_n_critic"] == 5
    assert paper.loc["wgan", "hp_lr_d"] == 5e-5 and paper.loc["wgan", "loss_options"] == "clip=0.01"
    assert "optimizer=loss" in paper.loc["wgan", "hp_source"]
    gp = paper.loc["wgan-gp"]
    assert (gp["hp_beta1"], gp["hp_beta2"], gp["hp_lr_g"]) == (0.0, 0.9, 1e-4)
    assert gp["model_options"] == "hidden=256;norm=layer" and "model.norm=loss" in gp["hp_source"]
    assert paper.loc["nonsat", "hp_optimizer"] == "adam" and paper.loc["nonsat", "hp_n_critic"] == 1
    # user settings win over the paper; batch_size=32 (user) beats WGAN's 64
    assert paper.loc["wgan", "hp_batch_size"] == 32
    same = ganbench.run(out=tmp_path / "same", recipe="same", **kw).set_index("loss")
    assert (same["recipe"] == "same").all()
    for col in ("hp_optimizer", "hp_n_critic", "hp_lr_d", "hp_beta1"):
        assert same[col].nunique() == 1, col
    assert same.loc["wgan-gp", "model_options"] == "hidden=256;norm=none"
    assert "wgan-gp's paper uses model option norm=layer; this cell runs norm=none (the 'same' recipe)" in \
        same.loc["wgan-gp", "message"]
    cfg = json.loads((tmp_path / "same" / "cells" / "ring8__vanilla__wgan__s0" / "config.json").read_text())
    assert cfg["recipe"] == "same" and cfg["settings"]["optimizer"] == "adam"


def test_user_options_win_and_reach_the_plugins(tmp_path, tiny):
    kw = dict(models="vanilla", datasets="ring8", seeds=[0], device="cpu", settings={**tiny, "steps": 2})
    df = ganbench.run(out=tmp_path / "a", losses="wgan-gp,label-smoothed", model_options=["vanilla.norm=spectral"],
                      loss_options={"label-smoothed": {"real": "0.8"}, "wgan-gp": {"lambda": 1}}, **kw)
    row = df.set_index("loss")
    assert row.loc["wgan-gp", "model_options"] == "hidden=256;norm=spectral"
    assert "model.norm=user" in row.loc["wgan-gp", "hp_source"]
    assert "this cell runs norm=spectral (the user's setting)" in row.loc["wgan-gp", "message"]
    assert row.loc["label-smooth", "loss_options"] == "real=0.8"
    assert row.loc["wgan-gp", "loss_options"] == "lambda=1.0"
    cfg = json.loads((tmp_path / "a" / "cells" / "ring8__vanilla__label-smooth__s0" / "config.json").read_text())
    assert cfg["loss_options"] == {"real": 0.8}
    # the option changes what D minimises: same seed, same first batch, other d_loss
    base = ganbench.run(out=tmp_path / "b", losses="label-smooth", model_options=["vanilla.norm=spectral"], **kw)
    h_08 = pd.read_csv(tmp_path / "a" / "cells" / "ring8__vanilla__label-smooth__s0" / "history.csv")
    h_09 = pd.read_csv(tmp_path / "b" / "cells" / "ring8__vanilla__label-smooth__s0" / "history.csv")
    assert base.iloc[0]["loss_options"] == "real=0.9"
    assert h_08.loc[0, "d_real"] == h_09.loc[0, "d_real"]  # common random numbers up to the first update
    assert h_08.loc[0, "d_loss"] != h_09.loc[0, "d_loss"]


def test_history_records_the_penalty(tmp_path, tiny):
    ganbench.run(models="vanilla", losses="wgan-gp,hinge", datasets="ring8", seeds=[0], device="cpu",
                 settings={**tiny, "steps": 3}, out=tmp_path)
    gp = pd.read_csv(tmp_path / "cells" / "ring8__vanilla__wgan-gp__s0" / "history.csv")
    hinge = pd.read_csv(tmp_path / "cells" / "ring8__vanilla__hinge__s0" / "history.csv")
    assert (gp["d_penalty"] > 0).all() and (hinge["d_penalty"] == 0).all()
    # d_loss is what D minimises: the Wasserstein term plus the penalty
    assert (gp["d_loss"] - gp["d_penalty"]).round(6).ne(gp["d_loss"].round(6)).all()


def _relativistic_plugin():
    """A relativistic loss (RSGAN-style): its g_loss asks for d_real and must receive D's scores of the
    last real batch; its option 'scale' reaches both functions."""
    seen = {}

    def d_loss(d_real, d_fake, scale=1.0):
        import torch.nn.functional as F

        return F.softplus(-scale * (d_real - d_fake)).mean()

    def g_loss(d_fake, d_real, scale=1.0):
        import torch.nn.functional as F

        seen["shape"], seen["scale"] = tuple(d_real.shape), scale
        return F.softplus(-scale * (d_fake - d_real)).mean()

    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec(name="rsgan-test", d_loss=d_loss, g_loss=g_loss, options={"scale": 1.0}))

    mod = types.ModuleType("relativistic")
    mod.ganbench_register_losses = ganbench_register_losses
    return mod, seen


def test_a_g_loss_that_asks_for_d_real_receives_it(tmp_path, tiny):
    plugin, seen = _relativistic_plugin()
    df = ganbench.run(models="vanilla", losses="rsgan-test", datasets="ring8", seeds=[0], device="cpu",
                      settings={**tiny, "steps": 2}, loss_options=["rsgan-test.scale=2"], plugins=[plugin],
                      out=tmp_path)
    assert df.iloc[0]["status"] == "ok"
    assert seen == {"shape": (32,), "scale": 2.0}


def test_a_loss_option_no_function_takes_is_a_plugin_error():
    from ganbench.errors import PluginError
    from ganbench.registry import Registry

    reg = Registry()
    with pytest.raises(PluginError, match="loss 'typo' with option 'rael' that none of its functions accepts"):
        reg.add_loss(LossSpec(name="typo", d_loss=lambda d_real, d_fake, real=0.9: d_real.mean(),
                              g_loss=lambda d_fake: d_fake.mean(), options={"rael": 0.9}))
    reg.add_loss(LossSpec(name="a", d_loss=lambda r, f: r, g_loss=lambda f: f, aliases=("b",)))
    with pytest.raises(PluginError, match="loss 'b' registered twice"):
        reg.add_loss(LossSpec(name="b", d_loss=lambda r, f: r, g_loss=lambda f: f))


def test_ray_tasks_without_a_gpu_share_are_refused_for_a_cuda_run(plugins):
    """--gpus-per-cell 0 on a CUDA run: every Ray task would train on cuda:0 outside Ray's accounting (checked on
    the device object: no GPU needed)."""
    import torch

    from ganbench.errors import UsageError
    from ganbench.execution.executors import ExecutorConfig
    from ganbench.execution.session import Runner

    with pytest.raises(UsageError, match=r"^--gpus-per-cell 0 gives the Ray tasks no GPU, but this run trains on CUDA"):
        Runner._choose_executor(plugins.registry, "ray", ExecutorConfig(gpus_per_cell=0), torch.device("cuda"))


def test_a_plugins_revision_rekeys_its_cells_and_revision_0_keeps_every_hash(tmp_path):
    """A model or loss raises its revision in the commit that changes its numbers: its cells' configuration
    hash (and row) change, so no row or checkpoint of the older code is reused; at 0 nothing changes."""
    import dataclasses

    from ganbench.api import runner as make_runner
    from ganbench.suite import Cell

    runner = make_runner(datasets="ring8", models="vanilla", losses="nonsat", out=tmp_path / "r", device="cpu",
                         reporter=NullReporter())
    cell = Cell("ring8", "vanilla", "nonsat", 0)
    before = runner._prepare(cell, None)
    assert "revision" not in before.config and "revision" not in runner._base_row(before)
    for kind, name in (("model", "vanilla"), ("loss", "nonsat")):
        spec, who = runner.registry._entries[kind][name]
        runner.registry._entries[kind][name] = (dataclasses.replace(spec, revision=2), who)
    after = runner._prepare(cell, None)
    assert after.config["revision"] == {"model": 2, "loss": 2} and after.config_hash != before.config_hash
    assert runner._base_row(after)["revision"] == "loss=2;model=2"
    assert runner.registry.get("model", "biggan").revision == 1  # 1: the EMA of its spectrally normalised G (afc22f2)
