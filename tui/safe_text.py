"""The one sanitiser for untrusted text: anything mltui shows that came from outside its code.

A library's version, an error message, a stderr tail, a sample's output, a file path, package
metadata and the cache file that replays all of these are untrusted: they may hold terminal
control sequences (a window title, an OSC 52 clipboard write, an OSC 8 link, colours, a cursor
move that paints over the verdict) or text that looks like Rich/Textual markup
(`/data/[old]/env`, `[/dev/nvidia0]`, `[bold]x[/]`).

`inert()` makes such text harmless and visible, with one convention: every control character
except tab and newline is written as its Python escape, `\\xNN` (`\\uNNNN` for the few Unicode
format controls that reorder or break lines). An escape sequence thus shows whole and does
nothing: `ESC [ 3 1 m` becomes the nine characters `\\x1b[31m`, an OSC title
`ESC ] 0 ; t BEL` becomes `\\x1b]0;t\\x07`, and the 8-bit CSI `\\x9b` stays `\\x9b`. The form is
plain ASCII, so it prints under LANG=C and an ASCII-only PYTHONIOENCODING too.

The helpers hand the result to Rich and Textual without any markup parsing: `safe_text()` gives a
Rich `Text`, `safe_content()` a Textual `Content`, and `safe_markup()` a string escaped for the
few APIs that insist on markup (a notification). JSON output does not go through here: it keeps
the exact strings (JSON's own escaping is enough there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.markup import escape
from rich.style import Style
from rich.text import Text
from textual.content import Content

#: Characters never written to a terminal as they are: C0 except tab and newline, DEL, C1, and
#: the Unicode controls that reorder text (bidi overrides/isolates) or break lines.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: object) -> str:
    """Untrusted text made harmless for a terminal: controls shown as `\\xNN`, tab/newline kept.

    Anything that is not a string is turned into one first (a wrongly typed field from outside).
    Text without any control character comes back unchanged (the same object).
    """
    if not isinstance(text, str):
        text = str(text)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_visible, text)


def inert_line(text: object) -> str:
    """Like `inert()`, for text that must stay on one line: a newline shows as `\\x0a` too."""
    return inert(text).replace("\n", "\\x0a")


def inert_lines(texts: list[str]) -> list[str]:
    """`inert()` over many lines at once; the same list back when none needs a change (fast)."""
    if _UNSAFE.search("".join(texts)) is None:
        return texts
    return [inert(t) for t in texts]


def is_inert(text: str) -> bool:
    """True when `text` holds no character that `inert()` would change."""
    return _UNSAFE.search(text) is None


def safe_text(text: object, style: str | Style = "") -> Text:
    """A Rich `Text` holding untrusted text, inert and never parsed as markup."""
    return Text(inert(text), style=style)


def safe_assemble(*parts: str | tuple[object, str | Style] | Text) -> Text:
    """A Rich `Text` from pieces: plain strings and `(untrusted, style)` pairs are made inert.

    A `Text` piece is taken as it is (it was built by mltui, or by `safe_text`).
    """
    pieces: list[str | tuple[str, str | Style] | Text] = []
    for part in parts:
        if isinstance(part, Text):
            pieces.append(part)
        elif isinstance(part, tuple):
            pieces.append((inert(part[0]), part[1]))
        else:
            pieces.append(inert(part))
    return Text.assemble(*pieces)


def safe_content(text: object, style: str = "") -> Content:
    """A Textual `Content` holding untrusted text, inert and never parsed as markup."""
    return Content.styled(inert(text), style) if style else Content(inert(text))


def safe_markup(text: object) -> str:
    """Untrusted text for an API that parses markup (a notification): inert and escaped."""
    return escape(inert(text))


def safe_join(texts: Iterable[object], separator: str = ", ") -> str:
    """Untrusted items made inert and joined (a list of names or versions on one line)."""
    return separator.join(inert_line(t) for t in texts)
