"""K seeds trained as replicas (one vectorised program, ``ganbench.train.replicas``) against the same
seeds trained one after another (``run_training``), on this machine: wall seconds and their ratio, for
vanilla on ring8 (the built-in MLP, batch 64) and for a benchmark-local MLP of PacGAN's sizes (Lin et
al. 2018: G 4×400 with BatchNorm, D 3×200, z ~ N(0, I₂), batch 100; LeakyReLU in D where PacGAN has
maxout), where the CPU is compute-bound and less is to be had. Usage: ``python benchmarks/replicas.py``
(alone on the machine; ``--ks 1,4,10 --steps 500``; ``--reps N``: N pairs per K, alternately in either order, the
medians and the median of the pairs' ratios)."""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from ganbench.options import defaults
from ganbench.plugins import load_plugins
from ganbench.suite import resolve_settings
from ganbench.train import run_training, setup
from ganbench.train.replicas import Member, run_replicas


def pacgan_nets(seed: int) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    g_layers: list[nn.Module] = []
    width = 2
    for _ in range(4):
        g_layers += [nn.Linear(width, 400), nn.BatchNorm1d(400), nn.ReLU()]
        width = 400
    G = nn.Sequential(*g_layers, nn.Linear(400, 2))
    D = nn.Sequential(nn.Linear(2, 200), nn.LeakyReLU(0.2), nn.Linear(200, 200), nn.LeakyReLU(0.2),
                      nn.Linear(200, 200), nn.LeakyReLU(0.2), nn.Linear(200, 1))
    return G, D


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,4,10")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--pacgan-steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=1, help="pairs per K, alternately in either order (the host's speed "
                    "drifts: a pair's two halves run back to back); the medians and the median of the pairs' ratios")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps is at least 1")
    torch.set_num_threads(args.threads)
    cpu = torch.device(args.device)
    registry = load_plugins().registry
    data = registry.get("dataset", "ring8").load()
    loss = registry.get("loss", "nonsat")
    spec = registry.get("model", "vanilla")
    vanilla, _ = resolve_settings({"sample_every": 0, "steps": args.steps}, loss.settings, spec.settings)
    pacgan = {**vanilla, "latent_dim": 2, "batch_size": 100, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8,
              "steps": args.pacgan_steps}

    def build(name: str, seed: int) -> tuple[nn.Module, nn.Module]:
        if name == "pacgan-size MLP":
            return pacgan_nets(seed)
        built = setup.networks(spec, data.info, vanilla, defaults(spec.options), seed=seed, dataset="ring8",
                               model="vanilla")
        return built.G, built.D

    def alone(name: str, settings: dict, seeds: list[int]) -> float:
        t0 = time.perf_counter()
        for seed in seeds:
            G, D = build(name, seed)
            run_training(G, D, loss, data, settings, seed=seed, device=cpu,
                         eval_noise=torch.zeros(1, settings["latent_dim"]))
        return time.perf_counter() - t0

    def together(name: str, settings: dict, seeds: list[int]) -> float:
        t0 = time.perf_counter()
        members = [Member(seed, *build(name, seed)) for seed in seeds]
        run_replicas(members, loss, data, settings, device=cpu)
        return time.perf_counter() - t0

    print(f"| model | steps | K | K seeds one after another (s) | K replicas (s) | ratio |  ({args.device}, "
          f"{args.threads} threads{f', medians of {args.reps} pairs' if args.reps > 1 else ''})")
    print("|---|---:|---:|---:|---:|---:|")
    for name, settings in (("vanilla", vanilla), ("pacgan-size MLP", pacgan)):
        for k in (int(v) for v in args.ks.split(",")):
            seeds = list(range(k))
            pairs = []
            for rep in range(args.reps):  # alternate which half runs first
                if rep % 2:
                    t_group = together(name, settings, seeds)
                    t_alone = alone(name, settings, seeds)
                else:
                    t_alone = alone(name, settings, seeds)
                    t_group = together(name, settings, seeds)
                pairs.append((t_alone, t_group))
            a = statistics.median(p[0] for p in pairs)
            g = statistics.median(p[1] for p in pairs)
            ratio = statistics.median(p[1] / p[0] for p in pairs)
            print(f"| {name} | {settings['steps']} | {k} | {a:.1f} | {g:.1f} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
