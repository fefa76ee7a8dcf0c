"""ADA's augmentation pipeline (settings ``ada``, ``ada_p``, ``ada_p_schedule``): its resampling against
scipy's ``upfirdn``, its filter bank's reconstruction property, each family of ops against a computation
written from the paper's definitions with the same draws, differentiability, R3GAN's schedule of p, and
the refusals of a request that cannot work."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ganbench.ada import SPECS, SYM6, AdaPipe, filter_bank, probability, upfirdn2d


def _blob(n: int, c: int, size: int) -> torch.Tensor:
    """Smooth images (resampling is near exact on them), each off-centre and different."""
    r = torch.arange(size, dtype=torch.float64)
    out = []
    for k in range(n * c):
        cy, cx = size * (0.3 + 0.05 * (k % 5)), size * (0.45 + 0.04 * (k % 3))
        out.append(torch.exp(-((r[:, None] - cy) ** 2 + (r[None, :] - cx) ** 2) / (2 * (size / 6) ** 2)))
    return (torch.stack(out).reshape(n, c, size, size) * 1.6 - 0.8)


def test_resampling_is_scipys_upfirdn_on_each_axis():
    """2× up (zero insertion, sym6 × 2 per axis, pads 6 and 5) and 2× down (cropped by 1, correlation)
    equal ``scipy.signal.upfirdn`` along rows then columns, at the offsets the padding implies."""
    f = torch.tensor(SYM6, dtype=torch.float32)
    f = f / f.sum()
    h = f.double().numpy()
    x = torch.randn(1, 1, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def axes(a: np.ndarray, fn) -> np.ndarray:
        return np.stack([fn(col) for col in np.stack([fn(row) for row in a]).T]).T

    up = upfirdn2d(x, f, up=2, pad=(6, 5, 6, 5), gain=4.0)[0, 0].numpy()
    want_up = axes(x[0, 0].numpy(), lambda v: scipy.signal.upfirdn(h * 2, v, up=2)[5:5 + 2 * v.size])
    np.testing.assert_allclose(up, want_up, atol=1e-6)
    z = torch.randn(1, 1, 30, 34, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    down = upfirdn2d(z, f, down=2, pad=(-1, -1, -1, -1), flip=True)[0, 0].numpy()
    want_down = axes(z[0, 0].numpy(), lambda v: scipy.signal.upfirdn(h[::-1], v, down=2)[6:6 + (v.size - 12) // 2])
    np.testing.assert_allclose(down, want_down, atol=1e-6)


def test_the_filter_banks_bands_add_up_to_an_identity():
    """The four bands of image-space filtering split a signal without loss (H(z)H(z⁻¹)/2 + H(−z)H(−z⁻¹)/2
    = 1 for an orthogonal wavelet): their sum is a unit impulse; the coarsest is a low-pass of gain 1."""
    bank = filter_bank()
    assert bank.shape == (4, 43)
    impulse = np.zeros(43)
    impulse[21] = 1
    np.testing.assert_allclose(bank.sum(0), impulse, atol=1e-12)
    assert bank[0].sum() == pytest.approx(1.0) and all(abs(b.sum()) < 1e-12 for b in bank[1:])


def test_blitting_flips_rotates_and_shifts_whole_pixels():
    """p = 1: x-flip gives each image or its mirror, rotate90 one of its four quarter turns, xint a shift
    by whole pixels of at most an eighth of the size (compared away from the reflected border). Within 0.05
    on images of range 1.6: as in ADA's code, blits are executed by the resampling of the geometric ops, whose
    asymmetric sym6 filter moves a mirrored image's values by up to ~0.02 here (an identity: float32 rounding)."""
    x = _blob(16, 1, 24).float()
    got = AdaPipe({"xflip": 1}, torch.Generator().manual_seed(0), p=1.0)(x)
    flipped = [bool(torch.allclose(g, xi.flip(-1), atol=0.05)) for g, xi in zip(got, x, strict=True)]
    kept = [bool(torch.allclose(g, xi, atol=0.05)) for g, xi in zip(got, x, strict=True)]
    assert all(a != b for a, b in zip(flipped, kept, strict=True)) and 0 < sum(flipped) < 16
    got = AdaPipe({"rotate90": 1}, torch.Generator().manual_seed(0), p=1.0)(x)
    turns = [[k for k in range(4) if torch.allclose(g, torch.rot90(xi, k, (1, 2)), atol=0.05)]
             for g, xi in zip(got, x, strict=True)]
    assert all(len(t) == 1 for t in turns) and len({t[0] for t in turns}) >= 3
    got = AdaPipe({"xint": 1}, torch.Generator().manual_seed(0), p=1.0)(x)
    for g, xi in zip(got, x, strict=True):
        shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                  if torch.allclose(g[:, 4:-4, 4:-4], torch.roll(xi, (dy, dx), (1, 2))[:, 4:-4, 4:-4], atol=0.05)]
        assert len(shifts) == 1


def test_the_colour_ops_of_a_one_channel_image_are_the_documented_affine_map():
    """brightness, contrast and luma flip on a grey image: s · c · (x + b) per image, with the draws in the
    code's order from the same generator — b ~ N(0, 0.2²), c = 2^N(0, 0.5²), s = −1 on a luma flip, each
    where its uniform draw is below p (hue and saturation leave grey images alone and draw nothing)."""
    p = 0.6
    x = torch.rand(32, 1, 5, 5, dtype=torch.float64) * 2 - 1
    got = AdaPipe(SPECS["color"], torch.Generator().manual_seed(3), p=p)(x)
    g = torch.Generator().manual_seed(3)
    b = torch.randn(32, generator=g) * 0.2
    b = torch.where(torch.rand(32, generator=g) < p, b, torch.zeros(32))
    c = torch.exp2(torch.randn(32, generator=g) * 0.5)
    c = torch.where(torch.rand(32, generator=g) < p, c, torch.ones(32))
    i = torch.floor(torch.rand(32, generator=g) * 2)
    i = torch.where(torch.rand(32, generator=g) < p, i, torch.zeros(32))
    s = 1 - 2 * i
    want = (s * c).double().view(-1, 1, 1, 1) * (x + b.double().view(-1, 1, 1, 1))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert (b != 0).any() and (b == 0).any() and (s < 0).any()


def test_cutout_zeroes_the_rectangle_around_a_uniform_centre():
    """cutout: pixel (y, x) is zeroed where |(x + ½)/W − cx| < ½·½ and |(y + ½)/H − cy| < ½·½, for the images
    whose draw is below p (a numpy loop over pixels, same draws)."""
    x = torch.ones(12, 1, 10, 8)
    got = AdaPipe({"cutout": 1}, torch.Generator().manual_seed(5), p=0.5)(x).numpy()
    g = torch.Generator().manual_seed(5)
    on = (torch.rand(12, generator=g) < 0.5).numpy()
    centre = torch.rand(12, 2, generator=g).numpy()
    want = np.ones((12, 1, 10, 8))
    for k in range(12):
        for yy in range(10):
            for xx in range(8):
                if on[k] and abs((xx + 0.5) / 8 - centre[k, 0]) < 0.25 and abs((yy + 0.5) / 10 - centre[k, 1]) < 0.25:
                    want[k, 0, yy, xx] = 0
    np.testing.assert_array_equal(got, want)
    assert on.any() and not on.all()


def test_the_whole_chain_is_differentiable_with_respect_to_the_images():
    """bgcfnc (every op) at p = 0.8 on RGB images: autograd's directional derivatives equal central finite
    differences along random directions (the draws repeat: a fresh generator with the same seed per call)."""
    def f(t):
        return AdaPipe(SPECS["bgcfnc"], torch.Generator().manual_seed(2), p=0.8)(t).pow(2).sum()

    x = torch.rand(2, 3, 24, 24, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f(x), x)
    assert grad.abs().sum() > 0
    for k in range(3):
        v = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            numeric = (f(x + 1e-6 * v) - f(x - 1e-6 * v)) / 2e-6
        assert float((grad * v).sum()) == pytest.approx(float(numeric), rel=1e-5)


def test_p_follows_r3gans_half_cosine_when_scheduled():
    settings = {"ada_p": 0.55, "batch_size": 100, "schedule_images": 1000, "ada_p_schedule": True}
    assert probability(settings, 1) == 0.0
    assert probability(settings, 6) == pytest.approx(0.55 * 0.5 * (1 - math.cos(math.pi * 500 / 1000)))
    assert probability(settings, 11) == probability(settings, 50) == 0.55
    assert probability({**settings, "ada_p_schedule": False}, 1) == 0.55


def test_a_training_step_sets_p_and_augments_every_d_input(plugins):
    """vanilla on 8×8 digits with ada=cutout at p = 1: each of the step's three D calls (the real batch and
    the generated one in D's update, a generated one in G's) sees its images with a square of zeros of its
    own; with R3GAN's schedule p is 0 at step 1 and rises after."""
    from ganbench.suite import GLOBAL_DEFAULTS
    from ganbench.testing import build
    from ganbench.train import setup
    from ganbench.train.step import Blame, step

    reg = plugins.registry
    data = reg.get("dataset", "digits").load()
    settings = {**GLOBAL_DEFAULTS, "batch_size": 8, "latent_dim": 8, "ada": "cutout", "ada_p": 1.0}
    G, D = build(reg, "vanilla", data)
    s = setup.state(G, D, reg.get("loss", "nonsat"), data, settings, seed=0, device=torch.device("cpu"))
    seen, reals, generated = [], [], []
    D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    G.register_forward_hook(lambda module, args, out: generated.append(out.detach().clone()))
    real = s.task.real
    s.task.real = lambda: (reals.append(real()) or reals[-1])
    step(s, 1, Blame())
    assert len(seen) == 3 and s.ada.p == 1.0
    for got, before in zip(seen, [reals[0][0], *generated], strict=True):
        cut = (got == 0) & (before != 0)
        assert bool((cut.flatten(1).sum(1) >= 4).all())  # a 4×4 square, at least 2×2 at a corner
        torch.testing.assert_close(got[got != 0], before.reshape(got.shape)[got != 0])
    assert not torch.equal(seen[1] == 0, seen[2] == 0)
    s.settings = {**settings, "ada_p_schedule": True, "schedule_images": 80}
    step(s, 2, Blame())
    assert 0 < s.ada.p < 1.0


def test_adaptive_p_moves_by_the_sign_of_r_t_against_the_target_and_its_window_survives_a_checkpoint():
    """observe/adjust on made-up scores: r_t above the target raises p by n/(kimg·1000), below lowers it
    (clamped at 0, not capped above 1), equal leaves it; a window saved half-way and loaded into a fresh
    pipe ends with the same r_t and p as one never saved."""
    def pipe(p):
        return AdaPipe(SPECS["bgc"], torch.Generator(), p=p, target=0.6, kimg=0.01)  # n = 8 images: a move of 0.8

    up, down, flat = pipe(0.5), pipe(0.5), pipe(0.5)
    up.observe(torch.tensor([1.0, 2.0, 3.0, -1.0, 0.5, 4.0, 1.0, 1.0]))  # r_t = 0.75
    down.observe(torch.tensor([1.0, -2.0, 3.0, -1.0, 0.5, -4.0, 1.0, 1.0]))  # r_t = 0.25
    flat.observe(torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0]))  # r_t = 0.6
    assert (up.adjust(), down.adjust(), flat.adjust()) == (0.75, 0.25, pytest.approx(0.6))
    assert (up.p, down.p, flat.p) == (pytest.approx(1.3), 0.0, 0.5)
    assert up.signs is None and up.count == 0
    whole, halved = pipe(0.2), pipe(0.2)
    first, second = torch.tensor([1.0, -1.0, 2.0]), torch.tensor([3.0, 1.0, 1.0, -2.0, 5.0])
    for a in (whole, halved):
        a.observe(first)
    saved = halved.state_dict()
    assert saved == {"p": 0.2, "signs": torch.tensor(1.0), "count": 3}
    resumed = pipe(0.9)
    resumed.load_state_dict(saved, torch.device("cpu"))
    for a in (whole, resumed):
        a.observe(second)
    assert whole.adjust() == resumed.adjust() == 4 / 8 and whole.p == resumed.p == 0.0


def test_adaptive_p_follows_adas_heuristic_and_a_checkpoint_inside_its_window_resumes(plugins):
    """ada_target 0.6: p starts at ada_p and after every 4th step moves by ±4·batch/(ada_kimg·1000) as the
    mean sign of D's scores of the real batches since the last move is above or below the target (never
    below 0) — recomputed from D's outputs; a run resumed from its step-6 checkpoint (two steps of signs
    counted, not yet used) ends with the same history and p."""
    import copy

    from ganbench.suite import GLOBAL_DEFAULTS
    from ganbench.testing import build
    from ganbench.train import run_training

    reg = plugins.registry
    data = reg.get("dataset", "digits").load()
    settings = {**GLOBAL_DEFAULTS, "batch_size": 8, "latent_dim": 8, "steps": 10, "sample_every": 0, "ada": "bgc",
                "ada_p": 0.2, "ada_target": 0.6, "ada_kimg": 0.128}  # a move of 4·8/128 = 0.25

    def train(resume=None):
        G, D = build(reg, "vanilla", data)
        scores, saved = [], []
        D.register_forward_hook(lambda module, args, out: scores.append(out.detach().flatten()))
        result = run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=1, device=torch.device("cpu"),
                              eval_noise=torch.zeros(4, 8), resume=resume, checkpoint_every=6,
                              on_checkpoint=lambda st: saved.append(copy.deepcopy(st)))
        return result, scores, saved

    result, scores, saved = train()
    real = scores[0::3]  # each step: D(real), D(fake) in D's update, D(fake) in G's
    p, moves = 0.2, []
    for window in (real[0:4], real[4:8]):
        r_t = float(torch.cat(window).sign().mean())
        p = max(p + float(np.sign(r_t - 0.6)) * 0.25, 0.0)
        moves.append(p)
    assert result.ada_p == pytest.approx(p) and saved[0]["ada"]["count"] == 16
    assert moves == [0.0, 0.25]  # down to the clamp at 0 (r_t 0 < 0.6), then up (r_t 1 > 0.6)
    again, _, _ = train(resume=saved[0])
    assert again.history == result.history and again.ada_p == result.ada_p


@pytest.mark.parametrize(("data", "settings", "message"), [
    ("ring8", {"ada": "bgc", "ada_p": 0.3},
     r"^setting ada=bgc applies to images; data set 'ring8' holds vectors: run it without ada$"),
    ("digits", {"ada": "bgcf", "ada_p": 0.3}, r"^setting ada=bgcf has image-space filtering, which needs images "
                                              r"larger than 21 pixels, not 8×8 \(data set 'digits'\): choose"),
    ("edges2digits", {"ada": "bgc", "ada_p": 0.3}, r"^setting ada=bgc applies to generation; data set "
                                                   r"'edges2digits' is a translation data set"),
    ("ring8", {"ada": "bgc", "ada_p": 0.3, "augment": "cutout"},
     r"^settings augment=cutout and ada=bgc are two augmentation pipelines of D's inputs: choose one$"),
    ("ring8", {"ada": "bgc"}, r"^setting ada=bgc needs ada_p, its probability"),
    ("ring8", {"ada_p": 0.3}, r"^setting ada_p=0.3 is for ADA's pipeline: set ada too$"),
    ("ring8", {"ada_target": 0.6}, r"^setting ada_target=0.6 is for ADA's pipeline: set ada too$"),
    ("ring8", {"ada": "bgc", "ada_p": 0.3, "ada_kimg": 100},
     r"^setting ada_kimg=100.0 is the speed of ADA's adaptive p: set ada_target too$"),
    ("ring8", {"ada": "bgc", "ada_target": 0.6, "ada_p_schedule": True, "schedule_images": 1000},
     r"^settings ada_p_schedule=True and ada_target=0.6 both set ADA's p: choose one$"),
])
def test_a_request_that_cannot_augment_is_refused_before_anything_trains(tmp_path, data, settings, message):
    import ganbench
    from ganbench.errors import UsageError

    with pytest.raises(UsageError, match=message):
        ganbench.run(models="pix2pix" if data == "edges2digits" else "vanilla", losses="nonsat", datasets=data,
                     seeds=[0], settings=settings, out=tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()
