"""How a run's numbers move with its budget: the metric trajectory of every cell (``trajectory.csv``, written
with ``--set eval_every=N``; its last point is the final evaluation) as one markdown table per (data set,
model, loss): each evaluation step, its fraction of the protocol's budget where the run has a protocol, and
each metric's mean ± standard error over the seeds measured at that step (their number in the last column),
then the paper's row these cells reproduce (as a board finds it) where the protocol has one.

Usage: ``python benchmarks/trajectory_table.py RUN_DIR [--metrics modes,hq_pct,hq_kl,mode_kl]``
(prints the tables; ``benchmarks/pacgan_protocols.sh budget`` writes them beside its board).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from ganbench.leaderboard import paper_cells
from ganbench.plugins import load_plugins
from ganbench.report import with_points
from ganbench.store import RunStore


def mean_se(values: pd.Series) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "—"
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    digits = 3 if v.abs().max() < 10 else 2
    return f"{v.mean():.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{v.mean():.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--metrics", default="modes,hq_pct,hq_kl,mode_kl")
    args = ap.parse_args()
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    store = RunStore(args.run_dir)
    table = store.table()
    table = with_points(table) if "point" in table else table.assign(point="")
    if not (table["status"] == "ok").any():
        raise SystemExit(f"{args.run_dir}: no finished cell yet")
    protocol = store.suite().get("protocol")
    spec = load_plugins().registry.get("protocol", protocol) if protocol else None
    budget = spec.budget if spec is not None else None
    keys = ["dataset", "model", "loss", "point"]  # a sweep's points apart, as a board keeps them
    for key, everything in table.groupby(keys, sort=False):
        group = everything[everything["status"] == "ok"]
        notes: list[str] = []
        frames = [t.assign(seed=r["seed"]) for _, r in group.iterrows()
                  if (t := store.trajectory(r["cell_id"], notes)) is not None]
        label = " / ".join(str(k) for k in key if k)
        print(f"### {label}: {len(frames)} seeds" + (f", protocol {protocol}" if protocol else ""))
        for _, r in everything[everything["status"] != "ok"].iterrows():  # said, not silently left out
            at = f" at step {int(r['diverged_at']):,}" if pd.notna(r.get("diverged_at")) else ""
            notes.append(f"seed {r['seed']} {r['status']}{at}: left out of every step, as a board's metric columns "
                         "leave it out")
        print()
        for note in notes:
            print(f"- {note}")
        if notes:
            print()
        if not frames:
            print("no trajectory (run it with --set eval_every=N)\n")
            continue
        points = pd.concat(frames)
        shown = [m for m in metrics if m in points]
        print("| step | " + ("budget | " if budget else "") + " | ".join(shown) + " | seeds |")
        print("|---:|" + ("---:|" if budget else "") + "---:|" * len(shown) + "---:|")
        for step, at in points.groupby("step", sort=True):
            share = f"{100 * step / budget:.3g} % | " if budget else ""
            print(f"| {int(step):,} | {share}" + " | ".join(mean_se(at[m]) for m in shown) + f" | {len(at)} |")
        papers = [p for p in (spec.results if spec is not None else ()) if not paper_cells(p, group).empty]
        for paper in papers:  # the paper row these cells reproduce, as the board finds it
            cells = [f"{paper.values[m][0]:g}" + (f" ± {paper.values[m][1]:g}" if paper.values[m][1] is not None else "")
                     if m in paper.values else "—" for m in shown]
            at = f"{budget:,}" if budget else "its budget"
            print(f"| paper: {paper.label} at {at} | " + ("100 % | " if budget else "") + " | ".join(cells) + " | — |")
        if papers:
            print(f"\nPaper: {spec.paper}.")
        print()

if __name__ == "__main__":
    main()
