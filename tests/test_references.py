"""Reference rows: the samples they are computed on (checked against numpy), the metric values on
them (against an independent computation), and their place in a report: shown, never ranked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from ganbench import references
from ganbench.evaluation import EvalCache, real_subset


@pytest.fixture(scope="module")
def ring(plugins):
    return plugins.registry.get("dataset", "ring8").load(size=3000)


def test_the_gaussian_reference_has_the_data_moments_and_the_real_one_the_mixture(ring):
    x, _ = references.samples(ring, "gaussian", 20000, seed=0)
    basis = ring.x[real_subset(ring, len(ring.x))].numpy().astype(np.float64)
    assert x.mean(0).numpy() == pytest.approx(basis.mean(0), abs=0.02)
    assert np.cov(x.numpy().T) == pytest.approx(np.cov(basis.T), abs=0.02)
    real, source = references.samples(ring, "real", 5000, seed=0)
    centres = np.array(ring.info.modes)
    dist = np.linalg.norm(real.numpy()[:, None, :] - centres[None], axis=2)  # [N, K]
    assert (dist.min(1) < 4 * ring.info.mode_std).mean() > 0.99 and np.bincount(dist.argmin(1)).min() > 500
    again, _ = references.samples(ring, "real", 5000, seed=0)
    other, _ = references.samples(ring, "real", 5000, seed=1)
    assert torch.equal(real, again) and not torch.equal(real, other) and "true mixture" in source


def test_reference_rows_are_the_metrics_of_those_samples(plugins, ring, make_ctx):
    """modes/hq_pct by the 3-std rule and FID on raw features, recomputed in numpy/scipy."""
    from ganbench.execution.cell import metric_values

    specs = [(m, plugins.registry.get("metric", m)) for m in ("fid", "modes")]
    rows = references.compute(ring, "ring8", [0, 1], 1000, 10000,
                              lambda n_samples, **kw: make_ctx(data=ring, n_samples=n_samples, cache=EvalCache(),
                                                               extractor_name="raw", **kw),
                              specs, lambda name, values: metric_values(name, values))
    assert [(r["loss"], r["seed"]) for r in rows] == [("real", 0), ("real", 1), ("gaussian", 0), ("gaussian", 1)]
    real = ring.x[real_subset(ring, len(ring.x))].numpy().astype(np.float64)
    centres, std = np.array(ring.info.modes), ring.info.mode_std
    for row in rows:
        drawn, _ = references.samples(ring, row["loss"], 2500, row["seed"], first=1000)  # modes counts 2,500
        alone, _ = references.samples(ring, row["loss"], 1000, row["seed"])
        assert torch.equal(drawn[:1000], alone)  # the first eval_samples do not depend on what else is drawn
        x = drawn.numpy().astype(np.float64)[:1000]  # FID reads the first eval_samples
        assert row["reference"] is True and row["model"] == "reference" and row["reference_n"] == 1000
        mu1, mu2, s1, s2 = real.mean(0), x.mean(0), np.cov(real.T), np.cov(x.T)
        fid = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
        assert row["fid"] == pytest.approx(fid, rel=1e-3, abs=1e-4)
        dist = np.linalg.norm(drawn.numpy().astype(np.float64)[:, None, :] - centres[None], axis=2)
        hq = dist.min(1) <= 3 * std
        assert row["hq_pct"] == pytest.approx(100 * hq.mean())
        assert row["modes"] == len(set(dist.argmin(1)[hq]))
    gauss = [r for r in rows if r["loss"] == "gaussian"]
    assert all(r["hq_pct"] < 2 and r["fid"] < 0.05 for r in gauss)  # raw FID sees only moments: blind to the modes
