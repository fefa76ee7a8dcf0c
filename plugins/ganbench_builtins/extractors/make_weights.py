"""Train the domain classifiers that ship with the package, into ``weights/`` beside this file:

    python -m ganbench_builtins.extractors.make_weights [--only NAME ...]

One per embedded labelled data set at its default options: ``mnist5k``, ``digits``, the
per-channel classifier of ``stacked-mnist`` (channels of its default training split) and the classifiers
of the translation sets' domain B (``edges2digits``: the digits; ``digits2thick``: the thickened digits). Each
``domain-<set>-<key>.pt`` (the cache's file name, so lookup is one rule) gets a ``.json`` beside it
with the command, seed, torch version, threads, held-out accuracy and the weights' sha256, which is
the extractor's id. Run it only when :data:`~ganbench_builtins.extractors.domain.CLASSIFIER_VERSION`
changes: new weights are a new instrument, and every FID made with the old ones keeps the old id.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import torch

from ganbench_builtins.extractors import domain

#: what ships: data set name -> options of its loader (the defaults)
SHIPPED_SETS = ("mnist5k", "digits", "stacked-mnist", "edges2digits", "digits2thick")
#: every shipped classifier is trained on one thread: bit-for-bit the same weights on a rerun here
THREADS = 1


def training_data(name: str):
    """What the classifier of data set ``name`` at its default options trains on, loaded exactly as
    a run loads it (so the file name's key is the one a run looks up)."""
    from ganbench import options, paths
    from ganbench.execution.cell import load_data
    from ganbench.plugins import load_plugins

    registry = load_plugins().registry
    defaults = options.resolve("dataset", name, registry.get("dataset", name).options, [])[0]
    data = load_data(registry, name, defaults, paths.data_root())
    return domain.channel_data(data) if domain.per_channel(data.info) else data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=SHIPPED_SETS, default=list(SHIPPED_SETS))
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    domain.SHIPPED_DIR.mkdir(exist_ok=True)
    for name in args.only:
        data = training_data(name)
        path = domain.shipped_path(data.info)
        for old in domain.SHIPPED_DIR.glob(f"domain-{path.name.split('-', 1)[1].rsplit('-', 1)[0]}-*"):
            old.unlink()
        start = time.time()
        net, meta = domain.train_domain_classifier(data, torch.device("cpu"))
        state = {k: v.cpu() for k, v in net.state_dict().items()}
        torch.save({"state_dict": state, "meta": meta}, path)
        record = {
            **meta,
            "data_set": name,
            "weights_file": path.name,
            "input_shape": list(data.info.shape),
            "num_classes": data.info.num_classes,
            "weights_sha256": domain.weights_hash(state),
            "extractor_id": f"domain:{domain.weights_hash(state)[:12]}",
            # per probe image (domain.probe_batch), the sum of its features: the instrument's checksum
            "probe_feature_sums": [round(float(v), 6) for v in
                                   net.features(domain.probe_batch(data.info.shape)).sum(1).tolist()],
            "preprocessing_version": domain.PREPROCESSING_VERSION,
            "command": "python -m ganbench_builtins.extractors.make_weights" + (
                f" --only {' '.join(args.only)}" if args.only != list(SHIPPED_SETS) else ""),
            "seed": 0,
            "seed_streams": ["domain-classifier", "domain-classifier-order"],
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "threads": THREADS,
            "train_seconds": round(time.time() - start, 1),
            "made": time.strftime("%Y-%m-%d"),
        }
        path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}: {path.name} accuracy {meta['accuracy']:.4f} id {record['extractor_id']} "
              f"({record['train_seconds']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
