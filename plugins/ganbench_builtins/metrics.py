"""Built-in metrics: ``fid`` and ``kid`` on the run's feature extractor (``--extractor``, default
``auto``: domain classifier for digit-like data, Inception for colour images, the raw vectors for
mixtures); ``modes`` — mode collapse (metrics_modes); ``prdc`` — precision/recall/density/coverage
(metrics_prdc); ``stability`` — training stability from the history (metrics_stability).

FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) are computed by torchmetrics'
``FrechetInceptionDistance`` and ``KernelInceptionDistance`` on features the extractor computed (an
identity feature module), so the real side comes from the on-disk feature cache
(:meth:`ganbench.evaluation.EvalContext.real_features`: ``real_samples`` training samples, default
10,000 or the whole split) and each cell adds ``eval_samples`` generated samples.
"""

from __future__ import annotations

import warnings

from ganbench import hookimpl
from ganbench.specs import MetricSpec
from ganbench_builtins import lazy as _lazy


def _feature_metric(kind: str, num_features: int, **kwargs):
    """A torchmetrics FID or KID that takes feature vectors (float64) as its "images"."""
    import torch
    from torch import nn

    if kind == "fid":
        from torchmetrics.image.fid import FrechetInceptionDistance as Metric
    else:
        from torchmetrics.image.kid import KernelInceptionDistance as Metric

    class Given(nn.Module):  # the features are computed already: torchmetrics' feature module is the identity
        def __init__(self):
            super().__init__()
            self.num_features = num_features

        def forward(self, x):
            return x

    with warnings.catch_warnings():  # KID's "saves all features in a buffer": N is bounded by real_samples
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return Metric(feature=Given(), reset_real_features=False, **kwargs).to(torch.device("cpu"))


def _scored(ctx, kind: str, **kwargs):
    """The run's FID/KID object for this data set and extractor holding the real features (once per
    run), now also holding this cell's generated samples' features."""
    ext = ctx.extractor()
    real = ctx.real_features(extractor=ext)

    def make_real():
        metric = _feature_metric(kind, ext.num_features, **kwargs)
        metric.update(real.double(), real=True)
        return metric

    key = (f"{kind}-real", ext.id, ctx.info.fingerprint, len(real), tuple(sorted(kwargs.items())))
    metric = ctx.cache.get(key, make_real)
    metric.reset()  # drops the previous cell's fakes, keeps the real features
    metric.update(ctx.generated_features(extractor=ext).double(), real=False)
    return metric, ext, len(real)


def _extractor_columns(prefix: str, ext) -> dict[str, object]:
    cols: dict[str, object] = {f"{prefix}_extractor": ext.id}
    if "accuracy" in ext.meta:
        cols["domain_accuracy"] = float(ext.meta["accuracy"])
    if "reference" in ext.meta:
        cols["inception_reference"] = bool(ext.meta["reference"])
    return cols


def compute_fid(ctx):
    fid, ext, n_real = _scored(ctx, "fid")
    return {"fid": float(fid.compute()), "fid_n_real": n_real, "fid_n_fake": int(fid.fake_features_num_samples),
            **_extractor_columns("fid", ext)}


#: KID subsets and their size (Bińkowski et al. 2018 use 100 subsets of 1,000); smaller sets use all
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def compute_kid(ctx):
    import torch

    size = min(KID_SUBSET_SIZE, ctx.n_samples, len(ctx.data.x), ctx.real_samples)
    kid, ext, n_real = _scored(ctx, "kid", subsets=KID_SUBSETS, subset_size=size)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global RNG
        torch.manual_seed(0)
        mean, std = kid.compute()
    return {"kid": float(mean), "kid_std": float(std), "kid_subset_size": size, "kid_subsets": KID_SUBSETS,
            "kid_n_real": n_real, **_extractor_columns("kid", ext)}


@hookimpl
def ganbench_register_metrics(registry):
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
            compute=_lazy("metrics_modes", "compute"),
            supports=_lazy("metrics_modes", "supports"),
            primary="modes",
            higher_is_better=True,
            columns={"hq_pct": True, "mode_kl": False, "modes_total": None},
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
            compute=_lazy("metrics_prdc", "compute"),
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
            compute=_lazy("metrics_stability", "compute"),
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
