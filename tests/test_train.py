"""The train package's serial loop without a host sync per step: the numbers do not depend on how
often the recorded values come to the host (``sync_every``) nor on how far ahead the task draws its
batches, checkpoints taken inside a window of draws made ahead resume bit for bit, and divergence still
stops a cell at its exact step."""

import copy

import torch

from ganbench.specs import LossSpec
from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.testing import build, small_data
from ganbench.train import run_training

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
