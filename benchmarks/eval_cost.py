"""Benchmark: what the default evaluation of one cell costs next to its training, on the default
command's grid (``mnist5k × {vanilla, dcgan} × {nonsat, minimax}``), default settings and metrics.

Target (issue 5): the evaluation of a cell — every default metric, ``eval_s`` — costs less than 25% of
its training time (``train_s``), per model, median over the cells. Exits 1 when it does not.

    python benchmarks/eval_cost.py                   # seed 0: 4 cells, about 2.5 minutes on 2 CPU cores
    python benchmarks/eval_cost.py --seeds 0,1,2     # the whole default grid

Runs into a fresh temporary directory, so nothing is resumed. One-time costs (training the domain
classifier, computing the real features) happen before the first cell or in its evaluation and are
reported separately: the first cell's ``eval_s`` includes the real features unless they are cached.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

import ganbench

TARGET = 0.25


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the development machine has 2 cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        df = ganbench.run(models="vanilla,dcgan", losses="nonsat,minimax", seeds=args.seeds, out=Path(tmp) / "run",
                          device="cpu")
        wall = time.perf_counter() - start
    df["ratio"] = df["eval_s"] / df["train_s"]
    print(df[["model", "loss", "seed", "status", "train_s", "eval_s", "ratio"]].to_string(index=False,
                                                                                         float_format="%.3f"))
    per_model = df.groupby("model")[["train_s", "eval_s", "ratio"]].median()
    print("\nmedian per model:\n" + per_model.to_string(float_format="%.3f"))
    print(f"\nwall {wall:.1f} s for {len(df)} cells; torch threads {torch.get_num_threads()}; target: eval < "
          f"{TARGET:.0%} of training")
    worst = per_model["ratio"].max()
    print(f"{'PASS' if worst < TARGET else 'FAIL'}: worst median ratio {worst:.1%}")
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
