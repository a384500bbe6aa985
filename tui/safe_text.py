"""The one sanitiser for untrusted text: anything mltui shows that came from outside its code.

A library's version, an error message, a stderr tail, a sample's output, a file path, package
metadata and the cache file that replays all of these are untrusted: they may hold terminal
control sequences (a window title, an OSC 52 clipboard write, an OSC 8 link, colours, a cursor
move that paints over the verdict) or text that looks like Rich/Textual markup
(`/data/[old]/env`, `[/dev/nvidia0]`, `[bold]x[/]`).

`inert()` makes such text harmless and visible, with one convention: every character a terminal
would act on or hide, except tab and newline, is written as its Python escape: `\\xNN`,
`\\uNNNN` or `\\UNNNNNNNN`. An escape sequence thus shows whole and does nothing: `ESC [ 3 1 m`
becomes the nine characters `\\x1b[31m`, an OSC title `ESC ] 0 ; t BEL` becomes
`\\x1b]0;t\\x07`, and the 8-bit CSI `\\x9b` stays `\\x9b`. The escape is plain ASCII, so it
prints under LANG=C and an ASCII-only PYTHONIOENCODING too.

Which characters (decided once, here): the C0 and C1 controls and DEL; every Unicode *format*
character (category Cf: the bidi overrides and isolates, U+061C, the zero-width ones
U+200B-U+200F, U+2060-U+2064, U+FEFF, soft hyphen, the tag block U+E0000-U+E007F, ...); the line
and paragraph separators (Zl, Zp); surrogates (Cs, from undecodable bytes: they cannot even be
encoded for a terminal); private-use characters (Co: a glyph nobody agreed on, of no known width)
and the noncharacters. Unassigned code points are kept: Python's Unicode tables lag behind the
terminal's, and an emoji newer than them would be escaped. One exception keeps emoji readable:
a zero-width joiner between two emoji (a ZWJ sequence such as a family) stays. Letters, marks
and symbols of every script (é, 中文, العربية, 🙂) are kept as they are.

Outside text never reaches a markup parser, escaped or not: `safe_text()` gives a Rich `Text`,
`safe_content()` a Textual `Content` (border titles, options, palette hits), and `notify()` shows
a notification with Textual's markup switched off. Text of mltui's own (a newline between two
lines of a message) is not passed through `inert_line()`: only the outside pieces are. JSON
output does not go through here: it keeps the exact strings (JSON's own escaping is enough).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, cast

from rich.style import Style
from rich.text import Text
from textual.content import Content

if TYPE_CHECKING:
    from typing import Any

    from textual.app import App
    from textual.widget import Widget

#: Characters never written to a terminal as they are (see the module's docstring): C0 except
#: tab and newline, DEL, C1; Unicode format characters (Cf, as of Unicode 15.1, the whole tag
#: block included); line/paragraph separators; surrogates; private use; noncharacters.
UNSAFE_CHARACTERS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e007f"
    "\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff"
    "\ufdd0-\ufdef\ufffe\uffff"
)
_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]")
_ZERO_WIDTH_JOINER = "\u200d"


def _is_emoji_part(char: str) -> bool:
    """A character that ends or starts an emoji in a ZWJ sequence (a pictograph, a variation
    selector or a skin tone)."""
    return (
        unicodedata.category(char) == "So"
        or char == "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char == _ZERO_WIDTH_JOINER:
        text, start = match.string, match.start()
        if (
            0 < start < len(text) - 1
            and _is_emoji_part(text[start - 1])
            and unicodedata.category(text[start + 1]) == "So"
        ):
            return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def inert(text: object) -> str:
    """Untrusted text made harmless for a terminal: controls shown as `\\xNN`, tab/newline kept.

    Anything that is not a string is turned into one first (a wrongly typed field from outside).
    Text without any control character comes back unchanged (the same object).
    """
    if not isinstance(text, str):
        text = str(text)
    if _UNSAFE.search(text) is None:
        return text
    shown = _UNSAFE.sub(_visible, text)
    return text if shown == text else shown


def inert_line(text: object) -> str:
    """Like `inert()`, for text that must stay on one line: a newline shows as `\\x0a` too."""
    return inert(text).replace("\n", "\\x0a")


def inert_lines(texts: list[str]) -> list[str]:
    """`inert()` over many lines at once; the same list back when none needs a change (fast)."""
    if _UNSAFE.search("".join(texts)) is None:
        return texts
    return [inert(t) for t in texts]


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


def content_for_markup_api(text: object, style: str = "") -> str:
    """Untrusted text for a Textual API typed `str` that parses a string as markup but takes a
    `Content` as it is (a command palette hit's help): the `Content`, typed as the API wants."""
    return cast(str, safe_content(text, style))


Severity = Literal["information", "warning", "error"]


def notify(
    node: Widget | App[Any],
    message: object,
    *,
    title: str = "",
    severity: Severity = "information",
    timeout: float | None = None,
) -> None:
    """Show a notification whose text is never read as markup: the one way mltui notifies.

    `message` is made inert (its newlines kept: a notification has room for lines); a piece of
    outside text that must stay on one line inside it is passed through `inert_line()` first.
    """
    node.notify(
        inert(message), title=inert_line(title), severity=severity, timeout=timeout, markup=False
    )


def safe_join(texts: Iterable[object], separator: str = ", ") -> str:
    """Untrusted items made inert and joined (a list of names or versions on one line)."""
    return separator.join(inert_line(t) for t in texts)
