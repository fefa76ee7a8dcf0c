"""ganbench: a plugin-based benchmark suite of GAN variants.

``import ganbench`` is light (no torch): :func:`run` imports the heavy parts when called.
"""

from __future__ import annotations

from typing import Any

from ganbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "run", "__version__"]


def run(*args: Any, **kwargs: Any):
    """Run a benchmark grid and return one row per cell as a pandas DataFrame; see :func:`ganbench.api.run`."""
    from ganbench.api import run as _run

    return _run(*args, **kwargs)
