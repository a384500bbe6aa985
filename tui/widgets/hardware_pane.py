"""The Hardware pane: CPU and memory, a card per GPU, GPU processes, and the libraries matrix.

Readings come from a thread worker; the next one is scheduled only after the last was drawn, so
polls never overlap however slow NVML is. While the pane is hidden readings still feed the history
but nothing is drawn. The pane follows the app's check, pane in front and refresh interval itself
(`self.watch(self.app, ...)`).
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static, TabPane

from probes.diagnosis import ALL_CLEAR, verdict
from probes.headline import headline, no_nvidia_gpu_words
from probes.model import Finding, LibraryReport, NvmlReport, PciBus, SystemInfo
from tui.baseline_view import BaselineView
from tui.bench_marks import mark
from tui.presentation import (
    ERROR,
    ERROR_STRONG,
    MUTED,
    SUCCESS,
    WARNING,
    WARNING_STRONG,
    severity_style,
)
from tui.safe_text import inert, inert_line, safe_text
from tui.services import NvmlReader, Services
from tui.state import CheckState
from tui.widgets.gpu_card import GpuCard, memory_percent
from tui.widgets.libraries_matrix import LibrariesMatrix
from tui.widgets.pane import Pane
from tui.widgets.processes_table import ProcessesTable
from tui.widgets.system_panel import SystemPanel

#: Readings kept per GPU for the sparklines.
HISTORY_LENGTH = 120
LIBRARIES_HEADING = "Libraries (enter on a row: its whole probe result)"


@dataclass
class GpuHistory:
    """Bounded history of one GPU's utilisation and memory use (percent)."""

    util: deque[float | None]
    memory: deque[float | None]


class HardwarePane(Pane):
    """CPU, memory, GPUs, GPU processes and what the libraries make of them."""

    BINDINGS = [
        Binding(
            "l",
            "focus_libraries",
            "Libraries",
            id="focus-libraries",
            tooltip="Go to the libraries table and the findings (enter on a row: its details)",
        ),
    ]

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

    class FirstDrawn(Message):
        """The first reading is drawn (the app's re-check waits for it)."""

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
        self._static_shown: dict[str, object] = {}
        #: How many readings have been drawn (tests wait on it).
        self.readings_drawn = 0
        #: Whether the GPU processes' table is mounted (after the first frame).
        self._processes_mounted = False
        #: The CPU and memory read while composing, drawn in the first frame.
        self._first_system: SystemInfo | None = None
        #: Whether the sections after the first frame (GPUs, libraries, findings) are mounted.
        self._sections_mounted = False
        #: This machine against the dashboard's baseline, when there is one (status line).
        self._baseline = BaselineView()

    def main_widget(self) -> Widget:
        """The scrolling column of the hardware readings."""
        return self.query_one("#hw-scroll", VerticalScroll)

    def compose(self) -> ComposeResult:
        """The headline and the status line, then the CPU and memory in a scrolling column.

        The CPU, memory and PCI bus are read here (local files, a few ms), so the first frame
        answers the first question; NVML, which can take seconds, is left to the poll. The
        sections below (GPUs, libraries, findings, GPU processes) are mounted after the first
        frame is painted: the fewer widgets it lays out and styles, the sooner it shows.
        """
        try:
            self._first_system = self.services.read_system()
        except Exception:  # the poll reads it again and says what went wrong
            self._first_system = None
        yield Static(self._headline_text(), id="headline")
        yield Static("", id="check-status")
        with VerticalScroll(id="hw-scroll"):
            yield check_sections(ascii=self.ascii, system=self._first_system, processes=False)[0]

    def on_mount(self) -> None:
        """Start polling at once: the first reading is the first thing a user wants."""
        if self._first_system is not None:
            mark(self, "hardware")  # the CPU and memory are in the first frame
        self.call_after_refresh(self._mount_sections)
        self._poll()
        self.watch(self.app, "check_state", self._follow_check)
        self.watch(self.app, "active_pane", self._follow_active_pane)
        self.watch(self.app, "refresh_interval", self._follow_refresh_interval)

    async def _mount_sections(self) -> None:
        """Add the GPUs, libraries, findings and GPU processes below the CPU (after the first
        frame), then show in them what has arrived meanwhile."""
        if not self.is_attached:
            return
        later = check_sections(ascii=self.ascii, processes=True)[1:]
        await self.query_one("#hw-scroll", VerticalScroll).mount_all(later)
        if not (self.is_attached and all(w.is_attached for w in later)):
            return  # the app is closing
        self._sections_mounted = self._processes_mounted = True
        with contextlib.suppress(NoMatches):  # torn down meanwhile: the app is closing
            if self._check is not None:
                self._follow_check(self._check)
            if self._latest is not None and self.shown:
                self._draw(self._latest, count=False)

    def _follow_active_pane(self, active: str) -> None:
        """Draw only while this pane's tab is the one in front."""
        self.shown = self.query_ancestor(TabPane).id == active

    def _follow_refresh_interval(self, seconds: float) -> None:
        self.interval = seconds

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

    def _draw(self, reading: Reading, *, count: bool = True) -> None:
        if reading.system is not None:
            self.query_one(SystemPanel).show(reading.system)
        self._draw_headline()
        if not self._sections_mounted:
            # The GPU cards come with the sections, right after the first frame.
            self._draw_status()
            self._count_drawn(reading, count)
            return
        if reading.nvml is not None:
            self._draw_gpus(reading.nvml)
            if self._processes_mounted:  # else shown once mounted, after the first frame
                self.query_one(ProcessesTable).show(reading.nvml.gpus)
        elif reading.error:
            self._set_gpu_message(safe_text(reading.error, style=ERROR), reading.error)
        self._draw_status()
        self._count_drawn(reading, count)

    def _count_drawn(self, reading: Reading, count: bool) -> None:
        if not count:
            return
        self.readings_drawn += 1
        if self.readings_drawn == 1:
            self.post_message(self.FirstDrawn())
        if reading.system is not None:
            mark(self, "hardware")

    def _headline_text(self) -> Text:
        """The one sentence first (probes.headline) from the latest readings and check."""
        latest = self._latest
        system = latest.system if latest is not None and latest.system else self._first_system
        nvml = latest.nvml if latest is not None else None
        state = self._check
        libraries: list[LibraryReport] | None = None
        expected = None
        if state is not None:
            if state.result is not None:
                libraries = list(state.reports().values())
            elif state.running:
                libraries, expected = list(state.partial.values()), state.expected
        sentence = headline(
            nvml,
            system.pci if system is not None else None,
            libraries,
            in_container=system is not None and system.container.in_container,
            expected_libraries=expected,
        )
        return safe_text(sentence, style="bold")

    def _draw_headline(self) -> None:
        text = self._headline_text()
        self._update_static(self.query_one("#headline", Static), text, text.plain)

    def _draw_gpus(self, report: NvmlReport) -> None:
        container = self.query_one("#gpu-cards", Container)
        if report.status != "ok" or not report.gpus:
            latest = self._latest.system if self._latest is not None else None
            system = latest or self._first_system
            pci = system.pci if system is not None else None
            signature = (report.status, report.reason, tuple(report.explanations), repr(pci))
            self._set_gpu_message(no_gpu_text(report, pci), signature)
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

    def _set_gpu_message(self, content: RenderableType, signature: object) -> None:
        container = self.query_one("#gpu-cards", Container)
        existing = container.query("#gpu-message")
        if existing:
            self._update_static(existing.first(Static), content, signature)
        else:
            container.remove_children()
            container.mount(Static(content, id="gpu-message"))
            self._static_shown["gpu-message"] = signature
        self._update_static(self.query_one("#gpu-summary", Static), "GPUs")

    def _update_static(
        self, static: Static, content: RenderableType, signature: object = None
    ) -> None:
        """Update a Static unless it already shows `content` (or what `signature` stands for).

        Each update lays the screen out again; with the same words every second that was a
        good part of the dashboard's idle CPU. Renderables that do not compare by value (a
        Group, a Table) pass a `signature` that does.
        """
        key = static.id or str(id(static))
        shown = content if signature is None else signature
        if self._static_shown.get(key) == shown:
            return
        self._static_shown[key] = shown
        # The status line is one row high (app.tcss): a new status needs no layout of the screen.
        layout = key != "check-status"
        static.update(content, layout=layout)
        if layout:
            # Textual (8.2) keeps a widget's measured size under a counter that
            # `refresh(layout=True)` bumps only when no layout is already pending. A second update
            # before that layout ran (at start: the placeholder, then the cached check), with a
            # layout of the column in between, kept the first content's height: the findings
            # stayed one row high, and later checks with the same findings are skipped above, so
            # they stayed so. Bumping it here makes the pending layout measure the new content.
            static._layout_updates += 1

    # ------------------------------------------------------------------------- check results

    def _follow_check(self, state: CheckState | None) -> None:
        """Show the libraries of the app's check (cached, fresh or under way)."""
        if state is None:
            return
        self._check = state
        self._draw_headline()
        if not self._sections_mounted:
            self._draw_status()
            return  # shown once the sections are mounted
        matrices = self.query(LibrariesMatrix)
        if not matrices:
            return  # the pane is being taken down (the app quit while it was being built)
        matrices.first().show(state.reports(), checking=state.running)
        findings = state.result.findings if state.result is not None else None
        count = len(findings) if findings is not None else None
        self._update_static(
            self.query_one("#findings-heading", Static),
            "Findings" if not count else f"Findings ({count})",
        )
        self._update_static(
            self.query_one("#findings", Static),
            findings_renderable(findings),
            None if findings is None else tuple(findings),
        )
        self._draw_status()

    def action_focus_libraries(self) -> None:
        """Bring the libraries table and the findings into view and put the cursor in the table."""
        if not self._sections_mounted:
            return
        heading = self.query_one("#libraries-heading", Static)
        self.query_one("#hw-scroll", VerticalScroll).scroll_to_widget(
            heading, animate=False, top=True
        )
        self.query_one(LibrariesMatrix).focus(scroll_visible=False)

    def _draw_status(self) -> None:
        state = self._check
        status = Text()
        if state is None:
            status.append("libraries: waiting for the first check", style=MUTED)
        else:
            if state.result is not None or not state.running:
                status.append("libraries " + state.age_text(self.services.clock()))
            if state.running:
                again = "; checking again: " if state.result is not None else "libraries: "
                status.append(f"{again}{state.progress_text()}...", style=WARNING)
            if state.error:
                status.append(f"  check failed: {inert_line(state.error)}", style=ERROR)
        against = self._baseline.words(state.result if state is not None else None)
        if against is not None:
            status.append("  | ")
            status.append_text(against)
        status.append(f"  | refresh {self.interval:g} s (+/-)", style=MUTED)
        shown = self.query("#check-status")
        if shown:  # gone while the pane is taken down
            self._update_static(shown.first(Static), status)


def check_sections(
    *, ascii: bool, system: SystemInfo | None = None, processes: bool = True
) -> list[Widget]:
    """The sections that show a check: system, GPU cards, libraries, findings, and (unless
    `processes` is false) the GPU processes; the system panel shows `system` from the start.

    The Hardware pane shows this machine in them; the Fleet pane's node screen, a node's report.
    """
    sections: list[Widget] = [
        SystemPanel(ascii=ascii, system=system, id="system-panel"),
        Static("GPUs", id="gpu-summary", classes="section"),
        Container(Static("reading the GPUs...", id="gpu-message"), id="gpu-cards"),
        Static(LIBRARIES_HEADING, id="libraries-heading", classes="section"),
        LibrariesMatrix(id="libraries-matrix"),
        Static("Findings", id="findings-heading", classes="section"),
        Static(findings_renderable(None), id="findings"),
    ]
    return [*sections, *processes_section()] if processes else sections


def processes_section() -> list[Widget]:
    """The GPU processes' heading and table."""
    return [Static("GPU processes", classes="section"), ProcessesTable(id="gpu-processes")]


def gpu_summary(report: NvmlReport) -> Text:
    """'2 GPUs, driver 550.54, CUDA 12.4' for the cards' title."""
    count = len(report.gpus)
    parts = [f"{count} GPU{'s' if count != 1 else ''}"]
    if report.driver_version:
        parts.append(f"driver {report.driver_version}")
    if report.cuda_driver_version:
        parts.append(f"CUDA {report.cuda_driver_version}")
    return safe_text(inert_line(", ".join(parts)))


def _sentence(words: str) -> str:
    """`words` with a full stop, unless it already ends a sentence."""
    words = words.strip()
    return words if words.endswith((".", "!", "?", ")")) else words + "."


def bullet_list(lines: list[str], style: str = "") -> Table:
    """Lines as '- ' bullets whose wrapped continuation lines stay indented under the text."""
    grid = Table.grid(padding=0)
    grid.add_column(width=4, no_wrap=True)
    grid.add_column(ratio=1)
    for line in lines:
        grid.add_row("  - ", safe_text(line, style=style))
    return grid


def no_gpu_text(report: NvmlReport, pci: PciBus | None = None) -> RenderableType:
    """Plain words for 'there is no GPU here', what that means, and what was checked.

    With a PCI bus that holds no NVIDIA GPU, it says that instead of what a driver would need.
    """
    headline = Text()
    bus_words = no_nvidia_gpu_words(pci)
    if report.status != "ok" and bus_words is not None:
        headline.append("No NVIDIA GPU in this machine", style=WARNING_STRONG)
        headline.append(inert(f" ({bus_words}): the libraries compute on the CPU."))
        if report.reason:
            headline.append(inert(f"\nNVML: {report.reason}"), style=MUTED)
        return headline
    if report.status == "no_driver":
        # The probe's reason starts "no NVIDIA driver: ..."; said once, as one sentence.
        reason = report.reason or ""
        if reason.lower().startswith("no nvidia driver"):
            reason = reason.partition(":")[2].strip()
        headline.append("No NVIDIA GPU driver", style=WARNING_STRONG)
        headline.append(inert(_sentence(f": {reason}")) if reason else ".")
        headline.append(
            "\nSo the libraries can use only the CPU here (or a GPU of another kind they support)."
        )
    elif report.status == "error":
        headline.append("NVML failed: ", style=ERROR_STRONG)
        headline.append(inert(_sentence(report.reason or "unknown error")))
    else:
        headline.append("The NVIDIA driver is loaded but reports no GPU.", style=WARNING_STRONG)
    if not report.explanations:
        return headline
    return Group(headline, Text("What was checked:", style=MUTED), bullet_list(report.explanations))


def findings_renderable(findings: list[Finding] | None) -> RenderableType:
    """The check's findings, one per entry: severity, title, and the fix on the next line."""
    if findings is None:
        return Text("  the findings come with the first check", style=MUTED)
    if not findings:
        return Text("  " + ALL_CLEAR, style=SUCCESS)
    grid = Table.grid(padding=0)
    grid.add_column(width=10, no_wrap=True)
    grid.add_column(ratio=1)
    for finding in findings:
        grid.add_row(
            Text(f"  {finding.severity}", style=severity_style(finding.severity)),
            safe_text(finding.title, style="bold"),
        )
        grid.add_row(Text("     fix", style=MUTED), safe_text(finding.fix, style=SUCCESS))
    return Group(Text("  " + verdict(findings), style="bold"), grid)
