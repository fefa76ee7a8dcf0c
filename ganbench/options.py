"""Plugin options: the hyper-parameters a model, loss or data set declares (``dcgan.norm``,
``label-smooth.real``, ``ring8.std``), one mechanism for all three kinds.

A spec declares ``options = {"key": Option(default, help, choices, check)}`` (a plain default value
is shorthand for ``Option(default)``). Users set them as ``NAME.KEY=VALUE`` (``--loss-opt``,
``--model-opt``, ``--data-opt``) or in the Python API as ``{"NAME": {"KEY": value}}``; values are
coerced to the type of the default and checked here, so a plugin only ever sees valid values.
This module imports without torch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ganbench.errors import UsageError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Option:
    """One declared hyper-parameter. ``check(value)`` returns ``None`` or why the value is invalid
    (e.g. ``"expects a value in (0, 1]"``). A string value is a name, matched without regard to case (a
    choice is given as ``choices`` spells it, others lower-cased), unless ``text``: free text such as a
    folder's path, kept as written."""

    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None
    text: bool = False


def positive(v: Any) -> str | None:
    """Check for :class:`Option`: ``> 0``."""
    return None if v > 0 else "expects a positive integer" if isinstance(v, int) else "expects a positive number"


def non_negative(v: Any) -> str | None:
    """Check for :class:`Option`: ``>= 0``."""
    return None if v >= 0 else "expects a number ≥ 0"


def interval(lo: float, hi: float, closed: str = "[]") -> Callable[[Any], str | None]:
    """Check for :class:`Option`: ``lo <= v <= hi``; ``closed`` says which ends are included
    (``"[]"``, ``"(]"``, ``"[)"``, ``"()"``)."""
    left, right = closed[0] == "[", closed[1] == "]"

    def check(v: Any) -> str | None:
        ok = (v >= lo if left else v > lo) and (v <= hi if right else v < hi)
        return None if ok else f"expects a value in {closed[0]}{lo:g}, {hi:g}{closed[1]}"

    return check


def option_table(options: Mapping[str, Any] | None) -> dict[str, Option]:
    """Normalise a spec's ``options`` mapping: plain defaults become :class:`Option`."""
    return {k: v if isinstance(v, Option) else Option(v) for k, v in (options or {}).items()}


def defaults(options: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: o.default for k, o in option_table(options).items()}


def coerce_value(value: Any, default: Any, what: str, lower: bool = True) -> Any:
    """``value`` converted to the type of ``default`` (bool, int, float or str); UsageError naming
    ``what`` otherwise. Strings from the command line are parsed; a ``None`` default takes strings. A
    string is stripped, and lower-cased with ``lower`` (a choice among names; free text such as a folder's
    path keeps its case)."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            if isinstance(value, str):
                text = value.strip()
                try:
                    number = int(text)
                except ValueError:  # '2e7', '1e4': an integer written in scientific notation
                    as_float = float(text)
                    if not as_float.is_integer():
                        raise
                    number = int(as_float)
            else:
                number = int(value)
            if not -2**63 <= number < 2**63:  # torch's sizes and counts are 64-bit
                raise UsageError(f"{what} expects an integer that fits in 64 bits, got {value!r}")
            return number
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):  # 'inf', 'nan': never a meaningful setting
                raise UsageError(f"{what} expects a finite number, got {value!r}")
            return number
        if default is None or isinstance(default, str):
            return (str(value).strip().lower() if lower else str(value).strip()) if isinstance(default, str) else value
        return type(default)(value)
    except (TypeError, ValueError):
        kind = "true/false" if isinstance(default, bool) else type(default).__name__
        raise UsageError(f"{what} expects {kind}, got {value!r}") from None


def option_problem(option: Option, value: Any) -> str | None:
    """What the option's own rules (its ``choices``, its ``check``) say against a value of its type, or None."""
    if option.choices is not None and value not in option.choices:
        return f"expects one of {', '.join(map(str, option.choices))}"
    return option.check(value) if option.check is not None else None


def coerce_option(option: Option, value: Any, what: str) -> Any:
    out = coerce_value(value, option.default, what, lower=not option.text)
    if option.choices is not None:
        spelled = {c.lower(): c for c in option.choices if isinstance(c, str)}  # AtoB, whatever the case typed
        out = spelled.get(out, out) if isinstance(out, str) else out
    problem = option_problem(option, out)
    if problem:
        raise UsageError(f"{what} {problem}, got {value!r}")
    return out


def resolve(
    kind: str, name: str, declared: Mapping[str, Any] | None, layers: Iterable[tuple[str, Mapping[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Effective options of one plugin and the source of each value.

    ``layers`` are ``(source, {key: value})`` pairs, highest precedence first (e.g. ``user`` then
    ``loss``); keys a layer sets that the plugin does not declare raise UsageError.
    """
    table = option_table(declared)
    known = ", ".join(table) or "none"
    return layered(
        table, layers,
        label=lambda src, key: f"{kind} option {name}.{key}",
        unknown=lambda src, key: f"{kind} '{name}' has no option '{key}'; its options: {known}",
    )


def layered(
    table: Mapping[str, Option], layers: Iterable[tuple[str, Mapping[str, Any]]],
    label: Callable[[str, str], str], unknown: Callable[[str, str], str],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The precedence rule shared by settings and plugin options: for each key of ``table``, the first
    layer (highest precedence first) that sets it to a non-None value wins, coerced and checked;
    otherwise the default. Returns the values and, per key, the winning layer's name or ``default``.
    ``label(source, key)`` names a value in errors; ``unknown(source, key)`` is the error for a key
    the table does not declare."""
    layers = list(layers)
    for src, values in layers:
        for key in values:
            if key not in table:
                raise UsageError(unknown(src, key))
    effective: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key, opt in table.items():
        for src, values in layers:
            if key in values and values[key] is not None:
                effective[key] = coerce_option(opt, values[key], label(src, key))
                source[key] = src
                break
        else:
            effective[key], source[key] = opt.default, "default"
    return effective, source


def parse_assignments(values: Iterable[str], flag: str) -> dict[str, dict[str, str]]:
    """``["label-smooth.real=0.8", "dcgan.norm=layer"]`` -> ``{"label-smooth": {"real": "0.8"}, ...}``.

    The key is the part after the *last* dot before ``=`` (plugin names may contain dots).
    """
    out: dict[str, dict[str, str]] = {}
    for item in values:
        left, sep, value = item.partition("=")
        name, dot, key = left.strip().rpartition(".")
        if not sep or not dot or not name or not key:
            raise UsageError(f"{flag} expects NAME.KEY=VALUE (e.g. {_EXAMPLES.get(flag, 'name.key=1')}), got {item!r}")
        given = out.setdefault(name, {})
        if key in given and given[key] != value.strip():  # the last would win unseen
            raise UsageError(f"{flag} sets {name}.{key} twice ({given[key]} and {value.strip()}): give it once")
        given[key] = value.strip()
    return out


_EXAMPLES = {"--loss-opt": "label-smooth.real=0.8", "--model-opt": "dcgan.norm=layer", "--data-opt": "ring8.std=0.02"}


def format_options(values: Mapping[str, Any]) -> str:
    """``{"real": 0.9, "clip": 0.01}`` -> ``"clip=0.01;real=0.9"`` (stable, for result rows)."""
    return ";".join(f"{k}={values[k]}" for k in sorted(values))


def accepted_kwargs(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``fn`` accepts by name (all of them if it takes ``**kwargs``).

    Plugins' callables may take fewer keyword arguments than the core offers, as pluggy's hook
    implementations may: a loss's ``g_loss`` need not accept the ``real`` option of its ``d_loss``.
    """
    params = accepted_names(fn)
    if params is None:
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def parameter_names(fn: Callable[..., Any]) -> set[str]:
    """The names ``fn``'s parameters have (a ``**options`` catch-all contributes its own name only):
    whether a plugin function *names* an argument such as ``d_real`` or ``progress``, which the core
    then passes; never into its ``**options`` unasked. Empty when ``fn`` has no signature."""
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def accepted_names(fn: Callable[..., Any]) -> set[str] | None:
    """Names ``fn`` accepts as keywords, or ``None`` if it takes ``**kwargs`` (or has no signature)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    names = set()
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(p.name)
    return names
