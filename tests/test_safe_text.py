"""The one sanitiser: every class of control sequence made visible and inert, no markup parsed."""

from __future__ import annotations

import io
import unicodedata

import pytest
from rich.console import Console
from rich.text import Text
from textual.content import Content

from tui.safe_text import (
    content_for_markup_api,
    inert,
    inert_line,
    inert_lines,
    safe_assemble,
    safe_content,
    safe_join,
    safe_text,
)

#: (name, untrusted text, what the sanitiser makes of it)
VECTORS = [
    ("csi colour", "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("csi clear screen", "a\x1b[2J\x1b[Hb", "a\\x1b[2J\\x1b[Hb"),
    ("csi cursor up paints over", "ok\x1b[1A\x1b[2Kfake", "ok\\x1b[1A\\x1b[2Kfake"),
    ("osc title bel", "\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("osc title st", "\x1b]2;pwned\x1b\\", "\\x1b]2;pwned\\x1b\\"),
    ("osc 52 clipboard", "\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
    (
        "osc 8 link",
        "\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\",
        "\\x1b]8;;http://evil/\\x1b\\click\\x1b]8;;\\x1b\\",
    ),
    ("dcs", "\x1bPq#0;2;0;0;0\x1b\\", "\\x1bPq#0;2;0;0;0\\x1b\\"),
    (
        "sos pm apc",
        "\x1bXa\x1b\\\x1b^b\x1b\\\x1b_c\x1b\\",
        "\\x1bXa\\x1b\\\\x1b^b\\x1b\\\\x1b_c\\x1b\\",
    ),
    ("8-bit csi", "\x9b31mred", "\\x9b31mred"),
    ("8-bit osc and st", "\x9d0;t\x9c", "\\x9d0;t\\x9c"),
    ("c1 nel", "a\x85b", "a\\x85b"),
    ("lone esc at the end", "text\x1b", "text\\x1b"),
    ("bell backspace cr", "a\x07b\x08c\rd", "a\\x07b\\x08c\\x0dd"),
    ("nul and del", "a\x00b\x7f", "a\\x00b\\x7f"),
    ("vt ff", "a\x0bb\x0cc", "a\\x0bb\\x0cc"),
    ("bidi override", "abc\u202edcba", "abc\\u202edcba"),
    ("line separator", "a\u2028b", "a\\u2028b"),
    # issue 17, class 9: zero-width and invisible format characters
    ("arabic letter mark", "a\u061cb", "a\\u061cb"),
    ("zero width space", "ad\u200bmin", "ad\\u200bmin"),
    ("zwnj zwj lrm rlm", "a\u200c\u200d\u200e\u200fb", "a\\u200c\\u200d\\u200e\\u200fb"),
    ("word joiner", "a\u2060b", "a\\u2060b"),
    ("byte order mark", "\ufeffroot", "\\ufeffroot"),
    ("tag block", "ok\U000e0001\U000e0041\U000e007f", "ok\\U000e0001\\U000e0041\\U000e007f"),
    # vectors of our own: soft hyphen, invisible math operators, Mongolian vowel separator,
    # private use, a lone surrogate (undecodable bytes), a noncharacter, interlinear annotation
    ("soft hyphen", "pass\u00adword", "pass\\xadword"),
    ("invisible times", "a\u2062b\u2064", "a\\u2062b\\u2064"),
    ("mongolian vowel separator", "a\u180eb", "a\\u180eb"),
    ("private use", "\ue000\U000f0000", "\\ue000\\U000f0000"),
    ("lone surrogate", "x\udcff", "x\\udcff"),
    ("noncharacter", "x\ufffe\ufdd0", "x\\ufffe\\ufdd0"),
    ("interlinear annotation", "\ufff9a\ufffab\ufffb", "\\ufff9a\\ufffab\\ufffb"),
]

#: Text that must come back exactly as it is (markup look-alikes, tab, newline, non-ASCII).
KEPT = [
    "/data/[old]/env",
    "[/dev/nvidia0]",
    "[bold]x[/]",
    "[link=http://evil]click[/link]",
    "tab\there\nnewline",
    "torch 2.4.0+cu121",
    "Grüße, 日本語, emoji 🙂",
    "é 中文 العربية עברית हिन्दी",
    "family 👨\u200d👩\u200d👧, rainbow flag 🏳\ufe0f\u200d🌈, thumbs 👍🏽",
    "combining e\u0301 and variation selector \u2764\ufe0f",
    "back\\slash [not a tag]",
    "",
]


@pytest.mark.parametrize(("name", "raw", "expected"), VECTORS, ids=[v[0] for v in VECTORS])
def test_control_sequences_become_visible(name: str, raw: str, expected: str) -> None:
    shown = inert(raw)
    assert shown == expected
    assert "\x1b" not in shown and "\x9b" not in shown
    assert inert(shown) == shown  # what is shown is inert: inert() changes it no more
    assert shown.isascii() or not raw.isascii()


@pytest.mark.parametrize("raw", KEPT)
def test_ordinary_text_is_unchanged(raw: str) -> None:
    assert inert(raw) is raw


def test_every_unsafe_code_point_is_escaped() -> None:
    unsafe = [c for c in map(chr, range(0x00, 0xA0)) if c not in "\t\n" and not c.isprintable()]
    unsafe += [chr(c) for c in (0x7F, 0x2028, 0x2029, 0x202A, 0x202E, 0x2066, 0x2069)]
    for char in unsafe:
        shown = inert(char)
        assert shown.startswith("\\") and shown.isascii() and shown.isprintable(), repr(char)


def test_every_character_of_the_escaped_unicode_categories_is_escaped() -> None:
    """The decision in tui/safe_text.py, checked against this Python's Unicode tables: every
    format (Cf), separator (Zl, Zp), surrogate (Cs) and private-use (Co) character is escaped, so
    a format character added to Unicode later fails here until the list has it."""
    categories = {"Cf", "Zl", "Zp", "Cs", "Co"}
    missed = [
        f"U+{code:04X}"
        for code in range(0x110000)
        if unicodedata.category(chr(code)) in categories and inert(chr(code)) == chr(code)
    ]
    assert missed == []


def test_letters_marks_and_symbols_of_every_category_are_kept() -> None:
    """Letters, marks, numbers, punctuation, symbols and spaces (but the separators) are kept."""
    changed = [
        f"U+{code:04X}"
        for code in range(0x20, 0x30000)
        if unicodedata.category(chr(code))[0] in "LMNPS" and inert(chr(code)) != chr(code)
    ]
    assert changed == []


def test_a_zero_width_joiner_outside_an_emoji_sequence_is_escaped() -> None:
    assert inert("👨\u200d") == "👨\\u200d"
    assert inert("\u200d👨") == "\\u200d👨"
    assert inert("a\u200d👨") == "a\\u200d👨"
    assert inert("👨\u200da") == "👨\\u200da"


def test_not_a_string_is_stringified() -> None:
    assert inert(12) == "12"
    assert inert(None) == "None"
    assert inert(["\x1b[31m"]) == "['\\x1b[31m']"


def test_inert_line_keeps_one_line() -> None:
    assert inert_line("a\nb\x1b[0m") == "a\\x0ab\\x1b[0m"


def test_inert_lines_fast_path_and_change() -> None:
    clean = ["a", "b [x]"]
    assert inert_lines(clean) is clean
    assert inert_lines(["a", "\x1b[1m"]) == ["a", "\\x1b[1m"]


def _render(renderable: object) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    console.print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("raw", [v[1] for v in VECTORS] + KEPT)
def test_rich_text_shows_exactly_and_never_emits_escapes(raw: str) -> None:
    text = safe_text(raw, style="bold")
    assert isinstance(text, Text)
    assert text.plain == inert(raw)
    out = _render(text)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
    assert inert(raw).split("\n")[0].expandtabs(8) in out.expandtabs(8)


@pytest.mark.parametrize(
    "raw", ["/data/[old]/env", "[/dev/nvidia0]", "[bold]x[/]", "[/]", "[red", ":smile:"]
)
def test_markup_lookalikes_are_never_parsed(raw: str) -> None:
    assert safe_text(raw).plain == raw
    assert safe_content(raw).plain == raw
    assert safe_content(raw, "bold").plain == raw
    # An API typed str that takes a Content as it is (a palette hit's help) gets the Content.
    given = content_for_markup_api(raw)
    assert isinstance(given, Content)
    assert Content.from_markup(given).plain == raw


def test_safe_assemble_mixes_trusted_and_untrusted() -> None:
    text = safe_assemble(Text("ok", style="green"), " ", ("\x1b[31m[red]", "bold"), "\x07")
    assert text.plain == "ok \\x1b[31m[red]\\x07"


def test_safe_join() -> None:
    assert safe_join(["a\x1b", "b\nc"]) == "a\\x1b, b\\x0ac"
