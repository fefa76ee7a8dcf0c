"""Trained generators out of a run directory: :func:`load_generator` and what ``ganbench samples``
draws with them (seed grids, spherical interpolation, class sweeps, truncation, latent arithmetic).

A cell saves ``generator.pt`` (the EMA generator when ``g_ema`` > 0), ``discriminator.pt`` and a
description of how to build them (``networks.json``: model, options, latent size, the data's
``DataInfo``); :func:`load_generator` rebuilds the networks through the model's plugin and loads the
weights. Cells written before ``networks.json`` existed are rebuilt from ``config.json`` and the data
set's own ``DataInfo`` (the data set must load then).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import CellFailure, UsageError, one_line
from ganbench.specs import DataInfo


@dataclass
class LoadedGenerator:
    """A trained generator with what it needs to be called: ``sample(z, y)`` on ``device`` in eval mode.

    ``G`` is the ``nn.Module`` (``G(z)`` or, conditional, ``G(z, y)``); ``ema`` says whether it is the
    moving average of the trained weights; ``info`` is the data's :class:`~ganbench.specs.DataInfo`
    (shape, value range, classes); ``cell_dir`` where it came from.
    """

    G: nn.Module
    model: str
    model_options: dict[str, Any]
    latent_dim: int
    info: DataInfo
    cell_dir: Path
    condition: str | None = None
    ema: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: the distribution of z it was trained with (setting ``latent_dist``)
    latent_dist: str = "normal"

    @property
    def conditional(self) -> bool:
        return self.condition == "class"

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def noise(self, n: int, seed: int = 0, truncation: float | None = None) -> torch.Tensor:
        """``[n, latent_dim]`` latent vectors from ``seed`` (CPU) of the distribution G trained with; with
        ``truncation`` t, values beyond ±t are redrawn until inside (the truncation trick of BigGAN, Brock et
        al. 2019)."""
        from ganbench.seeding import latent

        gen = torch.Generator().manual_seed(seed)
        z = latent(n, self.latent_dim, gen, self.latent_dist)
        if truncation is not None:
            if not (math.isfinite(truncation) and truncation > 0):
                raise UsageError(f"truncation must be a number > 0, got {truncation}")
            for _ in range(1000):
                outside = z.abs() > truncation
                if not outside.any():
                    break
                z[outside] = latent(1, int(outside.sum()), gen, self.latent_dist)[0]
            z = z.clamp(-truncation, truncation)  # a tiny T can leave a few after 1000 redraws
        return z

    def labels(self, n: int, seed: int = 0, cls: int | None = None) -> torch.Tensor | None:
        """``[n]`` class labels for a conditional generator: all ``cls``, or uniform from ``seed``;
        None for an unconditional one (``cls`` given to one is an error)."""
        if not self.conditional:
            if cls is not None:
                raise UsageError(f"model '{self.model}' is not conditional: --class does not apply")
            return None
        if cls is not None:
            if not 0 <= cls < self.num_classes:
                raise UsageError(f"--class {cls} is not a class of {self.info.name} (0 to {self.num_classes - 1})")
            return torch.full((n,), cls, dtype=torch.long)
        return torch.randint(0, self.num_classes, (n,), generator=torch.Generator().manual_seed(seed + 1))

    @torch.no_grad()
    def sample(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Samples for latent vectors ``z`` (and labels ``y``, conditional) on the CPU, in the data's range."""
        from ganbench.train import generate

        if self.conditional and y is None:
            raise UsageError(f"model '{self.model}' is conditional: give the labels y")
        return generate(self.G, z, self.device, y=y if self.conditional else None)


def load_generator(cell_dir: str | Path, device: str | torch.device = "cpu", *, raw: bool = False,
                   plugins=None) -> LoadedGenerator:
    """The trained generator of the cell in ``cell_dir`` (``RUN_DIR/cells/<cell id>``), built by its
    model's plugin with the cell's options and moved to ``device``. ``raw=True``: the trained weights
    rather than their moving average (cells trained with ``g_ema``). ``plugins``: the loaded plugins
    or their registry (default: loaded here). A one-line :class:`~ganbench.errors.UsageError` when the
    folder is not a trained cell."""
    from ganbench.conditioning import build_networks
    from ganbench.plugins import load_plugins
    from ganbench.store import RunStore

    cell_dir = Path(cell_dir).expanduser()
    store = RunStore(cell_dir.parent.parent)
    if not (cell_dir / "config.json").is_file() and store.network_info(cell_dir.name) is None:
        raise UsageError(f"{cell_dir} is not a cell of a ganbench run directory (no config.json)")
    registry = plugins.registry if hasattr(plugins, "registry") else plugins  # plugins, or a registry
    registry = registry if registry is not None else load_plugins().registry
    desc = describe(store, cell_dir.name, registry)
    try:
        data = desc["data"]
        info = DataInfo(**{**data, "shape": tuple(data["shape"]), "class_names": tuple(data["class_names"]),
                           "value_range": tuple(data["value_range"]) if data["value_range"] else None,
                           "label_factors": tuple(data["label_factors"]) if data["label_factors"] else None,
                           "modes": tuple(map(tuple, data["modes"])) if data["modes"] else None,
                           **({"source_shape": tuple(data["source_shape"]), "domains": tuple(data["domains"])}
                              if data.get("task", "generation") != "generation" else {})})
        model, latent_dim, model_options = desc["model"], int(desc["latent_dim"]), dict(desc["model_options"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{cell_dir}: its description of the trained networks is damaged ({one_line(exc)})") from None
    spec = registry.get("model", model)
    try:
        G, _ = build_networks(spec, info, latent_dim, model_options)
    except Exception as exc:  # the plugin's own code: one line naming it
        raise UsageError(f"{cell_dir}: model '{model}' of {registry.provenance('model', model)} cannot build "
                         f"the saved generator ({one_line(exc)})") from None
    ema = desc.get("generator") == "ema"
    state = store.network_state(cell_dir.name, "generator_raw" if raw and ema else "generator")
    try:
        G.load_state_dict(state)
    except RuntimeError as exc:
        raise UsageError(f"{cell_dir}: the saved generator does not fit model '{spec.name}' as its plugin builds it "
                         f"now ({str(exc).splitlines()[0]})") from None
    device = torch.device(device)
    G.to(device).eval()
    return LoadedGenerator(G, spec.name, dict(desc["model_options"]), desc["latent_dim"], info, cell_dir,
                           condition=spec.condition, ema=ema and not raw, device=device,
                           latent_dist=str(desc.get("latent_dist", "normal")))


def info_record(info: DataInfo) -> dict[str, Any]:
    """A :class:`DataInfo` as ``networks.json`` stores it (JSON)."""
    return {"name": info.name, "modality": info.modality, "shape": list(info.shape),
            "value_range": list(info.value_range) if info.value_range is not None else None, "size": info.size,
            "num_classes": info.num_classes, "class_names": list(info.class_names),
            "label_factors": list(info.label_factors) if info.label_factors else None,
            "modes": [list(m) for m in info.modes] if info.modes else None, "mode_std": info.mode_std,
            "fingerprint": info.fingerprint, "options": dict(info.options),
            **({"task": info.task, "paired": info.paired, "source_shape": list(info.source_shape or ()),
                "domains": list(info.domains)} if info.task != "generation" else {})}


def describe(store, cell_id: str, registry) -> dict[str, Any]:
    """How to build a cell's networks: its ``networks.json``, or (cells written before it) the same
    read from ``config.json`` with the data set's ``DataInfo`` loaded through its plugin."""
    desc = store.network_info(cell_id)
    if desc is not None:
        return desc
    data, config = cell_data(store, cell_id, registry)
    settings, model = config["settings"], config["cell"]["model"]
    generated = "ema" if settings.get("g_ema", 0) else "trained"
    return {"model": model, "model_options": config.get("model_options") or {}, "latent_dim": settings["latent_dim"],
            "latent_dist": settings.get("latent_dist", "normal"),
            "data": info_record(data.info), "generator": generated}


def cell_data(store, cell_id: str, registry, data_root: Path | None = None):
    """The data set a cell trained on (loaded through its plugin with the cell's data options: those
    its plugin declares, as the runner resolved them) and the cell's config; one-line UsageErrors when
    either is missing, the data set does not load, or it loads as another version than the cell's
    (``data_fingerprint``)."""
    from ganbench import options, paths
    from ganbench.execution.cell import load_data

    config = store.read_cell_config(cell_id) or {}
    try:
        dataset = config["cell"]["dataset"]
        config["cell"]["model"], config["settings"]["latent_dim"]  # what describe() reads: present or one line
    except (KeyError, TypeError):
        raise UsageError(f"{store.root / 'cells' / cell_id}: config.json does not say what the cell trained") from None
    spec = registry.get("dataset", dataset)
    recorded = {k: v for k, v in (config.get("data_options") or {}).items() if k in spec.options}
    opts = options.resolve("dataset", spec.name, spec.options,
                           [("name", registry.name_options("dataset", dataset)), ("user", recorded)])[0]
    try:
        data = load_data(registry, dataset, opts, Path(data_root) if data_root is not None else paths.data_root())
    except CellFailure as exc:
        raise UsageError(f"cell {cell_id}: {exc}") from None
    if config.get("data_fingerprint") and data.info.fingerprint != config["data_fingerprint"]:
        raise UsageError(f"cell {cell_id}: data set {dataset} now loads as version {data.info.fingerprint}; the cell was "
                         f"made on {config['data_fingerprint']}")
    return data, config


# -- what `ganbench samples` draws ------------------------------------------------------------------
def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` ``[N, d]`` at fractions ``t`` ``[T]``:
    ``[N, T, d]`` (linear where the two are parallel). White (2016, "Sampling generative networks",
    arXiv:1609.04468): it keeps the norm of Gaussian latent vectors typical along the path."""
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((an * bn).sum(1).clamp(-1, 1))[:, None, None]  # [N, 1, 1]
    t = t[None, :, None]  # [1, T, 1]
    so = torch.sin(omega)
    lin = (1 - t) * a[:, None] + t * b[:, None]
    sph = torch.sin((1 - t) * omega) / so * a[:, None] + torch.sin(t * omega) / so * b[:, None]
    return torch.where(so.abs() < 1e-6, lin, sph)


def attribute_scores(gen: LoadedGenerator, samples: torch.Tensor, attribute: str, classifier=None) -> torch.Tensor:
    """A score per sample for ``attribute``: ``ink`` (mean brightness: stroke thickness of digits) or
    ``class:K`` (1 where ``classifier`` labels the sample K, else 0)."""
    if attribute == "ink":
        lo, hi = gen.info.value_range or (float(samples.min()), float(samples.max()))
        return ((samples - lo) / (hi - lo)).flatten(1).mean(1)
    if attribute.startswith("class:"):
        try:
            k = int(attribute.split(":", 1)[1])
        except ValueError:
            raise UsageError(f"--attribute {attribute!r}: expected class:K with K a class number") from None
        if not 0 <= k < max(gen.num_classes, 1) or classifier is None:
            raise UsageError(f"--attribute {attribute}: {gen.info.name} has no class {k} the domain classifier knows")
        return (classifier(samples) == k).float()
    raise UsageError(f"--attribute {attribute!r}: expected ink or class:K")


def attribute_vector(z: torch.Tensor, scores: torch.Tensor, quantile: float = 0.25) -> tuple[torch.Tensor, int]:
    """Mean latent of the samples with the attribute minus the mean latent of those without (Radford
    et al. 2016, section 6.3's vector arithmetic): for a 0/1 score, the two groups; for a graded one,
    the top and bottom ``quantile``. Also the size of the smaller group."""
    if set(scores.unique().tolist()) <= {0.0, 1.0}:
        with_, without = scores == 1, scores == 0
    else:
        lo, hi = torch.quantile(scores, quantile), torch.quantile(scores, 1 - quantile)
        with_, without = scores >= hi, scores <= lo
    n = int(min(with_.sum(), without.sum()))
    if n == 0:
        some = "every" if bool(with_.all()) else "no"
        raise UsageError(f"{some} one of {len(scores):,} generated samples has the attribute: no attribute vector")
    return z[with_].mean(0) - z[without].mean(0), n


MODES = ("grid", "interpolate", "classes", "truncation", "arithmetic")


def translations(gen: LoadedGenerator, data, n: int = 8, seed: int = 0) -> tuple[list[torch.Tensor], str]:
    """A translation cell's picture columns: ``n`` rows of 4 held-out inputs (the first ones for seed 0, else a
    draw of ``seed``), their translations and their targets (paired data) or round trips (a model that
    translates both ways), and what they are."""
    from ganbench.evaluation import translation_inputs
    from ganbench.train.task import translate_back

    held = translation_inputs(data, len(data.source))
    k = min(4 * n, len(held.sources))
    pick = (torch.arange(k) if seed == 0 else
            torch.randperm(len(held.sources), generator=torch.Generator().manual_seed(seed))[:k])
    inputs = held.sources[pick]
    outputs = gen.sample(inputs)
    back = translate_back(gen.G, gen.device)
    if held.targets is not None:
        return [inputs, outputs, held.targets[pick]], f"{k} held-out inputs | translations | targets"
    if back is not None:
        return [inputs, outputs, back(outputs)], f"{k} held-out inputs | translations | round trips"
    return [inputs, outputs], f"{k} held-out inputs | translations"


def draw(gen: LoadedGenerator, mode: str, *, n: int = 8, seed: int = 0, cls: int | None = None,
         truncation: float | None = None, steps: int = 8, attribute: str = "ink", classifier=None,
         thresholds: Sequence[float] = (2.0, 1.5, 1.0, 0.5, 0.25)) -> tuple[torch.Tensor, int, str]:
    """``(samples [rows·cols, *shape], cols, what)`` for one mode of ``ganbench samples``:

    - ``grid``: ``n`` × 8 samples of latent seed ``seed`` (labels: ``cls``, else uniform);
    - ``interpolate``: ``n`` rows, each ``steps`` points on the great circle between two latent vectors;
    - ``classes``: ``n`` latent vectors (rows) × every class (columns) — conditional models only;
    - ``truncation``: ``n`` latent vectors (rows) redrawn beyond ±t for each of ``thresholds`` (columns);
    - ``arithmetic``: the attribute vector v from 2,000 generated samples (``ink``, or ``class:K`` by
      the domain classifier), then ``n`` rows of ``z + α v`` for ``steps`` values of α in [−1.5, 1.5].
    """
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "grid":
        z = gen.noise(n * 8, seed, truncation)
        return gen.sample(z, gen.labels(n * 8, seed, cls)), 8, f"{n * 8} samples, latent seed {seed}"
    if mode == "interpolate":
        ends = gen.noise(2 * n, seed, truncation)
        t = torch.linspace(0, 1, steps)
        if gen.latent_dist == "uniform":  # a straight line stays inside the cube [-1, 1]^d (slerp leaves it)
            path = (ends[:n, None] * (1 - t)[None, :, None] + ends[n:, None] * t[None, :, None]).reshape(n * steps, -1)
        else:
            path = slerp(ends[:n], ends[n:], t).reshape(n * steps, -1)
        y = gen.labels(n, seed, cls)
        y = y.repeat_interleave(steps) if y is not None else None
        how = "linear paths" if gen.latent_dist == "uniform" else "slerp"
        return gen.sample(path, y), steps, f"{how} between {n} pairs of latent vectors, {steps} steps"
    if mode == "classes":
        if not gen.conditional:
            raise UsageError(f"model '{gen.model}' is not conditional: no class sweep")
        k = gen.num_classes
        z = gen.noise(n, seed, truncation).repeat_interleave(k, dim=0)
        return gen.sample(z, torch.arange(k).repeat(n)), k, f"{n} latent vectors × {k} classes"
    if mode == "truncation":
        base = torch.stack([gen.noise(n, seed, t) for t in thresholds], dim=1)  # [n, T, d]
        y = gen.labels(n, seed, cls)
        y = y.repeat_interleave(len(thresholds)) if y is not None else None
        return (gen.sample(base.reshape(n * len(thresholds), -1), y), len(thresholds),
                "truncation at ±" + ", ±".join(f"{t:g}" for t in thresholds))
    # arithmetic
    pool = gen.noise(2000, seed + 7, truncation)
    y_pool = gen.labels(2000, seed + 7, cls)
    scores = attribute_scores(gen, gen.sample(pool, y_pool), attribute, classifier)
    try:
        v, group = attribute_vector(pool, scores)
    except UsageError as exc:
        raise UsageError(f"--attribute {attribute}: {exc}") from None
    alphas = torch.linspace(-1.5, 1.5, steps)
    z = gen.noise(n, seed, truncation)
    moved = (z[:, None] + alphas[None, :, None] * v[None, None]).reshape(n * steps, -1)
    y = gen.labels(n, seed, cls)
    y = y.repeat_interleave(steps) if y is not None else None
    return (gen.sample(moved, y), steps,
            f"z + α·v({attribute}), α from -1.5 to 1.5; v from {group} generated samples with and {group} without")

