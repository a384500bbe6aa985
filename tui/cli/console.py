"""The command line's Rich consoles: colour, width and character set from the user's terminal.

One place decides, for every command: no colour escapes under NO_COLOR or TERM=dumb, and plain
ASCII when the terminal's locale is not UTF-8 or TERM cannot draw boxes (`tui.terminal`, which
reads the locale the terminal gave, not Python's UTF-8 mode). In ASCII the console writes
through `AsciiStream`: Rich sees an ASCII encoding (so it draws its boxes with `+-|`), and
every other character is spelled out or replaced before it reaches the terminal.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import TextIO

from rich.box import Box
from rich.console import Console, ConsoleOptions, RenderableType
from rich.live import Live

from tui.presentation import terminal_theme
from tui.terminal import to_ascii, wants_ascii, wants_colour


class _SimpleHead(Box):
    """Rich's SIMPLE_HEAD (a rule under the header, nothing else) that stays itself in ASCII.

    Rich swaps any non-ASCII box for one with a line between every column, which makes a table
    wider than the one measured and clips its right side (seen under LANG=C).
    """

    def substitute(self, options: ConsoleOptions, safe: bool = True) -> Box:
        """This box, or its ASCII twin on a console that can only write ASCII."""
        return _ASCII_SIMPLE_HEAD if options.ascii_only else super().substitute(options, safe)


_ASCII_SIMPLE_HEAD = Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
#: The CLI's tables: a rule under the header, in Unicode or ASCII.
SIMPLE_HEAD = _SimpleHead("    \n    \n ── \n    \n    \n    \n    \n    \n")


class AsciiStream:
    """A text stream that passes on only ASCII (see `tui.terminal.to_ascii`)."""

    encoding = "ascii"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write `text` with its non-ASCII characters spelled out or replaced."""
        return self.stream.write(to_ascii(text))

    def flush(self) -> None:
        """Flush the stream underneath."""
        self.stream.flush()

    def isatty(self) -> bool:
        """Whether the stream underneath is a terminal."""
        return self.stream.isatty()

    def fileno(self) -> int:
        """The file descriptor underneath (Rich asks it for the terminal's size)."""
        return self.stream.fileno()


class TrimmedLines:
    """A text stream that drops the spaces Rich pads each line with before its end.

    Only for output that is not a terminal (a pipe, a file): there, padding to the width is
    noise that `diff` and `grep` see; on a terminal a padded cell can carry a background colour.
    """

    #: Spaces (and the colour resets after them) at the end of a line.
    _TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8")
        self._pending = ""

    def write(self, text: str) -> int:
        """Write the complete lines of what has come so far, each without its trailing spaces."""
        whole, newline, rest = (self._pending + text).rpartition("\n")
        if newline:
            self.stream.write(self._TRAILING.sub(r"\1", whole) + "\n")
            self._pending = rest
        else:
            self._pending = rest
        return len(text)

    def flush(self) -> None:
        """Write what is pending (a line not ended yet) and flush the stream underneath."""
        if self._pending:
            self.stream.write(self._pending)
            self._pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        """Whether the stream underneath is a terminal (it is not, or this would not be used)."""
        return self.stream.isatty()

    def fileno(self) -> int:
        """The file descriptor underneath."""
        return self.stream.fileno()


def _not_a_terminal(stream: TextIO) -> bool:
    try:
        return not stream.isatty()
    except (AttributeError, ValueError, OSError):
        return True


def trimmed(text: str) -> str:
    """`text` without spaces at the end of its lines."""
    return TrimmedLines._TRAILING.sub(r"\1", text)


def ascii_output() -> bool:
    """True when this terminal should get plain ASCII (locale or TERM; `--ascii` aside)."""
    return wants_ascii(False)


def make_console(*, stderr: bool = False, ascii: bool | None = None) -> Console:
    """A Console for the CLI: mltui's style names, the terminal's colours, its character set."""
    stream: TextIO = sys.stderr if stderr else sys.stdout
    plain = ascii_output() if ascii is None else ascii
    colour = wants_colour()
    file: TextIO = AsciiStream(stream) if plain else stream  # type: ignore[assignment]
    if _not_a_terminal(stream):
        file = TrimmedLines(file)  # type: ignore[assignment]
    return Console(
        file=file,
        highlight=False,
        soft_wrap=False,
        theme=terminal_theme(),
        no_color=not colour,
        color_system="auto" if colour else None,
        # Rich would treat TERM=dumb as a terminal without colour anyway; say it plainly.
        force_terminal=None,
        legacy_windows=False if os.name != "nt" else None,
    )


def print_plain(text: str, *, ascii: bool | None = None) -> None:
    """Print text that is not Rich (Markdown, JSON-free reports) in the terminal's characters."""
    plain = ascii_output() if ascii is None else ascii
    text = to_ascii(text) if plain else text
    sys.stdout.write(trimmed(text) if _not_a_terminal(sys.stdout) else text)


class LiveProgress:
    """A transient live panel on stderr that a command updates, from any thread, while it works.

    A subclass sets up its state before calling `__init__` here (which draws it once), changes it
    under `self.lock`, calls `redraw()`, and draws it in `_render()`.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live = Live(
            self._render(),
            console=make_console(stderr=True),
            transient=True,
            refresh_per_second=8,
        )

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def redraw(self) -> None:
        """Show the current state."""
        self.live.update(self._render())

    def _render(self) -> RenderableType:
        raise NotImplementedError
