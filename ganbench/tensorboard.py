"""TensorBoard event files of a cell, written live (``ganbench run --log tensorboard``, by the built-in
``builtin-tensorboard`` observer plugin) or afterwards from a run directory (``ganbench export
tensorboard RUN_DIR``, old runs too). Both go through :class:`CellLog`, from the same values (the
history records, the numeric metrics of each evaluation, the sample PNG files, the settings and the
final row), so an export equals the live log of the same cell.

Layout: ``RUN_DIR/tensorboard/<cell id>/events.out.tfevents.*``; ``tensorboard --logdir
RUN_DIR/tensorboard`` compares the cells of a grid, and its HParams tab holds every cell's settings
with its final metrics. Tags: ``train/<history column>`` per step, ``metrics/<column>`` per evaluation,
``samples`` (images), ``final/<column>`` (the row's metrics, also HParams metrics).

Needs the ``tensorboard`` package: ``pip install 'ganbench[tensorboard]'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganbench.errors import UsageError

NAME = "tensorboard"
FOLDER = "tensorboard"
INSTALL = "pip install 'ganbench[tensorboard]'"
EVENT_PREFIX = "events.out.tfevents."


def cell_logdir(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / FOLDER / cell_id


def remove_events(logdir: Path) -> None:
    """Remove a cell's event files (only TensorBoard's ``events.out.tfevents.*``)."""
    for old in Path(logdir).glob(f"{EVENT_PREFIX}*") if Path(logdir).is_dir() else []:
        old.unlink()


def _number(value: Any) -> float | None:
    """A finite int/float (not bool) as float, else None: only those become scalars."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _hparam(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    return "" if value is None else str(value)


class CellLog:
    """One cell's TensorBoard log. ``purge_step``: a resumed cell's first step (events the killed
    attempt wrote from there on are discarded by TensorBoard)."""

    def __init__(self, logdir: Path, purge_step: int | None = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch's writer needs the tensorboard package
            raise UsageError(f"TensorBoard logging needs the tensorboard package: {INSTALL} ({exc})") from None
        self.writer = SummaryWriter(log_dir=str(logdir), purge_step=purge_step, max_queue=1000, flush_secs=10)

    def step(self, record: Mapping[str, Any]) -> None:
        step = int(record["step"])
        for key, value in record.items():
            number = _number(value)
            if key != "step" and number is not None:
                self.writer.add_scalar(f"train/{key}", number, step)

    def metrics(self, step: int, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            number = _number(value)
            if key != "step" and number is not None:
                self.writer.add_scalar(f"metrics/{key}", number, int(step))

    def image(self, step: int, path: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        self.writer.add_image("samples", pixels, int(step), dataformats="HWC")

    def finish(self, identity: Mapping[str, Any], settings: Mapping[str, Any], row: Mapping[str, Any]) -> None:
        """HParams: the cell's identity and settings against its final metrics (the row's numeric
        metric columns); then the files are closed."""
        from torch.utils.tensorboard.summary import hparams

        from ganbench.store import is_reserved

        finals = {f"final/{k}": n for k, v in row.items() if not is_reserved(k) and (n := _number(v)) is not None}
        params = {**{k: _hparam(v) for k, v in identity.items()}, **{k: _hparam(v) for k, v in sorted(settings.items())},
                  "status": str(row.get("status"))}
        try:
            experiment, start, end = hparams(params, finals)
            writer = self.writer.file_writer
            for summary in (experiment, start, end):
                writer.add_summary(summary)
            step = int(row.get("steps_done") or 0)
            for key, value in finals.items():
                self.writer.add_scalar(key, value, step)
        finally:
            self.close()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def identity(cell_id: str, dataset: str, model: str, loss: str, seed: int, model_options: Any,
             loss_options: Any) -> dict[str, Any]:
    """The HParams that say which cell this is."""
    from ganbench import options

    def text(value: Any) -> str:
        return options.format_options(value) if isinstance(value, Mapping) else str(value or "")

    return {"cell_id": cell_id, "dataset": dataset, "model": model, "loss": loss, "seed": int(seed),
            "model_options": text(model_options), "loss_options": text(loss_options)}


def export(run_dir: Path, out: Path | None = None) -> tuple[list[Path], list[str]]:
    """Write the TensorBoard log of every finished cell of ``run_dir`` from its files (history,
    trajectory, sample pictures, config, row) into ``out/<cell id>/`` (default
    ``RUN_DIR/tensorboard``), replacing the event files there; the folders written, and a note for
    each damaged file left out."""
    from ganbench.errors import StorageError
    from ganbench.store import RunStore

    store = RunStore(run_dir)
    store.require_run()
    out = Path(out) if out is not None else Path(run_dir) / FOLDER
    written, notes = [], []
    for row in store.rows():
        config = store.read_cell_config(row["cell_id"]) or {}
        logdir = out / row["cell_id"]
        try:
            remove_events(logdir)
            log = CellLog(logdir)
        except OSError as exc:
            if isinstance(exc, StorageError):
                raise
            raise StorageError(exc.errno, f"cannot write {logdir}: {exc.strerror or exc}") from exc
        history = store.history(row["cell_id"], notes)
        for record in history.to_dict("records") if history is not None else []:
            log.step(record)
        trajectory = store.trajectory(row["cell_id"], notes)
        for point in trajectory.to_dict("records") if trajectory is not None else []:
            log.metrics(int(point.pop("step")), point)
        for step, picture in store.sample_files(row["cell_id"]):
            try:
                log.image(step, picture)
            except (OSError, ValueError) as exc:  # a damaged picture: left out, and said so
                notes.append(f"{picture} left out: unreadable ({type(exc).__name__})")
        log.finish(identity(row["cell_id"], row["dataset"], row["model"], row["loss"], row["seed"],
                            config.get("model_options"), config.get("loss_options")),
                   config.get("settings") or {}, row)
        written.append(logdir)
    return written, notes


def read(logdir: Path) -> dict[str, list[tuple[int, Any]]]:
    """What a cell's event files hold, read back with TensorBoard's own reader: tag -> [(step,
    value)] for scalars (float) and images (the encoded PNG's size in pixels, (width, height))."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    out: dict[str, list[tuple[int, Any]]] = {}
    for tag in tags.get("scalars", []):
        out[tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    for tag in tags.get("images", []):
        out[tag] = [(e.step, (e.width, e.height)) for e in acc.Images(tag)]
    return out


def hparams_of(logdir: Path) -> dict[str, Any]:
    """The HParams a cell's event files record (session start info), read back with TensorBoard's
    plugin data."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    out: dict[str, Any] = {}
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        out[key] = getattr(value, kind)
    return out
