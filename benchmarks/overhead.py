"""ganbench's training loop (``run_training``) against a minimal hand-written loop of the same networks,
batch, optimiser and loss (pytorch/examples ``dcgan/main.py`` style: a random batch, fresh noise, one D
and one G Adam step, nothing recorded), interleaved in one process so that both see the same machine.
Prints, per model, the median seconds per step of each over ``--reps`` alternating runs and their ratio
(ganbench / hand-written), and of the hand-written loop with D's weights frozen during G's update as
ganbench's step does (``requires_grad_(False)``, StyleGAN2-ADA's practice): against it the ratio is
ganbench's per-step work alone (records, gradient norms, finiteness, the loop). Usage:
``python benchmarks/overhead.py`` (alone on the machine)."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from ganbench import seeding
from ganbench.options import defaults
from ganbench.plugins import load_plugins
from ganbench.suite import resolve_settings
from ganbench.train import BatchSampler, run_training, setup


def hand_written(G, D, x, settings, steps: int, name: str, freeze_d: bool = False) -> None:
    """The loop of pytorch/examples' DCGAN, non-saturating loss on logits, doing ganbench's work per step:
    D's update on a generated batch made without gradients, G's on a fresh one (the examples reuse D's).
    Its batches and noise come from the cell's streams, as ganbench draws them, so that both loops follow
    the same trajectory (a CPU's speed can depend on the numbers, e.g. denormals): the ratio is overhead.
    ``freeze_d``: D's weights record no gradients during G's update, as in ganbench's step."""
    opt_d = torch.optim.Adam(D.parameters(), lr=settings["lr_d"], betas=(settings["beta1"], settings["beta2"]))
    opt_g = torch.optim.Adam(G.parameters(), lr=settings["lr_g"], betas=(settings["beta1"], settings["beta2"]))
    bs, latent = settings["batch_size"], settings["latent_dim"]
    batches = BatchSampler(len(x), bs, seeding.generator(0, "data", name))
    noise = seeding.generator(0, "noise", name)
    for _ in range(steps):
        real = x[next(batches)]
        with torch.no_grad():
            fake = G(torch.randn(bs, latent, generator=noise))
        d_loss = F.softplus(-D(real).reshape(-1)).mean() + F.softplus(D(fake).reshape(-1)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        if freeze_d:  # the plain loop does not walk D's parameters at all
            D.requires_grad_(False)
        fake = G(torch.randn(bs, latent, generator=noise))
        g_loss = F.softplus(-D(fake).reshape(-1)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if freeze_d:
            D.requires_grad_(True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_plugins().registry
    loss = registry.get("loss", "nonsat")
    print(f"| model | data | steps | hand-written s/step | ganbench s/step | ratio | hand-written, D frozen in G's "
          f"update | ratio to it |  ({args.threads} threads, median of {args.reps})")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model, name, steps in (("vanilla", "ring8", 600), ("vanilla", "mnist5k", 300), ("dcgan", "mnist5k", 100)):
        data = registry.get("dataset", name).load()
        spec = registry.get("model", model)
        settings, _ = resolve_settings({"sample_every": 0, "steps": steps}, loss.settings, spec.settings)
        times: dict[str, list[float]] = {"hand": [], "ganbench": [], "frozen": []}
        for _ in range(args.reps):
            for kind in times:
                built = setup.networks(spec, data.info, settings, defaults(spec.options), seed=0, dataset=name,
                                       model=model)
                t0 = time.perf_counter()
                if kind != "ganbench":
                    hand_written(built.G.train(), built.D.train(), data.x, settings, steps, data.info.name,
                                 freeze_d=kind == "frozen")
                else:
                    run_training(built.G, built.D, loss, data, settings, seed=0, device=torch.device("cpu"),
                                 eval_noise=torch.zeros(1, settings["latent_dim"]))
                times[kind].append((time.perf_counter() - t0) / steps)
        hand, ours, frozen = (statistics.median(times[k]) for k in ("hand", "ganbench", "frozen"))
        print(f"| {model} | {name} | {steps} | {hand * 1e3:.2f} ms | {ours * 1e3:.2f} ms | {ours / hand:.3f} | "
              f"{frozen * 1e3:.2f} ms | {ours / frozen:.3f} |", flush=True)


if __name__ == "__main__":
    main()
