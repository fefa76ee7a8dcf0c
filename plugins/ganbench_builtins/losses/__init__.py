"""Built-in losses, written on raw discriminator scores d (logits / critic values), with numerically
stable forms; one module per family (adversarial.py, wasserstein.py), penalties in penalties.py.
With D(x) = sigmoid(d): log D = -softplus(-d) and log(1 - D) = -softplus(d).

============  =====================================================  ===================================
name          L_D (minimised by D)                                   L_G (minimised by G)
============  =====================================================  ===================================
minimax       softplus(-d_r) + softplus(d_f)                         -softplus(d_f) = E[log(1 - D(G(z)))]
nonsat        softplus(-d_r) + softplus(d_f)                         softplus(-d_f) = -E[log D(G(z))]
label-smooth  s·softplus(-d_r) + (1-s)·softplus(d_r) + softplus(d_f)  softplus(-d_f)  (s = real target 0.9)
wgan          E[d_f] - E[d_r]; weights clipped to [-c, c] after      -E[d_f]
              each D update
wgan-gp       E[d_f] - E[d_r] + λ E[(‖∇D(x̂)‖₂ - 1)²]                 -E[d_f]
lsgan         ½E[(d_r - b)²] + ½E[(d_f - a)²]                        ½E[(d_f - c)²]
hinge         E[relu(1 - d_r)] + E[relu(1 + d_f)]                    -E[d_f]
nonsat-r1     nonsat's + γ/2 E[‖∇D(x)‖²] on real x (lazy, R1)        softplus(-d_f)
rpgan-r1r2    softplus(d_f - d_r) + γ/2 (E‖∇D(x)‖² + E‖∇D(x̃)‖²)       softplus(d_r - d_f)
============  =====================================================  ===================================

Means over the batch everywhere. ``minimax`` is the true saturating loss (its G gradient
-sigmoid(d_f) vanishes when D confidently rejects fakes); it is never replaced by ``nonsat``.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench_builtins.losses import adversarial, wasserstein

#: the family modules; each has ``SPECS``
FAMILIES = (adversarial, wasserstein)


@hookimpl
def ganbench_register_losses(registry):
    for family in FAMILIES:
        for spec in family.SPECS:
            registry.add_loss(spec)
