"""Mode collapse: how many of the data's modes the generator reaches, and how evenly.

- Mixtures with known centres (``ring8``, ``grid25``), the rule of VEEGAN (Srivastava et al. 2017)
  and PacGAN (Lin et al. 2018): a generated sample is *high quality* when it lies within 3 standard
  deviations of its nearest centre; a mode is *captured* when at least one high-quality sample is
  nearest to it; 2,500 samples. ``mode_kl`` = KL(q ‖ uniform) = Σ q_k log(K q_k), q = the histogram of
  every sample's nearest centre (defined even when no sample is of high quality; 0 = even, log K =
  all samples at one mode). ``hq_kl``: the same over the high-quality samples only, log K − their
  entropy — PacGAN's reverse KL as its released code measures it (it logs the entropy of the high-quality
  samples' mode histogram, ``synthetic_data_experiments/PacGAN/pacgan/extensions.py``); None when no
  sample is of high quality.
- Labelled images: the domain classifier labels each generated sample; ``modes`` = classes that
  received at least one sample, ``mode_kl`` = KL(q ‖ p), p = the training split's class histogram.
- Composite labels (stacked MNIST, ``label_factors``): a classifier trained on single channels labels
  each channel; ``modes`` = distinct label codes (of 1,000), ``mode_kl`` = KL(q ‖ uniform).
"""

from __future__ import annotations

import math

import torch

from ganbench.specs import DataInfo

#: samples of the mixture rule (VEEGAN, PacGAN)
MIXTURE_SAMPLES = 2500
#: a sample within this many standard deviations of its nearest centre is of high quality
HQ_STDS = 3.0


def kl(q_counts: torch.Tensor, p: torch.Tensor) -> float:
    """KL(q ‖ p) in nats for a histogram of counts ``q_counts`` and probabilities ``p`` (terms with
    q = 0 contribute 0; p must be > 0 where q > 0)."""
    q = q_counts.double() / q_counts.sum()
    nz = q > 0
    return float((q[nz] * (q[nz] / p.double()[nz]).log()).sum())


def mixture_modes(samples: torch.Tensor, centres: torch.Tensor, std: float) -> dict[str, float]:
    """The VEEGAN/PacGAN mode statistics of ``samples`` ``[N, d]`` for a mixture with ``centres``
    ``[K, d]`` and per-component ``std``."""
    dist = torch.cdist(samples.double(), centres.double())  # [N, K]
    nearest_d, nearest = dist.min(dim=1)
    hq = nearest_d <= HQ_STDS * std
    k = len(centres)
    captured = torch.bincount(nearest[hq], minlength=k) > 0
    hist = torch.bincount(nearest, minlength=k)
    return {
        "modes": int(captured.sum()),
        "modes_total": k,
        "hq_pct": 100.0 * float(hq.double().mean()),
        "mode_kl": kl(hist, torch.full((k,), 1.0 / k, dtype=torch.float64)),
        "hq_kl": kl(torch.bincount(nearest[hq], minlength=k), torch.full((k,), 1.0 / k, dtype=torch.float64))
        if bool(hq.any()) else None,
    }


def class_modes(labels: torch.Tensor, num_classes: int, reference: torch.Tensor | None) -> dict[str, float]:
    """Classes reached by predicted ``labels`` and KL(q ‖ reference histogram) (uniform when None)."""
    hist = torch.bincount(labels, minlength=num_classes)
    if reference is None:
        p = torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)
    else:
        ref = torch.bincount(reference, minlength=num_classes).double()
        p = (ref + 1e-12) / (ref + 1e-12).sum()  # a class the data lacks gets ~0 probability, not 0/0
    return {"modes": int((hist > 0).sum()), "modes_total": num_classes, "mode_kl": kl(hist, p)}


def supports(info: DataInfo) -> str | None:
    from ganbench_builtins.extractors.domain import supports as domain_supports

    if info.modes is not None and info.mode_std:
        return None
    if info.modality == "image" and info.num_classes >= 2:
        reason = domain_supports(info)
        return f"mode counting needs the domain classifier: {reason}" if reason else None
    return f"mode counting needs known mixture modes or class labels; {info.name} has neither"


def compute(ctx) -> dict[str, object]:
    info = ctx.info
    if info.modes is not None and info.mode_std:
        fake = ctx.generated(MIXTURE_SAMPLES).cpu()
        out = mixture_modes(fake, torch.tensor(info.modes), info.mode_std)
        return {**out, "modes_rule": f"mixture: {HQ_STDS:g} std, {len(fake)} samples", "modes_n": len(fake)}
    ext = ctx.extractor("domain")  # the classifier, whatever extractor the run's FID uses
    fake = ctx.generated_features(extractor=ext)
    labels = ext.labels(fake)
    if info.label_factors:
        out = class_modes(labels, math.prod(info.label_factors), None)
        rule = "per-channel classes vs uniform"
    else:
        out = class_modes(labels, info.num_classes, ctx.data.y)
        rule = "classes vs data histogram"
    return {**out, "modes_rule": rule, "modes_n": len(fake), "modes_extractor": ext.id,
            "modes_classifier_accuracy": float(ext.meta["accuracy"])}
