"""The task seam: what a training batch is and what G and the evaluation take.

:class:`GenerationTask` is noise → sample generation: a real batch is data rows (with their labels
for a conditional model), a generated batch is asked for by noise ``z`` (and labels drawn from the
seed's ``labels`` stream with the training split's class frequencies or uniformly: ``fake_labels``; with
``fake_labels=real`` the training step gives them the real batch's labels and never asks the task).
Every draw comes from a named stream of the cell's seed (:mod:`ganbench.seeding`); the task owns the
``data``, ``noise`` and ``labels`` streams and they are part of a checkpoint. The draws of several steps
can be made ahead and moved to the training device at once (:meth:`GenerationTask.fetch_ahead`):
the numbers are the same, drawn one batch at a time as before.

:class:`TranslationTask` is domain A → domain B translation (``DataInfo.task == "translation"``): G's input
is a batch of domain A (in place of noise), a real batch is domain B. Paired data draws pairs (the
``data`` stream); unpaired data draws B (``data``) and A (``data-a``) independently. A model whose D
looks at the input too (``condition="source"``, Pix2Pix) gets the batch's A images as D's ``y``. A G
that translates both ways (``G.both_ways``, CycleGAN) sees the two domains packed: its input is
``cat(A, B)`` and ``G.both`` returns ``cat(G_AB(A), G_BA(B))``; the real batch is ``cat(B, A)`` and D scores
each half with its own domain's network. D may see generated images through a history pool
(``pool_size``, Shrivastava et al. 2017; CycleGAN's 50), whose draws come from the ``pool`` stream and
whose images are part of a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
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


class _Back(nn.Module):
    """A both-ways G's translation from B to A (``G.back``) as a module :func:`generate` calls in eval mode."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.train(G.training)  # generate() restores this mode: the wrapped G's own

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return self.G.back(b)


def translate_back(G: nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``b -> G.back(b)`` in eval mode on ``device`` (CPU in, CPU out) for a G that translates both ways
    (CycleGAN), else None."""
    if not callable(getattr(G, "back", None)):
        return None
    return lambda b: generate(_Back(G), b, device)


class Prefetched:
    """The draws of one random stream made ``chunk`` at a time on the host, each exactly as it would be
    drawn alone (so the stream is the one drawn step by step: one draw of K·batch rows is not K draws of
    batch rows), and moved to the device in one copy. :meth:`stream_state` is the stream's state after the
    draws *used* so far, replayed from its state before the last refill: a checkpoint holds exactly the
    draws training consumed, whatever was fetched ahead. A draw that raises while fetching ahead raises
    when training reaches it, so a failure is reported at its own step."""

    def __init__(self, draw: Callable[[], torch.Tensor], get_state: Callable[[], Any],
                 set_state: Callable[[Any], None], device: torch.device):
        self.draw, self.get_state, self.set_state, self.device = draw, get_state, set_state, device
        self.chunk = 1
        self.buffer: torch.Tensor | None = None
        self.used = 0
        self.mark: Any = None  # the stream's state before the draws in the buffer
        self.error: Exception | None = None  # what the draw after the buffer's last raised

    def next(self) -> torch.Tensor:
        if self.buffer is None or self.used == len(self.buffer):
            if self.error is not None:  # a draw made ahead failed: it fails now, at the step it belongs to
                error, self.error = self.error, None
                raise error
            self.mark = self.get_state()
            rows = []
            try:
                for _ in range(self.chunk):
                    rows.append(self.draw())
            except Exception as exc:
                if not rows:
                    raise
                self.error = exc
            self.buffer = torch.stack(rows).to(self.device)
            self.used = 0
        self.used += 1
        return self.buffer[self.used - 1]

    def stream_state(self) -> Any:
        if self.buffer is None:
            return self.get_state()
        ahead = self.get_state()  # replayed even when the buffer is used up: a failed draw may have moved it
        self.set_state(self.mark)
        for _ in range(self.used):
            self.draw()
        state = self.get_state()
        self.set_state(ahead)
        return state

    def reset(self, state: Any) -> None:
        """Continue from ``state`` (a checkpoint's): nothing fetched ahead."""
        self.set_state(state)
        self.buffer, self.used, self.error = None, 0, None


class GenerationTask:
    """Noise → samples, unconditional or class-conditional (``conditional``): the batches one cell
    trains on, drawn from its seed's streams."""

    kind = "generation"
    #: D sees generated batches as they are (a translation task's history pool)
    pool = None

    def __init__(self, data: Data, settings: dict[str, Any], seed: int, device: torch.device, conditional: bool):
        self.data, self.device, self.conditional = data, device, conditional
        self.batch_size, self.latent_dim = settings["batch_size"], settings["latent_dim"]
        self.x_all = data.x.to(device)  # [N, *shape]
        #: image batches in channels-last memory format (``channels_last``)
        self.channels_last = bool(settings.get("channels_last", False)) and self.x_all.dim() == 4
        if conditional and data.y is None:
            raise ValueError(f"a conditional model needs labelled data; {data.info.name} has no labels")
        self.y_all = data.y.to(device) if conditional else None  # [N] class indices
        name = data.info.name
        self.labels = seeding.generator(seed, "labels", name)
        self.probs = class_probabilities(data, settings.get("fake_labels", "data")) if conditional else None
        self.batches = BatchSampler(len(self.x_all), self.batch_size, seeding.generator(seed, "data", name))
        self.noise = seeding.generator(seed, "noise", name)
        #: the draws of D's augmentation (DiffAugment, setting ``augment``, or ADA's, ``ada``): never drawn from without one
        self.augment = seeding.generator(seed, "augment", name)
        self._index = Prefetched(lambda: next(self.batches), self.batches.state_dict, self.batches.load_state_dict,
                                 device)
        dist = settings.get("latent_dist", "normal")
        self._z = Prefetched(lambda: seeding.latent(self.batch_size, self.latent_dim, self.noise, dist),
                             self.noise.get_state, self.noise.set_state, device)
        # an unconditional model never draws from it: its state stays the seed's
        self._y = Prefetched(lambda: draw_labels(self.probs, self.batch_size, self.labels), self.labels.get_state,
                             self.labels.set_state, device)

    def fetch_ahead(self, steps: int, n_critic: int, g_steps: int = 1, g_reg_interval: int | None = None) -> None:
        """Draw the batches of ``steps`` steps at a time (``n_critic`` D updates and ``g_steps`` G updates
        each, and G's regulariser phase every ``g_reg_interval`` steps: one more noise and label batch) and
        move them to the device in one copy per stream, instead of one per draw."""
        extra = -(-steps // g_reg_interval) if g_reg_interval else 0
        self._index.chunk = steps * n_critic
        self._z.chunk = steps * (n_critic + g_steps) + extra
        self._y.chunk = steps * (n_critic + g_steps) + extra

    def real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next real batch and its labels (None for an unconditional model)."""
        index = self._index.next()
        x = self.x_all[index]
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.y_all[index] if self.conditional else None

    def fake_labels(self) -> torch.Tensor | None:
        """Labels the next generated batch is asked for (conditional models only: the stream is
        untouched otherwise)."""
        return self._y.next() if self.conditional else None

    def z(self) -> torch.Tensor:
        """Noise of the next generated batch."""
        return self._z.next()

    def random_state(self) -> dict[str, Any]:
        """The task's streams as of the draws training used (whatever was fetched ahead)."""
        return {"batches": self._index.stream_state(), "noise": self._z.stream_state(),
                "labels": self._y.stream_state(), "augment": self.augment.get_state()}

    def set_random_state(self, state: dict[str, Any]) -> None:
        self._index.reset(state["batches"])
        self._z.reset(state["noise"])
        if "labels" in state:  # checkpoints of ganbench before conditional models have none (never drawn from)
            self._y.reset(state["labels"])
        if "augment" in state:  # nor before DiffAugment
            self.augment.set_state(state["augment"])


def pack(a: torch.Tensor, b: torch.Tensor, both_ways: bool, conditional: bool
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(real batch, G's input, D's y)`` of a translation batch of A images ``a`` and B images ``b``: ``(b, a,
    a or None)``, or for a G that translates both ways ``(cat(B, A), cat(A, B), None)`` — the one statement
    of the packing the training step and ganbench.testing's checks both use."""
    if both_ways:
        return torch.cat([b, a]), torch.cat([a, b]), None
    return b, a, a if conditional else None


class HistoryPool:
    """CycleGAN's image pool (``util/image_pool.py`` of junyanz/pytorch-CycleGAN-and-pix2pix): D's
    generated batch is drawn from the last ``size`` generated images. While the pool fills, each image
    goes in and through; then each image, with probability 1/2, swaps with a uniformly chosen pooled one
    (the pooled one goes to D), else goes through. A batch packed of ``parts`` domains (CycleGAN: the
    B half, then the A half) keeps one pool per part. Draws come from ``gen`` (CPU); the images stay on
    the training device, detached."""

    def __init__(self, size: int, parts: int, gen: torch.Generator):
        self.size, self.parts, self.gen = size, parts, gen
        self.images: list[list[torch.Tensor]] = [[] for _ in range(parts)]

    def __call__(self, fake: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return fake
        out = []
        for part, batch in zip(self.images, fake.detach().chunk(self.parts), strict=True):
            for image in batch:
                if len(part) < self.size:
                    part.append(image.clone())
                    out.append(image)
                elif torch.rand((), generator=self.gen).item() > 0.5:
                    i = int(torch.randint(0, self.size, (), generator=self.gen))
                    out.append(part[i])
                    part[i] = image.clone()
                else:
                    out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.gen.get_state(),
                "images": [torch.stack(p).cpu() if p else None for p in self.images]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.gen.set_state(state["generator"])
        self.images = [list(p.to(device).unbind(0)) if p is not None else [] for p in state["images"]]


class TranslationTask:
    """Domain A → domain B (see the module's docstring): the batches one cell trains on, drawn from its
    seed's streams. ``conditional``: D is called ``D(x, a)`` with the batch's A images; ``both_ways``: G
    and D hold both directions and see both domains packed."""

    kind = "translation"

    def __init__(self, data: Data, settings: dict[str, Any], seed: int, device: torch.device, conditional: bool,
                 both_ways: bool = False):
        info = data.info
        if data.source is None:
            raise ValueError(f"{info.name} is not a translation data set (no domain A)")
        if both_ways and tuple(info.source_shape) != tuple(info.shape):
            raise ValueError(f"a model that translates both ways needs both domains of one shape; {info.name}'s "
                             f"are {tuple(info.source_shape)} and {tuple(info.shape)}")
        if conditional and int(settings.get("pool_size", 0)) > 0:  # a pooled output is not the current input's
            raise ValueError(f"pool_size={settings['pool_size']}: a D that looks at G's input would score pooled outputs "
                             "beside other inputs; the history pool is for a D of the output alone (CycleGAN)")
        self.data, self.device, self.conditional, self.both_ways = data, device, conditional, both_ways
        self.paired = bool(info.paired)
        self.b_all, self.a_all = data.x.to(device), data.source.to(device)
        self.channels_last = bool(settings.get("channels_last", False))
        name = info.name
        # one batch size on both sides (both_ways packs them): at most either domain's size
        self.batch_size = min(settings["batch_size"], len(self.b_all), len(self.a_all))
        self.batches = BatchSampler(len(self.b_all), self.batch_size, seeding.generator(seed, "data", name))
        self._index = Prefetched(lambda: next(self.batches), self.batches.state_dict, self.batches.load_state_dict,
                                 device)
        self.a_batches = None if self.paired else BatchSampler(len(self.a_all), self.batch_size,
                                                                seeding.generator(seed, "data-a", name))
        self._index_a = None if self.a_batches is None else Prefetched(
            lambda: next(self.a_batches), self.a_batches.state_dict, self.a_batches.load_state_dict, device)
        self.pool = HistoryPool(int(settings.get("pool_size", 0)), 2 if both_ways else 1,
                                seeding.generator(seed, "pool", name))
        #: DiffAugment's stream (never drawn from: augmentation is refused for translation)
        self.augment = seeding.generator(seed, "augment", name)
        self._a: torch.Tensor | None = None  # the current batch's domain-A images
        self._g_input: torch.Tensor | None = None

    def fetch_ahead(self, steps: int, n_critic: int, g_steps: int = 1, g_reg_interval: int | None = None) -> None:
        """Draw the index batches of ``steps`` steps at a time (one per D update)."""
        self._index.chunk = steps * n_critic
        if self._index_a is not None:
            self._index_a.chunk = steps * n_critic

    def real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch: domain B's images (``cat(B, A)`` both ways) and, for a D that looks at the input,
        the batch's A images. G's next inputs (:meth:`z`) are this batch's A images (``cat(A, B)``)."""
        index = self._index.next()
        b = self.b_all[index]
        a = self.a_all[index if self._index_a is None else self._index_a.next()]
        if self.channels_last:
            a, b = (v.contiguous(memory_format=torch.channels_last) for v in (a, b))
        self._a = a
        real, self._g_input, y = pack(a, b, self.both_ways, self.conditional)
        return real, y

    def fake_labels(self) -> torch.Tensor | None:
        """What D is told about a generated batch: its inputs (a D that looks at them), else None."""
        return self._a if self.conditional else None

    def z(self) -> torch.Tensor:
        """G's input: the current batch's domain-A images (both ways: ``cat(A, B)``)."""
        if self._g_input is None:
            raise RuntimeError("a translation batch is drawn by real() first")
        return self._g_input

    def random_state(self) -> dict[str, Any]:
        return {"batches": self._index.stream_state(),
                **({"batches_a": self._index_a.stream_state()} if self._index_a is not None else {}),
                "pool": self.pool.state_dict(), "augment": self.augment.get_state()}

    def set_random_state(self, state: dict[str, Any]) -> None:
        self._index.reset(state["batches"])
        if self._index_a is not None:
            self._index_a.reset(state["batches_a"])
        self.pool.load_state_dict(state["pool"], self.device)
        self.augment.set_state(state["augment"])
