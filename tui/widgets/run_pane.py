"""The Run pane: the samples and their last status, the device to use, source beside live output.

A run is an exclusive async worker: starting another, or cancelling, cancels the task, and the
runner kills the sample's whole process tree. Output reaches the log in batches (OutputLog). The
pane follows the app's target and check (`self.watch(self.app, ...)`); the app asks it to run
samples with the `RunSamples` and `RunLibrarySample` messages.
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
from tui.safe_text import inert_line, safe_assemble, safe_join, safe_markup, safe_text
from tui.services import Services
from tui.state import CheckState
from tui.widgets.output_log import OutputLog
from tui.widgets.source_view import SourceView


class RunPane(Widget):
    """Choose a sample and a device, run it in the target interpreter, watch it."""

    BINDINGS = [
        Binding("r", "run_selected", "Run", tooltip="Run the highlighted sample"),
        Binding("a", "run_all", "Run all", tooltip="Run every sample, one after another"),
        Binding("c", "cancel", "Cancel", tooltip="Stop the running sample (kills its processes)"),
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
        self._current: str | None = None
        self._started_at = 0.0
        self._queue_text = ""
        self._status_shown: Text | None = None
        self._ticker: Timer | None = None
        #: Set once the samples have been listed (even if none could be).
        self.samples_loaded = asyncio.Event()

    def compose(self) -> ComposeResult:
        """Samples and device on the left; source and output on the right; status below."""
        with Horizontal(id="run-body"):
            with Vertical(id="run-side"):
                yield DataTable(id="samples-table", cursor_type="row")
                yield Static("device", classes="section")
                yield Select(
                    [("auto", "auto")],
                    value="auto",
                    allow_blank=False,
                    id="device-select",
                    compact=True,
                )
            with Container(id="run-main"):
                yield SourceView(id="source-view")
                yield OutputLog(id="output-log")
        with Horizontal(id="run-status-bar"):
            yield LoadingIndicator(id="run-busy")
            yield Static("idle: r run, a run all, c cancel", id="run-status")

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
            self.app.call_from_thread(
                self.notify, safe_markup(f"cannot list samples: {exc}"), severity="error"
            )
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
            self.notify(
                safe_markup(f"{message.library} has no sample of its own"), severity="warning"
            )
            return
        self.run_samples([name])

    def run_samples(self, names: Sequence[str]) -> None:
        """Run these samples one after another (cancelling any run under way)."""
        unknown = [n for n in names if n not in self.samples]
        if unknown:
            self.notify(safe_markup(f"unknown sample: {safe_join(unknown)}"), severity="error")
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
        log = self.query_one(OutputLog)
        device = str(self.query_one("#device-select", Select).value or "auto")
        log.reset()
        self.running = True
        try:
            for position, name in enumerate(names, 1):
                self._queue_text = f" ({position}/{len(names)})" if len(names) > 1 else ""
                await self._run_one(name, device, log)
        finally:
            self.running = False
            self._current = None
            log.flush()

    async def _run_one(self, name: str, device: str, log: OutputLog) -> None:
        sample = self.samples[name]
        statuses = self.last_status  # this run's results belong to this interpreter
        self._current = name
        self._started_at = self.services.clock()
        self._set_status(name, "running", statuses)
        self._highlight(name)
        log.note(f"$ {name} --device {device}   ({self.target.executable})")
        status, elapsed, detail = "error", None, ""
        try:
            result = await self.services.run_sample(
                self.target, sample, device=device, on_lines=log.add_lines
            )
            status = result.status
            elapsed = result.elapsed_s
            detail = _verdict_words(result.verdict)
        except asyncio.CancelledError:
            status = "cancelled"
            elapsed = self.services.clock() - self._started_at
            self._finish(name, status, elapsed, "", log, statuses)
            raise
        except Exception as exc:  # one failed run must not end the app
            detail = str(exc)
        self._finish(name, status, elapsed, detail, log, statuses)

    def _finish(
        self,
        name: str,
        status: str,
        elapsed: float | None,
        detail: str,
        log: OutputLog,
        statuses: dict[str, str] | None = None,
    ) -> None:
        self._set_status(name, status, statuses)
        took = f" in {elapsed:.1f} s" if elapsed is not None else ""
        log.note(
            f"{name}: {status}{took}{'  ' + detail if detail else ''}",
            run_status_style(status, strong=True),
        )

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
            self._show_status(Text("idle: r run, a run all, c cancel", style=MUTED))

    def _show_status(self, text: Text) -> None:
        # Every update lays the whole screen out again and re-renders what moved (the source's
        # syntax highlighting included): at 5 ticks a second that was most of the idle CPU.
        if text == self._status_shown:
            return
        self._status_shown = text
        self.query_one("#run-status", Static).update(text)


def _verdict_words(verdict: Any) -> str:
    if not isinstance(verdict, dict):
        return ""
    parts = [f"{key} {verdict[key]}" for key in ("engine", "device") if verdict.get(key)]
    return ", ".join(parts)
