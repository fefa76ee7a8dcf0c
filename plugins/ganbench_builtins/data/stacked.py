"""``stacked-mnist``: 3-channel images whose channels are three independently drawn MNIST digits,
so the data has 10³ = 1000 modes (Metz et al. 2017, Unrolled GANs; Srivastava et al. 2017, VEEGAN).

The label is the mixed-radix code 100·d₀ + 10·d₁ + d₂ of the channels' digits
(``DataInfo.label_factors = (10, 10, 10)``), so mode counting can classify each channel separately.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganbench.specs import Data
from ganbench_builtins.data.common import image_data

SOURCES = ("mnist5k", "mnist")


def load_source(source: str, root: Path, download: bool) -> Data:
    """The MNIST source at its native 28 px, 1 channel."""
    if source == "mnist5k":
        from ganbench_builtins.data.embedded import load_mnist5k

        return load_mnist5k()
    from ganbench_builtins.data.torchvision_sets import load_mnist_like

    return load_mnist_like("mnist", root, download=download)


def stack(x: torch.Tensor, y: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked images from digits ``x`` ``[M, 1, H, W]`` in [-1, 1]: floats ``[n, 3, H, W]`` in
    [0, 1] and their codes ``[n]``."""
    idx = torch.randint(0, len(x), (3, n), generator=generator)  # one independent digit per channel
    images = torch.cat([x[idx[c]] for c in range(3)], dim=1)  # [n, 3, H, W]
    codes = 100 * y[idx[0]] + 10 * y[idx[1]] + y[idx[2]]
    return (images + 1) / 2, codes


def load_stacked(root: Path, source: str = "mnist5k", size: int = 50000, test_size: int = 10000, seed: int = 0,
                 image_size: int = 28, download: bool = True) -> Data:
    src = load_source(source, root, download)
    g = torch.Generator().manual_seed(seed)
    x, y = stack(src.x, src.y, size, g)
    x_test, y_test = stack(src.x_test, src.y_test, test_size, g) if src.x_test is not None else (None, None)
    opts = {"source": source, "source_fingerprint": src.info.fingerprint, "size": size, "test_size": test_size,
            "seed": seed, "image_size": image_size, "channels": 3}
    return image_data("stacked-mnist", x, y, x_test, y_test, options=opts, num_classes=1000,
                      class_names=[f"{c:03d}" for c in range(1000)], label_factors=(10, 10, 10))
