"""What every built-in data set shares: the fingerprint, the image pipeline (size, channels, range),
the mixture builder and image decoding. One place, so every image data set is sized and scaled alike."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganbench.specs import Data, DataInfo

#: ITU-R BT.601 luma weights, for RGB -> grey
LUMA = (0.299, 0.587, 0.114)
#: rows at a time through the resize, so a large set never needs two float copies at full size
CHUNK = 4096


def fingerprint(name: str, *arrays: torch.Tensor | None, **options: Any) -> str:
    """A stable hash of the data and the options that produced it (keys cached statistics)."""
    h = hashlib.sha256(name.encode())
    h.update(repr(sorted(options.items())).encode())
    for a in arrays:
        if a is not None:
            h.update(str(tuple(a.shape)).encode())
            h.update(a.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """``[N, C, H, W]`` floats -> ``[N, C, size, size]``: shorter side resized to ``size``
    (bilinear, antialiased), then the centre crop (torchvision's Resize + CenterCrop, the DCGAN recipe)."""
    from torchvision.transforms import functional as TF

    if tuple(x.shape[-2:]) == (size, size):
        return x
    return TF.center_crop(TF.resize(x, [size], antialias=True), [size, size])


def set_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, channels, H, W]``: grey is replicated to RGB, RGB reduced by luma."""
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if have == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def to_model_range(images: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """uint8 images ``[N, C, H, W]`` (or ``[N, H, W]``) in 0..255, or floats in [0, 1] -> float32
    ``[N, channels, image_size, image_size]`` in [-1, 1]."""
    if images.dim() == 3:
        images = images.unsqueeze(1)  # [N, 1, H, W]
    out = torch.empty(len(images), channels, image_size, image_size)
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    for i in range(0, len(images), CHUNK):
        x = images[i : i + CHUNK].float() / scale
        x = set_channels(resize_square(x, image_size), channels)
        out[i : i + CHUNK] = (x * 2 - 1).clamp_(-1, 1)
    return out


def image_data(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor | None,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    *,
    options: dict[str, Any],
    num_classes: int = 0,
    class_names: Sequence[str] = (),
    label_factors: tuple[int, ...] | None = None,
    described: dict[str, Any] | None = None,
) -> Data:
    """A :class:`Data` of images: ``x``/``x_test`` as in :func:`to_model_range`, resized to
    ``options["image_size"]`` with ``options["channels"]``; labels int64."""
    size, channels = options["image_size"], options["channels"]
    x = to_model_range(x, size, channels)
    x_test = to_model_range(x_test, size, channels) if x_test is not None else None
    y = y.long().contiguous() if y is not None else None
    y_test = y_test.long().contiguous() if y_test is not None else None
    info = DataInfo(
        name=name,
        modality="image",
        shape=(channels, size, size),
        value_range=(-1.0, 1.0),
        size=len(x),
        num_classes=num_classes,
        class_names=tuple(class_names),
        label_factors=label_factors,
        fingerprint=fingerprint(name, x, y, **options),
        options={**options, **(described or {})},  # described: shown, not hashed (where the files are)
    )
    return Data(info, x, y, x_test, y_test)


def translation_data(name: str, a: Data, b: Data, *, paired: bool, domains: tuple[str, str],
                     options: dict[str, Any]) -> Data:
    """A translation :class:`Data` from two image sets in the model range: ``b`` (the domain a model
    produces: ``x``, ``y``, ``info``) and ``a`` (the inputs: ``source``, ``source_y``), each with its
    held-out split; the fingerprint covers both domains."""
    info = replace(b.info, name=name, task="translation", paired=paired, source_shape=tuple(a.info.shape),
                   domains=domains, options=dict(options),
                   fingerprint=fingerprint(name, a.x, a.y, b.x, b.y, **options))
    return Data(info, b.x, b.y, b.x_test, b.y_test, a.x, a.y, a.x_test, a.y_test)


def mixture_data(name: str, centres: torch.Tensor, std: float, size: int, seed: int, options: dict[str, Any]) -> Data:
    """``size`` points from the equal-weight mixture of isotropic Gaussians at ``centres`` ``[K, d]``
    with ``std``; deterministic for ``seed``. Labels are the component indices."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(centres), (size,), generator=g)
    x = (centres[labels] + std * torch.randn(size, centres.shape[1], generator=g, dtype=centres.dtype)).float()
    return Data(
        DataInfo(
            name=name,
            modality="vector",
            shape=(centres.shape[1],),
            value_range=None,
            size=size,
            num_classes=len(centres),
            modes=tuple(tuple(float(v) for v in c) for c in centres.tolist()),
            mode_std=std,
            fingerprint=fingerprint(name, x, labels, **options),
            options=dict(options),
        ),
        x,
        labels,
    )


def decode_images(paths: Sequence[Path], size: int, channels: int = 3, workers: int = 4) -> torch.Tensor:
    """Image files -> uint8 ``[N, channels, size, size]``: short side resized to ``size`` (PIL,
    antialiased), centre crop. Decoded on a few threads (PIL releases the GIL); an unreadable file
    raises OSError naming it."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    from torchvision.transforms import functional as TF

    mode = "RGB" if channels == 3 else "L"

    def one(path: Path) -> torch.Tensor:
        try:
            with Image.open(path) as img:
                img = TF.center_crop(TF.resize(img.convert(mode), size), [size, size])
                return TF.pil_to_tensor(img)  # [C, size, size] uint8
        except (OSError, Image.DecompressionBombError) as exc:  # a bomb is no OSError: it would escape as a traceback
            raise OSError(f"cannot read image {path}: {exc}") from exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(one, paths))
    return torch.stack(images) if images else torch.empty(0, channels, size, size, dtype=torch.uint8)


def missing_files(folder: Path, names: Sequence[str]) -> list[str]:
    return [n for n in names if not (folder / n).exists()]
