"""Installed distributions in the real on-disk format (``NAME-VERSION.dist-info`` with METADATA and
entry_points.txt) in a folder the test puts on ``PYTHONPATH``: plugin discovery as pip leaves it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def install(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """Write the dist-info of ``dist`` ``version`` whose ``ganbench`` entry points are ``{name: module}``."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[ganbench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    (info / "RECORD").write_text("")


def ganbench(*args: str, pythonpath: list[Path] = (), timeout: int = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run the installed ``ganbench`` script with ``pythonpath`` prepended (wide terminal, text output)."""
    env = {**os.environ, "COLUMNS": "250"}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *filter(None, [os.environ.get("PYTHONPATH")])])
    script = str(Path(sys.executable).parent / "ganbench")
    return subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def broken_distribution(site: Path) -> None:
    """``broken-gan 0.3.0``, whose plugin ``broken-losses`` fails to import (a missing package)."""
    (site / "broken_gan").mkdir(parents=True)
    (site / "broken_gan" / "__init__.py").write_text("")
    (site / "broken_gan" / "losses.py").write_text("import cupy_that_is_not_installed\n")
    install(site, "broken-gan", "0.3.0", {"broken-losses": "broken_gan.losses"})
