"""The ``inception`` feature extractor: the Inception-v3 of the original TensorFlow FID (Heusel et
al. 2017), as ported by torch-fidelity and used by torchmetrics, 2048-d pool features.

Preprocessing, chosen to match the reference implementation: samples in the data's value range are
mapped to [0, 255] and **rounded** to uint8 (not truncated, which would darken every image by half
a grey level on average); grey images are replicated to three channels; the uint8 images are resized
to 299×299 by torch-fidelity's TensorFlow-1.x-compatible bilinear resize (torchmetrics
``antialias=False``; torchmetrics' own default, ``antialias=True``, gives different numbers) and
scaled to [−1, 1] inside the network.

Weights: ``--inception-weights PATH`` (extractor option ``inception.weights``), else
``$GANBENCH_INCEPTION_WEIGHTS``, else ``<cache>/extractors/`` + :data:`WEIGHTS_FILE`, else downloaded
there from :data:`WEIGHTS_URL` on first use (``inception.download=false`` forbids it). Files are read
with ``torch.load(weights_only=True)``. The fingerprint is the first 12 hex digits of the file's
sha256; the reference file's starts with ``6726825d`` (its name says so), and a row computed with
any other file says ``inception_reference = false``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from unittest import mock

import torch

from ganbench.evaluation import ExtractorUnavailable, FeatureExtractor
from ganbench.specs import DataInfo

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
REFERENCE_SHA256_PREFIX = "6726825d"
WEIGHTS_ENV = "GANBENCH_INCEPTION_WEIGHTS"
NUM_FEATURES = 2048
#: images per forward pass (299×299 on a CPU: about 0.1 s each)
BATCH = 50

_HOW = (f"get {WEIGHTS_FILE} from {WEIGHTS_URL} and pass --inception-weights PATH (or set {WEIGHTS_ENV}); "
        "the 'domain' extractor works offline on labelled images (--extractor domain)")


def supports(info: DataInfo) -> str | None:
    if info.modality != "image" or len(info.shape) != 3:
        return f"Inception takes images; {info.name} is {info.modality} data"
    if info.shape[0] not in (1, 3):
        return f"Inception takes grey or RGB images; {info.name} has {info.shape[0]} channels"
    if info.value_range is None:
        return f"Inception needs the images' value range; {info.name} does not declare one"
    return None


def auto(info: DataInfo) -> bool:
    """Images the domain classifier is not picked for (colour photos, unlabelled folders)."""
    from ganbench_builtins.extractors.domain import auto as domain_auto

    return supports(info) is None and not domain_auto(info)


def to_uint8(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """``[B, C, H, W]`` floats in ``value_range`` -> ``[B, 3, H, W]`` uint8, rounded to nearest."""
    lo, hi = value_range
    u8 = ((x.float() - lo) * (255.0 / (hi - lo))).round().clamp(0, 255).to(torch.uint8)
    return u8.expand(-1, 3, -1, -1) if u8.shape[1] == 1 else u8


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_path(cache_root: Path, weights: str | None, download: bool) -> Path:
    """The local weights file, downloading it into the cache when allowed and needed."""
    given = weights or os.environ.get(WEIGHTS_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            source = "--inception-weights" if weights else WEIGHTS_ENV
            raise ExtractorUnavailable(f"inception weights {path} (from {source}) is not a file; {_HOW}")
        return path
    path = cache_root / "extractors" / WEIGHTS_FILE
    if path.is_file():
        return path
    if not download:
        raise ExtractorUnavailable(f"inception weights are not in {path.parent} and downloading is off "
                                   f"(inception.download=false); {_HOW}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{WEIGHTS_FILE}.part")
    try:
        torch.hub.download_url_to_file(WEIGHTS_URL, str(tmp), progress=False)
    except Exception as exc:  # no network, HTTP error, disk full: say what and how to fix it
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ExtractorUnavailable(f"inception weights could not be downloaded from {WEIGHTS_URL} "
                                   f"({type(exc).__name__}: {reason}); {_HOW}") from None
    digest = sha256(tmp)
    if not digest.startswith(REFERENCE_SHA256_PREFIX):
        tmp.unlink(missing_ok=True)
        raise ExtractorUnavailable(f"the downloaded inception weights have sha256 {digest[:12]}…, expected "
                                   f"{REFERENCE_SHA256_PREFIX}…; {_HOW}")
    os.replace(tmp, path)
    return path


def load_network(path: Path):
    """torchmetrics' ``NoTrainInceptionV3`` (2048-d features, TF-1.x resize) with the weights in
    ``path``, read with ``weights_only=True`` (torch-fidelity itself would unpickle arbitrary objects)."""
    try:
        import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError as exc:
        raise ExtractorUnavailable(f"the inception extractor needs torch-fidelity ({exc}): "
                                   "pip install torch-fidelity") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ExtractorUnavailable(f"inception weights {path} cannot be read as a PyTorch state_dict "
                                   f"({type(exc).__name__}: {first}); {_HOW}") from None
    try:
        with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: state):
            return NoTrainInceptionV3(name="inception-v3-compat", features_list=[str(NUM_FEATURES)],
                                      feature_extractor_weights_path=None, antialias=False)
    except RuntimeError as exc:  # missing/unexpected keys, wrong shapes
        raise ExtractorUnavailable(f"inception weights {path} do not fit Inception-v3 "
                                   f"({str(exc).splitlines()[0]}); {_HOW}") from None


def build(data, *, device: torch.device, cache_root: Path, weights: str | None = None,
          download: bool = True) -> FeatureExtractor:
    path = weights_path(cache_root, weights, download)
    digest = sha256(path)
    net = load_network(path).to(device)
    value_range = data.info.value_range

    def embed(x: torch.Tensor) -> torch.Tensor:
        return net(to_uint8(x, value_range))

    meta = {"path": str(path), "sha256": digest, "reference": digest.startswith(REFERENCE_SHA256_PREFIX),
            "resize": "torch-fidelity TF1.x bilinear (torchmetrics antialias=False)", "uint8": "rounded"}
    return FeatureExtractor("inception", digest[:12], NUM_FEATURES, embed, device, meta=meta, batch_size=BATCH)
