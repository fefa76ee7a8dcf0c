"""The results directory.

Layout of one run directory::

    suite.json            the resolved request (names, seeds, user settings)
    environment.json      versions, platform, device, git commit, plugins
    results.csv           one row per cell, rebuilt from the cells' result.json after every cell
    cells/<cell id>/
        config.json       cell, effective settings and where each came from, provenance
        history.csv       per-step losses, mean raw scores, gradient norms
        trajectory.csv    the metrics at every evaluation point (eval_every), the final one last
        samples/step_NNNNNN.png
        generator.pt      final generator state_dict (load with torch.load(weights_only=True))
        result.json       the cell's result row; written last, atomically
        error.txt         traceback of a failed cell

Every file is written to a temporary name and renamed into place, so a crash never leaves half a
row; a cell without result.json is simply run again.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.suite import Cell

RESULT_FILE = "result.json"
TABLE_FILE = "results.csv"
REUSABLE_STATUSES = ("ok", "diverged", "skipped")


def _clean(obj: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: the permissions of a file created with open() (mkstemp's are 0600; results are meant to be shared)
FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` to a temporary name, then rename (readers never see half a file)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def cell_dir(self, cell: Cell) -> Path:
        return self.root / "cells" / cell.id

    def write_run_files(self, suite: dict[str, Any], environment: dict[str, Any]) -> None:
        atomic_write_json(self.root / "suite.json", suite)
        atomic_write_json(self.root / "environment.json", environment)

    def load_result(self, cell: Cell) -> dict[str, Any] | None:
        path = self.cell_dir(cell) / RESULT_FILE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # unreadable: the cell runs again

    def write_config(self, cell: Cell, config: dict[str, Any]) -> None:
        atomic_write_json(self.cell_dir(cell) / "config.json", config)

    def write_history(self, cell: Cell, history: list[dict[str, float]], columns: Iterable[str]) -> None:
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_bytes(self.cell_dir(cell) / "history.csv", buf.getvalue().encode())

    def write_trajectory(self, cell: Cell, points: list[dict[str, Any]]) -> None:
        """The metrics at each evaluation point (``--set eval_every=N``), the final one last."""
        atomic_write_bytes(self.cell_dir(cell) / "trajectory.csv", pd.DataFrame(points).to_csv(index=False).encode())

    def write_error(self, cell: Cell, text: str) -> None:
        atomic_write_bytes(self.cell_dir(cell) / "error.txt", text.encode())

    def save_generator(self, cell: Cell, state_dict: dict[str, Any]) -> None:
        atomic_torch_save(self.cell_dir(cell) / "generator.pt", {k: v.detach().cpu() for k, v in state_dict.items()})

    def write_result(self, cell: Cell, row: dict[str, Any]) -> None:
        atomic_write_json(self.cell_dir(cell) / RESULT_FILE, row)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted((self.root / "cells").glob(f"*/{RESULT_FILE}")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return out

    def table(self) -> pd.DataFrame:
        return rows_to_frame(self.rows())

    def write_table(self) -> pd.DataFrame:
        df = self.table()
        atomic_write_bytes(self.root / TABLE_FILE, df.to_csv(index=False).encode())
        return df


#: leading columns of results.csv, in order; metric and hp_* columns follow
ID_COLUMNS = ["cell_id", "dataset", "model", "loss", "seed", "status", "message"]


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=ID_COLUMNS)
    first = [c for c in ID_COLUMNS if c in df.columns]
    rest = [c for c in df.columns if c not in first]
    df = df[first + rest]
    return df.sort_values(["dataset", "model", "loss", "seed"], kind="stable").reset_index(drop=True)
