"""Reference rows: what a metric gives for samples whose quality is known, computed by the same
metric code, extractor and sample count as the run's cells, so a reader can tell a result from a
number any generator would get.

Per data set and seed, two references (model ``reference``; the kind in the ``loss`` column):

- ``real`` — the ceiling: for a mixture with known modes, fresh samples of the true mixture (equal
  weights, the data's mode std); for other data, held-out real samples (the held-out split, else
  training samples outside the real-feature subset). For images this is the FID floor.
- ``gaussian`` — a generator that learned only the first two moments: samples of the Gaussian with
  the training data's mean and covariance, in the data's own space (pixels for images; not clamped).
  It is drawn as ``mean + w·X̃/√(m−1)`` with ``w ~ N(0, I_m)`` and ``X̃`` the ``m`` (≤ 4,096) centred
  training samples of the real-feature subset: exactly the Gaussian of their sample covariance,
  without forming a d×d matrix.

A translation data set (``DataInfo.task == "translation"``) has two more, the baselines its models must
beat (a model that does not is reported as failing its baselines, not ranked: :func:`ganbench.report.summarize`):

- ``identity`` — the held-out inputs as they are (output = input), where both domains have one shape;
- ``mean-target`` — for every input, the mean image of domain B's training split.

They translate the same held-out inputs the cells do (:func:`ganbench.evaluation.translation_inputs`), so
the translation metrics score them against the same ground truth; they draw nothing (one computation
shared by every seed) and have no way back (no cycle error). The ``real`` and ``gaussian`` rows are not
translations of the inputs: the translation metrics leave them empty.

Both are drawn from named random streams of the seed (``reference``, data set, kind), so the spread
over seeds is the spread of the reference itself. Rows are marked ``reference = true``; reports show
them after the cells of their data set and never rank them. A held-out split smaller than
``eval_samples`` gives a ``real`` row at its own size, which the row states (``reference_n``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ganbench import seeding
from ganbench.evaluation import real_subset
from ganbench.specs import Data

#: the reference kinds, in the order reports show them
KINDS = ("real", "gaussian", "identity", "mean-target")
#: the baselines of a translation data set (the last two kinds)
BASELINES = ("identity", "mean-target")
#: the model name of reference rows (not a registrable model: references are not trained)
MODEL = "reference"
#: bump when how the reference samples are drawn changes: stored references are recomputed
VERSION = "4"
#: most training samples whose covariance the Gaussian reference matches
GAUSSIAN_BASIS = 4096

#: the ``message`` of a reference row (the report's note column)
DESCRIPTION = "reference, never ranked: {source}"


def _chunks(n: int, first: int) -> list[int]:
    """The sizes in which ``n`` samples are drawn: the first ``first`` (``eval_samples``), then the rest,
    so the first ``first`` never depend on ``n`` (the rule of the cells' evaluation noise)."""
    return [k for k in (min(n, first), n - min(n, first)) if k > 0]


def samples(data: Data, kind: str, n: int, seed: int, real_samples: int = 10000,
            first: int | None = None) -> tuple[torch.Tensor, str] | None:
    """``(samples [≤ n, *shape], where they come from)`` of reference ``kind`` for ``seed``; None when
    the data has no source for it (no held-out split, and every training sample is among the
    ``real_samples`` the real features use). The first ``first`` (default ``n``) samples are the same
    whatever ``n`` is, as the first ``eval_samples`` of a cell's evaluation noise are."""
    gen = seeding.generator(seed, "reference", data.info.name, kind)
    info = data.info
    parts = _chunks(n, n if first is None else first)
    if kind in BASELINES:
        if info.task != "translation":
            return None
        from ganbench.evaluation import translation_inputs

        sources = translation_inputs(data, n).sources
        if kind == "identity":
            if tuple(info.source_shape) != tuple(info.shape):
                return None
            return sources, f"the {len(sources):,} held-out inputs themselves (output = input)"
        mean = torch.zeros(info.shape, dtype=torch.float64)
        for i in range(0, len(data.x), 1024):  # in float64, a chunk at a time (no copy of the whole set)
            mean += data.x[i : i + 1024].double().sum(0)
        mean = (mean / len(data.x)).float()
        return (mean.expand(len(sources), *info.shape).clone(),
                f"the mean of domain B's {len(data.x):,} training images, for each of {len(sources):,} inputs")
    if kind == "gaussian":
        basis = data.x[real_subset(data, min(len(data.x), GAUSSIAN_BASIS))].flatten(1).double()  # [m, d]
        mean = basis.mean(0)
        centred = basis - mean
        w = torch.cat([torch.randn(k, len(basis), generator=gen, dtype=torch.float64) for k in parts])  # [n, m]
        x = mean + w @ centred / math.sqrt(max(1, len(basis) - 1))
        return x.float().reshape(n, *info.shape), f"Gaussian with the mean and covariance of {len(basis):,} training samples"
    if kind != "real":
        raise ValueError(f"unknown reference kind {kind!r}; known: {', '.join(KINDS)}")
    if info.modes is not None and info.mode_std:
        centres = torch.tensor(info.modes, dtype=torch.float64)  # [K, d]
        drawn = []
        for k in parts:
            which = torch.randint(0, len(centres), (k,), generator=gen)
            drawn.append(centres[which] + info.mode_std * torch.randn(k, centres.shape[1], generator=gen,
                                                                      dtype=torch.float64))
        return torch.cat(drawn).float(), f"samples of the true mixture ({len(centres)} modes, std {info.mode_std:g})"
    if data.x_test is not None and len(data.x_test):
        pool, source = data.x_test, "the held-out split"
    else:
        used = set(real_subset(data, min(len(data.x), real_samples)).tolist())
        rest = torch.tensor([i for i in range(len(data.x)) if i not in used], dtype=torch.long)
        if len(rest) == 0:
            return None
        pool, source = data.x[rest], "training samples outside the real-feature subset"
    pick = torch.randperm(len(pool), generator=gen)[: min(n, len(pool))]
    return pool[pick], f"{len(pick):,} real samples of {source}"


def describe(info) -> str:
    """The reference kinds a data set gets, in words (the run's progress line)."""
    return "real, Gaussian" + (", identity, mean target" if info.task == "translation" else "")


def metrics_for(registry, names: Sequence[str], data: Data, extractor: str | None) -> list[tuple[str, Any]]:
    """``(name, spec)`` of the metrics of ``names`` a reference row gets on ``data``: those computed
    from samples (not from a training history), unconditional, that support the data, and — when
    they need features — only where the data has an extractor."""
    out = []
    for name in names:
        spec = registry.get("metric", name)
        if spec.history or getattr(spec, "conditional", False) or spec.supports(data.info) is not None:
            continue
        if getattr(spec, "task", None) not in (None, data.info.task):
            continue
        if spec.features and extractor is None:
            continue
        out.append((name, spec))
    return out


def effective_n(data: Data, n: int) -> int:
    """The sample count the cells of ``data`` are scored at for ``eval_samples`` n: a translation set's at most its
    held-out inputs (FID is biased by N, so the reference rows are scored at the same)."""
    from ganbench.evaluation import translation_inputs

    return min(n, len(translation_inputs(data, n).sources)) if data.info.task == "translation" else n


def key(n: int, real_samples: int, metrics: Sequence[str], extractor_id: str, data: Data, seeds: Sequence[int]) -> str:
    """What a data set's reference rows are computed from, as a short hash: stored rows with the same
    key are kept."""
    import hashlib
    import json

    n = effective_n(data, n)
    return hashlib.sha256(json.dumps([VERSION, n, real_samples, list(metrics), extractor_id, data.info.fingerprint,
                                      [int(s) for s in seeds]]).encode()).hexdigest()[:16]


def compute(data: Data, dataset: str, seeds: Sequence[int], n: int, real_samples: int, context: Callable[..., Any],
            metrics: Sequence[tuple[str, Any]], check: Callable[[str, Any], Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The reference rows of ``dataset`` for ``seeds``: per kind and seed, every metric of ``metrics``
    (``(name, spec)``, those that apply to the data and read samples) computed on the reference
    samples through ``context(sample=..., n_samples=...)`` — an :class:`~ganbench.evaluation.EvalContext`
    made as the cells' are — and checked by ``check(name, values)``. A reference whose samples do not
    depend on the seed (a held-out split no larger than ``n``) is computed once and shared."""
    from ganbench.evaluation import translation_inputs
    from ganbench.suite import Cell

    n = effective_n(data, n)
    # metrics with a sample size of their own (MetricSpec.samples, e.g. mode counting's 2,500) get it,
    # as the cells' evaluation noise gives it to them: the first n are what the other metrics see
    total = max([n, *(int(getattr(spec, "samples", 0) or 0) for _, spec in metrics)])

    rows = []
    for kind in KINDS:
        computed: dict[int, dict[str, Any]] = {}
        baseline = kind in BASELINES
        # the translation metrics score translations of the held-out inputs: the baselines' only
        mine = [(name, spec) for name, spec in metrics if baseline or getattr(spec, "task", None) is None]
        for seed in seeds:
            drawn = samples(data, kind, total, seed, real_samples, first=n)
            if drawn is None:
                break
            x, source = drawn
            # every seed's metrics see the same set: a held-out split no larger than n
            shared = baseline or (kind == "real" and source.endswith("the held-out split") and len(data.x_test) <= n)
            key = 0 if shared else seed
            if key not in computed:
                extra = {"translation": translation_inputs(data, len(x))} if baseline else {}
                ctx = context(sample=lambda k, x=x: x[:k], n_samples=min(n, len(x)), **extra)
                values: dict[str, Any] = {}
                for name, spec in mine:
                    with torch.random.fork_rng(devices=[]):
                        values.update(check(name, spec.compute(ctx)))
                computed[key] = values
            cell = Cell(dataset, MODEL, kind, seed)
            rows.append({"cell_id": cell.id, "dataset": dataset, "model": MODEL, "loss": kind, "seed": seed,
                         "status": "ok", "reference": True, "reference_n": min(n, len(x)), "reference_version": VERSION,
                         "message": DESCRIPTION.format(source=source) + (
                             f"; scored on the {len(x):,} samples it holds, where the cells' metrics see {n:,}"
                             + (f" ({total:,} for those with a sample count of their own)" if total > n else "")
                             + ": a smaller N biases FID/KID upwards" if len(x) < total else ""),
                         "data_fingerprint": data.info.fingerprint, **computed[key]})
    return rows
