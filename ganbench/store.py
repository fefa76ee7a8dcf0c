"""The results directory.

Layout of one run directory::

    suite.json            the resolved request (names, seeds, user settings)
    environment.json      versions, platform, device, git commit, plugins
    results.csv           one row per cell, rebuilt from the cells' result.json after every cell
    cells/<cell id>/
        config.json       cell, effective settings and where each came from, provenance
        history.csv       per-step losses, mean raw scores, gradient norms (appended in whole lines
                          while the cell trains, at least every 2 s; rewritten whole at its end)
        trajectory.csv    the metrics at every evaluation point (eval_every), the final one last
        samples/step_NNNNNN.png
        generator.pt      final generator state_dict — the EMA generator when g_ema > 0 — (load it with
                          ganbench.load_generator(cell_dir), or torch.load(weights_only=True))
        generator_raw.pt  with g_ema > 0: the trained (not averaged) generator's state_dict
        discriminator.pt  final discriminator state_dict
        networks.json     how to build them: model, options, latent size, the data's DataInfo
        points.npy        2-D data: the generated points of the final evaluation (numpy, float32)
        checkpoint.pt     while training (--checkpoint-every): G, D, optimisers, random streams,
                          history; removed once result.json is written (kept for a failed cell)
        result.json       the cell's result row; written last, atomically
        error.txt         traceback of a failed cell
    .lock                 held (flock) by the ganbench process writing the directory

Every file is written to a temporary name (``.NAME.XXXX.ganbench-tmp``) and renamed into place, so a
crash never leaves half a row; a cell without result.json is run again, from its checkpoint when it
has one. A folder is used as a run directory only when it is new, empty, or already one (it has
``suite.json``): ganbench never writes into, sweeps or clears a folder of someone else's files.

The columns of a result row, in the order of ``results.csv`` (:func:`column_order`): identity, status,
metrics, timings, settings, provenance. Every column but the metrics' is owned by the runner
(:data:`RESERVED_COLUMNS`): a metric that returns one fails its cell instead of overwriting it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import StorageError, UsageError, one_line
from ganbench.paths import safe_name
from ganbench.suite import Cell

RESULT_FILE = "result.json"
TABLE_FILE = "results.csv"
SUITE_FILE = "suite.json"
CHECKPOINT_FILE = "checkpoint.pt"
#: a replica group's rows, in its first cell's directory while they are written (see :meth:`RunStore.recover_group_rows`)
GROUP_JOURNAL = "group_rows.json"
#: the generated 2-D points of a cell's final evaluation (2-D data only)
POINTS_FILE = "points.npy"
GENERATOR_FILE = "generator.pt"
RAW_GENERATOR_FILE = "generator_raw.pt"
DISCRIMINATOR_FILE = "discriminator.pt"
NETWORKS_FILE = "networks.json"
#: a trained cell's networks and their description (removed when the cell trains again)
NETWORK_FILES = (GENERATOR_FILE, RAW_GENERATOR_FILE, DISCRIMINATOR_FILE, NETWORKS_FILE)
LOCK_FILE = ".lock"
#: tries (50 ms apart) to take a run directory's lock before it counts as held by another process
LOCK_TRIES = 10
#: what ``--fresh`` removes: everything ganbench writes into a run directory, nothing else; the
#: suite file last, so a folder interrupted half-cleared is still recognised as a run directory
RUN_FILES = ("cells", "references", "logs", "tensorboard", "samples", "environment.json", TABLE_FILE, SUITE_FILE)
#: keys every ganbench suite.json has: a file called suite.json without them is someone else's
SUITE_KEYS = ("datasets", "models", "losses", "seeds")
REUSABLE_STATUSES = ("ok", "diverged", "skipped")
STATUSES = ("ok", "diverged", "failed", "skipped")
#: the suffix of every temporary file of :func:`atomic_write_bytes` (``.NAME.XXXXXXXX.ganbench-tmp``):
#: the clean-up after a kill removes only files of this form, only where ganbench writes
TEMP_SUFFIX = ".ganbench-tmp"

# -- the columns of a result row -------------------------------------------------------------------
IDENTITY_COLUMNS = ["cell_id", "dataset", "model", "loss", "seed"]
STATUS_COLUMNS = ["status", "failure", "message", "metrics_skipped", "steps_done", "diverged_at", "ada_p_end"]
TIMING_COLUMNS = ["wall_s", "train_s", "steps_per_s", "eval_s", "trajectory_eval_s", "eval_points", "checkpoint_s",
                  "resumed_from"]


def is_instrument(col: str) -> bool:
    """Whether a result column names the network a metric was measured with: a feature extractor
    (``fid_extractor``, ...) or the classifier of the conditional metrics (``cond_classifier``)."""
    return col.endswith("_extractor") or col == "cond_classifier"


#: the effective settings are ``hp_<setting>`` columns between ``recipe``/``protocol``/``point`` and ``hp_source``
SETTINGS_COLUMNS = ["recipe", "protocol", "point", "hp_source", "model_options", "loss_options", "revision"]
SETTING_PREFIX = "hp_"
#: ``threads``: torch's threads for the cell (CPU results can depend on it); ``executor``, ``worker``,
#: ``node``: where it ran; ``device_share``: the fraction of its device it was given (workers sharing a
#: GPU, a Ray GPU fraction), so timings on shared devices are recognisable
PROVENANCE_COLUMNS = ["device", "config_hash", "ganbench_version", "git_commit", "started_at", "other_runs", "threads",
                      "executor", "worker", "node", "device_share", "replica_group"]
#: columns ``ganbench report`` adds to the rows it reads
REPORT_COLUMNS = ["run", "extractor", "data_fingerprint"]
#: the runner's columns: a metric may not return any of them (nor an ``hp_*`` column)
RESERVED_COLUMNS = frozenset(IDENTITY_COLUMNS + STATUS_COLUMNS + TIMING_COLUMNS + SETTINGS_COLUMNS
                             + PROVENANCE_COLUMNS + REPORT_COLUMNS)
#: the identity and status of a row (kept for compatibility: the leading columns of results.csv)
ID_COLUMNS = IDENTITY_COLUMNS + ["status", "message"]


def in_use(root: Path, pid: str) -> UsageError:
    """The refusal of a run directory that another ganbench process holds."""
    return UsageError(f"run directory {root} is in use by another ganbench process (pid {pid}); wait for it to "
                      "finish or choose another --out")


def not_writable(root: Path, reason: str) -> UsageError:
    return UsageError(f"output directory {root} is not writable: {reason}")


def is_reserved(column: str) -> bool:
    """Whether ``column`` belongs to the runner (identity, status, timings, settings, provenance)."""
    return column in RESERVED_COLUMNS or column.startswith(SETTING_PREFIX)


def column_order(columns: Iterable[str]) -> list[str]:
    """``columns`` as results.csv orders them: identity, status, metrics (in the order they were
    computed), timings, settings (``recipe``, ``hp_*``, ``hp_source``, options), provenance."""
    cols = list(dict.fromkeys(columns))
    hp = [c for c in cols if c.startswith(SETTING_PREFIX) and c != "hp_source"]
    fixed = set(RESERVED_COLUMNS) | set(hp)
    metrics = [c for c in cols if c not in fixed]
    first = SETTINGS_COLUMNS.index("hp_source")  # recipe, protocol, point, then hp_*, hp_source, options, revision
    settings = [*SETTINGS_COLUMNS[:first], *hp, *SETTINGS_COLUMNS[first:]]
    order = IDENTITY_COLUMNS + STATUS_COLUMNS + metrics + TIMING_COLUMNS + settings + PROVENANCE_COLUMNS + REPORT_COLUMNS
    return [c for c in order if c in cols]


#: the runner's columns that hold a number (or nothing), and of those the counts
NUMBER_COLUMNS = ("steps_done", "diverged_at", "ada_p_end", "wall_s", "train_s", "steps_per_s", "eval_s",
                  "trajectory_eval_s", "eval_points", "checkpoint_s", "resumed_from")
COUNT_COLUMNS = ("steps_done", "diverged_at", "eval_points", "resumed_from")


def row_problem(row: Any, cell_id: str | None = None) -> str | None:
    """Why ``row`` (read from a result.json in folder ``cell_id``) is not a result row, else None."""
    if not isinstance(row, dict):
        return f"expected a JSON object (a result row), got {type(row).__name__}"
    missing = [c for c in IDENTITY_COLUMNS + ["status"] if c not in row]
    if missing:
        return f"a result row needs {', '.join(missing)}"
    if row["status"] not in STATUSES:
        return f"status {row['status']!r} is not one of {', '.join(STATUSES)}"
    if not all(isinstance(row[c], str) for c in ("cell_id", "dataset", "model", "loss")):
        return "cell_id, dataset, model and loss must be strings"
    if type(row["seed"]) is not int or row["seed"] < 0:
        return f"seed {row['seed']!r} is not a non-negative integer"
    if cell_id is not None and row["cell_id"] != cell_id:
        return f"its cell_id {row['cell_id']!r} is not the folder it is in ({cell_id!r})"
    for col in NUMBER_COLUMNS:  # what the runner wrote as numbers (a damaged value would be averaged or reused)
        value = row.get(col)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"its {col} {value!r} is not a number"
        if col in COUNT_COLUMNS and (not float(value).is_integer() or value < 0):
            return f"its {col} {value!r} is not a count (a non-negative integer)"
    return None


def read_json(path: Path, what: str, expect: type = dict) -> Any:
    """The JSON document at ``path`` (a ``what``, e.g. "suite file"), which must be an ``expect``;
    a one-line UsageError naming the file otherwise (missing, unreadable, not UTF-8, not JSON, or
    another type)."""
    try:
        doc = json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not a {what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not a {what}: not JSON ({exc})") from None
    if not isinstance(doc, expect):
        names = {dict: "a JSON object", list: "a JSON array"}
        raise UsageError(f"{path} is not a {what}: expected {names.get(expect, expect.__name__)}, "
                         f"got {type(doc).__name__}")
    return doc


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
    """Write ``data`` to ``path`` through a temporary file in the same folder, flushed to disk and
    renamed into place: readers see the old file or the new one, never half of one. A failure (disk
    full, permissions) is a :class:`StorageError` naming the file, and leaves no temporary file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def atomic_write_json(path: Path, obj: Any, sort_keys: bool = True) -> None:
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2, sort_keys=sort_keys) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    """``torch.save`` to a temporary name, then rename (readers never see half a file)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class ActiveRuns:
    """The ganbench runs training on this machine now, one ``<cache>/running/<host>-<pid>.json`` each:
    two runs on the same cores slow each other several times over (measured 6–10× on 2 cores), so a
    run warns when it is not alone and every row records how many others were running (timings
    from such cells are not comparable; the numbers are unaffected). A killed run's file is removed
    by the next run that finds its process gone."""

    def __init__(self, out: Path, directory: Path | None = None):
        from ganbench import paths

        self.dir = directory if directory is not None else paths.cache_dir() / "running"
        self.host = platform.node() or "localhost"
        self.me = self.dir / f"{self.host}-{os.getpid()}.json"
        self.out = out

    def __enter__(self) -> ActiveRuns:
        try:
            atomic_write_json(self.me, {"pid": os.getpid(), "host": self.host, "out": str(self.out)})
        except OSError:  # a read-only cache: no registry, no warning (the run itself is unaffected)
            pass
        return self

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            self.me.unlink()

    def others(self) -> list[dict[str, Any]]:
        """The other live runs on this host (``pid``, ``out``)."""
        found = []
        for path in sorted(self.dir.glob(f"{self.host}-*.json")) if self.dir.is_dir() else []:
            if path == self.me:
                continue
            try:
                info = json.loads(path.read_text())
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            except PermissionError:  # alive, another user's
                pass
            except (OSError, ValueError, KeyError, TypeError):
                continue
            found.append(info)
        return found


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def cell_dir(self, cell: Cell) -> Path:
        return self.root / "cells" / cell.id

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Create the directory if needed and hold its lock while writing: a second ganbench process
        on the same directory is refused (one line naming the holder) instead of mixing results. The
        kernel drops the lock when the holder dies, even by ``kill -9``."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise not_writable(self.root, exc.strerror or str(exc)) from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            fcntl = None
        try:
            if fcntl is not None:
                for attempt in range(LOCK_TRIES):  # another process's busy() holds a shared lock for an instant
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if attempt == LOCK_TRIES - 1:
                            raise in_use(self.root, os.pread(fd, 32, 0).decode(errors="replace").strip() or "?") \
                                from None
                        time.sleep(0.05)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._probe()
            except OSError as exc:
                raise not_writable(self.root, exc.strerror or str(exc)) from None
            yield
        finally:
            os.close(fd)

    def remove_temporaries(self) -> list[Path]:
        """Remove the temporary files of writes a killed process left half done (``kill -9`` inside
        :func:`atomic_write_bytes` skips its clean-up): only files named ``.*.ganbench-tmp``, only in
        the folders ganbench writes (the run directory, ``cells/*``, ``cells/*/samples``); only safe
        while holding :meth:`lock`, after the request was accepted."""
        folders = [self.root, self.root / "references", *(p for p in (self.root / "cells").glob("*") if p.is_dir())]
        folders += [f / "samples" for f in folders[1:] if (f / "samples").is_dir()]
        stale = [p for f in folders for p in f.glob(f".*{TEMP_SUFFIX}") if p.is_file()]
        for path in stale:
            path.unlink()
        return stale

    def _probe(self) -> None:
        """Write and remove a file: a directory we can open a lock in may still refuse new files."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".probe.", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(tmp)

    def check_target(self) -> bool:
        """Whether the directory already holds a ganbench run (it has ``suite.json``); False when it is
        new or empty. A folder that holds other files is refused: ganbench would mix its files with
        someone else's, and ``--fresh`` or the clean-up after a kill would remove them."""
        if not self.root.exists():  # created later, under the lock: can it be?
            parent = next(p for p in self.root.absolute().parents if p.exists())
            if not parent.is_dir():
                raise not_writable(self.root, "Not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise not_writable(self.root, "Permission denied")
            return False
        if not self.root.is_dir():
            raise not_writable(self.root, "Not a directory")
        if (self.root / SUITE_FILE).is_file():
            if self._ours():
                return True
            raise UsageError(f"output directory {self.root} holds a {SUITE_FILE} that is not a ganbench run's (nor an "
                             f"environment.json of one); choose a new or empty folder with --out")
        try:
            others = sorted(p.name for p in self.root.iterdir()
                            if p.name != LOCK_FILE and not (p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX)))
        except OSError as exc:
            raise UsageError(f"output directory {self.root} cannot be read: {exc.strerror or exc}") from None
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise UsageError(f"output directory {self.root} is not a ganbench run directory (no {SUITE_FILE}) and is not "
                             f"empty ({shown}); choose a new or empty folder with --out")
        return False

    def _ours(self) -> bool:
        """Whether this folder's suite.json — or, when that is damaged, its environment.json — was
        written by ganbench (a damaged run directory can still be replaced with ``--fresh``)."""
        for name, keys in ((SUITE_FILE, SUITE_KEYS), ("environment.json", ("ganbench", "torch", "written_at"))):
            try:
                doc = json.loads((self.root / name).read_bytes().decode("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and all(k in doc for k in keys):
                return True
        return False

    def busy(self) -> str | None:
        """The pid of another process holding this directory's lock, without creating anything; None
        when it is free (or does not exist yet). :meth:`lock` is what actually takes it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return None
        try:
            fd = os.open(self.root / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        finally:
            os.close(fd)

    def clear(self) -> None:
        """Remove what ganbench wrote here (``--fresh``); other files in the directory stay."""
        for name in RUN_FILES:
            path = self.root / name
            try:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            except OSError as exc:
                raise StorageError(exc.errno, f"cannot remove {path}: {exc.strerror or exc}") from exc

    def read_suite(self) -> dict[str, Any] | None:
        """The stored request of this directory, None for a new directory."""
        path = self.root / SUITE_FILE
        if not path.exists():
            return None
        try:
            return read_json(path, "ganbench suite")
        except UsageError as exc:
            raise UsageError(f"{exc}; re-run with --fresh to start this run anew") from None

    def write_run_files(self, suite: dict[str, Any], environment: dict[str, Any]) -> None:
        atomic_write_json(self.root / SUITE_FILE, suite)
        atomic_write_json(self.root / "environment.json", environment)

    def read_config(self, cell: Cell) -> dict[str, Any] | None:
        """The runner's view of a cell's config.json: None when missing or damaged."""
        try:
            return self.read_cell_config(cell.id)
        except UsageError:
            return None  # the cell is trained again (and its config rewritten)

    # -- the read API: what reports, plots, boards and exports read of a run directory ---------------
    # (no module outside the store knows a file name of a run directory)
    def read_cell_config(self, cell_id: str) -> dict[str, Any] | None:
        """A cell's config.json (settings and their sources, options, data fingerprint, provenance);
        None when it has none; a one-line UsageError naming the file when it is damaged."""
        path = self.root / "cells" / cell_id / "config.json"
        return read_json(path, "cell configuration") if path.is_file() else None

    def require_run(self) -> None:
        """A UsageError unless this is a run directory with cells (what reports and exports read)."""
        if not (self.root / "cells").is_dir():
            raise UsageError(f"{self.root} is not a ganbench run directory (no cells/ folder)")

    def suite(self) -> dict[str, Any]:
        """The recorded request (``suite.json``; {} when absent, UsageError naming it when damaged)."""
        path = self.root / SUITE_FILE
        return read_json(path, "ganbench suite") if path.is_file() else {}

    def stored_suite(self) -> tuple[dict[str, Any], Path]:
        """The recorded request of a run to resume, and its file; UsageError when there is none."""
        path = self.root / SUITE_FILE
        if not path.is_file():
            raise UsageError(f"{self.root} is not a ganbench run directory (no {SUITE_FILE})")
        return read_json(path, "ganbench suite"), path

    def environment(self) -> dict[str, Any]:
        """Versions, platform, device and plugins of the latest invocation (``environment.json``)."""
        path = self.root / "environment.json"
        return read_json(path, "ganbench environment file") if path.is_file() else {}

    def sample_dir(self, cell: Cell) -> Path:
        """Where a cell's sample pictures go (``samples/step_NNNNNN.png``)."""
        return self.cell_dir(cell) / "samples"

    def peek_result(self, cell: Cell | str) -> dict[str, Any] | None:
        """The cell's (or cell id's) row when it has a readable one of this cell, else None; nothing is moved (see
        :meth:`load_result` for the runner's handling of a damaged one)."""
        cell_id = cell if isinstance(cell, str) else cell.id
        path = self.root / "cells" / cell_id / RESULT_FILE
        if not path.is_file():
            return None
        try:
            row = read_json(path, "result row")
        except UsageError:
            return None
        return row if row_problem(row, cell_id) is None else None

    def history(self, cell_id: str, notes: list[str]) -> pd.DataFrame | None:
        """A cell's per-step history (``history.csv``), None when it has none; a damaged file is
        None with a note saying why."""
        return self._table(self.root / "cells" / cell_id / "history.csv", ("step", "d_loss", "g_loss"), notes)

    def trajectory(self, cell_id: str, notes: list[str]) -> pd.DataFrame | None:
        """The metrics at each evaluation point (``trajectory.csv``), as :meth:`history`."""
        return self._table(self.root / "cells" / cell_id / "trajectory.csv", ("step",), notes)

    @staticmethod
    def _table(path: Path, needs: Iterable[str], notes: list[str]) -> pd.DataFrame | None:
        if not path.exists():
            return None
        try:
            with open(path, "rb") as f:  # every line ganbench writes ends in a newline: a file cut short does not
                f.seek(0, 2)
                if f.tell() and (f.seek(-1, 2), f.read(1))[1] != b"\n":
                    raise ValueError("its last line is cut short (the file was truncated)")
            table = pd.read_csv(path)
            bad = [c for c in needs if c not in table or not pd.api.types.is_numeric_dtype(table[c])]
            if bad:
                raise ValueError(f"no numeric column {', '.join(bad)}")
            if table["step"].duplicated().any():
                raise ValueError("a step appears twice")
        except Exception as exc:  # any parse failure of a damaged or hand-edited file
            notes.append(f"{path} left out of the plots: unreadable ({type(exc).__name__}: {' '.join(str(exc).split())})")
            return None
        return table

    def write_points(self, cell: Cell, points: Any) -> None:
        """The generated 2-D points of the cell's final evaluation (``points.npy``, float32 [n, 2]):
        the samples the modes metric counted, for the report's scatter plot."""
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(points, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self.cell_dir(cell) / POINTS_FILE, buf.getvalue())

    def points(self, cell_id: str) -> Any:
        """The saved final evaluation points of a cell (numpy [n, 2]), None when there are none (a
        cell of image data, or one written before ganbench saved them)."""
        import numpy as np

        path = self.root / "cells" / cell_id / POINTS_FILE
        return np.load(path, allow_pickle=False) if path.is_file() else None

    def sample_files(self, cell_id: str) -> list[tuple[int, Path]]:
        """A cell's sample pictures, ``(step, path)`` in step order."""
        folder = self.root / "cells" / cell_id / "samples"
        found = []
        for path in folder.glob("step_*.png") if folder.is_dir() else []:
            digits = path.stem[5:]
            if digits.isascii() and digits.isdigit():
                found.append((int(digits), path))
        return sorted(found)

    def load_result(self, cell: Cell) -> dict[str, Any] | None:
        """The cell's row, None when it has none. A result.json that is not a row of this cell (a
        damaged disk or a hand edit: ganbench's own writes are atomic) is moved aside to
        ``result.json.unreadable`` and the cell counts as not run."""
        row = self.peek_result(cell)
        path = self.cell_dir(cell) / RESULT_FILE
        if row is None and path.exists():
            os.replace(path, path.with_name(RESULT_FILE + ".unreadable"))
        return row

    def remove(self, cell: Cell, name: str) -> None:
        path = self.cell_dir(cell) / name
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot remove {path}: {exc.strerror or exc}") from exc

    def save_checkpoint(self, cell: Cell, state: dict[str, Any]) -> None:
        atomic_torch_save(self.cell_dir(cell) / CHECKPOINT_FILE, state)

    def load_checkpoint(self, cell: Cell, device: Any) -> dict[str, Any] | None:
        """The cell's checkpoint (``torch.load(weights_only=True)``), None when there is none."""
        import torch

        path = self.cell_dir(cell) / CHECKPOINT_FILE
        if not path.exists():
            return None
        return torch.load(path, map_location=device, weights_only=True)

    def write_config(self, cell: Cell, config: dict[str, Any]) -> None:
        atomic_write_json(self.cell_dir(cell) / "config.json", config)

    def write_history(self, cell: Cell, history: list[dict[str, float]], columns: Iterable[str]) -> None:
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_bytes(self.cell_dir(cell) / "history.csv", buf.getvalue().encode())

    def history_log(self, cell: Cell, columns: Iterable[str], earlier: list[dict[str, float]] | None = None
                    ) -> HistoryLog:
        """``history.csv`` written while the cell trains (:class:`HistoryLog`), starting from
        ``earlier`` (the history of the checkpoint a resumed cell continues from)."""
        return HistoryLog(self.cell_dir(cell) / "history.csv", list(columns), earlier or [])

    def write_trajectory(self, cell: Cell, points: list[dict[str, Any]]) -> None:
        """The metrics at each evaluation point (``--set eval_every=N``), the final one last."""
        atomic_write_bytes(self.cell_dir(cell) / "trajectory.csv", pd.DataFrame(points).to_csv(index=False).encode())

    def write_error(self, cell: Cell, text: str) -> None:
        atomic_write_bytes(self.cell_dir(cell) / "error.txt", text.encode())

    def save_networks(self, cell: Cell, generator: dict[str, Any], discriminator: dict[str, Any],
                      raw_generator: dict[str, Any] | None, description: dict[str, Any]) -> None:
        """The trained networks' state dicts (CPU tensors): ``generator.pt`` (the one evaluated: the EMA
        generator when there is one), ``discriminator.pt`` and, with an EMA, ``generator_raw.pt``; and
        ``networks.json``, what :func:`ganbench.load_generator` needs to build them."""
        files = {GENERATOR_FILE: generator, DISCRIMINATOR_FILE: discriminator, RAW_GENERATOR_FILE: raw_generator}
        for name, state in files.items():
            if state is None:
                self.remove(cell, name)  # from an earlier attempt with an EMA
            else:
                atomic_torch_save(self.cell_dir(cell) / name, {k: v.detach().cpu() for k, v in state.items()})
        atomic_write_json(self.cell_dir(cell) / NETWORKS_FILE, description)

    def network_info(self, cell_id: str) -> dict[str, Any] | None:
        """A cell's ``networks.json`` (None when it has none: an untrained cell, or one written before
        ganbench saved it); a one-line UsageError naming the file when it is damaged."""
        path = self.root / "cells" / cell_id / NETWORKS_FILE
        return read_json(path, "description of trained networks") if path.is_file() else None

    def has_generator(self, cell_id: str) -> bool:
        """Whether the cell saved its trained generator (``generator.pt``)."""
        return (self.root / "cells" / cell_id / "generator.pt").is_file()

    def network_state(self, cell_id: str, which: str = "generator") -> dict[str, Any]:
        """The saved state dict of a cell's ``generator``, ``generator_raw`` or ``discriminator``; a
        one-line UsageError when the cell has none (it did not finish training) or it cannot be read."""
        path = self.root / "cells" / cell_id / f"{which}.pt"
        if not path.is_file():
            raise UsageError(f"{path.parent} has no trained {which.replace('_', ' ')} ({path.name})")
        import torch

        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file is one line naming it
            raise UsageError(f"{path} cannot be read as saved weights ({one_line(exc)})") from None

    def write_group_journal(self, lead: Cell, rows: list[dict[str, Any]]) -> None:
        """Every row of a replica group, before any of them is written (in the group's first cell's directory)."""
        atomic_write_json(self.cell_dir(lead) / GROUP_JOURNAL, {"rows": rows}, sort_keys=False)

    def recover_group_rows(self) -> list[str]:
        """Finish what a kill interrupted while a replica group's rows were written: each row of a journal is written
        where its cell's ``result.json`` differs (absent, or an older row of a retrained cell), then the checkpoints
        of the cells that did not fail and the journal are removed, as the run would have; the cell ids written.
        Only while holding :meth:`lock`."""
        written = []
        for journal in sorted((self.root / "cells").glob(f"*/{GROUP_JOURNAL}")):
            try:
                rows = read_json(journal, "replica group's rows").get("rows")
            except UsageError:
                rows = None
            ok = isinstance(rows, list) and all(isinstance(r, dict) and isinstance(r.get("cell_id"), str)
                                                and (self.root / "cells" / r["cell_id"]).is_dir() for r in rows)
            for row in rows if ok else []:  # newer than any row there (a failed one a retrained group replaces)
                folder = self.root / "cells" / row["cell_id"]
                if row_problem(row, row["cell_id"]) is None and self.peek_result(row["cell_id"]) != row:
                    atomic_write_json(folder / RESULT_FILE, row, sort_keys=False)
                    written.append(row["cell_id"])
            for row in rows if ok else []:
                if row.get("status") != "failed":
                    (self.root / "cells" / row["cell_id"] / CHECKPOINT_FILE).unlink(missing_ok=True)
            journal.unlink()  # unreadable: its rows are lost, the group's checkpoint stays and the cells resume there
        return written

    def write_result(self, cell: Cell, row: dict[str, Any]) -> None:
        """The row in the runner's order (metrics as computed), so results.csv keeps that order."""
        atomic_write_json(self.cell_dir(cell) / RESULT_FILE, row, sort_keys=False)

    def rows(self) -> list[dict[str, Any]]:
        """Every cell's row. A result.json that cannot be read or is not a row of its cell (an empty
        object, an unknown status, a ``cell_id`` naming another folder) is an error naming the file,
        never a row that silently drops out of a table or points outside the run directory (the
        runner moves such files aside and re-runs the cell)."""
        out = []
        for path in sorted((self.root / "cells").glob(f"*/{RESULT_FILE}")):
            fix = f"re-run the command that made {self.root} to train that cell again"
            try:
                row = read_json(path, "result row")
            except UsageError as exc:
                raise UsageError(f"{exc}; {fix}") from None
            problem = row_problem(row, path.parent.name)
            if problem:
                raise UsageError(f"{path} is not a ganbench result row: {problem}; {fix}")
            out.append(row)
        return out

    def reference_rows(self) -> list[dict[str, Any]]:
        """The run's reference rows (:mod:`ganbench.references`), one per data set, kind and seed; a
        damaged file is an error naming it."""
        out = []
        for path in sorted((self.root / "references").glob("*.json")):
            row = read_json(path, "reference row")
            if not isinstance(row, dict) or row.get("reference") is not True or "dataset" not in row:
                raise UsageError(f"{path} is not a ganbench reference row; re-run the command that made {self.root}")
            out.append(row)
        return out

    def write_references(self, dataset: str, key: str, rows: list[dict[str, Any]]) -> None:
        """Replace the reference rows of ``dataset`` (none: remove them) and record what they were
        computed from (``key``) in a manifest written last: a write cut short leaves no manifest of the
        new key, so the rows are computed again (:meth:`reference_key`)."""
        folder = self.root / "references"
        manifest = folder / f".{safe_name(dataset)}.key"
        if manifest.exists():
            manifest.unlink()
        for path in folder.glob("*.json"):
            try:
                row = read_json(path, "reference row")
            except UsageError:  # a damaged file: replaced by what is computed now
                row = {"dataset": dataset}
            if isinstance(row, dict) and row.get("dataset") == dataset:
                path.unlink()
        for row in rows:
            atomic_write_json(folder / f"{row['cell_id']}.json", {**row, "reference_key": key})
        if rows:
            atomic_write_json(manifest, {"dataset": dataset, "key": key, "rows": sorted(r["cell_id"] for r in rows)})

    def reference_key(self, dataset: str) -> str | None:
        """What the stored reference rows of ``dataset`` were computed from, when all of them are there
        (None: none stored, or a write of them was cut short)."""
        manifest = self.root / "references" / f".{safe_name(dataset)}.key"
        try:
            record = read_json(manifest, "reference manifest") if manifest.is_file() else None
        except UsageError:
            return None
        if not isinstance(record, dict) or not all((self.root / "references" / f"{c}.json").is_file()
                                                   for c in record.get("rows", [])):
            return None
        return record.get("key")

    def references_rescored(self, dataset: str, fingerprint: str, seeds: Iterable[int]) -> bool:
        """Whether ``ganbench evaluate`` wrote the reference rows of ``dataset`` for this data (``fingerprint``)
        and every seed of ``seeds`` (a later run keeps them: they follow the rescored cells' extractor and
        sample count, not the request's); rows of other data, or missing seeds, are computed again."""
        rows = [r for r in self.reference_rows() if r.get("dataset") == dataset]
        return (any(r.get("rescored_at") for r in rows) and all(r.get("data_fingerprint") == fingerprint for r in rows)
                and set(seeds) <= {r.get("seed") for r in rows})

    def table(self) -> pd.DataFrame:
        return rows_to_frame(self.rows())

    def write_table(self) -> pd.DataFrame:
        df = self.table()
        atomic_write_bytes(self.root / TABLE_FILE, df.to_csv(index=False).encode())
        return df


class HistoryLog:
    """A cell's ``history.csv`` while it trains: the header and the rows so far are written
    atomically when it opens, then new rows are appended in whole lines — at :meth:`flush` (each
    checkpoint, the end) and at least every :attr:`every` seconds. Each flush is one ``write`` of
    complete lines, so ``tail -f`` and a report of a running cell never see half a line (a kill
    between flushes loses only unflushed rows, which the resumed cell writes again from its
    checkpoint). A failed append is a :class:`StorageError`, like every other write."""

    #: the most seconds between two flushes
    every = 2.0

    def __init__(self, path: Path, columns: list[str], earlier: list[dict[str, float]]):
        import io

        self.path = Path(path)
        self._buffer = io.StringIO()  # lines not yet on disk
        self._writer = csv.DictWriter(self._buffer, fieldnames=columns, lineterminator="\n")
        self._writer.writeheader()
        self._writer.writerows(earlier)
        atomic_write_bytes(self.path, self._take())
        self._last = time.monotonic()

    def _take(self) -> bytes:
        data = self._buffer.getvalue().encode()
        self._buffer.seek(0)
        self._buffer.truncate(0)
        return data

    def add(self, record: dict[str, Any]) -> None:
        self._writer.writerow(record)
        if time.monotonic() - self._last >= self.every:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        data = self._take()
        if not data:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                view = memoryview(data)
                while view:  # a regular file takes it in one write; a short write is continued, not lost
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot write {self.path}: {exc.strerror or exc}") from exc


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a table in :func:`column_order`, sorted by data set, model, loss and seed."""
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=ID_COLUMNS)
    df = df[column_order(df.columns)]
    return df.sort_values(["dataset", "model", "loss", "seed"], kind="stable").reset_index(drop=True)
