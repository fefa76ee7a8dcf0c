#!/usr/bin/env bash
# PacGAN's full 2D-ring protocol on one GPU, offline, in under 8 minutes (issue 34): usage (from the repository
# root)
#
#     bash benchmarks/gpu_protocols.sh OUTDIR [WHEELS_DIR]
#
# The set-up is the GPU check's (benchmarks/gpu_setup.sh). Then the `pacgan-ring` protocol (Lin et al. 2018,
# Table 1: PacGAN's networks, Adam 1e-4 β1 0.8, batch 100, 10 seeds, 400,000 iterations) with its 10 seeds
# trained as one replica group (--replicas 10):
#   1. a probe of PROBE_STEPS (default 2,000) iterations gives the group's iterations/s, and so the time the
#      full protocol takes on this machine;
#   2. as many iterations as fit in what is left of the 8 minutes (LIMIT_SECONDS, default 470, less the
#      time spent so far and a reserve for publishing; at most the paper's 400,000, in thousands), trained
#      under that limit, evaluated as the protocol says (2,500 samples, the 3σ rule); a group cut short
#      writes no rows (its 10 seeds finish together) and the report says so;
#   3. the board (ganbench leaderboard --publish) with the paper's numbers beside ours, labelled with its
#      fraction of the paper's budget.
# CUDA graphs are not used: replica groups refuse compile (issue 33's hand capture is not built yet).
# Everything goes to OUTDIR: gpu_protocols.md (the machine, the probe, the run, the board), runs/, board/,
# runs.txt (their output), install.txt.
#
# OUTDIR must not hold an earlier run of the script (a resumed probe would give an old rate).
# SMOKE=1 DEVICE=cpu PROBE_STEPS=20 runs the same plumbing on the CPU (two probe lengths): a smoke test of the
# script, not a measurement.
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_protocols.sh OUTDIR [WHEELS_DIR]}"
wheels="${2:-}"
device="${DEVICE:-cuda}"
probe="${PROBE_STEPS:-2000}"
limit="${LIMIT_SECONDS:-470}"
t0=$(date +%s)
case "$probe$limit" in *[!0-9]*) echo "PROBE_STEPS and LIMIT_SECONDS are whole numbers"; exit 2;; esac
if [ -e "$out/runs" ]; then echo "$out already holds runs of this script: give an empty OUTDIR"; exit 2; fi
mkdir -p "$out"
report="$out/gpu_protocols.md"
OPTIONAL="${OPTIONAL:-torch-fidelity mlxtend}"  # ring8 is drawn, not read: neither is needed here
. benchmarks/gpu_setup.sh
trap 'echo; cat "$report"' EXIT
threads=8
[ -n "${SMOKE:-}" ] && threads=1
{
  echo "# PacGAN's 2D-ring protocol on one GPU, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'device $device')"
  [ -n "$setup_note" ] && echo "$setup_note"
  echo
} > "$report"
start=$(date +%s)
timeout -k 15 90 ganbench run --protocol pacgan-ring --replicas 10 --steps "$probe" --device "$device" \
  --threads "$threads" -q -o "$out/runs/probe" >> "$out/runs.txt" 2>&1
rc=$?
# the replica group's iterations/s (every row of the group holds it); nothing when it is not a positive number
# or when the seeds did not train as one group (a fallback to seeds one by one would be a rate per seed)
sps=$(python3 -c "
import math, pandas as pd
rows = pd.read_csv('$out/runs/probe/results.csv')
v = float(rows['steps_per_s'].median())
grouped = 'replica_group' in rows and rows['replica_group'].notna().all() and rows['replica_group'].nunique() == 1
print(v if math.isfinite(v) and v > 0 and grouped else '')" 2>/dev/null)
if [ $rc != 0 ] || [ -z "$sps" ]; then
  echo "the probe failed (exit $rc after $(( $(date +%s) - start )) s, iterations/s '${sps}', or its seeds did not train as one replica group): see runs.txt" >> "$report"
  exit 1
fi
left=$(( limit - ($(date +%s) - t0) - 60 ))  # what is left of the limit, less a minute to evaluate and publish
# planned at 80 % of the probe's rate over what is left less 45 s (start-up, the 10 replicas' set-up, evaluation):
# a group cut short writes no rows
steps=$(python3 -c "print(max(1000, min(400000, int(0.8 * $sps * max(0, $left - 45)) // 1000 * 1000)))")
[ -n "${SMOKE:-}" ] && steps=$(( probe * 2 ))
{
  echo "## probe: $probe iterations × 10 seeds as one replica group"
  echo
  echo "- $sps iterations/s (the group: every seed advances one iteration per step), $(( $(date +%s) - start )) s with set-up and evaluation"
  python3 -c "print(f'- the full protocol (400,000 iterations × 10 seeds) would take {400000 / $sps / 60:.1f} min of training here')"
  echo
  echo "## the run: $steps iterations ($(python3 -c "print(f'{$steps / 4000:.2f}')") % of the paper's 400,000), $left s left"
  echo
} >> "$report"
start=$(date +%s)
timeout -k 15 "$(( left > 30 ? left : 30 ))" ganbench run --protocol pacgan-ring --replicas 10 --steps "$steps" \
  --device "$device" --threads "$threads" -q -o "$out/runs/main" >> "$out/runs.txt" 2>&1
rc=$?
echo "- exit $rc after $(( $(date +%s) - start )) s$([ $rc = 124 ] && echo ': cut short by the time limit; a replica group writes its rows when all its seeds finish, so there are none')" >> "$report"
[ -f "$out/runs/main/results.csv" ] || exit 1
ganbench leaderboard "$out/runs/main" --publish "$out/board" --metrics modes,hq_pct,hq_kl,mode_kl \
  --title "PacGAN's 2D-ring protocol on one GPU: GAN, 10 seeds as replicas, $steps iterations" \
  --note "Protocol pacgan-ring at $steps of its 400,000 iterations, the 10 seeds trained as one replica group on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo "$device"). ± is the standard error over the seeds, as the paper reports." \
  >> "$out/runs.txt" 2>&1 || echo "- the board could not be published: see runs.txt" >> "$report"
[ -f "$out/board/leaderboard.md" ] && { echo; cat "$out/board/leaderboard.md"; } >> "$report"
echo "- $(( $(date +%s) - t0 )) s in all" >> "$report"
exit 0
