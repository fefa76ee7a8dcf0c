"""The registry: what plugins contributed, by kind and name, and which plugin gave what."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ganbench.errors import PluginError, UnknownNameError, UsageError
from ganbench.options import Option, accepted_names, defaults, option_problem, option_table
from ganbench.specs import (
    CONDITIONS,
    NAME_RE,
    TASKS,
    DatasetSpec,
    ExecutorSpec,
    ExtractorSpec,
    LoggerSpec,
    LossSpec,
    MetricSpec,
    ModelSpec,
    PaperRow,
    ProtocolSpec,
    revision_of,
)
from ganbench.suite import coerce_setting

#: kind -> spec class. The plural forms are what the CLI and the hooks use.
KINDS: dict[str, type] = {
    "model": ModelSpec,
    "loss": LossSpec,
    "dataset": DatasetSpec,
    "metric": MetricSpec,
    "extractor": ExtractorSpec,
    "executor": ExecutorSpec,
    "logger": LoggerSpec,
    "protocol": ProtocolSpec,
}
PLURALS = {"model": "models", "loss": "losses", "dataset": "datasets", "metric": "metrics", "extractor": "extractors",
           "executor": "executors", "logger": "loggers", "protocol": "protocols"}


def normalize_kind(kind: str) -> str:
    """Accept ``model``/``models`` etc.; raise UnknownNameError otherwise."""
    k = kind.strip().lower()
    for singular, plural in PLURALS.items():
        if k in (singular, plural):
            return singular
    raise UnknownNameError(f"unknown kind '{kind}'; known kinds: {', '.join(PLURALS.values())}")


@dataclass(frozen=True)
class Provenance:
    """Which plugin registered an entry, and from which distribution (None for plugins not installed)."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution:
            return f"plugin '{self.plugin}' ({self.distribution} {self.version})"
        return f"plugin '{self.plugin}'"


class Registry:
    """Specs by kind and name. Plugins call the ``add_*`` methods from their register hooks."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, tuple[Any, Provenance]]] = {k: {} for k in KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}  # alias -> name
        self._current: Provenance | None = None
        #: one line per installed plugin that failed to import (set by the plugin loader): an
        #: unknown name may be one of theirs, so its error says so
        self.broken: list[str] = []

    # -- called by plugins ---------------------------------------------------------------------
    def add_model(self, spec: ModelSpec) -> None:
        """Register a model family (generator + discriminator)."""
        self._add("model", spec)

    def add_loss(self, spec: LossSpec) -> None:
        """Register an adversarial loss."""
        self._add("loss", spec)

    def add_dataset(self, spec: DatasetSpec) -> None:
        """Register a data set."""
        self._add("dataset", spec)

    def add_metric(self, spec: MetricSpec) -> None:
        """Register a metric."""
        self._add("metric", spec)

    def add_executor(self, spec: ExecutorSpec) -> None:
        """Register an executor (where a run's cells execute)."""
        self._add("executor", spec)

    def add_protocol(self, spec: ProtocolSpec) -> None:
        self._add("protocol", spec)

    def add_logger(self, spec: LoggerSpec) -> None:
        """Register a logger (``ganbench run --log NAME``)."""
        self._add("logger", spec)

    def add_extractor(self, spec: ExtractorSpec) -> None:
        """Register a feature extractor."""
        self._add("extractor", spec)

    # -- called by the core --------------------------------------------------------------------
    @contextmanager
    def contributing(self, provenance: Provenance) -> Iterator[Registry]:
        """Attribute every ``add_*`` inside the block to ``provenance``."""
        previous, self._current = self._current, provenance
        try:
            yield self
        finally:
            self._current = previous

    def get(self, kind: str, name: str) -> Any:
        """The spec registered under ``name`` (or one of its aliases, or ``NAME:VALUE`` for a data set
        with a ``name_option``); UnknownNameError listing the known names, with a did-you-mean,
        otherwise."""
        kind = normalize_kind(kind)
        return self._entries[kind][self._base(kind, name)][0]

    def canonical(self, kind: str, name: str) -> str:
        """The registered name for ``name`` or an alias of it (``wasserstein`` -> ``wgan``,
        ``folder:~/faces`` -> ``image-folder:~/faces``)."""
        kind = normalize_kind(kind)
        base, sep, value = name.partition(":")
        if not sep:
            return self._base(kind, name)
        base = self._base(kind, base)
        option = getattr(self._entries[kind][base][0], "name_option", None)
        if option is None:
            raise UsageError(f"{kind} '{base}' takes no ':VALUE' in its name (got '{name}')")
        if not value.strip():
            raise UsageError(f"{kind} '{name}' needs a value after ':' (its {option}), e.g. '{base}:VALUE'")
        return f"{base}:{value}"

    def name_options(self, kind: str, name: str) -> dict[str, str]:
        """The option a ``NAME:VALUE`` name sets (``{"path": "~/faces"}``), else ``{}``."""
        base, sep, value = name.partition(":")
        return {self.get(kind, base).name_option: value} if sep else {}

    def _base(self, kind: str, name: str) -> str:
        name = name.partition(":")[0]
        if name in self._entries[kind]:
            return name
        if name in self._aliases[kind]:
            return self._aliases[kind][name]
        known = ", ".join(self.names(kind)) or "(none registered)"
        close = difflib.get_close_matches(name, [*self._entries[kind], *self._aliases[kind]], n=1)
        hint = f" (did you mean '{self.canonical(kind, close[0])}'?)" if close else ""
        broken = "".join(f"; {b}" for b in self.broken)
        raise UnknownNameError(f"unknown {kind} '{name}'{hint}; known {PLURALS[kind]}: {known}{broken}")

    def aliases(self, kind: str, name: str) -> list[str]:
        kind = normalize_kind(kind)
        return sorted(a for a, n in self._aliases[kind].items() if n == name)

    def provenance(self, kind: str, name: str) -> Provenance:
        kind = normalize_kind(kind)
        return self._entries[kind][self._base(kind, name)][1]

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names of one kind, filtered by a shell-style pattern (``'wgan*'``)."""
        kind = normalize_kind(kind)
        return sorted(n for n in self._entries[kind] if fnmatch.fnmatchcase(n, pattern))

    def items(self, kind: str) -> list[tuple[str, Any, Provenance]]:
        kind = normalize_kind(kind)
        return [(n, s, p) for n, (s, p) in sorted(self._entries[kind].items())]

    # -- internals -----------------------------------------------------------------------------
    def _add(self, kind: str, spec: Any) -> None:
        who = self._current or Provenance("<direct>")
        cls = KINDS[kind]
        if not isinstance(spec, cls):
            raise PluginError(
                f"{who} passed {type(spec).__name__} to add_{kind}; expected a ganbench.specs.{cls.__name__}"
            )
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PluginError(
                f"{who} registered {kind} name {name!r}: names must match {NAME_RE.pattern} "
                "(lower case, digits, '.', '_', '-')"
            )
        for attr in ("build", "load", "compute", "d_loss", "g_loss", "supports", "penalty", "after_d_step", "missing",
                     "auto", "make"):
            if getattr(spec, attr, None) is not None and not callable(getattr(spec, attr)):
                raise PluginError(f"{who} registered {kind} '{name}' whose '{attr}' is not callable")
        for table in ("options", "settings", "model_options"):
            if not isinstance(getattr(spec, table, {}), Mapping):
                raise PluginError(f"{who} registered {kind} '{name}' whose '{table}' is not a mapping")
        for key, value in dict(getattr(spec, "settings", {})).items():
            try:
                coerce_setting(key, value, f"{kind} '{name}' setting")
            except UsageError as exc:
                raise PluginError(f"{who} registered {exc}") from None
        for key, option in option_table(getattr(spec, "options", {})).items():  # a plugin only ever sees valid values
            if option.default is None:
                continue
            try:  # the option's own rules, not the parsing of text a user types
                problem = option_problem(option, option.default)
            except Exception as exc:  # a check that cannot take its own default
                raise PluginError(f"{who} registered {kind} '{name}' whose option '{key}' cannot check its default "
                                  f"{option.default!r} ({type(exc).__name__}: {exc})") from None
            if problem:
                raise PluginError(f"{who} registered {kind} '{name}' whose default of option '{key}' {problem}, got "
                                  f"{option.default!r}")
        try:  # a function of the options: at the defaults, as every cell of them would ask it
            revision = revision_of(spec, defaults(getattr(spec, "options", None)))
        except Exception as exc:
            raise PluginError(f"{who} registered {kind} '{name}' whose revision function fails at its default options "
                              f"({type(exc).__name__}: {exc})") from None
        if not isinstance(revision, int) or _is_bool(revision) or revision < 0:
            raise PluginError(f"{who} registered {kind} '{name}' with revision {revision!r}; expected an integer >= 0")
        if kind == "metric":
            _check_metric(spec, who)
        if kind == "loss":
            _check_loss_signatures(spec, who)
        if kind == "dataset":
            _check_dataset(spec, who)
        if kind == "model":
            _check_model(spec, who)
        if kind == "protocol":
            _check_protocol(spec, who)
        aliases = tuple(getattr(spec, "aliases", ()))
        for a in aliases:
            if not isinstance(a, str) or not NAME_RE.match(a):
                raise PluginError(f"{who} registered {kind} alias {a!r}: names must match {NAME_RE.pattern}")
        for n in (name, *aliases):
            owner = n if n in self._entries[kind] else self._aliases[kind].get(n)
            if owner is not None:
                other = self._entries[kind][owner][1]
                raise PluginError(f"{kind} '{n}' registered twice: by {other} and by {who}")
        self._entries[kind][name] = (spec, who)
        for a in aliases:
            self._aliases[kind][a] = name


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's too


def _check_metric(spec: Any, who: Provenance) -> None:
    """Directions are True (higher is better), False or None (not ranked): a string such as "lower" would be
    truthy and rank the column the wrong way without a word."""
    if not _is_bool(spec.higher_is_better):
        raise PluginError(f"{who} registered metric '{spec.name}' whose higher_is_better is {spec.higher_is_better!r}; "
                          "expected True or False")
    if not isinstance(spec.columns, Mapping):
        raise PluginError(f"{who} registered metric '{spec.name}' whose columns is not a mapping of column -> direction")
    bad = [f"{k!r}: {v!r}" for k, v in spec.columns.items()
           if not isinstance(k, str) or not (v is None or _is_bool(v))]
    if bad:
        raise PluginError(f"{who} registered metric '{spec.name}' with columns {', '.join(bad[:3])}; each column's "
                          "direction is True (higher is better), False or None (not ranked)")


def _check_loss_signatures(spec: Any, who: Provenance) -> None:
    """Every declared option must be taken by one of the loss's functions (a typo would otherwise be
    silently ignored)."""
    fns = [f for f in (spec.d_loss, spec.g_loss, spec.penalty, spec.after_d_step, spec.penalty_interval)
           if f is not None]
    accepted = [accepted_names(f) for f in fns]
    for key in spec.options:
        if not isinstance(spec.options[key], Option) and callable(spec.options[key]):
            raise PluginError(f"{who} registered loss '{spec.name}' whose option '{key}' is a function")
        if all(a is not None and key not in a for a in accepted):
            raise PluginError(
                f"{who} registered loss '{spec.name}' with option '{key}' that none of its functions accepts"
            )


def _check_model(spec: Any, who: Provenance) -> None:
    condition = getattr(spec, "condition", None)
    if condition is not None and condition not in CONDITIONS:
        raise PluginError(f"{who} registered model '{spec.name}' with condition {condition!r}; expected None or "
                          f"{', '.join(map(repr, CONDITIONS))}")
    task = getattr(spec, "task", "generation")
    if task not in TASKS:
        raise PluginError(f"{who} registered model '{spec.name}' with task {task!r}; expected one of "
                          f"{', '.join(map(repr, TASKS))}")
    loss = getattr(spec, "loss", None)
    if loss is not None and not (isinstance(loss, str) and NAME_RE.match(loss)):
        raise PluginError(f"{who} registered model '{spec.name}' whose paper loss {loss!r} is not a loss name")


def _check_dataset(spec: DatasetSpec, who: Provenance) -> None:
    if spec.modality not in (None, "vector", "image"):
        raise PluginError(f"{who} registered dataset '{spec.name}' with modality {spec.modality!r}; "
                          "expected 'vector' or 'image'")
    if getattr(spec, "task", "generation") not in TASKS:
        raise PluginError(f"{who} registered dataset '{spec.name}' with task {spec.task!r}; expected one of "
                          f"{', '.join(map(repr, TASKS))}")
    if spec.name_option is not None and spec.name_option not in spec.options:
        raise PluginError(f"{who} registered dataset '{spec.name}' whose name_option '{spec.name_option}' "
                          "is not one of its options")


def _check_protocol(spec: ProtocolSpec, who: Provenance) -> None:
    """What can be checked without the other plugins: its tables, statistic and pinned settings (names of
    data sets, models and losses are checked when a run uses it, against the registry of that run)."""
    for table in ("data_options", "model_options", "loss_options", "loss_settings"):
        value = getattr(spec, table)
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            raise PluginError(f"{who} registered protocol '{spec.name}' whose '{table}' is not a mapping of "
                              "name -> {key: value}")
    for loss, settings in spec.loss_settings.items():
        for key, value in settings.items():
            try:
                coerce_setting(key, value, f"protocol '{spec.name}' setting of loss '{loss}'")
            except UsageError as exc:
                raise PluginError(f"{who} registered {exc}") from None
    if spec.interval not in ("std", "se", "ci"):
        raise PluginError(f"{who} registered protocol '{spec.name}' with interval {spec.interval!r}; expected "
                          "'std', 'se' or 'ci'")
    for axis in ("datasets", "models", "losses", "seeds"):
        if not getattr(spec, axis):
            raise PluginError(f"{who} registered protocol '{spec.name}' with no {axis}")
    if spec.budget is not None and (isinstance(spec.budget, bool) or not isinstance(spec.budget, int)
                                    or spec.budget < 1):
        raise PluginError(f"{who} registered protocol '{spec.name}' with budget {spec.budget!r}; expected a positive "
                          "int (the paper's steps) or None")
    if spec.tier_of is not None and not isinstance(spec.tier_of, str):
        raise PluginError(f"{who} registered protocol '{spec.name}' with tier_of {spec.tier_of!r}; expected the "
                          "name of the full protocol or None")
    for row in spec.results:
        if not isinstance(row, PaperRow):
            raise PluginError(f"{who} registered protocol '{spec.name}' whose results hold {type(row).__name__}; "
                              "expected ganbench.specs.PaperRow")
        for column, value in dict(row.values).items() if isinstance(row.values, Mapping) else [(None, None)]:
            if not (isinstance(value, tuple) and len(value) == 2 and all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in value)
                    and value[0] is not None):
                raise PluginError(f"{who} registered protocol '{spec.name}' whose paper row '{row.label}' has "
                                  f"{column!r}: {value!r}; expected values {{column: (mean, interval or None)}}")
        if not isinstance(row.model_options, Mapping) or not isinstance(row.settings, Mapping):
            raise PluginError(f"{who} registered protocol '{spec.name}' whose paper row '{row.label}' has "
                              "model_options or settings that are not mappings")
        for key, value in row.settings.items():
            try:
                coerce_setting(key, value, f"protocol '{spec.name}' paper row '{row.label}' setting")
            except UsageError as exc:
                raise PluginError(f"{who} registered {exc}") from None
