"""Steps per second of ganbench's training loop (``run_training``) for one model on one data set, under
the loop's options: the host sync window (``--sync-every``: 1 is the loop of a host sync every step),
``--amp``, ``--compile``, ``--channels-last``, ``--cuda-graphs`` (the whole step captured and replayed). Each
configuration trains ``--steps`` timed steps after ``--warmup`` steps (rounded up to a whole window) of the same
run (compilation, CUDA-graph capture, cuDNN's algorithm search, the caches) and prints
one JSON line: the configuration, steps/s and the device. Usage (from the repository root)::

    python benchmarks/train_speed.py --device cuda --model vanilla --data ring8 --sync-every 1,32
    python benchmarks/train_speed.py --device cuda --model dcgan --data mnist5k --amp none,bf16 --compile none,default
    python benchmarks/train_speed.py --device cuda --model vanilla --data ring8 --cuda-graphs false,true
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

from ganbench.options import defaults
from ganbench.plugins import load_plugins
from ganbench.suite import resolve_settings
from ganbench.train import run_training, setup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", default="vanilla")
    ap.add_argument("--data", default="ring8")
    ap.add_argument("--loss", default="nonsat")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--sync-every", default="32", help="comma-separated windows")
    ap.add_argument("--amp", default="none", help="comma-separated: none, bf16")
    ap.add_argument("--compile", default="none", help="comma-separated: none, default, reduce-overhead, max-autotune")
    ap.add_argument("--channels-last", default="false", help="comma-separated: false, true")
    ap.add_argument("--cuda-graphs", default="false", help="comma-separated: false, true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    registry = load_plugins().registry
    spec, loss = registry.get("model", args.model), registry.get("loss", args.loss)
    data = registry.get("dataset", args.data).load()
    grid = itertools.product([int(k) for k in args.sync_every.split(",")], args.amp.split(","),
                             args.compile.split(","), [v == "true" for v in args.channels_last.split(",")],
                             [v == "true" for v in args.cuda_graphs.split(",")])
    for sync, amp, mode, last, graphs in grid:
        user = {"sample_every": 0, "batch_size": args.batch_size, "amp": amp, "compile": mode, "channels_last": last,
                "cuda_graphs": graphs}
        settings, _ = resolve_settings(user, loss.settings, spec.settings)
        torch.manual_seed(0)
        built = setup.networks(spec, data.info, settings, defaults(spec.options))
        # one run: the warm-up steps compile, capture (cuda_graphs) and fill the caches, then --steps are timed from
        # the arrival of the warm-up's last step's values (a window's end: they come to the host there) to the end
        warm = -(-args.warmup // sync) * sync
        stamps: dict[int, float] = {}

        def stamp(record, warm=warm, stamps=stamps):
            if record["step"] == warm:
                stamps[warm] = time.perf_counter()

        result = run_training(built.G, built.D, loss, data, {**settings, "steps": warm + args.steps}, seed=0,
                              device=device, eval_noise=torch.zeros(1, settings["latent_dim"]), g_ema=built.G_ema,
                              conditional=spec.condition is not None, sync_every=sync, on_step=stamp)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates = [args.steps / (time.perf_counter() - stamps[warm])] if warm in stamps else [float("nan")]
        print(json.dumps({"model": args.model, "data": args.data, "loss": args.loss, "batch": args.batch_size,
                          "sync_every": sync, "amp": amp, "compile": mode, "channels_last": last,
                          "cuda_graphs": graphs, "steps": args.steps,
                          "status": result.status, "steps_per_s": round(rates[-1], 1),
                          "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                          "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
