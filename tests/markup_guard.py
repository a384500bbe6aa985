"""A guard on every markup parser of Rich and Textual: outside text must never reach one.

Tests feed hostile strings that all carry `MARK` (a word no literal of mltui holds). While the
guard is active, a markup parse of any text holding `MARK` (Textual's `to_content`, which every
`Content.from_markup`, border title, tab label, option, toast and palette hit goes through;
Rich's `render`, behind `Text.from_markup` and every `console.print` of a string; and Rich's
emoji codes) is recorded and raises `OutsideTextParsed`. Escaping outside text for a parser does
not pass either: the only accepted path is text that is never parsed (`Text`, `Content`,
`markup=False`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: Carried by every hostile string a test feeds in; never in a literal of mltui's.
MARK = "QZXmark"


class OutsideTextParsed(AssertionError):
    """Outside text (holding MARK) reached a markup parser."""


def _guarded(original: Callable[..., Any], name: str, seen: list[str]) -> Callable[..., Any]:
    def parse(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, str) and MARK in text:
            seen.append(f"{name}: {text!r}")
            raise OutsideTextParsed(f"outside text parsed as markup by {name}: {text!r}")
        return original(text, *args, **kwargs)

    return parse


@contextlib.contextmanager
def markup_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Patch every markup parser; yield the list of violations seen (also raised where seen)."""
    import rich.console
    import rich.markup
    import textual.markup

    seen: list[str] = []
    targets = [
        (textual.markup, "to_content"),
        (rich.markup, "render"),
        (rich.console, "render_markup"),
        (rich.console, "_emoji_replace"),
        (rich.markup, "_emoji_replace"),
    ]
    for module, attribute in targets:
        original = getattr(module, attribute)
        name = f"{module.__name__}.{attribute}"
        monkeypatch.setattr(module, attribute, _guarded(original, name, seen))
    yield seen
