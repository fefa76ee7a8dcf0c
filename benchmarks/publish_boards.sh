#!/usr/bin/env bash
# Trains the grids of the published leaderboards and publishes them into results/ (resumes: finished
# cells are not trained again). On the 2-core CPU development machine: mnist5k 5 min 46 s, ring8
# 15 min, mnist5k-conditional 8 min (2026-12-04, a slower day) of cell time. Run it alone: two jobs sharing 2 cores make each many times slower (the
# numbers stay bit-identical, the timings on the boards do not).
#     bash benchmarks/publish_boards.sh
# The --note texts describe the publication of 2026-11-22 (commit 71c9120, run alone on that machine);
# edit the timings in them when you publish from a new run.
set -euo pipefail
cd "$(dirname "$0")/.."

ganbench run --models vanilla,dcgan --losses nonsat,minimax --set eval_every=200 -q -o results/runs/board-mnist5k
ganbench leaderboard results/runs/board-mnist5k --publish results/mnist5k-default \
  --title "mnist5k: the default grid (vanilla, dcgan × nonsat, minimax), 3 seeds, 1,200 steps" \
  --note "Budget: the default command 'ganbench run --models vanilla,dcgan --losses nonsat,minimax' (1,200 generator steps per cell, batch 64, each loss's paper recipe) plus --set eval_every=200 for the metric trajectories (evaluation runs outside the training random streams and changes no training number). 12 cells, 5 min 57 s of cell wall time on a 2-core CPU (2 torch threads), nothing else running." \
  --note "FID, KID, precision/recall/density/coverage and the class count use the domain classifier trained on mnist5k (held-out accuracy 0.976), not Inception: these FIDs compare the cells of this board with each other, not with published MNIST FIDs." \
  --note "Determinism check: two earlier runs of this grid on the same machine (one slowed by other jobs on the same cores) gave bit-identical metrics, histories and trajectories for all 12 cells (792 result values compared with this run); only the timings differed."

ganbench run --suite benchmarks/ring8-losses.toml --set eval_every=500 -q -o results/runs/board-ring8
ganbench leaderboard results/runs/board-ring8 --publish results/ring8-losses \
  --metrics modes,hq_pct,mode_kl,fid,kid,coverage,diverged \
  --title "ring8: every built-in loss with the vanilla MLP, 3 seeds, 5,000 steps" \
  --note "Budget: 'ganbench run --suite benchmarks/ring8-losses.toml --set eval_every=500': 5,000 generator steps per cell, batch 64, each loss with its paper's recipe (WGAN: RMSprop 5e-5, 5 critic steps, clip 0.01; WGAN-GP: Adam 1e-4, betas 0/0.9, 5 critic steps, λ 10, layer-norm critic). 21 cells, 14 min 06 s of cell wall time on a 2-core CPU (2 torch threads), nothing else running." \
  --note "Ranked by modes: mixture components with at least one high-quality sample (within 3 std of its centre) among 2,500; hq_pct is the share of such samples, mode_kl the KL divergence of the nearest-mode histogram from uniform. FID/KID here are on the raw 2-D points (extractor raw:identity) and compare only low moments: a diffuse cloud with the ring's mean and covariance scores near 0 (wgan), so they do not rank mode coverage on this data." \
  --note "Determinism check: an earlier run of this grid on the same machine gave bit-identical metrics, histories and trajectories for all 21 cells (1,344 result values compared with this run); only the timings differed."

ganbench run -d mnist5k -m cgan,acgan -l nonsat --seeds 0,1,2 --steps 1500 \
  --metrics cond-acc,intra-fid,class-coverage,fid,kid,modes -q -o results/runs/cond-mnist5k-1500
ganbench leaderboard results/runs/cond-mnist5k-1500 --publish results/mnist5k-conditional \
  --metrics cond_acc,intra_fid,class_coverage,fid,kid,modes \
  --title "mnist5k conditional: cgan and acgan (nonsat), 3 seeds, 1,500 steps" \
  --note "Budget: 'ganbench run -d mnist5k -m cgan,acgan -l nonsat --seeds 0,1,2 --steps 1500 --metrics cond-acc,intra-fid,class-coverage,fid,kid,modes': 1,500 generator steps per cell, batch 64, Adam 2e-4 (0.5, 0.999), DCGAN-style layouts at width 32 (both models' defaults). 6 cells, 7 min 57 s of cell wall time on a 2-core CPU (2 torch threads), nothing else running, on a day this host ran dcgan at 18-24 steps/s. Tiny next to the papers' budgets (AC-GAN trained its CIFAR-10 nets for 50,000 mini-batches): a snapshot of early training." \
  --note "cond_acc: the share of 2,000 generated digits the domain classifier (held-out accuracy 0.971, the ceiling) assigns to the class they were asked for; chance (a generator ignoring its labels) is 0.100 here. Both models are far above it. intra_fid: mean over the 10 classes of the FID between a class's ~200 generated and ~400 real digits, on the domain classifier's 128 features (biased at this N: compare within the board only); class_coverage: per-class coverage (k = 5), mean over classes." \
  --note "sngan-proj is not on this board: at width 16 and 1,500 steps its conditional accuracy was 0.143 (chance 0.10) while its FID fell from 290 to 168; its discriminator does use the labels and its generator's output moves with the class, but its per-class BatchNorm gains had barely separated. Until a longer run settles whether that is slow conditioning or a fault, it is not ranked."
