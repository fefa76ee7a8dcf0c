"""The report's plots (matplotlib, Agg, no display needed), each a :class:`ganbench.report.Figure`
with a caption that says what it shows:

- D and G loss curves per (model, loss): the mean over seeds of a moving average, and the band between
  the seeds' lowest and highest value (``history.csv``);
- metric trajectories over training steps (``trajectory.csv``, written with ``--set eval_every=N``):
  mean over seeds and min–max band, one line per (model, loss);
- final samples side by side: the last sample grid of the first seed of each (model, loss); for 2-D
  data a scatter of the points that generator produced at its final evaluation (saved by the cell:
  the samples the modes metric counted) over the real data and its true mode centres.

Everything is read through the run directory's read API (:class:`ganbench.store.RunStore`); no
model is rebuilt.

A plot that cannot be drawn (no trajectory, no saved points, a data set that is not installed) is
left out with a note saying why; the notes are shown in the report.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UnknownNameError, one_line
from ganbench.paths import safe_name
from ganbench.report import MEASURED, Figure

PANEL = (3.4, 2.6)  # inches per subplot
MAX_COLS = 4


def _figure(n: int, panel: tuple[float, float] = PANEL):
    from matplotlib.figure import Figure as MplFigure

    cols = min(MAX_COLS, max(1, n))
    rows = math.ceil(n / cols)
    fig = MplFigure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _label(key: tuple[Any, ...]) -> str:
    return " / ".join(str(k) for k in key)


def _store(row: pd.Series):
    from ganbench.store import RunStore

    return RunStore(row["run"])


def _series(frames: list[pd.DataFrame], col: str) -> tuple[pd.Index, pd.Series, pd.Series, pd.Series]:
    """Mean, min and max over seeds of ``col`` indexed by step (steps a diverged seed never reached
    are averaged over the seeds that did)."""
    wide = pd.concat([f.set_index("step")[col].rename(i) for i, f in enumerate(frames)], axis=1).sort_index()
    return wide.index, wide.mean(axis=1), wide.min(axis=1), wide.max(axis=1)


def loss_curves(df: pd.DataFrame, dataset: str, groups: list[str], notes: list[str] | None = None) -> Figure | None:
    """D and G losses over training per group: mean over seeds and the seeds' min–max band."""
    notes = [] if notes is None else notes
    rows = df[(df["dataset"] == dataset) & df["status"].isin(MEASURED)]
    panels = []
    for key, g in rows.groupby(groups, sort=False):
        frames = []
        for _, r in g.iterrows():
            h = _store(r).history(r["cell_id"], notes)
            if h is not None:
                window = max(1, len(h) // 100)
                frames.append(h.assign(d_loss=h["d_loss"].rolling(window, min_periods=1).mean(),
                                       g_loss=h["g_loss"].rolling(window, min_periods=1).mean()))
        if frames:
            panels.append((key if isinstance(key, tuple) else (key,), frames))
    if not panels:
        return None
    fig, axes = _figure(len(panels))
    for ax, (key, frames) in zip(axes, panels, strict=True):
        for col, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
            steps, mean, lo, hi = _series(frames, col)
            ax.plot(steps, mean, color=color, lw=1.2, label=col)
            ax.fill_between(steps, lo, hi, color=color, alpha=0.25, lw=0)
        ax.set_title(_label(key), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    n = max(len(f) for _, f in panels)
    return Figure(f"losses-{safe_name(dataset)}", f"{dataset}: discriminator and generator losses",
                  f"D loss (blue) and G loss (orange) per generator step, a moving average over 1% of training; line = "
                  f"mean over seeds (up to {n}), band = lowest to highest seed. Scales differ per loss: a WGAN critic's "
                  "loss is minus its Wasserstein estimate (plus any penalty), not a log-loss.", _png(fig))


def trajectories(df: pd.DataFrame, dataset: str, groups: list[str], metrics: Sequence[str],
                 notes: list[str] | None = None) -> tuple[Figure | None, str]:
    """Metrics at each evaluation point, one line per group (mean over seeds, min–max band)."""
    notes = [] if notes is None else notes
    rows = df[(df["dataset"] == dataset) & df["status"].isin(MEASURED)]
    per_group: dict[tuple[Any, ...], list[pd.DataFrame]] = {}
    for key, g in rows.groupby(groups, sort=False):
        for _, r in g.iterrows():
            points = _store(r).trajectory(r["cell_id"], notes)
            if points is not None:
                per_group.setdefault(key if isinstance(key, tuple) else (key,), []).append(points)
    frames = [f for fs in per_group.values() for f in fs]
    if not frames or max(len(f) for f in frames) < 2:
        return None, (f"{dataset}: no metric trajectory (a single evaluation per cell); run with --set eval_every=N "
                      "to plot metrics over training")
    cols = [m for m in metrics if any(m in f and f[m].notna().sum() > 1 for f in frames)][:3]
    if not cols:
        return None, f"{dataset}: the trajectories have none of the reported metrics ({', '.join(metrics)})"
    fig, axes = _figure(len(cols), panel=(5.0, 3.4))
    colors = _colors(len(per_group))
    for ax, col in zip(axes, cols, strict=True):
        for color, (key, fs) in zip(colors, per_group.items(), strict=True):
            fs = [f for f in fs if col in f]
            if not fs:
                continue
            steps, mean, lo, hi = _series(fs, col)
            ax.plot(steps, mean, marker="o", ms=3, lw=1.2, color=color, label=_label(key))
            ax.fill_between(steps, lo, hi, color=color, alpha=0.15, lw=0)
        values = pd.concat([f[col] for fs in per_group.values() for f in fs if col in f]).dropna()
        if len(values) and values.min() > 0 and values.max() / values.min() > 100:
            ax.set_yscale("log")  # e.g. one diverging loss would flatten every other curve
        ax.set_title(col + (" (log scale)" if ax.get_yscale() == "log" else ""), fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    every = sorted({_plain_int(v) for v in rows.get("hp_eval_every", pd.Series(dtype=float)).dropna()})
    return Figure(f"trajectory-{safe_name(dataset)}", f"{dataset}: metrics during training",
                  f"{', '.join(cols)} evaluated every {', '.join(every) or '?'} steps on the same evaluation noise; line = "
                  "mean over seeds, band = lowest to highest seed. A curve that turns up again after its best point is "
                  "training that got worse (see track_best / track_final_gap).", _png(fig)), ""


def _plain_int(v: Any) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _first_seeds(df: pd.DataFrame, dataset: str, groups: list[str]) -> list[tuple[tuple[Any, ...], pd.Series]]:
    rows = df[(df["dataset"] == dataset) & df["status"].isin(MEASURED)].sort_values("seed", kind="stable")
    return [(key if isinstance(key, tuple) else (key,), g.iloc[0]) for key, g in rows.groupby(groups, sort=False)]


#: rows (latent vectors) of a conditional cell's class grid
CLASS_GRID_ROWS = 4
#: most classes a class grid shows (one labelled column each)
CLASS_GRID_MAX = 20


def class_grid(row: pd.Series, registry) -> tuple[Any, list[str], int] | None:
    """A conditional cell's class grid as ``ganbench samples --mode classes`` draws it (its saved
    generator; :data:`CLASS_GRID_ROWS` latent vectors of seed 0 × every class): ``(HWC image, class
    names, column width in pixels)``; None for an unconditional cell or one without a generator."""
    from ganbench import generators, render

    store = _store(row)
    info = store.network_info(row["cell_id"])
    if not info or not info.get("condition") or not store.has_generator(row["cell_id"]):
        return None
    if int((info.get("data") or {}).get("num_classes") or 0) > CLASS_GRID_MAX:
        return None  # e.g. stacked MNIST's 1,000 codes: the training picture instead
    gen = generators.load_generator(store.root / "cells" / row["cell_id"], "cpu", plugins=registry)
    samples, cols, _ = generators.draw(gen, "classes", n=CLASS_GRID_ROWS, seed=0)
    picture = render.grid_picture(samples, gen.info, cols)  # [3, H, W] in [0, 1], padding 2
    names = list(gen.info.class_names) or [str(k) for k in range(cols)]
    return picture.permute(1, 2, 0).numpy(), names, samples.shape[-1] + 2


def sample_grids(df: pd.DataFrame, dataset: str, groups: list[str], notes: list[str] | None = None,
                 registry=None) -> Figure | None:
    """The last saved sample picture of the first seed of each group, side by side; for a conditional
    cell (with ``registry``), its class grid instead: one labelled column per class asked for."""
    import matplotlib.image as mpimg

    notes = [] if notes is None else notes
    panels = []
    conditional = False
    for key, r in _first_seeds(df, dataset, groups):
        grid = None
        if registry is not None:
            try:
                grid = class_grid(r, registry)
            except Exception as exc:  # e.g. a model plugin that is not installed here: the saved picture instead
                notes.append(f"{dataset} {_label(key)}: no class grid ({type(exc).__name__}: {exc})")
        if grid is not None:
            image, names, width = grid
            conditional = True
            panels.append((key, r, "final", image, (names, width)))
            continue
        pics = _store(r).sample_files(r["cell_id"])
        if pics:
            step, pic = pics[-1]
            try:
                panels.append((key, r, step, mpimg.imread(pic), None))
            except Exception as exc:  # a damaged picture: that panel is left out, and said so
                notes.append(f"{pic} left out of the plots: unreadable ({type(exc).__name__})")
    if not panels:
        return None
    fig, axes = _figure(len(panels), panel=(3.6 if conditional else 3.0, 3.2))
    for ax, (key, r, step, image, classes) in zip(axes, panels, strict=True):
        ax.imshow(image, cmap="gray")
        if classes is None:
            ax.set_title(f"{_label(key)}\nseed {r['seed']}, step {step}", fontsize=8)
            ax.axis("off")
            continue
        names, width = classes  # one column per class asked for, labelled
        ax.set_title(f"{_label(key)}\nseed {r['seed']}: each column one asked class", fontsize=8)
        ax.set_xticks([2 + j * width + (width - 2) / 2 for j in range(len(names))], names, fontsize=6)
        ax.set_yticks([])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
    caption = ("The generator's samples at the end of training (the first seed of each row, the same noise for "
               "every loss).")
    if conditional:
        caption += (f" Conditional models: a class grid drawn with the final (EMA, if trained with it) generator, "
                    f"as 'ganbench samples --mode classes' draws it: {CLASS_GRID_ROWS} latent vectors (rows) × every "
                    "class, the column labelled with the class each sample was asked for.")
    return Figure(f"samples-{safe_name(dataset)}", f"{dataset}: final samples", caption, _png(fig))


class _RealData:
    """The real data of a cell's data set (loaded once per data set and options), for the scatter."""

    def __init__(self, registry, data_root: Path | None = None):
        from ganbench import paths

        self.registry = registry
        self.data_root = data_root or paths.data_root()
        self._data: dict[str, Any] = {}

    def of(self, row: pd.Series):
        config = _store(row).read_cell_config(row["cell_id"]) or {}
        options = config.get("data_options") or {}
        key = json.dumps([row["dataset"], options], sort_keys=True, default=str)
        if key not in self._data:
            spec = self.registry.get("dataset", row["dataset"])
            self._data[key] = spec.load(root=self.data_root, **options)
        return self._data[key]


def scatter_2d(df: pd.DataFrame, dataset: str, groups: list[str], real_data: _RealData,
               n: int = 2500) -> tuple[Figure | None, list[str]]:
    """For 2-D data: each group's generated points (first seed, saved at its final evaluation) over
    the real data and the true modes."""
    import torch
    from matplotlib.patches import Circle

    panels, notes = [], []
    for key, r in _first_seeds(df, dataset, groups):
        try:
            points = _store(r).points(r["cell_id"])
        except Exception as exc:  # a damaged points.npy: left out, and said so
            notes.append(f"{dataset} {_label(key)}: no 2-D scatter (points.npy unreadable: {one_line(exc)})")
            continue
        if points is None:
            notes.append(f"{dataset} {_label(key)}: no 2-D scatter (the cell has no saved evaluation points: trained "
                         "before ganbench saved them, or it did not finish its evaluation)")
            continue
        try:
            data = real_data.of(r)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a data set plugin not installed or failing: left out, and said so
            notes.append(f"{dataset} {_label(key)}: no 2-D scatter ({one_line(exc)})")
            continue
        panels.append((key, r, torch.from_numpy(points[:n]), data))
    if not panels:
        return None, notes
    fig, axes = _figure(len(panels), panel=(3.0, 3.0))
    for ax, (key, r, fake, data) in zip(axes, panels, strict=True):
        real = data.x[:n]
        ax.scatter(fake[:, 0], fake[:, 1], s=2, color="tab:orange", alpha=0.6, label="generated", rasterized=True)
        ax.scatter(real[:, 0], real[:, 1], s=1, color="tab:blue", alpha=0.4, label="real", rasterized=True)
        for centre in data.info.modes or ():
            ax.plot(*centre, marker="x", color="black", ms=6)
            if data.info.mode_std:
                ax.add_patch(Circle(centre, 3 * data.info.mode_std, fill=False, color="black", lw=0.6))
        # the real extent, widened to hold 98% of the generated points (at most 3 real extents wide)
        lo, hi = real.min(0).values, real.max(0).values
        span = hi - lo
        lo = torch.maximum(torch.minimum(lo, fake.quantile(0.01, dim=0)), lo - span)
        hi = torch.minimum(torch.maximum(hi, fake.quantile(0.99, dim=0)), hi + span)
        pad = 0.08 * (hi - lo)
        ax.set_xlim(float(lo[0] - pad[0]), float(hi[0] + pad[0]))
        ax.set_ylim(float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        ax.set_aspect("equal")
        modes = r.get("modes")
        tag = f", modes {int(modes)}/{int(r['modes_total'])}" if pd.notna(modes) and "modes_total" in r else ""
        ax.set_title(f"{_label(key)}\nseed {r['seed']}{tag}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6, markerscale=3, loc="lower left")
    return Figure(f"scatter-{safe_name(dataset)}", f"{dataset}: generated samples over the true modes",
                  f"{len(panels[0][2])} samples of each final generator (first seed, its evaluation noise: the samples "
                  "the modes metric counts) in orange over real data in "
                  "blue; × marks a mixture centre, the circle its 3-std radius (a sample inside is 'high quality' and "
                  "captures that mode).", _png(fig)), notes


def figures(df: pd.DataFrame, groups: Sequence[str], metrics: Sequence[str],
            registry=None) -> tuple[list[Figure], list[str]]:
    """Every plot of the report for the rows ``df`` (with the ``run`` column of :func:`load_runs`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ganbench.report import reference_mask, with_points

    df = with_points(df[~reference_mask(df)])  # reference rows have no training or pictures: their numbers are in the table
    groups = [g for g in groups if g != "dataset"] or ["model"]
    out: list[Figure] = []
    notes: list[str] = []
    if "run" in df and not df.empty:  # rows a published board kept: no histories, points or generators to draw
        kept = df["run"].map(lambda run: not (Path(str(run)) / "cells").is_dir())
        for run, n in df.loc[kept, "run"].value_counts(sort=False).items():
            notes.append(f"{n} cell(s) of {run} are in the table, not in the plots: a board keeps rows, not the "
                         "training histories, points and generators the plots are drawn from")
        df = df[~kept]
    real_data = _RealData(registry) if registry is not None else None
    for dataset in sorted(df["dataset"].unique()) if not df.empty else []:
        fig = loss_curves(df, dataset, groups, notes)
        if fig:
            out.append(fig)
        fig, note = trajectories(df, dataset, groups, metrics, notes)
        if fig:
            out.append(fig)
        if note:
            notes.append(note)
        spec = None
        if registry is not None:
            try:
                spec = registry.get("dataset", dataset)
            except UnknownNameError as exc:
                notes.append(f"{dataset}: plotted from the saved pictures only ({exc})")
        if spec is not None and spec.modality == "vector" and tuple(spec.shape or ()) == (2,) and real_data is not None:
            fig, more = scatter_2d(df, dataset, groups, real_data)
            notes += more
            if fig is None:  # e.g. a run written before cells saved their points: the pictures they saved
                fig = sample_grids(df, dataset, groups, notes, registry)
        else:
            fig = sample_grids(df, dataset, groups, notes, registry)
        if fig:
            out.append(fig)
    return out, notes


def write_pngs(figs: Sequence[Figure], folder: Path) -> list[Path]:
    """Each figure as ``folder/<name>.png``; figure names are file names (:func:`ganbench.paths.safe_name`)
    and two figures never share one."""
    from ganbench.store import atomic_write_bytes

    names = [fig.name for fig in figs]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash or any(safe_name(n, limit=max(1, len(n))) != n for n in names):
        raise ValueError(f"figure names must be distinct file names: {', '.join(clash or names)}")
    paths = []
    for fig in figs:
        path = Path(folder) / f"{fig.name}.png"
        atomic_write_bytes(path, fig.png)
        paths.append(path)
    return paths


def _swept_values(points: pd.Series) -> pd.DataFrame:
    """The ``point`` column as one column per swept key (numbers where every value is one)."""
    from ganbench.sweeps import parse_text

    table = pd.DataFrame([dict(parse_text(p)) for p in points], index=points.index)
    for col in table:  # a loss's or model's key is empty on the other losses' or models' points
        given = table[col].notna()
        numeric = pd.to_numeric(table[col], errors="coerce")
        if numeric[given].notna().all():
            table[col] = numeric
    return table


def sweep_figures(df: pd.DataFrame, metrics: Sequence[tuple[str, bool | None]]) -> list[Figure]:
    """A swept run's plots, per data set and ranked metric: the best-of-k curves (mean ± std over seeds, one
    line per (model, loss)) and the sensitivity to each swept key (each point's mean over seeds, and per
    value the best point and the mean over the other keys)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from ganbench.report import _values, reference_mask
    from ganbench.sweeps import curves, is_swept

    if not is_swept(df):
        return []
    cells = df[~reference_mask(df) & df["point"].notna()]
    out: list[Figure] = []
    for dataset in sorted(cells["dataset"].unique()):
        mine = cells[cells["dataset"] == dataset]
        for col, higher in metrics:
            if higher is None or col not in mine:
                continue
            cur = curves(mine, col, higher)
            if cur.empty:
                continue
            fig, (ax,) = _figure(1, (5.0, 3.4))
            for key, g in cur.groupby(["model", "loss"], sort=False):
                ax.plot(g["k"], g["mean"], marker="o", ms=3, label=_label(key))
                ax.fill_between(g["k"], g["mean"] - g["std"].fillna(0), g["mean"] + g["std"].fillna(0), alpha=0.15)
            ax.set_xlabel("budget k (points)")
            ax.set_ylabel(f"expected best {col}")
            ax.legend(fontsize=7)
            name = safe_name(f"sweep-best-of-k-{dataset}-{col}", limit=120)
            out.append(Figure(name, f"{dataset}: expected best {col} of k points",
                              f"Per (model, loss): the expected best {col} of k of the N trained points, drawn without "
                              "replacement (exact), per seed; the line is the mean over seeds, the band ± one std.",
                              _png(fig)))
            measured = mine[mine["status"].isin(MEASURED)]
            vals = _values(measured, col)
            if vals.empty:
                continue
            per_point = measured.loc[vals.index].assign(_v=vals).groupby(["model", "loss", "point"], sort=False)["_v"].mean()
            per_point = per_point.reset_index()
            keys = _swept_values(per_point["point"])
            names: dict[str, list[str]] = {}  # keys swept together (lr_g+lr_d) share one panel
            for k in keys:
                if keys[k].nunique() > 1:
                    twin = next((n for n in names if keys[n].dropna().equals(keys[k].dropna())), None)
                    names.setdefault(twin or k, []).append(k) if twin else names.setdefault(k, [k])
            if not names:
                continue
            fig, axes = _figure(len(names))
            for ax, key in zip(axes, names, strict=True):
                table = per_point.assign(_x=keys[key])
                for group, g in table.groupby(["model", "loss"], sort=False):
                    marginal = g.groupby("_x")["_v"].mean()
                    (line,) = ax.plot(marginal.index, marginal.values, marker="o", ms=3, label=_label(group))
                    ax.scatter(g["_x"], g["_v"], s=8, alpha=0.35, color=line.get_color())
                numeric = pd.api.types.is_numeric_dtype(keys[key])
                if numeric and (keys[key] > 0).all() and keys[key].max() / keys[key].min() >= 10:
                    ax.set_xscale("log")
                ax.set_xlabel(" = ".join(names[key]))
                ax.set_ylabel(col)
            axes[0].legend(fontsize=7)
            name = safe_name(f"sweep-sensitivity-{dataset}-{col}", limit=120)
            out.append(Figure(name, f"{dataset}: {col} against each swept key",
                              f"Each dot is one point's {col} (mean over its seeds); the line joins, per value of the key, "
                              "the mean over the other keys' values.", _png(fig)))
    return out
