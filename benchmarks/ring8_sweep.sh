#!/usr/bin/env bash
# Issue 23's published sweep board (benchmarks/ring8-sweep.toml): train the 108 cells, then publish the
# best-of-k curves, the best setting per loss (chosen on seed 0, reported on seeds 1-2) and the
# sensitivity plots under results/ring8-sweep (ganbench leaderboard --best-setting). Resumes: finished cells are not trained again.
#
#     bash benchmarks/ring8_sweep.sh [train|publish|all]
#
# Run it alone: two torch jobs on 2 cores slow each other down.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
run="results/runs/ring8-sweep"
case "$what" in
  train|all) ganbench run --suite benchmarks/ring8-sweep.toml -q -o "$run" ;;
  publish) ;;
  *) echo "usage: bash benchmarks/ring8_sweep.sh [train|publish|all]" >&2; exit 2 ;;
esac
[ "$what" = train ] && exit 0
ganbench leaderboard "$run" --metrics hq_pct,modes,mode_kl --best-setting --publish results/ring8-sweep \
  --title "A learning-rate × n_critic sweep on ring8: nonsat, hinge and wgan-gp, best setting per loss" \
  --note "One shared recipe (--same-settings: Adam β 0.5/0.999), the vanilla MLP with 2-d noise, 2,000 steps, batch 64, 2,500 samples per evaluation; the swept keys are one learning rate for both networks (5e-5, 2e-4, 5e-4, 1e-3) and n_critic (1, 2, 5): 12 points per loss, 3 seeds each." \
  ${BOARD_NOTE:+--note "$BOARD_NOTE"}
