"""Built-in metrics: ``fid`` and ``kid`` on the run's feature extractor (``--extractor``, default
``auto``: domain classifier for digit-like data, Inception for colour images, the raw vectors for
mixtures); ``modes`` — mode collapse (modes.py); ``prdc`` — precision/recall/density/coverage
(prdc.py); ``stability`` — training stability from the history (stability.py).

FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) are computed by torchmetrics'
``FrechetInceptionDistance`` and ``KernelInceptionDistance`` on features the extractor computed (an
identity feature module), so the real side comes from the on-disk feature cache
(:meth:`ganbench.evaluation.EvalContext.real_features`: ``real_samples`` training samples, default
10,000 or the whole split) and each cell adds ``eval_samples`` generated samples.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import MetricSpec
from ganbench_builtins import lazy as _lazy
from ganbench_builtins.metrics.fid_kid import compute_fid, compute_kid

#: the metrics of translation data sets (metrics/translation.py)
TRANSLATION = (
    MetricSpec(
        name="pairs",
        compute=_lazy("metrics.translation", "compute_pairs"),
        supports=_lazy("metrics.translation", "pairs_supports"),
        primary="l1",
        higher_is_better=False,
        columns={"psnr": True, "ssim": True, "pairs_n": None},
        task="translation",
        description="Paired translation data: the held-out inputs' translations against their ground truth, "
        "images in [0, 1]: l1 = mean absolute difference, psnr = mean over images of 10·log10(1/MSE) dB, ssim = "
        "mean SSIM (11×11 Gaussian window, σ 1.5; torchmetrics).",
        reference="Wang, Bovik, Sheikh, Simoncelli 2004 (SSIM), IEEE TIP 13(4); Isola et al. 2017, arXiv:1611.07004",
    ),
    MetricSpec(
        name="labels-kept",
        compute=_lazy("metrics.translation", "compute_labels_kept"),
        supports=_lazy("metrics.translation", "labels_supports"),
        primary="label_acc",
        higher_is_better=True,
        columns={"label_classifier_accuracy": None},
        task="translation",
        description="Labelled translation data: share of the held-out inputs' translations that domain B's "
        "classifier assigns to the input's label (label_classifier_accuracy: its accuracy on real B, the ceiling).",
        reference="Zhu et al. 2017 (CycleGAN), arXiv:1703.10593, section 5.1 (FCN score: labels of translations)",
    ),
    MetricSpec(
        name="cycle",
        compute=_lazy("metrics.translation", "compute_cycle"),
        supports=_lazy("metrics.translation", "cycle_supports"),
        primary="cycle_l1",
        higher_is_better=False,
        task="translation",
        description="Models that translate both ways: mean absolute difference (images in [0, 1]) between each "
        "held-out input and its round trip A → B → A; empty for one-way models.",
        reference="Zhu et al. 2017 (CycleGAN), arXiv:1703.10593, eq. 2",
    ),
)

CONDITIONAL = "Odena et al. 2017 (AC-GAN), arXiv:1610.09585; Shmelkov et al. 2018, arXiv:1807.09499"


@hookimpl
def ganbench_register_metrics(registry):
    registry.add_metric(
        MetricSpec(
            name="cond-acc",
            compute=_lazy("metrics.conditional", "compute_accuracy"),
            supports=_lazy("metrics.conditional", "accuracy_supports"),
            primary="cond_acc",
            higher_is_better=True,
            columns={"cond_acc_min": True, "cond_acc_chance": None, "cond_classifier_accuracy": None},
            conditional=True,
            description="Conditional models: share of generated samples the domain classifier (mixtures: the "
            "nearest centre) assigns to the class they were asked to be; cond_acc_min = worst class; "
            "cond_acc_chance = what a generator ignoring its labels scores (Σ q_k p_k, q = labels asked for).",
            reference=CONDITIONAL,
        )
    )
    registry.add_metric(
        MetricSpec(
            name="intra-fid",
            compute=_lazy("metrics.conditional", "compute_intra_fid"),
            supports=_lazy("metrics.conditional", "per_class_supports"),
            primary="intra_fid",
            higher_is_better=False,
            columns={"intra_fid_max": False, "intra_fid_classes": None, "intra_fid_left_out": None},
            features=True,
            conditional=True,
            description="Conditional models: mean over classes of the FID between generated samples asked to be "
            "class c and real samples of class c (run's extractor); intra_fid_max = worst class.",
            reference="Miyato & Koyama 2018, cGANs with Projection Discriminator, arXiv:1802.05637, section 5",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="class-coverage",
            compute=_lazy("metrics.conditional", "compute_class_coverage"),
            supports=_lazy("metrics.conditional", "per_class_supports"),
            primary="class_coverage",
            higher_is_better=True,
            columns={"class_coverage_min": True, "class_coverage_classes": None, "class_coverage_left_out": None},
            features=True,
            conditional=True,
            description="Conditional models: coverage (k=5) of each class's real samples by the generated samples "
            "asked to be that class, equal numbers; mean and minimum over classes.",
            reference="Naeem et al. 2020, arXiv:2002.09797 (coverage), per class",
        )
    )
    for spec in TRANSLATION:
        registry.add_metric(spec)
    registry.add_metric(
        MetricSpec(
            name="kid",
            compute=compute_kid,
            primary="kid",
            higher_is_better=False,
            columns={"kid_std": None},
            features=True,
            description="Kernel distance: unbiased MMD² with the cubic polynomial kernel (x·y/d + 1)³ between "
            "the extractor's features of real_samples training samples and eval_samples generated ones; mean (and "
            "std) over 100 random subsets of min(1000, N), fixed seed; torchmetrics. Unbiased at small N.",
            reference="Bińkowski et al. 2018, arXiv:1801.01401",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="modes",
            compute=_lazy("metrics.modes", "compute"),
            supports=_lazy("metrics.modes", "supports"),
            primary="modes",
            higher_is_better=True,
            columns={"hq_pct": True, "mode_kl": False, "hq_kl": False, "modes_total": None},
            samples=2500,
            description="Mode collapse. Mixtures: modes captured by a high-quality sample (within 3 std of "
            "its nearest centre; 2,500 samples), hq_pct, mode_kl = KL(nearest-mode histogram ‖ uniform). "
            "Labelled images: classes the domain classifier finds, mode_kl = KL(q ‖ data class histogram). "
            "Stacked MNIST: distinct per-channel codes of 1000, KL to uniform.",
            reference="Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN); Metz et al. 2017",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="prdc",
            compute=_lazy("metrics.prdc", "compute"),
            primary="coverage",
            higher_is_better=True,
            columns={"precision": True, "recall": True, "density": True},
            features=True,
            description="Precision/recall (k=3 nearest-neighbour manifolds) and density/coverage (k=5) on the "
            "extractor's features, eval_samples real vs eval_samples generated.",
            reference="Kynkäänniemi et al. 2019, arXiv:1904.06991; Naeem et al. 2020, arXiv:2002.09797",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="stability",
            compute=_lazy("metrics.stability", "compute"),
            primary="track_final_gap",
            higher_is_better=False,
            columns={"diverged": False, "track_osc": False, "track_best": None, "track_best_step": None, "d_gap": None,
                     "grad_d_mean": None, "grad_d_max": None, "grad_g_mean": None, "grad_g_max": None},
            history=True,
            description="From the history: diverged, mean/max gradient norms of D and G, d_gap = mean D(real)−D(fake) "
            "over the last 10% of steps. From the trajectory (--set eval_every=N) of FID (else the first metric): best "
            "value and step, track_final_gap = |final − best|, track_osc = mean |Δ| over the last 5 evaluation points.",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="fid",
            compute=compute_fid,
            primary="fid",
            higher_is_better=False,
            features=True,
            description="Fréchet distance between Gaussians fitted to the extractor's features of real_samples "
            "training samples and of eval_samples generated ones (torchmetrics); biased at small N: N is recorded.",
            reference="Heusel et al. 2017, arXiv:1706.08500",
        )
    )
