"""The architectural components of the built-in models, each tested for what it is meant to do
(issue 20): conditional BatchNorm's scale and shift depend on the class, spectral norm keeps the
largest singular value near 1, self-attention is equivariant to permutations of the positions, the
projection head's score moves with y by exactly ⟨e_y − e_y', h⟩, and the shapes of every size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench_builtins.models.nets.layers import ConditionalBatchNorm2d, DBlock, GBlock, SelfAttention, sn
from ganbench_builtins.models.nets.sngan import LAYOUTS, ProjectionDiscriminator, ResNetGenerator


def test_conditional_batchnorm_scales_and_shifts_per_class():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, embed=3)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 2, 3, 4], [0.5, 0.5, 0.5, 0.5], [-1, 0, 1, 2]]))
        cbn.bias.weight.copy_(torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1], [-2, 3, 0, 1]]))
    x = torch.randn(6, 4, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = cbn(x, y)
    mean, var = x.mean(dim=(0, 2, 3), keepdim=True), x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + cbn.bn.eps)  # batch statistics over every class together
    expected = cbn.gain.weight[y][:, :, None, None] * normed + cbn.bias.weight[y][:, :, None, None]
    assert torch.allclose(out, expected, atol=1e-5)
    same_x = x[:1].expand(3, -1, -1, -1)
    cbn.eval()
    per_class = cbn(same_x, torch.arange(3))
    assert not torch.allclose(per_class[0], per_class[1]) and not torch.allclose(per_class[1], per_class[2])
    fresh = ConditionalBatchNorm2d(4, embed=3)  # initialised as plain BatchNorm: γ = 1, β = 0 for every class
    assert torch.equal(fresh.gain.weight, torch.ones(3, 4)) and torch.equal(fresh.bias.weight, torch.zeros(3, 4))
    apart = ConditionalBatchNorm2d(4, embed=3, start="studiogan")  # StudioGAN: 1 + orthogonal W_γᵀ, W_βᵀ
    w_gain, w_bias = apart.gain.weight - 1, apart.bias.weight  # [classes, channels]: orthonormal class rows
    assert torch.allclose(w_gain @ w_gain.t(), torch.eye(3), atol=1e-5)
    assert torch.allclose(w_bias @ w_bias.t(), torch.eye(3), atol=1e-5)


def test_spectral_norm_keeps_the_largest_singular_value_near_one():
    torch.manual_seed(0)
    D = ProjectionDiscriminator(num_classes=10, channels=1, size=28, width=16)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for _ in range(30):  # one power iteration per training forward
        D(x, y)
    sigmas = []
    for module in D.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)) and hasattr(module, "parametrizations"):
            w = module.weight.detach()
            sigmas.append(float(torch.linalg.matrix_norm(w.flatten(1) if w.dim() > 2 else w, ord=2)))
    assert len(sigmas) >= 10
    assert max(abs(s - 1) for s in sigmas) < 0.05, sigmas
    raw = nn.Conv2d(16, 16, 3)
    assert float(torch.linalg.matrix_norm(raw.weight.detach().flatten(1), ord=2)) != pytest.approx(1, abs=0.05)
    assert sn(raw) is raw and hasattr(raw, "parametrizations")


def test_self_attention_is_equivariant_to_permutations_of_the_positions():
    torch.manual_seed(0)
    attn = SelfAttention(16, spectral=False, pool=False)
    with torch.no_grad():
        attn.gamma.fill_(0.7)  # starts at 0 (identity); a trained γ mixes in the attention
    x = torch.randn(2, 16, 4, 5)
    perm = torch.randperm(20)
    permute = lambda t: t.flatten(2)[:, :, perm].view_as(t)  # noqa: E731 - same permutation of positions
    assert torch.allclose(attn(permute(x)), permute(attn(x)), atol=1e-5)
    assert not torch.allclose(attn(x), x)  # it does something
    zero = SelfAttention(16)
    assert torch.equal(zero(x), x)  # γ = 0 at initialisation: the block starts as the identity
    assert SelfAttention(16)(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)  # pooled keys/values


def test_the_projection_head_moves_the_score_by_the_class_embedding():
    torch.manual_seed(0)
    D = ProjectionDiscriminator(num_classes=10, channels=1, size=28, width=16).eval()
    x = torch.randn(4, 1, 28, 28)
    y1, y2 = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 5, 5, 5])
    with torch.no_grad():
        h = D.features(x)
        e = D.embed.weight
        diff = D(x, y1) - D(x, y2)
    assert torch.allclose(diff, ((e[y1] - e[y2]) * h).sum(1), atol=1e-4)
    assert diff.abs().min() > 0


def test_sngan_starts_as_the_reference_code_initialises():
    """pfnet-research/sngan_projection: GlorotUniform(√2) on the blocks' 3×3 convs, GlorotUniform(1) on the
    shortcuts, G's first linear and last conv, D's ψ and class embedding; biases 0. Each weight's bound is
    gain·√(6 / (fan_in + fan_out)) (chainer's and torch's Glorot agree): the largest |w| sits just below it."""
    import math

    from ganbench_builtins.models.nets.layers import raw_weight

    torch.manual_seed(0)
    G = ResNetGenerator(16, num_classes=10, channels=1, size=28, width=32)
    D = ProjectionDiscriminator(num_classes=10, channels=1, size=28, width=32)

    def bound(m, gain):
        w = raw_weight(m)
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        if isinstance(m, nn.Embedding):  # [classes, width]: fan_in = width, as chainer's EmbedID
            fan_in, fan_out = w.shape[1], w.shape[0]
        return gain * math.sqrt(6 / (fan_in + fan_out))

    expected = [(b.conv1, math.sqrt(2)) for b in [*G.blocks, *D.blocks]] + [(b.conv2, math.sqrt(2)) for b in
                                                                             [*G.blocks, *D.blocks]]
    expected += [(b.skip, 1.0) for b in [*G.blocks, *D.blocks] if b.skip is not None]
    expected += [(G.linear, 1.0), (G.out[2], 1.0), (D.linear, 1.0), (D.embed, 1.0)]
    assert len(expected) == 2 * 2 + 2 * 4 + (2 + 2) + 4  # G: 2 blocks, D: 4; shortcuts: G 2, D 2 (the pooled)
    for m, gain in expected:
        w = raw_weight(m).detach()
        assert 0.9 * bound(m, gain) < w.abs().max() <= bound(m, gain), (m, gain)
        assert getattr(m, "bias", None) is None or not m.bias.any()
    old = ProjectionDiscriminator(num_classes=10, channels=1, size=28, width=32, init="torch")
    assert raw_weight(old.embed).std().item() == pytest.approx(1.0, rel=0.15)  # torch's N(0, 1) embedding
    assert raw_weight(D.embed).std().item() < 0.3 and old.linear.bias.abs().item() > 0


@pytest.mark.parametrize("size", sorted(LAYOUTS))
def test_resnet_shapes_at_every_size(size):
    G = ResNetGenerator(16, num_classes=3, channels=3, size=size, width=8)
    D = ProjectionDiscriminator(num_classes=3, channels=3, size=size, width=8)
    z, y = torch.randn(2, 16), torch.tensor([0, 2])
    x = G(z, y)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert D(x, y).shape == (2,)
    assert GBlock(8, 4, embed=3)(torch.randn(2, 8, 5, 5), y).shape == (2, 4, 10, 10)
    assert DBlock(8, 4)(torch.randn(2, 8, 6, 6)).shape == (2, 4, 3, 3)


def test_biggan_hierarchical_latent_shared_embedding_and_orthogonal_regularisation():
    from ganbench_builtins.models.nets.biggan import BigGANDiscriminator, BigGANGenerator
    from ganbench_builtins.models.nets.layers import raw_weight

    torch.manual_seed(0)
    G = BigGANGenerator(latent_dim=20, num_classes=5, channels=3, ch=2, shared=6, attention=True, ortho=1e-3).eval()
    D = BigGANDiscriminator(num_classes=5, channels=3, ch=2, attention=True)
    assert (G.first, G.chunk) == (5, 5)  # z = [z0 (5) | z1 | z2 | z3 (5 each)]
    z, y = torch.randn(3, 20), torch.tensor([0, 1, 4])
    with torch.no_grad():
        x = G(z, y)
        assert x.shape == (3, 3, 32, 32) and D(x, y).shape == (3,)
        for chunk in range(4):  # every chunk of z reaches G: the first through the linear layer, each other a block
            moved = z.clone()
            moved[:, 5 * chunk : 5 * chunk + 5] += 1.0
            assert not torch.allclose(G(moved, y), x)
        assert not torch.allclose(G(z, torch.tensor([2, 3, 0])), x)  # the class reaches G (the shared embedding)
    # one table of class embeddings feeds every block's conditional BN: changing it changes every block's input
    assert G.shared.weight.shape == (5, 6) and all(b.bn1.gain.in_features == 6 + 5 for b in G.blocks)
    # the regulariser is β/2 Σ‖WWᵀ⊙(1−I)‖²; its gradient on one weight is 2β (WWᵀ⊙(1−I)) W, by hand
    G.zero_grad()
    G.regularization().backward()
    w = raw_weight(G.out[2])
    flat = w.detach().flatten(1)
    gram = flat @ flat.t()
    expected = 2 * 1e-3 * (gram * (1 - torch.eye(len(gram)))) @ flat
    assert torch.allclose(w.grad.flatten(1), expected, rtol=1e-4, atol=1e-9)
    assert G.shared.weight.grad is None  # the shared embedding is not regularised: the authors' only exclusion
    gain = raw_weight(G.blocks[0].bn1.gain)  # the conditional-BN maps are, as in BigGAN-PyTorch's utils.ortho
    flat = gain.detach().flatten(1)
    gram = flat @ flat.t()
    assert torch.allclose(gain.grad, 2 * 1e-3 * (gram * (1 - torch.eye(len(gram)))) @ flat, rtol=1e-4, atol=1e-9)
    assert BigGANGenerator(20, 5, 3, 2, 6, False, 0.0).regularization().item() == 0.0


@pytest.mark.parametrize("flavour", ["parametrization", "hook"])
def test_ema_of_a_spectrally_normalised_generator_divides_by_its_own_sigma(flavour):
    """The EMA generator samples in eval mode, where torch divides by uᵀWv from the stored vectors: those must
    be unit vectors near the averaged weight's top singular pair, not an average of G's (checked against the
    SVD of the averaged weight; averaging the vectors, as every other buffer, is off by their norm). Both of
    torch's spectral norms: the parametrisation (built-in models) and the older hook (plugins' generators)."""
    import copy

    from ganbench.train import update_ema

    if flavour == "hook":
        sn_layer = torch.nn.utils.spectral_norm(nn.Linear(12, 9))
        original = lambda net: net[0].weight_orig  # noqa: E731
        vectors = lambda net: (net[0].weight_u, net[0].weight_v)  # noqa: E731
    else:
        sn_layer = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(12, 9))
        original = lambda net: net[0].parametrizations.weight.original  # noqa: E731
        vectors = lambda net: (net[0].parametrizations.weight[0]._u, net[0].parametrizations.weight[0]._v)  # noqa: E731
    torch.manual_seed(0)
    G = nn.Sequential(sn_layer, nn.ReLU(), nn.Linear(9, 3))
    ema = copy.deepcopy(G).eval()
    naive = copy.deepcopy(G).eval()
    opt = torch.optim.SGD(G.parameters(), lr=0.05)
    for _ in range(40):  # G's top singular pair moves: each step rotates its weight
        opt.zero_grad()
        G(torch.randn(16, 12)).pow(2).mean().backward()
        opt.step()
        with torch.no_grad():
            original(G).add_(torch.randn(9, 12) * 0.3)
        G(torch.randn(2, 12))  # a training forward: G's own power iteration on its new weight
        update_ema(ema, G, 0.9)
        with torch.no_grad():  # every tensor averaged, as before the fix
            for a, b in zip([*naive.parameters(), *naive.buffers()], [*G.parameters(), *G.buffers()], strict=True):
                a.copy_(b.lerp(a, 0.9))
    w_avg = original(ema).detach()
    assert torch.allclose(w_avg, original(naive))  # the same averaged weight
    sigma = torch.linalg.matrix_norm(w_avg.double(), 2).item()
    u, v = vectors(ema)
    assert u.norm().item() == pytest.approx(1.0, abs=1e-6) and v.norm().item() == pytest.approx(1.0, abs=1e-6)
    x = torch.eye(12)  # eval mode: the weight each forward uses, without iterating (the hook sets it in forward)
    effective = torch.linalg.matrix_norm((ema[0](x) - ema[0].bias).detach().double(), 2).item()
    own = torch.linalg.matrix_norm((G.eval()[0](x) - G[0].bias).detach().double(), 2).item()  # one iteration a step
    assert effective == pytest.approx(1.0, abs=0.01), (effective, sigma)  # measured 1.0032 (G's own: 1.0025)
    assert abs(effective - 1.0) < 2 * abs(own - 1.0) + 1e-3, (effective, own)
    naive_effective = torch.linalg.matrix_norm((naive[0](x) - naive[0].bias).detach().double(), 2).item()
    assert abs(naive_effective - 1.0) > 0.1, naive_effective  # averaging the vectors too: measured 1.279
    # a weight without spectral norm: averaged as before
    assert torch.isfinite(ema[2].weight).all() and torch.equal(ema[2].weight, naive[2].weight)


def test_biggan_trains_with_the_authors_cifar10_settings(plugins):
    """The recipe of BigGAN-PyTorch's scripts/launch_cifar_ema.sh: batch 50, 4 D steps, lr 2e-4 for both,
    betas (0, 0.999), N(0, 0.02) init, no attention or orthogonal term, EMA decay 0.9999 from step 1,000."""
    from ganbench.train import ema_beta
    from ganbench_builtins.models.nets.biggan import build

    spec = plugins.registry.get("model", "biggan")
    s = spec.settings
    assert (s["batch_size"], s["n_critic"], s["lr_g"], s["lr_d"], s["beta1"], s["beta2"]) == (50, 4, 2e-4, 2e-4, 0.0, 0.999)
    assert ema_beta(s, 999) == 0.0 and ema_beta(s, 1000) == pytest.approx(0.9999, abs=1e-7)
    assert {k: o.default for k, o in spec.options.items() if k in ("attention", "ortho", "init")} == {
        "attention": False, "ortho": 0.0, "init": "N02"}
    torch.manual_seed(0)
    info = plugins.registry.get("dataset", "digits").load(image_size=32, channels=3).info
    G, D = build(info, latent_dim=128, num_classes=10, ch=4)
    weights = torch.cat([p.detach().flatten() for n, p in G.named_parameters() if n.endswith(("weight", "original"))
                         and p.dim() > 1])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05) and G.attention is None and D.attention is None
    ortho, _ = build(info, latent_dim=128, num_classes=10, ch=4, init="ortho", attention=True)
    w = ortho.linear.parametrizations.weight.original  # orthogonal rows: W Wᵀ = I (more columns than rows)
    assert ortho.attention is not None and torch.allclose(w.t() @ w, torch.eye(w.shape[1]), atol=1e-5)
