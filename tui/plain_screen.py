"""Line filters that keep the dashboard plain on plain terminals.

Applied to every line Textual draws (the same hook as its own NO_COLOR filter), so nothing a
widget, Textual itself or a notification draws can slip past:

- `AsciiCells` (ASCII mode: `--ascii`, a non-UTF-8 locale, TERM=dumb/linux): every character
  outside ASCII becomes an ASCII stand-in of the same width (`tui.terminal.to_ascii_cells`).
- `NoColour` (NO_COLOR, TERM=dumb): every colour is removed, attributes (bold, reverse) stay, so
  no colour escape is written at all (Textual's own filter still writes grey colours).
"""

from __future__ import annotations

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from tui.terminal import to_ascii_cells


class AsciiCells(LineFilter):
    """Only ASCII on screen, each cell kept where it was."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        """The segments with their text made ASCII."""
        return [
            segment if control or text.isascii() else Segment(to_ascii_cells(text), style, control)
            for segment in segments
            for text, style, control in (segment,)
        ]


class NoColour(LineFilter):
    """No colour at all: styles keep bold, dim, reverse and underline, and lose their colours."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        """The segments with their colours removed."""
        return [
            Segment(text, style.without_color if style is not None else None, control)
            for text, style, control in segments
        ]
