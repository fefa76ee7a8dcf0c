"""Are K replicas the same experiment as K separate seeds? Trains one (data set, model, loss) for K seeds
twice with ``ganbench run`` — ``--replicas K`` and one seed after another — and compares each final
metric: per seed (a replica starts from its seed's weights and draws its seed's batches, so the pairs
are paired), with the two-sided Wilcoxon signed-rank test on the paired differences and the
Mann-Whitney U test on the two samples (H0 for both: the same distribution; 0.05). Both run
directories resume, so a re-run only reports. Also prints the wall time of each way.

Usage: ``python benchmarks/replicas_equivalence.py OUT [--seeds 10] [--steps 2000] [--loss nonsat]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats

import ganbench
from ganbench.execution.session import NullReporter

METRICS = ("fid", "hq_pct", "modes", "mode_kl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--model", default="vanilla")
    ap.add_argument("--loss", default="nonsat")
    ap.add_argument("--dataset", default="ring8")
    args = ap.parse_args()
    k = args.seeds
    request = dict(models=args.model, losses=args.loss, datasets=args.dataset, seeds=list(range(k)),
                   metrics="modes,fid", device="cpu", reporter=NullReporter(),
                   settings={"steps": args.steps, "sample_every": 0})
    walls = {}
    frames = {}
    for name, replicas in (("replicas", k), ("alone", 1)):
        t0 = time.perf_counter()
        frames[name] = ganbench.run(**request, replicas=replicas, out=args.out / name).set_index("seed")
        walls[name] = time.perf_counter() - t0
    a, b = frames["replicas"], frames["alone"]
    print(f"{args.dataset}/{args.model}/{args.loss}, {k} seeds, {args.steps} steps; this call's wall time "
          f"(0 s: resumed): replicas {walls['replicas']:.0f} s, alone {walls['alone']:.0f} s; training time "
          f"(rows): replicas {a['train_s'].max():.0f} s, alone {b['train_s'].sum():.0f} s")
    print("| metric | replicas mean ± sd | alone mean ± sd | max per-seed abs. difference | Wilcoxon p | "
          "Mann-Whitney p |")
    print("|---|---:|---:|---:|---:|---:|")
    for metric in METRICS:
        x, y = a.loc[b.index, metric].to_numpy(float), b[metric].to_numpy(float)
        diff = x - y
        wilcoxon = stats.wilcoxon(x, y).pvalue if np.any(diff != 0) else 1.0
        mwu = stats.mannwhitneyu(x, y, alternative="two-sided").pvalue
        print(f"| {metric} | {x.mean():.4g} ± {x.std(ddof=1):.2g} | {y.mean():.4g} ± {y.std(ddof=1):.2g} | "
              f"{np.abs(diff).max():.3g} | {wilcoxon:.3g} | {mwu:.3g} |")


if __name__ == "__main__":
    main()
