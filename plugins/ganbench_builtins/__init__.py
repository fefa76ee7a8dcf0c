"""ganbench's built-in plugins.

They are wired exactly as a third-party plugin is: each module below is an entry point of the
``ganbench`` group in ganbench's own ``pyproject.toml`` and implements the same hooks. Modules that
implement hooks import no torch at import time; the networks live in one module per family.
"""


class _Lazy:
    """A function of a module imported on first use; ``inspect.signature`` sees the real function's
    parameters (so the core knows which arguments it names: ``d_real``, ``progress``)."""

    def __init__(self, module: str, name: str):
        self.module, self.__name__ = module, name

    def _target(self):
        import importlib

        return getattr(importlib.import_module(f"ganbench_builtins.{self.module}"), self.__name__)

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(self._target())

    def __repr__(self) -> str:
        return f"<lazy ganbench_builtins.{self.module}.{self.__name__}>"


def lazy(module: str, name: str):
    """``ganbench_builtins.<module>.<name>``, imported on first call: registering a plugin imports
    no torch."""
    return _Lazy(module, name)
