"""Metrics of translation models (``DataInfo.task == "translation"``), on the data set's held-out inputs
(:class:`ganbench.evaluation.TranslationEval`: the same images for every model, loss and seed):

- ``pairs`` (paired data) — how close each translation is to its ground truth, images mapped to [0, 1]:
  ``l1`` the mean absolute difference, ``psnr`` the peak signal-to-noise ratio 10·log10(1 / MSE) of each
  image (dB), averaged over images, ``ssim`` the structural similarity (Wang et al. 2004: 11×11 Gaussian
  window, σ = 1.5, K1 = 0.01, K2 = 0.03), averaged over images; PSNR and SSIM by torchmetrics, whose SSIM
  reflect-pads each image by 5 px and averages the map over every pixel (Wang et al.'s reference code and
  scikit-image average only where the window fits: at 28 px the two differ by about 0.2 %). Pix2Pix's
  paper reports FCN scores and perceptual studies; L1/PSNR/SSIM are the standard pixel-level scores of later
  translation papers (e.g. Wang et al. 2018, pix2pixHD).
- ``labels-kept`` (labelled data) — ``label_acc``: the share of translations the domain classifier of B
  assigns to their input's label (does a translated digit stay the same digit?); ``label_classifier_accuracy``
  is that classifier's held-out accuracy on real B images, the ceiling.
- ``cycle`` — ``cycle_l1``: the mean absolute difference, in [0, 1] units, between each input and its round
  trip A → B → A (``G.back``; CycleGAN's cycle consistency, Zhu et al. 2017, eq. 2, on held-out images);
  empty for a model that translates one way.

FID and KID of the translations against domain B are the ``fid`` and ``kid`` metrics (the run's extractor).
"""

from __future__ import annotations

import torch

from ganbench.specs import DataInfo


def unit(x: torch.Tensor, info: DataInfo) -> torch.Tensor:
    """Images of ``info.value_range`` mapped to [0, 1] (float64)."""
    lo, hi = info.value_range if info.value_range is not None else (-1.0, 1.0)
    return ((x.double() - lo) / (hi - lo)).clamp(0, 1)


def _inputs(ctx):
    if ctx.translation is None:
        raise ValueError(f"{ctx.info.name}: a translation metric needs the translation's inputs (a translation data "
                         "set's evaluation)")
    return ctx.translation


def pair_scores(fake: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """L1, PSNR (dB) and SSIM of images in [0, 1] against their targets, each averaged over images."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    fake, target = fake.double(), target.double()
    psnr = peak_signal_noise_ratio(fake, target, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(fake, target, data_range=1.0, reduction="none")
    return {"l1": float((fake - target).abs().mean()), "psnr": float(psnr.mean()), "ssim": float(ssim.mean())}


def compute_pairs(ctx) -> dict[str, float]:
    inputs = _inputs(ctx)
    n = ctx.n_samples
    if inputs.targets is None:
        raise ValueError(f"{ctx.info.name} is unpaired: its translations have no ground truth")
    return {**pair_scores(unit(ctx.generated(n), ctx.info), unit(inputs.targets[:n], ctx.info)), "pairs_n": n}


def pairs_supports(info: DataInfo) -> str | None:
    if info.task != "translation" or not info.paired:
        return f"{info.name} has no pairs (ground truth for each input)"
    return None


def compute_labels_kept(ctx) -> dict[str, object]:
    inputs = _inputs(ctx)
    n = ctx.n_samples
    if inputs.source_labels is None:
        raise ValueError(f"{ctx.info.name} labels domain B but not domain A: label preservation needs both")
    ext = ctx.extractor("domain")
    predicted = ext.labels(ctx.generated_features(n, extractor=ext))
    acc = float((predicted == inputs.source_labels[:n]).double().mean())
    return {"label_acc": acc, "label_classifier_accuracy": float(ext.meta["accuracy"])}


def labels_supports(info: DataInfo) -> str | None:
    if info.task != "translation" or info.num_classes < 2:
        return f"{info.name} has no class labels on domain B to check a translation keeps"
    return None


def compute_cycle(ctx) -> dict[str, object]:
    inputs = _inputs(ctx)
    if inputs.back is None:
        return {"cycle_l1": None}
    n = ctx.n_samples
    round_trip = inputs.back(ctx.generated(n))
    return {"cycle_l1": float((unit(round_trip, ctx.info) - unit(inputs.sources[:n], ctx.info)).abs().mean())}


def cycle_supports(info: DataInfo) -> str | None:
    if info.task != "translation" or tuple(info.source_shape or ()) != tuple(info.shape):
        return f"{info.name}'s domains differ in shape: no translation back"
    return None
