"""Comparison tables: aggregate result rows over seeds.

For each (dataset, model, loss): how many seeds ran and their statuses, and for each metric the
mean and the sample standard deviation (ddof=1) over the seeds whose status is ``ok``. Rows are
ranked by the primary metric within each data set. Numbers from different feature extractors are
never put in one column: an ``*_extractor`` column that is not constant within a data set is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ganbench.errors import UsageError

GROUP = ["dataset", "model", "loss"]
STATUSES = ("ok", "diverged", "failed", "skipped")
#: metric columns summarised by default: (column, higher_is_better)
DEFAULT_METRICS: Sequence[tuple[str, bool]] = (("fid", False),)


def metric_columns(registry, df: pd.DataFrame) -> list[tuple[str, bool]]:
    """(primary column, higher_is_better) of every registered metric whose column has a value in
    ``df`` (e.g. ``track_final_gap`` only appears with an evaluation trajectory)."""
    return [(spec.primary, spec.higher_is_better) for _, spec, _ in registry.items("metric")
            if spec.primary in df.columns and pd.to_numeric(df[spec.primary], errors="coerce").notna().any()]


def summarize(df: pd.DataFrame, metrics: Sequence[tuple[str, bool]] = DEFAULT_METRICS) -> pd.DataFrame:
    """One row per (dataset, model, loss) with ``<metric>_mean``, ``<metric>_std``, ``n_<status>``."""
    if df.empty:
        return pd.DataFrame(columns=GROUP)
    for col in [c for c in df.columns if c.endswith("_extractor")]:
        per_dataset = df.dropna(subset=[col]).groupby("dataset")[col].nunique()
        mixed = per_dataset[per_dataset > 1]
        if not mixed.empty:
            raise UsageError(
                f"results for {', '.join(mixed.index)} mix feature extractors in '{col}' "
                "(e.g. a retrained domain classifier); report them separately"
            )
    out = []
    for key, g in df.groupby(GROUP, sort=False):
        rec = dict(zip(GROUP, key, strict=True))
        rec["seeds"] = len(g)
        for s in STATUSES:
            rec[f"n_{s}"] = int((g["status"] == s).sum())
        ok = g[g["status"] == "ok"]
        for col, _ in metrics:
            vals = pd.to_numeric(ok[col], errors="coerce").dropna() if col in ok else pd.Series(dtype=float)
            rec[f"{col}_mean"] = vals.mean() if len(vals) else float("nan")
            rec[f"{col}_std"] = vals.std(ddof=1) if len(vals) > 1 else float("nan")
            rec[f"{col}_n"] = len(vals)
            ext = f"{col}_extractor"
            if ext in ok and ok[ext].notna().any():
                rec[ext] = ok[ext].dropna().iloc[0]
        for col in ("steps_per_s", "wall_s", "domain_accuracy"):
            if col in ok:
                rec[col] = pd.to_numeric(ok[col], errors="coerce").mean()
        notes = g.loc[g["status"].isin(["skipped", "failed"]), "message"].dropna().unique()
        rec["note"] = "; ".join(str(n) for n in notes if n)
        out.append(rec)
    summary = pd.DataFrame(out)
    if metrics:
        col, higher = metrics[0]
        summary = summary.sort_values(["dataset", f"{col}_mean"], ascending=[True, not higher], na_position="last")
        summary[f"{col}_rank"] = summary.groupby("dataset")[f"{col}_mean"].rank(
            ascending=not higher, method="min"
        )
    return summary.reset_index(drop=True)


def fmt_mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    if n == 0 or pd.isna(mean):
        return "—"
    if n == 1 or pd.isna(std):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def render_rich(summary: pd.DataFrame, title: str = "ganbench results", metrics=DEFAULT_METRICS):
    """A rich Table of the summary (mean ± std over seeds)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ["dataset", "model", "loss"]:
        table.add_column(col)
    for col, higher in metrics:
        table.add_column(f"{col.upper()} {'↑' if higher else '↓'}", justify="right")
    table.add_column("seeds ok/div/fail", justify="right")
    table.add_column("steps/s", justify="right")
    table.add_column("note")
    for _, r in summary.iterrows():
        cells = [str(r["dataset"]), str(r["model"]), str(r["loss"])]
        cells += [fmt_mean_std(r[f"{c}_mean"], r[f"{c}_std"], int(r[f"{c}_n"])) for c, _ in metrics]
        cells.append(f"{r['n_ok']}/{r['n_diverged']}/{r['n_failed']}" + (" (skipped)" if r["n_skipped"] else ""))
        sps = r.get("steps_per_s")
        cells.append("—" if sps is None or pd.isna(sps) else f"{sps:.1f}")
        cells.append(str(r.get("note") or ""))
        table.add_row(*cells)
    extractors = {
        f"{c}: {r[f'{c}_extractor']} (accuracy {r.get('domain_accuracy', float('nan')):.3f})"
        for c, _ in metrics
        for _, r in summary.iterrows()
        if f"{c}_extractor" in summary and isinstance(r.get(f"{c}_extractor"), str)
    }
    table.caption = "mean ± sample std (ddof=1) over the seeds with status ok"
    if extractors:
        table.caption += "; extractor " + "; ".join(sorted(extractors))
    return table
