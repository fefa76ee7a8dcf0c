"""The training step on a CUDA GPU (skipped without one: ``pytest -m cuda`` in benchmarks/gpu_check.sh).
A step on CUDA matches the CPU's within tolerance; the host sync window changes no number there either;
bf16 autocast, torch.compile and inductor's CUDA graphs (compile=reduce-overhead) train and stay within
tolerance of float32 eager; the whole step captured as CUDA graphs (cuda_graphs) matches the uncaptured
step; replicas match each seed alone."""

import math

import pytest
import torch

from ganbench.suite import GLOBAL_DEFAULTS
from ganbench.testing import build, small_data
from ganbench.train import run_training

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)")]
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_cuda_math():
    """Comparisons with the CPU at 1e-3 need float32 math: cuDNN's convolutions default to TF32 (10-bit
    mantissa) on Ampere and later; deterministic cuDNN for the bit-for-bit tests. Restored afterwards."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic = saved


def _train(reg, model, kind, device, steps=5, sync_every=32, **over):
    data = small_data(reg, kind)
    G, D = build(reg, model, data)
    settings = {**GLOBAL_DEFAULTS, "steps": steps, "batch_size": 16, "latent_dim": 8, "sample_every": 0, **over}
    result = run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=0, device=torch.device(device),
                          eval_noise=torch.zeros(4, 8), sync_every=sync_every)
    assert result.status == "ok", result.message
    return result.history


@pytest.mark.parametrize("model, kind, over", [("vanilla", "vector", {}), ("dcgan", "image", {}),
                                               ("dcgan", "image", {"ada": "bgc", "ada_p": 0.5})])
def test_a_step_on_cuda_matches_the_cpu(plugins, model, kind, over):
    """(with ADA's pipeline too: its draws are made on the CPU, so CUDA sees the same augmentations)"""
    cpu, gpu = _train(plugins.registry, model, kind, "cpu", **over), _train(plugins.registry, model, kind, CUDA, **over)
    for a, b in zip(cpu, gpu, strict=True):
        assert b == pytest.approx(a, rel=1e-3, abs=1e-4)


def test_the_sync_window_changes_no_number_on_cuda(plugins):
    one = _train(plugins.registry, "dcgan", "image", CUDA, steps=12, sync_every=1)
    assert _train(plugins.registry, "dcgan", "image", CUDA, steps=12, sync_every=5) == one


@pytest.mark.parametrize("over", [{"amp": "bf16"}, {"compile": "default"}, {"compile": "reduce-overhead"},
                                  {"channels_last": True, "amp": "bf16"}])
def test_speed_options_train_on_cuda_within_tolerance(plugins, over):
    """Every step's record (after the optimisers' updates too, not only the first forward) within tolerance:
    1e-3 for compile (the same arithmetic, reordered), 5e-2 at the first step under bf16 (later steps only
    finite: bf16 trajectories part); reduce-overhead really replays inductor's CUDA graphs (none skipped)."""
    from torch._dynamo.utils import counters

    counters.clear()
    try:
        plain = _train(plugins.registry, "dcgan", "image", CUDA, steps=3)
        fast = _train(plugins.registry, "dcgan", "image", CUDA, steps=3, **over)
        if over.get("amp"):
            assert fast[0]["d_loss"] == pytest.approx(plain[0]["d_loss"], rel=5e-2)
            assert all(math.isfinite(v) for rec in fast for v in rec.values())
        else:
            for a, b in zip(plain, fast, strict=True):
                assert b == pytest.approx(a, rel=1e-3, abs=1e-4)
        if over.get("compile") == "reduce-overhead":
            assert not counters["inductor"]["cudagraph_skips"], dict(counters["inductor"])
    finally:
        torch._dynamo.reset()


def test_a_checkpoint_on_cuda_resumes_bit_for_bit(plugins):
    """Checkpoints loaded onto the GPU (the store maps them to the run's device) resume: the generator
    states go back to the CPU where torch wants them."""
    import copy

    reg = plugins.registry
    data = small_data(reg, "image")
    settings = {**GLOBAL_DEFAULTS, "steps": 8, "batch_size": 16, "latent_dim": 8, "sample_every": 0}
    saved, runs = [], []
    for resume in (None, "from 4"):
        G, D = build(reg, "dcgan", data)
        state = None if resume is None else _to_cuda(saved[0])
        result = run_training(G, D, reg.get("loss", "nonsat"), data, settings, seed=0, device=CUDA,
                              eval_noise=torch.zeros(4, 8), checkpoint_every=4, resume=state,
                              on_checkpoint=lambda s: saved.append(copy.deepcopy(s)))
        runs.append(result.history)
    assert runs[0] == runs[1]


def _to_cuda(value):
    """Every tensor of a checkpoint on the GPU, as ``torch.load(..., map_location="cuda")`` puts them."""
    if isinstance(value, torch.Tensor):
        return value.to(CUDA)
    if isinstance(value, dict):
        return {k: _to_cuda(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cuda(v) for v in value]
    return value


def test_replicas_on_cuda_match_each_seed_alone(plugins):
    """K = 3 replicas of dcgan (BatchNorm per replica) on CUDA: each replica's first steps are its seed's
    trained alone on CUDA, within the tolerance of grouped convolutions."""
    from ganbench.options import defaults
    from ganbench.train import setup
    from ganbench.train.replicas import Member, run_replicas

    reg = plugins.registry
    data = small_data(reg, "image")
    spec = reg.get("model", "dcgan")
    settings = {**GLOBAL_DEFAULTS, "steps": 5, "batch_size": 16, "latent_dim": 8, "sample_every": 0}

    def member(seed):
        b = setup.networks(spec, data.info, settings, defaults(spec.options), seed=seed, dataset=data.info.name,
                           model="dcgan")
        return Member(seed, b.G, b.D)

    results = run_replicas([member(s) for s in (0, 1, 2)], reg.get("loss", "nonsat"), data, settings, device=CUDA)
    for seed, result in zip((0, 1, 2), results, strict=True):
        m = member(seed)
        alone = run_training(m.G, m.D, reg.get("loss", "nonsat"), data, settings, seed=seed, device=CUDA,
                             eval_noise=torch.zeros(4, 8))
        assert result.status == "ok" and len(result.history) == 5
        for a, b in zip(result.history[:3], alone.history[:3], strict=True):
            assert a == pytest.approx(b, rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_a_compiled_replica_group_on_cuda_matches_the_eager_group(plugins, mode):
    """K = 3 replicas of PacGAN's MLPs (BatchNorm in G, maxout D) with their vmapped calls compiled
    (reduce-overhead: inductor's CUDA graphs replay the group's forward passes): each replica's history
    within tolerance of the eager group's, the running statistics too."""
    from ganbench.options import defaults
    from ganbench.train import setup
    from ganbench.train.replicas import Member, run_replicas

    reg = plugins.registry
    data = small_data(reg, "vector")
    spec = reg.get("model", "pacgan")
    options = {**defaults(spec.options), "g_hidden": 64, "d_hidden": 32}

    def group(compile_mode):
        settings = {**GLOBAL_DEFAULTS, "steps": 6, "batch_size": 16, "latent_dim": 2, "sample_every": 0,
                    "compile": compile_mode}
        members = []
        for seed in (0, 1, 2):
            b = setup.networks(spec, data.info, settings, options, seed=seed, dataset=data.info.name, model="pacgan")
            members.append(Member(seed, b.G, b.D))
        return run_replicas(members, reg.get("loss", "nonsat"), data, settings, device=CUDA), members

    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    try:
        (eager, m_eager), (fast, m_fast) = group("none"), group(mode)
        skips = dict(counters["inductor"])  # e.g. cudagraph_skips: graphs that fell back to plain launches
    finally:
        torch._dynamo.reset()
    if mode == "reduce-overhead":
        assert not skips.get("cudagraph_skips"), skips
    for a_run, b_run in zip(fast, eager, strict=True):
        assert a_run.status == "ok", a_run.message
        for a, b in zip(a_run.history, b_run.history, strict=True):
            assert a == pytest.approx(b, rel=1e-3, abs=1e-4)
    for a, b in zip(m_fast, m_eager, strict=True):
        for (name, x), (_, y) in zip(a.G.named_buffers(), b.G.named_buffers(), strict=True):
            torch.testing.assert_close(x.float(), y.float(), rtol=1e-3, atol=1e-4, msg=name)


@pytest.mark.parametrize("model, kind, loss, over", [
    ("vanilla", "vector", "nonsat-r1", {"n_critic": 2, "g_ema": 0.5, "g_ema_rampup": 0.05}),
    ("dcgan", "image", "nonsat", {"amp": "bf16"}),
    ("dcgan", "image", "nonsat", {}), ("dcgan", "image", "hinge", {"channels_last": True})])
def test_the_whole_step_as_cuda_graphs_matches_the_uncaptured_step(plugins, monkeypatch, model, kind, loss, over):
    """cuda_graphs: R1 as its own phase every 4 D updates, 2 D updates a step (two due patterns, two graphs),
    an EMA decay that ramps up; dcgan with BatchNorm's running statistics, with bf16 autocast too (its cache
    of cast weights off under capture). 14 steps (2 uncaptured runs of each pattern, then replays) within
    float32 rounding of the uncaptured step (whose optimisers are not capturable: the same update, rounded
    on the host)."""
    from ganbench.train import graphs

    captured = []
    capture = graphs.CudaBackend.capture
    monkeypatch.setattr(graphs.CudaBackend, "capture", lambda self, fn: captured.append(1) or capture(self, fn))
    reg = plugins.registry
    data = small_data(reg, kind)
    runs = []
    for on in (False, True):
        G, D = build(reg, model, data)
        ema = __import__("copy").deepcopy(G) if over.get("g_ema") else None
        settings = {**GLOBAL_DEFAULTS, "steps": 14, "batch_size": 16, "latent_dim": 8, "sample_every": 0, **over,
                    "cuda_graphs": on}
        opts = {"gamma": 1.0, "interval": 4, "phase": True} if loss == "nonsat-r1" else None
        result = run_training(G, D, reg.get("loss", loss), data, settings, seed=0, device=CUDA, loss_options=opts,
                              eval_noise=torch.zeros(4, 8), g_ema=ema)
        assert result.status == "ok", result.message
        runs.append((result.history, (ema or G).state_dict()))
    assert len(captured) == (2 if loss == "nonsat-r1" else 1)
    (plain, w_plain), (graphed, w_graphed) = runs
    rel = 1e-2 if over.get("amp") else 1e-4
    for a, b in zip(plain, graphed, strict=True):
        assert b == pytest.approx(a, rel=rel, abs=rel / 10)
    for k in w_plain:
        torch.testing.assert_close(w_graphed[k], w_plain[k], rtol=rel, atol=rel / 10)


def test_a_captured_step_equals_the_uncaptured_step_with_the_same_capturable_optimisers(plugins):
    """The CPU test of tests/test_train.py with torch.cuda.CUDAGraph: two due patterns (R1 every 4 D updates,
    2 a step), a ramped EMA, capturable Adam in both runs; 12 steps (2 uncaptured runs of each pattern on a
    side stream, a capture, replays) against the step called plainly."""
    import copy

    from ganbench.train import setup
    from ganbench.train.graphs import CudaBackend, GraphedStep
    from ganbench.train.step import Blame, step

    reg = plugins.registry
    data = small_data(reg, "vector")
    settings = {**GLOBAL_DEFAULTS, "steps": 12, "batch_size": 16, "latent_dim": 8, "sample_every": 0, "n_critic": 2,
                "g_ema": 0.5, "g_ema_rampup": 0.05, "cuda_graphs": True}
    runs = []
    for graphed in (False, True):
        G, D = build(reg, "vanilla", data)
        s = setup.state(G, D, reg.get("loss", "nonsat-r1"), data, settings, seed=1, device=CUDA,
                        loss_options={"gamma": 1.0, "interval": 4, "phase": True}, g_ema=copy.deepcopy(G))
        assert s.opt_d.param_groups[0]["capturable"]
        s.task.fetch_ahead(5, 2)
        blame = Blame()
        advance = GraphedStep(s, blame, step, CudaBackend(CUDA)) if graphed else (lambda t, s=s, b=blame: step(s, t, b))
        values = torch.stack([advance(t) for t in range(1, 13)]).cpu()
        runs.append((values, {k: v.cpu() for k, v in s.G_ema.state_dict().items()}))
    torch.testing.assert_close(runs[1][0], runs[0][0], rtol=1e-5, atol=1e-6)
    for k, v in runs[0][1].items():
        torch.testing.assert_close(runs[1][1][k], v, rtol=1e-5, atol=1e-6)
