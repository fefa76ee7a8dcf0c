"""Where ganbench keeps things on disk."""

from __future__ import annotations

import hashlib
import os
import re
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


#: runs of characters that never go into a file name ganbench makes (also the cell ids' rule)
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 60) -> str:
    """A file name made from ``text`` (a data set, model or loss name, a title): ``text`` itself when
    it is already safe — letters, digits, ``._-``, not starting with a dot, at most ``limit``
    characters — else its unsafe runs replaced by ``_``, cut to ``limit`` and followed by 8 hex
    digits of a hash of ``text``, so distinct names never share a file (``folder:../../x`` →
    ``folder_.._.._x-1a2b3c4d``, never a path). It never contains a path separator."""
    text = str(text)
    if text and len(text) <= limit and not text.startswith(".") and not UNSAFE.search(text):
        return text
    stem = UNSAFE.sub("_", text).lstrip(".")[:limit] or "_"
    return f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
