#!/usr/bin/env bash
# The embedded translation sets (issue 21): pix2pix with its paper loss (nonsat) on edges2digits (paired),
# cyclegan with its paper loss (lsgan) on edges2digits and digits2thick (unpaired), 3 seeds, 1,500 steps at
# batch 16 each, beside the identity and mean-target baselines every translation data set gets. Two runs
# (each model with its own loss), one board. Resumes (finished cells are not trained again).
#
#     bash benchmarks/translation_board.sh [runs|publish]
#
# About 40 minutes of training on the 2-core development machine (pix2pix at width 32 ~14 steps/s, cyclegan
# at width 16 with 3 residual blocks ~5 steps/s there). Run it alone: two torch jobs on 2 cores slow each
# other several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
steps="${STEPS:-1500}"
common=(--seeds 0-2 --steps "$steps" --set batch_size=16 --set eval_samples=1000 --set sample_every=500 -q)

if [ "$what" != publish ]; then
  ganbench run -d edges2digits -m pix2pix -l nonsat --model-opt pix2pix.width=32 "${common[@]}" \
    -o results/runs/translation-pix2pix
  ganbench run -d edges2digits,digits2thick -m cyclegan -l lsgan --model-opt cyclegan.width=16 \
    --model-opt cyclegan.blocks=3 "${common[@]}" -o results/runs/translation-cyclegan
fi
[ "$what" = runs ] && exit 0

ganbench leaderboard results/runs/translation-pix2pix results/runs/translation-cyclegan \
  --metrics fid,pairs,labels-kept,cycle --publish results/translation-cpu \
  --title "The embedded translation sets: pix2pix (nonsat) and cyclegan (lsgan), 3 seeds, $steps steps at batch 16" \
  --note "Budget: $steps generator steps × batch 16 = $((steps * 16)) images, $((steps * 16 / 4000)) passes over edges2digits' 4,000 pairs (digits2thick: 2,000 images per domain); the papers train 200 epochs at batch 1 (Pix2Pix's facades, CycleGAN). Widths for this CPU: pix2pix ngf = ndf = 32 (paper 64), cyclegan ngf = ndf = 16 with 3 residual blocks per G (paper 64 and 6 below 256 px). Recipes otherwise the papers': Adam 2e-4 (0.5, 0.999), L1 × 100 (pix2pix), cycle × 10, identity × 5, a pool of 50 (cyclegan); PatchGAN of 16 px patches at 28 px. Metrics on the held-out inputs (edges2digits: 1,000 edge maps; digits2thick: its 500 held-out thin digits), the same for every seed; FID and label_acc use ganbench's domain classifier of each set's domain B (digits; thickened digits), shipped with the package (the same instrument on every machine; not comparable with published FIDs). The steps/s of the pix2pix cells were measured beside short test runs (not alone)." \
  ${BOARD_NOTE:+--note "$BOARD_NOTE"}
