"""The registry: what plugins contributed, by kind and name, and which plugin gave what."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ganbench.errors import PluginError, UnknownNameError
from ganbench.specs import NAME_RE, DatasetSpec, LossSpec, MetricSpec, ModelSpec

#: kind -> spec class. The plural forms are what the CLI and the hooks use.
KINDS: dict[str, type] = {
    "model": ModelSpec,
    "loss": LossSpec,
    "dataset": DatasetSpec,
    "metric": MetricSpec,
}
PLURALS = {"model": "models", "loss": "losses", "dataset": "datasets", "metric": "metrics"}


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
        self._current: Provenance | None = None

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
        """The spec registered under ``name``; UnknownNameError listing the known names otherwise."""
        kind = normalize_kind(kind)
        try:
            return self._entries[kind][name][0]
        except KeyError:
            known = ", ".join(self.names(kind)) or "(none registered)"
            raise UnknownNameError(f"unknown {kind} '{name}'; known {PLURALS[kind]}: {known}") from None

    def provenance(self, kind: str, name: str) -> Provenance:
        kind = normalize_kind(kind)
        self.get(kind, name)
        return self._entries[kind][name][1]

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
        for attr in ("build", "load", "compute", "d_loss", "g_loss", "supports"):
            if hasattr(spec, attr) and not callable(getattr(spec, attr)):
                raise PluginError(f"{who} registered {kind} '{name}' whose '{attr}' is not callable")
        if name in self._entries[kind]:
            other = self._entries[kind][name][1]
            raise PluginError(f"{kind} '{name}' registered twice: by {other} and by {who}")
        self._entries[kind][name] = (spec, who)
