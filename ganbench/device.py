"""Choosing the device: ``auto`` picks CUDA, then MPS, then CPU."""

from __future__ import annotations

import re

import torch

from ganbench.errors import UsageError

DEVICE_HELP = "auto|cpu|cuda|cuda:N|mps"


def resolve_device(spec: str = "auto", flag: str = "--device") -> torch.device:
    """Turn a ``--device`` value (or one of ``--devices``: ``flag``) into a torch.device, or raise
    UsageError saying what is available."""
    s = "auto" if spec is None else spec.strip().lower()
    if not s:  # '' is a typo (an unset variable), never "auto"
        raise UsageError(f"{flag} {spec!r} names no device; expected {DEVICE_HELP}")
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if s == "auto":
        return torch.device("cuda" if cuda_ok else "mps" if mps_ok else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if m:
        if not cuda_ok:
            raise UsageError(f"{flag} {spec}: CUDA is not available on this machine (use --device cpu or auto)")
        idx = int(m.group(1) or 0)
        if idx >= torch.cuda.device_count():
            raise UsageError(f"{flag} {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device("cuda", idx)
    if s == "mps":
        if not mps_ok:
            raise UsageError(f"{flag} {spec}: MPS is not available on this machine (use --device cpu or auto)")
        return torch.device("mps")
    raise UsageError(f"{flag} {spec!r} is not a device; expected {DEVICE_HELP}")
