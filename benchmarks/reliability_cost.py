"""Benchmark: what the reliability features cost in training speed (issue 7).

For each model, trains the same cell (mnist5k, nonsat, seed 0) several ways and reports training
steps/s (``train_s`` excludes evaluation and checkpoint writing, so the checkpoint cost is measured
as wall time):

- plain: no checkpoints;
- ``--checkpoint-every 1`` and ``--checkpoint-every 100``: the worst case and a frequent one (the
  default is one checkpoint per minute of training);
- ``--deterministic``: torch's deterministic algorithms (on the CPU this should cost nothing).

Target: a checkpoint every 100 steps costs under 1% of wall time. Exits 1 when it does not.

    python benchmarks/reliability_cost.py                 # auto device; dcgan and vanilla, 300 steps
    python benchmarks/reliability_cost.py --device cuda --steps 2000

Each variant runs in a fresh temporary directory, alternating order over ``--repeats`` rounds; the
median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ganbench

TARGET = 0.01
VARIANTS = {"plain": {}, "ckpt-1": {"checkpoint_every": 1}, "ckpt-100": {"checkpoint_every": 100},
            "deterministic": {"deterministic": True}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="dcgan,vanilla")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    ok = True
    for model in args.models.split(","):
        wall: dict[str, list[float]] = {k: [] for k in VARIANTS}
        speed: dict[str, list[float]] = {k: [] for k in VARIANTS}
        for r in range(args.repeats):
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                with tempfile.TemporaryDirectory() as tmp:
                    t0 = time.perf_counter()
                    row = ganbench.run(models=model, losses="nonsat", datasets="mnist5k", seeds=[0], metrics="stability",
                                       settings={"steps": args.steps, "sample_every": 0}, device=args.device,
                                       out=Path(tmp), **{"checkpoint_every": 0, **VARIANTS[name]}).iloc[0]
                    wall[name].append(time.perf_counter() - t0)
                    speed[name].append(row["steps_per_s"])
        base_wall = statistics.median(wall["plain"])
        print(f"{model} on {row['device']}, {args.steps} steps, median of {args.repeats}:")
        for name in VARIANTS:
            w, s = statistics.median(wall[name]), statistics.median(speed[name])
            print(f"  {name:14s} {s:7.1f} steps/s (training)   wall {w:6.2f} s ({(w / base_wall - 1) * 100:+.1f}% vs plain)")
        cost = statistics.median(wall["ckpt-100"]) / base_wall - 1
        if cost > TARGET:
            print(f"  FAIL: a checkpoint every 100 steps costs {cost:.1%} of wall time (target < {TARGET:.0%})")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
