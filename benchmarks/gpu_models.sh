#!/usr/bin/env bash
# The heavy models' quality on one GPU, offline, in under 8 minutes (issue 35): usage (from the repository root)
#
#     bash benchmarks/gpu_models.sh OUTDIR [WHEELS_DIR]
#
# The set-up is the GPU check's (benchmarks/gpu_setup.sh: ganbench without dependencies, what is missing from
# WHEELS_DIR only). Then, on mnist5k at 32 px, at the papers' widths:
#   - benchmarks/models.py: parameter counts and steps/s (nonsat loss, 30 timed steps) of each;
#   - one cell each with its paper's loss and recipe for a fixed number of steps, FID (and conditional
#     accuracy for the conditional ones) every 250 steps on 2,000 samples:
#       sngan-proj  width 256 (the paper's G; its D is 128 wide, ours takes the one width), hinge, 5 D steps
#       biggan      ch 64 (the authors' CIFAR-10 nets), hinge, 4 D steps, batch 50
#       stylegan2   width 512 (StyleGAN2-ADA's channel_max: its 32 px nets), nonsat-r1, the 'auto' recipe
#     each under a time limit (MODEL_SECONDS, default 110) so that the script ends in time; a cell cut short
#     keeps the evaluations it made (a checkpoint follows every evaluation: --checkpoint-every 250) and says so.
# Everything goes to OUTDIR: gpu_models.md (the machine, both tables, the trajectories), models.md,
# trajectory_<model>.csv, runs/ (the cells), runs.txt (their output), install.txt.
#
# SMOKE=1 DEVICE=cpu STEPS=4 runs the same plumbing on the CPU at small widths (sngan-proj 8, biggan ch 2,
# stylegan2 8): a smoke test of the script, not a measurement.
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_models.sh OUTDIR [WHEELS_DIR]}"
wheels="${2:-}"
device="${DEVICE:-cuda}"
seconds="${MODEL_SECONDS:-110}"
mkdir -p "$out"
report="$out/gpu_models.md"
. benchmarks/gpu_setup.sh
trap 'echo; cat "$report"' EXIT
widths=(256 64 512)  # sngan-proj width, biggan ch, stylegan2 width (channel_max)
[ -n "${SMOKE:-}" ] && widths=(8 2 8)
{
  echo "# The heavy models on one GPU, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'device $device')"
  [ -n "$setup_note" ] && echo "$setup_note"
  echo
  echo "## parameters and steps/s (benchmarks/models.py, nonsat loss, mnist5k at 32 px)"
  echo
} > "$report"
timeout 90 python3 benchmarks/models.py --device "$device" --image-size 32 --steps "${STEPS:-30}" --warmup 2 --threads 8 \
  --models sngan-proj,biggan,stylegan2 --model-opt sngan-proj.width="${widths[0]}" --model-opt biggan.ch="${widths[1]}" \
  --model-opt stylegan2.width="${widths[2]}" > "$out/models.md" 2>&1 || echo "models.py: exit $?" >> "$report"
cat "$out/models.md" >> "$report"
# model, its options, steps (STEPS overrides every count)
cells=("sngan-proj|--model-opt sngan-proj.width=${widths[0]}|${STEPS:-1500}"
       "biggan|--model-opt biggan.ch=${widths[1]}|${STEPS:-1500}"
       "stylegan2|--model-opt stylegan2.width=${widths[2]}|${STEPS:-1000}")
echo -e "\n## one cell each, its paper's loss and recipe, seed 0\n" >> "$report"
for cell in "${cells[@]}"; do
  IFS='|' read -r model opts steps <<< "$cell"
  loss=$(python3 -c "from ganbench.plugins import load_plugins; print(load_plugins().registry.get('model', '$model').loss)")
  metrics=fid
  [ "$model" != stylegan2 ] && metrics=fid,cond-acc
  start=$(date +%s)
  # shellcheck disable=SC2086  # $opts holds two words
  timeout "$seconds" ganbench run -d mnist5k --data-opt mnist5k.image_size=32 -m "$model" -l "$loss" -s 0 \
    --steps "$steps" $opts --metrics "$metrics" --set eval_every=250 --set eval_samples=2000 --set sample_every=0 \
    --checkpoint-every 250 --device "$device" -q -o "$out/runs/$model" >> "$out/runs.txt" 2>&1
  rc=$?
  echo "- $model ($loss, $opts, $steps steps): exit $rc after $(( $(date +%s) - start )) s$([ $rc = 124 ] && echo ': cut short by the time limit')" >> "$report"
  traj=$(ls "$out/runs/$model"/cells/*/trajectory.csv 2>/dev/null | head -n 1)
  [ -n "$traj" ] && cp "$traj" "$out/trajectory_$model.csv"
  true
done
python3 - "$out" >> "$report" <<'PY'
import sys
from pathlib import Path

import pandas as pd
import torch

from ganbench.store import CHECKPOINT_FILE

out = Path(sys.argv[1])
for run in sorted((out / "runs").glob("*")):
    model = run.name
    traj, where = out / f"trajectory_{model}.csv", "trajectory.csv"
    points = pd.read_csv(traj) if traj.exists() else None
    if points is None:  # cut short: the evaluations its last checkpoint holds (one after every evaluation)
        ckpt = next(run.glob(f"cells/*/{CHECKPOINT_FILE}"), None)
        state = torch.load(ckpt, map_location="cpu", weights_only=True) if ckpt else {}
        points, where = pd.DataFrame(state.get("trajectory", [])), f"the last checkpoint (step {state.get('step', '?')})"
        points.to_csv(traj, index=False)
    print(f"\n### {model}: metrics every 250 steps, from {where}\n")
    if points.empty:
        print("no evaluation was reached (or none was checkpointed before the time limit)")
        continue
    cols = [c for c in ("step", "fid", "cond_acc") if c in points.columns]
    print("| " + " | ".join(cols) + " |\n|" + "---:|" * len(cols))
    for _, p in points[cols].iterrows():
        print("| " + " | ".join(f"{int(p[c])}" if c == "step" else f"{p[c]:.3f}" for c in cols) + " |")
    rows = run / "results.csv"
    if rows.exists():
        r = pd.read_csv(rows).iloc[0]
        print(f"\nstatus {r['status']}, {r['steps_done']} steps, {r['steps_per_s']:.2f} steps/s in training")
PY
