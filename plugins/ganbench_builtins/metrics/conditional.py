"""Metrics of conditional models: does a generated sample show the class it was asked to be?

- ``cond-acc`` — the share of generated samples that a classifier assigns to the class they were asked
  to be (``cond_acc``; ``cond_acc_min``: the worst class). Images: the domain classifier (its held-out
  accuracy is recorded: no generator can score much above it); mixtures: the nearest centre. A
  generator that ignores its labels but draws the data's classes (p) scores the chance level
  ``cond_acc_chance`` = Σ_k q_k p_k, q the histogram of the labels asked for (Σ p² when they are drawn
  with the data's frequencies, 1/K when uniformly).
  The accuracy of class-conditional samples as a metric: Odena et al. 2017 (AC-GAN), section 4.1;
  with an external classifier, Shmelkov, Schmid, Alahari 2018 ("How good is my GAN?", GAN-test).
- ``intra-fid`` — the mean over classes of the FID between the generated samples of class c and the
  real training samples of class c, on the run's extractor (Miyato & Koyama 2018, section 5: intra-FID);
  ``intra_fid_max`` the worst class. Per class there are ~eval_samples / K generated samples, so its
  bias is larger than ``fid``'s; compare values at the same eval_samples only.
- ``class-coverage`` — coverage (Naeem et al. 2020, k = 5) of each class's real samples by the
  generated samples of that class, the same number of each; mean and minimum over classes: a
  conditional generator that drops the variety within a class scores low even when its accuracy is
  perfect.
"""

from __future__ import annotations

import torch

from ganbench.specs import DataInfo

#: a class needs this many generated and real samples for its coverage (k = 5 neighbours and itself);
#: its FID needs more than the feature dimension (a full-rank covariance): :func:`fid_floor`
MIN_PER_CLASS = 6


def fid_floor(num_features: int) -> int:
    """The fewest samples of a class on either side for its FID: more than the feature dimension, so
    neither covariance is rank-deficient (a class below it is left out and counted)."""
    return max(MIN_PER_CLASS, num_features + 1)
#: intra-FID and class coverage need enough samples per class: at most this many classes
MAX_CLASSES = 100


def asked_labels(ctx, n: int | None = None) -> torch.Tensor:
    """The classes the generated samples were asked to be; an error for an unconditional model."""
    asked = ctx.generated_labels(n)
    if asked is None:
        raise ValueError("a conditional metric needs a conditional model (labels of the generated samples)")
    return asked


def classify(ctx) -> tuple[torch.Tensor, dict[str, object]]:
    """The classes a classifier assigns to ``ctx.generated()``, and columns saying which classifier."""
    info = ctx.info
    if info.modes is not None:
        fake = ctx.generated().double()
        nearest = torch.cdist(fake, torch.tensor(info.modes, dtype=torch.float64)).argmin(dim=1)
        return nearest, {"cond_classifier": "nearest centre"}
    ext = ctx.extractor("domain")
    labels = ext.labels(ctx.generated_features(extractor=ext))
    return labels, {"cond_classifier": ext.id, "cond_classifier_accuracy": float(ext.meta["accuracy"])}


def accuracy_supports(info: DataInfo) -> str | None:
    if info.modes is not None:
        return None
    from ganbench_builtins.extractors.domain import supports as domain_supports

    reason = domain_supports(info) if info.modality == "image" else "only images and mixtures have a classifier"
    return f"conditional accuracy needs a classifier of {info.name}: {reason}" if reason else None


def conditional_accuracy(asked: torch.Tensor, got: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Overall and worst-class accuracy of ``got`` against ``asked`` (classes never asked for left out)."""
    right = (asked == got).double()
    per_class = [float(right[asked == k].mean()) for k in range(num_classes) if bool((asked == k).any())]
    return {"cond_acc": float(right.mean()), "cond_acc_min": min(per_class)}


def compute_accuracy(ctx) -> dict[str, object]:
    asked = asked_labels(ctx)
    got, which = classify(ctx)
    k = ctx.info.num_classes
    counts = torch.bincount(ctx.data.y, minlength=k).double() if ctx.data.y is not None else torch.ones(k)
    p = counts / counts.sum()
    q = torch.bincount(asked.cpu(), minlength=k).double()
    q = q / q.sum()
    return {**conditional_accuracy(asked, got.to(asked.device), k), "cond_acc_chance": float((q * p).sum()),
            "cond_acc_n": len(asked), **which}


def per_class_supports(info: DataInfo) -> str | None:
    if info.num_classes > MAX_CLASSES:
        return (f"per-class statistics need enough samples of each class; {info.name} has {info.num_classes} "
                f"classes (at most {MAX_CLASSES})")
    return None


def _per_class(ctx, floor=lambda num_features: MIN_PER_CLASS):
    """``(class, real features of it, generated features of it)`` for every class with at least
    ``floor(num_features)`` of each, and the number of classes left out."""
    ext = ctx.extractor()
    fake = ctx.generated_features(extractor=ext)
    asked = asked_labels(ctx, len(fake))
    real = ctx.real_features(extractor=ext)
    real_y = ctx.real_labels(len(real))
    out, left_out = [], 0
    least = floor(ext.num_features)
    for k in range(ctx.info.num_classes):
        r, f = real[real_y == k], fake[asked == k]
        if len(r) < least or len(f) < least:
            left_out += 1
            continue
        out.append((k, r, f))
    return ext, out, left_out


def compute_intra_fid(ctx) -> dict[str, object]:
    from ganbench_builtins.metrics.fid_kid import _feature_metric

    ext, classes, left_out = _per_class(ctx, fid_floor)
    values = []
    for _, r, f in classes:
        metric = _feature_metric("fid", ext.num_features)
        metric.update(r.double(), real=True)
        metric.update(f.double(), real=False)
        values.append(float(metric.compute()))
    if not values:
        return {"intra_fid": None, "intra_fid_classes": 0, "intra_fid_left_out": left_out}
    return {"intra_fid": sum(values) / len(values), "intra_fid_max": max(values), "intra_fid_classes": len(values),
            "intra_fid_left_out": left_out, "intra_fid_extractor": ext.id}


def compute_class_coverage(ctx) -> dict[str, object]:
    from ganbench_builtins.metrics.prdc import prdc

    ext, classes, left_out = _per_class(ctx)
    values = []
    for _, r, f in classes:
        n = min(len(r), len(f))
        values.append(prdc(r[:n], f[:n])["coverage"])
    if not values:
        return {"class_coverage": None, "class_coverage_classes": 0, "class_coverage_left_out": left_out}
    return {"class_coverage": sum(values) / len(values), "class_coverage_min": min(values),
            "class_coverage_classes": len(values), "class_coverage_left_out": left_out,
            "class_coverage_extractor": ext.id}
