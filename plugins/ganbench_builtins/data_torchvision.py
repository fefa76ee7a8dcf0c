"""The real data sets, read (and downloaded) by torchvision: MNIST, Fashion-MNIST, CIFAR-10, CelebA.

Files live under the data root (``--data-root``) in torchvision's own layout, so a folder that
torchvision already filled works as it is. When the files are missing and cannot be downloaded the
error says what failed, which files to put where, and which data sets work offline: ganbench never
substitutes other data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import DataUnavailable, one_line
from ganbench.specs import Data
from ganbench_builtins.data_common import decode_images, image_data, missing_files
from ganbench_builtins.datasets import OFFLINE_SETS

CELEBA_FILES = ("list_eval_partition.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
                "list_landmarks_align_celeba.txt", "list_attr_celeba.txt")


@dataclass(frozen=True)
class Layout:
    """Where torchvision keeps a data set under the root, and where its files come from."""

    folder: str  # relative to the root
    files: tuple[str, ...]  # what must exist in ``folder`` for loading without network
    source: str  # where to get them by hand

    def missing(self, root: Path) -> list[str]:
        return missing_files(Path(root) / self.folder, self.files)


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
LAYOUTS = {
    "mnist": Layout("MNIST/raw", MNIST_FILES, "https://ossci-datasets.s3.amazonaws.com/mnist/ (the .gz files)"),
    "fashion-mnist": Layout("FashionMNIST/raw", MNIST_FILES,
                            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (the .gz files)"),
    "cifar10": Layout("cifar-10-batches-py",
                      (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
                      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract it there)"),
    "celeba": Layout("celeba", ("img_align_celeba", *CELEBA_FILES),
                     "the 'Align&Cropped Images' of https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
                     "(img_align_celeba/ with the .jpg files, plus the five list_*/identity_* .txt files)"),
}


def missing(name: str, root: Path, **options: Any) -> str | None:
    """``None`` when ``name``'s files are under ``root``, else which are missing."""
    layout = LAYOUTS[name]
    gone = _missing_or_packed(name, Path(root))
    if not gone:
        return None
    folder = Path(root) / layout.folder
    if len(gone) == len(layout.files):
        return f"not downloaded (downloads into {folder} on first use)"
    return f"incomplete: {folder} lacks {', '.join(gone)}"


def _missing_or_packed(name: str, root: Path) -> list[str]:
    """Missing files, not counting MNIST-style ``.gz`` files put there by hand (they are unpacked)."""
    layout = LAYOUTS[name]
    return [f for f in layout.missing(root) if not (root / layout.folder / f"{f}.gz").exists()]


def _unavailable(name: str, root: Path, option_prefix: str, download: bool, exc: BaseException | None) -> DataUnavailable:
    layout = LAYOUTS[name]
    folder = Path(root) / layout.folder
    gone = _missing_or_packed(name, Path(root))
    if not gone and exc is not None:
        what = f"its files in {folder} could not be read ({one_line(exc)})"
        fix = (f"if they are a copy you trust, set {option_prefix}.verify=false to skip torchvision's checksums, "
               f"or replace them with {layout.source}")
    else:
        if download:
            what = f"downloading it into {folder} failed ({one_line(exc) if exc else 'no error given'})"
        else:
            what = f"its files are not in {folder} and downloading is off ({option_prefix}.download=false)"
        fix = f"put {', '.join(gone or layout.files)} there by hand from {layout.source}"
    return DataUnavailable(
        f"{name}: {what}; {fix}, or use --data-root DIR where they are; "
        f"data sets that work offline: {', '.join(OFFLINE_SETS)}"
    )


def _open(name: str, root: Path, download: bool, make: Callable[[], Any]) -> Any:
    """``make()`` (a torchvision data set), with files that are missing while downloading is off, or
    any failure to find or fetch them, turned into a :class:`DataUnavailable` that says what to do."""
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        return make()
    except (RuntimeError, OSError, ValueError) as exc:  # torchvision's "not found", URLError, bad files
        raise _unavailable(name, root, name, download, exc) from exc


# -- MNIST and Fashion-MNIST: idx files -----------------------------------------------------------------------
def load_mnist_like(name: str, root: Path, *, download: bool = True, limit: int = 0, image_size: int = 28,
                    channels: int = 1) -> Data:
    from torchvision import datasets
    from torchvision.datasets.utils import extract_archive

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    folder = Path(root) / LAYOUTS[name].folder
    for f in LAYOUTS[name].files:  # .gz files put there by hand: unpack them (torchvision only does on download)
        if not (folder / f).exists() and (folder / f"{f}.gz").exists():
            extract_archive(str(folder / f"{f}.gz"), str(folder))
    train = _open(name, root, download, lambda: cls(str(root), train=True, download=download))
    test = _open(name, root, download, lambda: cls(str(root), train=False, download=False))
    x, y = _limit(train.data, train.targets, limit)  # uint8 [N, 28, 28], int64 [N]
    opts = {"download": download, "limit": limit, "image_size": image_size, "channels": channels}
    return image_data(name, x, y, test.data, test.targets, options=_identity(opts), num_classes=10,
                      class_names=list(train.classes))


# -- CIFAR-10: pickled batches --------------------------------------------------------------------------------
def load_cifar10(root: Path, *, download: bool = True, verify: bool = True, limit: int = 0, image_size: int = 32,
                 channels: int = 3) -> Data:
    from torchvision import datasets

    cls = datasets.CIFAR10 if verify else _cifar10_unverified()
    train = _open("cifar10", root, download, lambda: cls(str(root), train=True, download=download))
    test = _open("cifar10", root, download, lambda: cls(str(root), train=False, download=False))

    def tensor(ds) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)  # [N, 3, 32, 32] uint8

    x, y = _limit(*tensor(train), limit)
    x_test, y_test = tensor(test)
    opts = {"download": download, "verify": verify, "limit": limit, "image_size": image_size, "channels": channels}
    return image_data("cifar10", x, y, x_test, y_test, options=_identity(opts), num_classes=10,
                      class_names=list(train.classes))


def _cifar10_unverified():
    """CIFAR-10 reading files that only have to exist and parse (no md5 check of each batch)."""
    from torchvision import datasets

    class CIFAR10Unverified(datasets.CIFAR10):
        meta = {**datasets.CIFAR10.meta, "md5": None}

        def _check_integrity(self) -> bool:
            return not LAYOUTS["cifar10"].missing(Path(self.root))

    return CIFAR10Unverified


# -- CelebA: aligned JPEGs, 64×64 centre crop -------------------------------------------------------------------
def load_celeba(root: Path, *, download: bool = True, verify: bool = True, split: str = "all", limit: int = 0,
                image_size: int = 64, channels: int = 3) -> Data:
    """CelebA's aligned 178×218 faces, resized to ``image_size`` on the short side and centre-cropped
    (the DCGAN recipe). Unlabelled: the 40 attributes are not classes."""
    from torchvision import datasets

    cls = datasets.CelebA if verify else _celeba_unverified()
    ds = _open("celeba", root, download, lambda: cls(str(root), split=split, target_type=[], download=download))
    files = list(ds.filename)[: limit or None]
    folder = Path(root) / "celeba" / "img_align_celeba"
    try:
        x = decode_images([folder / f for f in files], image_size, channels=3)
    except OSError as exc:
        raise _unavailable("celeba", root, "celeba", download, exc) from exc
    opts = {"download": download, "verify": verify, "split": split, "limit": limit, "image_size": image_size,
            "channels": channels}
    return image_data("celeba", x, None, options=_identity(opts))


def _celeba_unverified():
    from torchvision import datasets

    class CelebAUnverified(datasets.CelebA):
        def _check_integrity(self) -> bool:
            return not LAYOUTS["celeba"].missing(Path(self.root))

    return CelebAUnverified


# -- helpers -----------------------------------------------------------------------------------------------------
def _limit(x: torch.Tensor, y: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (x[:limit], y[:limit]) if limit else (x, y)


def _identity(opts: dict[str, Any]) -> dict[str, Any]:
    """The options that identify the data (whether it was downloaded does not change it)."""
    return {k: v for k, v in opts.items() if k not in ("download", "verify")}
