"""Tiny data sets written in the exact on-disk formats torchvision reads: MNIST idx files, CIFAR-10
pickled batches, CelebA's folder and list files, and a plain image folder. The pixel values are known
(image ``i`` is filled with a value derived from ``i``), so tests can check what the loaders return."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format (LeCun): magic 0x0000 + type 0x08 (ubyte) + ndim, big-endian int32 dims, data."""
    assert array.dtype == np.uint8
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def mnist_arrays(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28×28 images: image i has a bright square whose value and position depend on i; labels i % 10."""
    x = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        k = (i + offset) % 10
        x[i, 2 * k : 2 * k + 8, 4:12] = 25 * k + 5
        x[i, 20:24, 20:24] = (i + offset) % 256
    return x, ((np.arange(n) + offset) % 10).astype(np.uint8)


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 20, n_test: int = 10, gz: bool = False) -> dict:
    """``root/<folder>/raw/`` with the four idx files (gzipped if ``gz``, as they are downloaded)."""
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {"train": mnist_arrays(n_train), "test": mnist_arrays(n_test, offset=100)}
    for split, (images_name, labels_name) in MNIST_NAMES.items():
        for name, array in ((images_name, arrays[split][0]), (labels_name, arrays[split][1])):
            data = idx_bytes(array)
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return arrays


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6) -> dict:
    """``root/cifar-10-batches-py/``: data_batch_1..5, test_batch (dicts with ``data`` uint8
    ``[n, 3072]`` = R, G, B planes row-major, and ``labels``) and batches.meta (``label_names``)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {"train": [], "train_labels": [], "test": None, "test_labels": None}

    def batch(n: int, name: str) -> tuple[np.ndarray, list[int]]:
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": images.reshape(n, 3072), "labels": labels,
                         "filenames": [f"{name}_{i}.png" for i in range(n)]}, f, protocol=2)
        return images, labels

    for i in range(1, 6):
        images, labels = batch(per_batch, f"data_batch_{i}")
        out["train"].append(images)
        out["train_labels"] += labels
    out["train"] = np.concatenate(out["train"])
    out["test"], out["test_labels"] = batch(n_test, "test_batch")
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, f, protocol=2)
    return out


CELEBA_ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald"]


def write_celeba(root: Path, splits: tuple[int, ...] = (0, 0, 0, 1, 2)) -> list[np.ndarray]:
    """``root/celeba/``: img_align_celeba/000001.jpg... (178×218 RGB, like the aligned set) and the
    five space-separated list files torchvision parses (partition, identity, bbox, landmarks, attrs)."""
    folder = Path(root) / "celeba"
    images_dir = folder / "img_align_celeba"
    images_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(splits))]
    pictures = []
    for i, name in enumerate(names):
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        img[..., 0] = (40 * (i + 1)) % 256  # a flat colour per image: survives JPEG and resizing
        img[..., 1] = 100
        img[..., 2] = (255 - 40 * i) % 256
        pictures.append(img)
        Image.fromarray(img).save(images_dir / name, quality=95)
    n = len(names)
    lines = {
        "list_eval_partition.txt": [f"{name} {s}" for name, s in zip(names, splits, strict=True)],
        "identity_CelebA.txt": [f"{name} {i + 1}" for i, name in enumerate(names)],
        "list_bbox_celeba.txt": [str(n), "image_id x_1 y_1 width height",
                                 *(f"{name}    95  71 226 313" for name in names)],
        "list_landmarks_align_celeba.txt": [
            str(n), "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y "
            "rightmouth_x rightmouth_y", *(f"{name} 69  109  106  113   77  142   73  152  108  154" for name in names)],
        "list_attr_celeba.txt": [str(n), " ".join(CELEBA_ATTRS),
                                 *(f"{name} " + " ".join("1" if (i + j) % 2 else "-1" for j in range(len(CELEBA_ATTRS)))
                                   for i, name in enumerate(names))],
    }
    for file, rows in lines.items():
        (folder / file).write_text("\n".join(rows) + "\n")
    return pictures


def write_image_folder(root: Path, classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 3,
                       size: tuple[int, int] = (40, 30)) -> Path:
    """``root/<class>/<i>.png`` (or flat files when ``classes`` is empty): flat-colour RGB images of
    ``size`` (width, height), plus a text file that must be ignored."""
    root = Path(root)
    folders = [root / c for c in classes] or [root]
    for k, folder in enumerate(folders):
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            colour = (50 * k + 10 * i, 80, 200 - 30 * k)
            Image.new("RGB", size, colour).save(folder / f"{i}.png")
    (root / "README.txt").write_text("not an image")
    return root


def write_pix2pix(root: Path, name: str, counts: tuple[int, int] = (4, 2),
                  splits: tuple[str, str] = ("train", "val")) -> dict[str, list[tuple]]:
    """``root/name/{train,val}/<i>.jpg`` (or other ``splits``) as the Pix2Pix archives lay them out: each
    file a pair side by side (64×32: A on the left, B on the right), flat colours; returns each split's
    (A colour, B colour)."""
    out = {}
    for split, n in zip(splits, counts, strict=True):
        folder = Path(root) / name / split
        folder.mkdir(parents=True, exist_ok=True)
        out[split] = []
        for i in range(n):
            a, b = (40 * i + 20, 200, 60), (220, 30 * i + 10, 120)
            img = Image.new("RGB", (64, 32), a)
            img.paste(Image.new("RGB", (32, 32), b), (32, 0))
            img.save(folder / f"{i + 1}_AB.jpg", quality=95)
            out[split].append((a, b))
    return out


def write_cyclegan(root: Path, name: str, counts: tuple[int, ...] = (3, 4, 2, 2)) -> dict[str, list[tuple]]:
    """``root/name/{trainA,trainB,testA,testB}/<i>.jpg`` as the CycleGAN archives lay them out (32×32,
    flat colours); returns each folder's colours."""
    out = {}
    for k, (folder_name, n) in enumerate(zip(("trainA", "trainB", "testA", "testB"), counts, strict=True)):
        folder = Path(root) / name / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        out[folder_name] = [(30 * i + 10, 60 * k, 250 - 20 * i) for i in range(n)]
        for i, colour in enumerate(out[folder_name]):
            Image.new("RGB", (32, 32), colour).save(folder / f"n{i:04d}.jpg", quality=95)
    return out


def write_inception_weights(path: Path) -> Path:
    """A state_dict file in the exact layout of torch-fidelity's Inception-v3 weights file, with the
    network's random initial values (the real 91 MB file needs the network to fetch)."""
    from unittest import mock

    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
    from torchmetrics.image.fid import NoTrainInceptionV3

    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(NoTrainInceptionV3, "load_state_dict", lambda self, *a, **k: None):
        torch.manual_seed(0)
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], antialias=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
