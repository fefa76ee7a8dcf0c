#!/usr/bin/env bash
# mnist5k, dcgan: the known remedies for a discriminator that over-fits 4,000 images (issue 34) —
# the non-saturating loss alone, with R1 (nonsat-r1: StyleGAN2's lazy R1, γ 10), with DiffAugment
# (translation,cutout: Zhao et al. 2020's policy for BigGAN on CIFAR-10) and with both: one run, DiffAugment
# a sweep axis (augment=none or translation,cutout), 6 seeds, 3,000 steps each, one board. Resumes
# (finished cells are not trained again).
#
#     bash benchmarks/mnist5k_remedies.sh [runs|publish]
#
# About 80 minutes on the 2-core development machine: dcgan trains at ~40 steps/s there, but each cell also
# evaluates 6 times (eval_every 500): the first 6 cells took ~3.3 minutes each.
# Run it alone: two torch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
run=results/runs/mnist5k-remedies

if [ "$what" != publish ]; then
  ganbench run -d mnist5k -m dcgan -l nonsat,nonsat-r1 --seeds 0-5 --steps 3000 --set eval_samples=1000 \
    --set eval_every=500 --sweep "augment=none;translation,cutout" -q -o "$run"
fi
[ "$what" = runs ] && exit 0

ganbench leaderboard "$run" --metrics fid,modes --baseline nonsat --publish results/mnist5k-remedies \
  --title "mnist5k, dcgan: the non-saturating loss alone, with R1, with DiffAugment and with both (6 seeds, 3,000 steps)" \
  --note "Budget: 3,000 generator steps × batch 64 = 192,000 images, 48 passes over the 4,000 training digits, DCGAN's optimiser (Adam 2e-4, β1 0.5); nonsat-r1 with its StyleGAN2 recipe (γ 10 every 16 D updates as its own phase); DiffAugment translation,cutout on every D input (real and generated, D's and G's updates). FIDs use ganbench's domain classifier for mnist5k, comparable within this board (same seeds, data, evaluation noise and reference rows) and not with published MNIST FIDs." \
  ${BOARD_NOTE:+--note "$BOARD_NOTE"}
