"""Where ganbench keeps things on disk."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GANBENCH_CACHE"


def cache_dir() -> Path:
    """``$GANBENCH_CACHE``, else ``$XDG_CACHE_HOME/ganbench``, else ``~/.cache/ganbench``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ganbench"


DATA_ENV = "GANBENCH_DATA_ROOT"


def data_root() -> Path:
    """Where downloadable data sets live unless ``--data-root`` says otherwise:
    ``$GANBENCH_DATA_ROOT``, else ``<cache dir>/data``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return cache_dir() / "data"
