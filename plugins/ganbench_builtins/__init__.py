"""ganbench's built-in plugins.

They are wired exactly as a third-party plugin is: each module below is an entry point of the
``ganbench`` group in ganbench's own ``pyproject.toml`` and implements the same hooks. Modules that
implement hooks import no torch at import time; the networks live in one module per family.
"""


def lazy(module: str, name: str):
    """``ganbench_builtins.<module>.<name>``, imported on first call: registering a plugin imports
    no torch."""

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(f"ganbench_builtins.{module}"), name)(*args, **kwargs)

    call.__name__ = name
    return call
