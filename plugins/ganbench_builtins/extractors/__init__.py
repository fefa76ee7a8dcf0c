"""Built-in feature extractors: ``raw``, ``domain`` (domain.py) and ``inception``
(inception.py). Registration imports no torch; the modules load on first use."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.options import Option
from ganbench.specs import ExtractorSpec
from ganbench_builtins import lazy as _lazy


def _raw_supports(info):
    return None if info.modality == "vector" else f"raw features are for vector data; {info.name} is {info.modality} data"


def _raw_build(data, *, device, cache_root):
    import math

    from ganbench.evaluation import FeatureExtractor

    return FeatureExtractor("raw", "identity", math.prod(data.info.shape), lambda x: x.flatten(1), device)


@hookimpl
def ganbench_register_extractors(registry):
    registry.add_extractor(ExtractorSpec(
        name="raw",
        build=_raw_build,
        supports=_raw_supports,
        auto=lambda info: info.modality == "vector",
        description="The samples themselves, flattened: for low-dimensional vector data (mixtures).",
    ))
    registry.add_extractor(ExtractorSpec(
        name="domain",
        build=_lazy("extractors.domain", "build"),
        supports=_lazy("extractors.domain", "supports"),
        auto=_lazy("extractors.domain", "auto"),
        description="A small CNN classifier of the data set's labelled images, 128-d penultimate features and class "
        "labels; its id is a hash of its weights. Ships with the package for mnist5k, digits and stacked-mnist at "
        "their default options; other data train theirs once (20 epochs, random translations) and cache it. "
        "Held-out accuracy recorded. Per channel for stacked MNIST (3×128-d). Offline. Auto for grey labelled images.",
    ))
    registry.add_extractor(ExtractorSpec(
        name="inception",
        build=_lazy("extractors.inception", "build"),
        supports=_lazy("extractors.inception", "supports"),
        auto=_lazy("extractors.inception", "auto"),
        options={
            "weights": Option(None, "local Inception weights file (torch-fidelity's "
                              "weights-inception-2015-12-05-6726825d.pth); default $GANBENCH_INCEPTION_WEIGHTS, "
                              "else the cache, else downloaded"),
            "download": Option(True, "download the weights into the cache when they are not there"),
        },
        description="The standard FID Inception-v3 (TF 2015-12-05 weights via torch-fidelity/torchmetrics), 2048-d "
        "pool features; uint8 rounded, TF1.x bilinear resize to 299 (antialias=False). Weights downloaded on first "
        "use or --inception-weights PATH. Auto for colour and unlabelled images.",
        reference="Szegedy et al. 2016; Heusel et al. 2017, arXiv:1706.08500",
    ))
