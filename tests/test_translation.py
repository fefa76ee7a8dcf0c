"""Translation models (issue 21): the task seam (paired batches stay paired, unpaired domains are drawn
independently, a D that looks at the input gets it), CycleGAN's history pool (the code's rule, one pool
per domain, part of a checkpoint), Pix2Pix's and CycleGAN's networks (the U-Net's padding and skips, the
PatchGAN's receptive field, CycleGAN's packing of both directions and its cycle and identity terms against
a hand-written computation), and tiny real trainings of both that resume bit for bit."""

import copy

import numpy as np
import pytest
import torch

from ganbench.conditioning import build_networks
from ganbench.specs import Data, DataInfo
from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.train import run_training
from ganbench.train.task import HistoryPool, TranslationTask, generate

CPU = torch.device("cpu")


def _data(paired: bool, n: int = 24, size: int = 16) -> Data:
    """Domain A: random images in [-1, 1]; domain B: A negated (paired) or other random images."""
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, 1, size, size, generator=g) * 2 - 1
    b = -a if paired else torch.rand(n + 4, 1, size, size, generator=g) * 2 - 1
    info = DataInfo(name="toy-translation", modality="image", shape=(1, size, size), value_range=(-1.0, 1.0),
                    size=len(b), fingerprint=f"toy-{paired}", task="translation", paired=paired,
                    source_shape=(1, size, size), domains=("a", "b"))
    data = Data(info, b, source=a)
    assert Data.problem(data) is None
    return data


def _settings(**over):
    return {**GLOBAL_DEFAULTS, "steps": 6, "batch_size": 4, "sample_every": 0, **over}


def test_paired_batches_stay_paired_and_unpaired_domains_are_drawn_apart():
    data = _data(paired=True)
    task = TranslationTask(data, _settings(), seed=0, device=CPU, conditional=True)
    for _ in range(8):  # across an epoch boundary (24 pairs, batches of 4)
        b, a = task.real()
        assert torch.equal(b, -a) and torch.equal(task.z(), a) and torch.equal(task.fake_labels(), a)
    both = TranslationTask(_data(paired=False), _settings(), seed=0, device=CPU, conditional=False, both_ways=True)
    real, y = both.real()
    a = both.z()[:4]
    assert y is None and both.fake_labels() is None and real.shape[0] == 8
    assert torch.equal(both.z(), torch.cat([a, real[:4]])) and torch.equal(real[4:], a)  # cat(A, B) / cat(B, A)
    with pytest.raises(ValueError, match="pool_size=50: a D that looks at G's input"):
        TranslationTask(data, _settings(pool_size=50), seed=0, device=CPU, conditional=True)
    with pytest.raises(ValueError, match="one shape"):
        odd = _data(paired=False)
        info = DataInfo(**{**odd.info.__dict__, "source_shape": (3, 16, 16)})
        TranslationTask(Data(info, odd.x, source=odd.source.expand(-1, 3, -1, -1)), _settings(), 0, CPU, False,
                        both_ways=True)


def test_the_history_pool_follows_the_codes_rule_one_pool_per_domain():
    """While a pool fills, images go in and through; then each swaps with probability 1/2, the pooled
    image going out. Two parts (both ways) never mix. Its state restores the same draws."""
    pool = HistoryPool(3, 2, torch.Generator().manual_seed(1))
    first = torch.arange(4.0).view(4, 1)  # part B: 0, 1; part A: 2, 3
    assert torch.equal(pool(first), first)
    second = torch.tensor([[10.0], [11.0], [12.0], [13.0]])
    out = pool(second)  # part B holds 0, 1 and takes 10 (fills to 3), then 11 swaps or not
    assert out[0] == 10 and out[2] == 12 and out[1].item() in (0.0, 1.0, 10.0, 11.0) and out[3].item() in (2, 3, 12, 13)
    state = copy.deepcopy(pool.state_dict())
    third = torch.tensor([[20.0], [21.0], [22.0], [23.0]])
    a = pool(third)
    pool.load_state_dict(state, CPU)
    assert torch.equal(pool(third), a)
    swapped = 0
    for i in range(200):  # a full pool swaps about half the images
        out = pool(torch.full((4, 1), 100.0 + i))
        swapped += int((out != 100.0 + i).sum())
    assert 300 < swapped < 500
    assert torch.equal(HistoryPool(0, 1, torch.Generator())(first), first)


def test_unet_pads_to_a_power_of_two_and_patchgan_sees_its_receptive_field(plugins):
    from ganbench_builtins.models.nets.translation import PatchD, UNet, receptive_field

    unet = UNet(1, 3, 28, width=4).eval()
    a = torch.rand(2, 1, 28, 28) * 2 - 1
    out = unet(a)
    assert out.shape == (2, 3, 28, 28) and out.abs().max() <= 1
    assert sum(isinstance(m, torch.nn.Dropout) for m in unet.modules()) == 3  # the three CD blocks
    assert [receptive_field(k) for k in (1, 2, 3)] == [16, 34, 70]
    for layers in (1, 2):
        d = PatchD(1, width=4, layers=layers, norm="none")
        x = torch.zeros(1, 1, 64, 64, requires_grad=True)
        scores = d(x)
        scores[0, 0, scores.shape[2] // 2, scores.shape[3] // 2].backward()
        rows, cols = x.grad[0, 0].abs().sum(1).nonzero(), x.grad[0, 0].abs().sum(0).nonzero()
        assert int(rows.max() - rows.min() + 1) <= receptive_field(layers)
        assert int(cols.max() - cols.min() + 1) > receptive_field(layers) - 4  # the patch, less zero-weight taps


def test_cyclegan_packs_both_directions_and_its_terms_match_a_hand_computation(plugins):
    data = _data(paired=False)
    G, D = build_networks(plugins.registry.get("model", "cyclegan"), data.info, 0, {"width": 4, "blocks": 1})
    a, b = data.source[:3], data.x[:3]
    assert G.both_ways and torch.allclose(G.both(torch.cat([a, b])), torch.cat([G.g_ab(a), G.g_ba(b)]))
    assert torch.allclose(generate(G, a, CPU), G.eval().g_ab(a))  # evaluation translates A → B, whatever the batch
    G.train()
    assert torch.allclose(G.back(b), G.g_ba(b))
    assert D(torch.cat([b, a])).shape[0] == 6
    fake = G.both(torch.cat([a, b]))  # cat(fake_b, fake_a)
    target = torch.cat([b, a])
    cycle = ((G.g_ab(G.g_ba(b)) - b).abs().mean() + (G.g_ba(G.g_ab(a)) - a).abs().mean()) / 2
    identity = ((G.g_ab(b) - b).abs().mean() + (G.g_ba(a) - a).abs().mean()) / 2
    assert torch.allclose(G.reconstruction(None, fake, target), 10 * cycle + 0.5 * 10 * identity, rtol=1e-5)


@pytest.mark.parametrize("model, paired, loss", [("pix2pix", True, "nonsat"), ("cyclegan", False, "lsgan")])
def test_tiny_trainings_learn_and_resume_bit_for_bit(plugins, model, paired, loss):
    """Six real steps (the pool, dropout, the L1 or cycle term); the run resumed from its step-3 checkpoint
    ends with the same weights and history."""
    reg = plugins.registry
    data = _data(paired=paired)
    spec = reg.get("model", model)
    opts = {"width": 4, **({"blocks": 1} if model == "cyclegan" else {})}
    settings = _settings(**{k: v for k, v in spec.settings.items() if k != "batch_size"})

    def train(resume=None):
        G, D = build_networks(spec, data.info, 0, opts)
        saved = []
        result = run_training(G, D, reg.get("loss", loss), data, settings, seed=2, device=CPU,
                              eval_noise=data.source[:4], conditional=spec.condition is not None, resume=resume,
                              checkpoint_every=3, on_checkpoint=lambda s: saved.append(copy.deepcopy(s)))
        return result, G.state_dict(), saved

    result, weights, saved = train()
    assert result.status == "ok" and len(result.history) == 6
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in result.history)
    if model == "cyclegan":
        assert len(saved[0]["random"]["pool"]["images"]) == 2 and "batches_a" in saved[0]["random"]
    again, weights2, _ = train(resume=saved[0])
    assert again.history == result.history
    assert all(torch.equal(weights[k], weights2[k]) for k in weights)


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004's SSIM of two images in [0, 1], written out: an 11×11 Gaussian window (σ 1.5), local
    means, variances and covariance, C1 = 0.01², C2 = 0.03²; as torchmetrics computes it, the images
    reflect-padded by 5 px and the map averaged over every pixel."""
    from scipy.signal import correlate2d

    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()

    def f(a):
        return correlate2d(a, w, mode="valid")

    x, y = np.pad(x, 5, mode="reflect"), np.pad(y, 5, mode="reflect")
    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def test_pair_scores_match_their_definitions():
    from ganbench_builtins.metrics.translation import pair_scores

    rng = np.random.default_rng(0)
    target = rng.random((3, 1, 24, 24))
    fake = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1)
    got = pair_scores(torch.tensor(fake), torch.tensor(target))
    assert got["l1"] == pytest.approx(np.abs(fake - target).mean(), rel=1e-9)
    psnr = [10 * np.log10(1 / ((f - t) ** 2).mean()) for f, t in zip(fake, target, strict=True)]
    assert got["psnr"] == pytest.approx(np.mean(psnr), rel=1e-6)
    ssim = [_ssim_reference(f[0], t[0]) for f, t in zip(fake, target, strict=True)]
    assert got["ssim"] == pytest.approx(np.mean(ssim), rel=1e-9)
    assert pair_scores(torch.tensor(target), torch.tensor(target))["ssim"] == pytest.approx(1.0)


def test_baselines_are_references_and_a_model_that_does_not_beat_them_is_not_ranked(plugins):
    """The identity and mean-target rows translate the same held-out inputs (exact L1 against the pairs); in
    the summary a row that does not beat both on a rule column fails and is neither ranked nor marked, even
    when the column is not shown."""
    import pandas as pd

    from ganbench import references
    from ganbench.report import baseline_rule, summarize

    data = _data(paired=True)
    data = Data(data.info, data.x[:16], source=data.source[:16], x_test=data.x[16:], source_test=data.source[16:])
    x, where = references.samples(data, "identity", 100, seed=0)
    assert torch.equal(x, data.source_test) and "held-out inputs" in where
    mean, _ = references.samples(data, "mean-target", 100, seed=0)
    assert torch.allclose(mean[3], data.x.mean(0), atol=1e-6) and len(mean) == len(data.source_test)
    assert references.samples(_data(paired=True), "identity", 5, 0)[0].shape[0] == 5
    rows = []
    for loss, fid, l1 in (("good", 10.0, 0.1), ("bad", 12.0, 0.5)):
        rows += [{"dataset": "t", "model": "m", "loss": loss, "seed": s, "status": "ok", "fid": fid + s, "l1": l1,
                  "message": ""}
                 for s in range(3)]
    rows += [{"dataset": "t", "model": "reference", "loss": k, "seed": 0, "status": "ok", "reference": True, "message": "",
              "fid": f, "l1": v} for k, f, v in (("identity", 50.0, 0.4), ("mean-target", 60.0, 0.3))]
    rule = baseline_rule(plugins.registry)
    assert ("fid", False) in rule and ("l1", False) in rule and ("ssim", True) in rule
    summary = summarize(pd.DataFrame(rows), [("fid", False)], rule=rule).set_index("loss")
    assert not summary.at["good", "failing"] and summary.at["good", "fid_best"]
    assert summary.at["bad", "failing"] and not summary.at["bad", "fid_best"] and pd.isna(summary.at["bad", "fid_rank"])
    assert "l1 0.5 vs identity 0.4" in summary.at["bad", "note"] and "mean-target 0.3" in summary.at["bad", "note"]


def test_a_translation_grid_from_the_command_line(tmp_path):
    """`ganbench run` trains pix2pix and cyclegan on edges2digits and skips pix2pix on unpaired digits2thick
    with the reason; the baselines are reference rows scored on the same pairs; `ganbench
    samples` draws held-out inputs | translations | targets and refuses latent-space modes in one line."""
    import csv
    import json

    from click.testing import CliRunner

    from ganbench.cli import cli

    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["run", "-d", "edges2digits,digits2thick", "-m", "pix2pix,cyclegan", "-l", "lsgan",
                                   "--steps", "2", "--set", "batch_size=4", "--set", "eval_samples=40",
                                   "--metrics", "pairs,cycle", "--model-opt", "pix2pix.width=4",
                                   "--model-opt", "cyclegan.width=4", "--model-opt", "cyclegan.blocks=1", "-q",
                                   "-o", str(run)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = {(r["dataset"], r["model"]): r for r in csv.DictReader((run / "results.csv").open())}
    assert rows[("digits2thick", "pix2pix")]["message"] == "pix2pix trains on paired examples; digits2thick is unpaired"
    assert float(rows[("edges2digits", "pix2pix")]["l1"]) > 0 and rows[("edges2digits", "pix2pix")]["cycle_l1"] == ""
    assert float(rows[("digits2thick", "cyclegan")]["cycle_l1"]) > 0
    identity = json.loads((run / "references" / "edges2digits__reference__identity__s0.json").read_text())
    assert identity["l1"] > 0 and identity.get("cycle_l1") is None  # scored on the same pairs; no way back
    assert "fails its baselines" in res.output  # two steps do not beat the baselines: reported, not ranked
    shown = CliRunner().invoke(cli, ["samples", str(run), "--cell", "edges2digits__pix2pix*", "-n", "1"])
    assert shown.exit_code == 0 and "4 held-out inputs | translations | targets" in shown.output, shown.output
    refused = CliRunner().invoke(cli, ["samples", str(run), "--cell", "digits2thick__cyclegan*", "--mode", "interpolate"])
    assert refused.exit_code == 2 and "translates images" in refused.output
