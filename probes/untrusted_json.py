"""The one bounded decoder for JSON that comes from outside mltui.

Probe lines, a sample's verdict line, perf events, fleet node reports, the cache files and the
probe cache folder all hold text mltui did not write itself (or that something else may have
replaced). Every one of them is decoded here, and every way such text can be bad ends in one
error type, `UntrustedJSONError` (a ValueError):

- larger than `max_bytes` (checked before anything is decoded);
- not UTF-8 (bytes), or not JSON (truncated, trailing text, a bare `NaN`/`Infinity`);
- nested deeper than `max_depth`, found by a linear scan *before* `json.loads` runs, so no input
  can exhaust the parser's stack (`RecursionError`) however deep it is;
- more containers than `max_containers` (each costs ~60 bytes of memory per 2 bytes of input);
- a number that is not finite as a float (`1e999`) or an integer longer than `MAX_INT_DIGITS`.

A leading UTF-8 byte-order mark is skipped. A lone UTF-16 surrogate (`"\\ud800"`) cannot be
printed or encoded, so in decoded strings it becomes U+FFFD: the rest of the value is kept.
`read_json_file` adds the file rules of `probes.files.read_regular`: a regular file only (never
a FIFO that would wait forever or a device that never ends), opened without blocking, read only
up to the size limit.
"""

from __future__ import annotations

import json
import math
import os
import re
from itertools import accumulate
from typing import Any

from probes.files import read_regular

#: Deepest nesting accepted (mltui's own data nests 6 levels; the JSON parser recurses per level).
MAX_JSON_DEPTH = 64
#: Default size limit of one JSON text.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Default limit on the number of arrays and objects in one text (bounds the memory of `[{},{}…]`).
DEFAULT_MAX_CONTAINERS = 1_000_000
#: Longest integer literal accepted (Python's own int/str conversion limit).
MAX_INT_DIGITS = 4300

_BOM = "\ufeff"
# One JSON string (also one cut off by the end of the text, so every quote starts a match and the
# scan stays linear), or a run of characters that are neither brackets nor quotes.
_STRING_OR_FILLER = re.compile(r'"[^"\\]*(?:\\[\s\S]?[^"\\]*)*(?:"|\Z)|[^"\[\]{}]+')
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class UntrustedJSONError(ValueError):
    """Text from outside is not JSON mltui accepts (too big, too deep, invalid, not finite…)."""


def parse_json(
    text: str | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    max_containers: int = DEFAULT_MAX_CONTAINERS,
) -> Any:
    """Decode one JSON text from outside; raises UntrustedJSONError for every way it is bad."""
    decoded = _bounded_text(text, max_bytes)
    if decoded.startswith(_BOM):
        decoded = decoded[1:]
    _check_nesting(decoded, max_depth, max_containers)
    return _decode(decoded, max_depth, whole=True)[0]


def parse_json_at(
    text: str,
    start: int = 0,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    max_containers: int = DEFAULT_MAX_CONTAINERS,
) -> tuple[Any, int]:
    """The one JSON value that begins at `text[start]` and the index just after it.

    What follows the value is left alone (a second report, a logout line), so a caller finds
    where a value ends without trying spans. The same bounds and error type as `parse_json`;
    the nesting limit is checked over everything from `start` on.
    """
    rest = _bounded_text(text[start:], max_bytes)
    _check_nesting(rest, max_depth, max_containers)
    value, end = _decode(rest, max_depth, whole=False)
    return value, start + end


def _bounded_text(text: str | bytes, max_bytes: int) -> str:
    """`text` as str when it is at most `max_bytes` of UTF-8; UntrustedJSONError otherwise."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > max_bytes:
            raise UntrustedJSONError(f"larger than {_size(max_bytes)}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedJSONError(f"not UTF-8 (byte {exc.start})") from None
    if isinstance(text, str):
        if len(text) > max_bytes or (
            len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes
        ):
            raise UntrustedJSONError(f"larger than {_size(max_bytes)}")
        return text
    raise UntrustedJSONError(f"not text but {type(text).__name__}")


def _decode(text: str, max_depth: int, *, whole: bool) -> tuple[Any, int]:
    """Decode the JSON value at the start of `text` (all of it when `whole`) after the nesting
    scan; (value, index after it) with lone surrogates replaced."""
    try:
        if whole:
            value, end = _DECODER.decode(text), len(text)
        else:
            value, end = _DECODER.raw_decode(text)
    except UntrustedJSONError:
        raise
    except RecursionError:  # not reachable after the scan; kept so no input can crash a caller
        raise UntrustedJSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise UntrustedJSONError(f"not valid JSON ({_first_line(exc)})") from None
    if _SURROGATE_ESCAPE.search(text, 0, end) or _SURROGATE.search(text, 0, end):
        value = _replace_surrogates(value)
    return value, end


def read_json_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """The JSON in a regular file of at most `max_bytes`; UntrustedJSONError for anything else.

    A FIFO, device, folder, socket, a symlink to one of them, a missing or unreadable path and
    a file over the limit are all UntrustedJSONError (its message names the path), so a caller
    catches one type.
    """
    try:
        data = read_regular(os.fspath(path), max_bytes + 1)
    except OSError as exc:
        raise UntrustedJSONError(f"{path}: {exc.strerror or exc}") from None
    try:
        return parse_json(data, max_bytes=max_bytes, max_depth=max_depth)
    except UntrustedJSONError as exc:
        raise UntrustedJSONError(f"{path}: {exc}") from None


def _check_nesting(text: str, max_depth: int, max_containers: int) -> None:
    """Raise when brackets outside strings nest deeper than `max_depth` (no recursion)."""
    if text.count("[") + text.count("{") <= min(max_depth, max_containers):
        return  # too few brackets to nest deeper (most event lines): no scan needed
    brackets = _STRING_OR_FILLER.sub("", text)
    if not brackets:
        return
    opened = brackets.count("[") + brackets.count("{")
    if opened > max_containers:
        raise UntrustedJSONError(f"more than {max_containers} arrays and objects")
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth:
        raise UntrustedJSONError(f"nested deeper than {max_depth} levels")


def _refuse_constant(name: str) -> Any:
    raise UntrustedJSONError(f"{name} is not a JSON number mltui accepts")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise UntrustedJSONError(f"the number {literal[:40]} is too large for a float")
    return number


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_INT_DIGITS:
        raise UntrustedJSONError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _replace_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        holder, key = stack.pop()
        item = holder[key]
        if isinstance(item, str):
            holder[key] = _SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            if any(_SURROGATE.search(name) for name in item):
                fixed = {_SURROGATE.sub("\ufffd", name): entry for name, entry in item.items()}
                item.clear()
                item.update(fixed)
            stack.extend((item, name) for name in item)
    return root[0]


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
)


def _size(max_bytes: int) -> str:
    if max_bytes >= 1024 * 1024 and max_bytes % (1024 * 1024) == 0:
        return f"{max_bytes // (1024 * 1024)} MiB"
    return f"{max_bytes} bytes"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
