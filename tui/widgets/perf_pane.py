"""The Perf pane: `mltui perf` in the dashboard, with NVML watched live while the load runs.

`r` runs the check on the app's interpreter (every device), `c` or escape cancels it (the load
processes are killed whole). While it runs: a live strip with each GPU's SM clock (and its
history), power against its limit, temperature and clock-event reasons, read by mltui itself
about ten times a second, and each figure as it arrives. Then: per device, a bar of each figure
against its peak, the verdict and its reasons; the same GEMM in every library. Before a run the
pane shows the last one kept for the interpreter (the check's `perf`).

The run's progress arrives as typed events (`probes.perf.events`), each posted to the pane as a
`Progress` message (the NVML samples from the sampling thread too: posting is thread-safe), so
the pane's state is only touched on its own thread. News is taken in at once and drawn together
at most twice a second (the figures only when one arrived); nothing is redrawn while idle.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from probes.model import GpuInfo, TargetPython
from probes.perf.devices import PerfUsageError
from probes.perf.events import GpusRead, LibraryDone, LibraryStarted, Measured, PerfEvent, Sampled
from probes.perf_model import Measurement, NvmlSample, NvmlWatch, PerfReport
from tui.perf_view import (
    behind_best,
    comparison_rows,
    figure_line,
    peak_bases,
    shown_measurements,
    strip_line,
    verdict_text,
)
from tui.presentation import ACCENT_STRONG, ERROR, MUTED, human_rate, perf_run_words
from tui.safe_text import notify, safe_text
from tui.services import Services
from tui.state import CheckState
from tui.widgets.pane import Pane

#: Seconds from the first news of a run to the live parts' redraw that shows it and all news
#: after it (NVML is read at 10 Hz per GPU; twice a second is enough to watch, and drawing is
#: most of what watching costs).
LIVE_REFRESH_S = 0.5
#: Seconds between two updates of the elapsed time in the status line during a run.
CLOCK_S = 1.0
#: Samples kept per GPU for the strip's history.
STRIP_HISTORY = 60


class PerfPane(Pane):
    """Measure every device against its peak; watch the GPUs while it runs; say why it is slow."""

    BINDINGS = [
        Binding("r", "run", "Run", tooltip="Measure every device (mltui perf)"),
        Binding("c", "cancel", "Cancel", tooltip="Stop the run (kills its processes)"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    running: reactive[bool] = reactive(False)

    class Measured(Message):
        """A run ended; this report is what is kept now (the app puts it in the check's `perf`):
        the run itself, or, when it was cut short, the earlier complete figures it kept."""

        def __init__(self, report: PerfReport) -> None:
            super().__init__()
            self.report = report

    class Progress(Message, bubble=False):
        """News from the run under way (posted by the run's worker, `Sampled` by NVML's thread)."""

        def __init__(self, run: int, event: PerfEvent) -> None:
            super().__init__()
            #: Which of this pane's runs it belongs to (a late one of an ended run is dropped).
            self.run = run
            self.event = event

    def __init__(
        self,
        services: Services,
        target: TargetPython,
        *,
        ascii: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.services = services
        self.target = target
        self.ascii = ascii
        #: The report shown: the last run of this pane, or the one kept with the check.
        self.report: PerfReport | None = None
        self._own_report = False
        #: What was kept instead of the run shown, when it was not simply that run.
        self._kept_note = ""
        self._cancel: asyncio.Event | None = None
        self._run_number = 0
        self._samples: dict[int, deque[NvmlSample]] = {}
        self._gpus: dict[int, GpuInfo] = {}
        self._live: list[Measurement] = []
        self._library = ""
        self._started = 0.0
        #: The live parts wait for this one-shot timer (progress arrives faster than is drawn).
        self._pending_draw: Timer | None = None
        self._figures_changed = False
        self._clock: Timer | None = None
        #: How many times the figures and the strip were drawn (tests wait on it).
        self.draws = 0

    def main_widget(self) -> Widget:
        """The scrolling column of the figures."""
        return self.query_one("#perf-scroll", VerticalScroll)

    def compose(self) -> ComposeResult:
        """Head, live strip, per-device figures, the comparison; a status line below."""
        with VerticalScroll(id="perf-scroll"):
            yield Static(id="perf-head")
            yield Static(id="perf-strip")
            yield Static(id="perf-devices")
            yield Static(id="perf-comparison")
        yield Static(Text("idle: r run, c cancel", style=MUTED), id="perf-status")

    def on_mount(self) -> None:
        """Follow the app's interpreter and check; the clock ticks only during a run."""
        self._clock = self.set_interval(CLOCK_S, self._show_status, pause=True)
        self.watch(self.app, "target", self._follow_target)
        self.watch(self.app, "check_state", self._follow_check)
        self._draw()

    # ------------------------------------------------------------------------- following

    def _follow_target(self, target: TargetPython) -> None:
        if target.executable == self.target.executable:
            return
        self.action_cancel()
        self.target = target
        self.report, self._own_report = None, False
        self._draw()

    def _follow_check(self, state: CheckState | None) -> None:
        """Show the run kept with the check until this pane has one of its own."""
        if self._own_report or self.running or state is None or state.result is None:
            return
        if state.result.perf is not self.report:
            self.report = state.result.perf
            self._draw()

    # ------------------------------------------------------------------------- actions

    def action_run(self) -> None:
        """Start a run (one at a time)."""
        if not self.running:
            self._run()

    def action_cancel(self) -> None:
        """Stop the run under way: its processes are killed, what was measured is kept."""
        if self._cancel is not None:
            self._cancel.set()

    @work(exclusive=True, group="perf", exit_on_error=False)
    async def _run(self) -> None:
        target = self.target
        self._cancel = asyncio.Event()
        self._run_number += 1
        run = self._run_number
        self._samples.clear()
        self._live = []
        self._gpus = {}
        self._library = "reading the GPUs"
        self._started = time.monotonic()
        self.running = True

        def progress(event: PerfEvent) -> None:
            self.post_message(self.Progress(run, event))  # thread-safe (Sampled)

        try:
            report = await self.services.run_perf(
                target, None, cancel=self._cancel, on_event=progress
            )
        except (PerfUsageError, OSError) as exc:  # a device list that does not fit, no NVML
            notify(self, f"perf: {exc}", severity="error")
            return
        finally:
            self.running = False
            self._cancel = None
        self.report, self._own_report, self._kept_note = report, True, ""
        self._draw()
        kept = await asyncio.to_thread(self.services.keep_perf, report, target)
        self.post_message(self.Measured(kept.report))  # what comparisons show from now on
        if kept.path is None:
            notify(self, "cannot keep the perf result in the cache", severity="warning")
        if kept.note:
            self._kept_note = kept.note
            self._draw()

    def on_perf_pane_progress(self, message: PerfPane.Progress) -> None:
        """Take in the run's news; the live parts are drawn a little later, together."""
        if message.run != self._run_number or not self.running:
            return  # news of a run that has ended
        event = message.event
        if isinstance(event, Sampled):
            for index, samples in event.samples.items():
                self._samples.setdefault(index, deque(maxlen=STRIP_HISTORY)).extend(samples)
        elif isinstance(event, GpusRead):
            self._gpus = {g.index: g for g in event.report.gpus}
        elif isinstance(event, LibraryStarted):
            self._library = f"{event.library}: importing and measuring"
        elif isinstance(event, Measured):
            self._live.append(event.measurement)
            self._figures_changed = True
        elif isinstance(event, LibraryDone):
            self._library = f"{event.run.library}: {perf_run_words(event.run.status)}"
        if self._pending_draw is None:
            self._pending_draw = self.set_timer(LIVE_REFRESH_S, self._draw_live)

    def watch_running(self, running: bool) -> None:
        """The clock and the `-running` class follow the run."""
        self.set_class(running, "-running")
        if self._clock is not None:
            if running:
                self._clock.resume()
            else:
                self._clock.pause()
        if not running and self._pending_draw is not None:
            self._pending_draw.stop()
            self._pending_draw = None
        self._draw()

    def _draw_live(self) -> None:
        """During a run: the strip and the status line; the figures only when one arrived."""
        self._pending_draw = None
        if not self.children or not self.running:
            return
        self.draws += 1
        self._show("#perf-strip", self._strip())
        if self._figures_changed:
            self._figures_changed = False
            self._show("#perf-devices", self._devices())
        self._show_status()

    def _show_status(self) -> None:
        if self.children:
            self.query_one("#perf-status", Static).update(self._status())

    # ------------------------------------------------------------------------- drawing

    def _draw(self) -> None:
        if not self.children:  # not composed yet
            return
        self.draws += 1
        self._show("#perf-head", self._head())
        self._show("#perf-strip", self._strip())
        self._show("#perf-devices", self._devices())
        self._show("#perf-comparison", self._comparison())
        self.query_one("#perf-status", Static).update(self._status())

    def _show(self, selector: str, content: RenderableType) -> None:
        """Put content in one of the pane's parts; an empty part takes no room."""
        widget = self.query_one(selector, Static)
        empty = isinstance(content, Text) and not content.plain
        widget.display = not empty
        if not empty:
            widget.update(content)

    def _head(self) -> RenderableType:
        report = self.report
        if self.running:
            return Text("measuring every device of this machine…", style=ACCENT_STRONG)
        if report is None:
            return Text(
                "Not measured yet: r measures every device against its peak, c cancels.",
                style=MUTED,
            )
        line = Text("verdict ")
        line.append_text(verdict_text(report.verdict))
        line.append_text(safe_text(f"  {report.hostname}, {report.created_at}", MUTED))
        if report.elapsed_s is not None:
            line.append(f", {report.elapsed_s:.1f} s", style=MUTED)
        lines: list[RenderableType] = [line]
        lines.extend(safe_text(f"  {reason}") for reason in report.reasons[:4])
        if self._kept_note:
            lines.append(safe_text(f"  {self._kept_note}", MUTED))
        return Group(*lines)

    def _strip(self) -> RenderableType:
        if not self.running:
            return Text("")
        samples = {i: list(s) for i, s in self._samples.items()}
        if not samples:
            return Text("")
        lines = []
        for index in sorted(samples):
            gpu = self._gpus.get(index)
            watch = NvmlWatch(
                gpu_index=index,
                sm_clock_max_mhz=gpu.clock_sm_max_mhz if gpu else None,
                power_limit_w=gpu.power_limit_w if gpu else None,
            )
            lines.append(_no_wrap(strip_line(watch, samples[index], ascii=self.ascii)))
        return Group(Text("NVML, live", style="bold"), *lines)

    def _devices(self) -> RenderableType:
        if self.running:
            live = self._live
            lines = [
                _no_wrap(
                    safe_text(f"{m.device:<7} {m.label:<18.18} {m.library:<10.10} ")
                    + (
                        Text(human_rate(m.value, m.unit))
                        if m.value is not None
                        else safe_text(m.error or m.skipped or "", MUTED)
                    )
                )
                for m in live
                if not m.skipped
            ]
            return Group(*lines[-12:]) if lines else Text("")
        report = self.report
        if report is None:
            return Text("")
        blocks: list[RenderableType] = []
        for device in report.devices:
            title = safe_text(f"{device.device}  {device.name or ''}  ")
            title.append_text(verdict_text(device.verdict))
            title.stylize("bold", 0, len(device.device))
            blocks.append(_no_wrap(title))
            for m in shown_measurements(device):
                blocks.append(_no_wrap(Text("  ") + figure_line(device, m, ascii=self.ascii)))
            for reason in device.reasons:
                style = ERROR if device.verdict == "failed" else ""
                blocks.append(safe_text(f"  - {reason}", style))
            blocks.extend(safe_text(f"  - {note}") for note in behind_best(device))
            blocks.extend(safe_text(f"  {basis}", MUTED) for basis in peak_bases(device))
        if report.allreduce is not None:
            m = report.allreduce
            line = safe_text(f"all-reduce {m.device}: ")
            line.append_text(
                Text(f"bus bandwidth {human_rate(m.value, m.unit)}")
                if m.value is not None
                else safe_text(m.error or "not measured", ERROR)
            )
            blocks.append(line)
        return Group(*blocks)

    def _comparison(self) -> RenderableType:
        if self.running or self.report is None:
            return Text("")
        rows = comparison_rows(self.report)
        if not rows:
            return Text("")
        lines: list[RenderableType] = [
            Text(f"the same matrix multiply in every library ({rows[0].device})", style="bold")
        ]
        for m in rows:
            line = safe_text(f"  {(m.dtype or '').upper():<5} {m.library:<10.10} ")
            line.append(f"{human_rate(m.value, m.unit):>14}")
            if m.ratio is not None:
                line.append(f"  {m.ratio:4.0%} of peak", style=MUTED)
            lines.append(_no_wrap(line))
        return Group(*lines)

    def _status(self) -> Text:
        if self.running:
            text = safe_text(f"{self._library}  {time.monotonic() - self._started:.0f} s")
            text.append("   c: cancel", style=MUTED)
            return text
        return Text("idle: r run, c cancel", style=MUTED)


def _no_wrap(text: Text) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text
