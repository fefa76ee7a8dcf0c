"""Real tiny training runs through the Python API: history, statuses, determinism, common random
numbers, resume, failure isolation, incompatible cells."""

from __future__ import annotations

import json
import math
import types

import pandas as pd
import pytest
import torch

import ganbench
from ganbench import hookimpl
from ganbench.specs import LossSpec
from ganbench.training import HISTORY_COLUMNS


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
    assert "fid: the domain classifier needs labelled images" in row["message"]
    cell = tmp_path / "cells" / "ring8__vanilla__nonsat__s0"
    hist = pd.read_csv(cell / "history.csv")
    assert tuple(hist.columns) == HISTORY_COLUMNS and len(hist) == 20
    assert hist[list(HISTORY_COLUMNS)].notna().all().all() and (hist["grad_norm_d"] > 0).all()
    assert sorted(p.name for p in (cell / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
    state = torch.load(cell / "generator.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values())
    config = json.loads((cell / "config.json").read_text())
    assert config["settings"]["lr_g"] == 2e-4 and config["settings_source"]["lr_g"] == "default"
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 1 and table.loc[0, "cell_id"] == "ring8__vanilla__nonsat__s0"


def test_same_seed_same_numbers(tmp_path, tiny):
    kw = dict(models="vanilla,dcgan", losses="nonsat", datasets="mnist5k", seeds=[1], settings=tiny, device="cpu")
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
    assert row.loc["raises", "message"] == "RuntimeError: loss exploded on purpose"
    assert "loss exploded on purpose" in (tmp_path / "cells" / "ring8__vanilla__raises__s0" / "error.txt").read_text()
    assert len(pd.read_csv(tmp_path / "results.csv")) == 3


def test_incompatible_cells_are_skipped_with_a_reason(tmp_path, tiny):
    df = ganbench.run(models="dcgan", losses="nonsat", datasets="ring8", seeds=[0], settings=tiny, out=tmp_path,
                      device="cpu")
    assert list(df["status"]) == ["skipped"]
    assert df.iloc[0]["message"] == "dcgan needs images (C×H×W); ring8 is vector data of shape (2,)"


def test_rerun_resumes_and_changed_settings_retrain(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], out=tmp_path, device="cpu")
    ganbench.run(settings=tiny, **kw)
    result = tmp_path / "cells" / "ring8__vanilla__nonsat__s0" / "result.json"
    first = result.read_text()
    events = []

    class Rec:
        def run_started(self, cells, out): ...
        def cell_started(self, cell, index, steps): events.append("started")
        def step(self, record): ...
        def cell_finished(self, cell, row, resumed): events.append(("finished", resumed))

    ganbench.run(settings=tiny, reporter=Rec(), **kw)
    assert events == [("finished", True)] and result.read_text() == first
    events.clear()
    df = ganbench.run(settings={**tiny, "steps": 25}, reporter=Rec(), **kw)
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


def test_mixture_data_is_the_advertised_ring(plugins):
    data = plugins.registry.get("dataset", "ring8").load()
    centres = torch.tensor(data.info.modes)
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.ones(8), atol=1e-6)
    resid = data.x - centres[data.y]
    assert resid.std().item() == pytest.approx(0.01, rel=0.05)
    assert math.isclose(data.info.mode_std, 0.01)
    again = plugins.registry.get("dataset", "ring8").load()
    assert torch.equal(again.x, data.x) and again.info.fingerprint == data.info.fingerprint
