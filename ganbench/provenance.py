"""Provenance: which code and which machine produced a result — the git commit of the running
checkout and the environment (versions, platform, device, plugins). The runner records both with every
run (``environment.json``, the ``git_commit`` column); the leaderboard states them on every board.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganbench import __version__


def git_commit() -> str | None:
    """The commit of the ganbench checkout that is running, with ``-dirty`` when tracked files have
    uncommitted changes (``None`` outside a git checkout, e.g. an installed wheel)."""
    here = Path(__file__).parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if status.returncode == 0 and status.stdout.strip() else "")


def environment(plugins, device, commit: str | None = None) -> dict[str, Any]:
    import torch
    import torchvision

    return {
        "ganbench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": commit,
        "plugins": {
            p.name: f"{p.provenance.distribution} {p.provenance.version}" if p.provenance.distribution else p.module
            for p in plugins.info()
        },
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
