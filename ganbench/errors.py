"""Error types. Every error a user can cause derives from :class:`GanbenchError`.

The CLI prints a ``GanbenchError`` as one line (``Error: ...``) and exits with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GanbenchError(Exception):
    """An error caused by input (names, options, files, plugins): shown as one line, exit code 2."""


class UsageError(GanbenchError):
    """A bad option value or combination given by the user."""


class UnknownNameError(UsageError):
    """A model, loss, dataset or metric name that no plugin registered."""


class PluginError(GanbenchError):
    """A plugin failed to load or registered something invalid (duplicate name, bad spec)."""
