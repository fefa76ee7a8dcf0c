"""Pictures of samples: image grids (torchvision ``make_grid``) and 2-D scatters, written as PNG
atomically. Training's sample grids and ``ganbench samples`` draw through here."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ganbench.errors import UsageError
from ganbench.specs import Data, DataInfo

GRID_SAMPLES = 64  # images in a training sample grid
TRANSLATION_SAMPLES = 16  # inputs in a translation grid (each beside its output and target or round trip)
SCATTER_SAMPLES = 1000  # points in a training 2-D scatter


def render_points(fake: torch.Tensor, real: torch.Tensor, size: int = 256) -> torch.Tensor:
    """A [3, size, size] picture of 2-D samples: real in blue, generated in orange, on the real extent."""
    lo = real.min(0).values
    hi = real.max(0).values
    pad = (hi - lo).clamp(min=1e-6) * 0.25
    lo, hi = lo - pad, hi + pad
    img = torch.ones(3, size, size)
    for pts, colour in ((real, (0.2, 0.4, 0.9)), (fake, (1.0, 0.5, 0.0))):
        p = ((pts[:, :2] - lo[:2]) / (hi[:2] - lo[:2]) * (size - 1)).round().long()
        keep = ((p >= 0) & (p < size)).all(1)
        p = p[keep]
        for c in range(3):
            img[c, size - 1 - p[:, 1], p[:, 0]] = colour[c]
    return img


def grid_picture(samples: torch.Tensor, info: DataInfo, nrow: int) -> torch.Tensor:
    """Images laid out ``nrow`` per row (torchvision make_grid), scaled from the data's range."""
    from torchvision.utils import make_grid

    if info.modality != "image":
        raise UsageError(f"ganbench samples draws image grids; {info.name} is {info.modality} data")
    return make_grid(samples, nrow=nrow, normalize=True, value_range=info.value_range, padding=2)


def save_picture(picture: torch.Tensor, path: Path) -> None:
    """A PNG written atomically."""
    from torchvision.utils import save_image

    from ganbench.store import atomic_write_bytes

    buf = io.BytesIO()
    save_image(picture, buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def translation_picture(columns: list[torch.Tensor], info: DataInfo, per_row: int = 4) -> torch.Tensor:
    """Translations side by side: ``columns`` (inputs, outputs, then targets or round trips, each ``[k, C, H, W]``)
    laid out as ``per_row`` groups per row, each group one input | its output | its target; grey images are
    shown in RGB beside colour ones."""
    from torchvision.utils import make_grid

    channels = max(c.shape[1] for c in columns)
    columns = [c.expand(-1, channels, -1, -1) if c.shape[1] == 1 else c for c in columns]
    k = len(columns[0])
    groups = torch.stack(columns, 1).reshape(k * len(columns), channels, *columns[0].shape[2:])
    return make_grid(groups, nrow=per_row * len(columns), normalize=True, value_range=info.value_range, padding=2)


def save_translations(columns: list[torch.Tensor], data: Data, path: Path) -> None:
    """A PNG (written atomically) of :func:`translation_picture`."""
    save_picture(translation_picture(columns, data.info), path)


def save_samples(samples: torch.Tensor, data: Data, path: Path) -> None:
    """A PNG of samples (written atomically): an 8-wide grid for images, a scatter for 2-D vectors;
    nothing for other data."""
    info = data.info
    if info.modality == "image":
        picture = grid_picture(samples[:GRID_SAMPLES], info, nrow=8)
    elif info.shape == (2,):
        picture = render_points(samples, data.x[:5000])
    else:
        return
    save_picture(picture, path)
