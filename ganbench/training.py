"""The alternating D/G training loop.

One *step* is one generator update preceded by ``n_critic`` discriminator updates, each on a fresh
real batch and fresh noise. Per step the history records the D and G losses, the mean raw scores
D(real) and D(fake) of the last D update, and the gradient norms of D and G. Sample grids are drawn
from the fixed evaluation noise, so grids of different losses are directly comparable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.specs import Data, DataInfo, LossSpec

HISTORY_COLUMNS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")
GRID_SAMPLES = 64


def make_optimizer(params, settings: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    if settings["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(settings["beta1"], settings["beta2"]))


def grad_norm(module: nn.Module) -> torch.Tensor:
    """Global L2 norm of the gradients, as a 0-d tensor on the module's device (no host sync)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, device: torch.device, batch: int = 500) -> torch.Tensor:
    """G's samples for noise ``z`` (CPU), in eval mode (BatchNorm uses running statistics), on CPU."""
    was_training = G.training
    G.eval()
    try:
        return torch.cat([G(z[i : i + batch].to(device)).float().cpu() for i in range(0, len(z), batch)])
    finally:
        G.train(was_training)


def render_points(fake: torch.Tensor, real: torch.Tensor, size: int = 256) -> torch.Tensor:
    """A [3, size, size] picture of 2-D samples: real in blue, generated in orange, on the real extent."""
    lo = real.min(0).values
    hi = real.max(0).values
    pad = (hi - lo).clamp(min=1e-6) * 0.25
    lo, hi = lo - pad, hi + pad
    img = torch.ones(3, size, size)
    for pts, colour in ((real, (0.2, 0.4, 0.9)), (fake, (1.0, 0.5, 0.0))):
        p = ((pts[:, :2] - lo[:2]) / (hi[:2] - lo[:2]) * (size - 1)).round().long()
        keep = ((p >= 0) & (p < size)).all(1)
        p = p[keep]
        for c in range(3):
            img[c, size - 1 - p[:, 1], p[:, 0]] = colour[c]
    return img


def save_samples(samples: torch.Tensor, data: Data, path: Path) -> None:
    """A PNG of samples: an 8-wide grid (torchvision make_grid) for images, a scatter for 2-D vectors."""
    from torchvision.utils import make_grid, save_image

    info: DataInfo = data.info
    path.parent.mkdir(parents=True, exist_ok=True)
    if info.modality == "image":
        grid = make_grid(samples[:GRID_SAMPLES], nrow=8, normalize=True, value_range=info.value_range, padding=2)
        save_image(grid, path)
    elif info.shape == (2,):
        save_image(render_points(samples, data.x[:5000]), path)


@dataclass
class TrainResult:
    status: str  # "ok" or "diverged"
    steps_done: int
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    diverged_at: int | None = None
    message: str = ""

    @property
    def steps_per_s(self) -> float:
        return self.steps_done / self.wall_s if self.wall_s > 0 else float("nan")


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Index batches of a fresh permutation each epoch (the last incomplete batch is dropped)."""
    batch_size = min(batch_size, n)
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i : i + batch_size]


def train(
    G: nn.Module,
    D: nn.Module,
    loss: LossSpec,
    data: Data,
    settings: dict[str, Any],
    *,
    seed: int,
    device: torch.device,
    eval_noise: torch.Tensor,
    sample_dir: Path | None = None,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train G and D in place. Randomness comes only from the seed's named streams (see seeding)."""
    G.to(device).train()
    D.to(device).train()
    opt_g = make_optimizer(G.parameters(), settings, settings["lr_g"])
    opt_d = make_optimizer(D.parameters(), settings, settings["lr_d"])
    x_all = data.x.to(device)  # [N, *shape]
    batches = _batches(len(x_all), settings["batch_size"], seeding.generator(seed, "data", data.info.name))
    noise = seeding.generator(seed, "noise", data.info.name)
    bs, latent, steps = settings["batch_size"], settings["latent_dim"], settings["steps"]
    every = settings["sample_every"]
    grid_noise = eval_noise[:GRID_SAMPLES]

    def z_batch() -> torch.Tensor:
        return torch.randn(bs, latent, generator=noise).to(device)

    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        for _ in range(settings["n_critic"]):
            real = x_all[next(batches)]
            with torch.no_grad():
                fake = G(z_batch())
            d_real, d_fake = D(real).view(-1), D(fake).view(-1)
            d_loss = loss.d_loss(d_real, d_fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            gn_d = grad_norm(D)
            opt_d.step()
        g_loss = loss.g_loss(D(G(z_batch())).view(-1))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        gn_g = grad_norm(G)
        opt_g.step()
        # one device-to-host transfer per step for all recorded values
        values = torch.stack([
            d_loss.detach(), g_loss.detach(), d_real.detach().mean(), d_fake.detach().mean(),
            gn_d.to(d_loss.device), gn_g.to(d_loss.device),
        ]).float().tolist()
        rec = {"step": step, **dict(zip(HISTORY_COLUMNS[1:], values, strict=True))}
        history.append(rec)
        if on_step is not None:
            on_step(rec)
        bad = [k for k in ("d_loss", "g_loss", "d_real", "d_fake") if not math.isfinite(rec[k])]
        if bad:
            return TrainResult(
                "diverged", step, time.perf_counter() - start, history, step,
                f"non-finite {', '.join(bad)} at step {step}",
            )
        if sample_dir is not None and (step == steps or (every and step % every == 0)):
            save_samples(generate(G, grid_noise, device), data, sample_dir / f"step_{step:06d}.png")
    return TrainResult("ok", steps, time.perf_counter() - start, history)
