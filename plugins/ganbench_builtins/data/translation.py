"""The embedded translation data sets (offline, built from mnist5k's digits):

- ``edges2digits`` — paired, Pix2Pix's edges → photo set in miniature: domain A is each digit's edge map
  (the Sobel gradient magnitude of the digit in [0, 1], divided by its largest value, above 0.3 → 1,
  else 0), domain B the digit itself; the i-th edge map is the i-th digit's.
- ``digits2thick`` — unpaired, CycleGAN's setting: domain A is half of mnist5k's training digits as
  they are, domain B the other half with strokes thickened (a 3×3 maximum filter: one pixel of dilation
  at 28 px), so no digit appears on both sides; labels are kept on both for evaluating whether a
  translation keeps the digit (label preservation).

Both keep mnist5k's split (``test_size``, ``split_seed``) and take ``image_size`` (28/32/64)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ganbench.specs import Data
from ganbench_builtins.data.common import image_data, translation_data
from ganbench_builtins.data.embedded import load_mnist5k

#: the edge map's threshold, a fraction of each digit's largest gradient magnitude
EDGE_THRESHOLD = 0.3


def sobel_edges(x: torch.Tensor, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    """Binary edge maps (0/1 float) of images ``[N, 1, H, W]`` in [0, 1]: Sobel gradient magnitude (zero
    padding), divided by each image's largest, above ``threshold``."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    gx, gy = F.conv2d(x, kx, padding=1), F.conv2d(x, kx.transpose(2, 3), padding=1)
    mag = torch.sqrt(gx**2 + gy**2)
    peak = mag.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return (mag / peak > threshold).float()


def thicken(x: torch.Tensor) -> torch.Tensor:
    """Strokes one pixel thicker: a 3×3 maximum filter of images ``[N, 1, H, W]`` in [0, 1]."""
    return F.max_pool2d(x, 3, stride=1, padding=1)


@functools.lru_cache(maxsize=2)
def _digits01(test_size: int, split_seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mnist5k's train and held-out digits at 28 px in [0, 1] with their labels (mnist5k's split); kept for
    the next load (read-only: every use makes new tensors)."""
    d = load_mnist5k(test_size=test_size, split_seed=split_seed)
    return (d.x + 1) / 2, d.y, (d.x_test + 1) / 2, d.y_test


def _images(name: str, x, y, x_test, y_test, options) -> Data:
    return image_data(name, x, y, x_test, y_test, options={**options, "channels": 1}, num_classes=10,
                      class_names=[str(d) for d in range(10)])


def load_edges2digits(test_size: int = 1000, split_seed: int = 0, image_size: int = 28) -> Data:
    x, y, xt, yt = _digits01(test_size, split_seed)
    opts = {"test_size": test_size, "split_seed": split_seed, "image_size": image_size}
    a = _images("edges", sobel_edges(x), y, sobel_edges(xt), yt, opts)
    b = _images("digits", x, y, xt, yt, opts)
    return translation_data("edges2digits", a, b, paired=True, domains=("edges", "digits"), options=opts)


def load_digits2thick(test_size: int = 1000, split_seed: int = 0, image_size: int = 28) -> Data:
    x, y, xt, yt = _digits01(test_size, split_seed)
    h, ht = len(x) // 2, len(xt) // 2  # mnist5k's split is shuffled: each half holds every class
    opts = {"test_size": test_size, "split_seed": split_seed, "image_size": image_size}
    a = _images("thin", x[:h], y[:h], xt[:ht], yt[:ht], opts)
    b = _images("thick", thicken(x[h:]), y[h:], thicken(xt[ht:]), yt[ht:], opts)
    return translation_data("digits2thick", a, b, paired=False, domains=("thin digits", "thick digits"), options=opts)
