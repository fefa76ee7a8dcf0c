"""Plugin manager: loads the ``ganbench`` entry-point group, honours blocking, fills a Registry."""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from ganbench import hookspecs
from ganbench.errors import GanbenchError, PluginError, one_line
from ganbench.registry import KINDS, PLURALS, Provenance, Registry

ENTRY_POINT_GROUP = "ganbench"
#: comma-separated plugin names to block, like ``-p no:NAME`` on the command line
DISABLE_ENV = "GANBENCH_DISABLE_PLUGINS"
#: set to 1 to load no entry-point plugins at all (only those passed in explicitly)
NO_AUTOLOAD_ENV = "GANBENCH_DISABLE_PLUGIN_AUTOLOAD"

REGISTER_HOOKS = {kind: f"ganbench_register_{PLURALS[kind]}" for kind in KINDS}


@dataclass
class PluginInfo:
    """One loaded plugin, for ``ganbench plugins``."""

    name: str
    provenance: Provenance
    module: str
    hooks: list[str]
    registered: dict[str, list[str]] = field(default_factory=dict)
    #: the file the plugin's module was imported from ("" for plugin objects without one)
    location: str = ""


@dataclass
class BrokenPlugin:
    """An installed plugin whose module failed to import: the others still load."""

    name: str
    provenance: Provenance
    target: str
    error: str

    def message(self) -> str:
        return (f"{self.provenance} could not be loaded ({self.target}): {self.error}; "
                f"disable it with '-p no:{self.name}' or {DISABLE_ENV}={self.name}")


class GanbenchPlugins:
    """A pluggy PluginManager plus the distribution of each plugin, the registry it filled and the
    installed plugins that failed to import."""

    def __init__(self, pm: pluggy.PluginManager, provenance: dict[str, Provenance], blocked: set[str],
                 broken: list[BrokenPlugin] | None = None):
        self.pm = pm
        self._provenance = provenance
        self.blocked = blocked
        self.broken = list(broken or [])
        #: one line each for the user (e.g. a block list naming plugins that are not installed)
        self.warnings: list[str] = []
        #: how :func:`load_plugins` made these (set by it): ``extra``, ``autoload``, ``enabled``, ``blocked``
        self.request: dict[str, Any] = {"extra": [], "autoload": True, "enabled": set(), "blocked": set(blocked)}
        self.registry = Registry()
        self.registry.broken = [b.message() for b in self.broken]
        self._fill_registry()

    def _fill_registry(self) -> None:
        # Each implementation is called on its own, so the registry knows which plugin added what.
        for hook_name in REGISTER_HOOKS.values():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():  # registration order (pluggy calls them LIFO)
                prov = self._provenance.get(impl.plugin_name, Provenance(impl.plugin_name))
                kwargs = {"registry": self.registry}
                with self.registry.contributing(prov):
                    try:
                        impl.function(*[kwargs[a] for a in impl.argnames])
                    except (GanbenchError, KeyboardInterrupt):
                        raise
                    except BaseException as exc:  # a plugin bug (sys.exit() too): name the plugin, keep the cause
                        raise PluginError(f"{prov} failed in {hook_name}: {one_line(exc)}") from exc

    @property
    def observers(self):
        """The observer hooks of these plugins (:class:`ganbench.observe.Observers`), built once."""
        if getattr(self, "_observers", None) is None:
            from ganbench.observe import Observers

            self._observers = Observers(self.pm)
        return self._observers

    def provenance_of(self, plugin: str) -> Provenance:
        """Which distribution the plugin registered as ``plugin`` comes from."""
        return self._provenance.get(plugin, Provenance(plugin))

    def info(self) -> list[PluginInfo]:
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            prov = self._provenance.get(name, Provenance(name))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            registered = {
                PLURALS[kind]: [n for n, _, p in self.registry.items(kind) if p.plugin == name] for kind in KINDS
            }
            module = getattr(plugin, "__name__", type(plugin).__name__)
            out.append(PluginInfo(name, prov, module, hooks, {k: v for k, v in registered.items() if v},
                                  getattr(plugin, "__file__", None) or ""))
        return out


def _env_list(name: str) -> set[str]:
    return {s.strip() for s in os.environ.get(name, "").split(",") if s.strip()}


def load_plugins(
    *, extra: Iterable[Any] = (), disabled: Iterable[str] = (), autoload: bool | None = None,
    enabled: Iterable[str] = (), environment: bool = True,
) -> GanbenchPlugins:
    """Load every installed plugin of the ``ganbench`` entry-point group, minus blocked ones. A plugin
    whose module fails to import is recorded in ``.broken`` and the others load.

    :param extra: plugin objects/modules to register in addition (tests, notebooks).
    :param disabled: plugin names to block (also read from ``GANBENCH_DISABLE_PLUGINS``).
    :param autoload: load entry points; default unless ``GANBENCH_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param enabled: entry-point names to load even without autoload (like pytest's ``-p NAME``).
    :param environment: read the two environment variables (a worker process repeating the
        driver's resolved request, :class:`ganbench.execution.plan.PluginSetup`, does not).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    extra = list(extra)
    disabled, from_env = set(disabled), _env_list(DISABLE_ENV) if environment else set()
    blocked = disabled | from_env
    for name in blocked:
        pm.set_blocked(name)
    if autoload is None:
        autoload = os.environ.get(NO_AUTOLOAD_ENV, "") in ("", "0") if environment else True
    provenance: dict[str, Provenance] = {}
    broken: list[BrokenPlugin] = []
    enabled = set(enabled)
    points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    installed = ", ".join(ep.name for ep in points) or "(none)"
    unknown = enabled - {ep.name for ep in points}
    if unknown:
        raise PluginError(f"-p {', '.join(sorted(unknown))}: no installed ganbench plugin of that name; installed: "
                          f"{installed}")
    known = {ep.name for ep in points} | {_name(p, i) for i, p in enumerate(extra)}
    unknown = disabled - known  # a typo in -p no:NAME would otherwise block nothing, silently
    if unknown:
        raise PluginError(f"-p no:{', no:'.join(sorted(unknown))}: no installed ganbench plugin of that name to block; "
                          f"installed: {installed}")
    stale = sorted(from_env - known)
    if autoload or enabled:
        for ep in points:
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name) or not (autoload or ep.name in enabled):
                continue
            dist = ep.dist
            prov = Provenance(ep.name, dist.metadata["Name"] if dist else None, dist.version if dist else None)
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # recorded: the other plugins load, the CLI warns, unknown names mention it
                broken.append(BrokenPlugin(ep.name, prov, ep.value, one_line(exc)))
                continue
            try:
                _register(pm, plugin, ep.name)
            except PluginError as exc:  # a hook of the wrong signature: this plugin is broken, the others load
                with contextlib.suppress(Exception):
                    pm.unregister(name=ep.name)
                broken.append(BrokenPlugin(ep.name, prov, ep.value, str(exc)))
                continue
            provenance[ep.name] = prov
    for i, plugin in enumerate(extra):
        name = _name(plugin, i)
        if not pm.is_blocked(name):
            _register(pm, plugin, name)
    plugins = GanbenchPlugins(pm, provenance, blocked, broken)
    plugins.warnings += _unknown_hooks(pm, provenance)
    #: how these plugins were loaded, resolved (environment included): what a worker repeats
    plugins.request = {"extra": extra, "autoload": autoload, "enabled": enabled, "blocked": blocked & known}
    if stale:  # set in an environment for plugins this one lacks: said, not fatal
        plugins.warnings.append(f"{DISABLE_ENV} names {', '.join(stale)}, which no installed ganbench plugin is called; "
                                f"installed: {installed}")
    return plugins


def _unknown_hooks(pm: pluggy.PluginManager, provenance: dict[str, Provenance]) -> list[str]:
    """A line per function named like a hook (``ganbench_...``) that no hook specification has: a misspelled
    hook (``ganbench_register_loss``) would otherwise be silently never called."""
    known = [n for n in dir(hookspecs) if n.startswith(f"{hookspecs.PROJECT}_")]
    lines = []
    for name, plugin in pm.list_name_plugin():
        for attr in sorted(dir(plugin)):
            if attr.startswith(f"{hookspecs.PROJECT}_") and attr not in known and callable(getattr(plugin, attr, None)):
                close = difflib.get_close_matches(attr, known, n=1)
                lines.append(f"{provenance.get(name, Provenance(name))} defines {attr}, which is no ganbench hook, so "
                             "it is never called" + (f": did you mean {close[0]}?" if close else ""))
    return lines


def _name(plugin: Any, index: int) -> str:
    """The name an explicitly passed plugin object is registered under."""
    return getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{index}"


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin '{name}' is invalid: {exc}") from exc
