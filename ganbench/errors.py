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


class DataUnavailable(GanbenchError):
    """A data set's files are not on disk and could not be fetched. The message says what is missing,
    where to put it, and which data sets work offline; ganbench never substitutes other data."""


def one_line(exc: BaseException) -> str:
    """``TypeName: message`` on one line (for result rows and one-line errors)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
