"""Stability: the formulas on hand-made histories and trajectories, the metric trajectory of a real
run (``eval_every``) that changes no training number, loss explosions as divergence."""

from __future__ import annotations

import math
import types

import pandas as pd
import pytest

import ganbench
from ganbench import hookimpl
from ganbench.specs import LossSpec
from ganbench_builtins.metrics.stability import history_stats, trajectory_stats


def test_trajectory_stats_lower_is_better():
    points = [{"step": 100, "fid": 50.0}, {"step": 200, "fid": 30.0}, {"step": 300, "fid": 40.0},
              {"step": 400, "fid": 35.0}]
    out = trajectory_stats(points, "fid", higher_is_better=False)
    assert out["track"] == "fid" and out["track_points"] == 4
    assert out["track_best"] == 30.0 and out["track_best_step"] == 200 and out["track_final_gap"] == 5.0
    assert out["track_osc"] == pytest.approx((20 + 10 + 5) / 3)


def test_trajectory_stats_higher_is_better_and_short_trajectories():
    points = [{"step": s, "modes": m} for s, m in zip(range(1, 8), [1, 3, 8, 8, 6, 8, 7], strict=True)]
    out = trajectory_stats(points, "modes", higher_is_better=True)
    assert out["track_best"] == 8 and out["track_best_step"] == 3 and out["track_final_gap"] == 1
    assert out["track_osc"] == pytest.approx((0 + 2 + 2 + 1) / 4)  # the last 5 points only
    one = trajectory_stats(points[:1], "modes", True)
    assert one["track_best"] == 1 and math.isnan(one["track_final_gap"]) and math.isnan(one["track_osc"])
    two = trajectory_stats(points[:2], "modes", True)
    assert two["track_final_gap"] == 0 and math.isnan(two["track_osc"])


def test_history_stats():
    history = [{"step": i, "grad_norm_d": float(i), "grad_norm_g": 2.0 * i, "d_real": 1.0 + i, "d_fake": -1.0}
               for i in range(1, 21)]
    out = history_stats(history)
    assert out["grad_d_mean"] == pytest.approx(10.5) and out["grad_d_max"] == 20
    assert out["grad_g_mean"] == pytest.approx(21.0) and out["grad_g_max"] == 40
    assert out["d_gap"] == pytest.approx(((2 + 19) + (2 + 20)) / 2)  # the last 10% = 2 steps


def test_eval_every_records_a_trajectory_without_changing_training(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], device="cpu", metrics="fid,modes,stability")
    plain = ganbench.run(settings=tiny, out=tmp_path / "plain", **kw).iloc[0]
    traced = ganbench.run(settings={**tiny, "eval_every": 5}, out=tmp_path / "traced", **kw).iloc[0]
    cell = "ring8__vanilla__nonsat__s0"
    h1 = pd.read_csv(tmp_path / "plain" / "cells" / cell / "history.csv")
    h2 = pd.read_csv(tmp_path / "traced" / "cells" / cell / "history.csv")
    assert h1.equals(h2)  # evaluating mid-training draws from no training stream and leaves G as it was
    for col in ("fid", "modes", "hq_pct", "mode_kl", "grad_d_mean", "d_gap"):
        assert plain[col] == traced[col]
    points = pd.read_csv(tmp_path / "traced" / "cells" / cell / "trajectory.csv")
    assert list(points["step"]) == [5, 10, 15, 20] and points["fid"].iloc[-1] == traced["fid"]
    assert traced["eval_points"] == 4 and traced["trajectory_eval_s"] > 0 and traced["track"] == "fid"
    assert traced["track_best"] == points["fid"].min()
    assert traced["track_final_gap"] == pytest.approx(points["fid"].iloc[-1] - points["fid"].min())
    assert traced["track_osc"] == pytest.approx(points["fid"].diff().abs().iloc[1:].mean())


def _exploding_plugin():
    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec(name="explodes", d_loss=lambda r, f: (r - f).mean() * 0 + 1e7,
                                   g_loss=lambda f: -f.mean()))

    mod = types.ModuleType("exploding")
    mod.ganbench_register_losses = ganbench_register_losses
    return mod


def test_a_loss_explosion_is_divergence_and_still_gets_stability_numbers(tmp_path, tiny):
    row = ganbench.run(models="vanilla", losses="explodes", datasets="ring8", seeds=[0], settings=tiny, device="cpu",
                       out=tmp_path, plugins=[_exploding_plugin()]).iloc[0]
    assert row["status"] == "diverged" and row["diverged_at"] == 1 and bool(row["diverged"])
    assert row["message"] == "loss explosion: |d_loss| = 1e+07 > 1e+06 at step 1"
    # the history metric ran on the one recorded step; no sample metric was computed from the diverged G
    for col in ("grad_d_mean", "grad_d_max", "grad_g_mean", "grad_g_max", "d_gap"):
        assert math.isfinite(row[col]), col
    assert row["grad_g_max"] >= 0 and row["grad_d_max"] >= row["grad_d_mean"] >= 0
    assert "fid" not in row.index or pd.isna(row["fid"])
