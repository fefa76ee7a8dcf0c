"""The train package. The serial loop without a host sync per step: the numbers do not depend on how
often the recorded values come to the host (``sync_every``) nor on how far ahead the task draws its
batches, checkpoints taken inside a window of draws made ahead resume bit for bit, and divergence still
stops a cell at its exact step. Phases: a lazy regulariser is its own optimiser step with StyleGAN2's
rescale of the learning rate and betas, checked against a hand-written computation."""

import copy
import dataclasses
import math

import pytest
import torch

from ganbench import seeding
from ganbench.specs import LossSpec
from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.testing import build, small_data
from ganbench.train import BatchSampler, run_training

CPU = torch.device("cpu")


def _settings(**over):
    return {**GLOBAL_DEFAULTS, "steps": 20, "batch_size": 16, "latent_dim": 8, "sample_every": 0, **over}


def _train(reg, model, loss, data, settings, sync_every, resume=None, **kw):
    G, D = build(reg, model, data)
    ema = copy.deepcopy(G) if settings["g_ema"] > 0 else None
    saved, records = [], []
    spec = loss if isinstance(loss, LossSpec) else reg.get("loss", loss)
    result = run_training(G, D, spec, data, settings, seed=3, device=CPU, eval_noise=torch.zeros(4, 8),
                          conditional=reg.get("model", model).condition is not None, g_ema=ema, resume=resume,
                          on_checkpoint=lambda s: saved.append(copy.deepcopy(s)), on_step=records.append,
                          sync_every=sync_every, **kw)
    return result, (ema if ema is not None else G).state_dict(), saved, records


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_numbers_do_not_depend_on_the_sync_window_and_a_checkpoint_inside_it_resumes(plugins):
    """wgan-gp (5 critic updates: 6 noise and 5 data draws a step, the penalty's own stream), a conditional
    model with an EMA generator (the labels stream): a window of 7 steps against one step, checkpoints
    every 5 steps (inside the draws made ahead for 7), evaluation every 4; the run resumed from its
    step-10 checkpoint ends with the same history and weights."""
    reg = plugins.registry
    for model, loss, kind, over in (("vanilla", "wgan-gp", "vector", {}),
                                    ("cgan", "hinge", "vector", {"g_ema": 0.1, "n_critic": 2})):
        data = small_data(reg, kind)
        settings = _settings(eval_every=4, **over)
        evals = {1: [], 7: []}
        runs = {k: _train(reg, model, loss, data, settings, k, checkpoint_every=5, on_eval=evals[k].append)
                for k in (1, 7)}
        (one, w_one, saved_one, rec_one), (seven, w_seven, saved_seven, rec_seven) = runs[1], runs[7]
        assert one.status == seven.status == "ok" and one.history == seven.history == rec_one == rec_seven
        assert len(one.history) == 20 and _same_weights(w_one, w_seven), model
        assert evals[1] == evals[7] == [4, 8, 12, 16]
        assert [s["step"] for s in saved_seven] == [5, 10, 15]
        for a, b in zip(saved_one, saved_seven, strict=True):  # the streams as of the draws used, not fetched
            assert torch.equal(a["random"]["noise"], b["random"]["noise"])
            assert torch.equal(a["random"]["labels"], b["random"]["labels"])
            assert torch.equal(a["random"]["batches"]["generator"], b["random"]["batches"]["generator"])
            assert a["random"]["batches"]["pos"] == b["random"]["batches"]["pos"]
        resumed, w_resumed, _, rec_resumed = _train(reg, model, loss, data, settings, 7, resume=saved_seven[1],
                                                    checkpoint_every=5)
        assert resumed.history == one.history and [r["step"] for r in rec_resumed] == list(range(11, 21))
        assert _same_weights(w_resumed, w_one), model


def _nan_from(step: int, raise_at: int | None = None) -> LossSpec:
    """nonsat whose D loss is NaN from D update ``step`` on (one critic update per step), and which raises
    at ``raise_at``."""
    calls = [0]

    def d_loss(d_real, d_fake):
        calls[0] += 1
        if raise_at is not None and calls[0] == raise_at:
            raise RuntimeError("raised after the divergence")
        loss = torch.nn.functional.softplus(-d_real).mean() + torch.nn.functional.softplus(d_fake).mean()
        return loss * float("nan") if calls[0] >= step else loss

    return LossSpec("nan-later", d_loss, lambda d_fake: torch.nn.functional.softplus(-d_fake).mean())


def test_divergence_inside_a_window_stops_at_its_exact_step(plugins):
    """A NaN D loss at step 10 of a 32-step window: diverged at step 10, with the history and the
    ``on_step`` calls of steps 1–10 only, as with a sync every step; an exception at step 12 of the
    same window does not hide the divergence before it."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=40, n_critic=1)
    every_step = _train(reg, "vanilla", _nan_from(10), data, settings, 1)[0]
    for loss in (_nan_from(10), _nan_from(10, raise_at=12)):
        result, _, _, records = _train(reg, "vanilla", loss, data, settings, 32)
        assert (result.status, result.diverged_at, result.steps_done) == ("diverged", 10, 10)
        assert result.message == every_step.message and result.message.startswith("non-finite d_loss")
        assert result.message.endswith(" at step 10")
        assert [r["step"] for r in records] == list(range(1, 11))
        assert str(result.history) == str(every_step.history)  # NaN != NaN: compared as text


def test_the_finiteness_check_of_generated_batches_is_exact():
    """The step's finiteness check of generated batches against numpy's ``isfinite(x).all()``: NaN, ±inf,
    +inf beside -inf, the largest float32 and float64 values (whose sums overflow), and bf16 batches."""
    import numpy as np

    from ganbench.train.replicas import GroupState
    from ganbench.train.state import TrainState

    batches = [torch.randn(64, 2), torch.full((64, 784), torch.finfo(torch.float32).max),
               torch.full((8, 3), torch.finfo(torch.float64).min, dtype=torch.float64)]
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(16, 1, 4, 4)
        x[3, 0, 2, 1] = bad
        batches.append(x)
    batches.append(torch.tensor([[float("inf"), -float("inf")]]))
    batches += [torch.full((4, 4), 1e38).bfloat16(), torch.tensor([[1e38, float("nan")]]).bfloat16()]
    for x in batches:
        expected = bool(np.isfinite(x.double().numpy()).all())
        assert bool(TrainState.all_finite(x)) is expected
        stacked = torch.stack([x, torch.zeros_like(x)])  # a replica group's: one per replica
        assert GroupState.all_finite(stacked).tolist() == [expected, True]


def test_lazy_r1_is_its_own_phase_with_stylegan2s_rescale(plugins):
    """nonsat-r1 (γ 10, interval 4) for two steps, recomputed by hand: D's Adam at lr·0.8 and betas^0.8
    (c = 4/5); at D update 1 the main update on the real batch and fresh noise, then R1 alone on the
    same real batch (γ/2 · E‖∇D(x)‖² · 4) as a second optimiser step; at update 2 no R1; G's Adam as
    set. ``phase=false`` is the penalty inside D's loss at the plain learning rate, as before phases."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=2, n_critic=1, lr_d=2e-3, lr_g=1e-3, beta1=0.5, beta2=0.99)
    spec = reg.get("loss", "nonsat-r1")
    opts = {"gamma": 10.0, "interval": 4, "phase": True}
    G, D = build(reg, "vanilla", data)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    result = run_training(G, D, spec, data, settings, seed=3, device=CPU, eval_noise=torch.zeros(4, 8),
                          loss_options=opts)
    phased = D.state_dict()
    # by hand, from the seed's streams
    name, bs = data.info.name, settings["batch_size"]
    batches = BatchSampler(len(data.x), bs, seeding.generator(3, "data", name))
    noise = seeding.generator(3, "noise", name)
    c = 4 / 5
    opt_d = torch.optim.Adam(D0.parameters(), lr=2e-3 * c, betas=(0.5 ** c, 0.99 ** c))
    opt_g = torch.optim.Adam(G0.parameters(), lr=1e-3, betas=(0.5, 0.99))
    penalties = []
    for t in (1, 2):
        real = data.x[next(batches)]
        with torch.no_grad():
            fake = G0(torch.randn(bs, 8, generator=noise))
        d = torch.nn.functional.softplus(-D0(real).reshape(-1)).mean() + \
            torch.nn.functional.softplus(D0(fake).reshape(-1)).mean()
        opt_d.zero_grad()
        d.backward()
        opt_d.step()
        if t == 1:
            x = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(D0(x).sum(), x, create_graph=True)
            r1 = 10.0 / 2 * grad.pow(2).sum(1).mean() * 4
            opt_d.zero_grad()
            r1.backward()
            opt_d.step()
            penalties.append(r1.item())
        g = torch.nn.functional.softplus(-D0(G0(torch.randn(bs, 8, generator=noise))).reshape(-1)).mean()
        opt_g.zero_grad()
        g.backward()
        opt_g.step()
    for got, want in ((D, D0), (G, G0)):
        for a, b in zip(got.parameters(), want.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert result.history[0]["d_penalty"] == pytest.approx(penalties[0], rel=1e-5)
    assert result.history[1]["d_penalty"] == 0.0
    # phase=false: inside D's loss at the plain rate, which is the loss without a phase declared
    runs = []
    for loss, o in ((spec, {**opts, "phase": False}), (dataclasses.replace(spec, penalty_interval=None), opts)):
        G, D = build(reg, "vanilla", data)
        runs.append((run_training(G, D, loss, data, settings, seed=3, device=CPU, eval_noise=torch.zeros(4, 8),
                                  loss_options=o).history, D.state_dict()))
    assert runs[0][0] == runs[1][0] and _same_weights(runs[0][1], runs[1][1])
    assert not _same_weights(runs[0][1], phased)


def test_a_lazy_g_regulariser_is_its_own_phase_and_its_state_is_checkpointed(plugins):
    """A G with ``regularization_interval = 2``: ``regularization(z, step)`` runs at G steps 1, 3, 5 on a
    fresh batch of the noise stream, as its own optimiser step (G's Adam at lr·2/3, betas^(2/3)); a buffer
    it keeps (a running mean, as path-length regularisation's) is in the checkpoint, and a resumed run
    ends equal to the whole one."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=6, n_critic=1)

    def with_reg(G):
        G.register_buffer("reg_mean", torch.zeros(()))
        G.regularization_interval = 2
        seen = []

        def regularization(z, step):
            seen.append(step)
            value = G(z).pow(2).mean()
            G.reg_mean.copy_(0.5 * G.reg_mean + 0.5 * value.detach())
            return 0.1 * value

        G.regularization = regularization
        return G, seen

    def run(resume=None):
        G, D = build(reg, "vanilla", data)
        G, seen = with_reg(G)
        saved = []
        result = run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=1, device=CPU,
                              eval_noise=torch.zeros(4, 8), checkpoint_every=3, resume=resume,
                              on_checkpoint=lambda s: saved.append(copy.deepcopy(s)))
        return result, G, seen, saved

    whole, G, seen, saved = run()
    assert seen == [1, 3, 5] and whole.status == "ok"
    assert float(saved[0]["G"]["reg_mean"]) > 0
    group = saved[0]["opt_g"]["param_groups"][0]
    assert group["lr"] == pytest.approx(settings["lr_g"] * 2 / 3)
    assert group["betas"] == pytest.approx((settings["beta1"] ** (2 / 3), settings["beta2"] ** (2 / 3)))
    resumed, G2, seen2, _ = run(resume=saved[0])
    assert seen2 == [5] and resumed.history == whole.history and _same_weights(G.state_dict(), G2.state_dict())
    G3, _ = with_reg(build(reg, "vanilla", data)[0])  # its interval counts steps of one G update each
    with pytest.raises(ValueError, match="train it with g_steps 1"):
        run_training(G3, build(reg, "vanilla", data)[1], reg.get("loss", "nonsat"), data, {**settings, "g_steps": 2},
                     seed=1, device=CPU, eval_noise=torch.zeros(4, 8))


def test_a_regulariser_phase_that_turns_non_finite_stops_training_at_its_own_step(plugins):
    """G's regulariser phase (interval 2: steps 1, 3, 5) returns NaN at step 3: its optimiser step makes G
    non-finite, and the cell diverges at step 3, not at step 4 where G's samples would first show it."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    G, D = build(reg, "vanilla", data)
    G.regularization_interval = 2
    G.regularization = lambda z, step: G(z).pow(2).mean() * (float("nan") if step == 3 else 0.1)
    result = run_training(G, D, reg.get("loss", "nonsat"), data, _settings(steps=6, n_critic=1), seed=1, device=CPU,
                          eval_noise=torch.zeros(4, 8))
    assert (result.status, result.diverged_at, len(result.history)) == ("diverged", 3, 3)
    assert "grad_norm_g" in result.message and math.isfinite(result.history[-1]["g_loss"])


def _spied(reg, model, data, seen):
    """``model``'s networks with forward pre-hooks that record whether bf16 autocast is on in D's forward
    (``("autocast", bool)``) and whether D's inner convolutions (more than one input channel) get their
    input in channels-last memory format (``("channels_last", bool)``)."""
    G, D = build(reg, model, data)
    D.register_forward_pre_hook(lambda module, args: seen.append(("autocast", torch.is_autocast_enabled("cpu"))))
    for conv in D.modules():
        if isinstance(conv, torch.nn.Conv2d) and conv.in_channels > 1:
            conv.register_forward_pre_hook(lambda module, args: seen.append(
                ("channels_last", args[0].is_contiguous(memory_format=torch.channels_last)
                 and not args[0].is_contiguous())))
    return G, D


def test_amp_and_channels_last_reach_the_step_and_are_hashed(plugins):
    """``amp=bf16``: D's forward passes run under bf16 autocast and step 1's losses stay within bf16's
    precision of float32's; ``channels_last``: a conv D gets its batches in channels-last format and the
    numbers stay within float32 rounding. Both are settings in the configuration hash, left out at
    their defaults (cells trained before them keep their hash)."""
    from ganbench.suite import hashed_settings

    reg = plugins.registry
    data = small_data(reg, "image")
    runs = {}
    for name, over in (("plain", {}), ("amp", {"amp": "bf16"}), ("channels_last", {"channels_last": True})):
        seen = []
        G, D = _spied(reg, "dcgan", data, seen)
        result = run_training(G, D, reg.get("loss", "nonsat"), data, _settings(steps=3, **over), seed=0, device=CPU,
                              eval_noise=torch.zeros(4, 8))
        assert result.status == "ok"
        runs[name] = (result.history, seen)
    assert set(runs["plain"][1]) == {("autocast", False), ("channels_last", False)}
    assert set(runs["amp"][1]) == {("autocast", True), ("channels_last", False)}
    assert set(runs["channels_last"][1]) == {("autocast", False), ("channels_last", True)}
    plain, amp, last = (runs[k][0] for k in ("plain", "amp", "channels_last"))
    assert amp[0]["d_loss"] != plain[0]["d_loss"] and amp[0]["d_loss"] == pytest.approx(plain[0]["d_loss"], rel=3e-2)
    for a, b in zip(last, plain, strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    assert hashed_settings({"amp": "none", "compile": "none", "channels_last": False}) == {}
    assert hashed_settings({"amp": "bf16", "compile": "default", "channels_last": True}) == {
        "amp": "bf16", "compile": "default", "channels_last": True}


@pytest.fixture
def fresh_dynamo():
    """torch.compile's caches and counters empty before the test and again after it, however it ends."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compile_reaches_the_step_and_changes_numbers_only_within_tolerance(plugins, monkeypatch, fresh_dynamo):
    """``compile=max-autotune``: the step calls G and D through torch.compile with that mode; 3 steps of a
    tiny MLP within 1e-4 of eager's. torch.compile runs here with the ``aot_eager`` backend (the graphs
    traced and run through AOTAutograd, without inductor's C++ code generation, which costs 20 s on this
    CPU; the GPU check, benchmarks/gpu_check.sh, runs inductor)."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    modes = []
    real_compile = torch.compile

    def compile_(model, mode=None):
        modes.append(mode)
        return real_compile(model, backend="aot_eager")

    monkeypatch.setattr(torch, "compile", compile_)
    histories = []
    for mode in ("none", "max-autotune"):
        G, D = build(reg, "vanilla", data, hidden=16)
        result = run_training(G, D, reg.get("loss", "nonsat"), data, _settings(steps=3, compile=mode), seed=0,
                              device=CPU, eval_noise=torch.zeros(4, 8))
        assert result.status == "ok", result.message
        histories.append(result.history)
    assert modes == ["max-autotune", "max-autotune"]  # G and D
    for a, b in zip(*histories, strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    from torch._dynamo.utils import counters

    assert counters["stats"]["unique_graphs"] > 0  # something was traced


def _replica_nets(reg, model, data, seeds, settings, **options):
    from ganbench.options import defaults
    from ganbench.train import setup
    from ganbench.train.replicas import Member

    spec = reg.get("model", model)
    built = [setup.networks(spec, data.info, settings, {**defaults(spec.options), **options}, seed=s,
                            dataset=data.info.name, model=model) for s in seeds]
    return [Member(s, b.G, b.D, b.G_ema) for s, b in zip(seeds, built, strict=True)]


def _alone(reg, model, data, seed, settings, loss, **options):
    (m,) = _replica_nets(reg, model, data, [seed], settings, **options)
    conditional = reg.get("model", model).condition is not None
    result = run_training(m.G, m.D, reg.get("loss", loss), data, settings, seed=seed, device=CPU,
                          eval_noise=torch.zeros(4, 8), g_ema=m.G_ema, conditional=conditional,
                          eval_labels=torch.zeros(4, dtype=torch.long) if conditional else None)
    return m, result


@pytest.mark.parametrize("model, kind, options, n_critic, exact, loss, extra", [
    ("vanilla", "vector", {"hidden": 32}, 2, 20, "lsgan", {}),
    ("dcgan", "image", {}, 1, 10, "lsgan", {}),
    ("vanilla", "vector", {"hidden": 16}, 2, 12, "wgan", {}),  # clipping, per replica module
    ("vanilla", "vector", {"hidden": 16}, 1, 12, "wgan-gp", {"g_ema": 0.5}),  # a penalty in D's loss, EMA
    ("vanilla", "vector", {"hidden": 16}, 1, 12, "nonsat-r1", {}),  # a lazy penalty phase, lr·c and betas^c
    ("cgan", "vector", {}, 1, 12, "rpgan-r1r2", {}),  # labels per replica, a conditional D in R1 and R2
    ("acgan", "vector", {}, 1, 12, "nonsat", {"fake_labels": "real"}),  # each replica's class term, its own labels
    ("pacgan", "vector", {"pack": 2}, 1, 12, "minimax", {}),  # PacGAN's maxout D, BatchNorm1d (momentum 0.05), packs
    ("pacgan", "vector", {}, 1, 12, "label-smooth", {}),  # the boards' model with the losses they train
    ("pacgan", "vector", {}, 1, 12, "hinge", {}),
    ("pacgan", "vector", {}, 1, 12, "nonsat", {"updates": "simultaneous"}),  # PacGAN's code: both from one pass
    ("cgan", "vector", {}, 1, 12, "rpgan-r1r2", {"updates": "simultaneous"}),  # relativistic, R1 + R2, labels
    ("vanilla", "vector", {"hidden": 16}, 1, 12, "nonsat", {"g_steps": 2, "latent_dist": "uniform",
                                                            "schedule_images": 100, "lr_final_ratio": 0.5,
                                                            "beta2_start": 0.9}),  # R3GAN's schedules
])
def test_replicas_train_each_seed_as_it_trains_alone(plugins, model, kind, options, n_critic, exact, loss, extra):
    """K = 3 seeds as one vectorised program: each replica's history is its seed's trained alone within
    1e-5 (the MLP over 20 steps with two D updates a step; dcgan, with BatchNorm's running statistics per
    replica, over 10; clipping, a gradient penalty with its random interpolation from
    each replica's loss stream, lazy R1 as its own phase and the EMA generator per replica), and its weights end close to the
    lone seed's. Under vmap dcgan's convolutions run as grouped convolutions, summed in another order, and
    Adam amplifies that rounding: 3e-5 by step 19 with one D update a step, 1e-3 by step 8 with two
    (measured 2026-12-06); on the host of 2026-12-07, G's gradient norm 8.8e-5 apart at step 2 (Adam's first
    update is nearly sign(g): a gradient near 0 rounded to the other sign moves a weight by 2·lr) and 2e-2
    by step 12, and the default vanilla MLP's 2e-4 at step 15 of one seed in 20. The comparison is
    therefore in float64, where the group and the lone seeds agree to float32's last digit at every step:
    the test is of the replicas, not of a host's rounding."""
    small_data(plugins.registry, kind)  # loaded and cached in float32 first: later tests share the cached copy
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _replicas_as_alone(plugins, model, kind, options, n_critic, exact, loss, extra)
    finally:
        torch.set_default_dtype(dtype)


def _replicas_as_alone(plugins, model, kind, options, n_critic, exact, loss, extra):
    from ganbench.train.replicas import run_replicas

    reg = plugins.registry
    data = small_data(reg, kind)
    data = dataclasses.replace(data, x=data.x.double())
    settings = {**_settings(steps=20 if exact > 12 or model == "dcgan" else 12, n_critic=n_critic), **extra}
    seeds = [0, 4, 7]
    members = _replica_nets(reg, model, data, seeds, settings, **options)
    conditional = reg.get("model", model).condition is not None
    results = run_replicas(members, reg.get("loss", loss), data, settings, device=CPU, sync_every=8,
                           conditional=conditional)
    for k, seed in enumerate(seeds):
        m, alone = _alone(reg, model, data, seed, settings, loss, **options)
        assert results[k].status == "ok" and len(results[k].history) == settings["steps"]
        for a, b in zip(results[k].history[:exact], alone.history[:exact], strict=True):
            assert a == pytest.approx(b, rel=1e-5, abs=1e-6), (seed, a["step"])
        for net in ("G", "D", "G_ema") if m.G_ema is not None else ("G", "D"):
            for name, value in getattr(m, net).state_dict().items():
                torch.testing.assert_close(getattr(members[k], net).state_dict()[name], value, rtol=1e-3, atol=1e-4)


def test_a_diverged_replica_stops_alone_and_what_cannot_be_vectorised_says_why(plugins):
    from ganbench.train.replicas import NotVectorisable, run_replicas, why_not

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=6)
    members = _replica_nets(reg, "vanilla", data, [0, 1, 2], settings, hidden=16)
    with torch.no_grad():
        next(members[1].G.parameters()).fill_(float("nan"))  # replica 1 generates NaN from its first step
    results = run_replicas(members, reg.get("loss", "nonsat"), data, settings, device=CPU)
    assert [r.status for r in results] == ["ok", "diverged", "ok"]
    assert results[1].diverged_at == 1 and len(results[1].history) == 1
    # its time is the group's up to the sync that saw it (step 6), prorated to its 1 step: the group's steps/s
    assert 0 < results[1].wall_s <= results[0].wall_s / 6 and results[0].wall_s == results[2].wall_s
    assert results[1].message.startswith("non-finite generated samples") and results[1].message.endswith("at step 1")
    _, alone = _alone(reg, "vanilla", data, 2, settings, "nonsat", hidden=16)
    for a, b in zip(results[2].history, alone.history, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    members = _replica_nets(reg, "vanilla", data, [0, 1], {**settings, "amp": "bf16"}, hidden=16)
    with pytest.raises(NotVectorisable, match=r"^2 seeds cannot train as replicas: setting amp=bf16 is not vectorised"):
        run_replicas(members, reg.get("loss", "nonsat"), data, {**settings, "amp": "bf16"}, device=CPU)
    members = _replica_nets(reg, "vanilla", data, [0, 1], settings, hidden=16, norm="spectral")  # vmap cannot batch it
    with pytest.raises(NotVectorisable, match=r"its D uses spectral normalisation"):
        run_replicas(members, reg.get("loss", "nonsat"), data, settings, device=CPU)
    loss = reg.get("loss", "nonsat")
    G, D = members[0].G, members[0].D
    shared = torch.nn.Sequential(D)  # a G holding D's weights: alone one tensor, in a group two
    assert why_not(shared, loss, settings, False, D).startswith("its G and D share parameters")
    cumulative = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2, momentum=None))
    assert why_not(cumulative, loss, settings, False, D).startswith("its G uses BatchNorm with momentum=None")
    assert why_not(G, loss, settings, False, D) is not None  # spectral norm, as above
    # a translation data set, whatever the model: the group's task would feed G noise
    assert why_not(members[0].G, reg.get("loss", "nonsat"), settings, False, members[0].D, task="translation") == (
        "its data set is a translation task (a replica group feeds G noise, not a batch of inputs)")


def test_a_replica_group_compiles_its_vmapped_calls_within_tolerance(plugins, monkeypatch, fresh_dynamo):
    """``compile`` with replicas: the step calls the group's G and D through torch.compile of their vmapped
    calls (the ``aot_eager`` backend here, as above; a G with BatchNorm, whose running statistics are
    stacked buffers updated in place), each traced whole (no graph break: one graph per code object and
    grad mode); 4 steps of each replica within 1e-4 of the eager group's, and the running statistics end
    where the eager group's do."""
    from torch._dynamo.testing import CompileCounterWithBackend

    from ganbench.train.replicas import run_replicas

    reg = plugins.registry
    data = small_data(reg, "vector")
    modes, calls, real_compile = [], [], torch.compile
    counter = CompileCounterWithBackend("aot_eager")

    def compile_(fn, mode=None, dynamic=None):
        modes.append((mode, dynamic))
        compiled, which = real_compile(fn, backend=counter, dynamic=dynamic), "GD"[len(modes) - 1]

        def counted(*args):
            calls.append(which)
            return compiled(*args)
        return counted

    monkeypatch.setattr(torch, "compile", compile_)
    runs = {}
    for mode in ("none", "reduce-overhead"):
        settings = _settings(steps=4, compile=mode)
        members = _replica_nets(reg, "pacgan", data, [0, 3], settings, g_hidden=16, g_layers=2, d_hidden=8, d_layers=2)
        runs[mode] = (run_replicas(members, reg.get("loss", "nonsat"), data, settings, device=CPU), members)
    assert modes == [("reduce-overhead", False)] * 2  # G's and D's vmapped calls, static shapes
    # every forward pass of the step went through them: a step is G, D(real), D(fake) for D, then G, D(fake) for G
    assert (calls.count("G"), calls.count("D")) == (2 * 4, 3 * 4)
    # and dynamo traced them whole: G without and with grad, D on data and on G's output (with grad, then without)
    assert counter.frame_count == len(counter.graphs) and 2 <= counter.frame_count <= 4 and counter.op_count > 0
    from torch._dynamo.utils import counters

    assert not counters["graph_break"], dict(counters["graph_break"])
    for eager, compiled in zip(runs["none"][0], runs["reduce-overhead"][0], strict=True):
        assert compiled.status == "ok"
        for a, b in zip(compiled.history, eager.history, strict=True):
            assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
    for m_eager, m_compiled in zip(runs["none"][1], runs["reduce-overhead"][1], strict=True):
        buffers = dict(m_compiled.G.named_buffers())
        assert any(name.endswith("running_mean") for name in buffers)
        for name, value in m_eager.G.named_buffers():
            torch.testing.assert_close(buffers[name], value, rtol=1e-4, atol=1e-5)


def test_a_replica_group_resumes_from_its_checkpoint_bit_for_bit(plugins):
    """A group (one replica of it diverged at step 1, EMA on) checkpointed at step 5 and resumed in fresh
    modules ends with the histories and weights of the uninterrupted group, bit for bit on the CPU."""
    import copy as copy_

    from ganbench.train.replicas import run_replicas

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=12, g_ema=0.5)

    def group():
        members = _replica_nets(reg, "vanilla", data, [0, 1, 2], settings, hidden=16)
        with torch.no_grad():
            next(members[1].G.parameters()).fill_(float("nan"))
        return members

    saved = []
    whole = group()
    results = run_replicas(whole, reg.get("loss", "wgan-gp"), data, settings, device=CPU, sync_every=4,
                           checkpoint_every=5, on_checkpoint=lambda state: saved.append(copy_.deepcopy(state)))
    assert [c["step"] for c in saved] == [5, 10] and [r.status for r in results] == ["ok", "diverged", "ok"]
    again = group()
    resumed = run_replicas(again, reg.get("loss", "wgan-gp"), data, settings, device=CPU, sync_every=4,
                           resume=saved[0])
    for a, b, m, n in zip(results, resumed, whole, again, strict=True):
        assert (a.status, a.diverged_at, a.history) == (b.status, b.diverged_at, b.history)
        for net in ("G", "D", "G_ema"):
            for (name, x), y in zip(getattr(m, net).state_dict().items(), getattr(n, net).state_dict().values(),
                                    strict=True):
                assert torch.equal(x, y) or (x.isnan().all() and y.isnan().all()), (net, name)


def test_a_stream_drawn_ahead_checkpoints_the_draws_used_also_after_a_failed_draw():
    """Prefetched: two draws of a chunk of four are used and the third failed while fetching ahead;
    the stream's state is the one after the two used draws (not after the failed one), and the failure
    comes when training reaches it."""
    from ganbench.train.task import Prefetched

    gen = torch.Generator().manual_seed(5)
    calls = [0]

    def draw():
        calls[0] += 1
        value = torch.randn(3, generator=gen)
        if calls[0] == 3:
            raise RuntimeError("the third draw fails")
        return value

    ahead = Prefetched(draw, gen.get_state, gen.set_state, CPU)
    ahead.chunk = 4
    first, second = ahead.next(), ahead.next()
    expected = torch.Generator().manual_seed(5)
    assert torch.equal(first, torch.randn(3, generator=expected)) and torch.equal(second, torch.randn(3, generator=expected))
    assert torch.equal(ahead.stream_state(), expected.get_state())
    with pytest.raises(RuntimeError, match="the third draw fails"):
        ahead.next()


def test_g_steps_and_a_uniform_latent_reach_the_step(plugins):
    """``g_steps`` = 2: two G optimiser steps per step after the step's D updates (PacGAN's stacked-MNIST
    code); ``latent_dist`` = uniform: every z G sees is U[-1, 1] per coordinate, as is the evaluation noise."""
    from ganbench.train import setup

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=3, n_critic=2, g_steps=2, latent_dist="uniform")
    spec = reg.get("model", "vanilla")
    b = setup.networks(spec, data.info, settings, {"hidden": 16, "norm": "none"}, seed=0, dataset=data.info.name,
                       model="vanilla")
    seen = []
    b.G.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    states = []
    run_training(b.G, b.D, reg.get("loss", "nonsat"), data, settings, seed=0, device=CPU,
                 eval_noise=seeding.eval_noise(0, "d", "m", 64, 8, dist="uniform"),
                 on_checkpoint=lambda st: states.append(copy.deepcopy(st)), checkpoint_every=2)
    opt_g, opt_d = states[0]["opt_g"]["state"], states[0]["opt_d"]["state"]  # after step 2: 2 × 2 updates each
    assert {int(v["step"]) for v in opt_g.values()} == {4} and {int(v["step"]) for v in opt_d.values()} == {4}
    z = torch.cat(seen)
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.9 and z.max() > 0.9 and abs(float(z.mean())) < 0.1
    noise = seeding.eval_noise(0, "d", "m", 4000, 8, dist="uniform")
    assert noise.min() >= -1 and noise.max() <= 1 and float(noise.std()) == pytest.approx(1 / 3 ** 0.5, rel=0.02)


def test_r3gans_cosine_schedules_of_lr_and_beta2(plugins):
    """``schedule_images``: before step t the learning rates are lr·(r + (1 − r)·½(1 + cos(π·s/T))) and β2 is
    β2 + (β2₀ − β2)·½(1 + cos(π·s/T)), s = (t − 1)·batch images, held after T (R3GAN's training_loop.py);
    a lazy penalty phase's rescale (lr·c, betas ** c) applies on top of the schedule for D."""
    import math

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=7, schedule_images=64, lr_final_ratio=0.25, beta2_start=0.9, beta2=0.99, beta1=0.0,
                         lr_g=2e-4, lr_d=1e-4)
    _, _, states, _ = _train(reg, "vanilla", reg.get("loss", "nonsat-r1"), data, settings, 4,
                             loss_options={"interval": 4}, checkpoint_every=1)
    c = 4 / 5  # D's lazy R1 phase every 4 updates
    for st in states:
        t = st["step"]
        half = 0.5 * (1 + math.cos(math.pi * min((t - 1) * 16, 64) / 64))
        lr, beta2 = 0.25 + 0.75 * half, 0.99 + (0.9 - 0.99) * half
        (g,), (d,) = st["opt_g"]["param_groups"], st["opt_d"]["param_groups"]
        assert g["lr"] == pytest.approx(2e-4 * lr, rel=1e-12) and g["betas"][1] == pytest.approx(beta2, rel=1e-12)
        assert d["lr"] == pytest.approx(1e-4 * lr * c, rel=1e-12) and d["betas"] == pytest.approx((0.0, beta2 ** c))
    assert [st["step"] for st in states] == list(range(1, 7)) and states[-1]["opt_g"]["param_groups"][0]["lr"] == \
        pytest.approx(5e-5)  # steps 5 and 6 start after 64 images: held at the end values


class _ReplayByRunning:
    """A stand-in for CUDA graphs on the CPU with their semantics: capturing runs nothing and returns the
    graph's output tensor; each replay runs the captured function (its step number and static inputs as
    captured) and writes into that same tensor."""

    def __init__(self):
        self.captured, self.replays = 0, 0

    def eager(self, fn):
        return fn()

    def capture(self, fn):
        from ganbench.train.step import STEP_VALUES

        self.captured += 1
        out = torch.full((len(STEP_VALUES),), float("nan"))

        def replay():
            self.replays += 1
            out.copy_(fn())
        return replay, out


def test_a_graphed_step_replays_the_numbers_of_the_uncaptured_step(plugins):
    """cuda_graphs' capture and replay (ganbench.train.graphs) with a CPU stand-in for the graph: nonsat-r1
    as its own phase every 4 D updates with 2 D updates a step (two due patterns, one graph each), an EMA
    generator whose decay ramps up (a device scalar set before each replay): 12 steps equal the uncaptured
    step's bit for bit, values, weights and the seed's streams (the draws before each replay are the
    uncaptured step's, in its order, into the captured inputs; each step's values are copied out before
    the next replay). On CUDA the same runs against torch.cuda.CUDAGraph (tests/test_cuda.py)."""
    from ganbench.train import setup
    from ganbench.train.graphs import EAGER_RUNS, GraphedStep
    from ganbench.train.step import Blame, step

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=12, n_critic=2, g_ema=0.5, g_ema_rampup=0.05)
    runs = []
    for graphed in (False, True):
        G, D = build(reg, "vanilla", data)
        s = setup.state(G, D, reg.get("loss", "nonsat-r1"), data, settings, seed=1, device=CPU,
                        loss_options={"gamma": 1.0, "interval": 4, "phase": True}, g_ema=copy.deepcopy(G))
        s.task.fetch_ahead(5, 2)
        blame, backend = Blame(), _ReplayByRunning()
        advance = GraphedStep(s, blame, step, backend) if graphed else (lambda t, s=s, b=blame: step(s, t, b))
        values = [advance(t) for t in range(1, 13)]
        runs.append((torch.stack(values), s.G_ema.state_dict(), s.D.state_dict(), s.task.z(), backend))
    (plain, ema, d, z, _), (graphed, ema_g, d_g, z_g, backend) = runs
    assert backend.captured == 2 and backend.replays == 12 - 2 * EAGER_RUNS
    assert torch.equal(plain, graphed) and _same_weights(ema, ema_g) and _same_weights(d, d_g) and torch.equal(z, z_g)
    assert plain[:, 2].nonzero().flatten().tolist() == [0, 2, 4, 6, 8, 10]  # R1 recorded at its due steps


def test_what_a_graphed_step_cannot_hold_is_refused_in_one_line(plugins, tmp_path):
    from click.testing import CliRunner

    from ganbench.cli import cli
    from ganbench.train.graphs import refusal
    from ganbench.train.replicas import why_not

    reg = plugins.registry
    on = {**GLOBAL_DEFAULTS, "cuda_graphs": True}
    cuda = torch.device("cuda")
    assert refusal({**on, "cuda_graphs": False}, reg.get("loss", "wgan-gp"), None, CPU) is None
    assert refusal(on, reg.get("loss", "nonsat"), None, cuda) is None
    assert refusal(on, reg.get("loss", "nonsat-r1"), None, cuda) is None  # R1 as its own phase: one graph when due
    assert refusal(on, reg.get("loss", "nonsat"), None, CPU) == (
        "setting cuda_graphs captures the training step on a CUDA device; this run trains on cpu")
    assert refusal({**on, "compile": "reduce-overhead"}, reg.get("loss", "nonsat"), None, cuda).startswith(
        "settings cuda_graphs and compile both capture CUDA graphs: choose one")
    assert refusal({**on, "augment": "translation"}, reg.get("loss", "nonsat"), None, cuda).startswith(
        "setting cuda_graphs cannot capture a step with augment=translation: DiffAugment draws")
    assert "its penalty draws from the loss's CPU stream" in refusal(on, reg.get("loss", "wgan-gp"), None, cuda)
    assert "a function of the D update (step) and not its own phase" in refusal(on, reg.get("loss", "rpgan-r1r2"), None,
                                                                                 cuda)
    assert "a function of the D update" in refusal(on, reg.get("loss", "nonsat-r1"), {"phase": False}, cuda)
    G, _ = build(reg, "vanilla", small_data(reg, "vector"))
    assert why_not(G, reg.get("loss", "nonsat"), on, False).startswith("setting cuda_graphs captures one cell's step")
    res = CliRunner().invoke(cli, ["run", "--models", "vanilla", "--losses", "nonsat", "--datasets", "ring8",
                                   "--cuda-graphs", "--dry-run", "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1] == (
        "Error: setting cuda_graphs captures the training step on a CUDA device; this run trains on cpu")


def test_simultaneous_updates_take_both_gradients_at_the_weights_before_the_step(plugins):
    """``updates=simultaneous`` (ALI's ``ali_algorithm``, which PacGAN's 2-D code trains with): after one step,
    D's weights are one Adam step on ∂d_loss/∂θ_D and G's one on ∂g_loss/∂θ_G, both at the weights before the
    step and from one noise batch and one real batch — recomputed here by hand from the batches the step drew,
    with torch.autograd.grad and a fresh Adam. PacGAN's G runs its BatchNorm in training mode once per step
    (once per iteration, as the code's; alternating updates run it twice). Refused with n_critic 2."""
    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = _settings(steps=1, updates="simultaneous", beta1=0.8)
    G, D = build(reg, "pacgan", data, g_hidden=16, d_hidden=8)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    seen = {"z": [], "x": []}
    G.register_forward_pre_hook(lambda m, args: seen["z"].append(args[0].detach().clone()))
    D.register_forward_pre_hook(lambda m, args: seen["x"].append(args[0].detach().clone()))
    result = run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=3, device=CPU,
                          eval_noise=torch.zeros(4, 8))
    assert result.status == "ok"
    z, real = seen["z"][0], seen["x"][0]
    fake = G0(z)
    assert torch.equal(seen["x"][1], fake.detach()) and torch.equal(seen["x"][2], fake.detach())  # one G pass
    softplus = torch.nn.functional.softplus
    d_loss = softplus(-D0(real)).mean() + softplus(D0(fake.detach())).mean()
    g_loss = softplus(-D0(fake)).mean()
    pairs = [(list(net.parameters()), loss, lr) for net, loss, lr in ((D0, d_loss, settings["lr_d"]),
                                                                       (G0, g_loss, settings["lr_g"]))]
    grads = [torch.autograd.grad(loss, params, retain_graph=True) for params, loss, _ in pairs]  # both, then steps
    for (params, _, lr), grad in zip(pairs, grads, strict=True):
        opt = torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]))
        for p_, g_ in zip(params, grad, strict=True):
            p_.grad = g_
        opt.step()
    for trained, by_hand in ((G, G0), (D, D0)):
        for (name, a), b in zip(trained.state_dict().items(), by_hand.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bn and all(m.num_batches_tracked.item() == 1 for m in bn)
    assert result.history[0]["g_loss"] == pytest.approx(g_loss.item(), rel=1e-6)
    from ganbench.train.phases import simultaneous_refusal

    shared = torch.nn.Linear(2, 2)  # a layer of both networks: each optimiser would step the other's gradient
    assert "G and D share parameters" in simultaneous_refusal(
        {"updates": "simultaneous"}, None, torch.nn.Sequential(shared), torch.nn.Sequential(shared, torch.nn.Linear(2, 1)))
    with pytest.raises(ValueError, match="updates=simultaneous updates D and G once per step from one forward pass: "
                                         "n_critic must be 1"):
        run_training(G, D, reg.get("loss", "nonsat"), data, {**settings, "n_critic": 2}, seed=3, device=CPU,
                     eval_noise=torch.zeros(4, 8))
