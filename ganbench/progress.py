"""Live progress for the CLI: the plan of a run before it trains (cells, what is reused, an estimated
time), long preparation steps (training the domain classifier), the overall cell count with an ETA
that is refined as cells finish, and the current cell's steps and losses.

On a terminal this is a live rich display. Anywhere else (a file, ``nohup``, CI, a cluster log) it is
plain, complete lines: one per cell, with the run's position and ETA, and a progress line at most
every :data:`HEARTBEAT_S` seconds during a long cell. Names, paths and plugin messages are never
parsed as rich markup.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ganbench.suite import Cell

if TYPE_CHECKING:  # pragma: no cover
    from ganbench.execution.session import Plan

STATUS_STYLE = {"ok": "green", "diverged": "yellow", "failed": "red", "skipped": "dim"}
#: without a terminal, a progress line for the running cell at most this often
HEARTBEAT_S = 60.0


def duration(seconds: float | None) -> str:
    """``1 h 05 min``, ``4 min 10 s``, ``12 s``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


@dataclass
class _Busy:
    """A cell being trained: its progress line and what its ETA is computed from."""

    label: str
    worker: str
    start: float
    steps: int
    resumed_from: int
    estimate: float | None
    evaluation: float | None
    task: Any = None
    step: int = 0
    heartbeat: float = 0.0
    #: the cell's total time from its own speed, once it has run a few steps
    live_total: float | None = None


class RichReporter:
    """The CLI's reporter (see :class:`ganbench.execution.session.Reporter`): one display for one cell at
    a time or many (``--jobs``, Ray): the overall bar with the run's ETA, and one line per busy
    worker (cell, step, losses, the cell's ETA)."""

    #: the runner computes a plan with time estimates only for reporters that show one
    wants_plan = True

    def __init__(self, console: Console | None = None, refresh_every: int = 10):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}", markup=False),
            TextColumn("{task.fields[losses]}", markup=False),
            console=self.console,
            transient=False,
        )
        self.refresh_every = refresh_every
        self._overall = None
        self._status = None
        self._started = False
        self._plan: Plan | None = None
        self._done = 0
        self._total = 0
        self._busy: dict[Cell, _Busy] = {}
        #: measured / planned seconds of training (all but evaluation) over the finished cells: the
        #: plan's correction; and the evaluation seconds measured per (data set, model)
        self._measured = 0.0
        self._estimated = 0.0
        self._evals: dict[tuple[str, str], list[float]] = {}
        #: seconds of a finished cell that were neither training nor evaluation (building, sample
        #: grids, writing its files): a cost per cell, whatever its number of steps
        self._overheads: list[float] = []
        #: wall seconds of the finished cells, per (data set, model, loss)
        self._walls: dict[tuple[str, str, str], list[float]] = {}
        self._remaining: list[Cell] = []

    def line(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), soft_wrap=True, highlight=False)

    # -- before training ------------------------------------------------------------------------------
    def run_planned(self, plan: Plan) -> None:
        self._plan = plan
        for text in plan.describe():
            self.line(text)

    def status(self, text: str, done: int | None = None, total: int | None = None) -> None:
        """A preparation step (``done``/``total`` of it when known); ``done == total`` ends it."""
        finished = total is not None and done is not None and done >= total
        if not self.live:
            if done in (None, 0) or finished:
                self.line(f"{text}" + (" — done" if finished and done else ""))
            return
        self._start()
        if self._status is None:
            self._status = self.progress.add_task(text, total=total, completed=done or 0, eta="", losses="")
        else:
            self.progress.update(self._status, description=text, total=total, completed=done or 0)
        if finished:
            self.progress.remove_task(self._status)
            self._status = None
            self.line(f"{text} — done")

    def _start(self) -> None:
        if self.live and not self._started:
            self.progress.start()
            self._started = True

    def run_started(self, cells: list[Cell], out: Path) -> None:
        self._total = len(cells)
        self._remaining = [c for c in cells if self._plan is None or c in self._plan.estimates]
        if self._plan is None:
            self.line(f"ganbench: {len(cells)} cells -> {out}")
        self._start()
        if self.live:
            self._overall = self.progress.add_task("cells", total=len(cells), eta=self._eta_text(), losses="")

    # -- the ETA --------------------------------------------------------------------------------------
    def _factor(self) -> float:
        return self._measured / self._estimated if self._estimated > 0 else 1.0

    def _slots(self) -> int:
        return max(1, self._plan.capacity if self._plan is not None else 1)

    def remaining_s(self, now: float | None = None) -> float | None:
        """Estimated seconds until the run ends: the cells not started, at their planned times scaled by
        how the finished cells compared with their plan, and what is left of the busy cells — shared out
        over the executor's slots (never less than the longest busy cell's rest)."""
        if self._plan is None:
            return None
        todo = [self._planned(c) for c in self._remaining]
        if any(e is None for e in todo):
            return None
        now = now or time.perf_counter()
        busy = [max(0.0, self._current_estimate(b) - (now - b.start)) for b in self._busy.values()]
        total = sum(todo) + sum(busy)
        return max(total / self._slots(), max(busy, default=0.0))

    def _train_plan(self, cell: Cell) -> float | None:
        total = self._plan.estimates.get(cell) if self._plan is not None else None
        return None if total is None else total - (self._plan.eval_estimates.get(cell) or 0.0)

    def _eval_plan(self, cell: Cell) -> float:
        """The cell's evaluation time: planned from earlier rows, else measured on this run's finished
        cells of the same data set and model (else of any), else 0 until one is measured."""
        planned = self._plan.eval_estimates.get(cell) if self._plan is not None else None
        if planned is not None:
            return planned
        same = self._evals.get((cell.dataset, cell.model))
        every = [v for values in self._evals.values() for v in values]
        values = same or every
        return sum(values) / len(values) if values else 0.0

    def _planned(self, cell: Cell) -> float | None:
        """A cell's expected seconds: its planned training, corrected by how the finished cells
        compared with their plan, plus its evaluation."""
        train = self._train_plan(cell)
        if train is None:  # not estimated (not probed): like the finished cells of its kind, once there are some
            return self._measured_like(cell)
        overhead = sum(self._overheads) / len(self._overheads) if self._overheads else 0.0
        return train * self._factor() + self._eval_plan(cell) + overhead

    def _measured_like(self, cell: Cell) -> float | None:
        """The mean time of this run's finished cells of the same data set, model and loss (else of
        any); None before the first one finishes."""
        same = self._walls.get((cell.dataset, cell.model, cell.loss))
        every = [v for values in self._walls.values() for v in values]
        values = same or every
        return sum(values) / len(values) if values else None

    @staticmethod
    def _current_estimate(busy: _Busy) -> float:
        """A busy cell's total time: from its own speed once it has run a few steps (plus its planned
        evaluation), else as planned."""
        if busy.live_total is not None:
            return busy.live_total + (busy.evaluation or 0.0)
        return busy.estimate or 0.0

    def _eta_text(self) -> str:
        left = self.remaining_s()
        return f"eta {duration(left)}" if left is not None else "eta ?"

    # -- cells ----------------------------------------------------------------------------------------
    def cell_started(self, cell: Cell, index: int, steps: int, resumed_from: int = 0, worker: str = "") -> None:
        old = self._busy.pop(cell, None)
        if old is not None and old.task is not None:
            self.progress.remove_task(old.task)
        if cell in self._remaining:
            self._remaining.remove(cell)
        label = cell.label() + (f" [{worker}]" if worker and self._slots() > 1 else "")
        now = time.perf_counter()
        busy = self._busy[cell] = _Busy(label, worker, now, steps, resumed_from, self._planned(cell),
                                        self._eval_plan(cell) if self._plan is not None else None, heartbeat=now,
                                        step=resumed_from)
        if resumed_from:
            self.line(f"{label}: continuing from its checkpoint at step {resumed_from}")
        if self.live:
            busy.task = self.progress.add_task(label, total=steps, completed=resumed_from, eta="", losses="")

    def step(self, record: dict[str, float], cell: Cell | None = None) -> None:
        busy = self._busy.get(cell) if cell is not None else next(reversed(self._busy.values()), None)
        if busy is None:
            return
        step = int(record["step"])
        if self._slots() == 1 and step % self.refresh_every and step != 1:
            return  # one cell at a time: every step arrives (a worker's arrive a few times a second)
        busy.step = step
        now = time.perf_counter()
        done = step - busy.resumed_from
        rate = done / (now - busy.start) if now > busy.start and done > 0 else None
        cell_left = (busy.steps - step) / rate if rate else None
        if rate and done >= 20:  # the cell's own speed is the better estimate of its remaining steps
            busy.live_total = now - busy.start + cell_left
        losses = f"D {record['d_loss']:.3f}  G {record['g_loss']:.3f}"
        if self.live:
            self.progress.update(busy.task, completed=step, losses=losses, eta=f"eta {duration(cell_left)}")
            if self._overall is not None:
                self.progress.update(self._overall, eta=self._eta_text())
        elif now - busy.heartbeat >= HEARTBEAT_S:
            busy.heartbeat = now
            self.line(f"  {busy.label}: step {step}/{busy.steps}, {losses}, cell eta {duration(cell_left)}, "
                      f"run {self._eta_text()}")

    def cell_finished(self, cell: Cell, row: dict[str, Any], resumed: bool) -> None:
        busy = self._busy.pop(cell, None)
        if busy is not None and busy.task is not None:
            self.progress.remove_task(busy.task)
        if cell in self._remaining:
            self._remaining.remove(cell)
        if not resumed and row.get("wall_s"):
            evaluation = float(row.get("eval_s") or 0.0) + float(row.get("trajectory_eval_s") or 0.0)
            self._walls.setdefault((cell.dataset, cell.model, cell.loss), []).append(float(row["wall_s"]))
            self._evals.setdefault((cell.dataset, cell.model), []).append(evaluation)
            train = self._train_plan(cell)
            if train and row.get("train_s") and row.get("status") == "ok":  # a diverged cell trained fewer steps
                self._measured += float(row["train_s"])
                self._estimated += train
                self._overheads.append(max(0.0, float(row["wall_s"]) - float(row["train_s"]) - evaluation))
        self._done += 1
        status = str(row.get("status", "?"))
        text = Text(f"[{self._done}/{self._total}] " if not self.live else "")
        text.append(f"{'kept ' if resumed else ''}{cell.label()}: ")  # a row of an earlier invocation, not retrained
        text.append(status, style=STATUS_STYLE.get(status, ""))
        parts = []
        fid = row.get("fid")
        if isinstance(fid, (int, float)) and math.isfinite(fid):
            parts.append(f"fid {fid:.2f}")
        if row.get("steps_per_s"):
            parts.append(f"{row['steps_per_s']:.1f} steps/s")
        if row.get("wall_s"):
            parts.append(f"{row['wall_s']:.1f}s")
        if row.get("worker") and self._slots() > 1:
            parts.append(str(row["worker"]))
        if row.get("message"):
            parts.append(str(row["message"]))
        text.append("".join(f", {p}" for p in parts))
        if not self.live and self._done < self._total:
            text.append(f" ({self._eta_text()})")
        self.console.print(text, soft_wrap=True, highlight=False)
        if self._overall is not None:
            self.progress.update(self._overall, advance=1, eta=self._eta_text())

    def warning(self, text: str) -> None:
        out = Text("Warning: ", style="yellow")
        out.append(text)
        self.console.print(out, soft_wrap=True, highlight=False)

    def close(self) -> None:
        if self._started:
            self.progress.stop()
            self._started = False
