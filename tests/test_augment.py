"""DiffAugment (setting ``augment``): each op against a per-sample computation written from the
reference's definition, with the same draws; differentiable; applied to every D input of a training
step, each call with its own draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.augment import check_policy, diff_augment


def _draws(n: int, seed: int, h: int, w: int, policy: str) -> dict[str, np.ndarray]:
    """The reference's draws, in its order, from a generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in policy.split(","):
        if name == "color":
            for op in ("brightness", "saturation", "contrast"):
                out[op] = torch.rand(n, 1, 1, 1, generator=g).numpy().reshape(n)
        elif name == "translation":
            sx, sy = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            out["tx"] = torch.randint(-sx, sx + 1, (n, 1, 1), generator=g).numpy().reshape(n)
            out["ty"] = torch.randint(-sy, sy + 1, (n, 1, 1), generator=g).numpy().reshape(n)
        else:
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            out["ox"] = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g).numpy().reshape(n)
            out["oy"] = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g).numpy().reshape(n)
    return out


def _by_hand(x: np.ndarray, policy: str, d: dict[str, np.ndarray]) -> np.ndarray:
    """Sample by sample, pixel by pixel: colour around the channel and image means; a shifted image
    whose uncovered border is 0; a square of zeros (clamped at the edges)."""
    x = x.astype(np.float64).copy()
    n, c, h, w = x.shape
    for name in policy.split(","):
        for i in range(n):
            img = x[i]
            if name == "color":
                img = img + (d["brightness"][i] - 0.5)
                img = (img - img.mean(0, keepdims=True)) * (2 * d["saturation"][i]) + img.mean(0, keepdims=True)
                img = (img - img.mean()) * (d["contrast"][i] + 0.5) + img.mean()
            elif name == "translation":
                out = np.zeros_like(img)
                for r in range(h):
                    for s in range(w):
                        src_r, src_s = r + d["tx"][i], s + d["ty"][i]
                        if 0 <= src_r < h and 0 <= src_s < w:
                            out[:, r, s] = img[:, src_r, src_s]
                img = out
            else:
                ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
                rows = {min(max(d["ox"][i] - ch // 2 + k, 0), h - 1) for k in range(ch)}
                cols = {min(max(d["oy"][i] - cw // 2 + k, 0), w - 1) for k in range(cw)}
                img = img.copy()
                for r in rows:
                    for s in cols:
                        img[:, r, s] = 0.0
            x[i] = img
    return x


@pytest.mark.parametrize("policy, shape", [("color", (3, 3, 6, 5)), ("translation", (4, 2, 8, 8)),
                                           ("translation", (5, 2, 12, 20)),  # shifts ⌊h/8+½⌋=2, ⌊w/8+½⌋=3
                                           ("cutout", (4, 1, 7, 6)), ("color,translation,cutout", (3, 3, 8, 8))])
def test_each_policy_matches_its_definition_with_the_same_draws(policy, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    got = diff_augment(x, policy, torch.Generator().manual_seed(7)).double().numpy()
    want = _by_hand(x.numpy(), policy, _draws(shape[0], 7, shape[2], shape[3], policy))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_it_is_differentiable_and_policies_are_checked():
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    out = diff_augment(x, "translation,cutout", torch.Generator().manual_seed(0))
    out.sum().backward()
    assert x.grad is not None and 0 < (x.grad != 0).sum() < x.numel()  # pixels shifted out or cut have no gradient
    assert check_policy("none") is None and check_policy("cutout,color") is None
    assert check_policy("flip") == check_policy("cutout,cutout") == check_policy("cutout, color") == (
        "expects none or a comma-separated list of color, translation, cutout (each once, no spaces)")
    with pytest.raises(ValueError, match=r"applies to images \[N, C, H, W\]"):
        diff_augment(torch.zeros(4, 2), "cutout", torch.Generator())


def test_every_d_input_of_a_step_is_augmented_with_its_own_draws(plugins):
    """vanilla on 8×8 digits with augment=cutout: the step's three D calls (real and fake in D's update,
    fake in G's) each see a square of zeros per sample, at offsets of their own; a checkpoint holds the
    augment stream."""
    from ganbench.suite import GLOBAL_DEFAULTS
    from ganbench.testing import build
    from ganbench.train import setup
    from ganbench.train.step import Blame, step

    reg = plugins.registry
    data = reg.get("dataset", "digits").load()
    settings = {**GLOBAL_DEFAULTS, "batch_size": 8, "latent_dim": 8, "augment": "cutout"}
    G, D = build(reg, "vanilla", data)
    s = setup.state(G, D, reg.get("loss", "nonsat"), data, settings, seed=0, device=torch.device("cpu"))
    seen = []
    D.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    step(s, 1, Blame())
    assert len(seen) == 3
    zeros = [(x == 0).flatten(1).sum(1) for x in seen]
    assert all(bool((z >= 4).all()) for z in zeros)  # a 4×4 square, at least 2×2 where clamped at a corner
    masks = [(x == 0) for x in seen]
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])
    assert "augment" in s.random_state()
    with pytest.raises(ValueError, match=r"setting augment=translation,color: color is DiffAugment's policy for "
                                         r"colour images; data set 'digits' has 1 channel\(s\)"):
        setup.state(G, D, reg.get("loss", "nonsat"), data, {**settings, "augment": "translation,color"}, seed=0,
                    device=torch.device("cpu"))
    with pytest.raises(ValueError, match="setting augment=cutout applies to images; data set 'ring8' holds vectors"):
        ring = reg.get("dataset", "ring8").load(size=100)
        G2, D2 = build(reg, "vanilla", ring)
        setup.state(G2, D2, reg.get("loss", "nonsat"), ring, settings, seed=0, device=torch.device("cpu"))


def test_a_request_of_augment_on_vectors_is_refused_before_anything_trains(tmp_path):
    import ganbench
    from ganbench.errors import UsageError

    with pytest.raises(UsageError, match=r"^setting augment=cutout applies to images; data set 'ring8' holds vectors"):
        ganbench.run(models="vanilla", losses="nonsat", datasets="ring8", seeds=[0], settings={"augment": "cutout"},
                     out=tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()
