"""Benchmark: what the reliability features cost (issue 7).

For each model, trains the same cell (mnist5k, nonsat, seed 0) several ways:

- ``plain``: no checkpoints;
- ``ckpt-1`` / ``ckpt-100``: a checkpoint after every step (the worst case) / every 100 steps. The
  row's ``checkpoint_s`` is the time spent writing them, reported as a share of training time (the
  default is one checkpoint per minute of training);
- ``deterministic``: ``--deterministic``; reported as training steps/s next to ``plain`` (on the CPU
  it should cost nothing; on a GPU this is the number the flag's help refers to).

Target: at the default interval (one checkpoint per ``CHECKPOINT_SECONDS`` = 60 s of training),
checkpoints cost under 1% of training time, i.e. one takes under 0.6 s (measured from ``ckpt-1``).
Exits 1 when it does not. (How much a fixed ``--checkpoint-every N`` costs depends on the model's
speed: the table shows it for N = 1 and 100.)

    python benchmarks/reliability_cost.py                 # auto device; dcgan and vanilla, 300 steps
    python benchmarks/reliability_cost.py --device cuda --steps 2000

Each variant runs in a fresh temporary directory, in alternating order over ``--repeats`` rounds;
medians are reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import ganbench
from ganbench.execution.cell import CHECKPOINT_SECONDS

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
        speed: dict[str, list[float]] = {k: [] for k in VARIANTS}
        share: dict[str, list[float]] = {k: [] for k in VARIANTS}
        for r in range(args.repeats):
            for name in (VARIANTS if r % 2 == 0 else reversed(VARIANTS)):
                with tempfile.TemporaryDirectory() as tmp:
                    row = ganbench.run(models=model, losses="nonsat", datasets="mnist5k", seeds=[0], metrics="stability",
                                       settings={"steps": args.steps, "sample_every": 0}, device=args.device,
                                       out=Path(tmp), **{"checkpoint_every": 0, **VARIANTS[name]}).iloc[0]
                speed[name].append(row["steps_per_s"])
                share[name].append(row["checkpoint_s"] / row["train_s"])
        base = statistics.median(speed["plain"])
        print(f"{model} on {row['device']}, {args.steps} steps, batch {row['hp_batch_size']}, median of {args.repeats}:")
        for name, opts in VARIANTS.items():
            s = statistics.median(speed[name])
            every = opts.get("checkpoint_every")
            ckpt = (f"; {(args.steps - 1) // every} checkpoints took {statistics.median(share[name]):.2%} of training time"
                    if every else "")
            print(f"  {name:14s} {s:7.1f} steps/s training ({(s / base - 1) * 100:+.1f}% vs plain){ckpt}")
        train_s = args.steps / statistics.median(speed["ckpt-1"])
        per = statistics.median(share["ckpt-1"]) * train_s / (args.steps - 1)  # seconds per checkpoint
        cost = per / CHECKPOINT_SECONDS
        print(f"  one checkpoint: {per * 1000:.1f} ms; at the default interval ({CHECKPOINT_SECONDS:.0f} s) "
              f"{cost:.3%} of training time")
        if cost > TARGET:
            print(f"  FAIL: checkpoints at the default interval cost {cost:.2%} of training time (target < {TARGET:.0%})")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
