"""The Run pane: the samples and their last status, the device to use, source beside live output.

A run is an exclusive async worker: starting another, or cancelling, cancels the task, and the
runner kills the sample's whole process tree. Each sample keeps the output of its last run (an
OutputRecord); the output view shows the highlighted sample's, and after "run all" a summary of
the whole run (each sample, its status and time, then the totals) until another is highlighted.
The pane follows the app's target and check (`self.watch(self.app, ...)`); the app asks it to
run samples with the `RunSamples` and `RunLibrarySample` messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, LoadingIndicator, Select, Static

from probes.model import TargetPython
from probes.runner import SampleRef
from tui.presentation import ACCENT_STRONG, MUTED, RUN_STATUS_TONE, run_status_style
from tui.safe_text import inert_line, notify, safe_assemble, safe_content, safe_join, safe_text
from tui.services import Services
from tui.state import CheckState
from tui.widgets.output_log import COMMAND, NOTE, STATUS_KIND, OutputLog, OutputRecord
from tui.widgets.pane import Pane
from tui.widgets.source_view import SourceView

#: The status line while nothing runs.
IDLE_TEXT = "idle: r run, a run all, c cancel"


class StatusLine(Widget):
    """One line of text that changes often (elapsed time) without laying the screen out again.

    A Static's update() asks for a layout of the whole screen, which re-renders every widget on
    it; this line's size never depends on its text, so a repaint of the line is enough.
    """

    text: reactive[Text] = reactive(Text(), layout=False)

    def __init__(self, text: Text, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(StatusLine.text, text)

    def render(self) -> Text:
        """The current text."""
        return self.text


class RunPane(Pane):
    """Choose a sample and a device, run it in the target interpreter, watch it."""

    BINDINGS = [
        Binding("r", "run_selected", "Run", tooltip="Run the highlighted sample"),
        Binding("a", "run_all", "Run all", tooltip="Run every sample, one after another"),
        Binding("c", "cancel", "Cancel", tooltip="Stop the running sample (kills its processes)"),
        # Not in the footer (it would push Quit off at 80 columns): the status line names it.
        Binding(
            "s", "show_summary", "Summary", show=False, tooltip="The summary of the last run all"
        ),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    running: reactive[bool] = reactive(False)

    class RunSamples(Message, bubble=False):
        """Asks the pane to run these samples in turn (None: every sample), once listed."""

        def __init__(self, names: list[str] | None) -> None:
            super().__init__()
            self.names = names

    class RunLibrarySample(Message, bubble=False):
        """Asks the pane to run the sample of a library, once the samples are listed."""

        def __init__(self, library: str) -> None:
            super().__init__()
            self.library = library

    def __init__(self, services: Services, target: TargetPython, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.services = services
        self.target = target
        self.samples: dict[str, SampleRef] = {}
        #: Each sample's last status, per interpreter (results belong to the one they ran in).
        self._status_by_target: dict[str, dict[str, str]] = {}
        #: The last statuses of the current interpreter's runs.
        self.last_status: dict[str, str] = self._status_by_target.setdefault(target.executable, {})
        #: Each sample's output from its last run (or a placeholder saying it has not run); the
        #: output names the interpreter it ran in.
        self.records: dict[str, OutputRecord] = {}
        #: Samples whose record only says they have not run yet.
        self._not_run: set[str] = set()
        #: The summary of the last "run all" (or any run of several samples), once one ended.
        self.summary: OutputRecord | None = None
        self._idle_text = IDLE_TEXT
        self._current: str | None = None
        self._started_at = 0.0
        self._queue_text = ""
        self._status_shown: Text | None = None
        self._ticker: Timer | None = None
        #: Set once the samples have been listed (even if none could be).
        self.samples_loaded = asyncio.Event()

    def main_widget(self) -> Widget:
        """The samples table."""
        return self.query_one("#samples-table", DataTable)

    def compose(self) -> ComposeResult:
        """Samples and device on the left; source and output on the right; status below."""
        with Horizontal(id="run-body"):
            with Vertical(id="run-side"):
                # The device first: its drop-down opens downwards, over the samples below it
                # (at the bottom of the panel it spilled over the border and the status line).
                yield Static("device", classes="section")
                yield Select(
                    [("auto", "auto")],
                    value="auto",
                    allow_blank=False,
                    id="device-select",
                    compact=True,
                )
                yield DataTable(id="samples-table", cursor_type="row")
            with Container(id="run-main"):
                yield SourceView(id="source-view")
                yield OutputLog(ascii=bool(getattr(self.app, "ascii", False)), id="output-log")
        with Horizontal(id="run-status-bar"):
            yield LoadingIndicator(id="run-busy")
            yield StatusLine(Text(IDLE_TEXT, style="dim"), id="run-status")

    def on_mount(self) -> None:
        """Titles, the elapsed-time ticker, and the list of samples (read in a worker)."""
        self.query_one("#output-log", OutputLog).border_title = "output"
        self.query_one("#run-side").border_title = "samples"
        table = self.query_one("#samples-table", DataTable)
        table.add_column("sample", key="sample")
        # As wide as the longest status from the start: widths measured later lag a frame behind.
        table.add_column("last", width=max(len(status) for status in RUN_STATUS_TONE), key="last")
        # The ticker and the spinner run only while a sample runs: idle, their wake-ups were a
        # steady share of the dashboard's CPU.
        self._ticker = self.set_interval(0.2, self._tick, pause=not self.running)
        # After the spinner's own mount, which switches its animation on.
        self.call_after_refresh(lambda: self._animate_busy(self.running))
        self._load_samples()
        self.watch(self.app, "target", self._follow_target)
        self.watch(self.app, "check_state", self._follow_check)

    @work(thread=True, exclusive=True, group="list-samples", exit_on_error=False)
    def _load_samples(self) -> None:
        try:
            samples = self.services.all_samples()
        except Exception as exc:  # shown in the table, the rest still works
            self.app.call_from_thread(notify, self, f"cannot list samples: {exc}", severity="error")
            samples = list(self.services.extra_samples)
        self.app.call_from_thread(self._show_samples, samples)

    def _show_samples(self, samples: Sequence[SampleRef]) -> None:
        self.samples = {s.name: s for s in samples}
        self.samples_loaded.set()
        table = self.query_one("#samples-table", DataTable)
        table.clear()
        for name in self.samples:
            table.add_row(safe_text(inert_line(name)), self._status_cell(name), key=name)
        # A run may have started before the list arrived (from the palette): show its source.
        shown = self._current or self._highlighted()
        if shown is not None:
            self._show_source(shown)

    def _status_cell(self, name: str) -> Text:
        status = self.last_status.get(name, "-")
        return safe_text(
            inert_line(status), style=run_status_style(status, strong=status == "running")
        )

    def _set_status(self, name: str, status: str, statuses: dict[str, str] | None = None) -> None:
        """Record a sample's last status and show it in its row (the cursor stays put).

        `statuses` is the record of the interpreter the run belongs to (default: the current
        one); a run of an interpreter no longer shown updates its record, not the table.
        """
        record = self.last_status if statuses is None else statuses
        record[name] = status
        if record is not self.last_status:
            return
        table = self.query_one("#samples-table", DataTable)
        if name in table.rows:
            table.update_cell(name, "last", self._status_cell(name))

    def _highlight(self, name: str) -> None:
        """Put the table's cursor on a sample (its source follows)."""
        table = self.query_one("#samples-table", DataTable)
        if name in table.rows:
            table.move_cursor(row=table.get_row_index(name))
        self._show_source(name)

    def _highlighted(self) -> str | None:
        table = self.query_one("#samples-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return key

    @on(DataTable.RowHighlighted, "#samples-table")
    def _on_highlight(self, event: DataTable.RowHighlighted) -> None:
        # The source follows the cursor; a run moves the cursor to the sample it starts.
        if event.row_key.value is not None:
            self._show_source(event.row_key.value)

    @on(DataTable.RowSelected, "#samples-table")
    def _on_select(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.run_samples([event.row_key.value])

    def _show_source(self, name: str) -> None:
        sample = self.samples.get(name)
        self.query_one(SourceView).show_file(Path(sample.path) if sample is not None else None)
        self._show_output(name)

    def _record(self, name: str) -> OutputRecord:
        """The sample's last output; a note saying it has not run when it has not."""
        record = self.records.get(name)
        if record is None:
            record = OutputRecord(name)
            record.note(f"{name} has not run yet: r runs it, a runs every sample")
            self.records[name] = record
            self._not_run.add(name)
        return record

    def _show_output(self, name: str) -> None:
        log = self.query_one(OutputLog)
        record = self._record(name)
        # Nothing to read in the output yet: the source (the sample's lesson) gets the room.
        self.set_class(name in self._not_run, "-reading")
        if log.record is not record:
            log.show(record)
        log.border_title = safe_content(f"output: {inert_line(name)}")

    def action_show_summary(self) -> None:
        """Show the summary of the last run of several samples, if there was one."""
        if self.summary is None:
            notify(self, "no summary yet: a (run all) makes one", severity="warning")
            return
        log = self.query_one(OutputLog)
        self.remove_class("-reading")
        log.show(self.summary)
        log.border_title = "output: summary of the last run all"

    # ------------------------------------------------------------------------- public

    def _follow_target(self, target: TargetPython) -> None:
        """Run samples in the app's interpreter from now on (a run under way is cancelled).

        Results belong to the interpreter they ran in: the list shows the new one's.
        """
        if target == self.target:
            return
        self.action_cancel()
        self.target = target
        self.last_status = self._status_by_target.setdefault(target.executable, {})
        if self.is_mounted:
            table = self.query_one("#samples-table", DataTable)
            for name in self.samples:
                if name in table.rows:
                    table.update_cell(name, "last", self._status_cell(name))

    def _follow_check(self, state: CheckState | None) -> None:
        """Offer the devices the app's check found."""
        if state is not None:
            self._offer_devices(state.devices())

    def _offer_devices(self, devices: Sequence[str]) -> None:
        """Offer 'auto' and these devices (those that exist) in the selector."""
        select: Select[str] = self.query_one("#device-select", Select)
        current = select.value
        options = ["auto", *[d for d in devices if d != "auto"]]
        select.set_options([(d, d) for d in options])
        select.value = current if current in options else "auto"

    def sample_for_library(self, library: str) -> str | None:
        """The name of the sample that demonstrates a library, if one does."""
        for name, sample in self.samples.items():
            if sample.library == library:
                return name
        return None

    async def on_run_pane_run_samples(self, message: RunSamples) -> None:
        """Run what the app asked for, once the samples are listed."""
        await self.samples_loaded.wait()
        self.run_samples(list(self.samples) if message.names is None else message.names)

    async def on_run_pane_run_library_sample(self, message: RunLibrarySample) -> None:
        """Run a library's sample, once the samples are listed; say so when it has none."""
        await self.samples_loaded.wait()
        name = self.sample_for_library(message.library)
        if name is None:
            notify(
                self, f"{inert_line(message.library)} has no sample of its own", severity="warning"
            )
            return
        self.run_samples([name])

    def run_samples(self, names: Sequence[str]) -> None:
        """Run these samples one after another (cancelling any run under way)."""
        unknown = [n for n in names if n not in self.samples]
        if unknown:
            notify(self, f"unknown sample: {safe_join(unknown)}", severity="error")
            return
        if names:
            self._run(list(names))

    def action_run_selected(self) -> None:
        """Run the highlighted sample."""
        name = self._highlighted()
        if name is not None:
            self.run_samples([name])

    def action_run_all(self) -> None:
        """Run every sample in turn."""
        self.run_samples(list(self.samples))

    def action_cancel(self) -> None:
        """Cancel the run under way, if any."""
        if self.running:
            self.workers.cancel_group(self, "run")

    # ------------------------------------------------------------------------- running

    @work(exclusive=True, group="run", exit_on_error=False)
    async def _run(self, names: list[str]) -> None:
        device = str(self.query_one("#device-select", Select).value or "auto")
        self.running = True
        started = self.services.clock()
        this_run: dict[str, OutputRecord] = {}
        try:
            for position, name in enumerate(names, 1):
                self._queue_text = f" ({position}/{len(names)})" if len(names) > 1 else ""
                await self._run_one(name, device, this_run)
        finally:
            self.running = False
            self._current = None
            if len(names) > 1:
                self._summarise(names, this_run, self.services.clock() - started)

    async def _run_one(self, name: str, device: str, this_run: dict[str, OutputRecord]) -> None:
        sample = self.samples[name]
        statuses = self.last_status  # this run's results belong to this interpreter
        record = OutputRecord(name)
        self.records[name] = this_run[name] = record
        self._not_run.discard(name)
        self._current = name
        self._started_at = self.services.clock()
        self._set_status(name, "running", statuses)
        self._highlight(name)
        log = self.query_one(OutputLog)
        what = name if sample.is_sample else sample.path
        record.note(
            f"mltui run {what} --device {device} --python {self.target.executable}", COMMAND
        )
        log.changed(record)

        def on_lines(lines: Sequence[Any]) -> None:
            record.add_lines(lines)
            log.changed(record)

        status, elapsed, detail = "error", None, ""
        try:
            result = await self.services.run_sample(
                self.target, sample, device=device, on_lines=on_lines
            )
            status = result.status
            elapsed = result.elapsed_s
            if result.verdict is None:
                detail = result.summary
        except asyncio.CancelledError:
            status = "cancelled"
            elapsed = self.services.clock() - self._started_at
            self._finish(record, status, elapsed, "", statuses)
            raise
        except Exception as exc:  # one failed run must not end the app
            detail = str(exc)
        self._finish(record, status, elapsed, detail, statuses)

    def _finish(
        self,
        record: OutputRecord,
        status: str,
        elapsed: float | None,
        detail: str,
        statuses: dict[str, str] | None = None,
    ) -> None:
        name = record.name
        self._set_status(name, status, statuses)
        record.status, record.elapsed_s = status, elapsed
        took = f" in {elapsed:.1f} s" if elapsed is not None else ""
        record.note(
            f"{name}: {status}{took}{'; ' + detail if detail else ''}",
            STATUS_KIND.get(status, NOTE),
        )
        self.query_one(OutputLog).changed(record)

    def _summarise(
        self, names: list[str], this_run: dict[str, OutputRecord], elapsed: float
    ) -> None:
        """After a run of several samples: a summary record, shown, and totals in the status."""
        summary = OutputRecord("summary")
        width = max(len(name) for name in names)
        counts: dict[str, int] = {}
        for name in names:
            record = this_run.get(name)
            status = (record.status if record is not None else None) or "not run"
            counts[status] = counts.get(status, 0) + 1
            took = ""
            if record is not None and record.elapsed_s is not None:
                took = f"{record.elapsed_s:6.1f} s"
            summary.note(f"{name:<{width}}  {status:<9} {took}", STATUS_KIND.get(status, NOTE))
        totals = ", ".join(f"{count} {status}" for status, count in counts.items())
        verdict = "pass" if counts.get("pass", 0) == len(names) else "fail"
        summary.note(
            f"run all: {totals} ({len(names)} samples, {elapsed:.1f} s)", STATUS_KIND[verdict]
        )
        self.summary = summary
        self._idle_text = f"last run all: {totals} in {elapsed:.1f} s  (s summary)"
        log = self.query_one(OutputLog)
        log.show(summary)
        log.border_title = "output: summary of the last run all"
        self._tick()

    def watch_running(self, running: bool) -> None:
        """Show the busy indicator and tick the elapsed time only while a sample runs."""
        self.set_class(running, "-running")
        if self._ticker is not None:
            if running:
                self._ticker.resume()
            else:
                self._ticker.pause()
        self._animate_busy(running)
        self._tick()

    def _animate_busy(self, running: bool) -> None:
        if self.is_mounted:
            self.query_one("#run-busy", LoadingIndicator).auto_refresh = 1 / 16 if running else None

    def _tick(self) -> None:
        if self.running and self._current:
            elapsed = self.services.clock() - self._started_at
            self._show_status(
                safe_assemble(
                    ("running ", ACCENT_STRONG),
                    self._current + self._queue_text,
                    f"  {elapsed:.1f} s",
                    ("   c: cancel", MUTED),
                )
            )
        elif not self.running:
            self._show_status(Text(self._idle_text, style=MUTED))

    def _show_status(self, text: Text) -> None:
        # Every update lays the whole screen out again and re-renders what moved (the source's
        # syntax highlighting included): at 5 ticks a second that was most of the idle CPU.
        if text == self._status_shown:
            return
        self._status_shown = text
        self.query_one("#run-status", StatusLine).text = text
