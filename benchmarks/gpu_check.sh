#!/usr/bin/env bash
# The GPU check, offline, in under 8 minutes: usage (from the repository root)
#
#     bash benchmarks/gpu_check.sh OUTDIR [WHEELS_DIR]
#
# For a GPU machine with no network and no package index whose python3 already holds torch,
# torchvision, torchmetrics, pluggy, click, pandas, rich, scipy, scikit-learn, matplotlib, pytest (the
# device machines of this project do). It installs ganbench without dependencies and without build
# isolation, checks by importing what ganbench needs and installs what is missing from WHEELS_DIR only
# (never from an index). Fill WHEELS_DIR, on a machine with an index, with:
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d WHEELS_DIR mlxtend torch-fidelity
#
# (both are pure-Python wheels). Everything goes to OUTDIR: gpu_check.md (the machine, the CUDA tests'
# summary, the speed table, replicas), pytest_cuda.txt, speed.jsonl (benchmarks/train_speed.py), replicas.md, grid.txt.
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [WHEELS_DIR]}"
wheels="${2:-}"
mkdir -p "$out"
report="$out/gpu_check.md"
. benchmarks/gpu_setup.sh
{
  echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
  echo
  echo "## pytest -m cuda"
} > "$report"
timeout 180 python3 -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py > "$out/pytest_cuda.txt" 2>&1
echo "exit $?: $(tail -n 1 "$out/pytest_cuda.txt")" >> "$report"
speed() { timeout "$1" python3 benchmarks/train_speed.py --device cuda "${@:2}" >> "$out/speed.jsonl" 2>> "$out/speed.err" \
            || echo "train_speed ${*:2}: exit $?" >> "$report"; }
# the loop with a host sync every step (the baseline) against every 32 steps; then AMP, compile, CUDA graphs
speed 45 --model vanilla --data ring8 --steps 3000 --sync-every 1,32
speed 45 --model dcgan --data mnist5k --steps 1000 --sync-every 1,32
speed 45 --model dcgan --data mnist5k --steps 1000 --amp bf16 --channels-last false,true
speed 90 --model vanilla --data ring8 --steps 3000 --compile default,reduce-overhead
speed 90 --model dcgan --data mnist5k --steps 1000 --compile default,reduce-overhead
# K seeds as replicas against one after another (vanilla, and an MLP of PacGAN's sizes), K = 10 and 50
timeout 150 python3 benchmarks/replicas.py --device cuda --ks 10,50 --steps 300 --pacgan-steps 150 \
  > "$out/replicas.md" 2>&1 || echo "replicas: exit $?" >> "$report"
python3 - "$out/speed.jsonl" >> "$report" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("\n## steps/s, batch 64 (benchmarks/train_speed.py)\n")
print("| model | data | sync every | amp | compile | channels-last | steps/s |")
print("|---|---|---:|---|---|---|---:|")
for r in rows:
    print(f"| {r['model']} | {r['data']} | {r['sync_every']} | {r['amp']} | {r['compile']} | {r['channels_last']} | "
          f"{r['steps_per_s']:.0f} |")
PY
# a small default-style grid (mnist5k, two models, two losses, two seeds), serial against --jobs 4 on one GPU
grid=(run -d mnist5k -m vanilla,dcgan -l nonsat,hinge -s 0,1 --steps 500 --device cuda:0 -q)
ganbench run -d mnist5k -m vanilla -l nonsat -s 0 --steps 1 --device cuda:0 -q -o /tmp/gpu-warm > /dev/null 2>&1
echo -e "\n## grid: mnist5k × vanilla,dcgan × nonsat,hinge × 2 seeds, 500 steps\n" >> "$report"
for mode in serial jobs4; do
  args=("${grid[@]}" -o "/tmp/gpu-$mode")
  [ "$mode" = jobs4 ] && args+=(--jobs 4 --devices cuda:0,cuda:0,cuda:0,cuda:0)
  start=$(date +%s.%N)
  timeout 60 ganbench "${args[@]}" >> "$out/grid.txt" 2>&1 || echo "$mode: exit $?" >> "$report"
  end=$(date +%s.%N)
  echo "- $mode: $(python3 -c "print(f'{$end - $start:.1f}')") s wall" >> "$report"
done
echo -e "\n## replicas (benchmarks/replicas.py)\n" >> "$report"
cat "$out/replicas.md" >> "$report"
cat "$report"
