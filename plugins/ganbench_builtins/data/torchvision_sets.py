"""The real data sets, read (and downloaded) by torchvision: MNIST, Fashion-MNIST, CIFAR-10, CelebA.

Files live under the data root (``--data-root``) in torchvision's own layout, so a folder that
torchvision already filled works as it is. When the files are missing and cannot be downloaded the
error says what failed, which files to put where, and which data sets work offline: ganbench never
substitutes other data.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import DataUnavailable, one_line
from ganbench.specs import Data
from ganbench_builtins.data import OFFLINE_SETS
from ganbench_builtins.data.common import decode_images, image_data, missing_files

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


def _unavailable(name: str, root: Path, option_prefix: str, download: bool, exc: BaseException | None,
                 verify: bool | None = None) -> DataUnavailable:
    """``verify``: the data set's checksum option (None: it has none), so the advice names it only where it helps."""
    layout = LAYOUTS[name]
    folder = Path(root) / layout.folder
    gone = _missing_or_packed(name, Path(root))
    if not gone and exc is not None:
        what = f"its files in {folder} could not be read ({one_line(exc)})"
        fix = (f"if they are a copy you trust, set {option_prefix}.verify=false to skip torchvision's checksums, "
               f"or replace them with {layout.source}" if verify else f"replace them with {layout.source}")
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


#: what reading a damaged or foreign file raises (torchvision asserts an idx file's magic number; a truncated
#: ``.gz`` ends early; a batch without its keys): every one a one-line DataUnavailable naming the folder
_BAD_FILE = (RuntimeError, OSError, ValueError, AssertionError, EOFError, KeyError, IndexError, TypeError,
             pickle.UnpicklingError, zlib.error)


def _open(name: str, root: Path, download: bool, make: Callable[[], Any], verify: bool | None = None) -> Any:
    """``make()`` (a torchvision data set), with files that are missing while downloading is off, or
    any failure to find, fetch or read them, turned into a :class:`DataUnavailable` that says what to do."""
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        return make()
    except _BAD_FILE as exc:  # torchvision's "not found", URLError, bad files
        raise _unavailable(name, root, name, download, exc, verify) from exc


# -- MNIST and Fashion-MNIST: idx files -----------------------------------------------------------------------
def load_mnist_like(name: str, root: Path, *, download: bool = True, limit: int = 0, image_size: int = 28,
                    channels: int = 1) -> Data:
    from torchvision import datasets
    from torchvision.datasets.utils import extract_archive

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    folder = Path(root) / LAYOUTS[name].folder
    for f in LAYOUTS[name].files:  # .gz files put there by hand: unpack them (torchvision only does on download)
        if not (folder / f).exists() and (folder / f"{f}.gz").exists():
            try:
                extract_archive(str(folder / f"{f}.gz"), str(folder))
            except _BAD_FILE as exc:  # a truncated or foreign .gz: no half-unpacked idx file is left
                (folder / f).unlink(missing_ok=True)
                raise DataUnavailable(f"{name}: {folder / f'{f}.gz'} is not a gzip of an idx file ({one_line(exc)}); "
                                      f"replace it with {LAYOUTS[name].source}") from exc
    train = _open(name, root, download, lambda: cls(str(root), train=True, download=download))
    test = _open(name, root, download, lambda: cls(str(root), train=False, download=False))
    x, y = _limit(train.data, train.targets, limit)  # uint8 [N, 28, 28], int64 [N]
    opts = {"download": download, "limit": limit, "image_size": image_size, "channels": channels}
    return image_data(name, x, y, test.data, test.targets, options=_identity(opts), num_classes=10,
                      class_names=list(train.classes))


# -- CIFAR-10: pickled batches --------------------------------------------------------------------------------
#: what a CIFAR-10 batch file may contain: numpy arrays (and the latin-1 bytes of Python 2 pickles);
#: any other global — ``os.system``, ``builtins.eval`` — is refused before it could run
_CIFAR_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "ndarray"),
                  ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings, numbers and numpy arrays only: a file planted in
    the data root (``verify=false`` skips the checksums) can never execute code when it is read."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a CIFAR-10 batch holds only arrays, lists "
                                     "and strings")


def _read_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        entry = _ArraysOnly(f, encoding="latin1").load()
    if not isinstance(entry, dict):
        raise ValueError(f"{path.name} is not a CIFAR-10 batch (a pickled dict), got {type(entry).__name__}")
    return entry


def _cifar10_split(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    data, labels = [], []
    for name in names:
        entry = _read_batch(folder / name)
        if "data" not in entry or "labels" not in entry:
            raise ValueError(f"{name} is not a CIFAR-10 batch: a dict with 'data' and 'labels', got keys "
                             f"{', '.join(map(str, list(entry)[:4])) or 'none'}")
        data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels += [int(v) for v in entry["labels"]]
    return torch.from_numpy(np.concatenate(data)), torch.tensor(labels, dtype=torch.int64)  # [N, 3, 32, 32] uint8


def load_cifar10(root: Path, *, download: bool = True, verify: bool = True, limit: int = 0, image_size: int = 32,
                 channels: int = 3) -> Data:
    """CIFAR-10's python batches, read without unpickling anything but arrays (:class:`_ArraysOnly`);
    with ``verify`` (default) each file must also match torchvision's md5 checksum first."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity, download_and_extract_archive

    root = Path(root)
    folder = root / CIFAR10.base_folder
    if LAYOUTS["cifar10"].missing(root):
        if not download:
            raise _unavailable("cifar10", root, "cifar10", download, None)
        root.mkdir(parents=True, exist_ok=True)
        try:
            download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
        except (RuntimeError, OSError, ValueError) as exc:  # URLError, a bad archive
            raise _unavailable("cifar10", root, "cifar10", download, exc) from exc
    files = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    try:
        if verify:
            bad = [name for name, md5 in files if not check_integrity(str(folder / name), md5)]
            if bad:
                raise ValueError(f"{', '.join(bad)} do not match torchvision's md5 checksums")
        x, y = _cifar10_split(folder, [name for name, _ in CIFAR10.train_list])
        x_test, y_test = _cifar10_split(folder, [name for name, _ in CIFAR10.test_list])
        classes = [str(c) for c in _read_batch(folder / CIFAR10.meta["filename"])[CIFAR10.meta["key"]]]
    except _BAD_FILE as exc:
        raise _unavailable("cifar10", root, "cifar10", download, exc, verify) from exc
    x, y = _limit(x, y, limit)
    opts = {"download": download, "verify": verify, "limit": limit, "image_size": image_size, "channels": channels}
    return image_data("cifar10", x, y, x_test, y_test, options=_identity(opts), num_classes=10, class_names=classes)


# -- CelebA: aligned JPEGs, 64×64 centre crop -------------------------------------------------------------------
def load_celeba(root: Path, *, download: bool = True, verify: bool = True, split: str = "all", limit: int = 0,
                image_size: int = 64, channels: int = 3) -> Data:
    """CelebA's aligned 178×218 faces, resized to ``image_size`` on the short side and centre-cropped
    (the DCGAN recipe). Unlabelled: the 40 attributes are not classes."""
    from torchvision import datasets

    cls = datasets.CelebA if verify else _celeba_unverified()
    ds = _open("celeba", root, download, lambda: cls(str(root), split=split, target_type=[], download=download),
               verify)
    files = list(ds.filename)[: limit or None]
    folder = Path(root) / "celeba" / "img_align_celeba"
    try:
        x = decode_images([folder / f for f in files], image_size, channels=3)
    except _BAD_FILE as exc:
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
