"""The consoles ganbench prints through (rich).

On a terminal, rich fits tables to its width. Anywhere else — a file, a pipe, ``nohup``, a CI or
cluster log — there is no width to fit, and rich's default of 80 columns would cut cells
(``rin…``, ``0.0…``): such output gets a console wide enough that every table keeps its natural
width. Text that comes from users, plugins or files is never parsed as rich markup (see
:func:`plain`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

#: the width of a console that is not a terminal: wider than any table ganbench prints
UNBOUNDED = 10_000


def make_console(stderr: bool = False, **kwargs: Any) -> Console:
    """A console on stdout (or stderr) that never cuts a table when it is not a terminal."""
    console = Console(stderr=stderr, **kwargs)
    if console.is_terminal or "width" in kwargs:
        return console
    return Console(stderr=stderr, width=UNBOUNDED, **kwargs)


def plain(text: Any) -> Text:
    """``text`` as literal text: ``[red]`` or ``x[/y]`` in a path, a title or a plugin's message is
    shown as it is, never interpreted (or rejected) as rich markup."""
    return Text(str(text))
