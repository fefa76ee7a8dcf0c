"""BigGAN at 32 px (Brock et al. 2019; the CIFAR-10 layout of its appendix, blocks 4·ch wide):

    z [latent] = [z0 | z1 | z2 | z3]              (hierarchical latent: one chunk per G block + the input)
    c_i = [shared(y), z_i]                        (shared class embedding, one table for every block)
    G: SNLinear(z0) -> [4ch, 4, 4] -> GBlock(c1) 8 -> GBlock(c2) 16 -> attention -> GBlock(c3) 32
       -> BN, ReLU, SNConv3×3 -> tanh             (every GBlock: conditional BN whose γ, β are SN-linear in c_i)
    D: DBlock(first, ↓) 16 -> attention -> DBlock(↓) 8 -> DBlock -> DBlock -> ReLU -> Σ_{h,w}
       -> SNLinear(h) + ⟨SNEmbed(y), h⟩          (projection)

Orthogonal regularisation (section 3.1): ``G.regularization()`` = β/2 Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F over
G's conv and linear weights, each flattened to [out, in·k·k], the conditional-BN maps included and
only the shared embedding excluded — as the authors' code does (BigGAN-PyTorch ``train_fns.py``:
``utils.ortho(G, G_ortho, blacklist=[param for param in G.shared.parameters()])``; ``utils.ortho``
skips only 1-D parameters and the blacklist); its gradient 2β (W Wᵀ ⊙ (1 − I)) W is the update
``utils.ortho`` applies. The training adds it to G's loss. Off (β = 0) in the authors' CIFAR-10 script.

Initialisation: ``init="N02"`` (N(0, 0.02), the CIFAR-10 script's ``--G_init N02 --D_init N02``) or
``"ortho"`` (orthogonal, the paper's and the ImageNet scripts'), for every conv, linear and embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from ganbench.specs import DataInfo
from ganbench_builtins.models.nets.layers import DBlock, GBlock, SelfAttention, raw_weight, sn

BLOCKS = 3  # 4 -> 8 -> 16 -> 32


class BigGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, num_classes: int, channels: int, ch: int, shared: int, attention: bool,
                 ortho: float, init: str = "ortho"):
        super().__init__()
        if latent_dim < BLOCKS + 1:
            raise ValueError(f"biggan splits z into {BLOCKS + 1} chunks: latent_dim must be at least {BLOCKS + 1}")
        self.chunk = latent_dim // (BLOCKS + 1)
        self.first = latent_dim - BLOCKS * self.chunk  # z0 takes the remainder
        self.width, self.ortho = 4 * ch, ortho
        self.shared = nn.Embedding(num_classes, shared)
        self.linear = sn(nn.Linear(self.first, self.width * 4 * 4))
        self.blocks = nn.ModuleList(
            GBlock(self.width, self.width, shared + self.chunk, linear=True, spectral=True) for _ in range(BLOCKS))
        self.attention = SelfAttention(self.width) if attention else None
        self.out = nn.Sequential(nn.BatchNorm2d(self.width), nn.ReLU(), sn(nn.Conv2d(self.width, channels, 3, 1, 1)),
                                 nn.Tanh())
        initialise(self, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, latent], [N] -> [N, C, 32, 32]
        zs = torch.split(z, [self.first] + [self.chunk] * BLOCKS, dim=1)
        e = self.shared(y)  # [N, shared]
        h = self.linear(zs[0]).view(len(z), self.width, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, torch.cat([e, zs[i + 1]], dim=1))
            if i == 1 and self.attention is not None:  # at 16×16
                h = self.attention(h)
        return self.out(h)

    def regularization(self) -> torch.Tensor:
        """β/2 Σ ‖W Wᵀ ⊙ (1 − I)‖²_F over G's conv/linear weights (0 when ``ortho`` = 0)."""
        total = torch.zeros((), device=self.linear.weight.device)
        if not self.ortho:
            return total
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)) and not name.startswith("shared"):
                w = raw_weight(module).flatten(1)  # [out, in·k·k]: the parameter, before spectral norm
                gram = w @ w.t()
                total = total + (gram * (1 - torch.eye(len(gram), device=w.device))).pow(2).sum()
        return self.ortho / 2 * total


#: weight initialisations: the CIFAR-10 script's N(0, 0.02), the paper's orthogonal
INITS = ("N02", "ortho")


def initialise(net: nn.Module, init: str) -> None:
    """Every conv, linear and embedding weight of ``net`` (before spectral norm) as BigGAN-PyTorch's
    ``init_weights`` does it: ``N02`` → N(0, 0.02), ``ortho`` → orthogonal."""
    if init not in INITS:
        raise ValueError(f"biggan: init must be one of {', '.join(INITS)}, got {init!r}")
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if init == "ortho":
                nn.init.orthogonal_(raw_weight(m))
            else:
                nn.init.normal_(raw_weight(m), 0.0, 0.02)


class BigGANDiscriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int, ch: int, attention: bool, init: str = "ortho"):
        super().__init__()
        width = 4 * ch
        self.first = DBlock(channels, width, down=True, first=True)  # 32 -> 16
        self.attention = SelfAttention(width) if attention else None
        self.blocks = nn.Sequential(DBlock(width, width, down=True), DBlock(width, width, down=False),
                                    DBlock(width, width, down=False))  # 16 -> 8, 8, 8
        self.linear = sn(nn.Linear(width, 1))
        self.embed = sn(nn.Embedding(num_classes, width))
        initialise(self, init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N, C, 32, 32], [N] -> [N]
        h = self.first(x)
        if self.attention is not None:
            h = self.attention(h)
        h = nn.functional.relu(self.blocks(h)).sum(dim=(2, 3))  # [N, width]
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(1)


def build(info: DataInfo, latent_dim: int, num_classes: int, ch: int = 16, shared: int = 128, attention: bool = False,
          ortho: float = 0.0, init: str = "N02") -> tuple[nn.Module, nn.Module]:
    channels = info.shape[0]
    return (BigGANGenerator(latent_dim, num_classes, channels, ch, shared, attention, ortho, init),
            BigGANDiscriminator(num_classes, channels, ch, attention, init))
