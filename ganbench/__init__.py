"""ganbench: a plugin-based benchmark suite of GAN variants.

``import ganbench`` is light (no torch): :func:`run` imports the heavy parts when called.
"""

from __future__ import annotations

from typing import Any

from ganbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "load_generator", "run", "__version__"]


def run(*args: Any, **kwargs: Any):
    """Run a benchmark grid and return one row per cell as a pandas DataFrame; see :func:`ganbench.api.run`."""
    from ganbench.api import run as _run

    return _run(*args, **kwargs)


def load_generator(cell_dir: Any, device: Any = "cpu", **kwargs: Any):
    """The trained generator of a cell directory (``RUN_DIR/cells/<cell id>``), ready to sample; see
    :func:`ganbench.generators.load_generator`."""
    from ganbench.generators import load_generator as _load

    return _load(cell_dir, device, **kwargs)
