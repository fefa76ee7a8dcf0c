#!/usr/bin/env bash
# The CPU tiers of PacGAN's protocols (Lin et al. 2018, Table 1): pacgan-ring-cpu and pacgan-grid-cpu,
# 10 seeds each trained as one replica group (--replicas 10), then published under results/ with the
# paper's numbers beside ours (ganbench leaderboard shows them for a protocol's runs). Resumes: finished
# cells are not trained again, a killed group continues from its checkpoint.
#
#     bash benchmarks/pacgan_protocols.sh [all|ring|grid|publish] [STEPS]   # all (the default): both, then publish
#     bash benchmarks/pacgan_protocols.sh loss NAME[,NAME...] [ring|grid]    # one more loss under the tier (~55 min
#                                                                   # alone; rpgan-r1r2 ~2.3 h in 60-min parts;
#                                                                   # NAME,NAME...: one after another, all of
#                                                                   # them within one TIME_LIMIT)
#     bash benchmarks/pacgan_protocols.sh losses [ring|grid]       # publish every loss trained so far (the
#                                                                   # boards' kept rows + the run directories here;
#                                                                   # REPLACE_UNKEPT=1: over a board without rows)
#     bash benchmarks/pacgan_protocols.sh pack [ring|grid]         # PacGAN2-4 (pack k, batch 100k), ~3 h
#     bash benchmarks/pacgan_protocols.sh updates [ring|grid]      # the tier's plain GAN trained as the released
#                                                                   # code trains it, D and G updated at once from one
#                                                                   # forward pass (--set updates=simultaneous), 10
#                                                                   # seeds; board results/pacgan-<tier>-cpu-simultaneous
#     bash benchmarks/pacgan_protocols.sh budget [ring|grid] [STEPS] [EVERY]  # the plain GAN's numbers as the
#                                                                   # budget grows: seeds 0-2 as one group to
#                                                                   # STEPS (100,000: 25 % of the paper's),
#                                                                   # evaluated every EVERY (10,000) steps; a
#                                                                   # board and trajectory.md (mean ± se per step),
#                                                                   # results/pacgan-<tier>-cpu-budget-STEPS
#
# Every loss under the protocol's pinned networks, optimiser and budget (explicit > protocol > a loss's own
# recipe: wgan trains with the protocol's Adam here), each in its own run directory, then one board of all
# of them with the plain GAN's paper row beside ours. A loss without a per-update penalty is ~55 minutes of
# training; rpgan-r1r2 differentiates D twice at every D update (R1 and R2) and trains at ~2.4 steps/s as a
# group, ~2.3 hours (measured 2026-12-07, README): three invocations under the time limit below.
#
# An invocation trains for at most TIME_LIMIT in all (default 60m, timeout(1)'s syntax; 0 = no limit): a run
# still going then stops (SIGTERM, which ganbench takes as Ctrl-C: the last checkpoint, at most a minute back,
# is kept), a command not yet started is not started, and the script exits 3 saying so (ganbench's own exit 3,
# a failed write, becomes 4); the same command continues, so a board is trained across working days. The grid
# tier's own run took 66 minutes (README): two invocations.
#
# STEPS (default: the tier's own, 20,000 = 5 % of the paper's 400,000) trains a shorter prefix into its
# own run directory, labelled with its fraction. Training time on the 2-core development machine, alone,
# 2 threads: ~55 steps/s for one seed alone, ~0.68x the seeds' time as a group of 10 (README), so about
# 55 minutes per protocol at the tier's budget (measured: the ring's group trained at 6.3 steps/s). Run it
# alone (two torch jobs on 2 cores slow each other). BOARD_NOTE="..." adds a note to the published boards;
# `publish` republishes every tier whose run directory is here, TIERS="grid" (or ring) one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
steps="${2:-}"
limit="${TIME_LIMIT:-60m}"
seconds() {  # timeout(1)'s duration syntax (90, 90s, 60m, 2h, 1d) in seconds
  local n="${1%[smhd]}"
  case "$1" in *m) echo $(( n * 60 ));; *h) echo $(( n * 3600 ));; *d) echo $(( n * 86400 ));; *) echo "$n";; esac
}
deadline=0  # TIME_LIMIT bounds the whole invocation (loss A,B: both together), not each command
[ "$(seconds "$limit")" = 0 ] || deadline=$(( $(date +%s) + $(seconds "$limit") ))
bounded() {  # a ganbench command, until the invocation's deadline; exit 3 (and why) when it was stopped there
  local rc=0 left=0
  if [ "$deadline" != 0 ]; then
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -lt 60 ]; then
      echo "TIME_LIMIT=$limit is used up; run the same command again to continue" >&2
      exit 3
    fi
  fi
  # --foreground: ganbench stays in the terminal's process group (Ctrl-C reaches it; killing this script's
  # group stops it too, instead of leaving it training in the background)
  timeout --foreground "${left}s" "$@" || rc=$?
  if [ "$rc" = 124 ]; then
    echo "stopped after TIME_LIMIT=$limit; run the same command again to continue from its checkpoint" >&2
    exit 3
  fi
  [ "$rc" = 3 ] && rc=4  # ganbench's own 3 (a write failed mid-run) is not 'continue next time'
  return "$rc"
}
if [ "$what" = loss ]; then  # one loss (or several, A,B: one after another): results/runs/pacgan-<tier>-cpu-loss-<NAME>
  names="${2:?usage: bash benchmarks/pacgan_protocols.sh loss NAME[,NAME...] [ring|grid]}"
  tier="${3:-ring}"
  for name in ${names//,/ }; do
    bounded ganbench run --protocol "pacgan-$tier-cpu" --losses "$name" --replicas 10 -q -o "results/runs/pacgan-$tier-cpu-loss-$name"
  done
  exit 0
fi
inputs() {  # the rows of a tier so far: the published boards' kept rows (runs.json; run directories are not
  # committed, so a later session extends a board from them), then every run directory here (a cell in both
  # counts once, from its run directory; a cell trained with other settings is refused). The second argument
  # is the board being published: with REPLACE_UNKEPT=1 a version of it from before boards kept their rows
  # is left out (its rows are replaced by what is trained now; git keeps the old board)
  local tier="$1" target="$2"
  dirs=()
  for d in "results/pacgan-$tier-cpu" "$target"; do
    [ -d "$d" ] || continue
    if [ ! -f "$d/runs.json" ]; then  # publishing without it would drop every row whose run directory is gone
      if [ "$d" = "$target" ] && [ "${REPLACE_UNKEPT:-0}" = 1 ]; then
        echo "$d has no runs.json: REPLACE_UNKEPT=1, so it is replaced by the rows trained now" >&2
        continue
      fi
      echo "$d was published before boards kept their rows (no runs.json): train its runs again (its provenance" \
        "names them) and publish it from them first$([ "$d" = "$target" ] && echo ", or replace it: REPLACE_UNKEPT=1")" >&2
      exit 1
    fi
    dirs+=("$d")
  done
  [ -f "results/runs/pacgan-$tier-cpu/results.csv" ] && dirs+=("results/runs/pacgan-$tier-cpu")
  return 0
}
if [ "$what" = pack ]; then  # PacGAN-k rows of Table 1: pack k with 100 packs per batch, one point each
  tier="${2:-ring}"
  inputs "$tier" "results/pacgan-$tier-cpu-pack"  # its boards checked before an hour of training, not after
  bounded ganbench run --protocol "pacgan-$tier-cpu" --sweep pacgan.pack+batch_size=2:200,3:300,4:400 --replicas 10 -q \
    -o "results/runs/pacgan-$tier-cpu-pack"
  ganbench leaderboard ${dirs[@]+"${dirs[@]}"} "results/runs/pacgan-$tier-cpu-pack" \
    --publish "results/pacgan-$tier-cpu-pack" --metrics modes,hq_pct,hq_kl,mode_kl \
    --title "PacGAN's 2D-$tier protocol, CPU tier: GAN and PacGAN2-4, 10 seeds each" \
    --note "Protocol pacgan-$tier-cpu; PacGAN-k as a sweep point (pacgan.pack = k, batch_size = 100k: the paper's 100 packs per batch). ± is the standard error over the 10 seeds, as the paper reports." \
    ${BOARD_NOTE:+--note "$BOARD_NOTE"}
  exit 0
fi
if [ "$what" = budget ]; then  # where the CPU tier's gap to the paper goes as the budget grows (issue 34)
  tier="${2:-ring}" total="${3:-100000}" every="${4:-10000}"
  run="results/runs/pacgan-$tier-cpu-budget-$total" board="results/pacgan-$tier-cpu-budget-$total"
  bounded ganbench run --protocol "pacgan-$tier-cpu" --losses nonsat --seeds 0-2 --replicas 3 --steps "$total" \
    --set eval_every="$every" -q -o "$run"
  ganbench leaderboard "$run" --publish "$board" --metrics modes,hq_pct,hq_kl,mode_kl \
    --title "PacGAN's 2D-$tier protocol, CPU tier trained longer: the plain GAN to $total steps, 3 seeds" \
    --note "Protocol pacgan-$tier-cpu with steps = $total and an evaluation every $every steps (trajectory.md: each metric's mean ± standard error over the seeds at each evaluation, beside the paper's row at its full budget). 3 seeds (seeds 0-2, one replica group), not the paper's 10: ± is the standard error over the seeds that did not diverge." \
    ${BOARD_NOTE:+--note "$BOARD_NOTE"}
  python3 benchmarks/trajectory_table.py "$run" > "$board/.trajectory.md.tmp"  # in place only when it is whole
  mv "$board/.trajectory.md.tmp" "$board/trajectory.md"
  cat "$board/trajectory.md"
  exit 0
fi
if [ "$what" = updates ]; then  # the released code's update scheme (ALI's ali_algorithm) against the tier's board
  tier="${2:-ring}"
  run="results/runs/pacgan-$tier-cpu-simultaneous" board="results/pacgan-$tier-cpu-simultaneous"
  bounded ganbench run --protocol "pacgan-$tier-cpu" --losses nonsat --replicas 10 --set updates=simultaneous -q -o "$run"
  ganbench leaderboard "$run" --publish "$board" --metrics modes,hq_pct,hq_kl,mode_kl \
    --title "PacGAN's 2D-$tier protocol, CPU tier, updated as the released code updates: the plain GAN, 10 seeds" \
    --note "Protocol pacgan-$tier-cpu with updates = simultaneous: one real and one noise batch per step, D's and G's gradients from one forward pass at the weights before either update, then both steps (ALI's ali_algorithm, which PacGAN's 2-D code trains with; the protocol's own boards alternate D then G). Compare with results/pacgan-$tier-cpu, the same cells alternating. ± is the standard error over the 10 seeds." \
    ${BOARD_NOTE:+--note "$BOARD_NOTE"}
  exit 0
fi
if [ "$what" = losses ]; then  # one board of the plain GAN's run and every loss trained with 'loss NAME'
  tier="${2:-ring}"
  inputs "$tier" "results/pacgan-$tier-cpu-losses"
  for d in results/runs/pacgan-"$tier"-cpu-loss-*; do [ -f "$d/results.csv" ] && dirs+=("$d"); done
  [ "${#dirs[@]}" -gt 0 ] || { echo "nothing trained for the $tier tier yet" >&2; exit 1; }
  ganbench leaderboard "${dirs[@]}" --publish "results/pacgan-$tier-cpu-losses" --metrics modes,hq_pct,hq_kl,mode_kl \
    --title "PacGAN's 2D-$tier protocol, CPU tier: every loss trained so far with PacGAN's networks, 10 seeds each" \
    --note "Protocol pacgan-$tier-cpu: PacGAN's networks, data, optimiser (Adam 1e-4, β1 0.8 for every loss), batch and evaluation; 5 % of the paper's budget. Only the plain GAN (nonsat) has a paper row. ± is the standard error over the 10 seeds." \
    ${BOARD_NOTE:+--note "$BOARD_NOTE"}
  exit 0
fi

train() {  # protocol, run directory
  local extra=()
  [ -n "$steps" ] && extra=(--steps "$steps")
  bounded ganbench run --protocol "$1" --replicas 10 ${extra[@]+"${extra[@]}"} -q -o "$2"
}

suffix="${steps:+-$steps}"
ring="results/runs/pacgan-ring-cpu$suffix"
grid="results/runs/pacgan-grid-cpu$suffix"
case "$what" in
  ring) train pacgan-ring-cpu "$ring" ;;
  grid) train pacgan-grid-cpu "$grid" ;;
  all) train pacgan-ring-cpu "$ring"; train pacgan-grid-cpu "$grid" ;;
  publish) ;;
  *) echo "usage: bash benchmarks/pacgan_protocols.sh [ring|grid|all|publish] [STEPS]" >&2; exit 2 ;;
esac
[ "$what" = publish ] || [ "$what" = all ] || exit 0

for name in ${TIERS:-ring grid}; do  # TIERS=grid: republish that tier's board only
  dir="results/runs/pacgan-$name-cpu$suffix"
  [ -f "$dir/results.csv" ] || { echo "no run in $dir: train it first" >&2; continue; }
  ganbench leaderboard "$dir" --publish "results/pacgan-$name-cpu$suffix" --metrics modes,hq_pct,hq_kl,mode_kl \
    --title "PacGAN's 2D-$name protocol, CPU tier: the plain GAN (pacgan, pack 1), 10 seeds as replicas" \
    --note "Protocol pacgan-$name-cpu (ganbench list protocols -v): PacGAN's networks, data, optimiser, batch and evaluation (Lin et al. 2018 and their released code); the budget is the fraction of the paper's 400,000 iterations stated above the paper's table, so the gap to the paper's row is budget before anything else. ± is the standard error over the 10 seeds, as the paper reports." \
    --note "hq_kl is PacGAN's reverse KL as we read its released code (over high-quality samples only); mode_kl is ganbench's (every sample's nearest mode). Read the rows against the reference rows: real samples of the mixture and a moment-matched Gaussian." \
    --note "steps/s is the replica group's: 10 cells' steps at once (one seed alone trains at about 55 steps/s on the 2-core machine)." \
    ${BOARD_NOTE:+--note "$BOARD_NOTE"}
done
