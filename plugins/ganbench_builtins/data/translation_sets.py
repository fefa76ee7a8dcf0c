"""The papers' translation data sets, read from (and downloaded into) the data root in the authors' layouts
(github.com/junyanz/pytorch-CycleGAN-and-pix2pix, ``datasets/download_pix2pix_dataset.sh`` and
``download_cyclegan_dataset.sh``):

- Pix2Pix (paired; Isola et al. 2017): ``<root>/<name>/{train,val,test}/*.jpg``, each file the two images
  of a pair side by side, A on the left and B on the right (``data/aligned_dataset.py``); the held-out
  split is facades' ``test`` (where the authors evaluate) and edges2shoes' ``val`` (it has no test).
  ``facades`` (photo | label map; the authors train it ``--direction BtoA``: labels → photo),
  ``edges2shoes`` (edges | shoe; ``AtoB``). Option ``direction`` says which half is the input; its
  default is the authors' for each set.
- CycleGAN (unpaired; Zhu et al. 2017): ``<root>/<name>/{trainA,trainB,testA,testB}/*.jpg``:
  ``horse2zebra``, ``apple2orange``.

Each image is resized (short side, antialiased) and centre-cropped to ``image_size`` (the papers: 256;
here 64 by default), RGB in [-1, 1]. The files are fetched with torchvision's download-and-extract when
missing (``download``); offline, the error says what is missing, where to put it and what works offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import DataUnavailable, one_line
from ganbench.specs import Data
from ganbench_builtins.data import OFFLINE_SETS
from ganbench_builtins.data.common import decode_images, image_data, translation_data

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"


@dataclass(frozen=True)
class Source:
    paired: bool
    url: str
    folders: tuple[str, ...]  # under <root>/<name>: train and held-out (paired); trainA, trainB, testA, testB
    domains: tuple[str, str]  # what A and B are, in the files' order (left, right / A, B)
    direction: str = "AtoB"  # the authors' direction for this set


SOURCES = {
    "facades": Source(True, PIX2PIX_URL, ("train", "test"), ("photos", "label maps"), "BtoA"),  # the authors test on test/
    "edges2shoes": Source(True, PIX2PIX_URL, ("train", "val"), ("edges", "shoes")),
    "horse2zebra": Source(False, CYCLEGAN_URL, ("trainA", "trainB", "testA", "testB"), ("horses", "zebras")),
    "apple2orange": Source(False, CYCLEGAN_URL, ("trainA", "trainB", "testA", "testB"), ("apples", "oranges")),
}
IMAGE_TYPES = (".jpg", ".jpeg", ".png")
#: what an error names as working offline: the generation sets and the embedded translation sets
OFFLINE = f"{', '.join(OFFLINE_SETS)}, edges2digits, digits2thick"


def _images(folder: Path, limit: int = 0) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES) if folder.is_dir() else []
    return files[:limit] if limit else files


def missing(name: str, root: Path, **options: Any) -> str | None:
    """``None`` when ``name``'s folders hold images under ``root``, else what is missing."""
    base = Path(root) / name
    gone = [f for f in SOURCES[name].folders if not _images(base / f)]
    if not gone:
        return None
    if len(gone) == len(SOURCES[name].folders):
        return f"not downloaded (downloads into {base} on first use)"
    return f"incomplete: {base} lacks images in {', '.join(gone)}"


def _fetch(name: str, root: Path, download: bool) -> None:
    """The set's files under ``root/name``, downloaded and extracted when missing and ``download``;
    else a :class:`DataUnavailable` saying what to do."""
    src = SOURCES[name]
    if missing(name, root) is None:
        return
    url = src.url.format(name=name)
    layout = ",".join(src.folders)
    if download:
        import tarfile
        import zipfile

        from torchvision.datasets.utils import download_and_extract_archive

        archive = Path(root) / Path(url).name
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            download_and_extract_archive(url, download_root=str(root), remove_finished=True)
        except (OSError, RuntimeError, ValueError, EOFError, tarfile.TarError, zipfile.BadZipFile) as exc:
            archive.unlink(missing_ok=True)  # a partial download would be taken as whole by the next try
            raise DataUnavailable(
                f"{name}: downloading {url} into {root} failed ({one_line(exc)}); extract it there by hand "
                f"({name}/{{{layout}}}), or use --data-root DIR where it is; data sets that work offline: "
                f"{OFFLINE}") from exc
        if missing(name, root) is None:
            return
    raise DataUnavailable(
        f"{name}: {missing(name, root)}{'' if download else ' and downloading is off'}; put the extracted "
        f"{url} there ({name}/{{{layout}}}), or use --data-root DIR where it is; data sets that work offline: "
        f"{OFFLINE}")


def _split_pairs(paths: list[Path], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``[N, 3, size, size]`` twice: the left and the right half of each side-by-side pair."""
    from PIL import Image
    from torchvision.transforms import functional as TF

    left, right = [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                w, h = img.size
                for half, out in ((img.crop((0, 0, w // 2, h)), left), (img.crop((w // 2, 0, w - w % 2, h)), right)):
                    out.append(TF.pil_to_tensor(TF.center_crop(TF.resize(half, size), [size, size])))
        except OSError as exc:
            raise OSError(f"cannot read image {path}: {exc}") from exc
    return torch.stack(left), torch.stack(right)


def load(name: str, root: Path, image_size: int = 64, direction: str = "auto", download: bool = True,
         limit: int = 0) -> Data:
    src = SOURCES[name]
    root = Path(root)
    _fetch(name, root, download)
    base = root / name
    opts: dict[str, Any] = {"image_size": image_size, "channels": 3, "limit": limit}
    if src.paired:
        direction = src.direction if direction == "auto" else direction
        opts["direction"] = direction
        (a, b), (a_t, b_t) = (_split_pairs(_images(base / f, limit), image_size) for f in src.folders)
        domains = src.domains
        if direction == "BtoA":
            a, b, a_t, b_t, domains = b, a, b_t, a_t, domains[::-1]
    else:
        a, b, a_t, b_t = (decode_images(_images(base / f, limit), image_size) for f in src.folders)
        domains = src.domains
    da = image_data(domains[0], a, None, a_t, None, options=opts)
    db = image_data(domains[1], b, None, b_t, None, options=opts)
    return translation_data(name, da, db, paired=src.paired, domains=tuple(domains), options=opts)
