#!/usr/bin/env bash
# mnist5k, dcgan: the known remedies for a discriminator that over-fits 4,000 images (issue 34) —
# non-saturating loss alone, with R1 (nonsat-r1: StyleGAN2's lazy R1, γ 10), and with DiffAugment
# (translation,cutout: Zhao et al. 2020's policy for BigGAN on CIFAR-10), 6 seeds, 3,000 steps each,
# published as two boards (see the end). Resumes (finished cells are not trained again).
#
#     bash benchmarks/mnist5k_remedies.sh [runs|publish]
#
# About 35 minutes of training on the 2-core development machine (dcgan trains at ~40 steps/s there).
# Run it alone: two torch jobs on 2 cores slow each other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
SEEDS=0,1,2,3,4,5
COMMON=(-d mnist5k -m dcgan --seeds "$SEEDS" --steps 3000 --set eval_samples=1000 --set eval_every=500 -q)

if [ "$what" != publish ]; then
  ganbench run "${COMMON[@]}" -l nonsat,nonsat-r1 -o results/runs/mnist5k-remedies-plain
  ganbench run "${COMMON[@]}" -l nonsat --set augment=translation,cutout -o results/runs/mnist5k-remedies-diffaugment
fi
[ "$what" = runs ] && exit 0

NOTE="Budget: 3,000 generator steps × batch 64 = 192,000 images, 48 passes over the 4,000 training digits, DCGAN's optimiser (Adam 2e-4, β1 0.5); nonsat-r1 with its StyleGAN2 recipe (γ 10 every 16 D updates as its own phase); DiffAugment translation,cutout on every D input (real and generated, D's and G's updates). FIDs use ganbench's domain classifier for mnist5k, comparable within these two boards (same seeds, data, evaluation noise and reference rows) and not with published MNIST FIDs."
# two boards: one run holds one value of a setting, and a report merges no two rows of one cell made
# differently; a single table waits for settings as grid axes (the sweeps issue)
ganbench leaderboard results/runs/mnist5k-remedies-plain --publish results/mnist5k-remedies \
  --title "mnist5k, dcgan: the non-saturating loss alone and with R1 (6 seeds, 3,000 steps)" --note "$NOTE" \
  --note "The same seeds with DiffAugment: results/mnist5k-diffaugment."
ganbench leaderboard results/runs/mnist5k-remedies-diffaugment --publish results/mnist5k-diffaugment \
  --title "mnist5k, dcgan: the non-saturating loss with DiffAugment translation,cutout (6 seeds, 3,000 steps)" \
  --note "$NOTE" --note "The same seeds without it, and with R1: results/mnist5k-remedies."
