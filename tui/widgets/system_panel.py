"""The CPU and memory of the machine: model, cores with a bar each, load, memory, swap, limits."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from probes.model import SystemInfo
from tui.widgets.glyphs import bar, human_bytes, memory_style, sparkline, utilisation_style

#: Above this many cores a bar each would not fit; they become one glyph each on a strip.
MAX_CORE_BARS = 16


class SystemPanel(Widget):
    """Draws a SystemInfo: per-core utilisation bars, memory and swap, container limits."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; }
    """

    def __init__(self, *, ascii: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="card")
        self.ascii = ascii
        self.system: SystemInfo | None = None

    def on_mount(self) -> None:
        """Title the card."""
        self.border_title = "CPU & memory"

    def show(self, system: SystemInfo) -> None:
        """Take a new reading and redraw."""
        # A new layout of the whole screen only when the panel may change height: done every
        # second, it was the largest part of the dashboard's idle CPU.
        layout = self.system is None or _shape(self.system) != _shape(system)
        self.system = system
        title = f"CPU & memory: {system.hostname}" if system.hostname else "CPU & memory"
        if title != self.border_title:
            self.border_title = title
        self.refresh(layout=layout)

    def render(self) -> RenderableType:
        """The panel's lines, sized to its width."""
        system = self.system
        if system is None:
            return Text("reading...", style="dim")
        width = max(self.content_size.width, 40)
        cpu = system.cpu
        lines: list[RenderableType] = []
        head = Text()
        head.append(cpu.model or "unknown CPU", style="bold")
        cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
        head.append(f"  {cores}")
        if cpu.frequency_current_mhz:
            head.append(f"  {cpu.frequency_current_mhz / 1000:.2f} GHz")
        if cpu.load_average:
            head.append("  load " + " ".join(f"{v:.2f}" for v in cpu.load_average[:3]))
        lines.append(head)
        lines.extend(self._core_lines(cpu.per_core_percent, width))

        memory = system.memory
        used_pct = 100.0 * memory.used_bytes / memory.total_bytes if memory.total_bytes else None
        bar_width = max(10, min(40, width - 40))
        mem = Text("memory ", style="bold")
        mem.append_text(bar(used_pct, bar_width, ascii=self.ascii, style=memory_style(used_pct)))
        mem.append(
            f" {human_bytes(memory.used_bytes)} / {human_bytes(memory.total_bytes)}"
            f" ({human_bytes(memory.available_bytes)} free)"
        )
        lines.append(mem)
        if memory.swap_total_bytes:
            swap_pct = 100.0 * memory.swap_used_bytes / memory.swap_total_bytes
            swap = Text("swap   ", style="bold")
            swap.append_text(
                bar(swap_pct, bar_width, ascii=self.ascii, style=memory_style(swap_pct))
            )
            swap.append(
                f" {human_bytes(memory.swap_used_bytes)} / {human_bytes(memory.swap_total_bytes)}"
            )
            lines.append(swap)
        container = system.container
        if container.in_container:
            limits = [f"container ({container.runtime or 'unknown runtime'})"]
            if container.cpu_limit_cores is not None:
                limits.append(f"CPU limit {container.cpu_limit_cores:g} cores")
            if container.memory_limit_bytes is not None:
                limits.append(f"memory limit {human_bytes(container.memory_limit_bytes)}")
            lines.append(Text(", ".join(limits), style="dim"))
        return Group(*lines)

    def _core_lines(self, per_core: list[float], width: int) -> list[Text]:
        if not per_core:
            return [Text("per-core use: n/a", style="dim")]
        if len(per_core) > MAX_CORE_BARS:
            strip = Text("cores  ", style="bold")
            strip.append_text(sparkline(per_core, len(per_core), ascii=self.ascii, style="green"))
            average = sum(per_core) / len(per_core)
            strip.append(f" avg {average:.0f} %", style=utilisation_style(average))
            return [strip]
        cell = 22
        columns = max(1, min(4, width // cell))
        lines = []
        for start in range(0, len(per_core), columns):
            line = Text()
            for index in range(start, min(start + columns, len(per_core))):
                value = per_core[index]
                line.append(f"{index:>3} ", style="bold")
                line.append_text(bar(value, 10, ascii=self.ascii, style=utilisation_style(value)))
                line.append(f" {value:>3.0f}%  ")
            lines.append(line)
        return lines


def _shape(system: SystemInfo) -> tuple[int, bool, bool, bool, bool]:
    """What decides how many lines the panel takes (besides its width)."""
    container = system.container
    return (
        len(system.cpu.per_core_percent),
        bool(system.memory.swap_total_bytes),
        container.in_container,
        container.cpu_limit_cores is not None,
        container.memory_limit_bytes is not None,
    )
