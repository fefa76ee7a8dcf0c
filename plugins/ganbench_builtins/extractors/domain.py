"""The ``domain`` feature extractor: a small CNN classifier of a data set's labelled images. Its
penultimate layer gives features (a domain FID/KID/PR); its logits give class labels (mode counting).
Its accuracy on the held-out split is stored with it and reported with every result.

**Identity is the weights.** The extractor's id is ``domain:<first 12 hex digits of`` :func:`weights_hash`
``>``: a hash of the weights themselves and of :data:`PREPROCESSING_VERSION`, so two networks never
share an id (two trainings of the same recipe on two machines or thread counts differ in their last
bits, and so do their FIDs). The classifiers of the embedded labelled sets at their default options
(``mnist5k``, ``digits``, the per-channel one of ``stacked-mnist``, and those of the translation sets'
domain B, ``edges2digits`` and ``digits2thick``) **ship with the package**
(``weights/``, made by ``python -m ganbench_builtins.extractors.make_weights``, which records its command,
seed, torch version, threads and held-out accuracy beside each file): every machine computes the same
features from the same samples, as FID's one frozen Inception network does. Other data (other
options, other sets) train theirs once and cache it on disk under a key of the data fingerprint and
:data:`CLASSIFIER_VERSION`; its id is still the hash of what was trained.

Composite labels (``label_factors``, one factor per channel, e.g. stacked MNIST): the classifier is
trained on single channels (:func:`channel_data`); a sample's features are its channels' features
concatenated (3 × 128 for stacked MNIST) and its label the mixed-radix code of the channels' labels.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from ganbench import seeding
from ganbench.errors import UsageError
from ganbench.evaluation import FeatureExtractor
from ganbench.paths import safe_name
from ganbench.specs import Data, DataInfo
from ganbench.store import atomic_torch_save

#: bump when the classifier's architecture or training recipe changes: it invalidates the cache
CLASSIFIER_VERSION = "3"
#: bump when what the features are computed from changes (input scaling, channel layout): part of the id
PREPROCESSING_VERSION = "1"
#: the weight files that ship with the package (same file names as the cache's)
SHIPPED_DIR = Path(__file__).parent / "weights"
#: 20 epochs with random translations: 0.971 held-out accuracy on mnist5k with the shipped weights, 0.976 on the
#: stacked-MNIST channels (10 epochs, none: 0.953)
CLASSIFIER_EPOCHS = 20
CLASSIFIER_BATCH = 128
FEATURE_DIM = 128
#: channel images the per-channel classifier of composite-label data trains on (at most)
CHANNEL_TRAIN_LIMIT = 12000


class DomainClassifier(nn.Module):
    """conv32-pool-conv64-pool-avgpool(7)-fc128 (features) -> fc(num_classes) (logits)."""

    def __init__(self, channels: int, num_classes: int, width: int = 32, num_features: int = FEATURE_DIM):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),  # [N, w, H, W]
            nn.MaxPool2d(2),  # [N, w, H/2, W/2]
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # [N, 2w, H/4, W/4]
            nn.AdaptiveAvgPool2d(7),  # [N, 2w, 7, 7] (identity at 28 px)
            nn.Flatten(),
            nn.Linear(2 * width * 49, num_features), nn.ReLU(),  # [N, F]
        )
        self.head = nn.Linear(num_features, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def per_channel(info: DataInfo) -> bool:
    """Whether ``info`` has one label factor per channel, all equal (stacked MNIST)."""
    f = info.label_factors
    return bool(f) and len(f) == info.shape[0] and len(set(f)) == 1


def supports(info: DataInfo) -> str | None:
    if info.modality != "image":
        return f"the domain classifier needs labelled images; {info.name} is {info.modality} data"
    if info.num_classes < 2:
        return f"the domain classifier needs class labels; {info.name} has none"
    if info.label_factors and not per_channel(info):
        return (f"{info.name}'s labels are composite ({'×'.join(map(str, info.label_factors))} codes) but not one "
                "label per channel, which is the only composite layout the domain classifier learns")
    return None


def auto(info: DataInfo) -> bool:
    """``auto`` picks the domain classifier for digit-like data: labelled single-channel images, and
    images labelled per channel (stacked MNIST). Colour photos get ``inception``."""
    return supports(info) is None and (info.shape[0] == 1 or per_channel(info))


def _accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            correct += int((net(x[i : i + 500].to(device)).argmax(1).cpu() == y[i : i + 500]).sum())
    return correct / len(x)


def _translate(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The batch shifted by a random offset of up to 1/14 of the image side (2 px at 28 px), edges
    replicated: the augmentation that takes the classifier from 95% to 98% on mnist5k."""
    h, w = x.shape[-2:]
    m = max(1, round(h / 14))
    padded = nn.functional.pad(x, (m, m, m, m), mode="replicate")  # [N, C, H+2m, W+2m]
    dy, dx = torch.randint(0, 2 * m + 1, (2,), generator=generator).tolist()
    return padded[..., dy : dy + h, dx : dx + w]


def train_domain_classifier(data: Data, device: torch.device, epochs: int = CLASSIFIER_EPOCHS,
                            progress: Callable[[int, int], None] | None = None) -> tuple[nn.Module, dict]:
    """Train the classifier on ``data.x/y``; accuracy on ``data.x_test/y_test`` (or a 10% hold-out).
    ``progress(epochs_done, epochs)`` is called before the first epoch and after each."""
    reason = supports(data.info)
    if reason or data.y is None:
        raise UsageError(reason or f"{data.info.name} has no labels")
    x, y, x_test, y_test = data.x, data.y, data.x_test, data.y_test
    if x_test is None or y_test is None:
        n_hold = max(1, len(x) // 10)
        x, y, x_test, y_test = x[n_hold:], y[n_hold:], x[:n_hold], y[:n_hold]
    seeding.seed_global(0, "domain-classifier", data.info.fingerprint)
    net = DomainClassifier(data.info.shape[0], data.info.num_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = seeding.generator(0, "domain-classifier-order")
    for epoch in range(epochs):
        if progress is not None:
            progress(epoch, epochs)
        net.train()
        perm = torch.randperm(len(x), generator=order)
        for i in range(0, len(x), CLASSIFIER_BATCH):
            idx = perm[i : i + CLASSIFIER_BATCH]
            batch = _translate(x[idx], order)
            loss = nn.functional.cross_entropy(net(batch.to(device)), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    if progress is not None:
        progress(epochs, epochs)
    meta = {
        "accuracy": _accuracy(net, x_test, y_test, device),
        "n_train": len(x),
        "n_test": len(x_test),
        "epochs": epochs,
        "augmentation": "random translation",
        "data_fingerprint": data.info.fingerprint,
        "version": CLASSIFIER_VERSION,
    }
    return net.eval(), meta


def cache_path(info: DataInfo, root: Path) -> tuple[str, Path]:
    """The recipe key of the classifier of the data ``info`` describes (data fingerprint, recipe
    version, feature size: what to look up, not the classifier's id) and where it is cached under
    ``root``."""
    key = hashlib.sha256(f"{info.fingerprint}:{CLASSIFIER_VERSION}:{FEATURE_DIM}".encode()).hexdigest()[:12]
    return key, root / "extractors" / f"domain-{safe_name(info.name)}-{key}.pt"


def shipped_path(info: DataInfo) -> Path:
    """Where the package's own classifier for ``info`` would be (it exists for the embedded sets at
    their default options)."""
    return SHIPPED_DIR / cache_path(info, SHIPPED_DIR)[1].name


def weights_hash(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 (hex) of :data:`PREPROCESSING_VERSION` and every tensor of ``state_dict`` (name, shape,
    dtype, bytes; in name order): the identity of a classifier, independent of how its file was written."""
    h = hashlib.sha256(f"domain-preprocessing:{PREPROCESSING_VERSION}".encode())
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def probe_batch(shape: tuple[int, ...], n: int = 8) -> torch.Tensor:
    """``[n, *shape]``: fixed smooth images in [-1, 1] (no random numbers), whose features through a
    shipped classifier are stored beside it (``probe_feature_sums``) as a checksum of the instrument."""
    c, h, w = shape
    i = torch.arange(n, dtype=torch.float64).view(n, 1, 1, 1)
    ch = torch.arange(c, dtype=torch.float64).view(1, c, 1, 1)
    y = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1) / h
    x = torch.arange(w, dtype=torch.float64).view(1, 1, 1, w) / w
    return torch.sin(3.0 * (i + 1) * y + 5.0 * x * (ch + 1) + i).float()  # [n, C, H, W]


def load_or_train(data: Data, device: torch.device, root: Path,
                  progress: Callable[[str, int | None, int | None], None] | None = None,
                  ) -> tuple[DomainClassifier, str, dict]:
    """The classifier for ``data``: the package's own (:func:`shipped_path`), else the cached one,
    else trained and cached (announced through ``progress(text, done, total)``); its id fingerprint
    (the weights' hash, 12 hex digits) and its meta (``weights_sha256``, ``source``: shipped, cache
    or trained). The global RNG is left as it was: building an extractor mid-run changes no training."""
    info = data.info
    _, path = cache_path(info, root)
    shipped = shipped_path(info)
    net = DomainClassifier(info.shape[0], info.num_classes)
    if shipped.exists() or path.exists():
        source = "shipped" if shipped.exists() else "cache"
        path = shipped if shipped.exists() else path
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(blob["state_dict"])
        meta = {**blob["meta"], "source": source}
    else:
        text = (f"{info.name}: training the domain classifier of FID/KID/PR and the class counts, once "
                f"({CLASSIFIER_EPOCHS} epochs on {len(data.x):,} images; cached in {path.parent})")
        epochs = (lambda done, total: progress(text, done, total)) if progress is not None else None
        with torch.random.fork_rng(devices=[]):
            trained, meta = train_domain_classifier(data, device, progress=epochs)
        net.load_state_dict({k: v.cpu() for k, v in trained.state_dict().items()})
        atomic_torch_save(path, {"state_dict": net.state_dict(), "meta": meta})
        meta = {**meta, "source": "trained"}
    meta["weights_sha256"] = weights_hash(net.state_dict())
    meta["path"] = str(path)
    return net.to(device).eval(), meta["weights_sha256"][:12], meta


def build(data: Data, *, device: torch.device, cache_root: Path, progress=None) -> FeatureExtractor:
    info = data.info
    if not per_channel(info):
        net, key, meta = load_or_train(data, device, cache_root, progress)
        return FeatureExtractor("domain", key, FEATURE_DIM, net.features, device,
                                label=lambda f: net.head(f).argmax(1), meta=meta)
    channels = channel_data(data)
    net, key, meta = load_or_train(channels, device, cache_root, progress)
    c, factor = info.shape[0], info.label_factors[0]

    def embed(x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C·F], channel by channel
        return net.features(x.reshape(len(x) * c, 1, *x.shape[2:])).reshape(len(x), c * FEATURE_DIM)

    def label(f: torch.Tensor) -> torch.Tensor:  # the mixed-radix code of the channels' classes
        parts = net.head(f.reshape(len(f) * c, FEATURE_DIM)).argmax(1).reshape(len(f), c)
        weights = torch.tensor([factor ** (c - 1 - i) for i in range(c)], device=parts.device)
        return (parts * weights).sum(1)

    meta = {**meta, "per_channel": True, "num_classes": math.prod(info.label_factors)}
    return FeatureExtractor("domain", f"{key}x{c}", c * FEATURE_DIM, embed, device, label=label, meta=meta)


def channel_data(data: Data) -> Data:
    """Composite-label images (``label_factors``, e.g. stacked MNIST) as single-channel images with
    one label per channel: what a per-channel domain classifier learns from. The training split is
    capped at :data:`CHANNEL_TRAIN_LIMIT` channel images (the classifier trains in about a minute on
    a CPU)."""
    info = data.info
    factors = info.label_factors
    if not per_channel(info):
        raise UsageError(f"{info.name}: per-channel labels need one label factor per channel, got {factors}")

    def split(x: torch.Tensor, codes: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x) if limit is None else min(len(x), limit // len(factors))
        parts = decode_labels(codes[:n], factors)  # [n, C]
        return x[:n].reshape(n * len(factors), 1, *info.shape[1:]), parts.reshape(-1)

    x, y = split(data.x, data.y, CHANNEL_TRAIN_LIMIT)
    x_test, y_test = split(data.x_test, data.y_test, None) if data.x_test is not None else (None, None)
    sub = replace(info, name=f"{info.name}-channels", shape=(1, *info.shape[1:]), size=len(x),
                  num_classes=factors[0], class_names=(), label_factors=None,
                  fingerprint=f"{info.fingerprint}-channels")
    return Data(sub, x, y, x_test, y_test)


def decode_labels(codes: torch.Tensor, factors: tuple[int, ...]) -> torch.Tensor:
    """Mixed-radix codes ``[N]`` -> their parts ``[N, len(factors)]`` (most significant first)."""
    parts = []
    for f in reversed(factors):
        parts.append(codes % f)
        codes = codes // f
    return torch.stack(parts[::-1], dim=1)
