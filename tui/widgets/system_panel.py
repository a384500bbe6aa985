"""The CPU and memory of the machine: model, cores with a bar each, load, memory, swap, limits.

A new reading (every second by default) only repaints the panel: no line ever wraps, so the
panel's height is its number of lines, set explicitly and changed only when that number changes
(a different number of cores, swap or container limits appearing, a width that fits more bars on
a line). Anything else would lay the whole screen out again every second.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.widget import Widget

from probes.model import SystemInfo
from tui.presentation import MUTED, SUCCESS, human_bytes, memory_style, utilisation_style
from tui.safe_text import inert_line, safe_content, safe_text
from tui.widgets.glyphs import bar, sparkline

#: Above this many cores a bar each would not fit; they become one glyph each on a strip.
MAX_CORE_BARS = 16
#: Columns one core's bar takes: index, 10-cell bar, percentage, gap.
CORE_CELL_WIDTH = 22
#: The narrowest the lines are laid out for (the panel crops below it).
MIN_WIDTH = 40
#: Room kept after the memory and swap bars for their figures, the longest being like
#: " 1023.9 GiB / 1023.9 GiB (1023.9 GiB free)": the bars keep one width as the figures change.
METER_FIGURES_WIDTH = 42


class SystemPanel(Widget):
    """Draws a SystemInfo: per-core utilisation bars, memory and swap, container limits."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; }
    """

    def __init__(
        self, *, ascii: bool = False, system: SystemInfo | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id, classes="card")
        self.ascii = ascii
        #: The reading drawn; one given here is drawn in the panel's first frame.
        self.system: SystemInfo | None = system
        #: The lines drawn now, and the width they were made for.
        self.lines: list[Text] = [Text("reading...", style=MUTED)]
        self._lines_width = 0

    def on_mount(self) -> None:
        """Title the card."""
        self._set_title()

    def _set_title(self) -> None:
        system = self.system
        title = safe_content(
            f"CPU & memory: {inert_line(system.hostname)}"
            if system and system.hostname
            else "CPU & memory"
        )
        if title != self.border_title:
            self.border_title = title

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As many rows as lines; a reading given at construction gets its lines made here, for
        the width of the first layout, so the first frame shows it at its final height."""
        if self.system is not None and not self._lines_width and width:
            self._lines_width = max(width, MIN_WIDTH)
            self.lines = system_lines(self.system, self._lines_width, ascii=self.ascii)
        return len(self.lines)

    def show(self, system: SystemInfo) -> None:
        """Take a new reading and repaint."""
        self.system = system
        self._set_title()
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        """Make the lines again for a new width (more or fewer bars fit on one line)."""
        if self.system is not None and self._width() != self._lines_width:
            self._draw()

    def _width(self) -> int:
        return max(self.content_size.width, MIN_WIDTH)

    def _draw(self) -> None:
        if self.system is None:
            return
        self._lines_width = self._width()
        lines = system_lines(self.system, self._lines_width, ascii=self.ascii)
        if len(lines) != len(self.lines):
            # The one change that needs a layout. Setting the height (rather than leaving it to
            # `auto`) also makes Textual measure the panel again: a layout asked for while one
            # is still pending can otherwise keep the old height.
            self.styles.height = len(lines) + self.styles.gutter.height
        self.lines = lines
        self.refresh()

    def render(self) -> Group:
        """The lines made for the panel's width."""
        return Group(*self.lines)


def system_lines(system: SystemInfo, width: int, *, ascii: bool) -> list[Text]:
    """The panel's lines for a content width: none longer than `width`, so none wraps."""
    cpu = system.cpu
    lines: list[Text] = []
    name = safe_text(inert_line(cpu.model or "unknown CPU"), style="bold")
    name.append(f"  {cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads")
    details = []
    if cpu.frequency_current_mhz:
        details.append(f"{cpu.frequency_current_mhz / 1000:.2f} GHz")
    if cpu.load_average:
        details.append("load " + " ".join(f"{v:.2f}" for v in cpu.load_average[:3]))
    tail = "  ".join(details)
    if tail and name.cell_len + 2 + len(tail) <= width:
        name.append("  " + tail)
        lines.append(name)
    else:
        # Too long for one line: the clock and the load go on their own, whole.
        lines.append(name)
        if tail:
            lines.append(Text(tail))
    lines.extend(_core_lines(cpu.per_core_percent, width, ascii=ascii))

    memory = system.memory
    used_pct = 100.0 * memory.used_bytes / memory.total_bytes if memory.total_bytes else None
    figures = (
        f" {human_bytes(memory.used_bytes)} / {human_bytes(memory.total_bytes)}"
        f" ({human_bytes(memory.available_bytes)} free)"
    )
    bar_width = max(10, min(40, width - len("memory ") - METER_FIGURES_WIDTH))
    lines.append(_meter_line("memory ", used_pct, figures, bar_width, ascii=ascii))
    if memory.swap_total_bytes:
        swap_pct = 100.0 * memory.swap_used_bytes / memory.swap_total_bytes
        figures = f" {human_bytes(memory.swap_used_bytes)} / {human_bytes(memory.swap_total_bytes)}"
        lines.append(_meter_line("swap   ", swap_pct, figures, bar_width, ascii=ascii))
    container = system.container
    if container.in_container:
        limits = [f"container ({inert_line(container.runtime or 'unknown runtime')})"]
        if container.cpu_limit_cores is not None:
            limits.append(f"CPU limit {container.cpu_limit_cores:g} cores")
        if container.memory_limit_bytes is not None:
            limits.append(f"memory limit {human_bytes(container.memory_limit_bytes)}")
        lines.append(Text(", ".join(limits), style=MUTED))
    for line in lines:
        line.no_wrap = True
        line.overflow = "ellipsis"
    return lines


def _meter_line(
    label: str, percent: float | None, figures: str, bar_width: int, *, ascii: bool
) -> Text:
    """'memory ████░░░ 1.0 GiB / 8.0 GiB'."""
    line = Text(label, style="bold")
    line.append_text(bar(percent, bar_width, ascii=ascii, style=memory_style(percent)))
    line.append(figures)
    return line


def _core_lines(per_core: list[float], width: int, *, ascii: bool) -> list[Text]:
    if not per_core:
        return [Text("per-core use: n/a", style=MUTED)]
    if len(per_core) > MAX_CORE_BARS:
        strip = Text("cores  ", style="bold")
        strip.append_text(sparkline(per_core, len(per_core), ascii=ascii, style=SUCCESS))
        average = sum(per_core) / len(per_core)
        strip.append(f" avg {average:.0f} %", style=utilisation_style(average))
        return [strip]
    columns = max(1, min(4, width // CORE_CELL_WIDTH))
    lines = []
    for start in range(0, len(per_core), columns):
        line = Text()
        for index in range(start, min(start + columns, len(per_core))):
            value = per_core[index]
            line.append(f"{index:>3} ", style="bold")
            line.append_text(bar(value, 10, ascii=ascii, style=utilisation_style(value)))
            line.append(f" {value:>3.0f}%  ")
        lines.append(line)
    return lines
