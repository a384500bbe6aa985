"""The command line's surroundings, handled once for every command: the standard streams.

- A closed standard stream (`mltui check >&-`) is reopened on /dev/null before anything else
  opens a file (or the next file opened would become "standard output"); a closed stdout is then
  one line on stderr and exit status 2: there is nowhere to write the report to.
- Text a stream's encoding cannot hold (an ASCII-only `PYTHONIOENCODING`, `LANG=C`, a path with
  undecodable bytes) is replaced with `?` instead of raising `UnicodeEncodeError`.
- A reader that went away (`mltui check | head -1`) ends the command quietly, as `head`'s
  writers end: no message, exit status 128 + SIGPIPE.
- A stdout that cannot take the output (a full disk, `> /dev/full`, an I/O error) is one line on
  stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from collections.abc import MutableMapping
from typing import NoReturn

from tui.exit_codes import EXIT_BROKEN_PIPE as EXIT_BROKEN_PIPE

#: Errors of a stream that cannot take more output.
WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: what is wrong, and where help is."""

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after one line on stderr (argparse prints the usage first)."""
        self.exit(2, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def _broken_pipe(console: object) -> None:
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def route_rich_broken_pipe() -> None:
    """Let a broken pipe under Rich reach the one handler too.

    Rich's Console ends the process itself on a broken pipe (SystemExit(1), which reads as
    "findings" here); raising BrokenPipeError instead gives every command the same quiet end.
    """
    from rich.console import Console

    Console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign,assignment]


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


#: Widest (and tallest) terminal believed from COLUMNS/LINES; past it the variable is ignored.
MAX_TERMINAL_CELLS = 10_000


def drop_bad_size_variables(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Remove COLUMNS and LINES when they are not a size a terminal can have (0, negative, not
    a number, absurdly large): Rich would print nothing at width 0. The terminal's own size (or
    the usual 80 columns off a terminal) is used instead. Returns the names removed."""
    environ = os.environ if environ is None else environ
    removed = []
    for name in ("COLUMNS", "LINES"):
        value = environ.get(name)
        if value is None:
            continue
        text = value.strip()
        if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_TERMINAL_CELLS):
            del environ[name]
            removed.append(name)
    return removed


def prepare_streams() -> str | None:
    """Make the standard streams safe to use; the reason the command cannot run, if any."""
    drop_bad_size_variables()
    closed = [fd for fd in (0, 1, 2) if not _fd_open(fd)]
    for fd in closed:
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if 2 in closed or sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - until exit
    if 0 in closed or sys.stdin is None:  # `mltui <&-`: reads get EOF, as from /dev/null
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - until exit
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(errors="replace")
    if 1 in closed or sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - until exit
        return "standard output is closed: there is nowhere to write to"
    return None


def silence_stdout() -> None:
    """Point stdout at /dev/null so the flush at exit cannot fail again (or print about it)."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)


def flush_stdout() -> None:
    """Flush stdout now, so a failing write surfaces here and not at interpreter exit."""
    if sys.stdout is not None:
        sys.stdout.flush()


def write_failure(exc: OSError) -> str | None:
    """The one line for an error that means stdout cannot take the output, else None."""
    if exc.errno in WRITE_FAILURES:
        return f"cannot write the output: {exc.strerror or exc}"
    return None
