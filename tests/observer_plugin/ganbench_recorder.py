"""A third-party observer plugin for the tests (distribution ``ganbench-recorder``): every observer
hook appends one JSON line — hook, process id and what it received — to the file named by
``GANBENCH_RECORD``. With ``GANBENCH_RECORD_FAIL=HOOK[,HOOK...]`` those hooks raise after recording."""

from __future__ import annotations

import json
import os

from ganbench import hookimpl


def _record(hook, **fields):
    path = os.environ.get("GANBENCH_RECORD")
    if path:
        line = json.dumps({"hook": hook, "pid": os.getpid(), **fields}, default=str)
        with open(path, "a") as f:  # one write of a whole line: processes append without mixing
            f.write(line + "\n")
    if hook in os.environ.get("GANBENCH_RECORD_FAIL", "").split(","):
        raise RuntimeError(f"recorder fails in {hook}")


@hookimpl
def ganbench_run_started(run):
    _record("run_started", run_dir=str(run.run_dir), cells=list(run.cells), log=list(run.log),
            models=run.suite["models"])


@hookimpl
def ganbench_cell_started(cell):
    _record("cell_started", cell=cell.cell_id, resumed_from=cell.resumed_from, steps=cell.settings["steps"],
            cell_dir=str(cell.cell_dir), config_hash=cell.config_hash, log=list(cell.log))


@hookimpl
def ganbench_step(cell, record):
    _record("step", cell=cell.cell_id, record=record)


@hookimpl
def ganbench_evaluated(cell, step, values):
    _record("evaluated", cell=cell.cell_id, step=step, fid=values.get("fid"))


@hookimpl
def ganbench_samples_saved(cell, step, path):
    _record("samples", cell=cell.cell_id, step=step, path=str(path), exists=os.path.isfile(path))


@hookimpl
def ganbench_cell_finished(cell, row):
    _record("cell_finished", cell=cell.cell_id, status=row["status"], fid=row.get("fid"))


@hookimpl
def ganbench_run_finished(run, table):
    _record("run_finished", rows=len(table), cells=sorted(table["cell_id"]))
