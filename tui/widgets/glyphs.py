"""Bars, sparklines and level colours drawn as Rich text, with a plain-ASCII form of each.

Block characters (▁▂▃ █░) are missing on the Linux console and some fonts; every drawing here takes
`ascii` and then uses only `#`, `=`, `-`, `.` and friends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rich.text import Text

SPARK_BLOCKS = " ▁▂▃▄▅▆▇█"
SPARK_ASCII = " ._-=+*#@"


def level_style(percent: float | None, warn: float, alert: float) -> str:
    """The theme colour for a percentage: green below `warn`, yellow below `alert`, red above."""
    if percent is None:
        return "dim"
    if percent >= alert:
        return "red"
    if percent >= warn:
        return "yellow"
    return "green"


def utilisation_style(percent: float | None) -> str:
    """Colour for GPU or CPU utilisation (the usual 10 / 75 % steps)."""
    return level_style(percent, 10, 75)


def memory_style(percent: float | None) -> str:
    """Colour for memory use (the usual 10 / 80 % steps)."""
    return level_style(percent, 10, 80)


def temperature_style(celsius: int | None, slowdown_c: int | None) -> str:
    """Red at the slowdown threshold, yellow within five degrees of it; 85/80 °C without one."""
    if celsius is None:
        return "dim"
    limit = slowdown_c if slowdown_c is not None else 85
    if celsius >= limit:
        return "red"
    if celsius >= limit - 5:
        return "yellow"
    return "green"


def bar(percent: float | None, width: int, *, ascii: bool, style: str = "") -> Text:
    """A horizontal bar `width` cells wide filled to `percent`; dim dots when unknown."""
    width = max(width, 1)
    if percent is None:
        return Text(("." if ascii else "·") * width, style="dim")
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    full, empty = ("#", "-") if ascii else ("█", "░")
    text = Text()
    text.append(full * filled, style=style)
    text.append(empty * (width - filled), style="dim")
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


def human_bytes(value: int | float | None) -> str:
    """Bytes as a short figure with a binary unit: '1.5 GiB', '512 MiB'; 'n/a' when unknown."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit in ("B", "KiB") else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def human_age(seconds: float | None) -> str:
    """An age for a person: 'just now', '42 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    if seconds is None:
        return "age unknown"
    if seconds < 5:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


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
