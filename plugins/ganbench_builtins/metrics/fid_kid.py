"""FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) by torchmetrics on the run's extractor's
features (see the package docstring)."""

from __future__ import annotations

import warnings


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
