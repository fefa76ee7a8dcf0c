"""Built-in protocols: papers' experimental set-ups, pinned (``ganbench run --protocol NAME``), each with
the paper's numbers, and a CPU tier of each at a pinned fraction of the paper's budget.

PacGAN (Lin, Khetan, Fanti, Oh 2018, NeurIPS), Table 1, from the paper and the authors' released code
(github.com/fjxmlzn/PacGAN, commit 190853e, ``synthetic_data_experiments``; the 2DRing and 2DGrid
folders' ``config.py`` and ``pacgan_task.py``): a fixed training set of 100,000 points of the mixture;
G and D of :mod:`ganbench_builtins.models.pacgan`; z ~ N(0, I₂); non-saturating loss; Adam 1e-4, β1 0.8;
batch 100 (PacGAN-k: 100 packs of k); 400 epochs × 1,000 iterations = 400,000 iterations; 2,500
generated samples, a sample of high quality within 3 σ of its nearest mode, a mode captured by at least
one; mean ± standard error over 10 runs. What differs here, said in each protocol's description: the
updates are D then G with fresh noise (the code updates both at once on one batch, ALI's ``ali_algorithm``:
``--set updates=simultaneous``); a PacGAN-k
batch packs consecutive samples of one shuffled batch (the code resamples each slot with replacement),
made by one G call whose BatchNorm normalises each slot on its own (as the code's one call per slot does,
since pacgan's revision 1); the 10 seeds share one training set of 100,000 points (the
code draws each run its own: ganbench loads a data set once for every seed, so seeds differ in weights,
data order and noise, not data); G's evaluation noise is the seed's (the code's is one fixed draw).
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import PaperRow, ProtocolSpec

PACGAN_PAPER = "Lin et al. 2018, PacGAN, Table 1 (mean ± standard error over 10 runs)"
PACGAN_BUDGET = 400_000
#: the CPU tiers' budget: 5 % of the paper's, 10 seeds as replicas in ~40 min on the 2-core machine
PACGAN_CPU_STEPS = 20_000
PACGAN_SETTINGS = {"latent_dim": 2, "batch_size": 100, "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
                   "beta1": 0.8, "beta2": 0.999, "n_critic": 1, "eval_samples": 2500, "g_ema": 0.0,
                   "schedule_images": 0}  # the paper's constant Adam for every loss (R3GAN's recipe schedules it)
PACGAN_NOTE = ("hq_kl is PacGAN's reverse KL as we read its released code: log K minus the entropy (nats) of the "
               "histogram of high-quality samples (within 3σ) over their nearest modes, i.e. KL(p_hq ‖ uniform over "
               "the K modes); the code logs that entropy (MetricLogger in fjxmlzn/PacGAN's extensions.py) and Table "
               "1's caption says only 'reverse KL', but the other direction is infinite for a run that misses a mode, "
               "and the table's are finite (GAN: 6.3 of 8 modes, 0.45)")
#: Table 1's rows (modes, high-quality %, reverse KL; ± standard error): GAN and PacGAN2-4
PACGAN_TABLE = {
    "ring8": (("GAN", 1, 6.3, 0.5, 98.2, 0.2, 0.45, 0.09), ("PacGAN2", 2, 7.9, 0.1, 95.6, 2.0, 0.07, 0.03),
              ("PacGAN3", 3, 7.8, 0.1, 97.7, 0.3, 0.10, 0.02), ("PacGAN4", 4, 7.8, 0.1, 95.9, 1.4, 0.07, 0.02)),
    "grid25": (("GAN", 1, 17.3, 0.8, 94.8, 0.7, 0.70, 0.07), ("PacGAN2", 2, 23.8, 0.7, 91.3, 0.8, 0.13, 0.04),
               ("PacGAN3", 3, 24.6, 0.4, 94.2, 0.4, 0.06, 0.02), ("PacGAN4", 4, 24.8, 0.2, 93.6, 0.6, 0.04, 0.01)),
}


def _tier(tier_of: str | None, steps: int, budget: int, whose: str = "the paper's") -> str:
    """A CPU tier's description prefix: its budget as a fraction of the paper's; empty for the paper's own."""
    return (f"CPU tier of {tier_of}: {steps:,} steps, {steps / budget:.1%} of {whose} {budget:,} iterations. "
            if tier_of else "")


def _pacgan(dataset: str, name: str, what: str, steps: int, tier_of: str | None = None) -> ProtocolSpec:
    rows = tuple(PaperRow(label, "pacgan", "nonsat", {"modes": (modes, se_m), "hq_pct": (hq, se_h),
                                                      "hq_kl": (rkl, se_k)},
                          model_options={"pack": pack}, dataset=dataset, note=PACGAN_NOTE,
                          settings={"batch_size": 100 * pack})
                 for label, pack, modes, se_m, hq, se_h, rkl, se_k in PACGAN_TABLE[dataset])
    tier = _tier(tier_of, steps, PACGAN_BUDGET)
    return ProtocolSpec(
        name=name,
        description=f"{tier}PacGAN's {what} experiment (Table 1): {dataset} as a fixed set of 100,000 points, the "
        "pacgan networks (pack 1 = the plain GAN row; PacGAN-k: --model-opt pacgan.pack=k --batch-size 100k), "
        "non-saturating loss, latent 2, Adam 1e-4 (β1 0.8), batch 100, 2,500 samples, 3σ rule, 10 seeds, mean ± "
        "standard error. Unlike the released code: D then G with fresh noise (the code updates both at once on one "
        "batch: --set updates=simultaneous), PacGAN-k packs consecutive samples of a shuffled batch (the code "
        "resamples each slot; each slot's BatchNorm statistics are its own in both), and the 10 seeds share one "
        "training set (the code draws each run its own).",
        paper=PACGAN_PAPER,
        datasets=(dataset,), models=("pacgan",), losses=("nonsat",), seeds=tuple(range(10)), metrics=("modes",),
        settings={**PACGAN_SETTINGS, "steps": steps, "sample_every": max(steps // 10, 1)},
        data_options={dataset: {"size": 100_000}},
        model_options={"pacgan": {"pack": 1}},
        interval="se", budget=PACGAN_BUDGET, tier_of=tier_of, results=rows,
        reference="Lin, Khetan, Fanti, Oh 2018, PacGAN (NeurIPS); github.com/fjxmlzn/PacGAN",
    )


#: WGAN-GP's toy experiment, from its released gan_toy.py (commit fa66c57): 8 Gaussians at radius 2, σ 0.02,
#: the points divided by 1.414 (so radius ≈ 1.414, σ ≈ 0.01414), fresh points every batch of 256
WGAN_GP_TOY_BUDGET = 100_000
WGAN_GP_TOY_CPU_STEPS = 2_000
WGAN_GP_TOY = ("WGAN-GP's toy experiment, from the authors' released gan_toy.py (Gulrajani et al. 2017; the paper "
               "shows the toys as figures only, so no number stands beside ours): ring8 at radius 2/1.414 with σ "
               "0.02/1.414, model toy-mlp (3×512 ReLU), 2-d noise, batch 256, wgan-gp with λ 0.1 (the code's, not "
               "the paper's image λ 10), 5 critic steps, Adam 1e-4 (0.5, 0.9); wgan (the code's other mode) with "
               "RMSprop 5e-5 and clipping (PyTorch's RMSprop: α 0.99, ε 1e-8, its average from 0; the code's "
               "TensorFlow 1 RMSProp: decay 0.9, ε 1e-10, from 1). Unlike the code: a fixed set of 1,000,000 points "
               "instead of fresh ones every batch, G's update after the critic's (the code starts each iteration with G's).")


def _wgan_gp_toy(name: str, steps: int, tier_of: str | None = None) -> ProtocolSpec:
    tier = _tier(tier_of, steps, WGAN_GP_TOY_BUDGET, "the released code's")
    return ProtocolSpec(
        name=name, description=tier + WGAN_GP_TOY,
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs, toy figures (no table)",
        datasets=("ring8",), models=("toy-mlp",), losses=("wgan-gp",), seeds=tuple(range(10)), metrics=("modes",),
        settings={"latent_dim": 2, "batch_size": 256, "steps": steps, "sample_every": max(steps // 10, 1),
                  "eval_samples": 2500, "g_ema": 0.0, "schedule_images": 0},
        data_options={"ring8": {"radius": 2 / 1.414, "std": 0.02 / 1.414, "size": 1_000_000}},
        loss_options={"wgan-gp": {"lambda": 0.1}},
        loss_settings={"wgan-gp": {"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.9,
                                   "n_critic": 5},
                       "wgan": {"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5}},
        interval="std", budget=WGAN_GP_TOY_BUDGET, budget_of="the released code's", tier_of=tier_of,
        reference="Gulrajani et al. 2017 (NeurIPS); github.com/igul222/improved_wgan_training, gan_toy.py",
    )


#: PacGAN's stacked-MNIST experiment in the VEEGAN setting (Table 2), from the released code (fjxmlzn/PacGAN
#: 190853e, ``stacked_MNIST_experiments/VEEGAN_experiment``: config.py, model.py, pacgan_task.py)
STACKED_BUDGET = 100_000  # 50 epochs × 128,000 / 64 = 100,000 D updates (and 200,000 G updates); PacDCGAN-k's
# batch of 64 packs reads k·64 stacks a step: the same 100,000 D updates as the code, 50·k passes
STACKED_CPU_STEPS = 2_000
STACKED = ("PacGAN's stacked-MNIST experiment in the VEEGAN setting (Table 2; 1,000 modes): stacked-mnist from full "
           "MNIST (its source mnist, downloaded into the data root) as a fixed set of 128,000 stacks, model "
           "pacgan-dcgan (the code's DCGAN; PacDCGAN-k: --model-opt pacgan-dcgan.pack=k --batch-size 64k), "
           "non-saturating loss, z 100-d uniform on [-1, 1], Adam 2e-4 (β1 0.5), batch 64, 2 G updates per D update "
           "(g_steps 2), 26,000 samples, modes = distinct per-channel digit triples, KL(generated ‖ uniform) in nats, "
           "10 seeds, mean ± standard error. Unlike the released code: real and generated images both in [-1, 1] (the "
           "code feeds D real images in [0, 1] beside G's tanh output), stacks drawn from MNIST's training digits "
           "only (the code pools train and test), D's generated batch and each G update on fresh noise (the code draws "
           "one z per step for all three), a fresh shuffle every epoch (the code slices the stacks in one order), "
           "PacDCGAN-k packs consecutive samples of one G batch and of one shuffled real batch (the code runs G once "
           "per slot, each with its own BatchNorm statistics), training reads the 128,000 stacks themselves (the "
           "code redraws 128,000 of them with replacement for every k, 1 included: ~81,000 distinct), and "
           "the 10 seeds share one set of 128,000 stacks (the code draws each run its own), and digits are "
           "classified by ganbench's per-channel domain classifier for this data (a 2-conv CNN trained on first use "
           "on 12,000 channel images of the training stacks, not the shipped mnist5k-stacks weights; its held-out "
           "accuracy is in each row as modes_classifier_accuracy), where the code uses Keras's example MNIST CNN "
           "trained on all 60,000 digits, on G's output unscaled.")
STACKED_NOTE = ("the paper's rows are its own runs (Table 2's 'our implementation'; the rows above them quote VEEGAN's); "
                "ganbench's classifier is its own domain classifier, so the counts compare to the paper's only as "
                "closely as the two classifiers agree")
#: Table 2's rows of PacGAN's own runs (modes, KL; ± standard error over 10 runs): DCGAN and PacDCGAN2-4
STACKED_TABLE = (("DCGAN", 1, 78.9, 6.46, 4.50, 0.127), ("PacDCGAN2", 2, 1000.0, 0.0, 0.06, 0.003),
                 ("PacDCGAN3", 3, 1000.0, 0.0, 0.06, 0.003), ("PacDCGAN4", 4, 1000.0, 0.0, 0.07, 0.005))


def _stacked(name: str, steps: int, tier_of: str | None = None) -> ProtocolSpec:
    tier = _tier(tier_of, steps, STACKED_BUDGET)
    return ProtocolSpec(
        name=name, description=tier + STACKED,
        paper="Lin et al. 2018, PacGAN, Table 2, stacked MNIST in the VEEGAN setting (mean ± standard error over 10 "
        "runs)",
        datasets=("stacked-mnist",), models=("pacgan-dcgan",), losses=("nonsat",), seeds=tuple(range(10)),
        metrics=("modes",),
        settings={"latent_dim": 100, "latent_dist": "uniform", "batch_size": 64, "optimizer": "adam", "lr_g": 2e-4,
                  "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "g_steps": 2, "eval_samples": 26_000,
                  "g_ema": 0.0, "schedule_images": 0, "steps": steps, "sample_every": max(steps // 10, 1)},
        data_options={"stacked-mnist": {"source": "mnist", "size": 128_000}},
        model_options={"pacgan-dcgan": {"pack": 1}},
        interval="se", budget=STACKED_BUDGET, tier_of=tier_of,
        results=tuple(PaperRow(label, "pacgan-dcgan", "nonsat", {"modes": (modes, se_m), "mode_kl": (kl, se_k)},
                               model_options={"pack": pack}, dataset="stacked-mnist", note=STACKED_NOTE,
                               settings={"batch_size": 64 * pack})
                      for label, pack, modes, se_m, kl, se_k in STACKED_TABLE),
        reference="Lin, Khetan, Fanti, Oh 2018, PacGAN (NeurIPS); github.com/fjxmlzn/PacGAN (stacked_MNIST_experiments/"
        "VEEGAN_experiment); Srivastava et al. 2017, VEEGAN (the setting)",
    )


@hookimpl
def ganbench_register_protocols(registry):
    registry.add_protocol(_stacked("pacgan-stacked-mnist", STACKED_BUDGET))
    registry.add_protocol(_stacked("pacgan-stacked-mnist-cpu", STACKED_CPU_STEPS, tier_of="pacgan-stacked-mnist"))
    registry.add_protocol(_wgan_gp_toy("wgan-gp-toy", WGAN_GP_TOY_BUDGET))
    registry.add_protocol(_wgan_gp_toy("wgan-gp-toy-cpu", WGAN_GP_TOY_CPU_STEPS, tier_of="wgan-gp-toy"))
    for dataset, name, what in (("ring8", "pacgan-ring", "2D-ring"), ("grid25", "pacgan-grid", "2D-grid")):
        registry.add_protocol(_pacgan(dataset, name, what, PACGAN_BUDGET))
        registry.add_protocol(_pacgan(dataset, f"{name}-cpu", what, PACGAN_CPU_STEPS, tier_of=name))
