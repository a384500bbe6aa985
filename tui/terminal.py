"""What the user's terminal can show: Unicode or only ASCII, colour or none.

Decided from the terminal's own settings, not from Python's stream encoding: under `LANG=C`
Python switches to UTF-8 mode (PEP 540) and coerces LC_CTYPE to C.UTF-8 (PEP 538) in its own
environment, so `sys.stdout.encoding` says utf-8 while the terminal may draw only ASCII. The
locale variables are therefore read as the process received them (`/proc/self/environ` on Linux,
before Python's coercion), LC_ALL first, then LC_CTYPE, then LANG, as the C library does.

- ASCII: a non-UTF-8 locale (C, POSIX, `en_US.ISO-8859-1`, none set), or TERM=dumb/linux/vt*.
- Colour: none for NO_COLOR (any value) or TERM=dumb.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Terminals that cannot draw box or block characters whatever the locale.
ASCII_TERMS = frozenset({"dumb", "linux", "vt100", "vt102", "vt220", "ansi"})
#: What PEP 538 writes into LC_CTYPE when it coerces the C locale.
_COERCED_CTYPES = frozenset({"C.UTF-8", "C.utf8"})
_LOCALE_VARIABLES = ("LC_ALL", "LC_CTYPE", "LANG")


def launch_environment(proc_environ: str = "/proc/self/environ") -> dict[str, str]:
    """The environment this process was started with (before Python changed it), if readable.

    Only the locale variables and TERM matter here; the current `os.environ` fills in when the
    file cannot be read (not Linux).
    """
    try:
        with open(proc_environ, "rb") as handle:
            raw = handle.read()
    except OSError:
        return dict(os.environ)
    start: dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep:
            start[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return start


def locale_is_utf8(environ: Mapping[str, str]) -> bool:
    """True when the locale these variables select uses UTF-8 (the first one set decides)."""
    for variable in _LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if not value:
            continue
        if variable == "LC_CTYPE" and value in _COERCED_CTYPES and _is_c(environ.get("LANG", "")):
            # Python's own C-locale coercion, not the user's choice (when read from os.environ).
            return False
        codeset = value.partition(".")[2].partition("@")[0]
        if not codeset:
            # "C.UTF-8" has one; a bare "C", "POSIX" or "en_US" is a single-byte locale.
            return value.upper() in ("UTF-8", "UTF8")
        return codeset.replace("-", "").lower() == "utf8"
    return False


def _is_c(value: str) -> bool:
    return value in ("", "C", "POSIX")


def wants_ascii(flag: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """True when asked to, when TERM cannot draw boxes, or when the locale is not UTF-8."""
    if flag:
        return True
    env = launch_environment() if environ is None else environ
    if env.get("TERM", "") in ASCII_TERMS:
        return True
    return not locale_is_utf8(env)


def wants_colour(environ: Mapping[str, str] | None = None) -> bool:
    """False for NO_COLOR (any value, as no-color.org says) and for TERM=dumb."""
    env = os.environ if environ is None else environ
    return "NO_COLOR" not in env and env.get("TERM", "") != "dumb"


#: Plain-ASCII stand-ins for the non-ASCII characters mltui's own text uses.
ASCII_FALLBACK = str.maketrans(
    {
        "\u2014": "--",  # em dash
        "\u2013": "-",  # en dash
        "\u2026": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2192": "->",
        "\u2190": "<-",
        "\u21aa": ">",
        "\u2265": ">=",
        "\u2264": "<=",
        "\u00d7": "x",
        "\u00b0": " deg",
        "\u00b5": "u",
        "\u2713": "+",
        "\u2717": "x",
        "\u2022": "*",
        "\u00b7": ".",
        "\u2500": "-",
        "\u2501": "-",
        "\u2502": "|",
        "\u2503": "|",
        "\u00a0": " ",
    }
)


def to_ascii(text: str) -> str:
    """`text` with only ASCII: known characters spelled out, any other shown as `?`."""
    if text.isascii():
        return text
    return text.translate(ASCII_FALLBACK).encode("ascii", "replace").decode("ascii")


def _box_drawing() -> dict[str, str]:
    """Box-drawing characters (U+2500..U+257F) by shape: a line is '-' or '|', the rest '+'."""
    import unicodedata

    shapes = {}
    for code in range(0x2500, 0x2580):
        name = unicodedata.name(chr(code), "")
        across, down = "HORIZONTAL" in name, "VERTICAL" in name
        shapes[chr(code)] = "-" if across and not down else "|" if down and not across else "+"
    for char in ("\u2574", "\u2576", "\u2578", "\u257a", "\u257c", "\u257e"):
        shapes[char] = "-"  # half lines (left, right)
    for char in ("\u2575", "\u2577", "\u2579", "\u257b", "\u257d", "\u257f"):
        shapes[char] = "|"  # half lines (up, down)
    return shapes


#: One-cell ASCII stand-ins for drawing characters (the dashboard's cells keep their width).
_ONE_CELL = {
    **_box_drawing(),
    "\u258f": "|",
    "\u2595": "|",
    **dict.fromkeys("\u2588\u2589\u258a\u258b\u258c\u258d\u258e\u2590\u2593", "#"),
    **dict.fromkeys("\u2592", "="),
    **dict.fromkeys("\u2591", "."),
    **dict.fromkeys("\u2581\u2582\u2583\u2584", "_"),
    **dict.fromkeys("\u2585\u2586\u2587\u2580\u2594", "="),
    "\u2014": "-",
    "\u2013": "-",
    "\u2026": ".",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2192": ">",
    "\u2190": "<",
    "\u21aa": ">",
    "\u25b2": "^",
    "\u25bc": "v",
    "\u25b6": ">",
    "\u25c0": "<",
    "\u25cf": "*",
    "\u25cb": "o",
    "\u2b58": "o",
    "\u2022": "*",
    "\u00b7": ".",
    "\u00d7": "x",
    "\u00b0": "o",
    "\u00b5": "u",
    "\u2713": "+",
    "\u2714": "+",
    "\u2717": "x",
    "\u2718": "x",
    "\u00a0": " ",
    "\u2265": ">",
    "\u2264": "<",
}


def to_ascii_cells(text: str) -> str:
    """`text` in ASCII with the same width in cells: one stand-in per one-cell character, `?`
    per cell for anything else (so a screen drawn for Unicode keeps its layout)."""
    if text.isascii():
        return text
    from rich.cells import cell_len

    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif char in _ONE_CELL:
            out.append(_ONE_CELL[char])
        else:
            out.append("?" * cell_len(char))
    return "".join(out)
