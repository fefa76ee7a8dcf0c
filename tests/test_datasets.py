"""Data set plugins: the embedded sets, the torchvision-backed sets read from tiny files in their real
on-disk formats (downloading off), stacked MNIST, image folders, the failed-download error, and a
contract test over every registered data set (from the real plugin discovery)."""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from datafiles import write_celeba, write_cifar10, write_cyclegan, write_image_folder, write_mnist, write_pix2pix

import ganbench
from ganbench.cli import cli
from ganbench.errors import DataUnavailable, UsageError
from ganbench.options import coerce_option, defaults
from ganbench.plugins import load_plugins
from ganbench.specs import Data, DataInfo, nothing_missing

_REGISTRY = load_plugins().registry
DATASETS = _REGISTRY.names("dataset")
OFFLINE = ("mnist5k", "digits", "stacked-mnist", "ring8", "grid25")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root holding every torchvision-backed set in its real layout (tiny)."""
    root = tmp_path_factory.mktemp("data-root")
    write_mnist(root)
    write_mnist(root, "FashionMNIST", gz=True)  # as downloaded: .gz files are unpacked by the loader
    write_cifar10(root)
    write_celeba(root)
    write_image_folder(root / "images")
    write_pix2pix(root, "edges2shoes")
    write_pix2pix(root, "facades", splits=("train", "test"))  # facades is held out on test/, as the authors do
    for name in ("horse2zebra", "apple2orange"):
        write_cyclegan(root, name)
    return root


def _options_for(root):
    """What the tests pass to each data set: downloading off, tiny sizes (torchvision's checksums are
    of the real files, so the tiny copies load with verify=false)."""
    return {
        "mnist": {"download": False},
        "fashion-mnist": {"download": False},
        "cifar10": {"download": False, "verify": False},
        "celeba": {"download": False, "verify": False},
        "image-folder": {"path": str(root / "images")},
        "stacked-mnist": {"size": 300, "test_size": 50},
        "ring8": {"size": 2000},
        "grid25": {"size": 2000},
        **{name: {"download": False, "image_size": 32} for name in ("facades", "edges2shoes", "horse2zebra",
                                                                     "apple2orange")},
    }


def load(name, root, **extra):
    spec = _REGISTRY.get("dataset", name)
    return spec.load(root=root, **{**defaults(spec.options), **_options_for(root).get(name, {}), **extra})


# -- the contract, for every registered data set ---------------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS)
def test_dataset_contract(root, name):
    spec = _REGISTRY.get("dataset", name)
    opts = {**defaults(spec.options), **_options_for(root).get(name, {})}
    assert spec.missing(root, **opts) is None, f"{name} says it cannot load offline from the test root"
    data = spec.load(root=root, **opts)
    info = data.info
    assert isinstance(data, Data)
    for field in ("name", "modality", "shape", "value_range", "size", "num_classes", "fingerprint", "options"):
        assert hasattr(info, field)
    assert info.modality in ("vector", "image")
    assert info.modality != "image" or len(info.shape) == 3
    assert data.x.dtype == torch.float32 and tuple(data.x.shape) == (info.size, *info.shape) and info.size > 0
    assert torch.isfinite(data.x).all()
    if info.value_range is not None:
        lo, hi = info.value_range
        assert lo <= float(data.x.min()) and float(data.x.max()) <= hi
    if data.y is not None:
        assert data.y.dtype == torch.int64 and data.y.shape == (info.size,)
        assert info.num_classes >= 2 and 0 <= int(data.y.min()) and int(data.y.max()) < info.num_classes
    else:
        assert info.num_classes == 0
    if info.class_names:
        assert len(info.class_names) == info.num_classes
    if info.label_factors:
        assert math.prod(info.label_factors) == info.num_classes
    if info.modes is not None:
        assert len(info.modes) == info.num_classes and all(len(m) == info.shape[0] for m in info.modes)
        assert info.mode_std and info.mode_std > 0
    if data.x_test is not None:
        assert data.x_test.dtype == torch.float32 and tuple(data.x_test.shape[1:]) == info.shape
        assert data.y_test is None or data.y_test.shape == (len(data.x_test),)
    assert isinstance(info.fingerprint, str) and len(info.fingerprint) >= 8
    # what the spec declares for listing is what it loads (size only where the test did not shrink it)
    assert Data.problem(data) is None and spec.task == info.task  # a translation set: its domain A and pairing
    for declared, actual in ((spec.modality, info.modality), (spec.shape, info.shape),
                             (spec.num_classes, info.num_classes)):
        assert declared is None or declared == actual, f"{name}: declares {declared}, loads {actual}"
    if spec.size is not None and spec.missing is nothing_missing and "size" not in _options_for(root).get(name, {}):
        assert spec.size == info.size
    # deterministic: loading again gives the same tensors and fingerprint
    again = spec.load(root=root, **opts)
    assert torch.equal(again.x, data.x) and again.info.fingerprint == info.fingerprint
    assert (data.y is None and again.y is None) or torch.equal(again.y, data.y)
    assert (data.source is None and again.source is None) or torch.equal(again.source, data.source)


def test_contract_covers_the_builtins():
    assert {"ring8", "grid25", "mnist5k", "digits", "stacked-mnist", "mnist", "fashion-mnist", "cifar10", "celeba",
            "image-folder", "edges2digits", "digits2thick"} <= set(DATASETS)


# -- translation: two domains ----------------------------------------------------------------------------------
def test_translation_sets_are_their_definitions_checked_with_scipy(root):
    from scipy import ndimage

    digits = load("mnist5k", root)
    x01 = ((digits.x + 1) / 2).numpy()[:, 0]  # [N, 28, 28] in [0, 1]
    paired = load("edges2digits", root)
    info = paired.info
    assert (info.task, info.paired, info.domains, info.source_shape) == ("translation", True, ("edges", "digits"),
                                                                        (1, 28, 28))
    assert torch.equal(paired.x, digits.x) and torch.equal(paired.y, digits.y) and torch.equal(paired.source_y, digits.y)
    for i in (0, 1, 2, 3999):  # domain A's i-th sample is the i-th digit's edge map (scipy's Sobel, zero padding)
        mag = np.hypot(ndimage.sobel(x01[i], axis=0, mode="constant"), ndimage.sobel(x01[i], axis=1, mode="constant"))
        edges = (mag / mag.max() > 0.3).astype(np.float32) * 2 - 1
        assert np.array_equal(paired.source[i, 0].numpy(), edges)
    unpaired = load("digits2thick", root)
    assert (unpaired.info.task, unpaired.info.paired) == ("translation", False)
    half = len(digits.x) // 2  # A: the first half as they are; B: the second half, one pixel thicker
    assert torch.equal(unpaired.source, digits.x[:half]) and torch.equal(unpaired.source_y, digits.y[:half])
    thick = ndimage.maximum_filter(x01[half:half + 3], size=(1, 3, 3), mode="constant") * 2 - 1
    assert np.allclose(unpaired.x[:3, 0].numpy(), thick) and torch.equal(unpaired.y, digits.y[half:])
    assert unpaired.info.fingerprint != paired.info.fingerprint != digits.info.fingerprint
    # pairs that do not pair up, or domain A on a generation set, are refused with what is wrong
    import dataclasses

    short = dataclasses.replace(paired, source=paired.source[:-1], source_y=paired.source_y[:-1])
    assert Data.problem(short) == "paired data: source and x must hold as many samples (the i-th of each pair up)"
    assert "for translation data sets" in Data.problem(dataclasses.replace(digits, source=digits.x))
    shifted = dataclasses.replace(digits, y=digits.y + 1)  # labels 1..K: training would draw class K
    assert Data.problem(shifted) == "labels of x run from 1 to 10; expected 0 to 9 (num_classes 10)"


def _colour(img: torch.Tensor) -> tuple[int, ...]:
    """The flat colour of a [3, H, W] image in [-1, 1], back in 0..255."""
    return tuple(round(v) for v in ((img.mean(dim=(1, 2)) + 1) * 127.5).tolist())


def test_pix2pix_and_cyclegan_layouts_load_as_the_authors_lay_them_out(root):
    pairs = write_pix2pix(root / "p2p", "edges2shoes")
    data = load("edges2shoes", root / "p2p")
    assert (data.info.task, data.info.paired, data.info.domains) == ("translation", True, ("edges", "shoes"))
    assert data.x.shape == (4, 3, 32, 32) and data.source.shape == (4, 3, 32, 32) and len(data.x_test) == 2
    for i, (a, b) in enumerate(pairs["train"]):  # AtoB: the left half is the input, the right the target
        assert all(abs(u - v) <= 3 for u, v in zip(_colour(data.source[i]), a, strict=True))
        assert all(abs(u - v) <= 3 for u, v in zip(_colour(data.x[i]), b, strict=True))
    write_pix2pix(root / "p2p", "facades", splits=("train", "test"))
    backwards = load("facades", root / "p2p")  # the authors train facades BtoA: label maps → photos
    assert backwards.info.options["direction"] == "BtoA" and backwards.info.domains == ("label maps", "photos")
    assert torch.equal(backwards.source, load("facades", root / "p2p", direction="AtoB").x)
    # as a user types it (--data-opt facades.direction=btoa): a choice matched whatever its case, spelled as declared;
    # a folder's path is free text, kept as written
    direction = _REGISTRY.get("dataset", "facades").options["direction"]
    assert coerce_option(direction, " btoa", "direction") == "BtoA" and coerce_option(direction, "AtoB", "d") == "AtoB"
    with pytest.raises(UsageError, match="expects one of auto, AtoB, BtoA, got 'sideways'"):
        coerce_option(direction, "sideways", "direction")
    path = _REGISTRY.get("dataset", "image-folder").options["path"]
    assert coerce_option(path, " /Data/My Faces ", "path") == "/Data/My Faces"
    folders = write_cyclegan(root / "cg", "horse2zebra")
    unpaired = load("horse2zebra", root / "cg")
    assert (unpaired.info.paired, len(unpaired.source), len(unpaired.x), len(unpaired.source_test)) == (False, 3, 4, 2)
    assert all(abs(u - v) <= 3 for u, v in zip(_colour(unpaired.x[3]), folders["trainB"][3], strict=True))


def test_a_missing_translation_set_is_downloaded_and_extracted_or_explained(tmp_path, monkeypatch):
    import tarfile

    import torchvision.datasets.utils as tv_utils

    built = tmp_path / "built"
    write_pix2pix(built, "facades", splits=("train", "test"))
    archive = tmp_path / "facades.tar.gz"  # the authors' archive: facades/{train,val}/...
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(built / "facades", arcname="facades")
    fetched = []

    def fake_download(url, root, filename=None, md5=None, **kw):  # the network, replaced by the archive
        fetched.append(url)
        import shutil

        shutil.copy(archive, Path(root) / (filename or Path(url).name))

    monkeypatch.setattr(tv_utils, "download_url", fake_download)
    data = load("facades", tmp_path / "data", download=True)
    assert fetched == ["http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"] and len(data.x) == 4
    assert not (tmp_path / "data" / "facades.tar.gz").exists()  # the archive is removed once extracted
    with pytest.raises(DataUnavailable) as exc:
        load("horse2zebra", tmp_path / "data", download=False)
    message = str(exc.value)
    assert message.startswith(f"horse2zebra: not downloaded (downloads into {tmp_path / 'data' / 'horse2zebra'} on "
                              "first use) and downloading is off; put the extracted http://efrosgans.eecs.berkeley.edu/"
                              "cyclegan/datasets/horse2zebra.zip there (horse2zebra/{trainA,trainB,testA,testB})")
    assert "\n" not in message and "edges2digits" in message

    def offline(url, root, filename=None, md5=None, **kw):
        raise urllib.error.URLError("no network")

    def broken(url, root, filename=None, md5=None, **kw):  # a download cut short: half an archive
        (Path(root) / (filename or Path(url).name)).write_bytes(archive.read_bytes()[:200])

    monkeypatch.setattr(tv_utils, "download_url", broken)
    with pytest.raises(DataUnavailable, match=r"edges2shoes: downloading .* failed"):
        load("edges2shoes", tmp_path / "data", download=True)
    assert not (tmp_path / "data" / "edges2shoes.tar.gz").exists()  # removed: the next try downloads again
    monkeypatch.setattr(tv_utils, "download_url", offline)
    with pytest.raises(DataUnavailable, match=r"horse2zebra: downloading http://efrosgans.*horse2zebra.zip into .* "
                                              r"failed \(URLError: <urlopen error no network>\); extract it there by hand"):
        load("horse2zebra", tmp_path / "data", download=True)


def test_a_generation_model_skips_translation_data_with_its_reason(plugins):
    info = DataInfo("edges2digits", "image", (1, 28, 28), (-1.0, 1.0), 4000, task="translation", paired=True,
                    source_shape=(1, 28, 28))
    assert plugins.registry.get("model", "dcgan").mismatch(info) == (
        "dcgan is a generation model (noise → samples); edges2digits is a translation data set")
    res = CliRunner().invoke(cli, ["run", "-d", "edges2digits", "-m", "dcgan", "-l", "nonsat", "-s", "0",
                                   "--steps", "2", "--dry-run"])
    assert res.exit_code == 2 and "dcgan is a generation model (noise → samples); edges2digits is a translation" \
        in res.output


# -- mixtures --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, centres, std", [
    ("ring8", [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)], 0.01),
    ("grid25", [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05),
])
def test_mixtures_are_the_pacgan_definitions(name, centres, std):
    data = _REGISTRY.get("dataset", name).load()
    modes = np.array(data.info.modes)
    np.testing.assert_allclose(modes, np.array(centres, dtype=np.float64), atol=1e-6)
    assert data.info.mode_std == std and data.info.value_range is None
    x, y = data.x.double().numpy(), data.y.numpy()
    counts = np.bincount(y, minlength=len(centres))
    assert counts.min() > 0.7 * len(y) / len(centres)  # equal weights
    for k in range(len(centres)):  # per mode: sample mean at the centre, per-axis std as defined
        pts = x[y == k]
        se = std / math.sqrt(len(pts))
        np.testing.assert_allclose(pts.mean(0), modes[k], atol=6 * se)
        np.testing.assert_allclose(pts.std(0, ddof=1), [std, std], rtol=0.12)
    other = _REGISTRY.get("dataset", name).load(seed=1)
    assert not torch.equal(other.x, data.x)


def test_mixture_options_change_the_definition():
    ring = _REGISTRY.get("dataset", "ring8").load(size=4000, modes=5, radius=2.0, std=0.02)
    assert len(ring.info.modes) == 5 and np.allclose(np.linalg.norm(ring.info.modes, axis=1), 2.0)
    assert (ring.x - torch.tensor(ring.info.modes)[ring.y]).std().item() == pytest.approx(0.02, rel=0.05)
    grid = _REGISTRY.get("dataset", "grid25").load(size=900, modes=9, spacing=1.0)
    assert sorted({m[0] for m in grid.info.modes}) == [-1.0, 0.0, 1.0]


def test_bad_mixture_options_are_one_line_errors(tmp_path):
    with pytest.raises(UsageError, match=r"dataset option grid25.modes expects a square number"):
        ganbench.run(models="vanilla", losses="nonsat", datasets="grid25", seeds=[0], out=tmp_path,
                     data_options={"grid25": {"modes": 24}})


# -- torchvision-backed sets from files in their real formats ---------------------------------------------------
def test_mnist_idx_files_load_exactly(root):
    arrays = write_mnist(root)  # same content the fixture wrote
    data = load("mnist", root)
    np.testing.assert_allclose(data.x[:, 0].numpy(), arrays["train"][0] / 255 * 2 - 1, atol=1e-6)
    assert data.y.tolist() == arrays["train"][1].tolist()
    np.testing.assert_allclose(data.x_test[:, 0].numpy(), arrays["test"][0] / 255 * 2 - 1, atol=1e-6)
    assert data.info.class_names[3] == "3 - three"


def test_damaged_idx_files_are_one_line_naming_the_file(tmp_path):
    """An idx file with a foreign magic number (an HTML error page saved in its place) and a truncated .gz: one
    line each, naming the folder or file and the source, never torchvision's bare assertion."""
    root = tmp_path / "root"
    write_mnist(root)
    raw = root / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataUnavailable) as err:
        load("mnist", root)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"mnist: its files in {raw} could not be read (") and "verify" not in msg
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00" * 64)[:20])
    with pytest.raises(DataUnavailable, match=rf"^mnist: {re.escape(str(raw))}/train-images-idx3-ubyte.gz is not a "
                                              r"gzip of an idx file \("):
        load("mnist", root)
    assert not (raw / "train-images-idx3-ubyte").exists()


def test_fashion_mnist_unpacks_gz_files_put_there_by_hand(root):
    data = load("fashion-mnist", root)
    assert data.info.size == 20 and data.info.class_names[0] == "T-shirt/top"
    assert (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_cifar10_pickled_batches_load_exactly(root):
    arrays = write_cifar10(root)
    data = load("cifar10", root)
    np.testing.assert_allclose(data.x.numpy(), arrays["train"] / 255 * 2 - 1, atol=1e-6)
    assert data.y.tolist() == arrays["train_labels"] and data.y_test.tolist() == arrays["test_labels"]
    assert data.info.class_names[0] == "airplane" and data.info.shape == (3, 32, 32)


def test_cifar10_checksums_are_on_by_default_and_their_failure_is_explained(root):
    with pytest.raises(DataUnavailable) as err:
        load("cifar10", root, verify=True)
    msg = str(err.value)
    assert "\n" not in msg and "could not be read" in msg and "cifar10.verify=false" in msg
    assert "mnist5k" in msg  # names the offline alternatives


class _Planted:
    """A pickle payload that, if it were ever unpickled with pickle.load, would create a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_cifar10_never_runs_code_from_a_planted_batch(tmp_path):
    root = tmp_path / "root"
    write_cifar10(root)
    marker = tmp_path / "code-ran"
    import pickle

    with open(root / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({"data": _Planted(marker), "labels": [0]}, f, protocol=2)
    with pytest.raises(DataUnavailable) as err:
        load("cifar10", root, verify=False)  # no checksums: the file only has to parse
    assert not marker.exists()
    assert "refused to load posix.system: a CIFAR-10 batch holds only arrays, lists and strings" in str(err.value)


def test_celeba_folder_and_list_files_give_64px_centre_crops(root):
    pictures = write_celeba(root)
    data = load("celeba", root)
    assert data.x.shape == (5, 3, 64, 64) and data.y is None and data.info.num_classes == 0
    for i, pic in enumerate(pictures):  # flat colours: every pixel of the crop is the picture's colour
        expected = torch.tensor(pic[0, 0] / 255 * 2 - 1, dtype=torch.float32).view(3, 1, 1)
        assert torch.allclose(data.x[i], expected.expand(3, 64, 64), atol=0.03)
    assert load("celeba", root, split="train").info.size == 3  # list_eval_partition: three 0s
    assert load("celeba", root, limit=2, image_size=32).x.shape == (2, 3, 32, 32)


def test_image_folder_labels_come_from_subfolders(root, tmp_path):
    data = load("image-folder", root, image_size=28)
    assert data.x.shape == (6, 3, 28, 28) and data.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.info.class_names == ("cats", "dogs")
    flat = write_image_folder(tmp_path / "flat", classes=())
    data = load("image-folder", root, path=str(flat), channels=1, image_size=32)
    assert data.y is None and data.x.shape == (3, 1, 32, 32) and data.info.num_classes == 0
    grey = 0.299 * 0 + 0.587 * 80 + 0.114 * 200  # first image: colour (0, 80, 200)
    assert float(data.x[0].mean()) == pytest.approx(grey / 255 * 2 - 1, abs=0.01)
    # hidden files (macOS's ._x.png, .ipynb_checkpoints/) are not images of the set; the fingerprint is the
    # content's, however the path is spelled, and a limit at or above the size is no subset
    (flat / "._0.png").write_bytes(b"AppleDouble, not a png")
    (flat / ".ipynb_checkpoints").mkdir()
    shutil.copy(next(flat.glob("*.png")), flat / ".ipynb_checkpoints" / "copy.png")
    spec = _REGISTRY.get("dataset", "image-folder")
    again = spec.load(path=str(flat / ".." / flat.name), channels=1, image_size=32, limit=3, seed=5)
    assert again.info.size == 3 and again.info.fingerprint == data.info.fingerprint
    assert again.info.options["path"] == str(flat / ".." / flat.name)
    assert spec.load(path=str(flat), channels=1, image_size=32, limit=2).info.fingerprint != data.info.fingerprint


def test_image_folder_errors_name_the_problem(tmp_path):
    spec = _REGISTRY.get("dataset", "image-folder")
    with pytest.raises(DataUnavailable, match="is not a directory"):
        spec.load(path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailable, match="no images"):
        spec.load(path=str(tmp_path / "empty"))
    bad = write_image_folder(tmp_path / "bad", classes=())
    (bad / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataUnavailable, match=r"cannot read image .*broken\.png"):
        spec.load(path=str(bad))


def test_image_size_and_channels_options(root):
    data = load("mnist", root, image_size=32, channels=3)
    assert data.x.shape == (20, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    assert torch.equal(data.x[:, 0], data.x[:, 1]) and torch.equal(data.x[:, 1], data.x[:, 2])
    # a flat region keeps its value through the antialiased resize (28 -> 64)
    big = load("mnist", root, image_size=64)
    assert float(big.x[0, 0, 0, 0]) == pytest.approx(-1.0, abs=1e-6)
    digits = _REGISTRY.get("dataset", "digits").load(image_size=32)
    assert digits.x.shape == (1500, 1, 32, 32) and digits.info.shape == (1, 32, 32)


def _structured(height: int = 60, width: int = 40) -> np.ndarray:
    """A picture that tells a crop from a stretch: a horizontal ramp, a black band at the top, a white
    block near the bottom (floats in [0, 1])."""
    img = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    img[: height // 4] = 0
    img[height - 10 :, width // 4 : width // 2] = 1
    return img


def test_resize_and_centre_crop_of_a_structured_picture(tmp_path):
    """Short side to 28 with antialiasing, then the centre 28 rows (the DCGAN recipe) — checked against
    PIL's own resize and a crop computed here; a stretch to 28×28 would be off by up to 2."""
    from PIL import Image

    from ganbench_builtins.data.common import decode_images, resize_square

    img = _structured()  # 60 tall, 40 wide -> 42 × 28 -> rows 7..34
    reference = np.asarray(Image.fromarray(img, mode="F").resize((28, 42), Image.BILINEAR))[7:35] * 2 - 1
    got = resize_square(torch.from_numpy(img)[None, None] * 2 - 1, 28)[0, 0].numpy()
    np.testing.assert_allclose(got, reference, atol=1e-5)
    stretched = np.asarray(Image.fromarray(img, mode="F").resize((28, 28), Image.BILINEAR)) * 2 - 1
    assert np.abs(got - stretched).max() > 0.5
    # the file path (PIL decode, uint8) crops the same way
    grey = Image.fromarray((img * 255).round().astype(np.uint8), mode="L")
    grey.save(tmp_path / "structured.png")
    decoded = decode_images([tmp_path / "structured.png"], 28, channels=1)[0, 0].numpy().astype(np.float32)
    eight = np.asarray(grey.resize((28, 42), Image.BILINEAR))[7:35]
    np.testing.assert_array_equal(decoded, eight.astype(np.float32))
    assert decoded[0].max() < decoded[-1].max()  # the black band was cut to its last rows, not squeezed in


def test_rgb_to_grey_is_bt601_luma(root):
    colour = load("cifar10", root)
    grey = load("cifar10", root, channels=1)
    rgb01 = (colour.x.double() + 1) / 2
    expected = (0.299 * rgb01[:, 0] + 0.587 * rgb01[:, 1] + 0.114 * rgb01[:, 2]) * 2 - 1
    np.testing.assert_allclose(grey.x[:, 0].numpy(), expected.numpy(), atol=1e-5)


def test_data_changes_change_the_fingerprint(root):
    a, b = load("mnist", root), load("mnist", root, limit=10)
    c = load("mnist", root, image_size=32)
    assert len({a.info.fingerprint, b.info.fingerprint, c.info.fingerprint}) == 3
    assert load("mnist", root, download=True).info.fingerprint == a.info.fingerprint  # present: no download


# -- a failed download is a clear error, never other data -------------------------------------------------------
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"),
                                          ("cifar10", "cifar-10-batches-py"), ("celeba", "celeba")])
def test_missing_files_with_download_off_is_a_clear_error(tmp_path, name, folder):
    spec = _REGISTRY.get("dataset", name)
    assert spec.missing(tmp_path, **defaults(spec.options)).startswith("not downloaded")
    with pytest.raises(DataUnavailable) as err:
        spec.load(root=tmp_path, **{**defaults(spec.options), "download": False})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{name}: its files are not in {tmp_path / folder}")
    assert f"{name}.download=false" in msg and "by hand from" in msg and "--data-root" in msg
    assert "work offline: mnist5k, digits, stacked-mnist, ring8, grid25" in msg


def test_failed_download_says_what_failed(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataUnavailable) as err:
        _REGISTRY.get("dataset", "mnist").load(root=tmp_path, **defaults(_REGISTRY.get("dataset", "mnist").options))
    msg = str(err.value)
    assert f"downloading it into {tmp_path / 'MNIST' / 'raw'} failed" in msg
    assert "Name or service not known" in msg and "train-images-idx3-ubyte" in msg and "mnist5k" in msg


def test_run_with_unavailable_data_fails_its_cells_with_the_reason(tmp_path, monkeypatch):
    empty = tmp_path / "empty-root"
    empty.mkdir()
    res = CliRunner().invoke(cli, ["run", "-d", "mnist,ring8", "-m", "vanilla", "-l", "nonsat", "-s", "0",
                                   "--steps", "3", "--batch-size", "16", "--set", "eval_samples=100",
                                   "--data-root", str(empty), "--data-opt", "mnist.download=false",
                                   "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 1, res.output
    assert ("failed: mnist/vanilla/nonsat seed 0: dataset 'mnist' of plugin 'builtin-datasets' (ganbench 0.1.0) failed "
            "to load: DataUnavailable: mnist: its files are not in") in res.output
    assert "Traceback" not in res.output
    df = ganbench.store.RunStore(tmp_path / "run").table()
    assert dict(zip(df["dataset"], df["status"], strict=True)) == {"mnist": "failed", "ring8": "ok"}  # the grid went on
    error = (tmp_path / "run" / "cells" / "mnist__vanilla__nonsat__s0" / "error.txt").read_text()
    assert error.startswith("Traceback") and "DataUnavailable: mnist: its files are not in" in error


def test_a_data_root_that_does_not_exist_is_refused(tmp_path):
    res = CliRunner().invoke(cli, ["run", "-d", "mnist", "--data-root", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output
    with pytest.raises(UsageError, match="is not an existing directory"):
        ganbench.run(datasets="mnist", data_root=tmp_path / "nope", out=tmp_path / "o")


# -- stacked MNIST -------------------------------------------------------------------------------------------------
def test_stacked_mnist_channels_are_independent_source_digits(root):
    source = load("mnist", root)
    data = load("stacked-mnist", root, source="mnist", size=200, test_size=20)
    assert data.x.shape == (200, 3, 28, 28) and data.info.label_factors == (10, 10, 10)
    assert data.info.num_classes == 1000 and data.info.class_names[123] == "123"
    flat = source.x.view(len(source.x), -1)
    for i in range(0, 200, 17):
        digits = []
        for c in range(3):  # each channel is one source image, and the code holds its label
            match = (flat - data.x[i, c].reshape(1, -1)).abs().amax(1) < 1e-5
            assert match.any()
            digits.append(int(source.y[match.nonzero()[0, 0]]))
        assert int(data.y[i]) == 100 * digits[0] + 10 * digits[1] + digits[2]


def test_stacked_mnist_covers_the_1000_modes_uniformly():
    data = _REGISTRY.get("dataset", "stacked-mnist").load(root=None, size=20000, test_size=10)
    codes = data.y.numpy()
    per_channel = [np.bincount(codes // 100, minlength=10), np.bincount(codes // 10 % 10, minlength=10),
                   np.bincount(codes % 10, minlength=10)]
    for counts in per_channel:  # mnist5k is balanced: each digit ~10% per channel
        assert counts.min() > 0.08 * len(codes) and counts.max() < 0.12 * len(codes)
    assert len(np.unique(codes)) > 990  # 20 draws per mode on average: all but a few modes present


# -- names, listing, runs ------------------------------------------------------------------------------------------
def test_folder_name_takes_a_path_and_other_names_do_not():
    assert _REGISTRY.canonical("dataset", "folder:/data/faces") == "image-folder:/data/faces"
    assert _REGISTRY.name_options("dataset", "folder:/data/faces") == {"path": "/data/faces"}
    with pytest.raises(UsageError, match=r"dataset 'ring8' takes no ':VALUE' in its name"):
        _REGISTRY.canonical("dataset", "ring8:3")
    with pytest.raises(UsageError, match=r"needs a value after ':'"):
        _REGISTRY.canonical("dataset", "folder:")


def test_two_image_folders_are_two_data_sets(tmp_path, tiny):
    a = write_image_folder(tmp_path / "a", classes=())
    b = write_image_folder(tmp_path / "Faces B", classes=("x", "y"))  # a path keeps its case (and spaces)
    df = ganbench.run(models="vanilla", losses="nonsat", datasets=f"folder:{a},folder:{b}", seeds=[0],
                      settings={**tiny, "steps": 3, "batch_size": 4, "eval_samples": 8}, out=tmp_path / "run",
                      data_options={"image-folder": {"image_size": 28}}, device="cpu", metrics=[])
    assert sorted(df["dataset"]) == sorted([f"image-folder:{a}", f"image-folder:{b}"])
    assert list(df["status"]) == ["ok", "ok"]  # the folder with capitals was read, not a lower-cased one
    cells = sorted((tmp_path / "run" / "cells").iterdir())
    assert [c.name.startswith("image-folder_") for c in cells] == [True, True]
    configs = [json.loads((c / "config.json").read_text()) for c in cells]
    assert configs[0]["data_fingerprint"] != configs[1]["data_fingerprint"]
    assert {c["data_options"]["image_size"] for c in configs} == {28}


def test_a_model_that_needs_another_size_is_skipped_with_the_fix(tmp_path, tiny):
    df = ganbench.run(models="dcgan,vanilla", losses="nonsat", datasets="digits", seeds=[0],
                      settings={**tiny, "steps": 3}, out=tmp_path, device="cpu", metrics=[])
    by_model = dict(zip(df["model"], df["message"], strict=True))
    assert dict(zip(df["model"], df["status"], strict=True)) == {"dcgan": "skipped", "vanilla": "ok"}
    assert by_model["dcgan"] == ("dcgan supports square 28/32/64 px images; digits is 8×8 (dcgan accepts digits at "
                                 "image_size 28/32/64: --data-opt digits.image_size=28)")


def test_list_datasets_shows_shape_classes_size_and_offline_availability(root, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(cli, ["list", "datasets", "--data-root", str(empty)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in res.output.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    assert lines["mnist5k"][:6] == ["builtin-datasets", "image", "1×28×28", "10", "4,000", "yes"]
    assert lines["ring8"][:6] == ["builtin-datasets", "vector", "2", "8", "20,000", "yes"]
    assert lines["stacked-mnist"][3] == "1000"
    assert lines["mnist"][5].startswith("no: not downloaded")
    res = CliRunner().invoke(cli, ["list", "datasets", "mnist", "--data-root", str(root)], env={"COLUMNS": "250"})
    row = next(line for line in res.output.splitlines() if line.startswith("│ mnist"))
    assert "│ yes" in row
