"""Why does sngan-proj's class conditioning stay near chance on mnist5k? An experiment that separates the
suspects (issue 35), with its decision rule fixed before it ran.

sngan-proj at 28 px, width 8, hinge, its recipe (5 D steps, Adam 2e-4 (0, 0.9)), seeds 0 and 1, a
pinned number of steps, conditional accuracy (``cond-acc``: the share of generated digits the domain
classifier puts in the class they were asked to be; chance ≈ 0.10) every 250 steps, three arms as one
swept run:

    a  neutral:projection   today: per-class BatchNorm gains start at 1, shifts at 0 (Miyato's chainer code)
    b  studiogan:projection PyTorch-StudioGAN's start: γ = 1 + W_γ·onehot(y), β = W_β·onehot(y), W orthogonal
    c  neutral:concat       today's G with cgan's D (one-hot label maps beside the image) in place of the
                            projection D

Decision rule (written before the run; acc = the mean over both seeds of cond_acc at the last step):

1. b − a >= 0.15: the class-neutral start is what holds conditioning back; studiogan becomes the default
   start (neutral stays an option).
2. otherwise, c − a >= 0.15: G's class pathway learns when D's class signal is strong; the projection
   D's signal at this budget is the bottleneck, not the start; the default stays.
3. otherwise, all three below 0.3: none of the changes matters at this budget; the budget (or something
   not tested) holds it back, and no board shows sngan-proj.
4. otherwise (a >= 0.3 and neither change helps by 0.15): sngan-proj conditions at this budget; the
   default stays, and it may go on the conditional board at width 8, labelled so.

The trajectories (every 250 steps) say whether an arm is still rising at the end.

    python benchmarks/sngan_proj_start.py [--out results/runs/sngan-proj-start] [--steps 1500] [--read-only]
        [--publish results/sngan-proj-start/README.md]

Resumes (finished cells are not trained again). Run it alone: about 40 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

ARMS = {"a": "neutral:projection", "b": "studiogan:projection", "c": "neutral:concat"}
MARGIN, FLOOR = 0.15, 0.3


def run(out: Path, steps: int) -> None:
    cmd = ["ganbench", "run", "-d", "mnist5k", "-m", "sngan-proj", "-l", "hinge", "--seeds", "0,1", "--steps", str(steps),
           "--model-opt", "sngan-proj.width=8",
           "--model-opt", "sngan-proj.init=torch",  # as the published board was trained (before init=reference)
           "--sweep", "sngan-proj.cbn_start+sngan-proj.d=" + ",".join(ARMS.values()),
           "--metrics", "cond-acc", "--set", "eval_every=250", "--set", "eval_samples=1000", "--set", "sample_every=0",
           "-q", "-o", str(out)]
    subprocess.run(cmd, check=True)


def arm_of(point: str) -> str:
    values = dict(kv.split("=", 1) for kv in point.split(";"))
    key = f"{values['sngan-proj.cbn_start']}:{values['sngan-proj.d']}"
    return next(k for k, v in ARMS.items() if v == key)


def read(out: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    rows = pd.read_csv(out / "results.csv")
    curves = []
    for row in rows.itertuples():
        traj = pd.read_csv(out / "cells" / row.cell_id / "trajectory.csv")
        curves.append(traj[["step", "cond_acc"]].assign(arm=arm_of(row.point), seed=row.seed))
    table = pd.concat(curves).pivot_table(index="step", columns=["arm", "seed"], values="cond_acc")
    last = table.index.max()
    acc = {arm: float(table.loc[last, arm].mean()) for arm in ARMS if arm in table.columns.get_level_values(0)}
    return table, acc


def decide(acc: dict[str, float]) -> str:
    a, b, c = acc["a"], acc["b"], acc["c"]
    if b - a >= MARGIN:
        return "1: the class-neutral start holds conditioning back: studiogan becomes the default start"
    if c - a >= MARGIN:
        return "2: the projection D's class signal is the bottleneck at this budget, not the start: the default stays"
    if max(a, b, c) < FLOOR:
        return "3: no arm conditions at this budget: the budget (or something untested) holds it back; no board"
    return "4: sngan-proj conditions at this budget and neither change helps: the default stays"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/runs/sngan-proj-start"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--read-only", action="store_true", help="read the finished run, train nothing")
    ap.add_argument("--publish", type=Path, help="also write the readout (rule, table, decision) as Markdown here")
    args = ap.parse_args()
    if not args.read_only:
        run(args.out, args.steps)
    table, acc = read(args.out)
    lines = ["cond_acc by step (arm, seed):", table.round(3).to_string(),
             "mean at the last step: " + ", ".join(f"{k} ({ARMS[k]}) {v:.3f}" for k, v in acc.items())]
    print("\n".join(lines))
    if len(acc) < 3:
        sys.exit("not every arm has finished: run it again to resume")
    decision = "decision " + decide(acc)
    print(decision)
    if args.publish:
        rows = pd.read_csv(args.out / "results.csv")
        rule = __doc__.split("Decision rule", 1)[1].split("The trajectories", 1)[0]
        args.publish.parent.mkdir(parents=True, exist_ok=True)
        args.publish.write_text(
            "# sngan-proj's slow conditioning: the start or the budget? (issue 35)\n\n"
            f"`python benchmarks/sngan_proj_start.py --steps {int(rows['steps_done'].max())}` on mnist5k (28 px), "
            f"sngan-proj width 8, hinge, 5 D steps, Adam 2e-4 (0, 0.9), batch 64, seeds 0 and 1; cond_acc on 1,000 "
            f"generated digits by the shipped domain classifier (held-out accuracy "
            f"{rows['cond_classifier_accuracy'].iloc[0]:.3f}), chance {rows['cond_acc_chance'].iloc[0]:.3f}; "
            f"ganbench {rows['ganbench_version'].iloc[0]}, commit {rows['git_commit'].iloc[0]}, "
            f"{rows['device'].iloc[0]}, {rows['threads'].iloc[0]} threads.\n\n"
            "Arms: " + "; ".join(f"{k} = {v}" for k, v in ARMS.items()) + " (cbn_start:d).\n\n"
            "## Decision rule " + rule.strip() + "\n\n"
            "## Measured\n\n```\n" + "\n".join(lines) + "\n```\n\n## " + decision + "\n")


if __name__ == "__main__":
    main()
