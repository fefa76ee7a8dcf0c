"""Hyper-parameter sweeps and budgeted random search: the points of a request, and how a report reads them.

A **point** is a set of hyper-parameter values that one cell trains with, beside its data set, model,
loss and seed. Points come from

- **sweep axes** (``--sweep lr_d=1e-4,2e-4 --sweep dcgan.norm=batch,spectral``, ``[sweep]`` in a suite
  file): their cartesian product; keys joined by ``+`` move together, with one value for all of them or
  one each (``pacgan.pack+batch_size=1:100,2:200``);
- **random search** (``--search N --space FILE|PRESET``): N points drawn from a search space (per key:
  ``log-uniform``, ``uniform``, ``integer`` or ``choice``) with a named random stream of the request
  (``search``, from ``--search-seed``), so every loss and model gets the same points (paired, as seeds
  are) and a re-run draws them again;
- both: every sweep point combined with every drawn point.

A key is a setting (``lr_d``), a plugin option ``NAME.KEY`` of a model or loss of the run
(``dcgan.norm``), or keys joined by ``+`` that take one value together (``lr_g+lr_d``: one learning
rate for both networks). A cell takes the keys that apply to it (a ``dcgan.norm`` value does not apply
to a ``vanilla`` cell), and cells that would then repeat a point are trained once.

The report side: :func:`expected_best` is the estimator of Lucic et al. 2018 (Figure 4) — the expected
best metric of k points drawn without replacement from the N trained ones — computed exactly from the
order statistics, and :func:`select_and_report` picks a best setting on some seeds and reports it on
the others (choosing the best of N points and reporting it on the seeds it was chosen on overstates it).
This module imports without torch.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench.errors import UsageError

#: the distributions of a search space and the arguments each takes
KINDS = {"log-uniform": "[low, high] with 0 < low < high", "uniform": "[low, high] with low < high",
         "integer": "[low, high], integers, both included", "choice": "a list of values"}
#: the random stream the points of a search are drawn from (with the request's search seed)
STREAM = "search"


@dataclass(frozen=True)
class Dist:
    """One key's distribution in a search space."""

    kind: str
    args: tuple[Any, ...]

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "log-uniform":
            lo, hi = self.args
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if self.kind == "uniform":
            return float(rng.uniform(*self.args))
        if self.kind == "integer":
            return rng.randint(*self.args)
        return self.args[rng.randrange(len(self.args))]

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.kind: list(self.args)}

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.args))
        return f"{self.kind} [{self.args[0]:g}, {self.args[1]:g}]"


def split_key(key: str) -> list[str]:
    """``"lr_g+lr_d"`` -> ``["lr_g", "lr_d"]``: the keys one value of an axis sets."""
    return [part.strip() for part in key.split("+")]


def components(axis: str, value: Any) -> list[Any]:
    """One value of axis ``axis`` as one value per key it sets: a list or tuple gives each key its own
    (``[2, 200]`` for ``pacgan.pack+batch_size``), so does text with ``:`` (``2:200``) on a joined axis;
    any other value is every key's. A one-line error when the count does not match the keys."""
    keys = split_key(axis)
    if isinstance(value, (list, tuple)):
        parts = list(value)
    elif isinstance(value, str) and len(keys) > 1 and ":" in value:
        parts = [p.strip() for p in value.split(":")]
    else:
        parts = [value] * len(keys)
    if len(parts) != len(keys):
        raise UsageError(f"sweep key '{axis}' sets {len(keys)} keys; its value {value!r} gives {len(parts)} "
                         f"(one value for all, or one per key: V1:V2)")
    return parts


def joined(parts: Sequence[Any]) -> Any:
    """The stored form of one axis value: the value itself when every key takes it, else the list."""
    return parts[0] if all(p == parts[0] and type(p) is type(parts[0]) for p in parts) else list(parts)


def parse_values(text: str) -> list[str]:
    """The values of one ``--sweep KEY=VALUES``: comma-separated, or ``;``-separated when a value holds a
    comma itself (``augment=none;translation,cutout``)."""
    sep = ";" if ";" in text else ","
    return [v.strip() for v in text.split(sep)]


def parse_sweep_args(items: Iterable[str]) -> dict[str, list[str]]:
    """``["lr_d=1e-4,2e-4", "dcgan.norm=batch,spectral"]`` -> ``{"lr_d": ["1e-4", "2e-4"], ...}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"--sweep expects KEY=V1,V2,... (e.g. lr_d=1e-4,2e-4,4e-4 or dcgan.norm=batch,spectral), "
                             f"got {item!r}")
        if key in out:
            raise UsageError(f"--sweep gives '{key}' twice: list all its values in one --sweep {key}=V1,V2,...")
        out[key] = parse_values(values)
    return out


def parse_space(table: Any, where: str) -> dict[str, Dist]:
    """A search space ``{key: {kind: args}}`` (a TOML table such as ``lr_d = {log-uniform = [1e-5, 1e-2]}``)
    checked for its shape; a one-line :class:`UsageError` naming ``where`` and the key otherwise."""
    if not isinstance(table, Mapping) or not table:
        raise UsageError(f"{where} expects a table of KEY = {{KIND = ARGS}} with at least one key "
                         f"(KIND: {', '.join(KINDS)}), got {table!r}")
    space: dict[str, Dist] = {}
    for key, spec in table.items():
        at = f"{where}: key '{key}'"
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise UsageError(f"{at} expects one distribution, e.g. {{log-uniform = [1e-5, 1e-2]}} (kinds: "
                             f"{', '.join(KINDS)}), got {spec!r}")
        (kind, args), = spec.items()
        if kind not in KINDS:
            raise UsageError(f"{at} has unknown distribution '{kind}'; known: {', '.join(KINDS)}")
        if not isinstance(args, (list, tuple)):
            raise UsageError(f"{at} expects {kind} {KINDS[kind]}, got {args!r}")
        args = tuple(args)
        if kind == "choice":
            if not args or len(set(map(repr, args))) != len(args) or any(isinstance(a, (list, dict)) for a in args):
                raise UsageError(f"{at} expects choice: a list of distinct single values, got {list(args)!r}")
            if any(";" in str(a) for a in args):  # a row's point column separates keys by ';', as for sweeps
                raise UsageError(f"{at}: a value may not contain ';', got {next(str(a) for a in args if ';' in str(a))!r}")
        else:
            numeric = len(args) == 2 and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
            ok = numeric and args[0] < args[1] and all(math.isfinite(a) for a in args)
            if kind == "log-uniform":
                ok = ok and args[0] > 0
            if kind == "integer":
                ok = ok and all(isinstance(a, int) for a in args)
            if not ok:
                raise UsageError(f"{at} expects {kind} {KINDS[kind]}, got {list(args)!r}")
        space[str(key)] = Dist(kind, args)
    return space


# -- presets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preset:
    """A shipped search space, with where it comes from."""

    name: str
    citation: str
    space: Mapping[str, Mapping[str, list[Any]]]


#: search spaces that ship with ganbench (``--space NAME``)
PRESETS: dict[str, Preset] = {}


def add_preset(preset: Preset) -> None:
    parse_space(preset.space, f"search space preset '{preset.name}'")
    PRESETS[preset.name] = preset


def load_space(value: str) -> tuple[str, dict[str, Mapping[str, list[Any]]]]:
    """``--space``: a preset name or a TOML file (its ``[space]`` table, or the whole file). Returns the
    name to record and the space as plain data (checked)."""
    if value in PRESETS:
        return value, {k: dict(v) for k, v in PRESETS[value].space.items()}
    path = Path(value)
    if not path.suffix and not path.exists():
        raise UsageError(f"--space '{value}' is neither a search space preset ({', '.join(PRESETS) or 'none'}) "
                         "nor a file")
    from ganbench.suite import tomllib

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"space file {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"space file {path}: invalid TOML: {exc}") from None
    table = doc.get("space", doc) if isinstance(doc.get("space"), Mapping) else doc
    parse_space(table, f"space file {path}")
    return str(path), {k: dict(v) for k, v in table.items()}


# -- points ----------------------------------------------------------------------------------------

def product(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of sweep axes as points ``{key: value}`` (joined keys expanded), in the
    order the axes and their values are given (the last axis varies fastest)."""
    names = list(axes)
    points = []
    for combo in itertools.product(*(axes[n] for n in names)):
        point: dict[str, Any] = {}
        for name, value in zip(names, combo, strict=True):
            for key, part in zip(split_key(name), components(name, value), strict=True):
                point[key] = part
        points.append(point)
    return points


def check_search(space: Mapping[str, Dist], n: int) -> None:
    """Refuse ``--search n`` above the settings a space of choices and integer ranges holds (:func:`draw` would
    draw a duplicate for the rest, and the board would say 'best of n')."""
    finite = [len(set(map(str, d.args))) if d.kind == "choice" else d.args[1] - d.args[0] + 1 for d in space.values()
              if d.kind in ("choice", "integer")]
    if space and len(finite) == len(space) and n > math.prod(finite):
        raise UsageError(f"--search {n} asks for {n} settings; the space holds only {math.prod(finite)} (every key is a "
                         "choice or an integer range): ask for at most that many, or sweep them all with --sweep")


def draw(space: Mapping[str, Dist], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` points of ``space`` from the request's ``search`` stream: the same for every cell and re-run.
    Each value comes from its own stream (the seed, ``search``, the key, the point's index), so a point does
    not depend on the order of the space's keys (suite.json stores them sorted) nor on its other keys."""
    from ganbench.seeding import derive_seed

    def value(dist: Dist, *stream: str) -> Any:
        v = dist.draw(random.Random(derive_seed(seed, STREAM, *stream)))
        if isinstance(v, float) and dist.kind != "choice":  # 4 significant digits: points a table can show,
            lo, hi = dist.args  # kept inside the range the rounding could leave (0.99996 of [0.9, 0.9999])
            v = min(max(float(f"{v:.4g}"), lo), hi)
        return v

    points: list[dict[str, Any]] = []
    for i in range(n):
        point: dict[str, Any] = {}
        for again in itertools.count():  # a point equal to an earlier one (rounding, a small space) is drawn again
            point = {}
            for name, dist in space.items():
                v = value(dist, name, str(i), *(("again", str(again)) if again else ()))
                for key in split_key(name):
                    point[key] = v
            if point not in points or again >= 100:  # a space with fewer points than asked: duplicates stay
                break
        points.append(point)
    return points


def text(point: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> str:
    """A point as the ``point`` column shows it and its cell id hashes it: ``key=value`` sorted by key."""
    from ganbench.options import format_options

    return format_options(dict(point))


def parse_text(value: str) -> tuple[tuple[str, str], ...]:
    """The inverse of :func:`text`, values as strings (a cell's id is the same either way)."""
    if not value:
        return ()
    return tuple(tuple(item.split("=", 1)) for item in value.split(";"))  # type: ignore[misc]


# -- reading a sweep -------------------------------------------------------------------------------

def expected_best(values: Sequence[float], k: int, higher: bool = False, failed: int = 0) -> float:
    """The expected best of ``k`` of N points drawn without replacement (every k-subset equally likely), N =
    ``len(values)`` measured points + ``failed`` points without a value (diverged, failed), which rank below
    every measured one: with the values sorted best first, ``v_(i)`` is the best of a subset exactly when
    the subset holds it and k − 1 of the N − i worse ones, so over the subsets with a measured point
    E = Σ_i v_(i)·C(N−i, k−1) / (C(N, k) − C(failed, k)); NaN when every k-subset is all failed."""
    n = len(values) + failed
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    ordered = sorted(values, reverse=higher)
    some = math.comb(n, k) - math.comb(failed, k)  # subsets holding at least one measured point
    if some == 0:
        return float("nan")
    return float(sum(v * (math.comb(n - i, k - 1) / some) for i, v in enumerate(ordered, start=1) if n - i >= k - 1))


def all_failed(n: int, failed: int, k: int) -> float:
    """The probability that k of N points drawn without replacement are all among the ``failed`` ones."""
    return math.comb(failed, k) / math.comb(n, k)


def best_of_k(per_seed: Mapping[Any, Sequence[float]], higher: bool = False, points: int | None = None
              ) -> list[dict[str, Any]]:
    """The best-of-k curve of one (data set, model, loss) with ``points`` N points: per seed, the expected best
    of k of the N (the seed's points without a value — diverged, failed, not run — count as failed,
    :func:`expected_best`) for k = 1..N; then per k the mean over seeds, the sample std, the number of
    seeds and the mean probability that all k points drawn failed."""
    n = points if points is not None else max((len(v) for v in per_seed.values()), default=0)
    rows = []
    for k in range(1, n + 1):
        vals = [expected_best(v, k, higher, n - len(v)) for v in per_seed.values()]
        fail = [all_failed(n, n - len(v), k) for v in per_seed.values()]
        vals = [v for v in vals if not math.isnan(v)]
        mean = sum(vals) / len(vals) if vals else float("nan")
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else float("nan")
        rows.append({"k": k, "mean": mean, "std": std, "seeds": len(vals),
                     "all_failed": sum(fail) / len(fail) if fail else float("nan")})
    return rows


def split_seeds(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """Selection and report seeds: the first half (rounded down, at least one) selects, the rest report."""
    ordered = sorted(seeds)
    cut = max(1, len(ordered) // 2)
    return ordered[:cut], ordered[cut:]


def select_and_report(table: Mapping[str, Mapping[int, float]], higher: bool = False,
                      select: Sequence[int] | None = None) -> dict[str, Any]:
    """The best point of one (data set, model, loss), chosen on the selection seeds and reported on the
    others. ``table``: point -> {seed: metric}. A point is a candidate when it has a value on every
    selection seed; the best candidate's values on the report seeds are its honest estimate (mean, std,
    n). Without report seeds the estimate is missing and ``honest`` is False."""
    seeds = sorted({s for row in table.values() for s in row})
    chosen, held = (split_seeds(seeds) if select is None else
                    (sorted(select), [s for s in seeds if s not in set(select)]))
    candidates = {p: sum(row[s] for s in chosen) / len(chosen) for p, row in table.items()
                  if chosen and all(s in row and math.isfinite(row[s]) for s in chosen)}
    out: dict[str, Any] = {"select_seeds": chosen, "report_seeds": held, "points": len(table),
                           "candidates": len(candidates)}
    if not candidates:
        return {**out, "point": None, "select_mean": float("nan"), "mean": float("nan"), "std": float("nan"),
                "n": 0, "honest": False}
    best = (max if higher else min)(candidates, key=lambda p: candidates[p])
    vals = [table[best][s] for s in held if s in table[best] and math.isfinite(table[best][s])]
    mean = sum(vals) / len(vals) if vals else float("nan")
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else float("nan")
    return {**out, "point": best, "select_mean": candidates[best], "mean": mean, "std": std, "n": len(vals),
            "honest": bool(vals)}


# -- the shipped presets ---------------------------------------------------------------------------

_LUCIC = ("Lucic et al. 2018, Are GANs Created Equal? A Large-Scale Study (NeurIPS), section 5; the ranges as their "
          "released code defines them (github.com/google/compare_gan, compare_gan/src/params.py at 49495fd, sampled by "
          "generate_tasks_lib.py): one Adam learning rate for both networks, beta2 0.999, batch 64 and z_dim 64 fixed "
          "(not searched: pin them with --set), D's batch norm on or off (dcgan.norm and vanilla.norm: batch or none), "
          "n_disc a choice of 1 or 5 (not 1 to 5), WGAN's clipping and WGAN-GP's λ for those losses only. They drew "
          "100 points per model (wide) and 50 (narrow), the loss's default setting among them; DRAGAN and BEGAN are not "
          "in ganbench.")
add_preset(Preset("lucic2018-wide", "wide range. " + _LUCIC, {
    "lr_g+lr_d": {"log-uniform": [1e-5, 1e-2]},
    "beta1": {"uniform": [0.0, 0.999]},  # their U[0, 1]; ganbench's beta1 must stay below 1
    "n_critic": {"choice": [1, 5]},
    "dcgan.norm+vanilla.norm": {"choice": ["batch", "none"]},
    "wgan.clip": {"log-uniform": [1e-3, 1.0]},
    "wgan-gp.lambda": {"log-uniform": [0.1, 100.0]},
}))
add_preset(Preset("lucic2018-narrow", "narrow range (beta1 0.5, n_disc 1; their narrow range keeps D's batch norm "
                  "off for WGAN-GP and DRAGAN, where this space draws it for every loss: a model option cannot depend "
                  "on the loss here). " + _LUCIC, {
    "lr_g+lr_d": {"log-uniform": [1e-4, 1e-3]},
    "beta1": {"choice": [0.5]},
    "n_critic": {"choice": [1]},
    "dcgan.norm+vanilla.norm": {"choice": ["batch", "none"]},
    "wgan.clip": {"log-uniform": [0.01, 1.0]},
    "wgan-gp.lambda": {"log-uniform": [0.1, 10.0]},
}))


# -- the report of a swept run ---------------------------------------------------------------------

#: what a swept run's rows are grouped by before their points are compared
GROUP = ("dataset", "model", "loss")


def is_swept(rows) -> bool:
    """Whether ``rows`` (a run's result rows) hold cells of sweep or search points."""
    from ganbench.report import reference_mask

    return "point" in rows and bool((rows.loc[~reference_mask(rows), "point"].fillna("") != "").any())


def _tables(rows, metric: str) -> dict[tuple[str, ...], dict[str, dict[int, float]]]:
    """Per (data set, model, loss): point -> {seed: the metric's value} over its measured cells; a cell
    outside the sweep is the one point "" of its group; a point of a seed without a value is absent from
    that seed (diverged, failed or not run: it counts as failed)."""
    from ganbench.report import _values, reference_mask, with_points

    cells = with_points(rows[~reference_mask(rows)])
    out: dict[tuple[str, ...], dict[str, dict[int, float]]] = {}
    for key, g in cells.groupby(list(GROUP), sort=False):
        table: dict[str, dict[int, float]] = {}
        for point, pg in g.groupby("point", sort=False):
            vals = _values(pg, metric)
            table[str(point)] = {int(pg.loc[i, "seed"]): float(v) for i, v in vals.items()}
        out[tuple(key)] = table
    return out


def seeds_of(rows) -> list[int]:
    """The seeds of the cells of ``rows`` (every cell, measured or not)."""
    from ganbench.report import reference_mask

    return sorted({int(s) for s in rows.loc[~reference_mask(rows), "seed"]})


def choices(rows, metric: str, higher: bool, select: Sequence[int] | None = None):
    """Per (data set, model, loss) of a swept run: the best point chosen on the selection seeds
    (:func:`select_and_report`) and its value on the report seeds, with the budget (points trained)."""
    import pandas as pd

    out = []
    chosen = split_seeds(seeds_of(rows))[0] if select is None else sorted(select)  # the same for every group
    for key, table in _tables(rows, metric).items():
        best = select_and_report(table, higher, chosen)
        out.append({**dict(zip(GROUP, key, strict=True)), "metric": metric, "budget": best["points"],
                    "candidates": best["candidates"], "point": best["point"],
                    "select_seeds": ",".join(map(str, best["select_seeds"])),
                    "report_seeds": ",".join(map(str, best["report_seeds"])), "select_mean": best["select_mean"],
                    "mean": best["mean"], "std": best["std"], "n": best["n"]})
    return pd.DataFrame(out)


def best_setting_rows(rows, metric: str, higher: bool, select: Sequence[int] | None = None):
    """The rows a "best setting per loss" table is computed from: per (data set, model, loss) the cells of
    the point chosen on the selection seeds, on the report seeds only (so the table's numbers never come
    from the seeds that chose them); reference rows kept. Returns the rows and :func:`choices`."""
    from ganbench.report import reference_mask

    chosen = choices(rows, metric, higher, select)
    keep = reference_mask(rows).copy()
    for r in chosen.itertuples():
        if r.point is None:
            continue
        report = {int(s) for s in r.report_seeds.split(",") if s}
        keep |= ((rows["dataset"] == r.dataset) & (rows["model"] == r.model) & (rows["loss"] == r.loss)
                 & (rows["point"] == r.point) & rows["seed"].isin(report))
    return rows[keep], chosen


def curves(rows, metric: str, higher: bool):
    """The best-of-k curves of a swept run: per (data set, model, loss) and k = 1..N, the expected best of k
    of its N points (:func:`expected_best`, exact), mean and std over seeds."""
    import pandas as pd

    out = []
    seeds = seeds_of(rows)
    for key, table in _tables(rows, metric).items():
        per_seed: dict[int, list[float]] = {s: [] for s in seeds}
        for values in table.values():
            for seed, v in values.items():
                if math.isfinite(v):
                    per_seed.setdefault(seed, []).append(v)
        for r in best_of_k(per_seed, higher, len(table)):
            out.append({**dict(zip(GROUP, key, strict=True)), "metric": metric, "points": len(table), **r})
    return pd.DataFrame(out)


def _ks(n: int) -> list[int]:
    """The budgets a table shows: 1, 2, 4, 8, ... and n."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]


def markdown(rows, metrics: Sequence[tuple[str, bool | None]], select: Sequence[int] | None = None) -> list[str]:
    """A swept run's sections of a board: the budget, the best-of-k table and the best setting per
    (data set, model, loss), chosen on some seeds and reported on the others, for each ranked metric."""
    from ganbench.report import md_escape

    ranked = [(c, h) for c, h in metrics if h is not None]
    if not ranked or not is_swept(rows):
        return []
    lines = ["## The sweep: expected best of k points", ""]
    for col, higher in ranked:
        cur = curves(rows, col, higher)
        if cur.empty:
            continue
        most = int(cur["points"].max())
        ks = _ks(most)
        lines += [f"`{md_escape(col)}` ({'higher' if higher else 'lower'} is better): the expected best of k points "
                  f"drawn without replacement from the N trained (Lucic et al. 2018, Figure 4; exact, not "
                  "bootstrapped), per seed, then mean ± std over seeds; a point that diverged or failed on a seed ranks "
                  "below every measured one there, and where k points can all be such, the chance is shown.", "",
                  "| data set | model | loss | N | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "|---|---|---|---:|" + "---:|" * len(ks)]
        for key, g in cur.groupby(list(GROUP), sort=False):
            by_k = {int(r.k): r for r in g.itertuples()}
            shown = [(f"{by_k[k].mean:.4g}" + (f" ± {by_k[k].std:.2g}" if not math.isnan(by_k[k].std) else "")
                      + (f" ({100 * by_k[k].all_failed:.0f} % all failed)" if by_k[k].all_failed > 0 else ""))
                     if k in by_k else "—" for k in ks]
            lines.append("| " + " | ".join(md_escape(str(v)) for v in key) + f" | {int(g['points'].iloc[0])} | "
                         + " | ".join(shown) + " |")
        lines.append("")
    col, higher = ranked[0]
    chosen = choices(rows, col, higher, select)
    if chosen.empty:
        return lines
    first = chosen.iloc[0]
    lines += ["## Best setting per loss", "",
              f"Chosen by `{md_escape(col)}` on seed(s) {first.select_seeds} and reported on seed(s) "
              f"{first.report_seeds or '(none)'}: the best of N points measured on the seeds that chose it "
              "overstates it (the winner's curse), so only the report seeds' numbers estimate it.", "",
              "| data set | model | loss | budget (points) | best point | on the selection seeds | on the report "
              "seeds (mean ± std, n) |", "|---|---|---|---:|---|---:|---:|"]
    order = chosen.sort_values("mean", ascending=not higher, na_position="last")
    for r in order.itertuples():
        report = (f"{r.mean:.4g}" + (f" ± {r.std:.2g}" if not math.isnan(r.std) else "") + f" (n={r.n})"
                  if r.n else "— (no report seed)")
        lines.append(f"| {md_escape(r.dataset)} | {md_escape(r.model)} | {md_escape(r.loss)} | {r.budget} | "
                     f"{md_escape(str(r.point))} | {r.select_mean:.4g} | {report} |")
    return [*lines, ""]
