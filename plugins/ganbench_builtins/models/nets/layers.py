"""The discriminator normalisations the built-in models offer (model option ``norm``).

- ``batch``: BatchNorm (samples of a batch interact: a per-sample gradient penalty is ill-defined).
- ``layer``: layer normalisation per sample, over all features of a layer (GroupNorm with one group
  for conv maps = LayerNorm over C×H×W with a per-channel affine); WGAN-GP's recommended replacement.
- ``spectral``: spectral normalisation of every weight of D (Miyato et al. 2018), no feature norm.
- ``none``: nothing.
"""

from __future__ import annotations

from torch import nn

from ganbench_builtins.models.common import NORMS


def feature_norm(norm: str, channels: int, spatial: bool) -> list[nn.Module]:
    """The normalisation layer to put after a linear/conv layer of D (empty list: none)."""
    if norm == "batch":
        return [nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)]
    if norm == "layer":
        return [nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)]
    if norm in ("spectral", "none"):
        return []
    raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (one power iteration per forward in training) on every conv/linear."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module
