"""Live progress for the CLI: the overall cell count and the current cell's steps (ETA, losses)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ganbench.suite import Cell

STATUS_STYLE = {"ok": "green", "diverged": "yellow", "failed": "red", "skipped": "dim"}


class RichReporter:
    def __init__(self, console: Console | None = None, refresh_every: int = 10):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=self.console,
            transient=False,
        )
        self.refresh_every = refresh_every
        self._overall = None
        self._cell = None
        self._label = ""
        self._started = False

    def run_started(self, cells: list[Cell], out: Path) -> None:
        self.console.print(f"ganbench: {len(cells)} cells -> {out}", soft_wrap=True)
        self.progress.start()
        self._started = True
        self._overall = self.progress.add_task("cells", total=len(cells), losses="")

    def cell_started(self, cell: Cell, index: int, steps: int, resumed_from: int = 0) -> None:
        if self._cell is not None:
            self.progress.remove_task(self._cell)
        self._label = cell.label()
        if resumed_from:
            self.console.print(f"{self._label}: continuing from its checkpoint at step {resumed_from}", soft_wrap=True)
        self._cell = self.progress.add_task(self._label, total=steps, completed=resumed_from, losses="")

    def step(self, record: dict[str, float]) -> None:
        step = int(record["step"])
        if step % self.refresh_every == 0 or step == 1:
            losses = f"D {record['d_loss']:.3f}  G {record['g_loss']:.3f}"
            self.progress.update(self._cell, completed=step, losses=losses)

    def cell_finished(self, cell: Cell, row: dict[str, Any], resumed: bool) -> None:
        if self._cell is not None:
            self.progress.remove_task(self._cell)
            self._cell = None
        status = row.get("status", "?")
        parts = [f"[{STATUS_STYLE.get(status, '')}]{status}[/]"]
        fid = row.get("fid")
        if isinstance(fid, (int, float)) and math.isfinite(fid):
            parts.append(f"fid {fid:.2f}")
        if row.get("steps_per_s"):
            parts.append(f"{row['steps_per_s']:.1f} steps/s")
        if row.get("wall_s"):
            parts.append(f"{row['wall_s']:.1f}s")
        if row.get("message"):
            parts.append(str(row["message"]))
        self.console.print(f"{'resumed ' if resumed else ''}{cell.label()}: " + ", ".join(parts), soft_wrap=True)
        self.progress.advance(self._overall)

    def warning(self, text: str) -> None:
        self.console.print(f"[yellow]Warning:[/] {escape(text)}", soft_wrap=True)

    def close(self) -> None:
        if self._started:
            self.progress.stop()
            self._started = False
