#!/usr/bin/env bash
# Trains the grids of the published leaderboards and publishes them into results/ (resumes: finished
# cells are not trained again; `bash benchmarks/publish_boards.sh runs` trains without publishing,
# `... publish` only publishes). Six seeds each: the paired tests that mark "best" need 6 pairs to
# separate two rows (every board says when they cannot). Every board carries its reference rows (real
# samples and a moment-matched Gaussian, by the same metrics at the same sample size).
#
# Run it alone: two torch jobs sharing 2 cores make each many times slower (the numbers stay
# bit-identical, the timings on the boards do not). The ring8 and conditional grids run two cells at a
# time with one torch thread each (--jobs 2 --threads 1): their steps/s are per-thread speeds.
#     bash benchmarks/publish_boards.sh
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
SEEDS=0,1,2,3,4,5

if [ "$what" != publish ]; then
  ganbench run --models vanilla,dcgan --losses nonsat,minimax --seeds $SEEDS --set eval_every=200 \
    --set eval_samples=1000 -q -o results/runs/board-mnist5k-6
  ganbench run --suite benchmarks/ring8-losses.toml --seeds $SEEDS --set eval_every=500 --jobs 2 --threads 1 \
    -q -o results/runs/board-ring8-6
  ganbench run -d mnist5k -m cgan,acgan,dcgan -l nonsat --seeds $SEEDS --steps 1500 --set eval_samples=1000 \
    --metrics cond-acc,intra-fid,class-coverage,fid,kid,modes --jobs 2 --threads 1 -q -o results/runs/board-cond-mnist5k-6
fi
[ "$what" = runs ] && exit 0

ganbench leaderboard results/runs/board-mnist5k-6 --publish results/mnist5k-default \
  --title "mnist5k: the default grid (vanilla, dcgan × nonsat, minimax), 6 seeds, 1,200 steps" \
  --note "Budget: the default grid ('ganbench run --models vanilla,dcgan --losses nonsat,minimax') with 6 seeds, --set eval_every=200 for the metric trajectories (evaluation runs outside the training random streams and changes no training number) and --set eval_samples=1000, so that the cells and the held-out reference (mnist5k holds out 1,000 digits) are scored at one sample size (FID is biased by N). 1,200 generator steps × batch 64 = 76,800 images, about 19 passes over the 4,000 training digits, with DCGAN's optimiser (Radford et al. 2016: Adam 2e-4, β1 0.5); no paper reports this grid, so there is no paper row to compare with." \
  --note "FID, KID, precision/recall/density/coverage and the class count use the domain classifier that ships with ganbench for mnist5k (id domain:c779de447d53 = a hash of its weights, held-out accuracy 0.971), not Inception: these FIDs compare the rows of this board with each other and with its reference rows (held-out real digits: the floor; a Gaussian with the digits' pixel mean and covariance), not with published MNIST FIDs."

ganbench leaderboard results/runs/board-ring8-6 --publish results/ring8-losses \
  --metrics modes,hq_pct,mode_kl,fid,kid,coverage,diverged \
  --title "ring8: every built-in loss with the vanilla MLP, 6 seeds, 5,000 steps" \
  --note "Budget: 'ganbench run --suite benchmarks/ring8-losses.toml --seeds 0-5 --set eval_every=500': 5,000 generator steps per cell, batch 64, 64-d noise, each loss with its paper's recipe (WGAN: RMSprop 5e-5, 5 critic steps, clip 0.01; WGAN-GP: Adam 1e-4, betas 0/0.9, 5 critic steps, λ 10, layer-norm critic). That is 1.25 % of PacGAN's protocol for this data (Lin et al. 2018, Table 1: 400k iterations, batch 100, 2-d noise, G 4×400 ReLU+BN, D 3×200 maxout; a plain GAN reaches 6.3 ± 0.5 modes and 98.2 % high-quality samples there): an early snapshot under another protocol, not a reproduction of that table." \
  --note "Ranked by modes: mixture components with at least one high-quality sample (within 3 std of its centre) among 2,500; hq_pct is the share of such samples, mode_kl the KL divergence of the nearest-mode histogram from uniform. Read every row against the reference rows: 'real' (samples of the true mixture: 8 modes, ~99 % high quality) and 'gaussian' (a Gaussian with the ring's mean and covariance, which learned nothing about the modes). A row whose modes are within the Gaussian's spread has not shown that it learned the modes. FID/KID here are on the raw 2-D points (extractor raw:identity) and compare only low moments: the Gaussian reference scores ~0, so they do not rank mode coverage on this data."

ganbench leaderboard results/runs/board-cond-mnist5k-6 --publish results/mnist5k-conditional \
  --metrics cond_acc,class_coverage,fid,kid,modes \
  --title "mnist5k conditional: cgan and acgan beside an unconditional dcgan (nonsat), 6 seeds, 1,500 steps" \
  --note "Budget: 'ganbench run -d mnist5k -m cgan,acgan,dcgan -l nonsat --seeds 0-5 --steps 1500 --set eval_samples=1000 --metrics cond-acc,intra-fid,class-coverage,fid,kid,modes': 1,500 generator steps per cell, batch 64, Adam 2e-4 (0.5, 0.999), DCGAN-style layouts (each model's default width). 3 % of AC-GAN's 50,000 mini-batches (Odena et al. 2017, CIFAR-10): a snapshot of early training." \
  --note "dcgan is the unconditional row of the same budget, data, optimiser and extractor: compare fid/kid/modes with it to see what conditioning changes; its conditional columns are empty because it is asked for no class. cond_acc: the share of 1,000 generated digits the domain classifier (shipped, domain:c779de447d53, held-out accuracy 0.971: the ceiling) assigns to the class they were asked for; chance (a generator ignoring its labels) is 0.100. intra-FID is computed but not shown: at 1,000 generated digits (~100 per class, the size of the held-out reference) no class has the 129 samples a full-rank covariance of the classifier's 128 features needs, so it is undefined for every class; class_coverage: per-class coverage (k = 5), mean over classes. The sample figure shows each conditional model's class grid: one column per asked class." \
  --note "sngan-proj is not on this board: it does not condition at this budget on this CPU. At width 16 and 1,500 steps its conditional accuracy was 0.143 (chance 0.10); the experiment in results/sngan-proj-start (width 8, 1,500 steps, 2 seeds, decision rule written first) rules out its class-neutral start (0.122; PyTorch-StudioGAN's orthogonal start: 0.110) and finds cgan's D in place of the projection D only slowly better (0.170, rising): the budget of G's class pathway holds it back."
