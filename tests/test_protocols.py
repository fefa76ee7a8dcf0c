"""Protocols (``--protocol``): the precedence rule, what each built-in protocol pins, PacGAN's networks,
rows that record the protocol and reports that keep protocols apart."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ganbench
from ganbench.api import runner as make_runner
from ganbench.errors import PluginError, UsageError
from ganbench.execution.session import NullReporter
from ganbench.specs import PaperRow, ProtocolSpec
from ganbench.suite import GLOBAL_DEFAULTS, SETTINGS, Cell, resolve_settings

PACGAN = {"latent_dim": 2, "batch_size": 100, "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8,
          "beta2": 0.999, "n_critic": 1, "eval_samples": 2500, "g_ema": 0.0, "schedule_images": 0}


@pytest.mark.parametrize("layers, recipe, value, source", [
    ({"user": 1, "protocol": 2, "loss": 3, "model": 4}, "paper", 1, "user"),
    ({"protocol": 2, "loss": 3, "model": 4}, "paper", 2, "protocol"),
    ({"loss": 3, "model": 4}, "paper", 3, "loss"),
    ({"model": 4}, "paper", 4, "model"),
    ({}, "paper", SETTINGS["n_critic"].default, "default"),
    ({"protocol": 2, "loss": 3, "model": 4}, "same", 2, "protocol"),
    ({"loss": 3, "model": 4}, "same", 4, "model"),  # one shared recipe: the loss's paper settings are left out
])
def test_one_precedence_rule_explicit_protocol_loss_model_default(layers, recipe, value, source):
    layer = {k: {"n_critic": v} for k, v in layers.items()}
    eff, src = resolve_settings(layer.get("user", {}), layer.get("loss", {}), layer.get("model", {}), recipe,
                                layer.get("protocol"))
    assert (eff["n_critic"], src["n_critic"]) == (value, source)


def _prepared(tmp_path, protocol, **request):
    runner = make_runner(protocol=protocol, out=tmp_path / protocol, device="cpu", reporter=NullReporter(),
                                 **request)
    suite = runner.suite
    cell = Cell(suite.datasets[0], suite.models[0], suite.losses[0], suite.seeds[0])
    return runner, runner._prepare(cell, None)


@pytest.mark.parametrize("name, dataset, steps, tier_of", [
    ("pacgan-ring", "ring8", 400_000, None), ("pacgan-ring-cpu", "ring8", 20_000, "pacgan-ring"),
    ("pacgan-grid", "grid25", 400_000, None), ("pacgan-grid-cpu", "grid25", 20_000, "pacgan-grid"),
])
def test_each_protocol_resolves_to_exactly_its_documented_settings(tmp_path, plugins, name, dataset, steps, tier_of):
    runner, prep = _prepared(tmp_path, name)
    suite = runner.suite
    assert (list(suite.datasets), list(suite.models), list(suite.losses), list(suite.seeds), list(suite.metrics)) == \
        ([dataset], ["pacgan"], ["nonsat"], list(range(10)), ["modes"])
    expected = {**GLOBAL_DEFAULTS, **PACGAN, "steps": steps, "sample_every": steps // 10}
    assert prep.settings == expected
    assert {k for k, v in prep.sources.items() if v == "protocol"} == {*PACGAN, "steps", "sample_every", "model.pack"}
    assert runner.data_options[dataset]["size"] == 100_000 and prep.model_options["pack"] == 1
    # a loss whose recipe schedules its optimiser (R3GAN's) trains the protocol's constant Adam
    r3 = make_runner(protocol=name, losses="rpgan-r1r2", out=tmp_path / "r3", device="cpu", reporter=NullReporter())
    sched = r3._prepare(Cell(dataset, "pacgan", "rpgan-r1r2", 0), None)
    assert (sched.settings["schedule_images"], sched.settings["beta2"], sched.settings["beta1"]) == (0, 0.999, 0.8)
    assert prep.config["protocol"] == name and runner._base_row(prep)["protocol"] == name
    spec = plugins.registry.get("protocol", name)
    assert spec.interval == "se" and spec.budget == 400_000 and spec.tier_of == tier_of
    assert [r.label for r in spec.results] == ["GAN", "PacGAN2", "PacGAN3", "PacGAN4"]
    assert [r.model_options["pack"] for r in spec.results] == [1, 2, 3, 4]
    gan = spec.results[0].values
    assert gan == ({"modes": (6.3, 0.5), "hq_pct": (98.2, 0.2), "hq_kl": (0.45, 0.09)} if dataset == "ring8" else
                   {"modes": (17.3, 0.8), "hq_pct": (94.8, 0.7), "hq_kl": (0.70, 0.07)})


@pytest.mark.parametrize("name, steps", [("wgan-gp-toy", 100_000), ("wgan-gp-toy-cpu", 2_000)])
def test_the_wgan_gp_toy_protocol_pins_the_released_codes_settings_and_per_loss_recipes(tmp_path, plugins, name, steps):
    """gan_toy.py: 8 Gaussians at radius 2, σ 0.02, divided by 1.414; 3×512 ReLU nets; batch 256, 2-d noise;
    wgan-gp: λ 0.1, Adam 1e-4 (0.5, 0.9), 5 critic steps; wgan: RMSprop 5e-5 — the protocol's per-loss
    recipes over the losses' image recipes; the loss's paper model options (a layer-norm critic) do not
    apply under a protocol."""
    runner, prep = _prepared(tmp_path, name)
    assert (list(runner.suite.models), list(runner.suite.losses)) == (["toy-mlp"], ["wgan-gp"])
    toy = {"latent_dim": 2, "batch_size": 256, "steps": steps, "sample_every": steps // 10, "eval_samples": 2500,
           "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.9, "n_critic": 5}
    assert prep.settings == {**GLOBAL_DEFAULTS, **toy}
    assert prep.loss_options == {"lambda": 0.1} and prep.notes == []
    ring = runner.data_options["ring8"]
    assert (ring["radius"], ring["std"], ring["size"]) == (pytest.approx(1.41443, rel=1e-5),
                                                           pytest.approx(0.0141443, rel=1e-5), 1_000_000)
    wgan = make_runner(protocol=name, losses="wgan", out=tmp_path / "wgan", device="cpu", reporter=NullReporter())
    prep = wgan._prepare(Cell("ring8", "toy-mlp", "wgan", 0), None)
    assert (prep.settings["optimizer"], prep.settings["lr_d"], prep.settings["n_critic"]) == ("rmsprop", 5e-5, 5)
    assert plugins.registry.get("protocol", name).results == ()  # the paper has no table for the toys
    same = make_runner(protocol=name, recipe="same", out=tmp_path / "same", device="cpu", reporter=NullReporter())
    prep = same._prepare(Cell("ring8", "toy-mlp", "wgan-gp", 0), None)  # one shared recipe: not the toy's, saying so
    assert (prep.settings["beta1"], prep.settings["n_critic"], prep.loss_options["lambda"]) == (0.5, 1, 0.1)
    assert prep.notes == [f"--same-settings: protocol {name}'s wgan-gp settings are not applied (beta1=0.5, "
                          "beta2=0.9, lr_d=0.0001, lr_g=0.0001, n_critic=5, optimizer=adam): this cell trains "
                          "beta1=0.5, beta2=0.999, lr_d=0.0002, lr_g=0.0002, n_critic=1, optimizer=adam"]


def test_explicit_values_win_over_the_protocol_and_other_grids_drop_its_options(tmp_path, plugins):
    runner, prep = _prepared(tmp_path, "pacgan-ring-cpu", steps=30, settings={"beta1": 0.5}, seeds=[3],
                             model_options=["pacgan.pack=2"], data_options=["ring8.size=500"])
    assert prep.settings["steps"] == 30 and prep.settings["beta1"] == 0.5 and prep.settings["lr_g"] == 1e-4
    assert (prep.sources["steps"], prep.sources["beta1"], prep.sources["lr_g"]) == ("user", "user", "protocol")
    assert prep.model_options["pack"] == 2 and runner.data_options["ring8"]["size"] == 500
    assert list(runner.suite.seeds) == [3]
    other, prep = _prepared(tmp_path, "pacgan-ring-cpu", datasets="grid25", models="vanilla")
    assert other.data_options["grid25"]["size"] == 20000 and prep.settings["lr_g"] == 1e-4  # ring8's size stays ring8's


def test_a_protocol_that_says_nothing_checkable_is_refused_at_registration(plugins):
    from ganbench.registry import Registry

    good = plugins.registry.get("protocol", "pacgan-ring")
    for bad, message in ((dict(interval="iqr"), "with interval 'iqr'"), (dict(seeds=()), "with no seeds"),
                         (dict(settings={"steps": 0}), "setting 'steps' expects a positive integer"),
                         (dict(loss_settings={"nonsat": {"lr": 1}}), "unknown protocol 'x' setting of loss"),
                         (dict(budget=0), "with budget 0"),
                         (dict(results=(PaperRow("GAN", "pacgan", "nonsat", {"modes": 6.3}),)),
                          r"paper row 'GAN' has 'modes': 6.3; expected values \{column: \(mean, interval or None\)\}"),
                         (dict(results=(PaperRow("GAN", "pacgan", "nonsat", {}, settings={"batch_size": -1}),)),
                          "paper row 'GAN' setting 'batch_size' expects")):
        spec = ProtocolSpec(**{**good.__dict__, "name": "x", **bad})
        with pytest.raises(PluginError, match=message):
            Registry().add_protocol(spec)


def test_pacgan_networks_are_the_papers_shapes(plugins):
    """G 2 → 4×400 (Linear without bias, BatchNorm ε 1e-4 / momentum 0.05, ReLU) → 2; D 3 maxout layers of
    200 × 5 pieces → 1 logit; N(0, 0.02) weights, zero biases; PacGAN-k scores packs of k samples."""
    from ganbench.conditioning import build_networks
    from ganbench_builtins.models.nets.pacgan import Maxout

    reg = plugins.registry
    info = reg.get("dataset", "ring8").load(size=100).info
    torch.manual_seed(0)
    G, D = build_networks(reg.get("model", "pacgan"), info, 2, {"pack": 1})
    g_params = 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + 400 * 2 + 2  # no hidden biases; BN scale and shift
    d_params = (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 200 + 1
    assert sum(p.numel() for p in G.parameters()) == g_params == 484_802  # hidden Linear without bias + BN
    assert sum(p.numel() for p in D.parameters()) == d_params == 405_201
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.bias is None for m in linears] == [True] * 4 + [False]
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) == 4 and all(b.eps == 1e-4 and b.momentum == 0.05 for b in bns)
    d_linears = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in (*linears, *d_linears)])
    assert abs(weights.std().item() - 0.02) < 5e-4 and abs(weights.mean().item()) < 5e-4
    maxout = next(m for m in D.modules() if isinstance(m, Maxout))
    x = torch.randn(7, 2)
    by_hand = (x @ maxout.linear.weight.T + maxout.linear.bias).view(7, 200, 5).max(-1).values
    torch.testing.assert_close(maxout(x), by_hand)
    _, D2 = build_networks(reg.get("model", "pacgan"), info, 2, {"pack": 2})
    batch = torch.randn(6, 2)
    assert D2(batch).shape == (3,)
    # pack i = samples 2i and 2i + 1 side by side
    torch.testing.assert_close(D2(batch), D2.net(batch.reshape(3, 4)).view(-1))
    with pytest.raises(ValueError, match="a batch of 5 is not a multiple of 2"):
        D2(torch.randn(5, 2))


def test_pacgan_k_normalises_each_pack_slot_as_the_code_calls_g_once_per_slot(plugins, tmp_path):
    """PacGAN-k's G in training mode computes, for the batch D packs (slot i = samples i, i + k, ...), what the
    plain G computes on each slot's noise alone — the released code's one decoder call per slot — and its
    running statistics move toward the slots' average (mean; unbiased variance), as the code's population
    update averages the k slots'. In eval mode both are the same network. The change is revision 1 of pacgan for
    pack > 1 only: the plain GAN's cells keep their configuration (no revision), PacGAN2's record model=1."""
    from ganbench.conditioning import build_networks

    reg = plugins.registry
    spec = reg.get("model", "pacgan")
    info = reg.get("dataset", "ring8").load(size=100).info
    torch.manual_seed(0)
    G3, _ = build_networks(spec, info, 2, {"pack": 3, "g_hidden": 16})
    G1, _ = build_networks(spec, info, 2, {"pack": 1, "g_hidden": 16})
    G1.load_state_dict(G3.state_dict())
    z = torch.randn(3 * 50, 2)
    out = G3.train()(z)
    alone = [G1.train()(z[i::3]) for i in range(3)]  # one call per slot; each moves G1's running statistics
    for i in range(3):
        torch.testing.assert_close(out[i::3], alone[i])
    for bn3 in [m for m in G3.modules() if isinstance(m, torch.nn.BatchNorm1d)][:1]:
        x = z @ G3.net[0].weight.T  # the first layer's input to its BatchNorm
        slots = x.reshape(50, 3, -1)
        torch.testing.assert_close(bn3.running_mean, 0.05 * slots.mean(0).mean(0))
        torch.testing.assert_close(bn3.running_var, 0.95 + 0.05 * slots.var(0, correction=1).mean(0))
        assert bn3.num_batches_tracked.item() == 1
    G1.load_state_dict(G3.state_dict())
    torch.testing.assert_close(G3.eval()(z), G1.eval()(z))
    with pytest.raises(ValueError, match="a batch of 4 is not a multiple of 3"):
        G3.train()(torch.randn(4, 2))
    expected = G3.train()(z).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # --amp bf16: its statistics in float32, as nn's BatchNorm
        got = G3.train()(z)
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.02)  # bf16's Linear layers, 3 digits
    for pack, revision in ((1, None), (2, {"model": 1})):
        runner = make_runner(models="pacgan", losses="nonsat", datasets="ring8", device="cpu", out=tmp_path / f"p{pack}",
                             model_options=[f"pacgan.pack={pack}"], settings={"batch_size": 100 * pack},
                             reporter=NullReporter())
        assert runner._prepare(Cell("ring8", "pacgan", "nonsat", 0), None).config.get("revision") == revision


def test_rows_record_the_protocol_and_reports_keep_protocols_apart(tmp_path, plugins):
    """Two seeds under the CPU tier (40 steps): rows say the protocol; the report's ± is the protocol's
    statistic, the standard error; a run without the protocol is refused beside it, in one line."""
    from click.testing import CliRunner

    from ganbench.cli import cli
    from ganbench.leaderboard import build_board
    from ganbench.report import load_runs, spread, summarize
    from ganbench_builtins.protocols import PACGAN_PAPER

    tier = ganbench.run(protocol="pacgan-ring-cpu", seeds=[0, 1], steps=40, settings={"sample_every": 0},
                        out=tmp_path / "tier", device="cpu", reporter=NullReporter())
    assert list(tier["protocol"]) == ["pacgan-ring-cpu"] * 2 and list(tier["hp_batch_size"]) == [100, 100]
    assert {"batch_size=protocol", "model.pack=protocol", "data.size=protocol"} <= set(tier["hp_source"][0].split(";"))
    plain = ganbench.run(models="pacgan", losses="nonsat", datasets="ring8", seeds=[0], metrics="modes", steps=40,
                         settings={"sample_every": 0, "eval_samples": 2500}, out=tmp_path / "plain", device="cpu",
                         reporter=NullReporter())
    rows, _ = load_runs([tmp_path / "tier"])
    summary = summarize(rows[rows["model"] == "pacgan"], [("hq_pct", True)])
    values = rows.loc[rows["model"] == "pacgan", "hq_pct"].to_numpy(float)
    assert spread(summary.iloc[0], "hq_pct", "se") == pytest.approx(np.std(values, ddof=1) / math.sqrt(2), rel=1e-12)
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "tier"), "--metrics", "hq_pct"], env={"COLUMNS": "250"})
    assert res.exit_code == 0 and "mean ± standard error (std/√n)" in res.output
    board = build_board([tmp_path / "tier"], plugins.registry, metrics=["modes", "hq_pct", "hq_kl"])
    assert board.interval == "se" and board.paper[0] == "## Beside the paper: " + PACGAN_PAPER.replace("_", "\\_")
    assert board.provenance()["protocol"] == "pacgan-ring-cpu"
    assert "Protocol `pacgan-ring-cpu`; budget 40 steps = 0.01 % of the paper's 400,000." in board.paper
    gan = [line for line in board.paper if line.startswith("| GAN | pacgan nonsat pack=1 | modes |")]
    assert len(gan) == 1 and gan[0].endswith("(n=2) | 6.3 ± 0.5 |")
    assert not any(line.startswith("| PacGAN2") for line in board.paper)  # no cell of pack 2 on this board
    assert "protocol" not in plain.columns
    with pytest.raises(UsageError, match=r"^cannot merge runs of different protocols \(.*tier: pacgan-ring-cpu; "
                                         r".*plain: none\)"):
        load_runs([tmp_path / "tier", tmp_path / "plain"])



def test_the_paper_section_shows_every_group_and_says_which_differ_from_the_papers_settings(plugins):
    """Rows of a pacgan-ring-cpu board (no training: the rows as the results table holds them): the plain
    GAN at the protocol's settings, a sweep point at another lr, PacGAN2 at the paper's batch of 100 packs
    and at the protocol's 100 — each group its own line with its own n, in the table's number format; the
    ones that ran otherwise than the paper say how, and a note says what that means."""
    import pandas as pd

    from ganbench.leaderboard import paper_lines

    spec = plugins.registry.get("protocol", "pacgan-ring-cpu")
    base = {"dataset": "ring8", "model": "pacgan", "loss": "nonsat", "status": "ok", "protocol": "pacgan-ring-cpu",
            "recipe": "paper", "hp_steps": 40, "hp_lr_d": 1e-4, "hp_batch_size": 100.0, "hp_replicas": 3,
            "message": None}
    groups = [({}, "pack=1;pieces=5", "", (6, 7, 8)), ({"hp_lr_d": 1e-3}, "pack=1;pieces=5", "lr_d=0.001", (5, 5, 8)),
              ({"hp_batch_size": 200}, "pack=2;pieces=5", "pack=2:200", (8, 8)),
              ({"hp_source": "data.size=user;replicas=user"}, "pack=2;pieces=5", "pack=2", (7,)),
              ({"hp_source": "g_steps=user;data.std=user", "hp_g_steps": 2}, "pack=3;pieces=5", "", (6,))]
    rows = pd.DataFrame([{**base, **extra, "model_options": opts, "point": point, "seed": i, "modes": m,
                          "hq_pct": 90.0 + m, "hq_kl": 0.1 * m}
                         for extra, opts, point, modes in groups for i, m in enumerate(modes)])
    rows.loc[rows["point"] == "", "point"] = None  # outside a sweep, as the table reads back
    lines = paper_lines(spec, rows, "se")
    gan = [line for line in lines if line.startswith("| GAN |") and "| modes |" in line]
    assert gan == ["| GAN | pacgan nonsat pack=1 | modes | 7.00 ± 0.58 (n=3) | 6.3 ± 0.5 |",
                   "| GAN | pacgan nonsat pack=1 at lr\\_d=0.001 — differs from the paper's settings: lr\\_d=0.001 "
                   "(paper: 0.0001) | modes | 6.00 ± 1.00 (n=3) | 6.3 ± 0.5 |"]
    pac2 = [line for line in lines if line.startswith("| PacGAN2 |") and "| modes |" in line]
    assert pac2 == ["| PacGAN2 | pacgan nonsat pack=2 at pack=2:200 | modes | 8.00 ± 0.00 (n=2) | 7.9 ± 0.1 |",
                    "| PacGAN2 | pacgan nonsat pack=2 at pack=2 — differs from the paper's settings: batch\\_size=100 "
                    "(paper: 200), ring8 size set by the user (paper: 100000) | modes | 7.00 (n=1) | 7.9 ± 0.1 |"]
    pac3 = [line for line in lines if line.startswith("| PacGAN3 |") and "| modes |" in line]
    assert pac3 == ["| PacGAN3 | pacgan nonsat pack=3 — differs from the paper's settings: batch\\_size=100 (paper: 300), "
                    "ring8 std set by the user (the protocol leaves it to the defaults), g\\_steps=2 set by the user (the "
                    "protocol leaves it to the defaults) | modes | 6.00 (n=1) | 7.8 ± 0.1 |"]
    assert "- Rows of the paper's table this board has no cells of: PacGAN4." in lines
    assert any(line.startswith("| GAN | pacgan nonsat pack=1 | hq\\_kl | 0.700 ± 0.058 (n=3) |") for line in lines)
    assert any("was trained otherwise than the paper's configuration" in line for line in lines)
    toy = plugins.registry.get("protocol", "wgan-gp-toy-cpu")
    lines = paper_lines(toy, rows.assign(model="toy-mlp", loss="wgan-gp", protocol=toy.name), "std")
    assert "Protocol `wgan-gp-toy-cpu`; budget 40 steps = 0.04 % of the released code's 100,000." in lines
    assert lines[-2:] == ["The paper reports no numbers for this protocol: nothing stands beside ours.", ""]


def test_toy_mlp_is_the_wgan_gp_toy_codes_networks(plugins):
    """3 ReLU layers of 512, no normalisation; hidden weights uniform with std √(2/fan_in), output layers
    √(2/(fan_in + fan_out)), zero biases (tflib's 'he' and default initialisations)."""
    from ganbench.conditioning import build_networks

    reg = plugins.registry
    info = reg.get("dataset", "ring8").load(size=100).info
    torch.manual_seed(0)
    G, D = build_networks(reg.get("model", "toy-mlp"), info, 2, {"width": 512, "layers": 3})
    assert sum(p.numel() for p in G.parameters()) == (2 * 512 + 512) + 2 * (512 * 512 + 512) + (512 * 2 + 2)
    assert sum(p.numel() for p in D.parameters()) == (2 * 512 + 512) + 2 * (512 * 512 + 512) + (512 + 1)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.LayerNorm)) for m in (*G.modules(), *D.modules()))
    linears = [m for m in G.net if isinstance(m, torch.nn.Linear)]
    hidden, out = linears[1].weight, linears[-1].weight  # 512 → 512 and 512 → 2
    assert hidden.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    assert hidden.abs().max().item() <= math.sqrt(6 / 512)
    assert out.abs().max().item() <= math.sqrt(6 / 514) and all(m.bias.abs().sum().item() == 0 for m in linears)
    assert D(torch.randn(5, 2)).shape == (5,)


def test_a_protocol_that_names_a_plugin_by_an_alias_or_a_typo_is_refused(tmp_path):
    from ganbench import hookimpl
    from ganbench.plugins import load_plugins

    class Bad:
        @hookimpl
        def ganbench_register_protocols(registry):
            base = dict(description="", paper="", datasets=("ring8",), models=("vanilla",), losses=("nonsat",),
                        seeds=(0,))
            registry.add_protocol(ProtocolSpec(name="alias", loss_options={"r3gan": {"gamma": 1.0}}, **base))
            registry.add_protocol(ProtocolSpec(name="typo", model_options={"vanila": {"hidden": 8}}, **base))

    pl = load_plugins(extra=[Bad])
    with pytest.raises(UsageError, match=r"^protocol 'alias' of .* names loss 'r3gan' in its loss_options, an alias of "
                                         r"'rpgan-r1r2'"):
        make_runner(protocol="alias", loaded_plugins=pl, out=tmp_path / "a", device="cpu")
    with pytest.raises(UsageError, match=r"^protocol 'typo' of .* names model 'vanila' in its model_options: unknown "
                                         r"model 'vanila' \(did you mean 'vanilla'\?\)"):
        make_runner(protocol="typo", loaded_plugins=pl, out=tmp_path / "t", device="cpu")


STACKED = {"latent_dim": 100, "latent_dist": "uniform", "batch_size": 64, "optimizer": "adam", "lr_g": 2e-4,
           "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "g_steps": 2, "eval_samples": 26_000,
           "g_ema": 0.0, "schedule_images": 0}


@pytest.mark.parametrize("name, steps, tier_of", [("pacgan-stacked-mnist", 100_000, None),
                                                  ("pacgan-stacked-mnist-cpu", 2_000, "pacgan-stacked-mnist")])
def test_the_stacked_mnist_protocol_pins_pacgans_veegan_setting(tmp_path, plugins, name, steps, tier_of):
    """PacGAN's Table 2 as its code runs it: 128,000 stacks of full MNIST, the code's DCGAN, z 100-d U[-1, 1],
    Adam 2e-4 (β1 0.5), batch 64, two G updates per D update, 26,000 samples, 10 seeds ± standard error."""
    runner, prep = _prepared(tmp_path, name)
    suite = runner.suite
    assert (list(suite.datasets), list(suite.models), list(suite.losses), list(suite.seeds), list(suite.metrics)) == \
        (["stacked-mnist"], ["pacgan-dcgan"], ["nonsat"], list(range(10)), ["modes"])
    assert prep.settings == {**GLOBAL_DEFAULTS, **STACKED, "steps": steps, "sample_every": steps // 10}
    assert {runner.data_options["stacked-mnist"][k] for k in ("source", "size")} == {"mnist", 128_000}
    assert prep.model_options == {"pack": 1, "g_width": 64, "d_width": 64}
    spec = plugins.registry.get("protocol", name)
    assert (spec.interval, spec.budget, spec.tier_of) == ("se", 100_000, tier_of)
    # Table 2's rows of PacGAN's own runs (its results/Table2.png), PacDCGAN-k at batch 64k
    assert [(r.label, r.model, dict(r.model_options), dict(r.values), dict(r.settings)) for r in spec.results] == [
        ("DCGAN", "pacgan-dcgan", {"pack": 1}, {"modes": (78.9, 6.46), "mode_kl": (4.50, 0.127)}, {"batch_size": 64}),
        ("PacDCGAN2", "pacgan-dcgan", {"pack": 2}, {"modes": (1000.0, 0.0), "mode_kl": (0.06, 0.003)}, {"batch_size": 128}),
        ("PacDCGAN3", "pacgan-dcgan", {"pack": 3}, {"modes": (1000.0, 0.0), "mode_kl": (0.06, 0.003)}, {"batch_size": 192}),
        ("PacDCGAN4", "pacgan-dcgan", {"pack": 4}, {"modes": (1000.0, 0.0), "mode_kl": (0.07, 0.005)}, {"batch_size": 256})]


def test_pacgan_dcgan_is_the_codes_network(plugins):
    """The released code's DCGAN at 28 px, 3 channels: parameter counts from its layer list, TensorFlow's
    'SAME' padding (28 → 14 pads 1 before, 2 after) and its transposed convolution as the exact adjoint of
    that convolution, PacDCGAN-k packing consecutive samples along the channels."""
    from ganbench.conditioning import build_networks
    from ganbench_builtins.models.nets.pacgan import SameConv2d, SameConvTranspose2d, same_padding

    info = plugins.registry.get("dataset", "stacked-mnist").load(None, size=8, test_size=4).info  # from mnist5k
    G, D = build_networks(plugins.registry.get("model", "pacgan-dcgan"), info, 100, {"pack": 1})
    conv = lambda cin, cout: cin * cout * 25 + cout  # noqa: E731  a 5×5 layer with a bias
    g = (100 * 2048 + 2048) + 2 * 512 + conv(512, 256) + 2 * 256 + conv(256, 128) + 2 * 128 + conv(128, 64) \
        + 2 * 64 + conv(64, 3)
    d = conv(3, 64) + conv(64, 128) + 2 * 128 + conv(128, 256) + 2 * 256 + conv(256, 512) + 2 * 512 + 2048 + 1
    assert sum(p.numel() for p in G.parameters()) == g == 4_514_819
    assert sum(p.numel() for p in D.parameters()) == d == 4_310_401
    z = torch.rand(6, 100) * 2 - 1
    x = G(z)
    assert x.shape == (6, 3, 28, 28) and x.abs().max() <= 1 and D(x).shape == (6,)
    assert [same_padding(s, 5, 2) for s in (28, 14, 7, 4)] == [(14, 1, 2), (7, 1, 2), (4, 2, 2), (2, 1, 2)]
    from scipy import stats

    layers = [m for m in (*G.modules(), *D.modules()) if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    normal = torch.cat([m.weight.flatten() for m in layers if not isinstance(m, SameConv2d)])  # deconv, linear
    truncated = torch.cat([m.weight.flatten() for m in layers if isinstance(m, SameConv2d)])  # conv: cut at 2σ
    assert abs(normal.std().item() - 0.02) < 2e-4 and truncated.abs().max() <= 0.04
    assert truncated.std().item() == pytest.approx(0.02 * stats.truncnorm(-2, 2).std(), rel=0.01)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in layers)
    for size, small in ((28, 14), (7, 4), (4, 2)):  # <conv(y), x> = <y, deconv(x)> with shared weights, no bias
        c, t = SameConv2d(3, 5, 5, 2, size), SameConvTranspose2d(5, 3, 5, 2, size)
        with torch.no_grad():
            t.weight.copy_(c.weight)
            c.bias.zero_()
            t.bias.zero_()
        y, xs = torch.randn(2, 3, size, size, dtype=torch.float64), torch.randn(2, 5, small, small, dtype=torch.float64)
        c, t = c.double(), t.double()
        assert c(y).shape == xs.shape and t(xs).shape == y.shape
        torch.testing.assert_close((c(y) * xs).sum(), (y * t(xs)).sum())
    _, D2 = build_networks(plugins.registry.get("model", "pacgan-dcgan"), info, 100, {"pack": 2, "d_width": 8})
    batch = torch.randn(4, 3, 28, 28)
    D2.eval()  # BatchNorm by its running statistics: the same function of each pack however it is batched
    packs = torch.cat([batch[0::2], batch[1::2]], dim=1)  # pack i = samples 2i and 2i + 1, channels side by side
    torch.testing.assert_close(D2(batch), D2.logit(D2.net(packs).flatten(1)).view(-1))


def test_the_stacked_mnist_protocol_trains_on_mnist_in_its_real_layout(tmp_path):
    """A few steps of the protocol on tiny MNIST files in torchvision's layout (full MNIST cannot be
    downloaded here): the data set, the networks, two G updates a step and the 1,000-mode count run."""
    import pandas as pd
    from click.testing import CliRunner
    from datafiles import write_mnist

    from ganbench.cli import cli

    write_mnist(tmp_path / "data", n_train=40, n_test=20)
    res = CliRunner().invoke(cli, [
        "run", "--protocol", "pacgan-stacked-mnist-cpu", "--seeds", "0", "--steps", "2", "--set", "eval_samples=64",
        "--set", "sample_every=0", "--data-opt", "stacked-mnist.size=128", "--data-opt", "stacked-mnist.test_size=32",
        "--model-opt", "pacgan-dcgan.g_width=8", "--model-opt", "pacgan-dcgan.d_width=8",
        "--data-root", str(tmp_path / "data"), "--device", "cpu", "-q", "-o", str(tmp_path / "run")],
        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (row,) = pd.read_csv(tmp_path / "run" / "results.csv").query("model == 'pacgan-dcgan'").to_dict("records")
    assert row["status"] == "ok" and row["protocol"] == "pacgan-stacked-mnist-cpu"
    assert (row["hp_g_steps"], row["hp_latent_dist"], row["modes_total"]) == (2, "uniform", 1000)
    assert 1 <= row["modes"] <= 64 and row["modes_n"] == 64
