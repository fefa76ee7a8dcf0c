"""Mode-collapse and precision/recall/density/coverage metrics against constructed samples and an
independent numpy/scipy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

import ganbench
from ganbench.evaluation import EvalCache
from ganbench_builtins.extractors.domain import channel_data, decode_labels
from ganbench_builtins.metrics.modes import class_modes, mixture_modes
from ganbench_builtins.metrics.modes import compute as compute_modes
from ganbench_builtins.metrics.prdc import kth_radii, prdc

RING = torch.tensor([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)])


# -- mixtures: the VEEGAN/PacGAN rule ------------------------------------------------------------------------------
def test_all_modes_perfect():
    g = torch.Generator().manual_seed(0)
    samples = RING.repeat_interleave(300, 0) + 0.01 * torch.randn(2400, 2, generator=g).clamp(-2, 2)  # ≤ 2.83 std
    out = mixture_modes(samples, RING, 0.01)
    assert out == {"modes": 8, "modes_total": 8, "hq_pct": 100.0, "mode_kl": pytest.approx(0.0, abs=1e-12),
                   "hq_kl": pytest.approx(0.0, abs=1e-12)}


def test_all_samples_on_one_mode():
    samples = RING[3].repeat(2500, 1) + 0.005
    out = mixture_modes(samples, RING, 0.01)
    assert out["modes"] == 1 and out["hq_pct"] == 100.0
    assert out["mode_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_samples_far_from_every_mode():
    samples = torch.randn(2500, 2) * 0.01 + torch.tensor([5.0, 5.0])
    out = mixture_modes(samples, RING, 0.01)
    assert out["modes"] == 0 and out["hq_pct"] == 0.0 and out["hq_kl"] is None


def test_high_quality_means_within_three_std():
    inside = RING[:4] + torch.tensor([0.0299, 0.0])  # 2.99 std from modes 0..3
    outside = RING[4:] + torch.tensor([0.0301, 0.0])  # 3.01 std from modes 4..7
    out = mixture_modes(torch.cat([inside, outside]), RING, 0.01)
    assert out["modes"] == 4 and out["hq_pct"] == 50.0


def test_mode_kl_matches_scipy_for_an_uneven_histogram():
    counts = [500, 300, 100, 100, 0, 0, 0, 0]
    samples = torch.cat([RING[k].repeat(n, 1) for k, n in enumerate(counts)])
    out = mixture_modes(samples, RING, 0.01)
    assert out["mode_kl"] == pytest.approx(scipy.stats.entropy(counts, np.full(8, 1 / 8)), rel=1e-12)
    assert out["modes"] == 4


def test_hq_kl_is_pacgans_reverse_kl_over_high_quality_samples_only():
    """PacGAN's reverse KL: log K minus the entropy of the high-quality samples' mode histogram; samples
    outside 3 std (here 200 far from every mode, all nearest to mode 0) do not count."""
    counts = [500, 300, 100, 100, 0, 0, 0, 0]
    far = RING[0] * 1.5  # 0.5 from mode 0: 50 std
    samples = torch.cat([*(RING[k].repeat(n, 1) for k, n in enumerate(counts)), far.repeat(200, 1)])
    out = mixture_modes(samples, RING, 0.01)
    assert out["hq_kl"] == pytest.approx(math.log(8) - scipy.stats.entropy(counts), rel=1e-12)
    assert out["mode_kl"] == pytest.approx(scipy.stats.entropy([700, 300, 100, 100, 0, 0, 0, 0], np.full(8, 1 / 8)),
                                           rel=1e-12)


def test_class_modes_kl_against_the_data_histogram():
    predicted = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    reference = torch.tensor([0] * 10 + [1] * 10 + [2] * 10 + [3] * 10)
    out = class_modes(predicted, 4, reference)
    assert out["modes"] == 3 and out["modes_total"] == 4
    assert out["mode_kl"] == pytest.approx(scipy.stats.entropy([50, 30, 20, 0], [0.25] * 4), rel=1e-9)


def test_mixture_metric_runs_on_2500_samples_without_changing_other_numbers(tmp_path, tiny):
    kw = dict(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={**tiny, "eval_samples": 300},
              device="cpu")
    alone = ganbench.run(metrics="prdc", out=tmp_path / "a", **kw).iloc[0]
    both = ganbench.run(metrics="prdc,modes", out=tmp_path / "b", **kw).iloc[0]
    assert both["modes_n"] == 2500 and both["modes_total"] == 8 and 0 <= both["modes"] <= 8
    assert both["modes_rule"] == "mixture: 3 std, 2500 samples"
    for col in ("precision", "recall", "density", "coverage"):  # the first eval_samples noise vectors are shared
        assert alone[col] == both[col]
    assert alone["prdc_n"] == 300 and alone["prdc_extractor"] == "raw:identity"


# -- precision / recall / density / coverage ---------------------------------------------------------------------------
def prdc_numpy(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """The definitions written out with scipy's pairwise distances (no chunking, no torch)."""
    rr = scipy.spatial.distance.cdist(real, real)
    ff = scipy.spatial.distance.cdist(fake, fake)
    fr = scipy.spatial.distance.cdist(fake, real)  # [M, N]
    radius = lambda d, k: np.sort(d, axis=1)[:, k]  # noqa: E731 - column 0 is the point itself
    r_pr, r_dc, f_pr = radius(rr, k_pr), radius(rr, k_dc), radius(ff, k_pr)
    return {
        "precision": float(np.mean((fr <= r_pr[None, :]).any(axis=1))),
        "recall": float(np.mean((fr.T <= f_pr[None, :]).any(axis=1))),
        "density": float((fr <= r_dc[None, :]).sum() / (k_dc * len(fake))),
        "coverage": float(np.mean(fr.min(axis=0) <= r_dc)),
    }


def test_prdc_matches_numpy_with_chunking():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 6))
    fake = rng.normal(loc=0.4, scale=1.3, size=(250, 6))
    got = prdc(torch.from_numpy(real), torch.from_numpy(fake), chunk=64)
    expected = prdc_numpy(real, fake)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1 and 0 < got["coverage"] < 1


def test_prdc_of_a_set_with_itself_and_with_a_far_set():
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(1))
    same = prdc(x, x.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] >= 1.0  # every point lies in its own and its neighbours' balls
    far = prdc(x, x + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_kth_radii_exclude_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert kth_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert kth_radii(x, 2, chunk=1).tolist() == [3.0, 2.0, 3.0, 5.0]


# -- labelled images -------------------------------------------------------------------------------------------------
def test_class_modes_on_mnist5k_real_and_collapsed_samples(mnist, make_ctx):
    ctx = make_ctx(data=mnist, n_samples=1000, sample=lambda n: mnist.x_test[:n])
    real = compute_modes(ctx)
    assert real["modes"] == 10 and real["mode_kl"] < 0.02  # held-out digits: every class, data-like histogram
    assert real["modes_classifier_accuracy"] >= 0.97
    ones = mnist.x_test[mnist.y_test == 1][:1].repeat(1000, 1, 1, 1)
    ctx1 = make_ctx(data=mnist, n_samples=1000, sample=lambda n: ones[:n],
                       cache=ctx.cache)
    collapsed = compute_modes(ctx1)
    p1 = float((mnist.y == 1).double().mean())
    assert collapsed["modes"] == 1 and collapsed["mode_kl"] == pytest.approx(-math.log(p1), rel=1e-9)


# -- stacked MNIST: a classifier per channel -------------------------------------------------------------------------
def test_decode_labels_is_the_inverse_of_the_code():
    codes = torch.tensor([0, 7, 42, 123, 999])
    parts = decode_labels(codes, (10, 10, 10))
    assert parts.tolist() == [[0, 0, 0], [0, 0, 7], [0, 4, 2], [1, 2, 3], [9, 9, 9]]


@pytest.fixture(scope="module")
def stacked(plugins):
    # the same set as test_extractors.py's: one per-channel classifier (3,000 channel images, 97% held out)
    return plugins.registry.get("dataset", "stacked-mnist").load(root=None, size=1000, test_size=2000)


def test_channel_data_splits_channels_with_their_digits(stacked):
    per = channel_data(stacked)
    assert per.x.shape == (3000, 1, 28, 28) and per.info.num_classes == 10
    assert torch.equal(per.x[4], stacked.x[1, 1:2]) and int(per.y[4]) == int(stacked.y[1]) // 10 % 10


@pytest.mark.slow
def test_stacked_modes_count_codes_per_channel(stacked, make_ctx):
    ctx = make_ctx(data=stacked, n_samples=2000, sample=lambda n: stacked.x_test[:n],
                      cache=EvalCache())
    real = compute_modes(ctx)
    truth = len(torch.unique(stacked.y_test))
    assert real["modes_total"] == 1000 and real["modes_rule"] == "per-channel classes vs uniform"
    assert real["modes_classifier_accuracy"] > 0.95
    assert abs(real["modes"] - truth) <= 0.05 * truth  # per-channel errors move a few samples between codes
    one = stacked.x_test[:1].repeat(2000, 1, 1, 1)
    ctx1 = make_ctx(data=stacked, n_samples=2000, sample=lambda n: one[:n],
                       cache=ctx.cache)
    collapsed = compute_modes(ctx1)
    assert collapsed["modes"] == 1 and collapsed["mode_kl"] == pytest.approx(math.log(1000), rel=1e-9)
