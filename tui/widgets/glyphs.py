"""Bars and sparklines drawn as Rich text, with a plain-ASCII form of each.

Block characters (▁▂▃ █░) are missing on the Linux console and some fonts; every drawing here takes
`ascii` and then uses only `#`, `=`, `-`, `.` and friends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rich.text import Text

from tui.presentation import MUTED

SPARK_BLOCKS = " ▁▂▃▄▅▆▇█"
SPARK_ASCII = " ._-=+*#@"


def bar(percent: float | None, width: int, *, ascii: bool, style: str = "") -> Text:
    """A horizontal bar `width` cells wide filled to `percent`; dim dots when unknown."""
    width = max(width, 1)
    if percent is None:
        return Text(("." if ascii else "·") * width, style=MUTED)
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    full, empty = ("#", "-") if ascii else ("█", "░")
    text = Text()
    text.append(full * filled, style=style)
    text.append(empty * (width - filled), style=MUTED)
    return text


def sparkline(
    values: Iterable[float | None], width: int, *, ascii: bool, top: float = 100.0, style: str = ""
) -> Text:
    """The last `width` values as one row of rising glyphs, scaled to `top`; right-aligned."""
    glyphs = SPARK_ASCII if ascii else SPARK_BLOCKS
    recent: Sequence[float | None] = list(values)[-width:] if width > 0 else []
    cells = []
    for value in recent:
        if value is None:
            cells.append(" ")
            continue
        fraction = max(0.0, min(1.0, value / top)) if top > 0 else 0.0
        # Level 0 is blank; any non-zero value shows at least the lowest glyph.
        level = 0 if fraction == 0 else max(1, round(fraction * (len(glyphs) - 1)))
        cells.append(glyphs[level])
    line = " " * (width - len(cells)) + "".join(cells)
    return Text(line, style=style)


def use_ascii_chrome() -> Callable[[], None]:
    """Make Textual's own scrollbars and tab underline plain ASCII; returns the undo.

    These glyphs are class attributes inside Textual, so this is process-wide: the app sets it
    on mount and undoes it on unmount.
    """
    from textual.renderables.bar import Bar
    from textual.scrollbar import ScrollBarRender

    saved = (
        ScrollBarRender.VERTICAL_BARS,
        ScrollBarRender.HORIZONTAL_BARS,
        Bar.HALF_BAR_LEFT,
        Bar.BAR,
        Bar.HALF_BAR_RIGHT,
    )
    ScrollBarRender.VERTICAL_BARS = [" "] * 8
    ScrollBarRender.HORIZONTAL_BARS = [" "] * 8
    Bar.HALF_BAR_LEFT, Bar.BAR, Bar.HALF_BAR_RIGHT = "-", "-", "-"

    def undo() -> None:
        (
            ScrollBarRender.VERTICAL_BARS,
            ScrollBarRender.HORIZONTAL_BARS,
            Bar.HALF_BAR_LEFT,
            Bar.BAR,
            Bar.HALF_BAR_RIGHT,
        ) = saved

    return undo
