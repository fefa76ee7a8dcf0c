"""The ``ganbench`` command line: a thin layer over the Python API."""

from __future__ import annotations

import fnmatch
import io
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from ganbench import __version__
from ganbench.console import UNBOUNDED, make_console, plain
from ganbench.errors import GanbenchError, UsageError, one_line
from ganbench.registry import PLURALS, normalize_kind
from ganbench.suite import SETTINGS, split_names

EXIT_USAGE = 2
EXIT_FAILED_CELLS = 1


class GanbenchGroup(click.Group):
    """Turns every GanbenchError, and click's own errors in subcommand options, into one line on
    stderr and exit status 2 (3 for a run whose output could not be written: StorageError)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        """click's own main, except that an error in the group's options (``ganbench --bogus``) is one
        line too, like every other bad input, instead of click's usage block."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C (or SIGTERM) outside a run's own handling, e.g. while plugins load
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GanbenchError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
        ctx.exit(EXIT_USAGE)


def _plugins(ctx: click.Context):
    from ganbench.plugins import load_plugins

    obj = ctx.find_root().obj
    if "plugins" not in obj:
        obj["plugins"] = load_plugins(disabled=obj["disabled"], enabled=obj["enabled"], autoload=obj["autoload"])
        for broken in obj["plugins"].broken:  # the other plugins work; a name it would provide is unknown
            click.echo(f"Warning: {broken.message()}", err=True)
        for text in obj["plugins"].warnings:
            click.echo(f"Warning: {text}", err=True)
    return obj["plugins"]


def _parse_plugin_opts(values: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``-p no:NAME`` blocks, ``-p NAME`` loads NAME even with autoloading off: (blocked, enabled)."""
    blocked, enabled = [], []
    for v in values:
        name = v[3:] if v.startswith("no:") else v
        if not name:
            raise click.BadParameter(f"expected NAME or no:NAME, got {v!r}", param_hint="-p")
        (blocked if v.startswith("no:") else enabled).append(name)
    return blocked, enabled


@click.group(cls=GanbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganbench")
@click.option("-p", "plugin_opts", multiple=True, metavar="no:NAME|NAME",
              help="-p no:NAME blocks the installed plugin NAME; -p NAME loads it even with autoloading off "
              "(repeatable; like pytest's -p). GANBENCH_DISABLE_PLUGINS takes a comma-separated block list too.")
@click.option("--disable-plugin-autoload", is_flag=True,
              help="Load no installed plugin except those named with -p NAME (the built-ins are plugins too: "
              "-p builtin-models -p builtin-losses ...). Same as GANBENCH_DISABLE_PLUGIN_AUTOLOAD=1.")
@click.pass_context
def cli(ctx: click.Context, plugin_opts: tuple[str, ...], disable_plugin_autoload: bool) -> None:
    """ganbench: train every combination of GAN models, losses and datasets with fixed seeds,
    evaluate them and compare them in tables."""
    ctx.ensure_object(dict)
    ctx.obj["disabled"], ctx.obj["enabled"] = _parse_plugin_opts(plugin_opts)
    ctx.obj["autoload"] = False if disable_plugin_autoload else None


SETTINGS_HELP = "; ".join(f"{k} (default {o.default!r})" for k, o in SETTINGS.items())


def _parse_set(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {v!r}", param_hint="--set")
        if key.strip() in out and out[key.strip()] != val.strip():  # the last would win unseen
            raise click.BadParameter(f"{key.strip()} is set twice ({out[key.strip()]} and {val.strip()}): give it once",
                                     param_hint="--set")
        out[key.strip()] = val.strip()
    return out


@cli.command()
@click.option("--models", "-m", metavar="A,B", help="Models to train (default: every registered model).")
@click.option("--losses", "-l", metavar="A,B", help="Losses to train with (default: every registered loss).")
@click.option("--datasets", "-d", metavar="A,B", help="Data sets (default: mnist5k, embedded and offline).")
@click.option("--metrics", metavar="A,B", help="Metrics to compute (default: every registered metric that applies).")
@click.option("--seeds", "-s", metavar="0,1,2", help="Seeds; each fixes weights, data order, training and "
              "evaluation noise identically for every loss (default: 0,1,2). Ranges like 0-4 work.")
@click.option("--steps", type=int, help=f"Generator updates per cell (default {SETTINGS['steps'].default}).")
@click.option("--batch-size", type=int, help=f"Batch size (default {SETTINGS['batch_size'].default}).")
@click.option("--replicas", type=int, metavar="K", help="Train up to K seeds of each (data set, model, loss) as one "
              "vectorised program (torch.func): each seed still has its own cell, row and random streams; a model or "
              "setting that cannot be vectorised says why in the row and trains its seeds one by one. Same as --set "
              "replicas=K (default 1).")
@click.option("--amp", type=click.Choice(SETTINGS["amp"].choices), help="Mixed precision of the training step: bf16 "
              "autocast of the forward passes and losses (for GPUs). Same as --set amp=... (default none).")
@click.option("--compile", "compile_mode", type=click.Choice(SETTINGS["compile"].choices), help="torch.compile G's "
              "and D's forward passes in the step with this mode (reduce-overhead: CUDA graphs on a GPU). Same as --set "
              "compile=... (default none).")
@click.option("--cuda-graphs", "cuda_graphs", is_flag=True, default=False, help="Capture each training step as CUDA "
              "graphs and replay them (a GPU; not with --compile). Same as --set cuda_graphs=true.")
@click.option("--set", "set_opts", multiple=True, metavar="KEY=VALUE",
              help=f"Override a training setting for every cell (repeatable). Settings: {SETTINGS_HELP}.")
@click.option("--sweep", "sweep", multiple=True, metavar="KEY=V1,V2",
              help="Sweep a setting (lr_d=1e-4,2e-4,4e-4) or a model's or loss's option (dcgan.norm=batch,spectral) as a "
              "grid axis (repeatable: the cartesian product). Keys joined by + move together: one value for all "
              "(lr_g+lr_d=1e-4,2e-4) or one each (pacgan.pack+batch_size=1:100,2:200); values holding a comma are "
              "separated by ';'. Every point is a cell of its own.")
@click.option("--search", type=int, metavar="N", help="Budgeted random search: N points drawn from --space (the same "
              "points for every loss and model, and on every re-run).")
@click.option("--space", metavar="FILE|PRESET", help="The search space of --search: a TOML file of KEY = {log-uniform|"
              "uniform|integer|choice = [...]} or a preset ('ganbench list spaces').")
@click.option("--search-seed", type=click.IntRange(0), metavar="S", help="Seed of the search's points (default 0).")
@click.option("--suite", "suite_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.toml",
              help="A suite file (TOML: datasets, models, losses, seeds, metrics, recipe, [settings], "
              "[loss-options.NAME], [model-options.NAME], [data-options.NAME]); options given here override it.")
@click.option("--protocol", metavar="NAME", help="Follow a paper's protocol, pinned ('ganbench list protocols'): its "
              "data sets, models, losses, seeds, metrics, options and settings are this request's defaults; explicit "
              "values still win (explicit > protocol > the loss's paper recipe > the model's > defaults).")
@click.option("--paper-settings/--same-settings", "paper", default=None,
              help="--paper-settings (default): each loss trains with its paper's recipe (e.g. WGAN: RMSprop, "
              "lr 5e-5, 5 critic steps; WGAN-GP: Adam 1e-4, betas 0/0.9, layer-norm critic). --same-settings: "
              "one shared recipe (model settings, then the defaults) for a controlled comparison. "
              "Default: the suite file's recipe, else --paper-settings. "
              "Explicit --set/--steps/--model-opt values win in both. See 'ganbench list losses -v'.")
@click.option("--model-opt", "model_opts", multiple=True, metavar="MODEL.KEY=VALUE",
              help="A model option, e.g. dcgan.norm=spectral (repeatable; 'ganbench list models -v' shows them).")
@click.option("--loss-opt", "loss_opts", multiple=True, metavar="LOSS.KEY=VALUE",
              help="A loss hyper-parameter, e.g. label-smooth.real=0.8 (repeatable; see 'ganbench list losses -v').")
@click.option("--data-opt", "data_opts", multiple=True, metavar="DATASET.KEY=VALUE",
              help="A data set option, e.g. ring8.std=0.02 (repeatable; see 'ganbench list datasets -v').")
@click.option("--extractor", metavar="NAME", help="Feature extractor of FID, KID and precision/recall: auto "
              "(default: 'domain' classifier for grey labelled images such as MNIST and stacked MNIST, 'inception' for "
              "colour or unlabelled images, 'raw' for vectors), or a name from 'ganbench list extractors'.")
@click.option("--extractor-opt", "extractor_opts", multiple=True, metavar="EXTRACTOR.KEY=VALUE",
              help="An extractor option, e.g. inception.download=false (repeatable; see 'ganbench list extractors -v').")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="Local Inception weights (weights-inception-2015-12-05-6726825d.pth from torch-fidelity's releases) "
              "for machines without internet; same as --extractor-opt inception.weights=FILE or "
              "$GANBENCH_INCEPTION_WEIGHTS. Default: downloaded into the cache on first use.")
@click.option("--data-root", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Where downloadable data sets (mnist, fashion-mnist, cifar10, celeba) live, in torchvision's "
              "layout; missing files are downloaded there. Default: $GANBENCH_DATA_ROOT, else <cache>/data.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|cuda:N|mps",
              help="Where to train; auto picks CUDA, then MPS, then CPU.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default results/runs/run-<fingerprint of the request>). "
              "Re-running into the same directory resumes: finished cells are not trained again. A different "
              "request for a directory that holds results is refused (see --fresh).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path), metavar="RUN_DIR",
              help="Continue the run in RUN_DIR with the request recorded in its suite.json (no grid options needed).")
@click.option("--fresh", is_flag=True, help="Replace what an earlier run left in the run directory (its cells, "
              "tables and suite.json; other files stay) instead of refusing a changed request.")
@click.option("--checkpoint-every", type=int, default=None, metavar="N",
              help="Save each cell's whole training state (G, D, optimisers, random streams, history) every N steps, "
              "so a killed run continues inside the cell with identical results; 0 = never. Default: at the first step "
              "after each minute of training.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed cell (default: record it and go on).")
@click.option("--deterministic", is_flag=True,
              help="torch.use_deterministic_algorithms(True), cuDNN without autotuning and a deterministic cuBLAS "
              "workspace: bit-identical GPU re-runs at the speed cost of torch's deterministic kernels "
              "(docs/reliability.md; measure it with benchmarks/reliability_cost.py); CPU runs already are bit-identical. "
              "An op without a deterministic version fails its cell with torch's message.")
@click.option("--executor", default="auto", show_default=True, metavar="NAME",
              help="Where the cells execute: serial (this process, one at a time), local (--jobs worker processes on "
              "this machine), ray (a Ray instance or cluster), or a plugin's ('ganbench list executors'). auto: serial, "
              "or local when --jobs > 1 or several --devices.")
@click.option("--jobs", "-j", type=int, metavar="N",
              help="Worker processes of the local executor (cells trained at once on this machine). Default: one per "
              "--devices entry, else 1.")
@click.option("--executor-opt", "executor_opts", multiple=True, metavar="EXECUTOR.KEY=VALUE",
              help="An option of a plugin's executor (repeatable; see 'ganbench list executors -v').")
@click.option("--devices", metavar="D1,D2", help="Devices of the workers, round-robin (e.g. cuda:0,cuda:1; a device "
              "may appear twice to run two workers on it). Default: --device.")
@click.option("--threads", type=int, metavar="N", help="torch threads per cell (default: this machine's threads // "
              "--jobs; 1 under Ray). Recorded in every row: CPU results can depend on it.")
@click.option("--ray-address", metavar="ADDR", help="The Ray cluster to run on (--executor ray; e.g. ray://head:10001 "
              "or auto); default: a local Ray instance. See docs/scale.md.")
@click.option("--gpus-per-cell", type=float, metavar="X", help="GPUs each cell asks Ray for (--executor ray): 0.25 "
              "runs four cells per GPU. Default 1 on a CUDA device, else 0.")
@click.option("--log", "log", multiple=True, metavar="NAME",
              help="Turn on a logger while cells train (repeatable or A,B): tensorboard writes RUN_DIR/tensorboard "
              "(pip install 'ganbench[tensorboard]'), or a plugin's ('ganbench list loggers').")
@click.option("--quiet", "-q", is_flag=True, help="No progress display; print only the table.")
@click.option("--dry-run", is_flag=True, help="Check the request and print the plan — cells to train, reuse and skip, "
              "and the estimated time on this machine (from earlier rows in the output folder, else a timed probe of a "
              "few throwaway steps) — then stop: no cell is trained and nothing is written to the output folder (data "
              "sets are loaded, downloaded if they must be).")
@click.pass_context
def run(ctx, models, losses, datasets, metrics, seeds, steps, batch_size, replicas, amp, compile_mode, cuda_graphs, set_opts,
        sweep, search, space, search_seed, suite_file, protocol, paper, model_opts, loss_opts, data_opts, extractor,
        extractor_opts, inception_weights, data_root, device, out, resume_dir, fresh, checkpoint_every, fail_fast,
        deterministic, executor, jobs, executor_opts, devices, threads, ray_address, gpus_per_cell, log, quiet, dry_run):
    """Train and evaluate every (dataset, model, loss, seed) cell and print a comparison table.

    Exit status: 0 when no cell failed (diverged and skipped cells are results), 1 when a cell
    failed (the others still ran; --fail-fast stops there), 2 for bad input (nothing runs), 3
    when the output could not be written mid-run (finished cells are kept), 130 when interrupted
    (re-run the same command to continue). It first prints the plan: cells, and the estimated time.

    Example: ganbench run --models vanilla,dcgan --losses nonsat,minimax
    """
    from ganbench.api import runner as make_runner
    from ganbench.progress import RichReporter
    from ganbench.report import baseline_rule, display, metric_columns, summarize, to_rich
    from ganbench.suite import coerce_setting

    pl = _plugins(ctx)
    if resume_dir is not None:
        given = [flag for flag, value in (
            ("--models", models), ("--losses", losses), ("--datasets", datasets), ("--metrics", metrics),
            ("--seeds", seeds), ("--steps", steps), ("--batch-size", batch_size), ("--replicas", replicas),
            ("--amp", amp), ("--compile", compile_mode), ("--cuda-graphs", cuda_graphs), ("--set", set_opts),
            ("--sweep", sweep),
            ("--search", search), ("--space", space), ("--search-seed", search_seed), ("--suite", suite_file),
            ("--protocol", protocol), ("--paper-settings/--same-settings", paper),
            ("--model-opt", model_opts),
            ("--loss-opt", loss_opts), ("--data-opt", data_opts), ("--extractor", extractor),
            ("--extractor-opt", extractor_opts), ("--out", out and out != resume_dir)) if value]
        if given:
            raise click.UsageError(f"--resume takes the request from {resume_dir / 'suite.json'}; it cannot be "
                                   f"combined with {', '.join(given)}")
    settings: dict[str, Any] = _parse_set(set_opts)
    flags = {k: v for k, v in (("amp", amp), ("compile", compile_mode), ("cuda_graphs", True if cuda_graphs else None))
             if v is not None}
    for key, value in flags.items():
        if key in settings and coerce_setting(key, settings[key]) != coerce_setting(key, value):
            raise click.UsageError(f"--{key.replace('_', '-')} and --set {key}={settings[key]} both set {key}: give one")
    settings.update(flags)
    console = make_console(stderr=True)
    reporter = None if quiet or dry_run else RichReporter(console)
    explicit_device = ctx.get_parameter_source("device") != click.core.ParameterSource.DEFAULT
    runner = make_runner(
        models=models, losses=losses, datasets=datasets, metrics=metrics, seeds=seeds, steps=steps,
        batch_size=batch_size, replicas=replicas, settings=settings,
        recipe=None if paper is None else "paper" if paper else "same",
        model_options=model_opts, loss_options=loss_opts, data_options=data_opts, extractor=extractor,
        extractor_options=[*extractor_opts, *([f"inception.weights={inception_weights}"] if inception_weights else [])],
        suite=suite_file, protocol=protocol, sweep=list(sweep) if sweep else None, search=search, space=space,
        search_seed=search_seed, device=device if explicit_device or resume_dir is None else None, out=out,
        resume=resume_dir, data_root=data_root, loaded_plugins=pl, reporter=reporter, checkpoint_every=checkpoint_every,
        fail_fast=fail_fast, fresh=fresh, deterministic=deterministic, executor=executor, jobs=jobs, devices=devices,
        threads=threads, ray_address=ray_address, gpus_per_cell=gpus_per_cell, executor_options=executor_opts,
        log=",".join(log) if log else ())
    target = runner.store.root
    if dry_run:
        for line in runner.plan().describe():
            make_console().print(plain(line), soft_wrap=True, highlight=False)
        return
    try:
        df = runner.run()
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.close()
        if not (target / "suite.json").is_file():  # stopped before the run directory was made: nothing to resume
            click.echo("interrupted before the run started; nothing was written", err=True)
            ctx.exit(130)
        again = ("re-run the same command without --fresh (it would remove them)" if fresh
                 else "re-run the same command")
        click.echo(f"interrupted; finished cells are kept in {target} — {again} (or "
                   f"'ganbench run --resume {target}') to continue", err=True)
        ctx.exit(130)
    finally:
        if reporter is not None:
            reporter.close()
    import pandas as pd

    from ganbench.store import RunStore, rows_to_frame

    shown = pd.concat([df, rows_to_frame(RunStore(target).reference_rows())], ignore_index=True) \
        if not df.empty else df  # with the run's reference rows
    columns = metric_columns(pl.registry, shown)
    interval = runner.protocol.interval if runner.protocol is not None else "std"  # what its paper reports
    summary = summarize(shown, columns, rule=baseline_rule(pl.registry))
    make_console().print(to_rich(display(summary, columns, interval=interval), title=f"ganbench results — {target}"))
    click.echo(f"results: {target / 'results.csv'}")
    failed = df[df["status"] == "failed"]
    if len(failed):
        for message, group in failed.groupby("message", sort=False):  # e.g. a data set that would not load
            labels = [f"{r.dataset}/{r.model}/{r.loss} seed {r.seed}" for r in group.itertuples()]
            shown = ", ".join(labels[:6]) + (f" and {len(labels) - 6} more" if len(labels) > 6 else "")
            click.echo(f"failed: {shown}: {message}", err=True)
        click.echo(f"{len(failed)} cell(s) failed; tracebacks in {target}/cells/<cell>/error.txt", err=True)
        if runner.not_run:
            click.echo(f"--fail-fast: stopped at the first failed cell; {len(runner.not_run)} cell(s) not run "
                       "(re-run without --fail-fast to run them)", err=True)
        ctx.exit(EXIT_FAILED_CELLS)


@cli.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show options, recommended settings (a loss's paper recipe) and references.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="The data root whose files decide the 'offline' column of datasets (as for 'run').")
@click.pass_context
def list_cmd(ctx, kind, pattern, verbose, data_root):
    """List registered models, losses, datasets or metrics (all kinds by default).

    PATTERN filters names shell-style, e.g. 'ganbench list losses "wgan*"'. With --verbose, models show
    their recommended settings, whether they are conditional and their paper's loss; losses
    show the effective training settings of their paper recipe (what --paper-settings, the default,
    uses; * marks the values the paper sets, the others are the shared defaults). Data sets show their
    modality, sample shape, classes and size under the default options, and whether they can be
    loaded offline right now (embedded, or their files are under the data root).
    """
    from rich.table import Table
    from rich.text import Text

    registry = _plugins(ctx).registry
    console = make_console()
    if kind in ("space", "spaces"):
        _list_spaces(console, pattern, verbose)
        return
    kinds = [normalize_kind(kind)] if kind else list(PLURALS)
    for k in kinds:
        table = Table(title=PLURALS[k], title_justify="left", show_lines=verbose)
        table.add_column("name", no_wrap=True)
        table.add_column("plugin", no_wrap=True)
        if k == "dataset":
            for col in ("modality", "shape", "classes", "size", "offline now"):
                table.add_column(col, no_wrap=col != "offline now")
        table.add_column("description")
        if verbose:
            table.add_column("options (default)")
            if k in ("loss", "model", "protocol"):
                table.add_column({"loss": "paper recipe", "model": "settings", "protocol": "pinned"}[k])
            table.add_column("reference")
        for name, spec, prov in registry.items(k):
            aliases = registry.aliases(k, name)
            if pattern and not any(fnmatch.fnmatchcase(n, pattern) for n in (name, *aliases)):
                continue  # the pattern matches a name or one of its aliases (list losses wasserstein: wgan)
            label = name + (f" ({', '.join(aliases)})" if aliases else "")
            row = [label, str(prov.plugin)]
            if k == "dataset":
                row += _describe_dataset(spec, data_root)
            row.append(getattr(spec, "description", ""))
            if verbose:
                row.append(_describe_options(getattr(spec, "options", {})))
                if k == "loss":
                    row.append(_describe_recipe(spec))
                elif k == "model":
                    row.append(_describe_model(spec))
                elif k == "protocol":
                    row.append(_describe_protocol(spec))
                row.append(getattr(spec, "reference", ""))
            table.add_row(*(Text(c) for c in row))  # Text: plugin strings are never rich markup
        console.print(table)


def _list_spaces(console, pattern: str, verbose: bool) -> None:
    """The search space presets of ``--search N --space NAME``: their keys and distributions, and the paper."""
    import fnmatch

    from rich.table import Table
    from rich.text import Text

    from ganbench.sweeps import PRESETS, parse_space

    table = Table(title="search spaces (--space)", title_justify="left", show_lines=True)
    for col in ("name", "keys", *(("reference",) if verbose else ())):
        table.add_column(col, no_wrap=col == "name")
    for name, preset in PRESETS.items():
        if fnmatch.fnmatchcase(name, pattern):
            keys = "\n".join(f"{k}: {d.describe()}" for k, d in parse_space(preset.space, name).items())
            table.add_row(*(Text(c) for c in (name, keys, *((preset.citation,) if verbose else ()))))
    console.print(table)


def _describe_protocol(spec: Any) -> str:
    """A protocol's grid, pinned settings and options, statistic, budget and the paper's rows."""
    from ganbench.options import format_options

    lines = [f"data sets {', '.join(spec.datasets)}; models {', '.join(spec.models)}; losses {', '.join(spec.losses)}; "
             f"seeds {len(spec.seeds)}; metrics {', '.join(spec.metrics) or 'all'}",
             "settings: " + format_options(dict(spec.settings)),
             *(f"{kind} {name}: {format_options(dict(opts))}" for kind, table in (
                 ("data", spec.data_options), ("model", spec.model_options), ("loss", spec.loss_options),
                 ("recipe of loss", spec.loss_settings)) for name, opts in table.items()),
             f"reported: mean ± {spec.interval}" + (f"; the paper's budget {spec.budget:,} steps" if spec.budget else ""),
             f"paper: {spec.paper}",
             *(f"{r.label}: " + ", ".join(f"{c} {m:g}" + (f" ± {e:g}" if e is not None else "")
                                         for c, (m, e) in r.values.items()) for r in spec.results)]
    return "\n".join(lines)


def _describe_dataset(spec: Any, data_root: Path | None) -> list[str]:
    """modality, shape, classes, size (under the default options; '?' where they depend on the
    options or the files) and whether the data set loads offline now."""
    from ganbench.options import defaults
    from ganbench.paths import data_root as default_root

    try:
        missing = spec.missing(data_root or default_root(), **defaults(spec.options))
    except Exception as exc:  # a plugin's check failing is shown, not fatal to the listing
        missing = f"check failed: {one_line(exc)}"
    shape = "×".join(map(str, spec.shape)) if spec.shape else "?"
    classes = "?" if spec.num_classes is None else str(spec.num_classes) if spec.num_classes else "—"
    size = f"{spec.size:,}" if spec.size is not None else "?"
    return [spec.modality or "?", shape, classes, size, "yes" if missing is None else f"no: {missing}"]


def _describe_options(options: Any) -> str:
    from ganbench.options import option_table

    lines = []
    for key, opt in option_table(options).items():
        choices = f" [{'|'.join(map(str, opt.choices))}]" if opt.choices else ""
        lines.append(f"{key}={opt.default}{choices}" + (f": {opt.help}" if opt.help else ""))
    return "\n".join(lines) or "—"


def _describe_model(spec: Any) -> str:
    """A model's recommended settings, what it is conditioned on and its paper's loss."""
    lines = [f"{a}={b}" for a, b in spec.settings.items()]
    if getattr(spec, "condition", None) == "class":
        lines.append("conditioned on class labels")
    if getattr(spec, "loss", None):
        lines.append(f"recommended loss: {spec.loss} (its paper's)")
    loss_options = getattr(spec, "loss_options", None)
    if callable(loss_options):  # depends on the data and the cell's settings: its doc says how
        doc = (loss_options.__doc__ or "").strip().split("\n\n")[0]
        lines.append(f"its recipe's loss options: {' '.join(doc.split())}")
    elif loss_options:
        lines += [f"its recipe: {loss} " + ", ".join(f"{k}={v}" for k, v in opts.items())
                  for loss, opts in loss_options.items()]
    return "\n".join(lines) or "—"


def _describe_recipe(spec: Any) -> str:
    from ganbench.suite import GLOBAL_DEFAULTS

    keys = ("optimizer", "lr_g", "lr_d", "beta1", "beta2", "n_critic", "batch_size")
    parts = [f"{key}={spec.settings.get(key, GLOBAL_DEFAULTS[key])}{'*' if key in spec.settings else ''}"
             for key in keys]
    keys = set(keys)  # and every other setting the paper sets (R3GAN's schedules: schedule_images, beta2_start, ...)
    parts += [f"{key}={value}*" for key, value in spec.settings.items() if key not in keys]
    parts += [f"model {key}={value}*" for key, value in spec.model_options.items()]
    return "\n".join(parts)


@cli.command()
@click.pass_context
def plugins(ctx):
    """List loaded plugins: name, distribution, version, module and its file, hooks and what each registered; then
    blocked plugins and installed plugins that failed to load, with their errors."""
    from rich.table import Table
    from rich.text import Text

    pl = _plugins(ctx)
    table = Table(title="plugins", title_justify="left")
    for col in ("name", "distribution", "version", "module (file)", "hooks", "registered"):
        table.add_column(col, no_wrap=col in ("name", "distribution", "version"))
    for p in pl.info():
        registered = "; ".join(f"{k}: {', '.join(v)}" for k, v in p.registered.items())
        cells = [p.name, p.provenance.distribution or "—", p.provenance.version or "—",
                 p.module + (f" ({p.location})" if p.location else ""), ", ".join(p.hooks), registered or "—"]
        table.add_row(*(Text(c) for c in cells))
    console = make_console()
    console.print(table)
    if pl.blocked:
        console.print(plain(f"blocked: {', '.join(sorted(pl.blocked))}"))
    if pl.broken:
        broken = Table(title="plugins that failed to load", title_justify="left")
        for col in ("name", "distribution", "version", "module", "error"):
            broken.add_column(col, no_wrap=col != "error")
        for b in pl.broken:
            broken.add_row(*(Text(c) for c in (b.name, b.provenance.distribution or "—", b.provenance.version or "—",
                                                b.target, b.error)))
        console.print(broken)


def _names(value: str | None, flag: str) -> list[str] | None:
    """``--metrics``/``--by`` as a list; None when not given; one that names nothing, or a name twice, is a one-line
    error (a column shown twice, a grouping by one column twice)."""
    names = split_names(value, flag) if value is not None else None
    twice = sorted({n for n in names or [] if names.count(n) > 1})
    if twice:
        raise UsageError(f"{flag} lists {', '.join(twice)} more than once")
    return names


REPORT_OPTIONS = [
    click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)),
    click.option("--metrics", metavar="A,B", help="Metric columns (fid, modes, diverged, precision, ...) or metric "
                 "names (prdc: its columns); default: the primary column of every metric with values."),
    click.option("--by", metavar="A,B", help="Group rows by these columns (default dataset,model,loss); "
                 "'dataset' must stay when there are several data sets."),
    click.option("--baseline", metavar="LOSS", help="Paired comparison: each loss minus LOSS on the same seed "
                 "(mean Δ, seeds better, sign and Wilcoxon p-values from 6 seeds)."),
]


def _report_options(fn):
    for deco in reversed(REPORT_OPTIONS):
        fn = deco(fn)
    return fn


@cli.command()
@_report_options
@click.option("--format", "-f", "fmt", type=click.Choice(["rich", "md", "csv", "latex", "json", "html"]),
              default="rich", show_default=True, help="Terminal table, Markdown, CSV (every aggregate column), LaTeX "
              "(booktabs), JSON, or one self-contained HTML file with the plots inlined.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE (default: stdout).")
@click.option("--interval", type=click.Choice(["std", "se", "ci"]), default=None,
              help="What follows ±: the sample standard deviation (std), the standard error (se) or the half-width of "
              "the 95%% confidence interval (ci). Default: the statistic of the runs' protocol (--protocol), else std.")
@click.option("--plots", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the plots as PNG files into DIR (HTML reports always inline them).")
@click.pass_context
def report(ctx, run_dirs, metrics, by, baseline, fmt, output, interval, plot_dir):
    """Aggregate one or more run directories over seeds: mean ± std, 95% CI, seeds ok/diverged/failed,
    ranks with the best marked, and optionally a paired comparison against a baseline loss. A published
    board (results/NAME) stands for the rows it kept (its runs.json).

    Run directories merge only when they measured the same way (steps, evaluation and real sample
    counts, feature extractor, data set version); otherwise the command names the difference.

    Example: ganbench report results/runs/run-abc --metrics fid,modes,diverged --baseline nonsat -f md
    """
    from ganbench import plots
    from ganbench.errors import UsageError
    from ganbench.report import (
        baseline_rule,
        check_output,
        group_columns,
        load_runs,
        metric_columns,
        protocol_interval,
        provenance,
        render,
        summarize,
        to_rich,
        write_text,
    )
    from ganbench.report import display as make_display

    registry = _plugins(ctx).registry
    for path, flag in ((output, "-o"), (plot_dir, "--plots")):
        if path:
            check_output(path, run_dirs, flag, directory=flag == "--plots")
    rows, runs = load_runs(run_dirs, references=True, by=_names(by, "--by"))
    if rows.empty:
        raise UsageError(f"no result rows in {', '.join(map(str, run_dirs))}: nothing to report (no cell has finished)")
    interval = interval or protocol_interval(registry, rows)
    cols = metric_columns(registry, rows, _names(metrics, "--metrics"))
    groups = group_columns(rows, _names(by, "--by"))
    summary = summarize(rows, cols, groups, _loss_name(registry, baseline), rule=baseline_rule(registry))
    figs, notes = [], []
    if fmt == "html" or plot_dir:
        figs, notes = plots.figures(rows, groups, [c for c, _ in cols], registry)
    if plot_dir:
        for path in plots.write_pngs(figs, plot_dir):
            click.echo(f"plot: {path}", err=True)
    title = "ganbench report — " + ", ".join(map(str, run_dirs))
    if fmt == "rich":
        table = to_rich(make_display(summary, cols, groups, interval), title)
        if output:  # a file has no terminal width: wide enough that no cell is cut
            buf = make_console(width=UNBOUNDED, record=True, file=io.StringIO())
            buf.print(table)
            write_text(output, buf.export_text())
            click.echo(f"{fmt}: {output}", err=True)
        else:
            make_console().print(table)
        return
    text = render(fmt, summary, cols, groups, interval, title, figs, provenance(runs, rows), notes)
    if output:
        write_text(output, text)
        click.echo(f"{fmt}: {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.group()
def export() -> None:
    """Write a run directory's results in another tool's format."""


@export.command("tensorboard")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Where the event files go (default RUN_DIR/tensorboard, as --log tensorboard writes them); each "
              "cell's earlier event files there are replaced.")
def export_tensorboard(run_dir: Path, out: Path | None) -> None:
    """TensorBoard event files of every finished cell of RUN_DIR (runs trained without --log too):
    per-step losses, scores and gradient norms, metrics per evaluation, sample pictures, HParams.
    Then: tensorboard --logdir RUN_DIR/tensorboard"""
    import importlib.util

    from ganbench import tensorboard

    if importlib.util.find_spec("tensorboard") is None:
        raise click.UsageError(f"export tensorboard needs the tensorboard package: {tensorboard.INSTALL}")
    written, notes = tensorboard.export(run_dir, out)
    for note in notes:
        click.echo(f"Warning: {note}", err=True)
    click.echo(f"{len(written)} cell(s) -> {out if out is not None else run_dir / tensorboard.FOLDER}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cell", "cell_pattern", metavar="ID|PATTERN", default="*", show_default=True,
              help="The cells to draw from: a cell id or a shell pattern over cell ids (every cell that trained).")
@click.option("--mode", type=click.Choice(["grid", "interpolate", "classes", "truncation", "arithmetic"]),
              default="grid", show_default=True,
              help="grid: samples of a latent seed; interpolate: spherical paths between latent pairs; classes: each "
              "row one latent vector in every class (conditional models); truncation: the same latents redrawn "
              "beyond ±2 … ±0.25; arithmetic: z + α·v for the attribute vector v of --attribute.")
@click.option("--rows", "-n", type=click.IntRange(1, 64), default=8, show_default=True, help="Rows of the picture.")
@click.option("--steps", type=click.IntRange(2, 32), default=8, show_default=True,
              help="Columns of interpolate and arithmetic.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the latent vectors.")
@click.option("--class", "cls", type=int, help="Conditional models: draw every sample of this class.")
@click.option("--truncation", type=float, metavar="T", help="Redraw latent values beyond ±T (the truncation trick).")
@click.option("--attribute", default="ink", show_default=True, metavar="ink|class:K",
              help="arithmetic: ink (mean brightness: stroke thickness) or class:K (what the domain classifier calls "
              "class K), from 2,000 generated samples with and without it.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the pictures (default RUN_DIR/samples): <cell id>-<mode>.png, written atomically.")
@click.option("--device", default="cpu", show_default=True, metavar="cpu|cuda|cuda:N")
@click.pass_context
def samples(ctx, run_dir, cell_pattern, mode, rows, steps, seed, cls, truncation, attribute, out, device):
    """Look inside trained generators: pictures drawn with each chosen cell's saved generator (the EMA
    generator of cells trained with g_ema). Example: ganbench samples RUN_DIR --cell '*cgan*' --mode classes"""
    import fnmatch

    from ganbench import generators, render
    from ganbench.store import RunStore

    store = RunStore(run_dir)
    store.require_run()
    rows_by_id = {r["cell_id"]: r for r in store.rows()}
    chosen = sorted(c for c in rows_by_id if fnmatch.fnmatchcase(c, cell_pattern))
    if not chosen:
        raise click.UsageError(f"no cell of {run_dir} matches {cell_pattern!r}; its cells: "
                               + (", ".join(sorted(rows_by_id)) or "(none finished)"))
    untrained = [c for c in chosen if rows_by_id[c]["status"] not in ("ok", "diverged")]
    if untrained and cell_pattern in rows_by_id:
        row = rows_by_id[cell_pattern]
        raise click.UsageError(f"cell {cell_pattern} did not train (status {row['status']}"
                               + (f": {row['message']}" if row.get("message") else "") + "): it has no generator")
    chosen = [c for c in chosen if c not in untrained]
    if not chosen:
        raise click.UsageError(f"no cell matching {cell_pattern!r} trained: none has a generator")
    from ganbench.device import resolve_device

    if mode == "classes" and cls is not None:
        raise click.UsageError("--class does not apply to a class sweep (--mode classes draws every class)")
    device = resolve_device(device, "--device")
    pl = _plugins(ctx)
    loaded = {c: generators.load_generator(run_dir / "cells" / c, device, plugins=pl) for c in chosen}
    if mode == "classes" or cls is not None:  # what only conditional models do: a pattern picks those
        conditional = [c for c in chosen if loaded[c].conditional]
        if not conditional:
            what = "a class sweep" if mode == "classes" else f"--class {cls}"
            models = ", ".join(sorted({loaded[c].model for c in chosen}))
            raise click.UsageError(f"{what} needs a conditional model; the cells chosen train {models}")
        chosen = conditional
    folder = out if out is not None else run_dir / "samples"
    for cell_id in chosen:
        gen = loaded[cell_id]
        if gen.info.task == "translation":  # it translates: its held-out inputs, not latent vectors
            if mode != "grid" or cls is not None or truncation is not None:
                raise click.UsageError(f"cell {cell_id} translates images: it draws a grid of held-out inputs "
                                       "(--mode grid, without --class or --truncation)")
            data, _ = generators.cell_data(store, cell_id, pl.registry)
            columns, what = generators.translations(gen, data, n=rows, seed=seed)
            path = folder / f"{cell_id}-{mode}.png"
            render.save_picture(render.translation_picture(columns, gen.info), path)
            click.echo(f"{path}: {what}{' (EMA generator)' if gen.ema else ''}")
            continue
        classifier = _domain_classifier(pl, run_dir, cell_id) if attribute.startswith("class:") and mode == "arithmetic" \
            else None
        pictures, cols, what = generators.draw(gen, mode, n=rows, seed=seed, cls=cls, truncation=truncation,
                                               steps=steps, attribute=attribute, classifier=classifier)
        path = folder / f"{cell_id}-{mode}.png"
        render.save_picture(render.grid_picture(pictures, gen.info, cols), path)
        click.echo(f"{path}: {what}{' (EMA generator)' if gen.ema else ''}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--metrics", metavar="NAMES", help="Comma-separated metrics to recompute (default: the run's metrics "
              "computed from samples; history metrics are not recomputed).")
@click.option("--extractor", metavar="NAME", help="Feature extractor of FID/KID/PR-DC: a name from 'ganbench list "
              "extractors' or auto (default: the run's choice).")
@click.option("--eval-samples", type=int, metavar="N", help="Generated samples per cell (default: each cell's own).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), help="Where downloadable data sets are.")
@click.option("--device", default="cpu", show_default=True, metavar="cpu|cuda|cuda:N")
@click.pass_context
def evaluate(ctx, run_dir, metrics, extractor, eval_samples, data_root, device):
    """Rescore the saved generators of a run without retraining: the metric columns of every measured
    cell are replaced, with the same evaluation noise, and the rescoring is recorded in each row. Use it
    after an extractor changed (resume refuses rows scored by other weights) or to add a metric.
    Example: ganbench evaluate results/runs/run-abc --metrics fid,kid"""
    from ganbench.device import resolve_device
    from ganbench.execution.rescore import rescore

    done = rescore(run_dir, metrics=_names(metrics, "--metrics"), extractor=extractor, eval_samples=eval_samples,
                   device=resolve_device(device, "--device"), data_root=data_root, plugins=_plugins(ctx),
                   progress=click.echo)
    click.echo(f"{run_dir}: {len(done.rescored)} cell(s) rescored" + (
        f"; {len(done.left)} left as they were (not measured)" if done.left else ""))


def _loss_name(registry, name: str | None) -> str | None:
    """``--baseline``'s loss by its registered name (an alias: ``r3gan`` → ``rpgan-r1r2``); a name no installed
    plugin knows stays as given (results may hold a loss of a plugin not installed here)."""
    if not name:
        return name
    try:
        return registry.canonical("loss", name)
    except UsageError:
        return name


def _domain_classifier(pl, run_dir: Path, cell_id: str):
    """``samples -> class ids`` by the domain classifier of the cell's data set (loaded with its options)."""
    import torch

    from ganbench.evaluation import EvalContext
    from ganbench.generators import cell_data
    from ganbench.store import RunStore

    data, _ = cell_data(RunStore(run_dir), cell_id, pl.registry)
    ctx = EvalContext(data=data, device=torch.device("cpu"), n_samples=1, registry=pl.registry)
    return ctx.extractor("domain").classify


@cli.command()
@_report_options
@click.option("--publish", type=click.Path(file_okay=False, path_type=Path), metavar="results/NAME",
              help="Write leaderboard.md, .csv, .html, plots/ and provenance.json into this folder (new, empty, or an "
              "earlier board) and rebuild the index README.md of the folder above it (unless that README is not a "
              "ganbench board index: it is then left alone).")
@click.option("--replace", is_flag=True, help="Publish over an earlier board even where it keeps rows (runs.json) the "
              "new board lacks; they are lost (git keeps a committed board). Without it that is refused: give the "
              "board as an input to extend it.")
@click.option("--best-setting", is_flag=True, help="A swept run: rank each (data set, model, loss) by its best point, "
              "chosen by the first metric on the selection seeds and shown on the other seeds only, with the search "
              "budget beside it.")
@click.option("--select-seeds", metavar="0,1", help="The seeds a sweep's best point is chosen on (default: the first "
              "half of the seeds); the table reports the others.")
@click.option("--title", help="The board's title (default: 'ganbench leaderboard: <data sets>').")
@click.option("--note", "notes", multiple=True, metavar="TEXT", help="A line for the board's notes (repeatable), "
              "e.g. what else ran on the machine while the timings were taken.")
@click.pass_context
def leaderboard(ctx, run_dirs, metrics, by, baseline, publish, replace, best_setting, select_seeds, title, notes):
    """The leaderboard of run directories: ranked table, plots and a provenance block (versions, git
    commit, plugins, device, protocol, the command that reproduces it). Without --publish it is printed.
    A published board keeps its rows (runs.json) and is itself an input: give it with a new run directory
    to extend it (ganbench leaderboard results/NAME results/runs/NEW --publish results/NAME).

    Example: ganbench leaderboard results/runs/run-abc --publish results/mnist5k-default
    """
    from ganbench.errors import UsageError
    from ganbench.leaderboard import build_board
    from ganbench.leaderboard import publish as write_board
    from ganbench.report import board_options, to_rich
    from ganbench.report import display as make_display
    from ganbench.suite import parse_seeds

    try:
        select = parse_seeds(select_seeds) if select_seeds else None
    except UsageError as exc:
        raise UsageError(str(exc).replace("--seeds", "--select-seeds")) from None
    baseline = _loss_name(_plugins(ctx).registry, baseline)
    asked = {"title": title, "metrics": _names(metrics, "--metrics"), "by": _names(by, "--by"), "baseline": baseline,
             "notes": notes, "best_setting": best_setting, "select_seeds": select}
    earlier = board_options(run_dirs)
    if earlier is not None:  # extending a published board: what it was asked for, unless given again
        source, kept = earlier
        taken = [k for k in ("title", "notes", "metrics", "by", "baseline", "best_setting", "select_seeds")
                 if ctx.get_parameter_source(k) == click.core.ParameterSource.DEFAULT
                 and kept.get(k) not in (None, [], False)]
        asked.update({k: kept[k] for k in taken})
        if taken:
            click.echo(f"as published in {source}: {', '.join(taken)} (give them to change)", err=True)
    board = build_board(run_dirs, _plugins(ctx).registry, **asked)
    if publish is None:
        console = make_console()
        console.print(to_rich(make_display(board.summary, board.metrics, board.by, board.interval), board.title))
        for line in [*(board.paper or []), *(board.sweep or [])]:  # Markdown sections, as published
            console.print(Text(line), soft_wrap=True)
        for key, value in board.provenance().items():
            console.print(Text.assemble((f"{key}:", "dim"), " ", str(value)), highlight=False)
        return
    files = write_board(board, publish, replace=replace)
    for kind, path in files.items():
        click.echo(f"{kind}: {path}")
    if "index" not in files:
        parent = Path(publish).resolve().parent / "README.md"
        click.echo(f"index: not rebuilt ({parent} is not a ganbench board index; it was left as it is)", err=True)


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (timeout(1), a job scheduler) takes Ctrl-C's way out


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    cli(prog_name="ganbench")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
