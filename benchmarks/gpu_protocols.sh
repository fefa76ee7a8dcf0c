#!/usr/bin/env bash
# PacGAN's full 2D-ring protocol on one GPU, offline, in under 8 minutes (issue 34): usage (from the repository
# root)
#
#     bash benchmarks/gpu_protocols.sh OUTDIR [WHEELS_DIR]
#
# The set-up is the GPU check's (benchmarks/gpu_setup.sh). Then the `pacgan-ring` protocol (Lin et al. 2018,
# Table 1: PacGAN's networks, Adam 1e-4 β1 0.8, batch 100, 10 seeds, 400,000 iterations) with its 10 seeds
# trained as one replica group (--replicas 10), with --compile COMPILE (default reduce-overhead: inductor's
# CUDA graphs replay the group's vmapped G and D, what a launch-bound group of small MLPs needs; none in a
# SMOKE run; should the probe fail with it, the probe runs again without and so does the rest, as the report
# says):
#   1. a probe of PROBE_STEPS (default 2,000) iterations of 20 seeds as two replica groups of 10, one after
#      the other in one process: the group that compiled and captured pays for it, the other one does not
#      (compiled code is reused; at worst inductor's cache makes it cheap), so the faster group's training time
#      gives the steady rate and the two groups' difference the cost of compiling, which a later run pays
#      again; the probe (its 20 seeds) is the board if no longer run fits;
#   2. runs of as many iterations as fit in what is left of the limit (LIMIT_SECONDS, default 470, less a
#      minute for publishing and the probe's cost of compiling; planned at 80 % of the rate, at most the
#      paper's 400,000, in thousands), each planned from the steady rate the last one measured (its training
#      time less the probe's cost of compiling), as a group cut short writes no rows: a run is only started
#      when the rate says it fits;
#   3. the board of the longest finished run, the probe included (ganbench leaderboard --publish) with the paper's numbers
#      beside ours, labelled with its fraction of the paper's budget, and the time the full protocol takes
#      at the measured rate.
# Everything goes to OUTDIR: gpu_protocols.md (the machine, the rates, the runs, the board; printed at the
# end), runs/, board/, runs.txt (their output), install.txt.
#
# OUTDIR must not hold an earlier run of the script (a resumed probe would give an old rate).
# SMOKE=1 DEVICE=cpu PROBE_STEPS=20 runs the same plumbing on the CPU (runs of 2× and 3× the probe): a smoke
# test of the script, not a measurement.
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
compile="${COMPILE:-reduce-overhead}"
[ -n "${SMOKE:-}" ] && compile="${COMPILE:-none}"
protocol_run() {  # NAME STEPS LIMIT [SEEDS]: the protocol's seeds (0-9) as replica groups of 10 into runs/NAME
  local t=$(( $3 < limit - ($(date +%s) - t0) - 20 ? $3 : limit - ($(date +%s) - t0) - 20 ))  # within the limit
  [ "$t" -ge 20 ] || { echo "- runs/$1: not started, $t s left" >> "$report"; return 124; }
  timeout -k 10 "$t" ganbench run --protocol pacgan-ring --seeds "${4:-0-9}" --replicas 10 --steps "$2" \
    --device "$device" --compile "$compile" --threads "$threads" -q -o "$out/runs/$1" >> "$out/runs.txt" 2>&1
}
train_s() {  # NAME: the group's training seconds (every row holds them); empty unless all 10 trained as one group
  python3 -c "
import math, pandas as pd
rows = pd.read_csv('$out/runs/$1/results.csv')
v = float(rows['train_s'].median())
grouped = len(rows) == 10 and rows['replica_group'].notna().all() and rows['replica_group'].nunique() == 1
print(round(v, 2) if math.isfinite(v) and v > 0 and grouped else '')" 2>/dev/null
}
probe_times() {  # NAME: 'STEADY COMPILE' of the probe's two groups (the faster's training seconds, the difference)
  python3 -c "
import math, pandas as pd
rows = pd.read_csv('$out/runs/$1/results.csv')
per = rows.groupby('replica_group')['train_s'].median()
ok = len(rows) == 20 and rows['replica_group'].notna().all() and len(per) == 2 and bool((per > 0).all())
print(f'{per.min():.2f} {per.max() - per.min():.2f}' if ok and math.isfinite(per.sum()) else '')" 2>/dev/null
}
start=$(date +%s)
protocol_run probe "$probe" 150 0-19
rc=$?
if [ $rc != 0 ] && [ "$compile" != none ]; then  # failed, or ran past its limit (124): compiling costs too much here
  echo -e "- the probe with --compile $compile failed or ran out of time (exit $rc after $(( $(date +%s) - start )) s; runs.txt): everything runs without compile\n" >> "$report"
  compile=none
  [ -e "$out/runs/probe" ] && mv "$out/runs/probe" "$out/runs/probe-compile-failed"
  start=$(date +%s)
  protocol_run probe "$probe" 120 0-19
  rc=$?
fi
times=$(probe_times probe)
if [ $rc != 0 ] || [ -z "$times" ]; then
  echo "the probe failed (exit $rc after $(( $(date +%s) - start )) s; no rows, or the seeds did not train as two replica groups): see runs.txt" >> "$report"
  exit 1
fi
read -r t_prev compile_s <<< "$times"
n_prev=$probe
rate=$(python3 -c "print($probe / $t_prev)")
{
  echo "## --compile $compile; probe: $probe iterations × 20 seeds as two replica groups of 10, one after the other"
  echo
  echo "- the faster group: $t_prev s of training, $(python3 -c "print(f'{$rate:.0f}')") iterations/s; the other paid $compile_s s more (compiling and capturing, paid again by every run); $(( $(date +%s) - start )) s with set-up and evaluation"
  echo
  echo "## runs, each planned from the last rate"
  echo
} >> "$report"
best=probe steady=""
for i in 1 2 3; do
  left=$(( limit - ($(date +%s) - t0) - 60 ))  # what is left of the limit, less a minute to publish
  steps=$(python3 -c "print(min(400000, int(0.8 * $rate * max(0, $left - 45 - $compile_s)) // 1000 * 1000))")
  [ -n "${SMOKE:-}" ] && steps=$(( probe * (i + 1) ))
  if [ "$steps" -le "$n_prev" ] || [ "$left" -lt 60 ]; then
    echo "- no longer run fits: $left s left, $steps iterations planned" >> "$report"; break
  fi
  start=$(date +%s)
  protocol_run "run$i" "$steps" "$left"
  rc=$?
  t=$(train_s "run$i")
  echo "- run$i: $steps iterations ($(python3 -c "print(f'{$steps / 4000:.2f}')") % of the paper's 400,000), exit $rc after $(( $(date +%s) - start )) s, ${t:-no} s of training$([ $rc = 124 ] && echo ': cut short by the time limit (a replica group writes its rows when all its seeds finish)')" >> "$report"
  [ $rc = 0 ] && [ -n "$t" ] || break
  best="run$i"
  # the run paid the probe's compiling cost once: its steady rate is its iterations over the rest
  rate=$(python3 -c "t = $t - $compile_s; print($steps / t if t > 0 else $steps / $t)")
  steady="run$i's, less the probe's cost of compiling"
  n_prev=$steps
  [ "$steps" -ge 400000 ] && break
done
steps=$(python3 -c "import pandas as pd; print(int(pd.read_csv('$out/runs/$best/results.csv')['steps_done'].max()))")
{
  echo
  echo "- rate ${steady:-of the faster group of the probe}: $(python3 -c "print(f'{$rate:.0f}')") iterations/s of the group; the full protocol (400,000 iterations × 10 seeds) takes $(python3 -c "print(f'{400000 / $rate / 60:.1f}')") min of training at it, plus $compile_s s of compiling; the board is $best's"
} >> "$report"
seeds=$([ "$best" = probe ] && echo "20 seeds (the probe's two groups)" || echo "10 seeds")
timeout -k 5 60 ganbench leaderboard "$out/runs/$best" --publish "$out/board" --metrics modes,hq_pct,hq_kl,mode_kl \
  --title "PacGAN's 2D-ring protocol on one GPU: GAN, $seeds as replicas, $steps iterations" \
  --note "Protocol pacgan-ring at $steps of its 400,000 iterations, $seeds trained as replica groups of 10 (--compile $compile) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo "$device"). ± is the standard error over the seeds, as the paper reports." \
  >> "$out/runs.txt" 2>&1 || echo "- the board could not be published: see runs.txt" >> "$report"
[ -f "$out/board/leaderboard.md" ] && { echo; cat "$out/board/leaderboard.md"; } >> "$report"
echo "- $(( $(date +%s) - t0 )) s in all" >> "$report"
exit 0
