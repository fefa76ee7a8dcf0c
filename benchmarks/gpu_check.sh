#!/usr/bin/env bash
# The default grid on one GPU, serial vs --jobs 4 (four workers sharing the GPU): wall times and the
# GPU's utilisation, sampled by nvidia-smi every second. Under 8 minutes on a recent GPU; writes its
# report to ${OUT:-.}/gpu_check.txt. Usage: bash benchmarks/gpu_check.sh  (from the repository root)
set -euo pipefail
out="${OUT:-.}"
mkdir -p "$out"
report="$out/gpu_check.txt"
python3 -m venv /tmp/gpu-venv && . /tmp/gpu-venv/bin/activate
pip install -q -e . >/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$report"
grid=(run --device cuda:0 --steps 2000 -q)  # the default grid (mnist5k × every model × every loss × 3 seeds)
ganbench run --device cuda:0 --steps 1 -m vanilla -l nonsat -s 0 -q -o /tmp/gpu-warm >/dev/null  # classifier, features
for mode in serial jobs4; do
  args=("${grid[@]}" -o "/tmp/gpu-$mode")
  [ "$mode" = jobs4 ] && args+=(--jobs 4 --devices cuda:0,cuda:0,cuda:0,cuda:0)
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -l 1 > "/tmp/util-$mode.csv" &
  smi=$!
  start=$(date +%s.%N)
  timeout 200 ganbench "${args[@]}" > "/tmp/table-$mode.txt" 2>&1 || echo "$mode: exit $? (timeout 200 s)" | tee -a "$report"
  end=$(date +%s.%N)
  kill "$smi"
  python3 - "$mode" "$start" "$end" "/tmp/util-$mode.csv" "/tmp/gpu-$mode/results.csv" >> "$report" <<'PY'
import csv, sys
mode, start, end, util, results = sys.argv[1:]
rows = [r for r in csv.reader(open(util)) if len(r) == 2]
u = [float(r[0]) for r in rows]
m = [float(r[1]) for r in rows]
try:
    import pandas as pd
    df = pd.read_csv(results)
    cells = f"{len(df)} cells, median {df['steps_per_s'].median():.0f} steps/s per cell"
except Exception as exc:
    cells = f"no table ({exc})"
print(f"{mode}: wall {float(end) - float(start):.1f} s; GPU utilisation mean {sum(u) / max(len(u), 1):.0f} %, "
      f"max {max(u, default=0):.0f} %; memory max {max(m, default=0):.0f} MiB; {cells}")
PY
done
cat "$report"
