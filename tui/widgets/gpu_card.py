"""One card per GPU: utilisation, memory, temperature, power, clocks, PCIe, fan, events, history."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual.content import Content
from textual.widget import Widget

from probes.model import GpuInfo
from tui.presentation import (
    ERROR,
    ERROR_STRONG,
    MUTED,
    SUCCESS,
    WARNING,
    human_bytes,
    memory_style,
    temperature_style,
    utilisation_style,
)
from tui.safe_text import inert_line, safe_content, safe_join
from tui.widgets.glyphs import bar, sparkline

LABEL_WIDTH = 7


def _missing(gpu: GpuInfo, field_name: str) -> str:
    """'n/a' with NVML's reason when it gave one (NotSupported, NoPermission, ...)."""
    reason = gpu.errors.get(field_name)
    return f"n/a ({inert_line(reason)})" if reason else "n/a"


def memory_percent(gpu: GpuInfo) -> float | None:
    """Used memory as a percentage of total, or None when either is unknown (or total is 0)."""
    if gpu.memory_used_bytes is None or not gpu.memory_total_bytes:
        return None
    return 100.0 * gpu.memory_used_bytes / gpu.memory_total_bytes


class GpuCard(Widget):
    """Draws one GpuInfo and the history of its utilisation and memory use."""

    DEFAULT_CSS = """
    GpuCard { height: auto; }
    """

    def __init__(
        self,
        gpu: GpuInfo,
        *,
        ascii: bool = False,
        util_history: Sequence[float | None] = (),
        memory_history: Sequence[float | None] = (),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="card")
        self.gpu = gpu
        self.ascii = ascii
        self.util_history: Sequence[float | None] = util_history
        self.memory_history: Sequence[float | None] = memory_history

    def show(
        self,
        gpu: GpuInfo,
        util_history: Sequence[float | None],
        memory_history: Sequence[float | None],
    ) -> None:
        """Take a new reading and redraw.

        The card's lines never wrap, so it keeps its height from one reading to the next: only
        a GPU lost (a message instead of the lines) or found again needs a new layout.
        """
        layout = (gpu.state == "lost") != (self.gpu.state == "lost")
        self.gpu = gpu
        self.util_history = util_history
        self.memory_history = memory_history
        title = self._title()
        if title != self.border_title:
            self.border_title = title
        self.set_class(gpu.state == "lost", "-lost")
        self.refresh(layout=layout)

    def on_mount(self) -> None:
        """Title the border with the GPU's index and name."""
        self.border_title = self._title()
        self.set_class(self.gpu.state == "lost", "-lost")

    def _title(self) -> Content:
        return safe_content(f"GPU {self.gpu.index}: {inert_line(self.gpu.name or 'unknown GPU')}")

    def render(self) -> RenderableType:
        """The card's lines, sized to the card's width."""
        gpu = self.gpu
        width = max(self.content_size.width, 40)
        if gpu.state == "lost":
            reason = gpu.errors.get("state") or gpu.errors.get("handle") or "GpuIsLost"
            return Text.assemble(
                ("GPU lost: ", ERROR_STRONG),
                f"the driver cannot reach it ({reason}). It fell off the bus or needs a reset; "
                "the other GPUs are still read.",
            )
        lines: list[RenderableType] = []
        bar_width = max(8, min(24, (width - LABEL_WIDTH - 16) // 2))
        spark_width = max(0, width - LABEL_WIDTH - bar_width - 16)

        util = gpu.utilization_gpu_percent
        util_line = Text("util".ljust(LABEL_WIDTH), style="bold")
        util_line.append_text(bar(util, bar_width, ascii=self.ascii, style=utilisation_style(util)))
        util_line.append(
            f" {util:>3d} %".ljust(14)
            if util is not None
            else " " + _missing(gpu, "utilization_gpu_percent")[:13].ljust(13)
        )
        util_line.append_text(
            sparkline(
                self.util_history, spark_width, ascii=self.ascii, style=utilisation_style(util)
            )
        )
        lines.append(util_line)

        mem_pct = memory_percent(gpu)
        mem_line = Text("memory".ljust(LABEL_WIDTH), style="bold")
        mem_line.append_text(bar(mem_pct, bar_width, ascii=self.ascii, style=memory_style(mem_pct)))
        if mem_pct is not None:
            mem_line.append(f" {mem_pct:>3.0f} %".ljust(14))
        else:
            mem_line.append(" " + _missing(gpu, "memory_used_bytes")[:13].ljust(13))
        mem_line.append_text(
            sparkline(
                self.memory_history, spark_width, ascii=self.ascii, style=memory_style(mem_pct)
            )
        )
        lines.append(mem_line)
        lines.append(
            Text(
                " " * LABEL_WIDTH
                + f"{human_bytes(gpu.memory_used_bytes)} used"
                + f" of {human_bytes(gpu.memory_total_bytes)}"
                + (
                    f", {human_bytes(gpu.memory_reserved_bytes)} reserved"
                    if gpu.memory_reserved_bytes
                    else ""
                ),
                style=MUTED,
            )
        )
        lines.append(self._temperature_power_line())
        lines.append(self._clocks_line())
        lines.append(self._link_line())
        lines.append(self._events_line())
        for line in lines:
            if isinstance(line, Text):
                line.no_wrap = True
                line.overflow = "ellipsis"
        return Group(*lines)

    def _temperature_power_line(self) -> Text:
        gpu = self.gpu
        line = Text("temp".ljust(LABEL_WIDTH), style="bold")
        if gpu.temperature_c is not None:
            line.append(
                f"{gpu.temperature_c} °C" if not self.ascii else f"{gpu.temperature_c} C",
                style=temperature_style(gpu.temperature_c, gpu.temperature_slowdown_c),
            )
            if gpu.temperature_slowdown_c is not None:
                line.append(f" (slowdown at {gpu.temperature_slowdown_c})", style=MUTED)
        else:
            line.append(_missing(gpu, "temperature_c"))
        line.append("  power ", style="bold")
        if gpu.power_draw_w is not None:
            limit = f" / {gpu.power_limit_w:.0f}" if gpu.power_limit_w is not None else ""
            line.append(f"{gpu.power_draw_w:.0f}{limit} W")
        else:
            line.append(_missing(gpu, "power_draw_w"))
        line.append("  fan ", style="bold")
        line.append(
            f"{gpu.fan_percent} %" if gpu.fan_percent is not None else _missing(gpu, "fan_percent")
        )
        return line

    def _clocks_line(self) -> Text:
        gpu = self.gpu
        line = Text("clocks".ljust(LABEL_WIDTH), style="bold")
        line.append("SM ")
        line.append(_clock(gpu.clock_sm_mhz, gpu.clock_sm_max_mhz) or _missing(gpu, "clock_sm_mhz"))
        line.append("  mem ")
        line.append(
            _clock(gpu.clock_memory_mhz, gpu.clock_memory_max_mhz)
            or _missing(gpu, "clock_memory_mhz")
        )
        line.append("  ")
        line.append(gpu.performance_state or "P?", style="bold")
        return line

    def _link_line(self) -> Text:
        gpu = self.gpu
        line = Text("PCIe".ljust(LABEL_WIDTH), style="bold")
        if gpu.pcie_generation is not None and gpu.pcie_width is not None:
            line.append(f"gen {gpu.pcie_generation} x{gpu.pcie_width}")
            if gpu.pcie_generation_max is not None and gpu.pcie_width_max is not None:
                below = (
                    gpu.pcie_generation < gpu.pcie_generation_max
                    or gpu.pcie_width < gpu.pcie_width_max
                )
                line.append(
                    f" (max gen {gpu.pcie_generation_max} x{gpu.pcie_width_max})",
                    style=WARNING if below else MUTED,
                )
        else:
            line.append(_missing(gpu, "pcie_generation"))
        flags = []
        if gpu.persistence_mode is not None:
            flags.append("persistence " + ("on" if gpu.persistence_mode else "off"))
        if gpu.compute_mode:
            flags.append(f"mode {gpu.compute_mode}")
        if gpu.mig_mode:
            flags.append(f"MIG on ({len(gpu.mig_devices)} instances)")
        if gpu.ecc_uncorrected_volatile:
            flags.append(f"ECC uncorrected {gpu.ecc_uncorrected_volatile}")
        if flags:
            line.append("  " + ", ".join(flags), style=MUTED)
        return line

    def _events_line(self) -> Text:
        gpu = self.gpu
        line = Text("events".ljust(LABEL_WIDTH), style="bold")
        reasons = gpu.clock_event_reasons
        if reasons is None:
            line.append(_missing(gpu, "clock_event_reasons"), style=MUTED)
        elif not reasons:
            line.append("none (full clocks)", style=SUCCESS)
        else:
            slowing = {
                "thermal",
                "hw slowdown",
                "hw thermal slowdown",
                "power brake",
                "sw thermal slowdown",
            }
            style = ERROR if any(r.lower() in slowing for r in reasons) else WARNING
            if reasons == ["idle"] or [r.lower() for r in reasons] == ["gpu idle"]:
                style = MUTED
            line.append(safe_join(reasons), style=style)
        return line


def _clock(current: int | None, maximum: int | None) -> str | None:
    if current is None:
        return None
    return f"{current}/{maximum} MHz" if maximum is not None else f"{current} MHz"
