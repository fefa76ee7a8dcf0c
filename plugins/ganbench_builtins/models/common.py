"""What the model families share and what their specs name without importing torch."""

from __future__ import annotations

#: D normalisations (model option ``norm``), implemented in models/nets/layers.py
NORMS = ("batch", "layer", "spectral", "none")
