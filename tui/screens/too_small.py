"""Shown instead of the dashboard while the terminal is below the smallest usable size."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH = 60
MIN_HEIGHT = 20


def too_small_message(width: int, height: int) -> str:
    """'terminal too small (need 60x20, have 40x10)'."""
    return f"terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {width}x{height})"


class TooSmallScreen(Screen[None]):
    """One centred line saying how big the terminal must be; q still quits."""

    def compose(self) -> ComposeResult:
        """The message."""
        yield Static(too_small_message(*self.app.size), id="too-small-message")

    def on_resize(self) -> None:
        """Keep the figures current while the user resizes."""
        self.query_one("#too-small-message", Static).update(too_small_message(*self.app.size))
