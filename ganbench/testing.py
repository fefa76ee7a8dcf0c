"""Contract tests for plugin authors: ``pytest_plugins = ["ganbench.testing"]`` in a ``conftest.py``.

Fixtures (all on the CPU, tiny, offline):

- ``ganbench_plugins``: every installed plugin loaded through the real entry points (session);
- ``ganbench_registry``: its registry;
- ``ganbench_data``: ``ganbench_data("image")`` → 256 real MNIST digits (embedded ``mnist5k``;
  ``"image32"``: at 32 px), ``ganbench_data("vector")`` → 256 points of ``ring8``.

Check functions, each raising ``AssertionError`` with the plugin's name and what is wrong:

- :func:`check_loss` — D and G losses are finite scalars for ordinary and very confident scores,
  gradients reach D (and never G) from D's loss and reach G from G's loss, penalty included;
- :func:`check_model` — G's output shape and the value range of its samples (eval mode), D returns raw
  scores ``[N]`` (its outputs on varied inputs leave [0, 1], so no sigmoid, neither a module nor a call
  in ``forward``), WGAN-GP's gradient penalty can differentiate through D; a conditional model (``condition="class"``)
  is called ``G(z, y)`` / ``D(x, y)``, and both outputs must change with ``y`` (the labels reach the
  networks), an auxiliary classifier's logits are ``[N, num_classes]``; a translation model
  (``task="translation"``) is checked on 256 pairs of ``edges2digits``: ``G(a)`` gives domain B's shape,
  D may score patches (``[N, ...]``), and a D that looks at the input (``condition="source"``) changes
  with it;
- :func:`check_training` — a few real training steps of a model with a loss (its paper recipe) end
  ``ok`` with finite history, and (``repeat``, the default) a second run with the same seed gives
  identical numbers;
- :func:`check_dataset` — ``load()`` returns ``Data`` consistent with its ``DataInfo`` (shape,
  range, labels, fingerprint) and the declared listing fields;
- :func:`check_metric` — ``compute`` on a tiny trained generator returns the primary column as a
  finite number, and the same inputs give the same values;
- :func:`check_logger` — a tiny real run with ``--log NAME`` ends with no observer failure, the
  logger wrote only into its folder (``RUN_DIR/logs/NAME``), and ``--fresh`` leaves no duplicate.

The fixtures and checks need pytest: ``pip install 'ganbench[test]'``.

A plugin package's whole test can be::

    from ganbench.testing import check_loss, check_training

    def test_my_loss(ganbench_registry):
        check_loss(ganbench_registry, "rsgan")
        check_training(ganbench_registry, "vanilla", "rsgan")
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import pytest
except ImportError as exc:  # pragma: no cover - the test extra installs it
    raise ImportError("ganbench.testing is a pytest plugin and needs pytest: pip install 'ganbench[test]' (or "
                      "pip install pytest)") from exc
import torch

#: settings of the few real steps :func:`check_training` runs
TINY = {"steps": 3, "batch_size": 16, "latent_dim": 8, "sample_every": 0, "eval_samples": 64}


@pytest.fixture(scope="session")
def ganbench_plugins():
    from ganbench.plugins import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def ganbench_registry(ganbench_plugins):
    return ganbench_plugins.registry


@pytest.fixture(scope="session")
def ganbench_data(ganbench_registry):
    cache: dict[str, Any] = {}

    def get(modality: str = "vector"):
        if modality not in cache:
            cache[modality] = small_data(ganbench_registry, modality)
        return cache[modality]

    return get


@functools.lru_cache(maxsize=16)
def small_data(registry, modality: str = "vector", n: int = 256):
    """``n`` real MNIST digits (``image``) or ``ring8`` points (``vector``); loaded once per registry."""
    from ganbench.specs import Data

    if modality == "vector":
        return registry.get("dataset", "ring8").load(size=n)
    if modality in ("image", "image32"):
        full = registry.get("dataset", "mnist5k").load(**({"image_size": 32} if modality == "image32" else {}))
        return Data(full.info, full.x[:n], full.y[:n])
    if modality == "translation":  # paired: every translation model takes it
        full = registry.get("dataset", "edges2digits").load()
        return Data(full.info, full.x[:n], full.y[:n], source=full.source[:n], source_y=full.source_y[:n])
    raise ValueError(f"modality is 'vector', 'image', 'image32' or 'translation', not {modality!r}")


def data_for(registry, model: str):
    """The first of (256 mnist5k digits at 28 px, the same at 32 px, 256 ring8 points) that ``model``
    supports: the data :func:`check_model` and :func:`check_training` use; for a translation model, 256 pairs
    of the embedded ``edges2digits``."""
    spec = registry.get("model", model)
    for modality in ("translation",) if spec.task == "translation" else ("image", "image32", "vector"):
        data = small_data(registry, modality)
        if spec.mismatch(data.info) is None and spec.supports(data.info) is None:
            return data
    raise AssertionError(f"model {model} supports neither images (mnist5k at 28 or 32 px) nor vectors (ring8)")


def build(registry, model: str, data, seed: int = 0, **options: Any):
    """``(G, D)`` of ``model`` for ``data`` with latent size 8 and default options over ``options`` (a
    conditional model also gets ``num_classes``, as the runner builds it)."""
    from ganbench.options import defaults
    from ganbench.train import setup

    spec = registry.get("model", model)
    torch.manual_seed(seed)
    built = setup.networks(spec, data.info, {**TINY, "g_ema": 0.0}, {**defaults(spec.options), **options})
    return built.G, built.D


def networks(registry, model: str, G, D):
    """``G`` and ``D`` called as the runner calls them (:class:`ganbench.conditioning.Networks`)."""
    from ganbench.conditioning import Networks

    spec = registry.get("model", model)
    return Networks(G, D, spec.condition is not None, g_conditional=spec.conditional)


def batch(data, G, n: int, seed: int = 0):
    """``(real, z, y)`` of ``n`` samples as the training step gives them to G and D: real samples, noise and
    (conditional) labels; on translation data, domain B's images, G's inputs (domain A's) and, for a D
    that looks at the inputs, those again — both ways (``G.both_ways``) packed as ``cat(B, A)`` and
    ``cat(A, B)``."""
    if data.info.task == "translation":
        from ganbench.train.task import pack

        a = data.source[:n]
        real, z, _ = pack(a, data.x[:n], bool(getattr(G, "both_ways", False)), conditional=True)
        return real, z, a  # D's y when it looks at the input (else unused)
    z = torch.randn(n, TINY["latent_dim"], generator=torch.Generator().manual_seed(seed))
    return data.x[:n], z, labels_for(data, n)


def labels_for(data, n: int, seed: int = 0):
    """``n`` class labels of ``data`` (uniform over its classes, seeded), for calling conditional networks."""
    return torch.randint(0, max(1, data.info.num_classes), (n,), generator=torch.Generator().manual_seed(seed))


def check_loss(registry, name: str, model: str = "vanilla", **options: Any) -> None:
    """The loss contract (see the module doc), with ``model``'s networks (its default options over
    ``options``) on data it supports."""
    from ganbench.train import BoundLoss

    bound = BoundLoss(registry.get("loss", name))
    for scale in (1.0, 30.0):  # ordinary and very confident discriminators
        d_real = torch.linspace(-1, 1, 16) * scale
        d_fake = torch.linspace(1, -1, 16) * scale
        for what, value in (("d_loss", bound.d_loss(d_real, d_fake)), ("g_loss", bound.g_loss(d_fake, d_real))):
            assert value.dim() == 0, f"{name}: {what} must be a scalar, got shape {tuple(value.shape)}"
            assert torch.isfinite(value), f"{name}: {what} = {value.item()} at score scale {scale}"
    data = data_for(registry, model)
    G, D = build(registry, model, data, **options)
    nets = networks(registry, model, G, D)
    bound = BoundLoss(registry.get("loss", name), generator=torch.Generator().manual_seed(0))
    real, z, y = batch(data, G, 16, seed=1)
    d_loss = bound.d_loss(nets.d(real, y)[0], nets.d(nets.g(z, y).detach(), y)[0])
    try:
        penalty = bound.penalty(nets.d_scores(y), real, nets.g(z, y).detach())
    except TypeError as exc:  # what it returned is no scalar
        raise AssertionError(f"{name}: {exc}") from None
    (d_loss + (penalty if penalty is not None else 0)).backward()
    d_grads = [p.grad for p in D.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in d_grads), f"{name}: D lacks finite gradients"
    assert any(g.abs().sum() > 0 for g in d_grads), f"{name}: D's gradients are all zero"
    assert all(p.grad is None for p in G.parameters()), f"{name}: D's loss must not reach G"
    D.zero_grad(set_to_none=True)
    bound.g_loss(nets.d(nets.g(z, y), y)[0], nets.d(real, y)[0]).backward()
    g_grads = [p.grad for p in G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in g_grads), f"{name}: G lacks finite gradients"
    assert any(g.abs().sum() > 0 for g in g_grads), f"{name}: G's gradients are all zero"


def check_model(registry, name: str, **options: Any) -> None:
    """The model contract (see the module doc) on the first of digits/ring8 that it supports."""
    from ganbench.train import BoundLoss

    data = data_for(registry, name)
    G, D = build(registry, name, data, **options)
    nets = networks(registry, name, G, D)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in D.modules()), f"{name}: D must return raw scores"
    _raw_scores(name, nets, data)
    real, z, y = batch(data, G, 8)
    x = nets.g(z, y)
    n = len(z)  # 8, or 16 for a translation G that packs both ways
    assert x.shape == (n, *data.info.shape), f"{name}: G gave {tuple(x.shape)}, expected ({n}, {data.info.shape})"
    if data.info.value_range is not None:  # the samples evaluation draws: G in eval mode (a G may leave the
        lo, hi = data.info.value_range      # range while training, as StyleGAN2's does, and clamp its samples)
        G.eval()
        with torch.no_grad():
            x_eval = nets.g(z, y)
        G.train()
        assert x_eval.min() >= lo and x_eval.max() <= hi, \
            f"{name}: G's samples (eval mode) leave the data range {data.info.value_range}"
    out = D(x, y) if nets.conditional else D(x)
    scores, logits = nets.d(x, y)
    patches = data.info.task == "translation"  # a translation D may score patches: [N, ...]
    if not isinstance(out, (tuple, list)):
        assert (out.shape[0] == n) if patches else out.shape == (8,), \
            f"{name}: D must return [N] scores{' (or [N, ...] patch scores)' if patches else ''}, got {tuple(out.shape)}"
    assert (len(scores) % n == 0) if patches else scores.shape == (8,), \
        f"{name}: D must return [N] scores, got {tuple(scores.shape)}"
    assert torch.isfinite(scores).all(), f"{name}: D's scores are not finite"
    if logits is not None:
        k = data.info.num_classes
        assert tuple(logits.shape) == (8, k), \
            f"{name}: D's auxiliary class logits are {tuple(logits.shape)}, expected (8, {k})"
    if nets.conditional and not patches:
        _uses_labels(name, nets, data, z)
    if nets.conditional and patches:
        with torch.no_grad():
            same = torch.allclose(nets.d(real, y)[0], nets.d(real, data.source[8:16])[0])
        assert not same, f"{name}: D(x, a) does not depend on a: G's inputs do not reach D"
    gp = BoundLoss(registry.get("loss", "wgan-gp")).penalty(nets.d_scores(y), real, x.detach())
    gp.backward()
    assert torch.isfinite(gp), f"{name}: the gradient penalty through D is not finite"


def _uses_labels(name: str, nets, data, z) -> None:
    """A conditional model's labels must reach both networks: G's samples and D's scores (or its class
    logits, for an AC-GAN D that classifies instead of taking y) change when only ``y`` changes — or,
    for a network initialised to ignore the class (conditional BatchNorm starts at γ = 1, β = 0 for
    every class), the gradients of its output do: y selects which parameters learn."""
    k = data.info.num_classes
    y0 = torch.zeros(len(z), dtype=torch.long)
    y1 = torch.full((len(z),), k - 1, dtype=torch.long)
    x = data.x[: len(z)]

    def reaches(module, out0, out1, call) -> bool:
        if not torch.allclose(out0, out1):
            return True
        grads = []
        for y in (y0, y1):
            module.zero_grad(set_to_none=True)
            call(y).sum().backward()
            grads.append([p.grad.clone() if p.grad is not None else None for p in module.parameters()])
        module.zero_grad(set_to_none=True)
        return any((a is None) != (b is None) or (a is not None and not torch.allclose(a, b))
                   for a, b in zip(*grads, strict=True))

    was = nets.G.training, nets.D.training
    nets.G.eval(), nets.D.eval()  # no dropout or batch statistics: only y differs between the calls
    try:
        with torch.no_grad():
            g0, g1 = nets.g(z, y0), nets.g(z, y1)
            (s0, c0), (s1, _) = nets.d(x, y0), nets.d(x, y1)
        assert reaches(nets.G, g0, g1, lambda y: nets.g(z, y)), \
            f"{name}: G(z, y) does not depend on y: the labels do not reach G"
        if c0 is None:  # an AC-GAN D classifies x instead of taking y
            assert reaches(nets.D, s0, s1, lambda y: nets.d(x, y)[0]), \
                f"{name}: D(x, y) does not depend on y: the labels do not reach D"
    finally:
        nets.G.train(was[0]), nets.D.train(was[1])


def _raw_scores(name: str, nets, data) -> None:
    """D's outputs on 192 varied inputs — real samples, uniform noise over the data's range, G's samples,
    and each ×10 — must leave [0, 1]: scores that never do are probabilities, whether the sigmoid is a
    module or a ``torch.sigmoid`` call in ``forward``."""
    gen = torch.Generator().manual_seed(1)
    lo, hi = data.info.value_range or (-3.0, 3.0)
    real, z, y = batch(data, nets.G, 32, seed=2)
    noise = torch.rand(len(real), *data.info.shape, generator=gen) * (hi - lo) + lo
    y = labels_for(data, 96) if data.info.task != "translation" else torch.cat([y] * 3)
    with torch.no_grad():
        fake = nets.g(z, y[: len(z)])
        xs = torch.cat([real, noise, fake])
        was = nets.D.training
        nets.D.eval()
        try:
            scores = torch.cat([nets.d(xs, y)[0], nets.d(xs * 10, y)[0]])
        finally:
            nets.D.train(was)
    assert not ((scores >= 0) & (scores <= 1)).all(), \
        f"{name}: D's scores of {len(scores)} varied inputs all lie in [0, 1]: D must return raw scores (logits), " \
        "not probabilities (no sigmoid in forward)"


def check_training(registry, model: str, loss: str, steps: int = TINY["steps"], seed: int = 0, repeat: bool = True,
                   **options: Any) -> None:
    """A few real steps with the loss's paper recipe end ``ok``; with ``repeat``, a second run of the same
    seed gives the same numbers. ``options``: model options over its defaults (e.g. a small width for a
    large model)."""
    from ganbench import seeding
    from ganbench.options import option_table
    from ganbench.suite import resolve_settings
    from ganbench.train import run_training

    loss_spec = registry.get("loss", loss)
    model_spec = registry.get("model", model)
    settings, _ = resolve_settings({**TINY, "steps": steps}, loss_spec.settings, model_spec.settings)
    usable = {k: v for k, v in loss_spec.model_options.items() if k in option_table(model_spec.options)}
    data = data_for(registry, model)
    runs = []
    conditional = model_spec.conditional
    for _ in range(2 if repeat else 1):
        G, D = build(registry, model, data, seed=seed, **{**usable, **options})
        torch.manual_seed(seed)
        noise = (data.source[:64] if data.info.task == "translation" else
                 torch.randn(64, TINY["latent_dim"], generator=seeding.generator(seed, "eval")))
        result = run_training(G, D, loss_spec, data, settings, seed=seed, device=torch.device("cpu"),
                              eval_noise=noise, conditional=model_spec.condition is not None,
                              eval_labels=labels_for(data, 64) if conditional else None)
        assert result.status == "ok", f"{model}/{loss}: {result.status}: {result.message}"
        assert len(result.history) == steps
        for rec in result.history:
            assert all(torch.isfinite(torch.tensor(float(v))) for v in rec.values()), f"{model}/{loss}: {rec}"
        runs.append(result.history)
    assert runs[0] == runs[-1], f"{model}/{loss}: the same seed gave different training numbers"


def check_dataset(registry, name: str, root=None, **options: Any) -> None:
    """``load`` returns data consistent with its ``DataInfo`` and with the spec's declared fields."""
    from ganbench import paths
    from ganbench.specs import Data

    spec = registry.get("dataset", name)
    data = spec.load(root=root if root is not None else paths.data_root(), **options)
    assert isinstance(data, Data), f"{name}: load() must return ganbench.specs.Data"
    info = data.info
    assert data.x.dtype == torch.float32 and tuple(data.x.shape[1:]) == tuple(info.shape), \
        f"{name}: x is {data.x.dtype} {tuple(data.x.shape)}, info.shape {info.shape}"
    assert len(data.x) == info.size, f"{name}: info.size {info.size} != {len(data.x)} samples"
    if info.value_range is not None:
        lo, hi = info.value_range
        assert data.x.min() >= lo and data.x.max() <= hi, f"{name}: samples leave value_range {info.value_range}"
    if info.num_classes:
        assert data.y is not None and len(data.y) == len(data.x), f"{name}: labelled data needs y of the same length"
        assert 0 <= int(data.y.min()) and int(data.y.max()) < info.num_classes, f"{name}: labels out of range"
    assert info.fingerprint, f"{name}: info.fingerprint must identify the data (it keys caches and reports)"
    problem = Data.problem(data)  # a translation set's domain A and pairing too
    assert problem is None, f"{name}: {problem}"
    if info.task == "translation" and info.value_range is not None:
        lo, hi = info.value_range
        for split in (data.source, data.source_test):
            assert split is None or (split.min() >= lo and split.max() <= hi), f"{name}: domain A leaves value_range"
    for field in ("modality", "num_classes", "task"):
        declared = getattr(spec, field)
        if declared is not None and not options:
            assert declared == getattr(info, field), f"{name}: spec.{field} {declared} != loaded {getattr(info, field)}"


def check_metric(registry, name: str, dataset: str = "ring8") -> None:
    """``compute`` on a tiny generator trained for a few real steps (its real history) returns what the
    runner accepts — new columns only, each a number, text, true/false or None — with the primary
    column a finite number (or true/false); a history metric's numbers are all finite, and it also
    computes for a diverged cell; the same inputs give the same values. A conditional metric is
    computed on the built-in conditional ``cgan``, with the labels its samples were asked for."""
    import math

    from ganbench.errors import CellFailure
    from ganbench.evaluation import EvalContext, resolve_extractor
    from ganbench.execution.cell import metric_values
    from ganbench.train import generate, run_training

    spec = registry.get("metric", name)
    translation = getattr(spec, "task", None) == "translation"  # on edges2digits' pairs, with a tiny CycleGAN
    if translation or dataset in ("ring8", "mnist5k"):
        data = small_data(registry, "translation" if translation else "vector" if dataset == "ring8" else "image")
    else:  # the data set named, its first 256 samples
        from ganbench import paths
        from ganbench.specs import Data

        full = registry.get("dataset", dataset).load(root=paths.data_root())
        data = Data(full.info, full.x[:256], full.y[:256] if full.y is not None else None)
    reason = spec.supports(data.info)
    assert reason is None, f"{name}: does not support {data.info.name} ({reason}); pass a dataset it supports"
    conditional = bool(getattr(spec, "conditional", False))
    model = ("cyclegan" if translation else "cgan" if conditional else "vanilla" if data.info.modality == "vector"
             else "dcgan")
    G, D = build(registry, model, data, **({"width": 4, "blocks": 1} if translation else {}))
    n = max(200, spec.samples)
    noise = (data.source[:n] if translation else
             torch.randn(n, TINY["latent_dim"], generator=torch.Generator().manual_seed(0)))
    labels = labels_for(data, n) if conditional else None
    trained = run_training(G, D, registry.get("loss", "nonsat"), data, {**_settings(), "steps": 4}, seed=0,
                           device=torch.device("cpu"), eval_noise=noise[:64], conditional=conditional,
                           eval_labels=labels[:64] if conditional else None)
    assert trained.status == "ok" and len(trained.history) == 4
    extractor = resolve_extractor(registry, "auto", data.info)[0]
    inputs = None
    if translation:
        from ganbench.evaluation import translation_inputs
        from ganbench.train.task import translate_back

        inputs = translation_inputs(data, n)
        inputs.back = translate_back(G, torch.device("cpu"))
    make = functools.partial(EvalContext, data=data, device=torch.device("cpu"), n_samples=200, registry=registry,
                             extractor_name=extractor, labels=labels, translation=inputs,
                             sample=lambda k: generate(G, noise[:k], torch.device("cpu"),
                                                       y=labels[:k] if conditional else None),
                             history=trained.history, trajectory=[], status="ok")
    if spec.history:  # a trajectory as eval_every writes it: the other metrics' values at three steps
        point = {}
        for _, other, _ in registry.items("metric"):
            if (not other.history and not getattr(other, "conditional", False) and other.supports(data.info) is None
                    and getattr(other, "task", None) in (None, data.info.task)):
                point.update({k: v for k, v in other.compute(make()).items() if isinstance(v, (int, float))})
        make = functools.partial(make, trajectory=[{"step": s, **point} for s in (2, 3, 4)])

    def computed(ctx) -> dict:
        try:
            return metric_values(f"metric '{name}'", spec.compute(ctx), metric=spec)
        except CellFailure as exc:
            raise AssertionError(str(exc)) from exc

    first, second = computed(make()), computed(make())
    value = first.get(spec.primary)
    assert isinstance(value, (int, float)), f"{name}: the primary column '{spec.primary}' must be a number, got {value!r}"
    assert math.isfinite(float(value)), f"{name}: {spec.primary} = {value}"
    if spec.history:  # a finite history gives finite numbers
        bad = {k: v for k, v in first.items() if isinstance(v, float) and not math.isfinite(v)}
        assert not bad, f"{name}: non-finite values from a finite history: {bad}"
        diverged = computed(make(status="diverged", diverged_at=4, sample=None))
        assert spec.primary in diverged, f"{name}: no '{spec.primary}' for a diverged cell"
    same = {k: v for k, v in first.items() if not (isinstance(v, float) and math.isnan(v))}
    assert same == {k: v for k, v in second.items() if k in same}, f"{name}: the same inputs gave other values"


def _settings() -> dict[str, Any]:
    """The full training settings of :data:`TINY` (the defaults below it)."""
    from ganbench.suite import GLOBAL_DEFAULTS

    return {**GLOBAL_DEFAULTS, **TINY}


#: what a run directory holds of ganbench's own (a logger writes elsewhere: into its log_dir)
_GANBENCH_FILES = ("cells", "references", "samples", "suite.json", "environment.json", "results.csv", ".lock")


def check_logger(registry, name: str, run_dir, where: str | None = None, dataset: str = "ring8",
                 plugins: tuple = ()) -> None:
    """The logger contract on a tiny real run (2 seeds × 3 steps of ``vanilla``/``nonsat`` on
    ``dataset``, ``--log NAME``) into ``run_dir``: no row carries an observer failure; everything
    in the run directory that is not ganbench's is inside the logger's folder (``where``, default
    ``RUN_DIR/logs/NAME``: :meth:`ganbench.observe.CellInfo.log_dir`) and the logger wrote something
    there; the same run again with ``--fresh`` leaves as much there as the first (an appending logger
    whose files ``--fresh`` did not remove would have doubled them). ``plugins``: plugin objects to load
    beside the installed ones (a logger under test that is not installed)."""
    from pathlib import Path

    import ganbench
    from ganbench.observe import log_dir

    name = registry.canonical("logger", name) if not plugins else name  # the run checks the name too
    run_dir = Path(run_dir)
    folder = run_dir / where if where is not None else log_dir(run_dir, name)

    def run() -> int:
        table = ganbench.run(models="vanilla", losses="nonsat", datasets=dataset, seeds=[0, 1], metrics="",
                             settings={"steps": 3, "batch_size": 16, "sample_every": 0}, device="cpu", out=run_dir,
                             log=[name], fresh=True, checkpoint_every=0, plugins=plugins)
        for row in table.to_dict("records"):
            message = str(row.get("message") or "")
            assert "observer plugin" not in message, f"logger {name}: {message}"
            assert row["status"] == "ok", f"logger {name}: cell {row['cell_id']} {row['status']}: {message}"
        stray = [p for p in run_dir.iterdir() if p.name not in _GANBENCH_FILES and not folder.is_relative_to(p)]
        assert not stray, (f"logger {name} wrote {', '.join(p.name for p in stray)} into the run directory; a logger "
                           f"writes only into {folder.relative_to(run_dir)} (CellInfo.log_dir / RunInfo.log_dir)")
        files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        assert files, f"logger {name} wrote nothing into {folder}"
        return sum(p.stat().st_size for p in files)

    first = run()
    second = run()
    assert second <= 1.1 * first + 1024, (f"logger {name}: {second} bytes after the same run with --fresh, {first} after "
                                           "the first: it keeps files --fresh does not remove (write into its log_dir)")
