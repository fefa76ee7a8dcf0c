"""Seeds and common random numbers.

One user seed fans out into independent streams, each derived from the seed and a tag. The streams
never depend on the loss, so for a given (dataset, model, seed) every loss starts from the same G/D
weights, sees the same data order, draws the same training noise (as long as it consumes it at the
same rate) and is evaluated on the same evaluation noise: comparisons across losses are paired.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a stream is made: derive_seed serves torch-free modules too
    import torch


def derive_seed(seed: int, *tags: str) -> int:
    """A 63-bit seed derived from ``seed`` and ``tags`` (stable across platforms and versions)."""
    digest = hashlib.sha256(":".join([str(seed), *tags]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, *tags: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for one stream. Noise is drawn on the CPU then moved, so CPU and GPU
    runs see the same numbers."""
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, *tags))


def seed_global(seed: int, *tags: str) -> None:
    """Seed torch's global RNG (used by module initialisers and dropout)."""
    import torch

    torch.manual_seed(derive_seed(seed, *tags))


#: the distributions of the latent vector z (setting ``latent_dist``)
LATENT_DISTS = ("normal", "uniform")


def latent(n: int, dim: int, stream: torch.Generator, dist: str = "normal") -> torch.Tensor:
    """``[n, dim]`` latent vectors from ``stream``: standard normal, or uniform on [-1, 1] (DCGAN's and
    PacGAN's stacked-MNIST generators)."""
    import torch

    if dist == "uniform":
        return torch.rand(n, dim, generator=stream) * 2 - 1
    if dist != "normal":
        raise ValueError(f"latent distribution must be one of {', '.join(LATENT_DISTS)}, not {dist!r}")
    return torch.randn(n, dim, generator=stream)


def eval_noise(seed: int, dataset: str, model: str, n: int, latent_dim: int, total: int = 0,
               dist: str = "normal") -> torch.Tensor:
    """The evaluation noise of a cell: ``max(n, total)`` latent vectors. Metrics with a fixed sample
    size (``total``) get extra vectors *after* the first ``n`` (``eval_samples``), so those — and
    every number computed from them — do not depend on which metrics run. The report rebuilds a
    generator's evaluation samples with the same call."""
    import torch

    stream = generator(seed, "eval", dataset, model)
    noise = latent(n, latent_dim, stream, dist)
    if total > n:
        noise = torch.cat([noise, latent(total - n, latent_dim, stream, dist)])
    return noise


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """``--deterministic``: torch's deterministic algorithms (an op without one raises, failing the
    cell with torch's message rather than giving run-to-run noise), cuDNN without autotuning, and the
    cuBLAS workspace setting deterministic GEMMs need (set before CUDA initialises cuBLAS). CPU
    training is already bit-reproducible, so on the CPU this changes nothing measurable. The
    previous settings are restored afterwards."""
    import torch

    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    cudnn = torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), cudnn.benchmark, cudnn.deterministic)
    torch.use_deterministic_algorithms(True)
    cudnn.benchmark, cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        cudnn.benchmark, cudnn.deterministic = before[1], before[2]
