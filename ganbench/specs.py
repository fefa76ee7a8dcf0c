"""The small contracts between the core and plugins.

This module imports without torch: tensors and modules only appear in annotations.
A plugin builds these specs and hands them to the registry in its ``ganbench_register_*`` hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from ganbench.evaluation import EvalContext

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

Modality = Literal["vector", "image"]
#: what a data set is for and what a model does: ``generation`` (noise → samples) or ``translation``
#: (a sample of domain A → one of domain B; Pix2Pix on paired data, CycleGAN on unpaired)
Task = Literal["generation", "translation"]
TASKS = ("generation", "translation")


@dataclass(frozen=True)
class DataInfo:
    """What a model and a metric need to know about a data set.

    ``shape`` is the shape of one sample: ``(d,)`` for vectors, ``(C, H, W)`` for images.
    ``value_range`` is the range generators must produce (``None``: unbounded, e.g. 2-D mixtures).
    ``num_classes`` is the number of label values (0: unlabelled); ``class_names`` names them, if
    known. ``label_factors`` is set when a label is a mixed-radix code of several labels, e.g.
    ``(10, 10, 10)`` for stacked MNIST: label = 100·(channel 0 digit) + 10·(channel 1) + (channel 2).
    ``modes``/``mode_std`` describe the known mixture components (centres ``[K, d]``), if any.
    ``fingerprint`` is a stable hash of the training data: it keys cached classifiers and statistics.
    ``options`` are the effective data options that produced it.

    ``task="translation"``: the data set holds two domains. B is what ``shape``, ``value_range``,
    ``num_classes`` and the data's ``x``/``y`` describe (the domain a model produces, what FID compares
    against); A, the inputs, has ``source_shape`` and lives in ``Data.source``. ``paired``: the i-th
    sample of A shows the same thing as the i-th of B (Pix2Pix's data), else the two are independent
    sets (CycleGAN's). ``domains`` names A and B (``("edges", "digits")``).
    """

    name: str
    modality: Modality
    shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    size: int
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    label_factors: tuple[int, ...] | None = None
    modes: tuple[tuple[float, ...], ...] | None = None
    mode_std: float | None = None
    fingerprint: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    task: Task = "generation"
    paired: bool | None = None
    source_shape: tuple[int, ...] | None = None
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Data:
    """A loaded data set: a training split (what GANs learn from) and an optional held-out split.

    ``x``: float32 ``[N, *info.shape]`` in ``info.value_range``; ``y``: int64 ``[N]`` labels or ``None``.
    The held-out split (``x_test``/``y_test``) is only used to measure the domain classifier.

    A translation data set (``info.task == "translation"``) also holds domain A: ``source`` float32
    ``[N_A, *info.source_shape]`` in ``info.value_range`` with labels ``source_y`` (or ``None``), and its
    held-out split ``source_test``/``source_y_test``; paired data has ``N_A == N`` (and as many held-out
    samples on both sides), the i-th of A showing what the i-th of B shows.
    """

    info: DataInfo
    x: torch.Tensor
    y: torch.Tensor | None = None
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    source: torch.Tensor | None = None
    source_y: torch.Tensor | None = None
    source_test: torch.Tensor | None = None
    source_y_test: torch.Tensor | None = None

    @staticmethod
    def problem(data: Any) -> str | None:
        """Why ``data`` (what a data set's ``load`` returned) cannot be trained on, else None: it must
        be a :class:`Data` whose ``x`` is a non-empty float32 tensor of samples of ``info.shape`` and
        whose labels, if any, are one int64 per sample."""
        import torch

        if not isinstance(data, Data):
            return f"got {type(data).__name__}, expected ganbench.specs.Data"
        if not isinstance(data.info, DataInfo):
            return f"info is {type(data.info).__name__}, expected ganbench.specs.DataInfo"
        info = data.info
        splits = [("x", data.x, data.y, info.shape), ("x_test", data.x_test, data.y_test, info.shape)]
        if info.task not in TASKS:
            return f"info.task is {info.task!r}; expected one of {', '.join(TASKS)}"
        if info.task == "translation":
            if info.source_shape is None or info.paired is None:
                return "a translation data set's info needs source_shape and paired"
            splits += [("source", data.source, data.source_y, info.source_shape),
                       ("source_test", data.source_test, data.source_y_test, info.source_shape)]
            if info.paired:
                for a, b, what in ((data.source, data.x, "source and x"), (data.source_test, data.x_test,
                                                                            "source_test and x_test")):
                    if (a is None) != (b is None) or (a is not None and len(a) != len(b)):
                        return f"paired data: {what} must hold as many samples (the i-th of each pair up)"
        elif any(v is not None for v in (data.source, data.source_y, data.source_test, data.source_y_test)):
            return "source (domain A) is for translation data sets; info.task is generation"
        for split, x, y, shape in splits:
            if x is None and split in ("x_test", "source_test"):
                continue
            if not isinstance(x, torch.Tensor):
                return f"{split} is {type(x).__name__}, expected a torch.Tensor"
            if x.dtype != torch.float32 or tuple(x.shape[1:]) != tuple(shape) or len(x) == 0:
                shape = ", ".join(map(str, shape))
                return f"{split} is {x.dtype} {tuple(x.shape)}; expected float32 [N, {shape}] with N > 0"
            if y is not None and (not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (len(x),)):
                what = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
                return f"labels of {split} are {what}; expected int64 [{len(x)}]"
            if y is not None and info.num_classes > 0 and len(y) and (int(y.min()) < 0 or int(y.max()) >= info.num_classes):
                return (f"labels of {split} run from {int(y.min())} to {int(y.max())}; expected 0 to "
                        f"{info.num_classes - 1} (num_classes {info.num_classes})")
        return None


def always_supported(info: DataInfo) -> str | None:
    """A ``supports`` callable that accepts every data set."""
    return None


#: what a conditional model is conditioned on: ``class`` = class labels (``y``, int64 ``[N]``); ``source``
#: = a translation model's D looks at G's input beside the image it scores (Pix2Pix: ``D(x, a)``)
Condition = Literal["class", "source"]
CONDITIONS = ("class", "source")


@dataclass(frozen=True)
class ModelSpec:
    """A generator/discriminator family.

    ``build(info, latent_dim=..., **options) -> (G, D)`` where ``G(z: [N, latent_dim]) -> [N, *info.shape]``
    within ``info.value_range`` and ``D(x: [N, *info.shape]) -> [N]`` *raw scores* (logits or critic
    values, never probabilities). ``supports(info)`` returns ``None`` or the reason the model cannot
    handle that data. ``settings`` are training settings the model recommends (e.g. ``latent_dim``);
    ``options`` are its own hyper-parameters, passed to ``build`` as keywords (``{"norm": Option(...)}``;
    by convention ``norm`` is the discriminator's normalisation: batch / layer / spectral / none).

    ``condition="class"``: a conditional model. ``build`` also receives ``num_classes`` (the data's
    ``info.num_classes``) and the networks are called ``G(z, y)`` and ``D(x, y)`` with ``y`` int64 ``[N]``
    class indices in ``[0, num_classes)``: the classes real samples have and generated samples are
    asked to be. Such a model is skipped, with its reason, on unlabelled data. D may also return
    ``(scores [N], class_logits [N, num_classes])``: an auxiliary classifier (AC-GAN), whose
    cross-entropy terms the training adds to both losses with weight ``aux_weight`` (a setting).
    A G with a ``regularization()`` method has its value added to G's loss (BigGAN's orthogonal
    regularisation).

    ``loss``: the loss of the model's paper (``hinge`` for SN-GAN): shown as the recommended loss and
    noted in rows that train another; it never replaces the loss the user asked for.

    ``task="translation"``: the model translates domain A into domain B (a translation data set, see
    :class:`DataInfo`); with ``paired=True`` it needs paired data (Pix2Pix), else it takes either
    (CycleGAN). A model of another task than a data set's is skipped with the reason. Its G is called
    ``G(a)`` with a batch of domain A (no noise: ``latent_dim`` is unused) and returns ``[N, *info.shape]``;
    its D scores images of B, ``D(x)``, or, with ``condition="source"``, ``D(x, a)`` beside G's input
    (Pix2Pix's D on (input, output) pairs). D may score patches: any ``[N, ...]`` of scores, each patch
    score one term of the loss's mean (PatchGAN). A translation G may have ``reconstruction(a, fake,
    target) -> scalar``, its own term added to G's loss (Pix2Pix's λ·L1 to the target); a G with
    ``both_ways = True`` holds both directions (CycleGAN): ``G(a)`` still translates A to B (evaluation's
    call), training calls ``G.both(cat(A, B))`` for ``cat(G_AB(A), G_BA(B))``, D on ``cat(B, A)`` scores
    each half with its own domain's network, and ``G.back(b)`` translates B images to A (the cycle metric). The setting
    ``pool_size`` puts D's generated batches through a history pool.

    ``revision``: raise it (from 0) in the commit that changes the numbers this plugin's cells train to
    under an unchanged configuration (a fixed bug, another initialisation without an option for the old
    one): a cell's configuration (and hash) includes a non-zero revision, so no row or checkpoint made by
    the older code is reused — a run directory holding such cells refuses the request, naming
    ``revision``, as it refuses any changed configuration (another ``--out``, or ``--fresh``) — and
    reports do not average the two as seeds of one line. At 0 it leaves every hash as it was. A change that
    touches only some configurations (PacGAN-k's BatchNorm, not the plain GAN's) gives a function
    ``revision(options) -> int`` of the cell's effective options instead, so the others keep their hash.

    ``loss_options``: the options the model's recipe gives losses it trains with (``{"nonsat-r1":
    {"gamma": 0.01}}``), or ``loss_options(info, settings) -> {...}`` when they depend on the data and
    the cell's effective settings (StyleGAN2's γ = 0.0002 · res² / batch). They apply with the
    ``paper`` recipe and without a protocol, below the user's and above the loss's defaults.
    """

    name: str
    build: Callable[..., tuple[nn.Module, nn.Module]]
    description: str = ""
    supports: Callable[[DataInfo], str | None] = always_supported
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    aliases: tuple[str, ...] = ()
    condition: Condition | None = None
    loss: str | None = None
    loss_options: (Mapping[str, Mapping[str, Any]]
                   | Callable[[DataInfo, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]]) = field(default_factory=dict)
    task: Task = "generation"
    paired: bool = False
    revision: int | Callable[[Mapping[str, Any]], int] = 0

    @property
    def conditional(self) -> bool:
        """Conditioned on class labels (``condition="class"``): G and D take ``y``, evaluation asks for classes."""
        return self.condition == "class"

    def recommended_loss_options(self, loss: str, info: DataInfo, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The options this model's recipe gives ``loss`` on ``info`` under ``settings``."""
        table = self.loss_options(info, settings) if callable(self.loss_options) else self.loss_options
        return dict(table.get(loss, {}))

    def mismatch(self, info: DataInfo) -> str | None:
        """Why this model cannot take ``info`` by what it declares (before its own ``supports``): its task
        must be the data set's; a translation model that needs pairs needs paired data; a conditional
        model needs labelled data."""
        task = getattr(info, "task", "generation")
        if self.task != task:
            return (f"{self.name} is a {self.task} model (noise → samples); {info.name} is a {task} data set"
                    if self.task == "generation" else
                    f"{self.name} is a {self.task} model; {info.name} is a {task} data set (no domain A to translate)")
        if self.task == "translation" and self.paired and not info.paired:
            return f"{self.name} trains on paired examples; {info.name} is unpaired"
        if self.condition == "source" and self.task != "translation":
            return f"{self.name} conditions D on a translation's input (condition='source') but is a {self.task} model"
        if self.condition == "class" and info.num_classes < 2:
            return (f"{self.name} is conditioned on class labels; {info.name} is unlabelled"
                    if info.num_classes == 0 else f"{self.name} is conditioned on class labels; {info.name} has one class")
        return None


@dataclass(frozen=True)
class LossSpec:
    """An adversarial loss written on raw discriminator scores.

    Called by the training loop (keyword arguments a function does not accept are not passed, so
    each function takes only the ``options`` it uses)::

        d_loss(d_real, d_fake, **options) -> scalar        minimised by D
        g_loss(d_fake, **options) -> scalar                minimised by G; a g_loss that accepts
                                                           ``d_real`` (relativistic losses) also gets
                                                           D's scores of the last real batch
        penalty(D, real, fake, *, generator, **options)    optional, added to D's loss (e.g. WGAN-GP);
                                                           ``generator`` is the seeded torch.Generator
                                                           for its randomness (CPU)
        after_d_step(D, **options) -> None                 optional, after each D update (e.g. clipping)
        penalty_interval(**options) -> int | None          optional: N makes the penalty its own D phase
                                                           every N D updates (lazy regularisation, see
                                                           ganbench.train.phases); None: part of D's loss

    ``options`` are the loss's hyper-parameters (``{"real": Option(0.9, ...)}``). ``settings`` are the
    training settings of the loss's paper (n_critic, optimizer, lr_d, ...) and ``model_options`` the
    model options it needs (``{"norm": "layer"}``); both apply with the ``paper`` recipe only, and
    never over an explicit user setting.

    ``revision``: the loss's numbers-changing revision, as :class:`ModelSpec`'s ``revision``.
    """

    name: str
    d_loss: Callable[..., torch.Tensor]
    g_loss: Callable[..., torch.Tensor]
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    model_options: Mapping[str, Any] = field(default_factory=dict)
    penalty: Callable[..., torch.Tensor] | None = None
    after_d_step: Callable[..., None] | None = None
    reference: str = ""
    aliases: tuple[str, ...] = ()
    penalty_interval: Callable[..., int | None] | None = None
    revision: int | Callable[[Mapping[str, Any]], int] = 0


@dataclass(frozen=True)
class MetricSpec:
    """A metric computed on a trained generator.

    ``compute(ctx: EvalContext) -> {column: value}``; the ``primary`` column is the headline number
    and ``higher_is_better`` its direction. ``supports(info)`` returns ``None`` or why the metric does
    not apply to that data (the reason is recorded with the result). ``samples``: how many generated
    samples the metric needs when that is fixed by its definition (e.g. 2,500 for the mixture mode
    count); the run draws ``max(eval_samples, samples)`` evaluation noise vectors, the first
    ``eval_samples`` of them always the same, and the metric asks ``ctx.generated(samples)``.

    ``columns``: the direction of the metric's other numeric result columns, ``{column: True}`` when
    higher is better, ``False`` when lower is better, ``None`` when the column is descriptive (a count,
    a standard error, a diagnostic); reports rank and mark the best only of columns with a direction.

    ``features=True``: the metric works on ``ctx.extractor()``'s features (FID, KID, PR/DC); it is
    not applicable to data no feature extractor takes. ``history=True``: the metric reads only the
    training history and the metric trajectory (``ctx.history``, ``ctx.trajectory``), never the
    generator; it runs after the other metrics, and also for cells that diverged.
    ``conditional=True``: the metric compares generated samples with the classes they were asked to be
    (``ctx.generated_labels()``); it applies to conditional models only: for the others its columns
    stay empty, without a note in every row. ``task="translation"``: the metric scores translations (it
    reads ``ctx.translation``); it applies to translation data sets only and, like a conditional metric,
    leaves its columns empty elsewhere without a note.
    """

    name: str
    compute: Callable[[EvalContext], Mapping[str, Any]]
    primary: str
    higher_is_better: bool
    description: str = ""
    supports: Callable[[DataInfo], str | None] = always_supported
    aliases: tuple[str, ...] = ()
    samples: int = 0
    reference: str = ""
    features: bool = False
    history: bool = False
    columns: Mapping[str, bool | None] = field(default_factory=dict)
    conditional: bool = False
    task: Task | None = None

    def directions(self) -> dict[str, bool | None]:
        """``{column: higher_is_better or None}`` of every column this metric declares, primary first."""
        return {self.primary: self.higher_is_better, **{k: v for k, v in self.columns.items() if k != self.primary}}


def nothing_missing(root: Any = None, **options: Any) -> str | None:
    """A ``missing`` callable for data sets that need no files (embedded or generated)."""
    return None


@dataclass(frozen=True)
class DatasetSpec:
    """A data set.

    ``load(root: Path, **options) -> Data``: ``root`` is the data directory (``--data-root``; files
    of downloadable sets live under it), ``options`` the effective values of the declared
    ``options`` (``{"std": Option(0.01, ...)}``). A load that cannot find or fetch its files raises
    an error saying what is missing and where to put it; it never substitutes other data.

    ``missing(root, **options)`` returns ``None`` when the data set can be loaded without network
    access right now, else what is missing (``ganbench list datasets`` shows it).

    ``modality``, ``shape``, ``num_classes`` and ``size`` describe the data under the default
    options, for listing without loading (``None``: depends on the options or the files); the
    contract tests check them against what ``load`` returns.

    ``task``: what the data set is for (``translation``: two domains, see :class:`DataInfo`); the
    contract tests check it against what ``load`` returns.

    ``name_option``: an option that can be given in the data set's name, ``NAME:VALUE`` (the
    image folder's ``path``: ``folder:~/faces``). Each distinct value is a separate data set in the
    grid.
    """

    name: str
    load: Callable[..., Data]
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    aliases: tuple[str, ...] = ()
    missing: Callable[..., str | None] = nothing_missing
    modality: Modality | None = None
    shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    size: int | None = None
    name_option: str | None = None
    task: Task = "generation"


@dataclass(frozen=True)
class ExtractorSpec:
    """A feature extractor: what turns samples into the feature vectors FID, KID and PR/DC compare.

    ``build(data: Data, *, device, cache_root: Path, **options) -> ganbench.evaluation.FeatureExtractor``
    is called once per run and data set (``cache_root``: where to keep trained or downloaded
    weights). A build that cannot get its weights raises an error that says how to get them.
    ``supports(info)`` returns ``None`` or why the extractor cannot take that data. ``auto(info)``:
    whether ``--extractor auto`` (the default) picks this extractor for that data (the first such
    extractor by name). ``options`` are declared like other plugins' (``--extractor-opt NAME.KEY=V``).
    """

    name: str
    build: Callable[..., Any]
    description: str = ""
    supports: Callable[[DataInfo], str | None] = always_supported
    auto: Callable[[DataInfo], bool] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    aliases: tuple[str, ...] = ()


def revision_of(spec: Any, options: Mapping[str, Any]) -> Any:
    """A model's or loss's numbers-changing revision for a cell of these effective ``options``: its ``revision``,
    or what its function of the options returns (checked to be an integer >= 0 when the plugin registers)."""
    revision = getattr(spec, "revision", 0)
    return revision(dict(options)) if callable(revision) else revision


@dataclass(frozen=True)
class ExecutorSpec:
    """Where a run's cells execute (``ganbench run --executor NAME``).

    ``make(config, *, device, threads, state) -> Executor`` is called once per run with the user's
    :class:`ganbench.execution.executors.ExecutorConfig` (``jobs``, ``devices``, ``options`` from
    ``--executor-opt NAME.KEY=VALUE``, checked against ``options``, ...), the run's device
    (``str``), the torch threads of each cell and
    the driver's :class:`ganbench.execution.cell.WorkerState` (for an executor that runs cells in the
    driver's process). The executor follows :class:`ganbench.execution.executors.Executor`: ``start``,
    ``submit`` plans, ``next_finished`` rows, ``cancel``, ``close``; it runs each plan with
    :func:`ganbench.execution.cell.execute` wherever it likes and returns the row. ``in_process``: the
    executor runs cells in the driver's process (plugin objects given in-process then work).
    """

    name: str
    make: Callable[..., Any]
    description: str = ""
    in_process: bool = False
    reference: str = ""
    aliases: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggerSpec:
    """A logger the user can turn on with ``ganbench run --log NAME`` (TensorBoard, W&B, MLflow).

    The logging itself is done by the plugin's observer hooks (``ganbench_cell_started``,
    ``ganbench_step``, ... in :mod:`ganbench.hookspecs`), which act when ``NAME`` is in the ``log`` of
    the :class:`ganbench.observe.RunInfo` / :class:`ganbench.observe.CellInfo` they receive. ``requires``:
    modules the logger imports; when one is missing ``--log NAME`` is a one-line error that prints
    ``install`` (e.g. ``pip install 'ganbench[tensorboard]'``).
    """

    name: str
    description: str = ""
    requires: tuple[str, ...] = ()
    install: str = ""
    reference: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperRow:
    """A number a protocol's paper reports for one of its configurations: the row of ours it stands
    beside is the one of ``loss`` on ``model`` with ``model_options`` (those not given: any value), on
    ``dataset`` (None: the protocol's only data set). ``values``: ``{column: (mean, interval)}`` in the
    units of ganbench's column, the interval of the protocol's statistic (``None``: not reported);
    ``note``: how the paper's definition differs from the column's, where it does; ``settings``: what the
    row ran beyond the protocol's settings (PacGAN-k: a batch of 100 packs, ``batch_size`` 100k). A board
    says of cells that ran otherwise than these, the protocol's settings and its pinned options that they
    differ from the paper's configuration."""

    label: str
    model: str
    loss: str
    values: Mapping[str, tuple[float, float | None]]
    model_options: Mapping[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    note: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtocolSpec:
    """A paper's experimental protocol, pinned (``ganbench run --protocol NAME``).

    It fixes what the paper fixed: data sets and their options, models and their options, the losses it
    compares, ``settings`` (budget, batch, latent size, optimiser, evaluation sample counts), the seeds
    and metrics, and the statistic reported (``interval``: ``std``, ``se`` — standard error — or
    ``ci``). In the one precedence rule a protocol's settings sit below explicit user values and above
    the loss's and the model's recipes; ``loss_settings`` are its per-loss recipes (a paper that used
    other settings for one loss). ``paper`` names the table reproduced; ``results`` hold the paper's
    numbers (:class:`PaperRow`); ``budget`` is the paper's training length in ganbench's steps (one step:
    ``n_critic`` D updates and ``g_steps`` G updates — the paper's iteration), so a protocol run at fewer
    steps says its fraction. A *tier* (``tier_of``: the full protocol's name) is the same
    protocol at a pinned, affordable step count."""

    name: str
    description: str
    paper: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    losses: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    data_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    model_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    loss_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    loss_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    interval: str = "std"
    budget: int | None = None
    tier_of: str | None = None
    results: tuple[PaperRow, ...] = ()
    #: whose number ``budget`` is, as a board says it ("the released code's" where the paper states none)
    budget_of: str = "the paper's"
    reference: str = ""
    aliases: tuple[str, ...] = ()
