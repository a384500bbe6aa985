"""Reading files mltui did not write itself (or that something else may have replaced): safely.

A path where a regular file is expected may hold a FIFO (opening it for reading would wait for a
writer forever), a device (`/dev/zero` never ends), a huge file, or bytes that are not UTF-8.
`read_regular` opens without blocking, reads only a regular file, and only up to a bound.
JSON from such a file is read by `probes.untrusted_json.read_json_file`, which uses it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a folder or a socket: not read."""


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The first `max_bytes` bytes of a regular file; raises OSError for anything else.

    Opening does not block (a FIFO without a writer), and a FIFO, device, folder or socket
    raises NotARegularFile before a byte is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile(f"{path}: not a regular file")
        chunks: list[bytes] = []
        left = max_bytes
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, max_bytes: int) -> str:
    """`read_regular` decoded as UTF-8 (undecodable bytes replaced)."""
    return read_regular(path, max_bytes).decode("utf-8", "replace")


def expand_user(text: str, where: str) -> Path:
    """`text` with a leading `~` or `~user` expanded; OSError (one line naming `where`) when
    that home cannot be found (pathlib raises RuntimeError there, which callers that catch
    OSError for every other bad path would let through as a traceback)."""
    try:
        return Path(text).expanduser()
    except (RuntimeError, KeyError) as exc:
        raise OSError(errno.ENOENT, f"{where}: cannot find that home folder ({exc})") from None
