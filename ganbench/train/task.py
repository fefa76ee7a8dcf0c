"""The task seam: what a training batch is and what G and the evaluation take.

:class:`GenerationTask` is noise → sample generation: a real batch is data rows (with their labels
for a conditional model), a generated batch is asked for by noise ``z`` (and labels drawn from the
seed's ``labels`` stream with the training split's class frequencies or uniformly: ``fake_labels``).
Every draw comes from a named stream of the cell's seed (:mod:`ganbench.seeding`); the task owns the
``data``, ``noise`` and ``labels`` streams and they are part of a checkpoint."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganbench import seeding
from ganbench.conditioning import class_probabilities, draw_labels
from ganbench.specs import Data


class BatchSampler:
    """Index batches over a fresh permutation each epoch (the last incomplete batch is dropped).
    Its position and generator are part of a checkpoint, so a resumed cell sees the same batches."""

    def __init__(self, n: int, batch_size: int, gen: torch.Generator):
        self.n, self.batch_size, self.gen = n, min(batch_size, n), gen
        self.perm: torch.Tensor | None = None
        self.pos = 0

    def __next__(self) -> torch.Tensor:
        if self.perm is None or self.pos + self.batch_size > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        self.pos += self.batch_size
        return self.perm[self.pos - self.batch_size : self.pos]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["generator"])
        self.perm, self.pos = state["perm"], state["pos"]


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, device: torch.device, batch: int = 500,
             y: torch.Tensor | None = None) -> torch.Tensor:
    """G's samples for noise ``z`` (CPU) — and labels ``y`` for a conditional G, ``G(z, y)`` — in eval
    mode (BatchNorm uses running statistics), on CPU."""
    was_training = G.training
    G.eval()
    try:
        if y is None:
            return torch.cat([G(z[i : i + batch].to(device)).float().cpu() for i in range(0, len(z), batch)])
        return torch.cat([G(z[i : i + batch].to(device), y[i : i + batch].to(device)).float().cpu()
                          for i in range(0, len(z), batch)])
    finally:
        G.train(was_training)


class GenerationTask:
    """Noise → samples, unconditional or class-conditional (``conditional``): the batches one cell
    trains on, drawn from its seed's streams."""

    kind = "generation"

    def __init__(self, data: Data, settings: dict[str, Any], seed: int, device: torch.device, conditional: bool):
        self.data, self.device, self.conditional = data, device, conditional
        self.batch_size, self.latent_dim = settings["batch_size"], settings["latent_dim"]
        self.x_all = data.x.to(device)  # [N, *shape]
        if conditional and data.y is None:
            raise ValueError(f"a conditional model needs labelled data; {data.info.name} has no labels")
        self.y_all = data.y.to(device) if conditional else None  # [N] class indices
        name = data.info.name
        self.labels = seeding.generator(seed, "labels", name)
        self.probs = class_probabilities(data, settings.get("fake_labels", "data")) if conditional else None
        self.batches = BatchSampler(len(self.x_all), self.batch_size, seeding.generator(seed, "data", name))
        self.noise = seeding.generator(seed, "noise", name)

    def real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next real batch and its labels (None for an unconditional model)."""
        index = next(self.batches)
        return self.x_all[index], self.y_all[index] if self.conditional else None

    def fake_labels(self) -> torch.Tensor | None:
        """Labels the next generated batch is asked for (conditional models only: the stream is
        untouched otherwise)."""
        return draw_labels(self.probs, self.batch_size, self.labels).to(self.device) if self.conditional else None

    def z(self) -> torch.Tensor:
        """Noise of the next generated batch."""
        return torch.randn(self.batch_size, self.latent_dim, generator=self.noise).to(self.device)

    def random_state(self) -> dict[str, Any]:
        return {"batches": self.batches.state_dict(), "noise": self.noise.get_state(),
                "labels": self.labels.get_state()}

    def set_random_state(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state["batches"])
        self.noise.set_state(state["noise"])
        if "labels" in state:  # checkpoints of ganbench before conditional models have none (never drawn from)
            self.labels.set_state(state["labels"])
