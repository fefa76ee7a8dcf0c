"""ADA's augmentation pipeline (Karras, Aittala, Hellsten, Laine, Lehtinen, Aila 2020, "Training Generative
Adversarial Networks with Limited Data", NeurIPS, appendix B; the authors' code
github.com/NVlabs/stylegan2-ada-pytorch ``training/augment.py``, which R3GAN's code,
github.com/brownvc/R3GAN, carries unchanged): every image D sees — real and generated, in D's and G's
updates and in a penalty's passes through D — goes through a fixed chain of transforms, each applied to a
sample with probability ``multiplier · p``.

Setting ``ada`` names the chain (:data:`SPECS`: the code's ``augpipe_specs`` names, and ``r3gan`` — R3GAN's
``train.py``: blit and geometric ops at 1, the colour ops at 0.5, cutout at 1); ``ada_p`` is the
probability p. With ``ada_p_schedule`` and ``schedule_images`` > 0, p rises from 0 to ``ada_p`` along the
half cosine of :func:`ganbench.train.optim.cosine` over ``schedule_images`` images, then holds (R3GAN's
``aug_scheduler``: CIFAR-10 0 → 0.55 over 2e7 images). With ``ada_target`` > 0, p is ADA's *adaptive* one
(StyleGAN2-ADA ``training_loop.py``): it starts at ``ada_p``; every :data:`ADA_INTERVAL` steps the mean sign
of D's raw scores of the real batches of its main updates since the last adjustment, r_t, moves p by
sign(r_t − target) · n / (``ada_kimg`` · 1000), n the real images scored (interval · batch, as the code, at
one D update a step), never below 0 and not capped above (as the code: p may pass 1); the code also counts
the real scores of its lazy R1 passes, ours are computed inside the loss's penalty and not counted. That
reads r_t on the host every 4 steps, as the code does. The sign of D's raw score means "looks real" for
losses whose D outputs a logit or a hinge score about 0 (nonsat, minimax, nonsat-r1, label-smooth, hinge:
StyleGAN2-ADA defines r_t for its logistic loss); with lsgan's 0/1 coding, a Wasserstein critic's
arbitrary offset or rpgan-r1r2's relative scores it does not, and the heuristic is not ADA's there.

The ops, their order, their distributions and the order of their draws are the code's:

- pixel blitting: x-flip, rotations by multiples of 90°, integer translation (up to 0.125 of the size);
- general geometry: isotropic scaling (log2-normal, σ 0.2), rotation before and after anisotropic scaling
  (each with 1 − √(1 − p·mult), so that one of them happens with p·mult), anisotropic scaling (log2-normal,
  σ 0.2), fractional translation (normal, σ 0.125 of the size). All geometric ops of one image are one
  inverse homogeneous matrix, executed once: the image is reflect-padded as far as the transformed
  corners need, upsampled 2× with the ``sym6`` wavelet's low-pass filter, resampled bilinearly
  (``grid_sample``, zeros outside), filtered and downsampled 2× back;
- colour: brightness (+N(0, 0.2²)), contrast (× 2^N(0, 0.5²)), luma flip, hue rotation about the luma
  axis, saturation (× 2^N(0, 1)) — one 4×4 matrix per image; a one-channel image takes the mean of its
  first three rows (the code's rule; hue and saturation are skipped there);
- image-space filtering: four frequency bands (the ``sym2`` filter bank) amplified by 2^N(0, 1) each,
  normalised to the expected power (10, 1, 1, 1)/13;
- additive noise: N(0, σ²) per pixel, σ = |N(0, 0.1²)| per image;
- cutout: a rectangle of half the image's size set to 0 (mid-grey for images in [-1, 1]).

The draws come from the cell's ``augment`` stream (a CPU generator; the values are moved to the device),
not torch's global generator, so runs are reproducible and independent of the device; on a GPU each call
copies its draws and matrices to the device (a few host-to-device copies per call, as DiffAugment's). It
runs in float32 whatever the images' precision (under ``amp=bf16`` too: R3GAN's loss calls it on float32
images). As in the code, a chain with geometric ops resamples every image even at p = 0 (an identity up to
float32 rounding). A penalty's pass through D draws its own augmentation (R3GAN takes R1 and R2 from the
loss's augmented pass: the same expectation, other draws). On CUDA, ``--deterministic`` fails a cell with
geometric ops: ``grid_sample``'s and reflection padding's backward passes have no deterministic kernels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: low-pass filters of the Daubechies symlets (the decomposition filters as published; the code's
#: ``wavelets`` table lists the same numbers)
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)

_BLIT = {"xflip": 1, "rotate90": 1, "xint": 1}
_GEOM = {"scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1}
_COLOR = {"brightness": 1, "contrast": 1, "lumaflip": 1, "hue": 1, "saturation": 1}
#: the chains setting ``ada`` names: each op's probability multiplier (ADA's ``augpipe_specs``; ``r3gan``:
#: R3GAN's ``train.py``)
SPECS: dict[str, dict[str, float]] = {
    "blit": _BLIT, "geom": _GEOM, "color": _COLOR, "filter": {"imgfilter": 1}, "noise": {"noise": 1},
    "cutout": {"cutout": 1}, "bg": {**_BLIT, **_GEOM}, "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
    "r3gan": {**_BLIT, **_GEOM, **{k: 0.5 for k in _COLOR}, "cutout": 1},
}

#: steps between adjustments of the adaptive p (the code's ``ada_interval``)
ADA_INTERVAL = 4

#: the ops' strengths (ADA's defaults, which every spec uses)
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
IMGFILTER_STD, NOISE_STD, CUTOUT_SIZE = 1.0, 0.1, 0.5
EXPECTED_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)  # of the four bands (a 1/f spectrum)


def check_images(spec: str, shape: tuple[int, ...]) -> str | None:
    """Why chain ``spec`` cannot augment samples of ``shape`` ``(C, H, W)``, or None."""
    m = SPECS[spec]
    if len(shape) != 3:
        return "applies to images"
    c, h, w = shape
    if c not in (1, 3) and any(k in m for k in _COLOR):
        return f"has colour ops, which apply to RGB or one-channel images, not to {c} channels"
    half = filter_bank().shape[1] // 2
    if "imgfilter" in m and min(h, w) <= half:
        return f"has image-space filtering, which needs images larger than {half} pixels, not {h}×{w}"
    return None


def check_spec(value: str) -> str | None:
    """None for ``none`` or a name of :data:`SPECS`; else what is expected."""
    if value == "none" or value in SPECS:
        return None
    return f"expects none or one of {', '.join(SPECS)}"


def probability(settings: dict[str, Any], step: int) -> float:
    """p at ``step`` (1, 2, ...): ``ada_p``, or with ``ada_p_schedule`` and ``schedule_images`` > 0 the half
    cosine from 0 to ``ada_p`` over the images seen before the step, (step − 1) · batch_size (R3GAN sets it
    before each iteration, as its other schedules)."""
    from ganbench.train.optim import cosine  # the one half cosine of R3GAN's schedules (ganbench.train imports this)

    p = settings.get("ada_p", 0.0)
    if settings.get("ada_p_schedule", False) and settings.get("schedule_images", 0) > 0:
        return cosine((step - 1) * settings["batch_size"], 0.0, p, settings["schedule_images"])
    return p


def filter_bank() -> np.ndarray:
    """``[4, 43]``: the band-pass filters of image-space filtering, from ``sym2`` (ADA's construction: each
    finer band is the coarser bank upsampled by zero insertion and smoothed with H(z)H(z⁻¹)/2, plus the
    high-pass H(−z)H(−z⁻¹)/2 of its own band)."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, 4):
        up = np.zeros((4, bank.shape[1] * 2 - 1))
        up[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in up])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start:start + hi2.size] += hi2
    return bank


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int, int, int] = (0, 0, 0, 0),
              flip: bool = False, gain: float = 1.0) -> torch.Tensor:
    """``x`` ``[N, C, H, W]`` upsampled by zero insertion, padded (negative: cropped) by ``pad`` = (x0, x1,
    y0, y1), filtered with the separable 1-D filter ``f`` on both axes (a convolution; ``flip``: a
    correlation) with ``gain`` in all, and downsampled by keeping every ``down``-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    f = (f * math.sqrt(gain)).to(x.device, x.dtype)
    if not flip:
        f = f.flip(0)
    k = f.reshape(1, 1, -1).repeat(c, 1, 1)
    x = F.conv2d(x, k.unsqueeze(2), groups=c)
    x = F.conv2d(x, k.unsqueeze(3), groups=c)
    return x[:, :, ::down, ::down]


def _mat(n: int, rows: list[list], device) -> torch.Tensor:
    """``[n, R, R]`` from rows of floats and ``[n]`` tensors."""
    size = len(rows)
    out = torch.zeros(n, size, size, device=device)
    for r, row in enumerate(rows):
        for col, v in enumerate(row):
            out[:, r, col] = v
    return out


def _translate2d(n, tx, ty, device):
    return _mat(n, [[1, 0, tx], [0, 1, ty], [0, 0, 1]], device)


def _scale2d(n, sx, sy, device):
    return _mat(n, [[sx, 0, 0], [0, sy, 0], [0, 0, 1]], device)


def _rotate2d(n, theta, device):
    return _mat(n, [[torch.cos(theta), -torch.sin(theta), 0], [torch.sin(theta), torch.cos(theta), 0], [0, 0, 1]],
                device)


def _translate3d(n, t, device):
    return _mat(n, [[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], device)


def _scale3d(n, s, device):
    return _mat(n, [[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], device)


def _rotate3d(n, v, theta, device):
    """Rotation by ``theta`` about the unit axis ``v`` (Rodrigues)."""
    vx, vy, vz = (float(v[i]) for i in range(3))
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _mat(n, [[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                    [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                    [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                    [0, 0, 0, 1]], device)


class AdaPipe:
    """One chain of :data:`SPECS` (``multipliers``: op → probability multiplier), called on ``[N, C, H, W]``
    images with draws from ``gen``; :attr:`p` is the probability it applies now."""

    def __init__(self, multipliers: dict[str, float], gen: torch.Generator, p: float = 0.0, target: float = 0.0,
                 kimg: float = 500.0):
        unknown = set(multipliers) - {*_BLIT, *_GEOM, *_COLOR, "imgfilter", "noise", "cutout"}
        if unknown:
            raise ValueError(f"unknown ADA ops: {', '.join(sorted(unknown))}")
        self.m = {k: float(multipliers.get(k, 0.0)) for k in (*_BLIT, *_GEOM, *_COLOR, "imgfilter", "noise", "cutout")}
        self.gen, self.p = gen, float(p)
        #: adaptive p (``target`` > 0): the sum of signs of D's real scores since the last adjustment (a
        #: device tensor: no host sync until :meth:`adjust`) and their count
        self.target, self.kimg = float(target), float(kimg)
        self.signs: torch.Tensor | None = None
        self.count = 0
        self.h_geom = torch.tensor(SYM6, dtype=torch.float32)
        self.h_geom = self.h_geom / self.h_geom.sum()  # the code's setup_filter: float32, normalised to sum 1
        self.fbank = torch.as_tensor(filter_bank(), dtype=torch.float32)

    @property
    def adaptive(self) -> bool:
        return self.target > 0

    def observe(self, d_real: torch.Tensor) -> None:
        """Count the signs of D's raw scores of a real batch (its main update's) toward r_t."""
        total = d_real.detach().float().sign().sum()
        self.signs = total if self.signs is None else self.signs + total
        self.count += d_real.numel()

    def adjust(self) -> float:
        """ADA's heuristic, every :data:`ADA_INTERVAL` steps: p moves by sign(r_t − target) · n / (kimg · 1000),
        n the real images whose scores were counted (the code's interval · batch at one D update a step; D's
        real images with n_critic > 1), clamped at 0 and not above (as the code); returns r_t. Reads the sum of
        signs on the host."""
        r_t = float(self.signs) / self.count if self.count else self.target
        self.p = max(self.p + float(np.sign(r_t - self.target)) * self.count / (self.kimg * 1000), 0.0)
        self.signs, self.count = None, 0
        return r_t

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of an adaptive p (its draws are in the task's ``augment`` stream)."""
        return {"p": self.p, "signs": None if self.signs is None else self.signs.detach().cpu(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.p, self.count = float(state["p"]), int(state["count"])
        self.signs = None if state["signs"] is None else state["signs"].to(device)

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen)

    def _chosen(self, op: str, *shape: int) -> torch.Tensor:
        """Which samples the op applies to (the code's ``rand < multiplier · p``)."""
        return self._rand(*shape) < self.m[op] * self.p

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"ada applies to images [N, C, H, W]; this data's samples are {tuple(images.shape[1:])}")
        dtype = images.dtype
        with torch.autocast(images.device.type, enabled=False):  # in float32 under amp too, as R3GAN's loss runs it
            out = self._chain(images if dtype == torch.float64 else images.float())
        return out.to(dtype)

    def _chain(self, images: torch.Tensor) -> torch.Tensor:
        images = self._geometry(images)
        images = self._colour(images)
        if self.m["imgfilter"] > 0:
            images = self._filter(images)
        n, c, h, w = images.shape
        dev = images.device
        if self.m["noise"] > 0:
            sigma = self._randn(n, 1, 1, 1).abs() * NOISE_STD
            sigma = torch.where(self._chosen("noise", n, 1, 1, 1), sigma, torch.zeros_like(sigma))
            images = images + (self._randn(n, c, h, w) * sigma).to(dev, images.dtype)
        if self.m["cutout"] > 0:
            size = torch.full((n, 2, 1, 1, 1), CUTOUT_SIZE)
            size = torch.where(self._chosen("cutout", n, 1, 1, 1, 1), size, torch.zeros_like(size))
            center = self._rand(n, 2, 1, 1, 1)
            size, center = size.to(dev), center.to(dev)
            cx = torch.arange(w, device=dev).reshape(1, 1, 1, -1)
            cy = torch.arange(h, device=dev).reshape(1, 1, -1, 1)
            mask_x = ((cx + 0.5) / w - center[:, 0]).abs() >= size[:, 0] / 2
            mask_y = ((cy + 0.5) / h - center[:, 1]).abs() >= size[:, 1] / 2
            images = images * torch.logical_or(mask_x, mask_y).to(images.dtype)
        return images

    def _geometry(self, images: torch.Tensor) -> torch.Tensor:
        m = self.m
        if not any(m[k] > 0 for k in (*_BLIT, *_GEOM)):
            return images
        n, c, h, w = images.shape
        cpu = torch.device("cpu")
        g_inv = torch.eye(3).expand(n, 3, 3)  # G_inv @ output pixel = input pixel
        if m["xflip"] > 0:
            i = torch.floor(self._rand(n) * 2)
            i = torch.where(self._chosen("xflip", n), i, torch.zeros_like(i))
            g_inv = g_inv @ _scale2d(n, 1 / (1 - 2 * i), 1, cpu)
        if m["rotate90"] > 0:
            i = torch.floor(self._rand(n) * 4)
            i = torch.where(self._chosen("rotate90", n), i, torch.zeros_like(i))
            g_inv = g_inv @ _rotate2d(n, math.pi / 2 * i, cpu)
        if m["xint"] > 0:
            t = (self._rand(n, 2) * 2 - 1) * XINT_MAX
            t = torch.where(self._chosen("xint", n, 1), t, torch.zeros_like(t))
            g_inv = g_inv @ _translate2d(n, -torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h), cpu)
        if m["scale"] > 0:
            s = torch.exp2(self._randn(n) * SCALE_STD)
            s = torch.where(self._chosen("scale", n), s, torch.ones_like(s))
            g_inv = g_inv @ _scale2d(n, 1 / s, 1 / s, cpu)
        p_rot = 1 - math.sqrt(min(max(1 - m["rotate"] * self.p, 0.0), 1.0))  # P(before or after) = mult · p
        if m["rotate"] > 0:
            theta = (self._rand(n) * 2 - 1) * math.pi * ROTATE_MAX
            theta = torch.where(self._rand(n) < p_rot, theta, torch.zeros_like(theta))
            g_inv = g_inv @ _rotate2d(n, theta, cpu)  # before the anisotropic scaling
        if m["aniso"] > 0:
            s = torch.exp2(self._randn(n) * ANISO_STD)
            s = torch.where(self._chosen("aniso", n), s, torch.ones_like(s))
            g_inv = g_inv @ _scale2d(n, 1 / s, s, cpu)
        if m["rotate"] > 0:
            theta = (self._rand(n) * 2 - 1) * math.pi * ROTATE_MAX
            theta = torch.where(self._rand(n) < p_rot, theta, torch.zeros_like(theta))
            g_inv = g_inv @ _rotate2d(n, theta, cpu)  # after it
        if m["xfrac"] > 0:
            t = self._randn(n, 2) * XFRAC_STD
            t = torch.where(self._chosen("xfrac", n, 1), t, torch.zeros_like(t))
            g_inv = g_inv @ _translate2d(n, -t[:, 0] * w, -t[:, 1] * h, cpu)

        # how far the transformed corners reach beyond the image, plus the filter's support: the padding
        cx, cy = (w - 1) / 2, (h - 1) / 2
        corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]])
        reach = (g_inv @ corners.t())[:, :2, :].permute(1, 0, 2).flatten(1)  # [xy, n · corner]
        margin = torch.cat([-reach, reach]).max(dim=1).values  # x0, y0, x1, y1
        pad = len(SYM6) // 4
        margin = margin + torch.tensor([pad * 2 - cx, pad * 2 - cy] * 2)
        margin = margin.clamp(min=0).minimum(torch.tensor([w - 1, h - 1] * 2, dtype=margin.dtype))
        mx0, my0, mx1, my1 = (int(v) for v in margin.ceil().tolist())

        images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
        g_inv = _translate2d(n, (mx0 - mx1) / 2, (my0 - my1) / 2, cpu) @ g_inv
        images = upfirdn2d(images, self.h_geom, up=2, pad=(6, 5, 6, 5), gain=4.0)
        g_inv = _scale2d(n, 2, 2, cpu) @ g_inv @ _scale2d(n, 0.5, 0.5, cpu)
        g_inv = _translate2d(n, -0.5, -0.5, cpu) @ g_inv @ _translate2d(n, 0.5, 0.5, cpu)
        shape = [n, c, (h + pad * 2) * 2, (w + pad * 2) * 2]
        g_inv = (_scale2d(n, 2 / images.shape[3], 2 / images.shape[2], cpu) @ g_inv
                 @ _scale2d(n, shape[3] / 2, shape[2] / 2, cpu))
        theta = g_inv[:, :2, :].to(images.device, images.dtype)
        grid = F.affine_grid(theta, shape, align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # the code's downsample2d(padding=-2·pad, flip_filter=True): crop 2·pad less the filter's half-width
        crop = -pad * 2 + (len(SYM6) - 2 + 1) // 2
        return upfirdn2d(images, self.h_geom, down=2, pad=(crop, crop, crop, crop), flip=True)

    def _colour(self, images: torch.Tensor) -> torch.Tensor:
        m = self.m
        n, c, h, w = images.shape
        rgb = c > 1
        if not (any(m[k] > 0 for k in ("brightness", "contrast", "lumaflip"))
                or (rgb and any(m[k] > 0 for k in ("hue", "saturation")))):
            return images
        cpu = torch.device("cpu")
        eye = torch.eye(4)
        C = eye.expand(n, 4, 4)
        v = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)  # the luma axis
        vv = torch.outer(v, v)
        if m["brightness"] > 0:
            b = self._randn(n) * BRIGHTNESS_STD
            b = torch.where(self._chosen("brightness", n), b, torch.zeros_like(b))
            C = _translate3d(n, b, cpu) @ C
        if m["contrast"] > 0:
            s = torch.exp2(self._randn(n) * CONTRAST_STD)
            s = torch.where(self._chosen("contrast", n), s, torch.ones_like(s))
            C = _scale3d(n, s, cpu) @ C
        if m["lumaflip"] > 0:
            i = torch.floor(self._rand(n, 1, 1) * 2)
            i = torch.where(self._chosen("lumaflip", n, 1, 1), i, torch.zeros_like(i))
            C = (eye - 2 * vv * i) @ C  # a Householder reflection
        if m["hue"] > 0 and rgb:
            theta = (self._rand(n) * 2 - 1) * math.pi * HUE_MAX
            theta = torch.where(self._chosen("hue", n), theta, torch.zeros_like(theta))
            C = _rotate3d(n, v, theta, cpu) @ C
        if m["saturation"] > 0 and rgb:
            s = torch.exp2(self._randn(n, 1, 1) * SATURATION_STD)
            s = torch.where(self._chosen("saturation", n, 1, 1), s, torch.ones_like(s))
            C = (vv + (eye - vv) * s) @ C
        C = C.to(images.device, images.dtype)
        flat = images.reshape(n, c, h * w)
        if c == 3:
            flat = C[:, :3, :3] @ flat + C[:, :3, 3:]
        elif c == 1:
            mean = C[:, :3, :].mean(dim=1, keepdim=True)
            flat = flat * mean[:, :, :3].sum(dim=2, keepdim=True) + mean[:, :, 3:]
        else:
            raise ValueError(f"ada's colour ops apply to RGB or one-channel images; these have {c} channels")
        return flat.reshape(n, c, h, w)

    def _filter(self, images: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        bands = self.fbank.shape[0]
        power = torch.tensor(EXPECTED_POWER)
        g = torch.ones(n, bands)
        for i in range(bands):  # every band at strength 1 (the code's imgfilter_bands)
            t_i = torch.exp2(self._randn(n) * IMGFILTER_STD)
            t_i = torch.where(self._chosen("imgfilter", n), t_i, torch.ones_like(t_i))
            t = torch.ones(n, bands)
            t[:, i] = t_i
            g = g * (t / (power * t.square()).sum(dim=-1, keepdim=True).sqrt())
        taps = (g @ self.fbank).unsqueeze(1).repeat(1, c, 1).reshape(n * c, 1, -1).to(images.device, images.dtype)
        half = self.fbank.shape[1] // 2
        if min(h, w) <= half:
            raise ValueError(f"ada's image-space filtering needs images larger than {half} pixels; these are {h}×{w}")
        x = F.pad(images.reshape(1, n * c, h, w), [half] * 4, mode="reflect")
        x = F.conv2d(x, taps.unsqueeze(2), groups=n * c)
        x = F.conv2d(x, taps.unsqueeze(3), groups=n * c)
        return x.reshape(n, c, h, w)
