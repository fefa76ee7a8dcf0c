"""StyleGAN2's components, each checked for what it does (demodulation, style mixing, path length,
minibatch std, truncation, the lazy phases' rescaled optimisers) against independent computations, and
its recipe reaching a real CLI run."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from ganbench.cli import cli
from ganbench.specs import DataInfo
from ganbench_builtins.models.nets import stylegan2 as sg

INFO = DataInfo(name="tiny", modality="image", shape=(1, 8, 8), size=8, value_range=(-1.0, 1.0))


def _g(**kw):
    torch.manual_seed(0)
    opts = {"width": 8, "w_dim": 8, "mixing": 0.0, "pl_weight": 0.0, **kw}
    return sg.build(INFO, 6, **opts)[0]


def test_demodulation_gives_unit_variance_outputs_for_unit_variance_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, 16, 16, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g)
    styles = torch.rand(4, 64, generator=g) * 3 + 0.1  # arbitrary per-sample, per-channel scales
    out = sg.modulated_conv2d(x, weight, styles, padding=0)
    assert out.shape == (4, 32, 14, 14)
    assert out.std().item() == pytest.approx(1.0, abs=0.03)
    per_channel = out.transpose(0, 1).reshape(32 * 4, -1).std(dim=1)  # every sample's every output channel
    assert per_channel.min() > 0.85 and per_channel.max() < 1.15
    plain = sg.modulated_conv2d(x, weight, styles, demodulate=False, padding=0)  # without: the styles' scale
    assert plain.std().item() > 5


def test_style_mixing_switches_styles_at_the_crossover_layer():
    G = _g(mixing=1.0).train()
    assert G.num_ws == 4  # 8 px: conv(4), toRGB(4)/conv0(8), conv1(8), toRGB(8)
    seen = []
    hooks = [m.affine.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
             for m in G.modules() if isinstance(m, (sg.SynthesisLayer, sg.ToRGB))]
    z = torch.randn(3, 6)
    torch.manual_seed(5)
    G(z)
    for h in hooks:
        h.remove()
    torch.manual_seed(5)  # the same draws, made by hand: the cutoff, the coin, the second z
    cutoff = int(torch.randint(1, G.num_ws, ()))
    assert torch.rand(()).item() < 1.0
    z2 = torch.randn_like(z)
    w1, w2 = G.mapping(z, update_w_avg=False)[:, 0], G.mapping(z2, update_w_avg=False)[:, 0]
    assert not torch.allclose(w1, w2)
    # the layers read ws 0, 1, 1, 2, 3 (block 4: conv1, toRGB; block 8: conv0, conv1, toRGB)
    for layer, index in zip(seen, (0, 1, 1, 2, 3), strict=True):
        assert torch.allclose(layer, w2 if index >= cutoff else w1, atol=1e-6), (index, cutoff)
    G.mixing = 0.0
    torch.manual_seed(5)
    assert torch.allclose(G.ws(z), G.mapping(z, update_w_avg=False))


def test_path_length_penalty_equals_an_independent_jacobian_computation():
    G = _g(pl_weight=2.0, pl_interval=4).train()
    z = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    penalty = G.regularization(z)
    assert G.pl_mean.item() > 0
    # by hand: the first half of the batch, its ws, the same projection u (noise inputs start at strength 0)
    G.pl_mean.zero_()
    ws = G.mapping(z[:2], update_w_avg=False).detach()
    torch.manual_seed(3)
    img = G.synthesis(ws)  # the same draws as the regulariser's synthesis pass
    u = (torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])).numpy()
    jac = torch.autograd.functional.jacobian(lambda w: G.synthesis(w), ws).numpy()  # [2,C,H,W, 2,num_ws,w_dim]
    lengths = np.array([np.sqrt((np.einsum("chw,chwld->ld", u[i], jac[i, :, :, :, i]) ** 2).sum(1).mean())
                        for i in range(2)])
    mean = 0.01 * lengths.mean()  # the running mean after one update from 0 (decay 0.01)
    expected = ((lengths - mean) ** 2).mean() * 2.0 * 4  # × pl_weight × the lazy interval
    assert penalty.item() == pytest.approx(expected, rel=1e-4)


def test_minibatch_std_matches_numpy():
    x = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = sg.minibatch_std(x, 4).numpy()
    a = x.numpy()
    assert out.shape == (8, 4, 4, 4) and np.allclose(out[:, :3], a)
    for i in range(2):  # groups of 4 strided through the batch: samples i, i + 2, i + 4, i + 6
        members = a[i::2]
        std = np.sqrt(members.var(axis=0) + 1e-8).mean()
        for j in range(i, 8, 2):
            assert np.allclose(out[j, 3], std, rtol=1e-5)
    assert sg.mbstd_group(6, 4) == 3 and sg.mbstd_group(50, 32) == 25 and sg.mbstd_group(2, 4) == 2


def test_truncation_pulls_samples_to_the_average_w_and_eval_draws_nothing():
    G = _g(truncation=0.0)
    G.train()
    G(torch.randn(16, 6))  # tracks w's average
    assert G.mapping.w_avg.abs().sum() > 0
    G.eval()
    state = torch.get_rng_state()
    out = G(torch.randn(5, 6, generator=torch.Generator().manual_seed(2)))
    assert torch.equal(state, torch.get_rng_state())  # constant noise, no mixing: no draw
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)  # ψ = 0: every sample is the average's
    assert out.abs().max() <= 1.0
    from ganbench.train.replicas import why_not  # training-mode draws come from torch's global generator

    assert "global generator" in why_not(G, None, {}, False)


def test_equalised_learning_rate_and_the_lazy_phases_rescaled_optimisers(plugins):
    from ganbench.train import setup

    G, D = sg.build(INFO, 6, width=8, w_dim=8)
    fc = G.mapping.fc[0]
    assert fc.weight_gain == pytest.approx(0.01 / math.sqrt(6)) and fc.weight.std().item() == pytest.approx(100, rel=0.3)
    spec = plugins.registry.get("model", "stylegan2")
    data = plugins.registry.get("dataset", "digits").load()
    settings = {**json.loads(json.dumps(dict(spec.settings))), "batch_size": 8, "latent_dim": 6, "g_ema": 0.0,
                "steps": 9, "optimizer": "adam", "amp": "none", "compile": "none", "augment": "none"}
    from ganbench.suite import resolve_settings

    settings, _ = resolve_settings(settings, {}, {})
    s = setup.state(G, D, plugins.registry.get("loss", "nonsat-r1"), data, settings, seed=0, device=torch.device("cpu"))
    for opt, interval in ((s.opt_g, 4), (s.opt_d, 16)):  # c = interval / (interval + 1)
        group = opt.param_groups[0]
        c = interval / (interval + 1)
        assert group["lr"] == pytest.approx(0.0025 * c) and group["betas"] == pytest.approx((0.0, 0.99 ** c))
    assert [p.name for p in s.phases] == ["D", "Dreg", "G", "Greg"]
    calls = []
    real = G.regularization
    G.regularization = lambda z, y=None: calls.append(len(z)) or real(z, y)
    s.g_regularization = G.regularization
    from ganbench.train.step import Blame, step

    for t in range(1, 10):
        step(s, t, Blame())
    assert calls == [8, 8, 8]  # G steps 1, 5, 9; the regulariser takes half of each batch itself
    cifar_g, cifar_d = sg.build(INFO, 6, width=8, w_dim=8, pl_weight=0.0, d_arch="orig", mixing=0.0)
    plain = setup.state(cifar_g, cifar_d, plugins.registry.get("loss", "nonsat-r1"), data, settings, seed=0,
                        device=torch.device("cpu"))  # path length off, G's Adam rescaled all the same (the code)
    assert [p.name for p in plain.phases] == ["D", "Dreg", "G"]
    assert plain.opt_g.param_groups[0]["lr"] == pytest.approx(0.0025 * 0.8)


def test_a_stylegan2_cli_run_trains_with_its_recipe_the_gamma_heuristic_and_diffaugment(tmp_path):
    out = tmp_path / "run"
    args = ["run", "-d", "digits", "-m", "stylegan2", "-l", "nonsat-r1", "-s", "0", "--steps", "6", "--batch-size", "8",
            "--model-opt", "stylegan2.width=8", "--model-opt", "stylegan2.w_dim=16", "--set", "latent_dim=16",
            "--set", "eval_samples=64", "--set", "sample_every=0", "--set", "augment=translation,cutout",
            "--metrics", "fid", "--device", "cpu", "-q", "-o", str(out)]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    row = pd.read_csv(out / "results.csv").iloc[0]
    assert row["status"] == "ok" and np.isfinite(row["fid"])
    assert "gamma=0.0016" in row["loss_options"]  # 0.0002 · 8² / 8
    assert "stylegan2's recipe sets nonsat-r1 gamma=0.0016" in row["message"]
    assert row["hp_lr_g"] == 0.0025 and row["hp_beta2"] == 0.99
