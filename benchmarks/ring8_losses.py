"""Benchmark: every built-in loss with the ``vanilla`` MLP on ``ring8``, 3 seeds — the grid of the
suite file ``benchmarks/ring8-losses.toml`` (this script adds the loss traces to its table).

Prints, per loss (mean over seeds), the D/G loss traces at 10 points of training, the final
D(real) - D(fake) gap, the gradient norms, the statuses and the speed. Mixture metrics (modes
captured, % high-quality samples) come with the metrics plugins; this file prints whatever metric
columns the run produced, so it shows them as soon as they are registered.

    python benchmarks/ring8_losses.py                      # paper recipes, 5000 steps, seeds 0,1,2
    python benchmarks/ring8_losses.py --same-settings      # one shared recipe
    python benchmarks/ring8_losses.py --steps 500 --seeds 0   # a quick look

Results go to ``results/runs/bench-ring8-losses-<recipe>-<steps>`` (re-running resumes); the sample
scatter plots are in ``cells/*/samples/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import ganbench
from ganbench.suite import load_suite_file

SUITE = Path(__file__).with_name("ring8-losses.toml")

META = {"cell_id", "dataset", "model", "loss", "seed", "status", "message", "device", "config_hash", "recipe",
        "ganbench_version", "started_at", "model_options", "loss_options", "hp_source", "wall_s", "train_s",
        "steps_per_s", "steps_done", "diverged_at"}


def traces(out: Path, df: pd.DataFrame, points: int) -> pd.DataFrame:
    """D and G loss at ``points`` evenly spaced steps, each the mean of a window, averaged over seeds."""
    rows = []
    for _, r in df[df["status"].isin(["ok", "diverged"])].iterrows():
        hist = pd.read_csv(out / "cells" / r["cell_id"] / "history.csv")
        window = max(1, len(hist) // (points * 2))
        marks = [round(len(hist) * (i + 1) / points) for i in range(points)]
        for m in marks:
            seg = hist.iloc[max(0, m - window):m]
            rows.append({"loss": r["loss"], "seed": r["seed"], "step": int(seg["step"].iloc[-1]),
                         "d_loss": seg["d_loss"].mean(), "g_loss": seg["g_loss"].mean(),
                         "gap": (seg["d_real"] - seg["d_fake"]).mean(),
                         "grad_norm_d": seg["grad_norm_d"].mean(), "grad_norm_g": seg["grad_norm_g"].mean()})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, help="default: the suite file's (5000)")
    ap.add_argument("--seeds", help="default: the suite file's (0,1,2)")
    ap.add_argument("--same-settings", action="store_true", help="one shared recipe instead of each paper's")
    ap.add_argument("--points", type=int, default=5, help="trace points printed per loss")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    recipe = "same" if args.same_settings else "paper"
    steps = args.steps or load_suite_file(SUITE)["settings"]["steps"]
    out = args.out or Path("results/runs") / f"bench-ring8-losses-{recipe}-{steps}"
    start = time.perf_counter()
    df = ganbench.run(suite=SUITE, seeds=args.seeds, steps=args.steps, recipe=recipe, device=args.device, out=out)
    wall = time.perf_counter() - start
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"ring8 × vanilla × every loss, recipe={recipe}, steps={steps}, seeds={sorted(set(df['seed']))}: "
          f"{wall:.0f} s wall ({out})\n")

    summary = df.groupby("loss").agg(
        ok=("status", lambda s: int((s == "ok").sum())), diverged=("status", lambda s: int((s == "diverged").sum())),
        failed=("status", lambda s: int((s == "failed").sum())), optimizer=("hp_optimizer", "first"),
        lr_d=("hp_lr_d", "first"), n_critic=("hp_n_critic", "first"), steps_per_s=("steps_per_s", "mean"),
    )
    metrics = [c for c in df.columns if c not in META and not c.startswith("hp_") and pd.api.types.is_numeric_dtype(df[c])]
    for c in metrics:
        summary[c] = df.groupby("loss")[c].mean()
    summary["lr_d"] = summary["lr_d"].map("{:g}".format)
    print(summary.round(4).to_string(), "\n")

    tr = traces(out, df, args.points)
    if len(tr):
        by_step = tr.groupby(["loss", "step"])[["d_loss", "g_loss", "gap", "grad_norm_d", "grad_norm_g"]].mean()
        print("loss traces (window means around each step, averaged over seeds):")
        print(by_step.round(4).to_string())
        spread = tr.groupby(["loss", "step"])["g_loss"].std().groupby("loss").last()
        print("\nstd over seeds of the final g_loss:\n" + spread.round(4).to_string())


if __name__ == "__main__":
    main()
