"""Built-in metrics: ``fid`` and ``kid`` on the domain classifier's features; ``modes`` — mode
collapse (metrics_modes); ``prdc`` — precision/recall/density/coverage (metrics_prdc).

FID (Heusel et al. 2017) is computed by torchmetrics' ``FrechetInceptionDistance`` with the domain
classifier's penultimate layer as its custom feature module. Real statistics (the whole training
split) are accumulated once per run and data set; each cell adds ``eval_samples`` generated samples.
KID (Bińkowski et al. 2018) likewise uses torchmetrics' ``KernelInceptionDistance``.
"""

from __future__ import annotations

import warnings

from ganbench import hookimpl
from ganbench.specs import MetricSpec


def _fid_supports(info):
    from ganbench.evaluation import domain_supports

    return domain_supports(info)


def _feature_metric(kind: str, extractor, device, **kwargs):
    """A torchmetrics FID or KID whose feature module is ``extractor``'s network."""
    import torch
    from torch import nn

    if kind == "fid":
        from torchmetrics.image.fid import FrechetInceptionDistance as Metric
    else:
        from torchmetrics.image.kid import KernelInceptionDistance as Metric

    class Features(nn.Module):  # what torchmetrics calls on each batch
        def __init__(self, ext):
            super().__init__()
            self.net = ext.network
            self.num_features = ext.num_features

        def forward(self, x):
            return self.net.features(x)

    metric_device = device if device.type == "cuda" else torch.device("cpu")  # float64 states
    extractor.network.to(metric_device)
    with warnings.catch_warnings():  # KID's "saves all features in a buffer": N is bounded by eval_samples
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return Metric(feature=Features(extractor), reset_real_features=False, **kwargs).to(metric_device)


def _scored(ctx, kind: str, **kwargs):
    """The run's FID/KID object for this data set with the real features of the whole training split
    (computed once per run), holding this cell's generated samples."""
    import torch

    ext = ctx.extractor("domain")

    def make_real():
        metric = _feature_metric(kind, ext, ctx.device, **kwargs)
        dev = next(metric.parameters()).device
        with torch.no_grad():
            for i in range(0, len(ctx.data.x), 500):
                metric.update(ctx.data.x[i : i + 500].to(dev), real=True)
        return metric

    key = (f"{kind}-real", ext.id, ctx.info.fingerprint, tuple(sorted(kwargs.items())))
    metric = ctx.cache.get(key, make_real)
    metric.reset()  # drops the previous cell's fakes, keeps the real features
    dev = next(metric.parameters()).device
    fake = ctx.generated()
    with torch.no_grad():
        for i in range(0, len(fake), 500):
            metric.update(fake[i : i + 500].to(dev), real=False)
    return metric, ext


def compute_fid(ctx):
    fid, ext = _scored(ctx, "fid")
    return {
        "fid": float(fid.compute()),
        "fid_extractor": ext.id,
        "fid_n_real": int(fid.real_features_num_samples),
        "fid_n_fake": int(fid.fake_features_num_samples),
        "domain_accuracy": float(ext.meta["accuracy"]),
    }


#: KID subsets and their size (Bińkowski et al. 2018 use 100 subsets of 1,000); smaller sets use all
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def compute_kid(ctx):
    import torch

    size = min(KID_SUBSET_SIZE, ctx.n_samples, len(ctx.data.x))
    kid, ext = _scored(ctx, "kid", subsets=KID_SUBSETS, subset_size=size)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws the subsets from the global RNG
        torch.manual_seed(0)
        mean, std = kid.compute()
    return {"kid": float(mean), "kid_std": float(std), "kid_extractor": ext.id, "kid_subset_size": size,
            "kid_subsets": KID_SUBSETS}


def _lazy(module: str, name: str):
    """``module.name`` imported on first call: registering the metrics imports no torch."""

    def call(arg):
        import importlib

        return getattr(importlib.import_module(f"ganbench_builtins.{module}"), name)(arg)

    return call


@hookimpl
def ganbench_register_metrics(registry):
    registry.add_metric(
        MetricSpec(
            name="kid",
            compute=compute_kid,
            primary="kid",
            higher_is_better=False,
            supports=_fid_supports,
            description="Kernel distance: unbiased MMD² with the cubic polynomial kernel (x·y/d + 1)³ between "
            "domain-classifier features of the training split and of the generated samples; mean (and std) "
            "over 100 random subsets of min(1000, N), fixed seed; torchmetrics. Unbiased at small N.",
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
            supports=_lazy("metrics_prdc", "supports"),
            primary="coverage",
            higher_is_better=True,
            description="Precision/recall (k=3 nearest-neighbour manifolds) and density/coverage (k=5) on the "
            "domain classifier's features (images) or the raw vectors, eval_samples real vs generated.",
            reference="Kynkäänniemi et al. 2019, arXiv:1904.06991; Naeem et al. 2020, arXiv:2002.09797",
        )
    )
    registry.add_metric(
        MetricSpec(
            name="fid",
            compute=compute_fid,
            primary="fid",
            higher_is_better=False,
            supports=_fid_supports,
            description="Fréchet distance between real and generated features of the domain classifier "
            "(penultimate layer, 128-d), via torchmetrics.",
            reference="Heusel et al. 2017, arXiv:1706.08500",
        )
    )
