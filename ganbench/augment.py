"""DiffAugment (Zhao, Liu, Lin, Zhu, Han 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS; reference code github.com/mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``):
differentiable augmentations of every image D sees — real and generated, in D's updates and in G's, and
in a penalty's passes through D — each call with its own draws, per sample.

Setting ``augment`` names the policy, comma-separated in the order applied (``translation,cutout``: the
authors' BigGAN CIFAR-10 policy; ``color,translation,cutout``: theirs for little data):

- ``color``: brightness x + (u − 0.5), then saturation (x − m_c)·2u + m_c around the per-pixel channel
  mean, then contrast (x − m)·(u + 0.5) + m around the image mean, u ~ U[0, 1) per sample each;
- ``translation``: a shift of up to ⌊size/8 + ½⌋ pixels per axis (uniform integers, per sample), the
  uncovered border filled with **0** (mid-grey for images in [-1, 1]), as the reference pads one pixel of
  zeros and clamps into it;
- ``cutout``: a square of side ⌊size/2 + ½⌋ set to **0** at a uniform offset per sample (clamped at the edges).

The draws, their shapes and their order are the reference's; they come from the cell's ``augment``
stream (a CPU generator, moved to the device) instead of torch's global generator, so runs are
reproducible and do not depend on the device.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

#: the ops of each policy name, in the order they are applied
POLICIES = ("color", "translation", "cutout")


def check_policy(value: str) -> str | None:
    """None for ``none`` or a comma-separated list of :data:`POLICIES` without repeats; else what is expected."""
    if value == "none":
        return None
    names = value.split(",")  # as written: "translation, cutout" would be another value in rows and hashes
    bad = [n for n in names if n not in POLICIES]
    if bad or len(set(names)) != len(names) or not names:
        return f"expects none or a comma-separated list of {', '.join(POLICIES)} (each once, no spaces)"
    return None


def _rand(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, generator=gen, dtype=torch.float32).to(x.device, x.dtype)


def _randint(low: int, high: int, n: int, gen: torch.Generator, device) -> torch.Tensor:
    return torch.randint(low, high, size=(n, 1, 1), generator=gen).to(device)


def brightness(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return x + (_rand(x, gen) - 0.5)


def saturation(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, gen) * 2) + mean


def contrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, gen) + 0.5) + mean


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx, ty = _randint(-sx, sx + 1, n, gen, x.device), _randint(-sy, sy + 1, n, gen, x.device)
    b, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                               torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)  # into the frame of one padded pixel of zeros
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[b, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = _randint(0, h + (1 - ch % 2), n, gen, x.device)
    oy = _randint(0, w + (1 - cw % 2), n, gen, x.device)
    b, gx, gy = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(ch, device=x.device),
                               torch.arange(cw, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
    gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, gx, gy] = 0
    return x * mask.unsqueeze(1)


OPS: dict[str, tuple[Callable[[torch.Tensor, torch.Generator], torch.Tensor], ...]] = {
    "color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def diff_augment(x: torch.Tensor, policy: str, gen: torch.Generator) -> torch.Tensor:
    """``x`` ``[N, C, H, W]`` through ``policy``'s ops in order, draws from ``gen``; ``none``: ``x``."""
    if policy == "none":
        return x
    if x.dim() != 4:
        raise ValueError(f"augment={policy} applies to images [N, C, H, W]; this data's samples are {tuple(x.shape[1:])}")
    for name in policy.split(","):
        for op in OPS[name.strip()]:
            x = op(x, gen)
    return x.contiguous()


def requested(settings: dict) -> str | None:
    """The augmentation of D's inputs ``settings`` ask for, as ``key=value`` (``augment=…``: DiffAugment;
    ``ada=…``: ADA's pipeline, :mod:`ganbench.ada`), or None. Both at once is refused: two chains on one input
    are no paper's recipe, and which runs first would be a choice of ours."""
    asked = [f"{key}={settings[key]}" for key in ("augment", "ada") if settings.get(key, "none") != "none"]
    if settings.get("ada", "none") == "none":
        for key in ("ada_p", "ada_p_schedule", "ada_target"):
            if settings.get(key):
                raise ValueError(f"setting {key}={settings[key]} is for ADA's pipeline: set ada too")
    elif settings.get("ada_p_schedule") and not settings.get("schedule_images", 0) > 0:
        raise ValueError("setting ada_p_schedule=True needs schedule_images, the images its cosine runs over, above 0")
    elif settings.get("ada_p_schedule") and settings.get("ada_target", 0.0) > 0:
        raise ValueError(f"settings ada_p_schedule=True and ada_target={settings['ada_target']} both set ADA's p: "
                         "choose one")
    if settings.get("ada_kimg", 500.0) != 500 and not settings.get("ada_target", 0.0) > 0:
        raise ValueError(f"setting ada_kimg={settings['ada_kimg']} is the speed of ADA's adaptive p: set ada_target too")
    if len(asked) > 1:
        raise ValueError(f"settings {' and '.join(asked)} are two augmentation pipelines of D's inputs: choose one")
    if asked and asked[0].startswith("ada=") and settings.get("ada_p", 0.0) == 0 and not settings.get("ada_target", 0.0):
        raise ValueError(f"setting {asked[0]} needs ada_p, its probability (the end of its schedule with "
                         "ada_p_schedule), above 0, or ada_target (ADA's adaptive p, from ada_p)")
    return asked[0] if asked else None


def refusal(settings: dict, info) -> str | None:
    """Why the augmentation of D's inputs ``settings`` ask for (:func:`requested`, whose ValueErrors pass
    through) cannot train on the data ``info`` (a :class:`ganbench.specs.DataInfo`) describes, in one line,
    or None. The one rule, asked before anything trains (the session) and when a train state is built."""
    asked = requested(settings)
    if asked is None:
        return None
    where = f"data set '{info.name}'"
    if info.task == "translation":
        return (f"setting {asked} applies to generation; {where} is a translation data set (D(x, a) would see an "
                "augmented x beside an un-augmented a)")
    if info.modality != "image":
        return f"setting {asked} applies to images; {where} holds {info.modality}s: run it without {asked.split('=')[0]}"
    channels = tuple(info.shape)[0] if info.shape else None
    if asked.startswith("augment=") and "color" in asked.split("=", 1)[1].split(",") and channels != 3:
        return (f"setting {asked}: color is DiffAugment's policy for colour images; {where} has {channels} "
                "channel(s) (saturation would do nothing): leave color out")
    if asked.startswith("ada="):
        from ganbench.ada import check_images

        why = check_images(settings["ada"], tuple(info.shape))
        if why is not None:
            return f"setting {asked} {why} ({where}): choose another chain"
    return None


def d_augmentation(settings: dict, gen: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """What every input of D goes through (:func:`requested`), drawing from ``gen``: a DiffAugment policy, an
    :class:`ganbench.ada.AdaPipe` (its ``p`` set each step by :func:`ganbench.ada.probability`, or moved by its
    own heuristic with ``ada_target``), or None."""
    asked = requested(settings)
    if asked is None:
        return None
    if asked.startswith("ada="):
        from ganbench.ada import SPECS, AdaPipe

        return AdaPipe(SPECS[settings["ada"]], gen, p=settings["ada_p"], target=settings.get("ada_target", 0.0),
                       kimg=settings.get("ada_kimg", 500))
    return functools.partial(diff_augment, policy=settings["augment"], gen=gen)
