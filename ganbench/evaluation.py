"""Evaluation: feature extractors, cached real-data features, and the context a metric receives.

Feature extractors are plugins (:class:`ganbench.specs.ExtractorSpec`); the built-ins are ``raw``
(vectors as they are), ``domain`` (a small classifier trained on the data set's labelled split) and
``inception`` (the standard FID Inception-v3). ``auto`` — the default — picks, per data set, the
first extractor whose ``auto(info)`` is true.

Real-data features are computed once per (data set fingerprint, extractor id, N) and kept on disk
under ``<cache>/stats``, so a second run (or another process) does not recompute them. The real
sample is the first N of a fixed permutation of the training split (the same for every extractor and
run), so a smaller N is always a prefix of a larger one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench import seeding
from ganbench.errors import GanbenchError, UsageError
from ganbench.paths import cache_dir, safe_name
from ganbench.specs import Data, DataInfo

#: bump when the real-sample selection or the features file layout changes
REAL_FEATURES_VERSION = "1"

#: ``progress(text, done, total)``: how a long preparation step (training a classifier, computing
#: real features) tells the user what is happening; ``done == total`` ends it
Progress = Callable[[str, "int | None", "int | None"], None]


class ExtractorUnavailable(GanbenchError):
    """A feature extractor cannot be built here (e.g. weights neither local nor downloadable)."""


@dataclass
class FeatureExtractor:
    """A built extractor: batches of samples -> feature vectors (and, for classifiers, labels).

    ``embed(x)`` maps one batch already on ``device`` (samples in the data's value range, shape
    ``[B, *info.shape]``) to ``[B, num_features]``; ``label(f)`` maps a batch of those features to
    ``[B]`` class ids, when the extractor classifies (so features and labels take one pass).
    ``fingerprint`` identifies the weights: ``id = name:fingerprint`` is recorded with every number
    the extractor produced, and tables never mix ids.
    """

    name: str
    fingerprint: str
    num_features: int
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    label: Callable[[torch.Tensor], torch.Tensor] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 500

    @property
    def id(self) -> str:
        return f"{self.name}:{self.fingerprint}"

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, num_features]`` float32 on the CPU; on CUDA in full float32 (no TF32, which cuDNN's convolutions
        use by default: features within ~1e-3 of the CPU's would mix in one column), as StyleGAN2-ADA's metrics."""
        b = self.batch_size
        with _full_float32(self.device):
            out = [self.embed(x[i : i + b].to(self.device)).float().cpu() for i in range(0, len(x), b)]
        return torch.cat(out) if out else torch.empty(0, self.num_features)

    @torch.no_grad()
    def labels(self, features: torch.Tensor) -> torch.Tensor:
        """``[N]`` class ids on the CPU for features computed by :meth:`features`."""
        if self.label is None:
            raise UsageError(f"extractor '{self.name}' does not classify")
        b = self.batch_size
        return torch.cat([self.label(features[i : i + b].to(self.device)).cpu() for i in range(0, len(features), b)])

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]`` class ids on the CPU."""
        return self.labels(self.features(x))


def auto_extractor(registry, info: DataInfo) -> str | None:
    """The extractor ``auto`` picks for ``info``: the first (by name) whose ``auto(info)`` is true
    and which supports the data; None when there is none."""
    for name, spec, _ in registry.items("extractor"):
        if spec.auto is not None and spec.auto(info) and spec.supports(info) is None:
            return name
    return None


def resolve_extractor(registry, choice: str, info: DataInfo) -> tuple[str | None, str | None]:
    """``(extractor name, None)`` for the user's ``choice`` (a name or ``auto``) on ``info``, or
    ``(None, why not)`` when no extractor applies."""
    if choice == "auto":
        name = auto_extractor(registry, info)
        if name is None:
            return None, f"no feature extractor takes {info.name} ({info.modality} {tuple(info.shape)})"
        return name, None
    name = registry.canonical("extractor", choice)
    reason = registry.get("extractor", name).supports(info)
    return (None, f"extractor '{name}' cannot take {info.name}: {reason}") if reason else (name, None)


@contextlib.contextmanager
def _full_float32(device: torch.device) -> Iterator[None]:
    """TF32 off for convolutions and matrix products on CUDA while features are computed (restored after)."""
    if torch.device(device).type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def real_subset(data: Data, n: int) -> torch.Tensor:
    """Indices of the real samples the statistics use: the first ``n`` of a permutation of the
    training split fixed by the data's fingerprint (not the first ``n`` rows: folders are sorted)."""
    gen = seeding.generator(0, "real-subset", data.info.fingerprint)
    return torch.randperm(len(data.x), generator=gen)[:n]


def real_features_path(root: Path, info: DataInfo, ext: FeatureExtractor, n: int) -> Path:
    return root / "stats" / (f"real-{safe_name(info.name)}-{info.fingerprint[:16]}-{safe_name(ext.name)}-{ext.fingerprint}"
                             f"-n{n}-v{REAL_FEATURES_VERSION}.pt")


def load_or_compute_real_features(data: Data, ext: FeatureExtractor, n: int, root: Path | None = None,
                                  progress: Progress | None = None) -> torch.Tensor:
    """Features of the ``n`` real samples of :func:`real_subset`, from the disk cache or computed and
    saved there (atomically: concurrent runs never read half a file); computing them is announced
    through ``progress``."""
    from ganbench.store import atomic_torch_save

    path = real_features_path(root or cache_dir(), data.info, ext, n)
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob["features"].shape == (n, ext.num_features):
                return blob["features"]
        except Exception:  # unreadable or from another layout: recompute and overwrite
            pass
    text = f"{data.info.name}: {ext.name} features of {n:,} real samples, once (cached in {path.parent})"
    if progress is not None:
        progress(text, 0, 1)
    feats = ext.features(data.x[real_subset(data, n)])
    if progress is not None:
        progress(text, 1, 1)
    atomic_torch_save(path, {"features": feats, "meta": {"data": data.info.name, "fingerprint": data.info.fingerprint,
                                                          "extractor": ext.id, "n": n}})
    return feats


class EvalCache:
    """Memo shared by all cells of a run: extractors and real-data features are computed once."""

    def __init__(self) -> None:
        self._items: dict[Any, Any] = {}

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._items:
            self._items[key] = make()
        return self._items[key]


@dataclass
class TranslationEval:
    """What a translation model is evaluated on: the held-out domain-A images ``sources`` (G's inputs, in
    order: the evaluation's ``generated(n)`` translates ``sources[:n]``), the domain-B images they should
    become (``targets``, paired data; else None), their labels (``source_labels``, or None) and, for a model
    that translates both ways, ``back(b)``: its translation of B images to A (CPU in, CPU out)."""

    sources: torch.Tensor
    targets: torch.Tensor | None = None
    source_labels: torch.Tensor | None = None
    back: Callable[[torch.Tensor], torch.Tensor] | None = None


def translation_inputs(data: Data, n: int) -> TranslationEval:
    """The first ``n`` held-out inputs of a translation data set (its training inputs when it holds none
    out), in the data set's order — the same for every model, loss and seed — with their targets (paired
    data) and labels."""
    held_out = data.source_test is not None
    sources = data.source_test if held_out else data.source
    labels = data.source_y_test if held_out else data.source_y
    targets = (data.x_test if held_out else data.x) if data.info.paired else None
    return TranslationEval(sources[:n], targets[:n] if targets is not None else None,
                           labels[:n] if labels is not None else None)


@dataclass
class EvalContext:
    """What a metric's ``compute`` receives for one trained cell.

    ``generated(n)`` returns ``n`` (default ``n_samples``) samples from the trained generator drawn
    with the cell's fixed evaluation noise (the same noise for every loss on the same
    dataset/model/seed); ``generated(k)`` is always the first ``k`` of ``generated(n)``, ``k < n``.
    ``extractor()`` is the run's feature extractor for this data set; ``real_features(n)`` its features
    of the real sample (``real_samples`` by default). ``history`` (per-step records) and
    ``trajectory`` (metric values at each evaluation point, the final one last) are what
    ``history=True`` metrics read; ``status``/``diverged_at`` say how training ended.
    ``generated_labels(n)``: for a conditional model, the classes the first ``n`` generated samples
    were asked to be (``[n]`` int64); None for an unconditional one. ``translation``: on a translation
    data set, the inputs the generated samples translate (:class:`TranslationEval`); else None.
    """

    data: Data
    device: torch.device
    n_samples: int
    sample: Callable[[int], torch.Tensor] | None = None
    #: the conditioning labels of the evaluation samples (all of them; conditional models only)
    labels: torch.Tensor | None = None
    registry: Any = None
    extractor_name: str | None = None
    extractor_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    real_samples: int = 10000
    cache: EvalCache = field(default_factory=EvalCache)
    cache_root: Path | None = None
    #: where long preparation steps report what they do (the CLI shows it; see :data:`Progress`)
    progress: Progress | None = None
    history: Sequence[dict[str, float]] = ()
    trajectory: Sequence[dict[str, Any]] = ()
    status: str = "ok"
    diverged_at: int | None = None
    translation: TranslationEval | None = None
    _generated: torch.Tensor | None = None
    _features: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def info(self) -> DataInfo:
        return self.data.info

    def generated(self, n: int | None = None) -> torch.Tensor:
        if self.sample is None:
            raise UsageError("this evaluation has no generator (history-only metrics cannot draw samples)")
        n = self.n_samples if n is None else n
        if self._generated is None or len(self._generated) < n:
            self._generated = self.sample(n)
        return self._generated[:n]

    def generated_labels(self, n: int | None = None) -> torch.Tensor | None:
        """The classes the first ``n`` (default ``n_samples``) generated samples were asked to be;
        None when the model is not conditional."""
        if self.labels is None:
            return None
        n = self.n_samples if n is None else n
        if n > len(self.labels):
            raise UsageError(f"{n} generated labels asked for; the cell drew {len(self.labels)}")
        return self.labels[:n]

    def generated_features(self, n: int | None = None, extractor: FeatureExtractor | None = None) -> torch.Tensor:
        """``[n, F]``: ``extractor``'s (default: the run's) features of ``generated(n)`` (default ``n``:
        ``n_samples``), computed once per cell and shared by every metric (FID, KID, PR/DC and the
        class count take one pass). (``generated_features(extractor)``, the form of ganbench 0.1's
        first releases, still works.)"""
        if isinstance(n, FeatureExtractor):
            n, extractor = None, n
        ext = extractor or self.extractor()
        n = self.n_samples if n is None else n
        have = self._features.get(ext.id)
        if have is None or len(have) < n:
            have = self._features[ext.id] = ext.features(self.generated(n))
        return have[:n]

    def extractor(self, name: str | None = None, data: Data | None = None) -> FeatureExtractor:
        """The feature extractor ``name`` (default: the run's choice for this data set) for this
        cell's data set, or for ``data``; built (trained, loaded or downloaded) once per run."""
        data = data or self.data
        name = name or self.extractor_name
        if name is None:
            name, reason = resolve_extractor(self.registry, "auto", data.info)
            if name is None:
                raise UsageError(reason)
        spec = self.registry.get("extractor", name)
        name = spec.name
        reason = spec.supports(data.info)
        if reason:
            raise UsageError(f"extractor '{name}' cannot take {data.info.name}: {reason}")
        options = self.extractor_options.get(name, {})
        # the options are part of the key (another weights file is another extractor)
        key = ("extractor", name, data.info.fingerprint, str(self.device)) + (
            (json.dumps(options, sort_keys=True, default=str),) if options else ())
        return self.cache.get(key,
                              lambda: build_extractor(self.registry, name, data, self.device, self.cache_root,
                                                      options, self.progress))

    def real_features(self, n: int | None = None, extractor: FeatureExtractor | None = None) -> torch.Tensor:
        """``[n, F]`` features of the real sample (default ``n``: ``real_samples``, at most the
        training split); smaller ``n`` are prefixes of the same sample."""
        ext = extractor or self.extractor()
        full = min(len(self.data.x), max(self.real_samples, n or 0))
        n = full if n is None else min(n, full)
        feats = self.cache.get(("real-features", ext.id, self.info.fingerprint, full),
                               lambda: load_or_compute_real_features(self.data, ext, full, self.cache_root,
                                                                     self.progress))
        return feats[:n]


    def real_labels(self, n: int | None = None) -> torch.Tensor:
        """``[n]`` labels of the real samples whose features :meth:`real_features` returns (same ``n``)."""
        if self.data.y is None:
            raise UsageError(f"{self.info.name} is unlabelled")
        full = min(len(self.data.x), max(self.real_samples, n or 0))
        n = full if n is None else min(n, full)
        return self.data.y[real_subset(self.data, full)][:n]


def build_extractor(registry, name: str, data: Data, device: torch.device, cache_root: Path | None,
                    user_options: dict[str, Any] | None = None, progress: Progress | None = None) -> FeatureExtractor:
    """Build extractor ``name`` for ``data`` with its declared options (user values validated). A
    ``build`` that accepts ``progress`` gets it, to announce slow work (training, downloading)."""
    from ganbench import options

    spec = registry.get("extractor", name)
    opts, _ = options.resolve("extractor", spec.name, spec.options, [("user", user_options or {})])
    extra = {"progress": progress} if progress is not None and "progress" in options.parameter_names(spec.build) else {}
    ext = spec.build(data, device=device, cache_root=cache_root or cache_dir(), **opts, **extra)
    if not isinstance(ext, FeatureExtractor):
        raise UsageError(f"extractor '{name}' built {type(ext).__name__}; expected a ganbench.evaluation.FeatureExtractor")
    return ext
