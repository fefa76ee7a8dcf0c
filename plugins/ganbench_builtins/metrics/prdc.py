"""Precision and recall (Kynkäänniemi et al. 2019, k = 3) and density and coverage (Naeem et al.
2020, k = 5) on the run's features (``--extractor``: the raw vectors for mixtures, the domain
classifier's or Inception's for images). Real and generated sets have the same size
(``eval_samples``; the real set is the first ``eval_samples`` of the real sample), as in both papers.

With ``r_k(x)`` the distance from ``x`` to its k-th nearest neighbour in its own set (itself excluded),
real set R (N points), generated set F (M points), ``B(x, r)`` the closed ball:

- precision = (1/M) Σ_f 1[∃ r ∈ R: ‖f − r‖ ≤ r_3(r)]
- recall    = (1/N) Σ_r 1[∃ f ∈ F: ‖r − f‖ ≤ r_3(f)]
- density   = (1/(k M)) Σ_f Σ_r 1[‖f − r‖ ≤ r_5(r)],   k = 5
- coverage  = (1/N) Σ_r 1[min_f ‖r − f‖ ≤ r_5(r)]

Closed balls (≤) as both papers write them; clovaai/generative-evaluation-prdc's code compares with < for
all four, which differs only at exact ties (a generated point exactly on a ball's boundary, e.g. a copy of
a real point's k-th neighbour). Distances come from ``torch.cdist`` in blocks of :data:`CHUNK` rows, so
10k × 10k sets never hold more than ``CHUNK × 10k`` distances at once.
"""

from __future__ import annotations

import torch

CHUNK = 1024
K_PR = 3
K_DC = 5


def kth_radii(x: torch.Tensor, k: int, chunk: int = CHUNK) -> torch.Tensor:
    """``[N]``: distance from each row of ``x`` to its k-th nearest other row."""
    out = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i : i + chunk], x)  # [c, N]
        out[i : i + chunk] = d.topk(k + 1, dim=1, largest=False).values[:, k]  # index 0 is the row itself
    return out


def prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = K_PR, k_dc: int = K_DC,
         chunk: int = CHUNK) -> dict[str, float]:
    real, fake = real.double().flatten(1), fake.double().flatten(1)
    r_real_pr, r_real_dc = kth_radii(real, k_pr, chunk), kth_radii(real, k_dc, chunk)
    r_fake_pr = kth_radii(fake, k_pr, chunk)
    precise = 0
    density = 0.0
    for i in range(0, len(fake), chunk):  # fake rows against every real point
        d = torch.cdist(fake[i : i + chunk], real)  # [c, N]
        precise += int((d <= r_real_pr).any(dim=1).sum())
        density += float((d <= r_real_dc).sum())
    recalled = 0
    covered = 0
    for i in range(0, len(real), chunk):  # real rows against every fake point
        d = torch.cdist(real[i : i + chunk], fake)  # [c, M]
        recalled += int((d <= r_fake_pr).any(dim=1).sum())
        covered += int((d.min(dim=1).values <= r_real_dc[i : i + chunk]).sum())
    return {
        "precision": precise / len(fake),
        "recall": recalled / len(real),
        "density": density / (k_dc * len(fake)),
        "coverage": covered / len(real),
    }


def compute(ctx) -> dict[str, object]:
    ext = ctx.extractor()
    fake = ctx.generated_features(extractor=ext)
    real = ctx.real_features(len(fake), extractor=ext)
    return {**prdc(real, fake), "prdc_extractor": ext.id, "prdc_n": len(fake)}
