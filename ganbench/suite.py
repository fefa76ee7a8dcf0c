"""A suite: the grid ``datasets × models × losses × seeds`` plus training settings -> Cells.

Settings precedence (highest first): explicit user setting > the protocol's (``--protocol``: its settings,
and with the ``paper`` recipe its per-loss ones) > the loss's paper settings (only with the ``paper`` recipe)
> the model's settings > :data:`GLOBAL_DEFAULTS`. Plugin options (``dcgan.norm``, ``label-smooth.real``,
``ring8.std``) follow the same rule: user > the protocol's > the loss's paper ``model_options`` (paper
recipe, models only, never under a protocol) > the plugin's declared default. The *effective* values, and where each
came from, are recorded with every result.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ganbench.errors import UsageError
from ganbench.options import Option, coerce_option, interval, layered, non_negative, positive
from ganbench.paths import UNSAFE


def _augment_policy(value: str) -> str | None:
    from ganbench.augment import check_policy  # torch is imported there

    return check_policy(value)


def _ada_spec(value: str) -> str | None:
    from ganbench.ada import check_spec  # torch is imported there

    return check_spec(value)


#: One defaults table shared by the CLI, the Python API and the docs.
SETTINGS: dict[str, Option] = {
    "steps": Option(1200, "training steps per cell: n_critic discriminator updates then g_steps (default 1) generator "
                    "updates each", check=positive),
    "batch_size": Option(64, "samples per batch, real and fake", check=positive),
    "n_critic": Option(1, "discriminator updates per generator update", check=positive),
    "g_steps": Option(1, "generator updates per step, after the step's n_critic discriminator updates, each on fresh "
                      "noise (PacGAN's and DCGAN-TensorFlow's stacked-MNIST code: 2); G's EMA is updated once per step",
                      check=positive),
    "updates": Option("alternating", "alternating: each step's n_critic D updates, then G's on fresh noise against the "
                      "updated D; simultaneous: one real and one generated batch per step, D's and G's gradients "
                      "from the same forward pass and D's weights before either update, then both optimisers step "
                      "(ALI's ali_algorithm, which PacGAN's 2-D code trains with; n_critic and g_steps 1, no lazy "
                      "regulariser phase, no history pool, no parameter G and D share)",
                      choices=("alternating", "simultaneous")),
    "optimizer": Option("adam", "adam or rmsprop, for both networks", choices=("adam", "rmsprop")),
    "lr_g": Option(2e-4, "generator learning rate (DCGAN: 2e-4)", check=positive),
    "lr_d": Option(2e-4, "discriminator learning rate (DCGAN: 2e-4)", check=positive),
    "beta1": Option(0.5, "Adam beta1 (DCGAN: 0.5)", check=interval(0, 1, "[)")),
    "beta2": Option(0.999, "Adam beta2", check=interval(0, 1, "[)")),
    "schedule_images": Option(0, "images (steps × batch_size) over which the learning rates fall and Adam's β2 rises "
                              "along a half cosine, then hold (R3GAN: 2e7); 0 = no schedule",
                              check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
    "lr_final_ratio": Option(1.0, "with schedule_images: lr_g and lr_d end at this fraction of their value (R3GAN: 0.25, "
                             "2e-4 → 5e-5)", check=positive),
    "beta2_start": Option(0.0, "with schedule_images: Adam's β2 starts here and ends at beta2 (R3GAN: 0.9 → 0.99); "
                          "0 = β2 stays at beta2", check=interval(0, 1, "[)")),
    "latent_dim": Option(100, "size of the noise vector z", check=positive),
    "latent_dist": Option("normal", "distribution of z: normal (N(0, I)) or uniform (U[-1, 1] per coordinate: DCGAN's "
                          "and PacGAN's stacked-MNIST code)", choices=("normal", "uniform")),
    "sample_every": Option(100, "save a sample grid every N steps (and at the last step); 0 = only the last",
                           check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
    "eval_samples": Option(2000, "generated samples used by the metrics at each evaluation",
                           check=lambda v: None if v >= 2 else "expects at least 2"),
    "real_samples": Option(10000, "real training samples for the real side of FID/KID (all when the split is "
                           "smaller); their features are cached on disk",
                           check=lambda v: None if v >= 2 else "expects at least 2"),
    "eval_every": Option(0, "also evaluate every N steps during training (the metric trajectory); 0 = only at the end",
                         check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
    "g_ema": Option(0.0, "half-life of an exponential moving average of G's weights, in thousands of images "
                    "(StyleGAN2: 10); the average is what is evaluated and saved; 0 = off", check=non_negative),
    "g_ema_rampup": Option(0.0, "with g_ema: the half-life is at most this fraction of the images seen so far "
                           "(StyleGAN2-ADA: 0.05); 0 = no ramp-up", check=non_negative),
    "g_ema_schedule": Option(False, "with g_ema and schedule_images: the half-life rises from 0 to g_ema along the "
                             "half cosine over schedule_images images, then holds (R3GAN's ema_scheduler: CIFAR-10 "
                             "0 → 5,000 k images over 2e7)"),
    "g_ema_start": Option(0, "with g_ema: the average copies G for the first N G steps and averages after them "
                          "(BigGAN's ema_start: 1,000 for CIFAR-10, 20,000 for ImageNet); 0 = from the first step",
                          check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
    "fake_labels": Option("data", "conditional models: the classes generated samples are asked for are drawn with "
                          "the training split's class frequencies (data) or uniformly, or are the real batch's own "
                          "labels (real: R3GAN's pairing of real and generated samples of one class; the labels "
                          "stream is then not drawn from in training)", choices=("data", "uniform", "real")),
    "aux_weight": Option(1.0, "models with an auxiliary classifier (AC-GAN): weight of its cross-entropy terms in "
                         "D's and G's losses", check=non_negative),
    "amp": Option("none", "mixed precision of the training step's forward passes and losses: none or bf16 "
                  "(torch.autocast; bfloat16 needs no loss scaling)", choices=("none", "bf16")),
    "compile": Option("none", "torch.compile G's and D's forward passes in the training step with this mode: "
                      "none, default, reduce-overhead (CUDA graphs on a GPU) or max-autotune (penalties that "
                      "differentiate D twice call it uncompiled); results change within floating-point tolerance",
                      choices=("none", "default", "reduce-overhead", "max-autotune")),
    "cuda_graphs": Option(False, "capture each training step (every D and G update, their optimiser steps, losses "
                          "and records) as CUDA graphs and replay them (CUDA only; not with compile, schedules, ADA, "
                          "augment, a history pool or a penalty that draws or changes per update); numbers as without "
                          "within floating-point tolerance"),
    "channels_last": Option(False, "networks and image batches in channels-last memory format (faster "
                            "convolutions on GPUs; no effect on MLPs)"),
    "augment": Option("none", "DiffAugment policy of every image D sees (real and generated, in D's and G's updates): "
                      "none or a comma-separated list of color, translation, cutout (Zhao et al. 2020; their BigGAN "
                      "CIFAR-10 policy: translation,cutout)", check=_augment_policy),
    "ada": Option("none", "ADA's augmentation pipeline (Karras et al. 2020) on every image D sees, as augment does: "
                  "none or a chain of its code's augpipe specs (blit, geom, color, filter, noise, cutout, bg, bgc, bgcf, "
                  "bgcfn, bgcfnc) or r3gan (R3GAN's: bg, colour ops at half probability, cutout); not with augment",
                  check=_ada_spec),
    "ada_p": Option(0.0, "with ada: the probability p of its ops (each op's multiplier · p); with ada_target the p "
                    "it starts from", check=interval(0, 1, "[]")),
    "ada_target": Option(0.0, "with ada: ADA's adaptive p, which starts at ada_p and every 4 steps moves toward "
                         "E[sign D(real)] = this target (StyleGAN2-ADA: 0.6); 0 = p fixed or scheduled",
                         check=interval(0, 1, "[)")),
    "ada_kimg": Option(500.0, "with ada_target: thousands of real images D scores over which p can move by 1 "
                       "(StyleGAN2-ADA: 500)", check=positive),
    "ada_p_schedule": Option(False, "with ada and schedule_images: p rises from 0 to ada_p along the half cosine over "
                             "schedule_images images, then holds (R3GAN's aug_scheduler: CIFAR-10 0 → 0.55 over 2e7)"),
    "pool_size": Option(0, "translation models: D's generated batches come from a history pool of the last N "
                        "generated images (Shrivastava et al. 2017; CycleGAN: 50); 0 = none",
                        check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
    "replicas": Option(1, "train up to K seeds of one (data set, model, loss) as one vectorised program (each "
                       "seed its own cell, row and streams; each computes what its seed alone computes, so float32 "
                       "rounding is all that differs, though training amplifies it over a long run); 1 = each seed "
                       "alone", check=positive),
}
GLOBAL_DEFAULTS: dict[str, Any] = {k: o.default for k, o in SETTINGS.items()}

#: settings added after ganbench 0.1.0 and their value that changes nothing for a model that does not use
#: them: a cell's configuration hash leaves them out at that value, so cells trained before they existed
#: are still reused (an earlier run resumes instead of retraining everything)
HASH_NEUTRAL: dict[str, Any] = {"g_ema": 0.0, "g_ema_rampup": 0.0, "g_ema_start": 0, "g_ema_schedule": False,
                                "fake_labels": "data",
                                "aux_weight": 1.0, "amp": "none", "compile": "none", "cuda_graphs": False,
                                "channels_last": False,
                                "replicas": 1, "augment": "none", "g_steps": 1, "updates": "alternating",
                                "latent_dist": "normal", "schedule_images": 0, "lr_final_ratio": 1.0,
                                "beta2_start": 0.0, "pool_size": 0, "ada": "none", "ada_p": 0.0,
                                "ada_p_schedule": False, "ada_target": 0.0, "ada_kimg": 500.0}


def hashed_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as they enter a configuration hash: :data:`HASH_NEUTRAL` ones at their neutral
    value left out."""
    return {k: v for k, v in settings.items() if not (k in HASH_NEUTRAL and v == HASH_NEUTRAL[k])}

#: settings a sweep or search may not vary, and why
UNSWEPT = {key: "reports compare only cells measured alike (run each value into its own directory)"
           for key in ("steps", "eval_samples", "real_samples")} | {
    "replicas": "it says how cells run, not what they train (set it once with --replicas)"}

#: the most cells one request may have (the grid is expanded in memory, one directory per cell): a
#: guard against a typo such as ``--seeds 0-2000000``, far above any study's grid
MAX_CELLS = 100_000

#: ``paper``: each loss trains with the settings of its paper (its ``settings`` and ``model_options``);
#: ``same``: every loss trains with one shared recipe (model defaults > global defaults).
RECIPES = ("paper", "same")


def coerce_setting(key: str, value: Any, origin: str = "setting") -> Any:
    """Validate one setting against the defaults table; UsageError names key and expectation."""
    if key not in SETTINGS:
        raise UsageError(f"unknown {origin} '{key}'; known settings: {', '.join(SETTINGS)}")
    return coerce_option(SETTINGS[key], value, f"{origin} '{key}'")


def resolve_settings(
    user: Mapping[str, Any], loss_settings: Mapping[str, Any], model_settings: Mapping[str, Any],
    recipe: str = "paper", protocol: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Effective settings and the source of each (``user``/``protocol``/``loss``/``model``/``default``):
    explicit user values > the protocol's (its per-loss recipe included) > the loss's paper recipe >
    the model's > the defaults.

    With ``recipe="same"`` the loss's paper settings are ignored (one shared recipe for every loss).
    """
    layers = [("user", user), ("protocol", protocol or {}), ("loss", loss_settings if recipe == "paper" else {}),
              ("model", model_settings)]
    return layered(
        SETTINGS, layers,
        label=lambda src, key: f"{src} setting '{key}'",
        unknown=lambda src, key: f"unknown {src} setting '{key}'; known settings: {', '.join(SETTINGS)}",
    )


@dataclass(frozen=True, order=True)
class Cell:
    """One training run of the grid. ``id`` is stable and safe as a directory name."""

    dataset: str
    model: str
    loss: str
    seed: int
    #: the hyper-parameter values of a sweep or search point, ``((key, value), ...)`` sorted by key
    #: (:mod:`ganbench.sweeps`); empty outside sweeps
    point: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        names = (self.dataset, self.model, self.loss)
        parts = [UNSAFE.sub("_", p)[:40] for p in names]  # unchanged since 0.1.0: run directories keep their ids
        if parts != list(names):  # e.g. image-folder:/data/faces: a hash keeps distinct names distinct
            parts.append(hashlib.sha256("\0".join(names).encode()).hexdigest()[:8])
        if self.point:  # a sweep point: a hash of its values (as the row's point column shows them)
            parts.append("p" + hashlib.sha256(self.point_text.encode()).hexdigest()[:8])
        return "__".join(parts) + f"__s{self.seed}"

    @property
    def point_text(self) -> str:
        from ganbench.sweeps import text

        return text(self.point)

    def label(self) -> str:
        return f"{self.dataset}/{self.model}/{self.loss} seed {self.seed}" + (f" [{self.point_text}]" if self.point else "")

    def point_settings(self) -> dict[str, Any]:
        """The point's values of settings (keys without a dot)."""
        return {k: v for k, v in self.point if "." not in k}

    def point_options(self, name: str) -> dict[str, Any]:
        """The point's values of plugin ``name``'s options (``NAME.KEY`` keys)."""
        out = {}
        for k, v in self.point:
            owner, dot, key = k.rpartition(".")
            if dot and owner == name:
                out[key] = v
        return out


@dataclass
class Suite:
    """The resolved request: names are validated against the registry by the runner."""

    datasets: Sequence[str]
    models: Sequence[str]
    losses: Sequence[str]
    seeds: Sequence[int]
    metrics: Sequence[str] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    recipe: str = "paper"
    #: ``{plugin name: {option: value}}``; validated against each plugin's declared options by the runner
    model_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    loss_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the feature extractor of FID/KID/PR-DC: a registered name or ``auto`` (per data set)
    extractor: str = "auto"
    #: ``{extractor: {option: value}}`` (e.g. inception weights); local paths, so not part of the
    #: run's fingerprint: extractor ids recorded in the rows say which weights produced a number
    extractor_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the protocol the request follows (``--protocol``), or None
    protocol: str | None = None
    #: sweep axes ``{key: [values]}`` (``--sweep``, ``[sweep]``; :mod:`ganbench.sweeps`): a setting, a model's
    #: or loss's ``NAME.KEY``, or keys joined by ``+``; their cartesian product multiplies the grid
    sweep: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    #: random search: ``search`` points drawn from ``space`` (``{key: {kind: args}}``, named ``space_name``)
    #: with the request's ``search_seed``
    search: int = 0
    space: Mapping[str, Mapping[str, Sequence[Any]]] = field(default_factory=dict)
    space_name: str | None = None
    search_seed: int = 0

    def __post_init__(self) -> None:
        sizes = {}
        for axis in ("datasets", "models", "losses", "seeds"):
            values = list(getattr(self, axis))
            if not values:
                raise UsageError(f"--{axis} is empty: give at least one value")
            counts = collections.Counter(values)
            dupes = sorted(str(v) for v, n in counts.items() if n > 1)
            if dupes:
                shown = ", ".join(dupes[:5]) + (f" and {len(dupes) - 5} more" if len(dupes) > 5 else "")
                raise UsageError(f"--{axis} lists {shown} more than once")
            sizes[axis] = len(values)
        sizes["points"] = self._check_points()
        total = math.prod(sizes.values())
        if total > MAX_CELLS:
            raise UsageError(f"this request has {total:,} cells ({' × '.join(f'{n} {a}' for a, n in sizes.items())}); "
                             f"one run takes at most {MAX_CELLS:,}: split it into several runs")
        for s in self.seeds:
            if not isinstance(s, int) or s < 0:
                raise UsageError(f"--seeds expects non-negative integers, got {s!r}")
        self.settings = {k: coerce_setting(k, v, "setting") for k, v in dict(self.settings).items()}
        if self.recipe not in RECIPES:
            raise UsageError(f"recipe expects one of {', '.join(RECIPES)}, got {self.recipe!r}")
        for key in ("model_options", "loss_options", "data_options", "extractor_options"):
            table = getattr(self, key)
            if isinstance(table, Mapping):
                bad = [n for n, opts in table.items() if not isinstance(n, str) or not isinstance(opts, Mapping)]
                if not bad:
                    continue
                table = {str(bad[0]): table[bad[0]]}
            shown = json.dumps(table, default=str)
            raise UsageError(f"{key} expects a table of plugin name -> table of option -> value, got "
                             f"{shown if len(shown) <= 80 else shown[:77] + '...'}")
        for flag, axis, table in (("--model-opt", self.models, self.model_options),
                                  ("--loss-opt", self.losses, self.loss_options),
                                  ("--data-opt", self.datasets, self.data_options)):
            names = {*axis, *(n.partition(":")[0] for n in axis)}  # image-folder opts reach image-folder:PATH
            for name in table:
                if name not in names:
                    raise UsageError(f"{flag} (or a suite file's [{flag.removeprefix('--').replace('-opt', '-options')}]) "
                                     f"names '{name}', which is not in this run ({', '.join(axis)})")

    def _point_key(self, key: str, where: str, absent_ok: bool = False) -> str:
        """Check one key of a sweep or search space (a setting or ``NAME.KEY`` of a model or loss of this run,
        not set elsewhere in the request); returns its kind (``setting``, ``model``, ``loss``). ``absent_ok``
        (search spaces): an option of a plugin that is not in this run is drawn but applies to no cell
        (kind ``absent``), so a space's points do not depend on which losses a run holds."""
        name, dot, option = key.rpartition(".")
        if not dot and key in UNSWEPT:
            raise UsageError(f"{where}: '{key}' cannot be swept: {UNSWEPT[key]}")
        if not dot:
            if key not in SETTINGS:
                raise UsageError(f"{where}: unknown setting '{key}'; known settings: {', '.join(SETTINGS)} (a plugin "
                                 "option is NAME.KEY, e.g. dcgan.norm)")
            if key in self.settings:
                raise UsageError(f"{where}: '{key}' is also set to one value ({self.settings[key]!r}); give it once")
            return "setting"
        kinds = [kind for kind, axis in (("model", self.models), ("loss", self.losses), ("dataset", self.datasets))
                 if name in axis]
        if not kinds and absent_ok:
            return "absent"
        if not kinds:
            raise UsageError(f"{where}: '{key}' names '{name}', which is not a model or loss of this run (models "
                             f"{', '.join(self.models)}; losses {', '.join(self.losses)})")
        if "dataset" in kinds:
            raise UsageError(f"{where}: '{key}' is a data set option; data set options cannot be swept (a run loads "
                             "each data set once): run each value into its own directory with --data-opt")
        if len(kinds) > 1:
            raise UsageError(f"{where}: '{name}' is both a model and a loss of this run; '{key}' is ambiguous")
        table = self.model_options if kinds[0] == "model" else self.loss_options
        if option in table.get(name, {}):
            flag = "--model-opt" if kinds[0] == "model" else "--loss-opt"
            raise UsageError(f"{where}: '{key}' is also set to one value by {flag}; give it once")
        return kinds[0]

    def _check_points(self) -> int:
        """The sweep axes and search space: known keys, each set once, setting values coerced (plugin option
        values are coerced by :func:`ganbench.api.build_suite`, which knows the plugins). Returns the number of
        points (at most; before points that coincide for a cell are merged)."""
        from ganbench.sweeps import parse_space, split_key

        seen: dict[str, str] = {}
        axes: dict[str, list[Any]] = {}
        for axis, values in dict(self.sweep).items():
            where = f"sweep key '{axis}'"
            keys = split_key(axis)
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise UsageError(f"{where} expects a list of values, got {values!r}")
            from ganbench.sweeps import components, joined

            parts = [components(axis, v) for v in values]  # per value, one component per key
            for i, key in enumerate(keys):
                if key in seen:
                    raise UsageError(f"{where}: '{key}' is already in {seen[key]}; a key takes one axis")
                seen[key] = where
                if self._point_key(key, where) == "setting":
                    for p in parts:
                        p[i] = coerce_setting(key, p[i], "sweep setting")
            coerced = [joined(p) for p in parts]
            texts = [str(c) for p in parts for c in p]
            if any(";" in t for t in texts):  # a row's point column separates keys by ';'
                raise UsageError(f"{where}: a value may not contain ';', got {next(t for t in texts if ';' in t)!r}")
            shown = [repr(v) for v in coerced]
            dupes = sorted({v for v in shown if shown.count(v) > 1})
            if dupes:
                raise UsageError(f"{where} lists {', '.join(dupes)} more than once")
            axes[axis] = coerced
        self.sweep = axes
        if self.search < 0 or isinstance(self.search, bool) or not isinstance(self.search, int):
            raise UsageError(f"--search expects a number of points ≥ 1, got {self.search!r}")
        if self.search and not self.space:
            raise UsageError("--search N draws points from a search space: give --space FILE or a preset "
                             "('ganbench list spaces')")
        if self.space and not self.search:
            raise UsageError("--space is the search space of --search N: give the number of points")
        applied = bool(axes)
        if self.space:
            for name, dist in parse_space(self.space, "search space").items():
                for key in split_key(name):
                    where = f"search space{f' {self.space_name}' if self.space_name else ''}: key '{name}'"
                    if key in seen:
                        raise UsageError(f"{where}: '{key}' is already in {seen[key]}; a key takes one axis")
                    seen[key] = where
                    kind = self._point_key(key, where, absent_ok=True)
                    applied = applied or kind != "absent"
                    if kind == "setting":
                        default = SETTINGS[key].default
                        if isinstance(default, int) and not isinstance(default, bool) and dist.kind not in (
                                "integer", "choice"):
                            raise UsageError(f"{where}: setting '{key}' takes integers; give it an integer or choice "
                                             f"distribution, not {dist.kind}")
                        for value in dist.args:  # bounds and choices: values the setting must take
                            coerce_setting(key, value, f"search space key '{name}'")

        if self.search and not applied:
            raise UsageError(f"search space{f' {self.space_name}' if self.space_name else ''}: none of its keys "
                             f"({', '.join(self.space)}) applies to a model or loss of this run")
        return math.prod(len(v) for v in axes.values()) * max(self.search, 1)

    def points(self) -> list[dict[str, Any]]:
        """The request's hyper-parameter points (:mod:`ganbench.sweeps`): every sweep point with every drawn
        point; ``[{}]`` when nothing is swept."""
        from ganbench.sweeps import draw, parse_space, product

        swept = product(self.sweep) if self.sweep else [{}]
        drawn = draw(parse_space(self.space, "search space"), self.search, self.search_seed) if self.search else [{}]
        out = []
        for a in swept:
            for b in drawn:
                point = {**a, **b}
                out.append({k: coerce_setting(k, v, "search space setting") if "." not in k else v
                            for k, v in point.items()})
        return out

    def cells(self) -> list[Cell]:
        """The grid: data sets × models × losses × points × seeds. A cell takes the keys of a point that apply to
        it (settings, and its own model's and loss's options); points that then coincide are one cell."""
        points = self.points()
        cells = []
        for d, m, lo in itertools.product(self.datasets, self.models, self.losses):
            mine = list(dict.fromkeys(tuple(sorted((k, v) for k, v in p.items()
                                                   if "." not in k or k.rpartition(".")[0] in (m, lo)))
                                      for p in points))
            cells.extend(Cell(d, m, lo, s, point) for point in mine for s in self.seeds)
        return cells

    def swept(self) -> bool:
        return bool(self.sweep) or self.search > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": list(self.datasets),
            "models": list(self.models),
            "losses": list(self.losses),
            "seeds": list(self.seeds),
            "metrics": list(self.metrics),
            "settings": dict(sorted(self.settings.items())),
            "recipe": self.recipe,
            "model_options": _sorted_nested(self.model_options),
            "loss_options": _sorted_nested(self.loss_options),
            "data_options": _sorted_nested(self.data_options),
            "extractor": self.extractor,
            **({"protocol": self.protocol} if self.protocol is not None else {}),
            **({"sweep": {k: list(v) for k, v in self.sweep.items()}} if self.sweep else {}),
            **({"search": self.search, "space": {k: dict(v) for k, v in self.space.items()},
                "space_name": self.space_name, "search_seed": self.search_seed} if self.search else {}),
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "suite") -> Suite:
        """The suite :meth:`to_dict` (a run's suite.json) describes; validated like any request."""
        known = set(cls.__dataclass_fields__)
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as exc:
            raise UsageError(f"{where} is not a ganbench suite: {exc}") from None
        except UsageError as exc:  # a stored request that no longer validates: say which file
            raise UsageError(f"{where}: {exc}") from None


def _sorted_nested(table: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: dict(sorted(opts.items())) for name, opts in sorted(table.items()) if opts}


def split_names(value: str | Sequence[str] | None, flag: str | None = None) -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]``; None stays None (meaning: the default). With
    ``flag`` (``--models``), a value that names nothing (``","``, ``" "``) is an error: it must never
    silently mean "every registered one"."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if not names and flag is not None:
        raise UsageError(f"{flag} {value if isinstance(value, str) else ','.join(map(str, value))!r} names nothing; give "
                         f"at least one name, or leave {flag} out for the default")
    return names


def parse_seeds(value: str | Sequence[int]) -> list[int]:
    """``"0,1,2"``, ``"0-4"`` or a list of ints."""
    if not isinstance(value, str):
        return [int(v) for v in value]
    seeds: list[int] = []
    parts = value.split(",")
    if len(parts) > 1 and not all(p.strip() for p in parts):  # '0,,1' or '0,1,': a typo, not two seeds
        raise UsageError(f"--seeds {value!r} has an empty item; separate seeds with single commas, e.g. 0,1,2")
    for part in split_names(value) or []:
        m = re.fullmatch(r"([0-9]+)-([0-9]+)", part)  # ASCII digits only: '²'.isdigit() is true
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UsageError(f"--seeds range '{part}' is empty")
            if hi - lo + 1 > MAX_CELLS:
                raise UsageError(f"--seeds range '{part}' has {hi - lo + 1:,} seeds; one run takes at most "
                                 f"{MAX_CELLS:,} cells")
            seeds.extend(range(lo, hi + 1))
        elif re.fullmatch(r"[0-9]+", part):
            seeds.append(int(part))
        else:
            raise UsageError(f"--seeds expects comma-separated non-negative integers or ranges like 0-4, got '{part}'")
    return seeds


#: keys of a suite file (TOML) -> what each holds
SUITE_FILE_KEYS = {
    "datasets": "names", "models": "names", "losses": "names", "metrics": "names", "seeds": "seeds",
    "recipe": "recipe", "settings": "settings", "extractor": "name", "protocol": "name",
    "model-options": "options", "loss-options": "options", "data-options": "options", "extractor-options": "options",
    "sweep": "sweep", "search": "count", "search-seed": "count", "space": "space",
}


def load_suite_file(path: str | Path) -> dict[str, Any]:
    """Read a suite file (TOML) into keyword arguments of :func:`ganbench.api.build_suite`.

    Structure errors name the file, the key and what was expected; names and option values are
    validated later against the registry, like the same values given on the command line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"suite file {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"suite file {path}: invalid TOML: {exc}") from None
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in SUITE_FILE_KEYS:
            raise UsageError(f"suite file {path}: unknown key '{key}'; known keys: {', '.join(SUITE_FILE_KEYS)}")
        what = SUITE_FILE_KEYS[key]
        where = f"suite file {path}: key '{key}'"
        arg = key.replace("-", "_")
        if what == "names":
            if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
                dupes = sorted(n for n, k in collections.Counter(names).items() if k > 1 and n)
                if not any(names) or dupes:  # named here, not as a --flag never given
                    raise UsageError(f"{where} " + (f"lists {', '.join(dupes[:5])} more than once" if dupes
                                                    else "names nothing: give at least one name"))
                out[arg] = value
            else:
                raise UsageError(f"{where} expects a list of names or a comma-separated string, got {value!r}")
        elif what == "seeds":
            if isinstance(value, str) or (isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)):
                try:  # checked here, so the message names the file and key rather than a --seeds never given
                    seeds = parse_seeds(value)
                except UsageError as exc:
                    raise UsageError(f"{where}: {str(exc).removeprefix('--seeds ')}") from None
                dupes = sorted(str(v) for v, n in collections.Counter(seeds).items() if n > 1)
                if not seeds or dupes:
                    raise UsageError(f"{where} " + (f"lists {', '.join(dupes[:5])} more than once" if dupes
                                                    else "is empty: give at least one seed"))
                out[arg] = value
            else:
                raise UsageError(f"{where} expects a list of non-negative integers or a string like '0-4', got {value!r}")
        elif what == "name":
            if not isinstance(value, str) or not value.strip():
                example = "'auto', 'domain', 'inception'" if key == "extractor" else "'pacgan-ring-cpu'"
                raise UsageError(f"{where} expects a name (e.g. {example}), got {value!r}")
            out[arg] = value.strip()
        elif what == "sweep":
            def scalar(x: Any) -> bool:
                return not isinstance(x, (list, dict))

            if not isinstance(value, dict) or not value or not all(
                    isinstance(v, list) and v and all(scalar(x) or (isinstance(x, list) and all(map(scalar, x)))
                                                      for x in v) for v in value.values()):
                raise UsageError(f"{where} expects a table [sweep] of KEY = [V1, V2, ...] (e.g. lr_d = [1e-4, 2e-4]; "
                                 "joined keys may take one list per value: \"pacgan.pack+batch_size\" = [[1, 100], "
                                 f"[2, 200]]), got {value!r}")
            from ganbench.sweeps import components, split_key

            for axis, values in value.items():
                for i, key in enumerate(split_key(axis)):
                    if "." not in key:  # a setting: checked here (plugin options once the plugins are known)
                        for v in values:
                            try:
                                coerce_setting(key, components(axis, v)[i])
                            except UsageError as exc:
                                raise UsageError(f"suite file {path}: key 'sweep.{axis}': {exc}") from None
            out[arg] = {k: list(v) for k, v in value.items()}
        elif what == "count":
            if type(value) is not int or value < 0:
                raise UsageError(f"{where} expects a non-negative integer, got {value!r}")
            out[arg] = value
        elif what == "space":
            if isinstance(value, str) and value.strip():
                space = value.strip()  # a preset, or a file relative to the suite file
                out[arg] = str(path.parent / space) if (path.parent / space).is_file() else space
            elif isinstance(value, dict):
                from ganbench.sweeps import parse_space

                parse_space(value, f"suite file {path}: key 'space'")
                out[arg] = value
            else:
                raise UsageError(f"{where} expects a preset name, a file, or a table [space] of KEY = {{KIND = ARGS}}, "
                                 f"got {value!r}")
        elif what == "recipe":
            if value not in RECIPES:
                raise UsageError(f"{where} expects one of {', '.join(RECIPES)}, got {value!r}")
            out[arg] = value
        elif what == "settings":
            if not isinstance(value, dict):
                raise UsageError(f"{where} expects a table [settings] of KEY = VALUE, got {value!r}")
            for k, v in value.items():
                try:
                    coerce_setting(k, v)
                except UsageError as exc:
                    raise UsageError(f"suite file {path}: key 'settings.{k}': {exc}") from None
            out[arg] = dict(value)
        else:
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise UsageError(f"{where} expects tables like [{key}.NAME] of KEY = VALUE, got {value!r}")
            for name, opts in value.items():
                bad = [k for k, v in opts.items() if isinstance(v, (dict, list))]
                if bad:
                    raise UsageError(f"suite file {path}: key '{key}.{name}.{bad[0]}' expects a single value, "
                                     f"got {opts[bad[0]]!r}")
            out[arg] = {name: dict(opts) for name, opts in value.items()}
    return out
