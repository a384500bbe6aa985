"""The mltui dashboard: Hardware, Run and Knowledge panes over the probes, runner and content.

The app owns the state every pane follows (the target interpreter and its check) and hands it
down; panes send their wishes up as messages. Nothing slow happens before the first frame: the
cached check, the re-check, NVML and the samples list all arrive from workers, and the Run and
Knowledge panes (and their modules) are built only when first needed. Everything that acts on one
of them goes through `with_pane` (or `pane`), which builds it first if need be.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, overload

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from probes.model import LibraryReport, TargetPython
from tui.bench_marks import mark
from tui.commands import (
    InterpreterCommands,
    PageCommands,
    PageTextCommands,
    PaneCommands,
    SampleCommands,
)
from tui.presentation import dashboard_theme
from tui.safe_text import inert_line, safe_markup
from tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.services import Services, default_services
from tui.state import CheckState
from tui.widgets.glyphs import use_ascii_chrome
from tui.widgets.hardware_pane import HardwarePane

if TYPE_CHECKING:
    from tui.widgets.knowledge_pane import KnowledgePane
    from tui.widgets.libraries_matrix import LibrariesMatrix
    from tui.widgets.run_pane import RunPane

PANES = ("hardware", "run", "knowledge")
#: Panes composed when first needed: before the first frame they cost it more than half its time
#: (their modules, Markdown, tables, selects and the chooser's data).
LAZY_PANES = ("run", "knowledge")
#: How long the check's probes wait for the first hardware reading to be drawn.
CHECK_WAITS_FOR_HARDWARE_S = 2.0
#: How long quitting waits for a pane still being built (a widget torn down half-mounted fails).
QUIT_WAITS_FOR_PANES_S = 2.0
#: Bounds of the hardware refresh interval (seconds) that +/- move between.
MIN_REFRESH_S = 0.25
MAX_REFRESH_S = 30.0


class MltuiApp(App[None]):
    """What hardware is here, which ML libraries can use it, do they run, which fits the job."""

    CSS_PATH = "app.tcss"
    TITLE = "mltui"
    COMMANDS = App.COMMANDS | {
        PaneCommands,
        PageCommands,
        PageTextCommands,
        SampleCommands,
        InterpreterCommands,
    }
    BINDINGS = [
        Binding(
            "1",
            "show_pane('hardware')",
            "Hardware",
            # The tabs already show 1 2 3; the footer keeps its room for the pane's own keys.
            show=False,
            id="pane-hardware",
            tooltip="CPU, memory, GPUs and the libraries matrix",
        ),
        Binding(
            "2", "show_pane('run')", "Run", show=False, id="pane-run", tooltip="Run the samples"
        ),
        Binding(
            "3",
            "show_pane('knowledge')",
            "Knowledge",
            show=False,
            id="pane-knowledge",
            tooltip="Compare the libraries, read their pages, choose one",
        ),
        Binding("question_mark,f1", "help", "Help", id="help", tooltip="Keys and panes"),
        Binding(
            "i",
            "switch_interpreter",
            "Python",
            id="interpreter",
            tooltip="Switch the interpreter the libraries are probed and run in",
        ),
        Binding(
            "ctrl+r",
            "recheck",
            "Re-check",
            id="recheck",
            show=False,
            tooltip="Probe every library again",
        ),
        Binding(
            "plus,equals_sign",
            "refresh_interval(2.0)",
            "Slower",
            show=False,
            id="slower",
            tooltip="Refresh the hardware less often",
        ),
        Binding(
            "minus",
            "refresh_interval(0.5)",
            "Faster",
            show=False,
            id="faster",
            tooltip="Refresh the hardware more often",
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave mltui"),
    ]

    check_state: var[CheckState | None] = var(None, always_update=True)

    def __init__(
        self,
        *,
        target: TargetPython | None = None,
        services: Services | None = None,
        refresh: float = 1.0,
        ascii: bool = False,
        watch_tty: bool = False,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.services = services or default_services()
        if target is None:
            from probes.target import current_target

            target = current_target()
        self.target = target
        self.refresh_s = refresh
        self.ascii = ascii
        self.watch_tty = watch_tty
        self.started_at = started_at if started_at is not None else time.perf_counter()
        #: Seconds from start to the first frame (set in on_ready).
        self.startup_s: float | None = None
        self._undo_ascii: Callable[[], None] | None = None
        #: Set once the first frame is painted; the re-check's probes wait for it.
        self._first_frame = asyncio.Event()
        #: The lazy panes' main widgets once created, and whether each has finished mounting.
        self._pane_widgets: dict[str, Widget] = {}
        self._pane_mounted: dict[str, asyncio.Event] = {}
        #: What waits for a lazy pane to be mounted, in the order asked.
        self._waiting_acts: dict[str, list[Callable[[Any], Awaitable[None] | None]]] = {}
        #: The pane last asked for (a key, a click, a command).
        self._wanted_pane = "hardware"
        if ascii:
            self.add_class("-ascii")
        #: mltui's style names (tui.presentation) on the current theme's colours.
        self.console.push_theme(dashboard_theme(self.get_css_variables()))

    # ------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        """Header, the three panes as tabs, the footer with the keys."""
        yield Header(icon="*" if self.ascii else None)
        with TabbedContent(initial="hardware", id="panes"):
            with TabPane("1 Hardware", id="hardware"):
                yield HardwarePane(
                    self.services, interval=self.refresh_s, ascii=self.ascii, id="hardware-pane"
                )
            # Filled by _ensure_pane when first needed.
            yield TabPane("2 Run", id="run")
            yield TabPane("3 Knowledge", id="knowledge")
        # The palette hint draws a block-glyph separator; ctrl+p still works without it.
        yield Footer(show_command_palette=not self.ascii)

    def on_mount(self) -> None:
        """Show the target, start the check, and watch the terminal."""
        self.sub_title = self._target_words()
        if self.ascii:
            self._undo_ascii = use_ascii_chrome()
        self.theme_changed_signal.subscribe(self, self._recolour)
        self.check_state = CheckState(target=self.target)
        self._run_check()
        if self.watch_tty:
            self.set_interval(1.0, self._exit_without_tty)
        self._fit_to_size(self.size.width, self.size.height)

    def on_unmount(self) -> None:
        """Give Textual its own glyphs back."""
        if self._undo_ascii is not None:
            self._undo_ascii()

    def on_ready(self) -> None:
        """Record how long the first frame took."""
        self.startup_s = time.perf_counter() - self.started_at
        self.log.info(f"mltui ready in {self.startup_s:.3f} s")
        mark(self, "ready")
        self.call_after_refresh(self._first_frame.set)

    def _recolour(self, _theme: Theme) -> None:
        """Put mltui's style names on the new theme's colours and draw everything again."""
        self.console.pop_theme()
        self.console.push_theme(dashboard_theme(self.get_css_variables()))
        for screen in self.screen_stack:
            for widget in screen.walk_children(Widget, with_self=True):
                if isinstance(widget, Static):
                    # A Static keeps its text as drawn with the old styles; give it the text again.
                    widget.update(widget.content)
                widget.notify_style_update()
                widget.refresh()

    async def _refreshed(self) -> None:
        """Return after the next screen refresh."""
        refreshed = asyncio.Event()
        self.call_after_refresh(refreshed.set)
        await refreshed.wait()

    def _target_words(self) -> str:
        return inert_line(f"Python {self.target.version}: {self.target.executable}")

    # ------------------------------------------------------------------------- panes

    def action_show_pane(self, pane: str) -> None:
        """Bring a pane to the front; one not built yet is built first, then shown."""
        if pane not in PANES:
            return
        self._wanted_pane = pane
        if pane in LAZY_PANES and self._mounted_pane(pane) is None:

            def show(_widget: Widget) -> None:
                # Another key may have asked for another pane while this one was being built.
                if self._wanted_pane == pane:
                    self.query_one("#panes", TabbedContent).active = pane

            self._when_mounted(pane, show)
            return
        self.query_one("#panes", TabbedContent).active = pane

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Tell the hardware pane whether it is visible, and focus the shown pane's main widget."""
        pane_id = event.pane.id or ""
        self._wanted_pane = pane_id
        self.query_one(HardwarePane).shown = pane_id == "hardware"
        focus_target = {
            "hardware": "#hw-scroll",
            "run": "#samples-table",
            "knowledge": "#kn-index",
        }.get(pane_id)
        if not focus_target:
            return

        def focus(_widget: Widget | None = None) -> None:
            # A tab clicked before its pane was built: the user may have moved on since.
            if self.active_pane == pane_id:
                self.query_one(focus_target).focus()

        if pane_id in LAZY_PANES and self._mounted_pane(pane_id) is None:
            self._when_mounted(pane_id, focus)
        else:
            focus()

    def _ensure_pane(self, pane_id: str) -> Widget:
        """A lazy pane's main widget, mounting it into its tab the first time."""
        widget = self._pane_widgets.get(pane_id)
        if widget is not None:
            return widget
        if pane_id == "run":
            from tui.widgets.run_pane import RunPane

            widget = RunPane(self.services, self.target, id="run-pane")
        elif pane_id == "knowledge":
            from tui.widgets.knowledge_pane import KnowledgePane

            widget = KnowledgePane(id="knowledge-pane")
        else:
            raise ValueError(f"not a lazy pane: {pane_id!r}")
        self._pane_widgets[pane_id] = widget
        mounted = self._pane_mounted.setdefault(pane_id, asyncio.Event())
        mounting = self.query_one(f"#{pane_id}", TabPane).mount(widget)

        async def after_mount() -> None:
            await mounting
            if not (self.is_running and widget.is_attached):
                return  # the app quit while the pane was being built
            # From now on watch_check_state keeps it up to date; this is what it missed.
            if self.check_state is not None:
                self._show_state_in(pane_id, widget, self.check_state)
            mounted.set()
            for act in self._waiting_acts.pop(pane_id, []):
                self._call_act(act, widget)

        self.run_worker(after_mount(), group=f"mount-{pane_id}")
        return widget

    def _mounted_pane(self, pane_id: str) -> Widget | None:
        """A lazy pane's main widget if it is mounted, else None."""
        event = self._pane_mounted.get(pane_id)
        return self._pane_widgets.get(pane_id) if event is not None and event.is_set() else None

    def _when_mounted(self, pane_id: str, act: Callable[[Any], Awaitable[None] | None]) -> None:
        """Call `act(widget)` now if the pane is mounted, else right after (in request order)."""
        widget = self._mounted_pane(pane_id)
        if widget is not None:
            self._call_act(act, widget)
            return
        self._waiting_acts.setdefault(pane_id, []).append(act)
        self._ensure_pane(pane_id)

    def _call_act(self, act: Callable[[Any], Awaitable[None] | None], widget: Widget) -> None:
        result = act(widget)
        if inspect.isawaitable(result):
            self.run_worker(result, group="pane-act")

    @overload
    def with_pane(
        self, pane_id: Literal["run"], act: Callable[[RunPane], Awaitable[None] | None]
    ) -> None: ...

    @overload
    def with_pane(
        self,
        pane_id: Literal["knowledge"],
        act: Callable[[KnowledgePane], Awaitable[None] | None],
    ) -> None: ...

    def with_pane(self, pane_id: str, act: Callable[[Any], Awaitable[None] | None]) -> None:
        """Call `act(pane)` with the Run or Knowledge pane: now if it is built, else once it is.

        Those panes are built when first needed; anything acting on one goes through here (or
        `pane`). `act` may be a coroutine function: it is then awaited in a worker.
        """
        self._when_mounted(pane_id, act)

    async def pane(self, pane_id: str) -> Widget:
        """The Run or Knowledge pane once mounted (building it if need be)."""
        widget = self._ensure_pane(pane_id)
        await self._pane_mounted[pane_id].wait()
        return widget

    async def action_quit(self) -> None:
        """Leave mltui, once any pane being built is complete."""
        building = [event.wait() for event in self._pane_mounted.values() if not event.is_set()]
        if building:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*building), QUIT_WAITS_FOR_PANES_S)
        self.exit()

    @property
    def active_pane(self) -> str:
        """The id of the pane in front."""
        return str(self.query_one("#panes", TabbedContent).active)

    def action_help(self) -> None:
        """Show the help screen."""
        # The screens are imported when first shown: the help's Markdown alone costs start-up 50 ms.
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh_interval(self, factor: float) -> None:
        """Multiply the hardware refresh interval, within bounds."""
        pane = self.query_one(HardwarePane)
        pane.interval = min(MAX_REFRESH_S, max(MIN_REFRESH_S, pane.interval * factor))
        self.notify(f"hardware refresh every {pane.interval:g} s", timeout=2)

    # ------------------------------------------------------------------------- check

    def action_recheck(self) -> None:
        """Probe every library again."""
        self._run_check()

    @work(exclusive=True, group="check", exit_on_error=False)
    async def _run_check(self) -> None:
        """Show the cached check at once, then re-check in the background and show that."""
        target = self.target
        clock = self.services.clock
        state = CheckState(target=target, running=True)
        try:
            cached = await asyncio.to_thread(self.services.load_check, target)
        except Exception as exc:  # a broken cache only costs the head start
            self.notify(safe_markup(f"ignoring the check cache: {exc}"), severity="warning")
            cached = None
        if cached is not None:
            state = replace(
                state, result=cached.result, age_s=cached.age_s, loaded_at=clock(), from_cache=True
            )
        self.check_state = state
        # The probes are CPU-heavy imports: started before the first complete frame (the
        # hardware drawn), they would take the CPU from it (on two cores they tripled the time to
        # a first screen). A reading that is slow to come (NVML) does not hold the check up long.
        await self._first_frame.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.query_one(HardwarePane).first_drawn.wait(), CHECK_WAITS_FOR_HARDWARE_S
            )
        await self._refreshed()
        try:
            result = await self.services.run_check(target, on_library=self._library_probed)
        except Exception as exc:  # shown beside the matrix; the app goes on
            self.check_state = replace(self.check_state or state, running=False, error=str(exc))
            return
        self.check_state = CheckState(target=target, result=result, age_s=0.0, loaded_at=clock())

    def _library_probed(self, report: LibraryReport) -> None:
        """One library's report arrived during a check (from any thread)."""
        if threading.get_ident() != self._thread_id:
            self.call_from_thread(self._library_probed, report)
            return
        if self.check_state is not None and self.check_state.running:
            self.check_state = self.check_state.with_partial(report)

    def watch_check_state(self, state: CheckState | None) -> None:
        """Every pane follows the newest check (a lazy pane not built yet gets it when it is)."""
        if state is None:
            return
        self.query_one(HardwarePane).show_check(state)
        for pane_id in LAZY_PANES:
            widget = self._mounted_pane(pane_id)
            if widget is not None:
                self._show_state_in(pane_id, widget, state)
        if state.result is not None:
            mark(self, "libraries")

    def _show_state_in(self, pane_id: str, widget: Widget, state: CheckState) -> None:
        if pane_id == "run":
            widget.set_devices(state.devices())  # type: ignore[attr-defined]
        elif pane_id == "knowledge":
            widget.set_check(state)  # type: ignore[attr-defined]

    def show_library(self, library: str) -> None:
        """Show a library's whole probe result and its findings."""
        state = self.check_state
        report = state.reports().get(library) if state else None
        findings = state.findings_for(library) if state else []
        age = state.age_text(self.services.clock()) if state else "not checked yet"
        from tui.screens.library_detail import LibraryDetailScreen

        self.push_screen(LibraryDetailScreen(library, report, findings, age))

    def on_libraries_matrix_library_selected(self, event: LibrariesMatrix.LibrarySelected) -> None:
        """A row of the libraries matrix was chosen."""
        self.show_library(event.library)

    def on_knowledge_pane_probe_result_requested(
        self, event: KnowledgePane.ProbeResultRequested
    ) -> None:
        """A page asked for its library's probe result."""
        self.show_library(event.library)

    def on_knowledge_pane_run_sample_requested(
        self, event: KnowledgePane.RunSampleRequested
    ) -> None:
        """A page asked to run its library's sample."""
        self.run_library_sample(event.library)

    # ------------------------------------------------------------------------- samples, pages

    def run_library_sample(self, library: str) -> None:
        """Switch to the Run pane and run the sample of a library."""

        async def run(run_pane: RunPane) -> None:
            await run_pane.samples_loaded.wait()
            name = run_pane.sample_for_library(library)
            if name is None:
                self.notify(safe_markup(f"{library} has no sample of its own"), severity="warning")
                return
            self.run_sample(name)

        self.with_pane("run", run)

    def run_sample(self, name: str) -> None:
        """Switch to the Run pane and run a sample by name (once the samples are listed)."""
        self.action_show_pane("run")

        async def run(run_pane: RunPane) -> None:
            await run_pane.samples_loaded.wait()
            run_pane.run_samples([name])

        self.with_pane("run", run)

    def open_page(self, library: str, anchor: str | None = None) -> None:
        """Switch to the Knowledge pane and open a page (at a heading, when given)."""
        self.action_show_pane("knowledge")

        async def open_it(knowledge: KnowledgePane) -> None:
            await knowledge.pages_loaded.wait()
            knowledge.open_page(library, anchor)

        self.with_pane("knowledge", open_it)

    # ------------------------------------------------------------------------- interpreter

    def action_switch_interpreter(self) -> None:
        """Pick another interpreter from a list (or a path)."""
        from tui.screens.interpreter import InterpreterScreen

        self.push_screen(InterpreterScreen(self.services, self.target), self.set_target)

    def set_target(self, target: TargetPython | None) -> None:
        """Make `target` the interpreter every pane works with, and check it."""
        if target is None or target == self.target:
            return
        self.target = target
        self.sub_title = self._target_words()
        # A Run pane not built yet is built with the new target.
        run_pane = self._pane_widgets.get("run")
        if run_pane is not None:
            run_pane.set_target(target)  # type: ignore[attr-defined]
        self.notify(safe_markup(f"now using {target.executable} (Python {target.version})"))
        self._run_check()

    @work(thread=True, exclusive=True, group="resolve-target", exit_on_error=False)
    def switch_target_path(self, path: str) -> None:
        """Resolve a path to a Python (it runs it, so in a worker) and switch to it."""
        from probes.target import TargetError

        try:
            target = self.services.resolve_target(path)
        except TargetError as exc:
            self.call_from_thread(self.notify, str(exc), title="not usable", severity="error")
            return
        self.call_from_thread(self.set_target, target)

    # ------------------------------------------------------------------------- terminal

    def on_resize(self, event: events.Resize) -> None:
        """Swap in the 'too small' message below the minimum size, and back."""
        self._fit_to_size(event.size.width, event.size.height)

    def _fit_to_size(self, width: int, height: int) -> None:
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        showing = isinstance(self.screen, TooSmallScreen)
        if too_small and not showing:
            self.push_screen(TooSmallScreen())
        elif not too_small and showing:
            self.pop_screen()
        self.set_class(width < 120, "-narrow")

    def _exit_without_tty(self) -> None:
        """Leave when stdin stops being a terminal (the ssh connection dropped)."""
        try:
            still_tty = os.isatty(0)
        except OSError:
            still_tty = False
        if not still_tty:
            self.exit(return_code=1, message="mltui: the terminal went away")
