"""Reading files mltui did not write itself (or that something else may have replaced): safely.

A path where a regular file is expected may hold a FIFO (opening it for reading would wait for a
writer forever), a device (`/dev/zero` never ends), a huge file, or bytes that are not UTF-8.
`read_regular` opens without blocking, reads only a regular file, and only up to a bound;
`read_json_file` adds JSON without NaN/Infinity and without nesting deep enough to exhaust the
parser's stack.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: Deepest nesting accepted in JSON read from outside (mltui's own data nests 6 levels).
MAX_JSON_DEPTH = 64


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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number mltui accepts")


def loads_strict(text: str | bytes) -> Any:
    """json.loads without NaN/Infinity; too deep a nesting is a ValueError, not a crash."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json_file(path: str | Path, max_bytes: int) -> Any:
    """A JSON file that must be a regular file of at most `max_bytes` (else OSError/ValueError)."""
    data = read_regular(path, max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: larger than {max_bytes} bytes")
    return loads_strict(data.decode("utf-8"))
