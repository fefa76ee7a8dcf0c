"""``image-folder`` (``folder:PATH``): any folder of images, so users can benchmark on their own data
without writing a plugin. Images in first-level sub-folders are labelled by sub-folder (the
torchvision ImageFolder convention) when there are at least two of them."""

from __future__ import annotations

from pathlib import Path

import torch

from ganbench.errors import DataUnavailable
from ganbench.specs import Data
from ganbench_builtins.data.common import decode_images, image_data

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursively), in a stable order; hidden files and folders (``.`` first: macOS's
    ``._x.jpg``, ``.ipynb_checkpoints/``) are not images of the data set."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _scan(path: str) -> tuple[Path, list[Path], str | None]:
    """The folder, its images (one directory walk) and what is wrong, if anything."""
    if not path:
        return Path(), [], "needs a folder: use folder:PATH (or --data-opt image-folder.path=PATH)"
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return folder, [], f"{folder} is not a directory"
    files = image_files(folder)
    return folder, files, None if files else f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {folder}"


def missing(root=None, *, path: str = "", **options) -> str | None:
    return _scan(path)[2]


def load_folder(path: str = "", image_size: int = 64, channels: int = 3, limit: int = 0, seed: int = 0) -> Data:
    folder, files, problem = _scan(path)
    if problem:
        raise DataUnavailable(f"image-folder: {problem}")
    subset = bool(limit and limit < len(files))
    if subset:  # a fixed random subset: the first N sorted files would skew the classes
        keep = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
        files = [files[int(i)] for i in keep]
    tops = [f.relative_to(folder).parts for f in files]
    classes = sorted({parts[0] for parts in tops if len(parts) > 1})
    labelled = len(classes) >= 2 and all(len(parts) > 1 for parts in tops)
    y = torch.tensor([classes.index(parts[0]) for parts in tops]) if labelled else None
    try:
        x = decode_images(files, image_size, channels)
    except OSError as exc:
        raise DataUnavailable(f"image-folder: {exc}") from exc
    # the fingerprint is the content's (the pixels are hashed), not how the folder's path is spelled (~/faces,
    # ./faces, another machine's copy); a limit at or above the size, and the seed without a subset, change nothing
    opts = {"image_size": image_size, "channels": channels, "limit": limit if subset else 0,
            **({"seed": seed} if subset else {})}
    return image_data("image-folder", x, y, options=opts, num_classes=len(classes) if labelled else 0,
                      class_names=classes if labelled else (), described={"path": str(folder)})
