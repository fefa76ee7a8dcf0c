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


def ganbench_here(*args: str) -> subprocess.CompletedProcess:
    """The same command line as :func:`ganbench`, run by the CLI in this process (click's CliRunner):
    for the reference and re-runs of tests whose subject is another process (a killed one), it saves
    the seconds of imports a new interpreter costs. The plugins are this environment's installed ones;
    torch's thread count is restored afterwards."""
    import torch
    from click.testing import CliRunner

    from ganbench.cli import cli

    threads = torch.get_num_threads()
    try:
        res = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    finally:
        torch.set_num_threads(threads)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return subprocess.CompletedProcess(["ganbench", *args], res.exit_code, res.stdout, res.stderr)


def broken_distribution(site: Path) -> None:
    """``broken-gan 0.3.0``, whose plugin ``broken-losses`` fails to import (a missing package)."""
    (site / "broken_gan").mkdir(parents=True)
    (site / "broken_gan" / "__init__.py").write_text("")
    (site / "broken_gan" / "losses.py").write_text("import cupy_that_is_not_installed\n")
    install(site, "broken-gan", "0.3.0", {"broken-losses": "broken_gan.losses"})
