"""The domain FID against an independent numpy/scipy Fréchet distance on the same features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from ganbench.evaluation import EvalCache
from ganbench.paths import cache_dir
from ganbench_builtins.extractors.domain import build as build_domain
from ganbench_builtins.metrics.fid_kid import compute_fid


def frechet_numpy(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.fixture(scope="module")
def extractor(mnist):
    return build_domain(mnist, device=torch.device("cpu"), cache_root=cache_dir())


def test_domain_classifier_is_accurate_and_cached(mnist, extractor):
    assert extractor.meta["accuracy"] >= 0.97  # held-out 1,000 digits (0.976 measured)
    assert extractor.meta["n_test"] == 1000 and extractor.meta["n_train"] == 4000
    again = build_domain(mnist, device=torch.device("cpu"), cache_root=cache_dir())  # loaded, not retrained
    assert again.fingerprint == extractor.fingerprint
    assert again.meta["accuracy"] == extractor.meta["accuracy"]
    x = mnist.x_test[:50]
    assert torch.equal(again.features(x), extractor.features(x))
    predicted = extractor.classify(mnist.x_test)
    assert (predicted == mnist.y_test).float().mean().item() == pytest.approx(extractor.meta["accuracy"])


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # dead ReLU units: singular covariances
def test_fid_matches_scipy_on_the_same_features(mnist, extractor, make_ctx):
    # "generated" = noisy, shifted held-out digits: a distribution different from the training split
    g = torch.Generator().manual_seed(0)
    fake = (mnist.x_test[:600] * 0.8 + 0.1 * torch.randn(600, 1, 28, 28, generator=g)).clamp(-1, 1)
    ctx = make_ctx(data=mnist, n_samples=600, sample=lambda n: fake[:n],
                      cache=EvalCache())
    ctx.cache.get(("extractor", "domain", mnist.info.fingerprint, "cpu"), lambda: extractor)
    got = compute_fid(ctx)
    expected = frechet_numpy(extractor.features(mnist.x).double().numpy(), extractor.features(fake).double().numpy())
    assert got["fid"] == pytest.approx(expected, rel=1e-3)
    assert got["fid_n_real"] == 4000 and got["fid_n_fake"] == 600
    assert got["fid_extractor"] == f"domain:{extractor.fingerprint}"
    assert got["fid"] > 1.0


def test_fid_of_held_out_real_digits_is_small(mnist, extractor, make_ctx):
    ctx = make_ctx(data=mnist, n_samples=1000, sample=lambda n: mnist.x_test[:n], cache=EvalCache())
    ctx.cache.get(("extractor", "domain", mnist.info.fingerprint, "cpu"), lambda: extractor)
    real_vs_real = compute_fid(ctx)["fid"]
    noise = torch.rand(1000, 1, 28, 28) * 2 - 1
    ctx2 = make_ctx(data=mnist, n_samples=1000, sample=lambda n: noise[:n],
                       cache=ctx.cache)
    assert real_vs_real < compute_fid(ctx2)["fid"] / 20


def mmd2_unbiased_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with KID's kernel k(x, y) = (x·y / d + 1)³ (Bińkowski et al. 2018, eq. 4)."""
    d = a.shape[1]
    kxx, kyy, kxy = ((a @ a.T) / d + 1) ** 3, ((b @ b.T) / d + 1) ** 3, ((a @ b.T) / d + 1) ** 3
    m, n = len(a), len(b)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def test_kid_matches_numpy_on_the_same_features(mnist, extractor, make_ctx):
    from dataclasses import replace

    from ganbench.specs import Data
    from ganbench_builtins.metrics.fid_kid import compute_kid

    # equal-size sets: every subset of size n is the whole set, so the mean over subsets is the full MMD²
    info = replace(mnist.info, fingerprint=mnist.info.fingerprint + "-first500")  # other data: other cached features
    real = Data(info, mnist.x[:500], mnist.y[:500])
    g = torch.Generator().manual_seed(0)
    fake = (mnist.x_test[:500] * 0.8 + 0.1 * torch.randn(500, 1, 28, 28, generator=g)).clamp(-1, 1)
    ctx = make_ctx(data=real, n_samples=500, sample=lambda n: fake[:n], cache=EvalCache())
    ctx.cache.get(("extractor", "domain", info.fingerprint, "cpu"), lambda: extractor)
    got = compute_kid(ctx)
    expected = mmd2_unbiased_numpy(extractor.features(real.x).double().numpy(), extractor.features(fake).double().numpy())
    assert got["kid_subset_size"] == 500 and got["kid_extractor"] == f"domain:{extractor.fingerprint}"
    assert got["kid"] == pytest.approx(expected, rel=1e-4) and got["kid"] > 0
    assert got["kid_std"] == pytest.approx(0.0, abs=1e-6 * abs(expected))
    other = mnist.x[500:1000]  # other real digits: MMD² ≈ 0 (the unbiased estimate can be negative)
    real_vs_real = make_ctx(data=real, n_samples=500, sample=lambda n: other[:n],
                               cache=ctx.cache)
    assert abs(compute_kid(real_vs_real)["kid"]) < 0.02 * expected


def _exact_gaussian_sample(n: int, mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n points whose sample mean and sample covariance (ddof=1) are exactly ``mean`` and ``cov``."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # whitened: sample cov = I
    return mean + z @ np.linalg.cholesky(cov).T


def test_fid_of_two_gaussians_has_the_closed_form_and_a_set_with_itself_is_zero():
    from ganbench_builtins.metrics.fid_kid import _feature_metric

    rng = np.random.default_rng(0)
    d = 6
    a = rng.standard_normal((d, d))
    cov1 = a @ a.T + d * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    # Σ2 = 4 Σ1 commutes with Σ1: tr(Σ1 + Σ2 − 2(Σ1Σ2)^½) = tr(Σ1)(1 + 4 − 2·2) = tr(Σ1)
    x1 = _exact_gaussian_sample(3000, mu1, cov1, rng)
    x2 = _exact_gaussian_sample(2000, mu2, 4 * cov1, rng)
    fid = _feature_metric("fid", d)
    fid.update(torch.from_numpy(x1), real=True)
    fid.update(torch.from_numpy(x2), real=False)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1))
    assert float(fid.compute()) == pytest.approx(expected, rel=1e-6)
    same = _feature_metric("fid", d)
    same.update(torch.from_numpy(x1), real=True)
    same.update(torch.from_numpy(x1), real=False)
    assert abs(float(same.compute())) < 1e-6 * expected
