"""Built-in metrics: ``fid`` — Fréchet distance on the domain classifier's features; ``modes`` — mode
collapse (metrics_modes); ``prdc`` — precision/recall/density/coverage (metrics_prdc).

FID (Heusel et al. 2017) is computed by torchmetrics' ``FrechetInceptionDistance`` with the domain
classifier's penultimate layer as its custom feature module. Real statistics (the whole training
split) are accumulated once per run and data set; each cell adds ``eval_samples`` generated samples.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import MetricSpec


def _fid_supports(info):
    from ganbench.evaluation import domain_supports

    return domain_supports(info)


def _fid_metric(extractor, device):
    import torch
    from torch import nn
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Features(nn.Module):  # what torchmetrics calls on each batch
        def __init__(self, ext):
            super().__init__()
            self.net = ext.network
            self.num_features = ext.num_features

        def forward(self, x):
            return self.net.features(x)

    metric_device = device if device.type == "cuda" else torch.device("cpu")  # float64 states
    extractor.network.to(metric_device)
    return FrechetInceptionDistance(feature=Features(extractor), reset_real_features=False).to(metric_device)


def compute_fid(ctx):
    import torch

    ext = ctx.extractor("domain")

    def make_real():
        fid = _fid_metric(ext, ctx.device)
        dev = next(fid.parameters()).device
        with torch.no_grad():
            for i in range(0, len(ctx.data.x), 500):
                fid.update(ctx.data.x[i : i + 500].to(dev), real=True)
        return fid

    fid = ctx.cache.get(("fid-real", ext.id, ctx.info.fingerprint), make_real)
    fid.reset()  # drops the previous cell's fakes, keeps the real statistics
    dev = next(fid.parameters()).device
    fake = ctx.generated()
    with torch.no_grad():
        for i in range(0, len(fake), 500):
            fid.update(fake[i : i + 500].to(dev), real=False)
        value = float(fid.compute())
    return {
        "fid": value,
        "fid_extractor": ext.id,
        "fid_n_real": int(fid.real_features_num_samples),
        "fid_n_fake": int(fid.fake_features_num_samples),
        "domain_accuracy": float(ext.meta["accuracy"]),
    }


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
