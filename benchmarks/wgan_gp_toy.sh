#!/usr/bin/env bash
# The CPU tier of WGAN-GP's toy experiment (issue 34): protocol wgan-gp-toy-cpu (gan_toy.py's data, 3×512
# ReLU nets, λ 0.1, 5 critic steps, Adam 1e-4 (0.5, 0.9), batch 256; 2,000 steps = 2 % of the code's
# 100,000), 10 seeds trained as one replica group, published under results/wgan-gp-toy-cpu. The paper
# shows its toys as figures only: the board has no paper number beside ours, and says so. Resumes.
#
#     bash benchmarks/wgan_gp_toy.sh [train|publish|all]
#
# About 56 minutes of training on the 2-core development machine, alone (the group ran at ~0.59 steps/s;
# the published board took 67 minutes, partly beside the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
run=results/runs/wgan-gp-toy-cpu
case "$what" in
  train|all) ganbench run --protocol wgan-gp-toy-cpu --replicas 10 -q -o "$run" ;;
  publish) ;;
  *) echo "usage: bash benchmarks/wgan_gp_toy.sh [train|publish|all]" >&2; exit 2 ;;
esac
[ "$what" = train ] && exit 0
ganbench leaderboard "$run" --metrics modes,hq_pct,hq_kl,mode_kl --publish results/wgan-gp-toy-cpu \
  --title "WGAN-GP's toy experiment (gan_toy.py), CPU tier: wgan-gp on 8 Gaussians, 10 seeds as replicas" \
  --note "Protocol wgan-gp-toy-cpu (ganbench list protocols -v): the released gan_toy.py's data (8 Gaussians at radius 2/1.414, σ 0.02/1.414), networks (3×512 ReLU), λ 0.1, 5 critic steps, Adam 1e-4 (0.5, 0.9), batch 256, 2-d noise; 2,000 steps = 2 % of the code's 100,000. Gulrajani et al. 2017 show the toys as figures only: no paper number stands beside ours. ± is the sample std over the 10 seeds." \
  --note "steps/s is the replica group's: 10 cells' steps at once." \
  ${BOARD_NOTE:+--note "$BOARD_NOTE"}
