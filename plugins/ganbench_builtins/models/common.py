"""What the model families share and what their specs name without importing torch."""

from __future__ import annotations

#: D normalisations (model option ``norm``), implemented in models/nets/layers.py
NORMS = ("batch", "layer", "spectral", "none")


def square_images(name: str, sizes: tuple[int, ...], info) -> str | None:
    """``supports`` of a convolutional family: square images of one of ``sizes`` px in [-1, 1]."""
    if info.modality != "image" or len(info.shape) != 3:
        return f"{name} needs images (C×H×W); {info.name} is {info.modality} data of shape {tuple(info.shape)}"
    _, h, w = info.shape
    if h != w or h not in sizes:
        return f"{name} supports square {'/'.join(map(str, sizes))} px images; {info.name} is {h}×{w}"
    if info.value_range is None or tuple(info.value_range) != (-1.0, 1.0):
        return f"{name}'s tanh output produces [-1, 1]; {info.name} asks for {info.value_range}"
    return None


def low_dimensional_vectors(what: str, info, most: int = 64) -> str | None:
    """``supports`` of the toy MLPs (``what``: the model's words): vectors of at most ``most`` values."""
    import math

    if info.modality != "vector" or math.prod(info.shape) > most:
        return f"{what} for low-dimensional vectors (the 2-D mixtures); {info.name} is not one"
    return None


def translation_images(name: str, info, same_shape: bool) -> str | None:
    """``supports`` of a translation family: square images of one size (>= 16 px) in [-1, 1] on both sides (and
    of one shape, ``same_shape``: generators both ways)."""
    if info.modality != "image" or len(info.shape) != 3 or info.source_shape is None or len(info.source_shape) != 3:
        return f"{name} translates images (C×H×W); {info.name} is {info.modality} data"
    _, h, w = info.shape
    if h != w or tuple(info.source_shape[1:]) != (h, w) or h < 16:
        return (f"{name} translates square images of one size (at least 16 px) on both sides; {info.name}'s are "
                f"{tuple(info.source_shape)} → {tuple(info.shape)}")
    if same_shape and tuple(info.source_shape) != tuple(info.shape):
        return (f"{name}'s generators map each domain to the other: both need one shape; {info.name}'s are "
                f"{tuple(info.source_shape)} and {tuple(info.shape)}")
    if same_shape and h % 4:  # two stride-2 convolutions down and two transposed ones back up
        return f"{name}'s ResNet generators need a side divisible by 4; {info.name}'s images are {h} px"
    if info.value_range is None or tuple(info.value_range) != (-1.0, 1.0):
        return f"{name}'s tanh output produces [-1, 1]; {info.name} asks for {info.value_range}"
    return None
