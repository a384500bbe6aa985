"""The Hardware pane: CPU and memory, a card per GPU, GPU processes, and the libraries matrix.

Readings come from a thread worker; the next one is scheduled only after the last was drawn, so
polls never overlap however slow NVML is. While the pane is hidden readings still feed the history
but nothing is drawn.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from probes.model import NvmlReport, SystemInfo
from tui.bench_marks import mark
from tui.services import NvmlReader, Services
from tui.state import CheckState
from tui.widgets.gpu_card import GpuCard, memory_percent
from tui.widgets.libraries_matrix import LibrariesMatrix
from tui.widgets.processes_table import ProcessesTable
from tui.widgets.system_panel import SystemPanel

#: Readings kept per GPU for the sparklines.
HISTORY_LENGTH = 120


@dataclass
class GpuHistory:
    """Bounded history of one GPU's utilisation and memory use (percent)."""

    util: deque[float | None]
    memory: deque[float | None]


class HardwarePane(Widget):
    """CPU, memory, GPUs, GPU processes and what the libraries make of them."""

    interval: reactive[float] = reactive(1.0)
    shown: reactive[bool] = reactive(True)

    class Reading(Message):
        """One poll's result (or why it failed)."""

        def __init__(
            self, system: SystemInfo | None, nvml: NvmlReport | None, error: str | None
        ) -> None:
            super().__init__()
            self.system = system
            self.nvml = nvml
            self.error = error

    def __init__(
        self,
        services: Services,
        *,
        interval: float = 1.0,
        ascii: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.services = services
        self.ascii = ascii
        self.set_reactive(HardwarePane.interval, interval)
        self._nvml: NvmlReader | None = None
        self._histories: dict[str, GpuHistory] = {}
        self._latest: HardwarePane.Reading | None = None
        self._poll_timer: Timer | None = None
        self._check: CheckState | None = None
        #: What each Static was last given, by id (see _update_static).
        self._static_shown: dict[str, str | Text] = {}
        #: How many readings have been drawn (tests wait on it).
        self.readings_drawn = 0

    def compose(self) -> ComposeResult:
        """Status line, then everything in one scrolling column."""
        yield Static("", id="check-status")
        with VerticalScroll(id="hw-scroll"):
            yield SystemPanel(ascii=self.ascii, id="system-panel")
            yield Static("GPUs", id="gpu-summary", classes="section")
            yield Container(Static("reading the GPUs...", id="gpu-message"), id="gpu-cards")
            yield Static("Libraries (enter on a row: the whole probe result)", classes="section")
            yield LibrariesMatrix(id="libraries-matrix")
            yield Static("GPU processes", classes="section")
            yield ProcessesTable(id="gpu-processes")

    def on_mount(self) -> None:
        """Start polling at once: the first reading is the first thing a user wants."""
        self._poll()

    def on_unmount(self) -> None:
        """Stop polling and let NVML go."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.close()

    @work(thread=True, exclusive=True, group="hardware-poll", exit_on_error=False)
    def _poll(self) -> None:
        """Read the system and NVML off the UI thread; always answer with a Reading."""
        system: SystemInfo | None = None
        report: NvmlReport | None = None
        errors = []
        try:
            system = self.services.read_system()
        except Exception as exc:  # shown to the user, polling goes on
            errors.append(f"system: {exc}")
        try:
            if self._nvml is None:
                self._nvml = self.services.open_nvml()
            report = self._nvml.read(with_processes=True)
        except Exception as exc:  # shown to the user, polling goes on
            errors.append(f"NVML: {exc}")
        self.post_message(self.Reading(system, report, "; ".join(errors) or None))

    def on_hardware_pane_reading(self, reading: Reading) -> None:
        """Record history, draw when visible, then schedule the next poll."""
        reading.stop()
        self._latest = reading
        if reading.nvml is not None:
            self._record_history(reading.nvml)
        if self.shown:
            self._draw(reading)
        self._poll_timer = self.set_timer(self.interval, self._poll)

    def watch_shown(self, shown: bool) -> None:
        """Draw the latest reading as soon as the pane shows again."""
        if shown and self._latest is not None and self.is_mounted:
            self._draw(self._latest)

    def watch_interval(self, interval: float) -> None:
        """Apply a new interval from the next poll on."""
        if self._poll_timer is not None and self.is_mounted:
            self._poll_timer.stop()
            self._poll_timer = self.set_timer(interval, self._poll)
        if self.is_mounted:
            self._draw_status()

    def _record_history(self, report: NvmlReport) -> None:
        for gpu in report.gpus:
            key = gpu.uuid or str(gpu.index)
            history = self._histories.setdefault(
                key, GpuHistory(deque(maxlen=HISTORY_LENGTH), deque(maxlen=HISTORY_LENGTH))
            )
            history.util.append(
                float(gpu.utilization_gpu_percent)
                if gpu.utilization_gpu_percent is not None
                else None
            )
            history.memory.append(memory_percent(gpu))

    def _draw(self, reading: Reading) -> None:
        if reading.system is not None:
            self.query_one(SystemPanel).show(reading.system)
        if reading.nvml is not None:
            self._draw_gpus(reading.nvml)
            self.query_one(ProcessesTable).show(reading.nvml.gpus)
        elif reading.error:
            self._set_gpu_message(Text(reading.error, style="red"))
        self._draw_status()
        self.readings_drawn += 1
        if reading.system is not None:
            mark(self, "hardware")

    def _draw_gpus(self, report: NvmlReport) -> None:
        container = self.query_one("#gpu-cards", Container)
        if report.status != "ok" or not report.gpus:
            self._set_gpu_message(no_gpu_text(report))
            return
        cards = list(container.query(GpuCard))
        if len(cards) != len(report.gpus):
            container.remove_children()
            cards = [GpuCard(gpu, ascii=self.ascii) for gpu in report.gpus]
            container.mount_all(cards)
        for card, gpu in zip(cards, report.gpus, strict=True):
            history = self._histories.get(gpu.uuid or str(gpu.index))
            card.show(gpu, history.util if history else (), history.memory if history else ())
        self._update_static(self.query_one("#gpu-summary", Static), gpu_summary(report))

    def _set_gpu_message(self, text: Text) -> None:
        container = self.query_one("#gpu-cards", Container)
        existing = container.query("#gpu-message")
        if existing:
            self._update_static(existing.first(Static), text)
        else:
            container.remove_children()
            container.mount(Static(text, id="gpu-message"))
            self._static_shown["gpu-message"] = text
        self._update_static(self.query_one("#gpu-summary", Static), "GPUs")

    def _update_static(self, static: Static, content: str | Text) -> None:
        """Update a Static unless it already shows `content`.

        Each update lays the screen out again; with the same words every second that was a
        good part of the dashboard's idle CPU.
        """
        key = static.id or str(id(static))
        if self._static_shown.get(key) == content:
            return
        self._static_shown[key] = content
        static.update(content)

    # ------------------------------------------------------------------------- check results

    def show_check(self, state: CheckState) -> None:
        """Show the libraries of a check (cached, fresh or under way)."""
        self._check = state
        self.query_one(LibrariesMatrix).show(state.reports(), checking=state.running)
        self._draw_status()

    def _draw_status(self) -> None:
        state = self._check
        status = Text()
        if state is None:
            status.append("libraries: waiting for the first check", style="dim")
        else:
            status.append("libraries " + state.age_text(self.services.clock()))
            if state.running:
                done = len(state.partial)
                status.append(f", re-checking ({done} done)...", style="yellow")
            if state.error:
                status.append(f"  check failed: {state.error}", style="red")
        status.append(f"  | refresh {self.interval:g} s (+/-)", style="dim")
        self._update_static(self.query_one("#check-status", Static), status)


def gpu_summary(report: NvmlReport) -> str:
    """'2 GPUs, driver 550.54, CUDA 12.4' for the cards' title."""
    count = len(report.gpus)
    parts = [f"{count} GPU{'s' if count != 1 else ''}"]
    if report.driver_version:
        parts.append(f"driver {report.driver_version}")
    if report.cuda_driver_version:
        parts.append(f"CUDA {report.cuda_driver_version}")
    return ", ".join(parts)


def no_gpu_text(report: NvmlReport) -> Text:
    """Plain words for 'there is no GPU here' and what was checked."""
    text = Text()
    if report.status == "no_driver":
        text.append("No NVIDIA GPU driver. ", style="bold yellow")
        text.append(report.reason or "NVML could not be loaded.")
        text.append(
            "\nThe libraries can only use the CPU here (or a GPU of another kind they support)."
        )
    elif report.status == "error":
        text.append("NVML failed: ", style="bold red")
        text.append(report.reason or "unknown error")
    else:
        text.append("The NVIDIA driver is loaded but reports no GPU.", style="bold yellow")
    for line in report.explanations:
        text.append("\n  - " + line)
    return text
