"""Error types. Every error a user can cause derives from :class:`GanbenchError`.

The CLI prints a ``GanbenchError`` as one line (``Error: ...``) and exits with its ``exit_code``
(2: bad input; 3: the output could not be written); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GanbenchError(Exception):
    """An error caused by input (names, options, files, plugins): shown as one line, exit code 2."""

    exit_code = 2


class UsageError(GanbenchError):
    """A bad option value or combination given by the user."""


class UnknownNameError(UsageError):
    """A model, loss, dataset or metric name that no plugin registered."""


class PluginError(GanbenchError):
    """A plugin failed to load or registered something invalid (duplicate name, bad spec)."""


class DataUnavailable(GanbenchError):
    """A data set's files are not on disk and could not be fetched. The message says what is missing,
    where to put it, and which data sets work offline; ganbench never substitutes other data."""


class StorageError(OSError, GanbenchError):
    """A file ganbench writes could not be written (disk full, permissions changed mid-run): the run
    stops with one line and exit status 3. Finished cells are kept (every write is atomic), so
    re-running the command continues. Also an ``OSError``, so callers that tolerate I/O errors (a
    read-only cache) still do."""

    exit_code = 3

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def safe_str(obj: object) -> str:
    """``str(obj)``, or a description of the failure when ``__str__`` itself raises (a plugin's
    exception may be unprintable; its cell must still fail with a message)."""
    try:
        return str(obj)
    except BaseException as exc:  # any failure of foreign code, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"<unprintable {type(obj).__name__}: str() raised {type(exc).__name__}>"


def one_line(exc: BaseException) -> str:
    """``TypeName: message`` on one line (for result rows and one-line errors)."""
    text = " ".join(safe_str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CellFailure(Exception):
    """A cell's failure, already described in one line (who raised, where, the error); the original
    exception is its ``__cause__``. Only that cell fails: the grid goes on."""


def call_plugin(who: str, where: str, fn, *args, passthrough: tuple[type[BaseException], ...] = (), **kwargs):
    """``fn(*args, **kwargs)``, where ``fn`` is a plugin's code (``who``, e.g. "model 'x' of plugin
    'y' (dist 1.0)"). Whatever it raises — ``SystemExit`` from a stray ``sys.exit()`` included, but
    not Ctrl-C — becomes a :class:`CellFailure` naming ``who`` and ``where``, so one plugin can never
    end the run (a :class:`StorageError` from the plugin's own writes included: ganbench's writes of
    the run directory happen outside plugin code). Exceptions of the types in ``passthrough`` (and
    failures already described) pass."""
    try:
        return fn(*args, **kwargs)
    except (KeyboardInterrupt, CellFailure, *passthrough):
        raise
    except BaseException as exc:  # the cell boundary: anything foreign code raises
        raise CellFailure(f"{who} raised in {where}: {one_line(exc)}") from exc
