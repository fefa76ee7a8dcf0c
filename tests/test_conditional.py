"""Conditional models (issue 20): labels in the contracts, the paired label streams, AC-GAN's loss
terms checked against an independent computation, the conditional metrics against independent
formulas and real labelled data, the EMA generator recomputed from saved weights, and the runner's
handling (skipped on unlabelled data, rows, saved networks)."""

from __future__ import annotations

import copy
import json
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import linalg

import ganbench
from ganbench import conditioning, seeding
from ganbench.errors import UsageError
from ganbench.evaluation import EvalContext
from ganbench.options import defaults
from ganbench.specs import Data, ModelSpec
from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.testing import build, small_data
from ganbench.train import BatchSampler, ema_beta, generate, run_training

CPU = torch.device("cpu")


def _settings(**kw):
    return {**GLOBAL_DEFAULTS, "steps": 3, "batch_size": 16, "latent_dim": 8, "sample_every": 0, **kw}


def test_a_conditional_model_declares_it_and_is_skipped_on_unlabelled_data(plugins, tmp_path):
    spec = plugins.registry.get("model", "cgan")
    assert spec.condition == "class"
    ring = small_data(plugins.registry, "vector")
    assert spec.mismatch(ring.info) is None
    from dataclasses import replace

    assert "unlabelled" in spec.mismatch(replace(ring.info, num_classes=0))
    # through the runner: a folder of images without class sub-folders is unlabelled
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    table = ganbench.run(models="cgan,vanilla", losses="nonsat", datasets=f"folder:{folder}", seeds="0",
                         metrics="", steps=2, settings={"batch_size": 4, "sample_every": 0},
                         data_options={"image-folder": {"image_size": 28}}, out=tmp_path / "run")
    rows = {r["model"]: r for r in table.to_dict("records")}
    assert rows["cgan"]["status"] == "skipped" and "conditioned on class labels" in rows["cgan"]["message"]
    assert rows["vanilla"]["status"] == "ok"


def test_generated_labels_come_from_their_own_streams_the_same_for_every_loss(plugins, monkeypatch):
    data = small_data(plugins.registry, "vector")
    probs = conditioning.class_probabilities(data)
    counts = torch.bincount(data.y, minlength=8).double()
    assert torch.allclose(probs, counts / counts.sum())
    assert torch.allclose(conditioning.class_probabilities(data, "uniform"), torch.full((8,), 1 / 8, dtype=torch.float64))
    a = conditioning.eval_labels(0, "ring8", "cgan", probs, 50, 200)
    assert torch.equal(a[:50], conditioning.eval_labels(0, "ring8", "cgan", probs, 50))  # the prefix rule
    assert not torch.equal(a, conditioning.eval_labels(1, "ring8", "cgan", probs, 50, 200))
    drawn: dict[str, list[torch.Tensor]] = {}
    real = conditioning.draw_labels
    for loss in ("nonsat", "lsgan", "wgan-gp"):
        drawn[loss] = []
        monkeypatch.setattr("ganbench.train.task.draw_labels",
                            lambda p, n, g, out=drawn[loss]: out.append(real(p, n, g)) or out[-1])
        G, D = build(plugins.registry, "cgan", data)
        run_training(G, D, plugins.registry.get("loss", loss), data, _settings(n_critic=1), seed=3, device=CPU,
                     eval_noise=torch.zeros(4, 8), conditional=True)
    assert all(torch.equal(x, y) for x, y in zip(drawn["nonsat"], drawn["lsgan"], strict=True))
    assert all(torch.equal(x, y) for x, y in zip(drawn["nonsat"], drawn["wgan-gp"], strict=True))


def _first_step(reg, model, loss, settings, **kw):
    """One training step of ``model`` on ring8 (seed 5) and what its first D update drew, recomputed from
    the seed's streams: the initial G and D, the real batch and its labels, the generated batch's labels
    and noise, and the label and noise streams after them."""
    data = small_data(reg, "vector")
    G, D = build(reg, model, data)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    result = run_training(G, D, reg.get("loss", loss), data, settings, seed=5, device=CPU,
                          eval_noise=torch.zeros(4, 8), conditional=True, **kw)
    name, bs = data.info.name, settings["batch_size"]
    index = next(BatchSampler(len(data.x), bs, seeding.generator(5, "data", name)))
    labels, noise = seeding.generator(5, "labels", name), seeding.generator(5, "noise", name)
    probs = conditioning.class_probabilities(data)
    y_fake = torch.multinomial(probs, bs, replacement=True, generator=labels)
    return types.SimpleNamespace(result=result, D=D, G0=G0, D0=D0, real=data.x[index], y_real=data.y[index],
                                 y_fake=y_fake, z=torch.randn(bs, 8, generator=noise), labels=labels,
                                 noise=noise, probs=probs)


def test_acgan_losses_are_the_adversarial_loss_plus_the_class_terms(plugins):
    """Step 1's recorded D and G losses recomputed independently: the same batch, labels and noise
    from the seed's streams, the initial networks, softplus + cross-entropy written out."""
    settings = _settings(steps=1, aux_weight=0.7)
    one = _first_step(plugins.registry, "acgan", "nonsat", settings)
    result, D, G0, D0, labels, noise, probs = one.result, one.D, one.G0, one.D0, one.labels, one.noise, one.probs
    real, y_real, y_fake, z, bs = one.real, one.y_real, one.y_fake, one.z, settings["batch_size"]
    with torch.no_grad():
        fake = G0(z, y_fake)
        (s_real, c_real), (s_fake, c_fake) = D0(real), D0(fake)
        d_loss = (F.softplus(-s_real).mean() + F.softplus(s_fake).mean()
                  + 0.7 * (F.cross_entropy(c_real, y_real) + F.cross_entropy(c_fake, y_fake)))
    assert result.history[0]["d_loss"] == pytest.approx(float(d_loss), rel=1e-6)
    assert c_real.shape == (bs, 8)
    # G's loss: after D's update, on fresh labels and noise
    D0.load_state_dict(D.state_dict())  # D after its step = D at G's step (nothing else changed it)
    y_g = torch.multinomial(probs, bs, replacement=True, generator=labels)
    with torch.no_grad():
        s_g, c_g = D0(G0(torch.randn(bs, 8, generator=noise), y_g))
        g_loss = F.softplus(-s_g).mean() + 0.7 * F.cross_entropy(c_g, y_g)
    assert result.history[0]["g_loss"] == pytest.approx(float(g_loss), rel=1e-6)


def test_a_d_returning_class_logits_needs_a_conditional_model():
    nets = conditioning.Networks(torch.nn.Identity(), lambda x: (x[:, 0], x), conditional=False)
    with pytest.raises(TypeError, match="needs class labels"):
        nets.d(torch.zeros(2, 3), None)


def _context(data, samples, labels, **kw):
    return EvalContext(data=data, device=CPU, n_samples=len(samples), sample=lambda n: samples[:n], labels=labels,
                       real_samples=len(data.x), **kw)


def test_conditional_accuracy_on_real_labelled_digits_and_on_a_generator_ignoring_labels(plugins, mnist):
    reg = plugins.registry
    metric = reg.get("metric", "cond-acc")
    # real held-out digits asked to be their own class: the classifier's held-out accuracy, exactly
    ctx = _context(mnist, mnist.x_test, mnist.y_test, registry=reg, extractor_name="domain")
    out = metric.compute(ctx)
    assert out["cond_acc"] == pytest.approx(out["cond_classifier_accuracy"], abs=1e-9)
    assert out["cond_acc"] > 0.9
    # the same digits asked to be classes drawn independently of them: the chance level Σ p²
    shuffled = mnist.y_test[torch.randperm(len(mnist.y_test), generator=torch.Generator().manual_seed(0))]
    out = metric.compute(_context(mnist, mnist.x_test, shuffled, registry=reg, extractor_name="domain"))
    assert out["cond_acc"] == pytest.approx(out["cond_acc_chance"], abs=0.04)
    assert out["cond_acc_chance"] == pytest.approx(0.1, abs=0.01)


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> float:
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    radius = np.sort(d_rr, axis=1)[:, k]  # index 0 is the point itself
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=2)
    return float((d_rf.min(axis=1) <= radius).mean())


def test_intra_fid_and_class_coverage_match_per_class_numpy_formulas(plugins):
    reg = plugins.registry
    data = reg.get("dataset", "ring8").load(size=800)
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 8, (400,), generator=gen)
    centres = torch.tensor(data.info.modes)
    fake = centres[labels] * 1.1 + 0.05 * torch.randn(400, 2, generator=gen)  # each class a little off
    ctx = _context(data, fake, labels, registry=reg, extractor_name="raw")
    intra = reg.get("metric", "intra-fid").compute(ctx)
    cover = reg.get("metric", "class-coverage").compute(ctx)
    real = ctx.real_features().numpy().astype(np.float64)
    real_y = ctx.real_labels().numpy()
    fids, covers = [], []
    for k in range(8):
        r, f = real[real_y == k], fake.numpy().astype(np.float64)[labels.numpy() == k]
        fids.append(_fid(r, f))
        n = min(len(r), len(f))
        covers.append(_coverage(r[:n], f[:n]))
    assert intra["intra_fid"] == pytest.approx(np.mean(fids), rel=1e-4)
    assert intra["intra_fid_max"] == pytest.approx(max(fids), rel=1e-4) and intra["intra_fid_classes"] == 8
    assert cover["class_coverage"] == pytest.approx(np.mean(covers), abs=1e-12)
    assert cover["class_coverage_min"] == pytest.approx(min(covers), abs=1e-12)
    # samples of the right classes score far better than the same samples under shuffled labels
    wrong = _context(data, fake, labels.roll(1), registry=reg, extractor_name="raw")
    assert reg.get("metric", "intra-fid").compute(wrong)["intra_fid"] > 10 * intra["intra_fid"]


def test_ema_generator_is_the_average_recomputed_from_the_saved_weights(plugins):
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=4, g_ema=0.05, g_ema_rampup=0.5)
    G, D = build(reg, "vanilla", data)
    ema = copy.deepcopy(G)
    expected = {k: v.clone() for k, v in G.state_dict().items()}
    states = []
    run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=0, device=CPU, eval_noise=torch.zeros(4, 8),
                 g_ema=ema, checkpoint_every=1, on_checkpoint=lambda s: states.append(copy.deepcopy(s["G"])))
    states.append(G.state_dict())  # the last step's G (no checkpoint after the last step)
    # half-life 50 images, at most half the images seen before the step: 0, 8, 16, 24 images (StyleGAN2-ADA)
    reference = [0.0, 0.5 ** (16 / 8), 0.5 ** (16 / 16), 0.5 ** (16 / 24)]
    for step, (weights, beta) in enumerate(zip(states, reference, strict=True), start=1):
        assert ema_beta(settings, step) == pytest.approx(beta, abs=1e-300)
        expected = {k: weights[k] * (1 - beta) + expected[k] * beta for k in expected}
    for k, v in ema.state_dict().items():
        assert torch.allclose(v, expected[k], atol=1e-6), k
    assert not torch.allclose(ema.state_dict()["net.0.weight"], G.state_dict()["net.0.weight"])
    # R3GAN's ema_scheduler: the half-life rises from 0 to g_ema along a half cosine over schedule_images
    r3 = {"batch_size": 16, "g_ema": 5.0, "g_ema_schedule": True, "schedule_images": 64}
    for step, seen in ((1, 0), (3, 32), (5, 64), (9, 128)):
        half_life = 5000 * (1 - np.cos(np.pi * min(seen, 64) / 64)) / 2
        assert ema_beta(r3, step) == pytest.approx(0.5 ** (16 / max(half_life, 1e-8)), abs=1e-300)
    assert ema_beta({**r3, "g_ema_schedule": False}, 1) == pytest.approx(0.5 ** (16 / 5000))


def test_r2_differentiates_d_with_the_labels_the_generated_batch_was_made_for(plugins):
    """RpGAN + R1 + R2 on a conditional model: step 1's recorded penalty recomputed independently — R1 at
    the real batch under its own labels, R2 at the generated batch under the labels it was generated for
    (R3GAN scores both with matching conditions), not the real batch's; with fake_labels=real, R3GAN's own
    pairing, the generated batch is of the real batch's classes (step 1's D loss recomputed)."""
    one = _first_step(plugins.registry, "cgan", "rpgan-r1r2", _settings(steps=1, n_critic=1),
                      loss_options={"gamma": 4.0})
    result, G0, D0, real, y_real, y_fake, z = one.result, one.G0, one.D0, one.real, one.y_real, one.y_fake, one.z
    assert not torch.equal(y_real, y_fake)
    with torch.no_grad():
        fake = G0(z, y_fake)

    def squared_grad_norms(x, y):
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(D0(x, y).sum(), x)
        return grad.pow(2).sum(1)

    want = 4.0 / 2 * (squared_grad_norms(real, y_real).mean() + squared_grad_norms(fake, y_fake).mean())
    wrong = 4.0 / 2 * (squared_grad_norms(real, y_real).mean() + squared_grad_norms(fake, y_real).mean())
    assert result.history[0]["d_penalty"] == pytest.approx(float(want), rel=1e-5)
    assert abs(float(want) - float(wrong)) > 1e-3 * float(want)  # the labels of R2 matter here
    # fake_labels=real: R3GAN's pairing — generated samples of the real batch's classes, pair i with pair i
    same = _first_step(plugins.registry, "cgan", "rpgan-r1r2", _settings(steps=1, n_critic=1, fake_labels="real"))
    with torch.no_grad():
        d_fake, d_real = same.D0(same.G0(same.z, same.y_real), same.y_real), same.D0(same.real, same.y_real)
    first = same.result.history[0]  # D's loss as recorded holds the penalty (checked above)
    assert first["d_loss"] - first["d_penalty"] == pytest.approx(float(F.softplus(d_fake - d_real).mean()), rel=1e-5)

def test_conditional_training_with_an_ema_resumes_bit_identically(plugins):
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=4, g_ema=0.1)

    def run(resume=None, stop=None):
        G, D = build(reg, "acgan", data)
        ema = copy.deepcopy(G)
        saved = []
        result = run_training(G, D, reg.get("loss", "hinge"), data, settings, seed=1, device=CPU,
                              eval_noise=torch.zeros(4, 8), conditional=True, g_ema=ema, resume=resume,
                              checkpoint_every=2, on_checkpoint=lambda s: saved.append(copy.deepcopy(s)))
        return result, ema, saved

    whole, ema_whole, saved = run()
    again, ema_again, _ = run(resume=saved[0])
    assert again.history == whole.history
    pairs = zip(ema_whole.state_dict().values(), ema_again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_conditional_cells_train_evaluate_and_save_their_networks(plugins, mnist, tmp_path):
    reg = plugins.registry
    table = ganbench.run(models="cgan,acgan,dcgan", losses="nonsat", datasets="mnist5k", seeds="0",
                         metrics="cond-acc,intra-fid,class-coverage,fid", steps=6,
                         settings={"batch_size": 16, "eval_samples": 1400, "sample_every": 0, "g_ema": 0.5},
                         model_options={"cgan": {"width": 8}, "acgan": {"width": 8}, "dcgan": {"width": 8}},
                         out=tmp_path / "run")
    rows = {r["model"]: r for r in table.to_dict("records")}
    for model in ("cgan", "acgan"):
        row = rows[model]
        assert row["status"] == "ok", row["message"]
        assert 0 <= row["cond_acc"] <= 1 and row["intra_fid"] > 0 and 0 <= row["class_coverage"] <= 1
        # ~140 samples per class: a class needs 129 (full-rank covariance of 128 domain features) or is counted out
        assert row["intra_fid_classes"] >= 5 and row["intra_fid_classes"] + row["intra_fid_left_out"] == 10
        assert row["hp_g_ema"] == 0.5
        cell = tmp_path / "run" / "cells" / row["cell_id"]
        spec = reg.get("model", model)
        G, _ = conditioning.build_networks(spec, mnist.info, 100, {**defaults(spec.options), "width": 8})
        G.load_state_dict(torch.load(cell / "generator.pt", weights_only=True))  # the EMA generator
        raw = torch.load(cell / "generator_raw.pt", weights_only=True)
        assert any(not torch.equal(raw[k], v) for k, v in G.state_dict().items())
        assert (cell / "discriminator.pt").is_file()
        assert json.loads((cell / "config.json").read_text())["settings"]["g_ema"] == 0.5
        out = generate(G, torch.zeros(10, 100), CPU, y=torch.arange(10))
        assert out.shape == (10, 1, 28, 28) and torch.isfinite(out).all()
    assert rows["dcgan"]["status"] == "ok" and rows["dcgan"]["message"] == ""  # no note about conditional metrics
    assert {"cond_acc", "intra_fid"} & {k for k, v in rows["dcgan"].items() if v == v and v is not None} == set()


def test_a_models_paper_loss_is_a_note_never_the_loss_trained(tmp_path):
    from ganbench_builtins.models.vanilla import SPEC as vanilla

    plugin = types.ModuleType("hinged_plugin")

    @ganbench.hookimpl
    def ganbench_register_models(registry):
        registry.add_model(ModelSpec(name="hinged", build=vanilla.build, loss="hinge"))

    plugin.ganbench_register_models = ganbench_register_models
    table = ganbench.run(models="hinged", losses="nonsat,hinge", datasets="ring8", seeds="0", metrics="", steps=2,
                         settings={"batch_size": 16, "sample_every": 0}, plugins=[plugin], out=tmp_path / "run")
    rows = {r["loss"]: r for r in table.to_dict("records")}
    assert rows["nonsat"]["status"] == "ok"
    assert "hinged's paper trains with the hinge loss; this cell trains nonsat" in rows["nonsat"]["message"]
    assert "paper trains" not in rows["hinge"]["message"]


def test_real_labels_align_with_the_real_features(plugins, mnist):
    ctx = EvalContext(data=mnist, device=CPU, n_samples=10, real_samples=300)
    from ganbench.evaluation import real_subset

    assert torch.equal(ctx.real_labels(), mnist.y[real_subset(mnist, 300)])
    assert torch.equal(ctx.real_labels(50), ctx.real_labels()[:50])
    with pytest.raises(UsageError, match="unlabelled"):
        EvalContext(data=Data(mnist.info, mnist.x[:5]), device=CPU, n_samples=2).real_labels()


def test_a_run_made_before_the_new_settings_existed_is_still_this_requests(tmp_path):
    """g_ema, fake_labels and aux_weight were added after the stored run was made: at their neutral
    values they change neither the configuration hash nor the comparison with stored cells."""
    import shutil
    from pathlib import Path

    from click.testing import CliRunner

    from ganbench.cli import cli

    run = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "data" / "runs" / "ring8-2026-12", run)
    res = CliRunner().invoke(cli, ["run", "--resume", str(run), "--dry-run"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "0 to train; 4 already done (kept)" in res.output


def test_the_shipped_classifier_cache_is_current(plugins, mnist):
    """tests/data/cache holds the classifiers ganbench trains for these data (conftest seeds the
    session's cache with them); when their key changes (CLASSIFIER_VERSION, the data), this fails:
    run python tests/data/cache/make.py."""
    from pathlib import Path

    from ganbench_builtins.extractors.domain import CLASSIFIER_EPOCHS, CLASSIFIER_VERSION, cache_path, channel_data

    shipped = Path(__file__).parent / "data" / "cache"
    stacked = plugins.registry.get("dataset", "stacked-mnist").load(root=None, size=1000, test_size=2000)
    for data in (channel_data(stacked),):  # mnist5k's ships with the package (tests/test_extractors.py)
        _, path = cache_path(data.info, shipped)
        assert path.is_file(), f"{path.name} missing: run python tests/data/cache/make.py"
        meta = torch.load(path, weights_only=True)["meta"]
        assert (meta["data_fingerprint"], meta["version"], meta["epochs"]) == (
            data.info.fingerprint, CLASSIFIER_VERSION, CLASSIFIER_EPOCHS)
