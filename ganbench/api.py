"""The Python API. The CLI is a thin layer over :func:`run`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UsageError
from ganbench.options import parse_assignments
from ganbench.plugins import load_plugins
from ganbench.suite import Suite, coerce_setting, load_suite_file, parse_seeds, split_names

OptionsArg = Mapping[str, Mapping[str, Any]] | Sequence[str] | None

DEFAULT_DATASETS = ("mnist5k",)
DEFAULT_SEEDS = (0, 1, 2)
RUNS_DIR = Path("results") / "runs"


def default_out(suite: Suite) -> Path:
    """``results/runs/<suite fingerprint>``: the same request maps to the same directory, so
    re-running a command resumes it."""
    return RUNS_DIR / f"run-{suite.fingerprint()}"


def stored_request(run_dir: str | Path) -> tuple[Suite, str, bool]:
    """What ``ganbench run --resume RUN_DIR`` runs: the suite, device type and determinism recorded
    in ``RUN_DIR/suite.json``."""
    from ganbench.store import RunStore

    stored, path = RunStore(run_dir).stored_suite()
    device, deterministic = stored.get("device", "auto"), stored.get("deterministic", False)
    if not isinstance(device, str) or not isinstance(deterministic, bool):
        key, value, expected = (("device", device, "a device name such as cpu or cuda")
                                if not isinstance(device, str) else ("deterministic", deterministic, "true or false"))
        raise UsageError(f"{path}: {key} is {value!r}; expected {expected}")
    return Suite.from_dict(stored, str(path)), device, deterministic


def build_suite(
    registry,
    *,
    models: str | Sequence[str] | None = None,
    losses: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    metrics: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    settings: Mapping[str, Any] | None = None,
    recipe: str | None = None,
    model_options: OptionsArg = None,
    loss_options: OptionsArg = None,
    data_options: OptionsArg = None,
    extractor: str | None = None,
    extractor_options: OptionsArg = None,
    suite_file: str | Path | None = None,
    protocol: str | None = None,
    sweep: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
    search: int | None = None,
    space: str | Mapping[str, Any] | None = None,
    search_seed: int | None = None,
) -> Suite:
    """Defaults: every registered model, loss and metric; data set ``mnist5k``; seeds 0,1,2; the
    ``paper`` recipe.

    Names may be aliases (``wasserstein``); the suite holds the registered names, so the same
    request always maps to the same cells. ``*_options`` are ``{name: {key: value}}`` or a list of
    ``"name.key=value"`` strings (the CLI form). A ``suite_file`` (TOML, see
    ``benchmarks/ring8-losses.toml``) gives the base values; explicit arguments override it per key
    (per setting, per plugin option, per sweep axis).

    ``sweep``: axes ``{key: [values]}`` or ``["lr_d=1e-4,2e-4", ...]``; ``search``: a number of points drawn
    from ``space`` (a preset name, a TOML file, or ``{key: {kind: args}}``) with ``search_seed`` (default 0);
    see :mod:`ganbench.sweeps`.
    """
    base = load_suite_file(suite_file) if suite_file is not None else {}
    if suite_file is not None:
        _check_file_values(registry, base, suite_file)
    chosen_protocol = protocol if protocol is not None else base.get("protocol")
    spec = registry.get("protocol", chosen_protocol) if chosen_protocol is not None else None
    if spec is not None:  # a protocol's grid and metrics are the request's defaults: what the user gives wins
        chosen_protocol = registry.canonical("protocol", chosen_protocol)
        base = {"datasets": list(spec.datasets), "models": list(spec.models), "losses": list(spec.losses),
                "seeds": list(spec.seeds), **({"metrics": list(spec.metrics)} if spec.metrics else {}), **base}

    def canonical(kind: str, names: list[str] | None) -> list[str] | None:
        return None if names is None else [registry.canonical(kind, n) for n in names]

    def opts(kind: str, flag: str, *values: OptionsArg) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for value in values:  # later values win
            for name, items in opts_table(registry, kind, flag, value).items():
                out.setdefault(name, {}).update(items)
        return out

    def pick(value: Any, key: str) -> Any:
        return value if value is not None else base.get(key)

    seeds = pick(seeds, "seeds")
    metrics = pick(metrics, "metrics")
    chosen = pick(extractor, "extractor") or "auto"
    def names(kind: str, value: Any, flag: str) -> list[str] | None:
        return canonical(kind, split_names(value, flag))

    from ganbench import sweeps

    axes = dict(base.get("sweep", {}))
    axes.update(sweeps.parse_sweep_args(sweep) if sweep is not None and not isinstance(sweep, Mapping)
                else dict(sweep or {}))
    chosen_space = space if space is not None else base.get("space")
    space_name, space_table = (None, {}) if chosen_space is None else (
        sweeps.load_space(chosen_space) if isinstance(chosen_space, str) else ("inline", dict(chosen_space)))
    given_datasets = names("dataset", pick(datasets, "datasets"), "--datasets")
    given_models = names("model", pick(models, "models"), "--models")
    given_losses = names("loss", pick(losses, "losses"), "--losses")

    suite = Suite(
        datasets=given_datasets if given_datasets is not None else list(DEFAULT_DATASETS),
        models=given_models if given_models is not None else registry.names("model"),
        losses=given_losses if given_losses is not None else registry.names("loss"),
        # no metrics is a request of its own (train only); no models, losses or data sets is not
        metrics=canonical("metric", split_names(metrics, "--metrics" if isinstance(metrics, str) and metrics.strip()
                                                else None)) if metrics is not None else registry.names("metric"),
        seeds=parse_seeds(seeds) if seeds is not None else list(DEFAULT_SEEDS),
        settings={k: v for k, v in {**base.get("settings", {}), **(settings or {})}.items() if v is not None},
        recipe=recipe or base.get("recipe", "paper"),
        model_options=opts("model", "--model-opt", base.get("model_options"), model_options),
        loss_options=opts("loss", "--loss-opt", base.get("loss_options"), loss_options),
        data_options=opts("dataset", "--data-opt", base.get("data_options"), data_options),
        extractor=chosen if chosen == "auto" else registry.canonical("extractor", chosen),
        extractor_options=opts("extractor", "--extractor-opt", base.get("extractor_options"), extractor_options),
        protocol=chosen_protocol,
        sweep=_sweep_values(registry, axes, "sweep key"),
        search=int(pick(search, "search") or 0),
        space=_space_values(registry, space_table, f"search space {space_name}") if space_table else {},
        space_name=space_name,
        search_seed=int(pick(search_seed, "search_seed") or 0),
    )
    if suite.search:  # a new request only: a stored one drawn before this check still resumes
        sweeps.check_search(sweeps.parse_space(suite.space, "search space"), suite.search)
    return suite


def _option_of(registry, key: str, where: str):
    """The declared option ``NAME.KEY`` names (a model's or a loss's), with the plugin's canonical name;
    (None, key) for a setting. A one-line error for a plugin or option that does not exist."""
    from ganbench.options import option_table

    name, dot, option = key.rpartition(".")
    if not dot:
        return None, key
    for kind in ("model", "loss"):
        try:
            canonical = registry.canonical(kind, name)
        except UsageError:  # not a name (or an alias) of this kind
            continue
        else:
            table = option_table(registry.get(kind, canonical).options)
            if option not in table:
                raise UsageError(f"{where} '{key}': {kind} '{canonical}' has no option '{option}'; its options: "
                                 f"{', '.join(table) or 'none'}")
            return table[option], f"{canonical}.{option}"
    raise UsageError(f"{where} '{key}': no model or loss is named '{name}' (models: {', '.join(registry.names('model'))}; "
                     f"losses: {', '.join(registry.names('loss'))})")


def _canonical_key(registry, axis: str, where: str) -> tuple[str, list[Any]]:
    from ganbench.sweeps import split_key

    found = [_option_of(registry, key, where) for key in split_key(axis)]
    return "+".join(k for _, k in found), [opt for opt, _ in found]


def _check_file_values(registry, base: Mapping[str, Any], path: str | Path) -> None:
    """The names and plugin option values a suite file gives (``base``, from :func:`load_suite_file`), checked
    against the installed plugins before anything is merged, so that an error names the file and the key (a
    value given on the command line is checked as it is merged, and its error names the flag)."""
    from ganbench import options

    def checked(key: str, check) -> None:
        try:
            check()
        except UsageError as exc:
            raise UsageError(f"suite file {path}: key '{key}': {exc}") from None

    for key, kind in (("datasets", "dataset"), ("models", "model"), ("losses", "loss"), ("metrics", "metric")):
        if key in base:
            checked(key, lambda kind=kind, key=key: [registry.canonical(kind, n) for n in split_names(base[key])])
    for key in ("protocol", "extractor"):
        if key in base and not (key == "extractor" and base[key] == "auto"):
            checked(key, lambda key=key: registry.get(key, base[key]))
    for key, kind in (("model_options", "model"), ("loss_options", "loss"), ("data_options", "dataset"),
                      ("extractor_options", "extractor")):
        for name, items in base.get(key, {}).items():  # each option's type and rules, as a cell will resolve it
            checked(f"{key.replace('_', '-')}.{name}", lambda kind=kind, name=name, items=items: options.resolve(
                kind, name, registry.get(kind, registry.canonical(kind, name)).options, [("user", items)]))
    if "sweep" in base:
        checked("sweep", lambda: _sweep_values(registry, base["sweep"], "sweep key"))
    if isinstance(base.get("space"), Mapping):
        checked("space", lambda: _space_values(registry, base["space"], "search space"))


def _sweep_values(registry, axes: Mapping[str, Sequence[Any]], where: str) -> dict[str, list[Any]]:
    """Sweep axes with plugin names canonical and option values coerced to each option's type (so a value
    has one cell id whether it came from the command line or a suite file); settings are coerced by the suite."""
    from ganbench.options import coerce_option
    from ganbench.sweeps import components, joined

    out: dict[str, list[Any]] = {}
    for axis, values in axes.items():
        key, opts = _canonical_key(registry, axis, where)
        if isinstance(values, (list, tuple)):
            parts = [components(axis, v) for v in values]
            for i, (opt, part) in enumerate(zip(opts, key.split("+"), strict=True)):
                if opt is not None:
                    for p in parts:
                        p[i] = coerce_option(opt, p[i], f"{where} '{part}'")
            values = [joined(p) for p in parts]
        out[key] = values
    return out


def _space_values(registry, space: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A search space with plugin names canonical and choices of plugin options coerced."""
    from ganbench.options import coerce_option
    from ganbench.sweeps import parse_space

    parse_space(space, where)
    out: dict[str, Any] = {}
    for axis, spec in space.items():
        key, opts = _canonical_key(registry, axis, where)
        (kind, args), = spec.items()
        for opt, part in zip(opts, key.split("+"), strict=True):
            if opt is None:
                continue
            integer = isinstance(opt.default, int) and not isinstance(opt.default, bool)
            if integer and kind in ("log-uniform", "uniform"):
                raise UsageError(f"{where}: key '{axis}': option '{part}' takes integers; give it an integer or "
                                 f"choice distribution, not {kind}")
            coerced = [coerce_option(opt, v, f"{where}: key '{axis}': option '{part}'") for v in args]  # bounds too
            if kind == "choice":
                args = coerced
        out[key] = {kind: list(args)}
    return out


def runner(
    models: str | Sequence[str] | None = None,
    losses: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    *,
    metrics: str | Sequence[str] | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    replicas: int | None = None,
    settings: Mapping[str, Any] | None = None,
    recipe: str | None = None,
    model_options: OptionsArg = None,
    loss_options: OptionsArg = None,
    data_options: OptionsArg = None,
    extractor: str | None = None,
    extractor_options: OptionsArg = None,
    suite: str | Path | None = None,
    protocol: str | None = None,
    sweep: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
    search: int | None = None,
    space: str | Mapping[str, Any] | None = None,
    search_seed: int | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    data_root: str | Path | None = None,
    plugins: Iterable[Any] = (),
    disable_plugins: Iterable[str] = (),
    loaded_plugins=None,
    reporter=None,
    checkpoint_every: int | None = None,
    fail_fast: bool = False,
    fresh: bool = False,
    deterministic: bool = False,
    executor: str = "auto",
    jobs: int | None = None,
    devices: str | Sequence[str] | None = None,
    threads: int | None = None,
    ray_address: str | None = None,
    gpus_per_cell: float | None = None,
    executor_options: OptionsArg = None,
    log: str | Sequence[str] = (),
):
    """The :class:`~ganbench.execution.session.Runner` of a request — the one composition root:
    :func:`run` and ``ganbench run`` both build their runner here. Arguments as :func:`run`;
    ``resume``: a run directory whose recorded request (suite.json) is run again (then no grid
    arguments; ``extractor_options`` may add local paths; ``device`` None keeps the recorded device);
    ``loaded_plugins``: plugins already loaded (the CLI's, with its ``-p`` options)."""
    from ganbench.device import resolve_device
    from ganbench.execution.executors import ExecutorConfig
    from ganbench.execution.session import Runner

    if resume is not None and fresh:
        raise UsageError(f"--resume continues the run in {resume}; --fresh would remove its results first: give one "
                         "of them (to retrain that request from scratch, run its command with --fresh)")
    pl = loaded_plugins if loaded_plugins is not None else load_plugins(extra=plugins, disabled=disable_plugins)
    if resume is not None:
        chosen, stored_device, stored_deterministic = stored_request(resume)
        if extractor_options:
            extra = opts_table(pl.registry, "extractor", "--extractor-opt", extractor_options)
            chosen.extractor_options = {**chosen.extractor_options, **{
                name: {**chosen.extractor_options.get(name, {}), **items} for name, items in extra.items()}}
        device = stored_device if device is None else device
        deterministic = deterministic or stored_deterministic
        target = Path(resume)
    else:
        merged = dict(settings or {})
        flags = {k: v for k, v in (("steps", steps), ("batch_size", batch_size), ("replicas", replicas)) if v is not None}
        for key, value in flags.items():
            if key in merged and coerce_setting(key, merged[key], "setting") != coerce_setting(key, value, "setting"):
                raise UsageError(f"--{key.replace('_', '-')} {value} and --set {key}={merged[key]} both set {key}: "
                                 "give one")
        merged.update(flags)
        chosen = build_suite(
            pl.registry, models=models, losses=losses, datasets=datasets, metrics=metrics, seeds=seeds,
            settings=merged, recipe=recipe, model_options=model_options, loss_options=loss_options,
            data_options=data_options, extractor=extractor, extractor_options=extractor_options, suite_file=suite,
            protocol=protocol, sweep=sweep, search=search, space=space, search_seed=search_seed,
        )
        target = Path(out) if out is not None else default_out(chosen)
    dev = resolve_device("auto" if device is None else device)
    if data_root is not None and not Path(data_root).expanduser().is_dir():
        raise UsageError(f"data root {data_root} is not an existing directory")
    root = Path(data_root).expanduser() if data_root is not None else None
    device_list = tuple(_items(devices, "--devices", "each entry is one worker; separate devices with single commas, "
                               "e.g. cuda:0,cuda:1")) if devices is not None else ()
    config = ExecutorConfig(jobs=jobs, devices=device_list, threads=threads, ray_address=ray_address,
                            gpus_per_cell=gpus_per_cell,
                            options=opts_table(pl.registry, "executor", "--executor-opt", executor_options))
    return Runner(pl, chosen, target, dev, reporter=reporter, data_root=root, checkpoint_every=checkpoint_every,
                  fail_fast=fail_fast, fresh=fresh, deterministic=deterministic, executor=executor,
                  executor_config=config,
                  log=_items(log, "--log", "separate loggers with single commas") if log not in ((), [], None) else [])


def _items(value: str | Iterable[str], flag: str, how: str) -> list[str]:
    """A comma-separated flag's (or a list's) items, each named: nothing named, or an empty item (a typo: one
    worker fewer than meant, a logger dropped), is a one-line error."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    names = split_names(items, flag)
    if len(names) != len(items):
        raise UsageError(f"{flag} {','.join(items)!r} has an empty item: {how}")
    return names


def run(
    models: str | Sequence[str] | None = None,
    losses: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Train and evaluate every cell of ``datasets × models × losses × seeds``; one row per cell.

    Mirrors ``ganbench run`` (keyword arguments as its flags): ``metrics``; ``steps``/``batch_size``/``replicas``
    are shortcuts for ``settings``; other settings (``n_critic``, ``lr_g``, ...) are listed in
    :data:`ganbench.suite.SETTINGS`. ``recipe="paper"`` (default) trains each loss with its paper's
    settings, ``"same"`` every loss with one shared recipe; explicit settings win in both.
    ``model_options``/``loss_options``/``data_options``: ``{"dcgan": {"norm": "layer"}}`` or
    ``["dcgan.norm=layer"]``. ``suite``: a suite file (TOML) whose values the other arguments
    override. ``sweep``, ``search``, ``space``, ``search_seed``: hyper-parameter points (see
    :func:`build_suite`). ``extractor``: the feature extractor of FID/KID/PR-DC (default ``auto``: per data set);
    ``extractor_options``: e.g. ``{"inception": {"weights": "/data/weights-inception-2015-12-05-6726825d.pth"}}``.
    ``plugins`` registers extra plugin objects; ``disable_plugins`` blocks plugins by name.
    Results are written under ``out`` (default ``results/runs/run-<fingerprint>``), which resumes;
    ``resume``: continue a run directory with its recorded request. ``device`` (default ``auto``).
    ``data_root``: where downloadable data sets live (default ``$GANBENCH_DATA_ROOT``, else
    ``<cache>/data``); it must exist when given. ``checkpoint_every`` (steps; default
    None: every :data:`ganbench.execution.cell.CHECKPOINT_SECONDS` of training; 0 = never), ``fail_fast``, ``fresh`` and
    ``deterministic``: as the ``ganbench run`` flags (see :class:`ganbench.execution.session.Runner`); a
    request that differs from what ``out`` holds raises :class:`~ganbench.errors.UsageError`
    unless ``fresh``. ``executor`` (``auto``, ``serial``, ``local``, ``ray`` or a plugin's), ``jobs``
    (worker processes of ``local``), ``devices`` (``"cuda:0,cuda:1"``, round-robin over the workers),
    ``threads`` (torch threads per cell; default the machine's // jobs), ``ray_address`` and
    ``gpus_per_cell`` (Ray), ``executor_options`` (a plugin executor's options: ``{"slurm": {"partition": "gpu"}}``
    or ``["slurm.partition=gpu"]``): see docs/scale.md. Plugin objects given in ``plugins`` must be
    importable modules for executors that start processes.
    """
    return runner(models, losses, datasets, seeds, **kwargs).run()


def opts_table(registry, kind: str, flag: str, value: OptionsArg) -> dict[str, dict[str, Any]]:
    """``{name: {key: value}}`` from a mapping or ``name.key=value`` strings, names canonical."""
    out: dict[str, dict[str, Any]] = {}
    if not value:
        return out
    table = parse_assignments(value, flag) if not isinstance(value, Mapping) else value
    for name, items in table.items():
        canonical = registry.canonical(kind, name)
        given = out.setdefault(canonical, {})
        for key, item in items.items():  # an alias and its name setting one option: the last would win unseen
            if key in given and str(given[key]) != str(item):
                raise UsageError(f"{flag} sets {canonical}.{key} twice, by two of its names ({given[key]} and "
                                 f"{item}): give it once")
            given[key] = item
    return out
