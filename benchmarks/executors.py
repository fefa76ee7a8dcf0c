"""Benchmark: the wall time of a 12-cell ring8 grid (vanilla × nonsat, lsgan, hinge, wgan × seeds
0-2, 1,500 steps) trained serially and with ``--jobs N`` worker processes on this machine.

Target (issue 17): ``--jobs 2`` on a 2-core machine takes at most 0.6× the serial wall time. Exits 1
when it does not. Run it alone: another training on the machine makes both numbers meaningless.

    python benchmarks/executors.py                # serial (default threads) vs --jobs 2, about 2 minutes here
    python benchmarks/executors.py --jobs 4       # on a bigger machine

Each command is the real ``ganbench run`` (a subprocess, start-up included) into a fresh temporary
directory. The serial run uses torch's default threads (all cores); the workers get cores // jobs
each, as ``ganbench run --jobs N`` does by default. With ``--same-threads`` the serial run uses the
workers' thread count too, and the two tables must be equal (timings aside).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

TARGET = 0.6
GRID = ["run", "-m", "vanilla", "-l", "nonsat,lsgan,hinge,wgan", "-d", "ring8", "-s", "0-2", "--steps", "1500",
        "--device", "cpu", "-q"]
VARYING = {"wall_s", "train_s", "steps_per_s", "eval_s", "trajectory_eval_s", "checkpoint_s", "started_at",
           "resumed_from", "other_runs", "executor", "worker", "node", "device_share", "device", "threads"}


def timed(args: list[str], out: Path) -> tuple[float, pd.DataFrame]:
    script = str(Path(sys.executable).parent / "ganbench")
    start = time.perf_counter()
    res = subprocess.run([script, *args, "-o", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"ganbench {' '.join(args)} failed: {res.stderr.strip()}")
    return wall, pd.read_csv(out / "results.csv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--same-threads", action="store_true")
    args = parser.parse_args()
    import torch

    threads = max(1, torch.get_num_threads() // args.jobs)
    serial_args = GRID + (["--threads", str(threads)] if args.same_threads else [])
    with tempfile.TemporaryDirectory() as tmp:
        serial, a = timed(serial_args, Path(tmp) / "serial")
        parallel, b = timed(GRID + ["--jobs", str(args.jobs)], Path(tmp) / "jobs")
    ratio = parallel / serial
    print(f"12 cells, ring8, 1,500 steps: serial ({torch.get_num_threads() if not args.same_threads else threads} "
          f"threads) {serial:.1f} s; --jobs {args.jobs} ({threads} thread(s) each) {parallel:.1f} s; ratio {ratio:.2f} "
          f"(target <= {TARGET})")
    print(f"median train_s per cell: serial {a['train_s'].median():.2f} s, --jobs {args.jobs} "
          f"{b['train_s'].median():.2f} s")
    if args.same_threads:
        cols = sorted(c for c in a.columns if c not in VARYING)
        same = a[cols].sort_values("cell_id").reset_index(drop=True).equals(b[cols].sort_values("cell_id")
                                                                             .reset_index(drop=True))
        print(f"tables equal (timings and placement aside): {same}")
        if not same:
            return 1
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
