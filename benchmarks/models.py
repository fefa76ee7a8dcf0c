"""Benchmark: parameter counts and training speed of every registered model at its default size.

For each model, on the first of mnist5k (28 px), mnist5k at 32 px and ring8 that it supports (so
``vanilla`` runs on mnist5k, the 2-D mixtures' MLPs on ring8, biggan and stylegan2 at 32 px; the translation
models on edges2digits), it
builds G and D with the model's default options and recommended settings, as a cell would, and
times ``--steps`` real training steps of the non-saturating loss after ``--warmup`` steps, alone on
the machine (one model at a time, ``--threads`` torch threads). A step is one G update and the
model's ``n_critic`` D updates, so models with 5 D steps (sngan-proj) are slower per step by design.

    python benchmarks/models.py                  # every model, 100 timed steps each (about 2 minutes)
    python benchmarks/models.py --models cgan,acgan --steps 300
    python benchmarks/models.py --device cuda --image-size 32 --models biggan --model-opt biggan.ch=64

Prints a Markdown table; the README's figures come from it.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganbench.options import coerce_option, defaults, option_table
from ganbench.plugins import load_plugins
from ganbench.suite import resolve_settings
from ganbench.train import run_training, setup


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated (default: every registered model)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the development machine has 2 cores)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--image-size", type=int, choices=(28, 32), help="image models on mnist5k at this size only")
    ap.add_argument("--model-opt", action="append", default=[], metavar="NAME.KEY=VALUE",
                    help="a model option over its default (repeatable), e.g. biggan.ch=64")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    registry = load_plugins().registry
    names = args.models.split(",") if args.models else registry.names("model")
    loss = registry.get("loss", "nonsat")
    data = {"mnist5k": registry.get("dataset", "mnist5k").load(),
            "mnist5k at 32 px": registry.get("dataset", "mnist5k").load(image_size=32),
            "ring8": registry.get("dataset", "ring8").load()}
    if any(registry.get("model", n).task == "translation" for n in names):  # pix2pix, cyclegan: paired digits
        data["edges2digits"] = registry.get("dataset", "edges2digits").load()
    if args.image_size:
        data.pop("mnist5k at 32 px" if args.image_size == 28 else "mnist5k")
    chosen: dict[str, dict[str, str]] = {}
    for text in args.model_opt:
        key, _, value = text.partition("=")
        model, _, opt = key.partition(".")
        chosen.setdefault(model, {})[opt] = value
    print(f"| model | data | G params | D params | n_critic | batch | steps/s ({args.device}, {args.threads} threads) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in names:
        spec = registry.get("model", name)
        where, d = next((k, x) for k, x in data.items()
                        if spec.mismatch(x.info) is None and spec.supports(x.info) is None)
        settings, _ = resolve_settings({"sample_every": 0, "steps": args.warmup + args.steps}, loss.settings,
                                       spec.settings)
        torch.manual_seed(0)
        opts = {**defaults(spec.options), **{k: coerce_option(option_table(spec.options)[k], v, f"{name}.{k}")
                                             for k, v in chosen.get(name, {}).items()}}
        built = setup.networks(spec, d.info, settings, opts)
        G, D = built.G, built.D
        stamps: list[float] = []
        run_training(G, D, loss, d, settings, seed=0, device=device,
                     eval_noise=d.source[:1] if d.source is not None else torch.zeros(1, settings["latent_dim"]),
                     conditional=spec.condition is not None,
                     g_ema=built.G_ema, on_step=lambda rec, stamps=stamps: stamps.append(time.perf_counter()),
                     sync_every=1)  # stamps per step
        timed = stamps[args.warmup:]
        rate = (len(timed) - 1) / (timed[-1] - timed[0])
        shown = ", ".join(f"{k}={v}" for k, v in chosen.get(name, {}).items())
        print(f"| {name}{f' ({shown})' if shown else ''} | {where} | {count(G):,} | {count(D):,} | {settings['n_critic']} | "
              f"{settings['batch_size']} | {rate:.1f} |")


if __name__ == "__main__":
    main()
