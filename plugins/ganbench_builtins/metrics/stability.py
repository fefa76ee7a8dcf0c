"""Training stability, from the per-step history and the metric trajectory (no generator needed, so
it is computed for diverged cells too). With T the steps recorded and h_t the history:

- ``diverged``: training stopped at a step with a non-finite value or |loss| > 1e6 (the step is the
  row's ``diverged_at``).
- ``grad_d_mean``/``grad_d_max``, ``grad_g_mean``/``grad_g_max``: mean and max over the steps of the
  global L2 gradient norm of D (its last update in the step) and of G.
- ``d_gap``: the mean of D(real) − D(fake) (mean raw scores of the batch) over the last
  max(1, ⌈T/10⌉) steps: how far D separates real from fake at the end (raw-score units of the loss).
- On the tracked metric (``fid`` when the run computes it, else the first metric with a trajectory),
  values m_1..m_P at the P evaluation points (``eval_every``; the final evaluation is the last):
  ``track_best`` = the best m_i (by the metric's direction) and ``track_best_step`` its step;
  ``track_final_gap`` = |m_P − best| (0 when training ended at its best; needs P ≥ 2);
  ``track_osc`` = mean |m_i − m_{i−1}| over the last min(P, 5) points (needs P ≥ 3).

Spread across seeds (std of each column over the seeds) is computed by the report.
"""

from __future__ import annotations

import math

#: evaluation points the oscillation looks at
OSC_POINTS = 5
#: fraction of the last steps the D gap averages over
GAP_FRACTION = 0.1


def _finite(values):
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def history_stats(history) -> dict[str, float]:
    out: dict[str, float] = {}
    for col, name in (("grad_norm_d", "grad_d"), ("grad_norm_g", "grad_g")):
        vals = _finite(h[col] for h in history)
        out[f"{name}_mean"] = sum(vals) / len(vals) if vals else float("nan")
        out[f"{name}_max"] = max(vals) if vals else float("nan")
    tail = history[-max(1, math.ceil(GAP_FRACTION * len(history))):] if history else []
    gaps = _finite(h["d_real"] - h["d_fake"] for h in tail)
    out["d_gap"] = sum(gaps) / len(gaps) if gaps else float("nan")
    return out


def trajectory_stats(points, column: str, higher_is_better: bool) -> dict[str, object]:
    pts = [(p["step"], p[column]) for p in points if column in p and _finite([p[column]])]
    out: dict[str, object] = {"track": column, "track_points": len(pts), "track_best": float("nan"),
                              "track_best_step": None, "track_final_gap": float("nan"), "track_osc": float("nan")}
    if not pts:
        return out
    best_step, best = (max if higher_is_better else min)(pts, key=lambda p: p[1])
    out.update(track_best=best, track_best_step=best_step)
    if len(pts) >= 2:
        out["track_final_gap"] = abs(pts[-1][1] - best)
    last = [v for _, v in pts[-OSC_POINTS:]]
    if len(last) >= 3:
        out["track_osc"] = sum(abs(b - a) for a, b in zip(last[:-1], last[1:], strict=True)) / (len(last) - 1)
    return out


def tracked(registry, metrics, trajectory) -> tuple[str, bool] | None:
    """(column, higher_is_better) of the tracked metric: fid if present, else the first metric of the
    run whose primary column is in the trajectory."""
    columns = {k for p in trajectory for k in p}
    specs = [registry.get("metric", m) for m in metrics]
    specs = [s for s in specs if not s.history and s.primary in columns]
    specs.sort(key=lambda s: s.name != "fid")
    return (specs[0].primary, specs[0].higher_is_better) if specs else None


def compute(ctx) -> dict[str, object]:
    out: dict[str, object] = {"diverged": ctx.status == "diverged", **history_stats(list(ctx.history))}
    names = [n for n, _, _ in ctx.registry.items("metric")]
    track = tracked(ctx.registry, names, ctx.trajectory)
    if track is not None:
        out.update(trajectory_stats(ctx.trajectory, *track))
    return out
