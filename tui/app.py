"""The mltui dashboard: its panes (tui/panes.py) over the probes, runner and content.

The app owns the state every pane follows — `target` (the interpreter), `check_state` (its
check), `active_pane` and `refresh_interval` — as reactive attributes; each pane watches what it
needs (`self.watch(self.app, ...)`, which also hands a pane built late the current value). Panes
send their wishes up as messages; the app's verbs (`show_pane`, `open_page`, `run_sample`, ...)
reach a pane only by a message (`tell_pane`), which builds a lazy pane first. Nothing slow happens
before the first frame: the cached check, the re-check, NVML and the samples list all arrive from
workers, and lazy panes (and their modules) are built only when first needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, cast

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.filter import LineFilter
from textual.message import Message
from textual.message_pump import MessagePump
from textual.reactive import var
from textual.screen import Screen
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import Header, Static, TabbedContent, TabPane

from probes.catalog import LIBRARIES
from probes.model import LibraryReport, TargetPython
from tui.bench_marks import mark
from tui.commands import (
    InterpreterCommands,
    PageCommands,
    PageTextCommands,
    PaneCommands,
    SampleCommands,
)
from tui.panes import KNOWLEDGE_PANE, PANES, RUN_PANE, PaneContext, PaneSpec, check_panes
from tui.plain_screen import AsciiCells, NoColour
from tui.presentation import dashboard_theme
from tui.safe_text import inert_line, notify, safe_content
from tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.services import Services, default_services
from tui.state import CheckState
from tui.widgets.glyphs import use_ascii_chrome
from tui.widgets.keys_footer import KeysFooter
from tui.widgets.pane import Pane

if TYPE_CHECKING:
    from tui.widgets.hardware_pane import HardwarePane
    from tui.widgets.knowledge_pane import KnowledgePane, KnowledgeView
    from tui.widgets.libraries_matrix import LibrariesMatrix
    from tui.widgets.perf_pane import PerfPane

#: How long the check's probes wait for the first hardware reading to be drawn.
CHECK_WAITS_FOR_HARDWARE_S = 2.0
#: The longest a key waits for the one before it to be handled: a handler that never returns
#: must not hold every later key (they are then routed as they stand, still in order).
KEY_SETTLES_WITHIN_S = 5.0
#: Bounds of the hardware refresh interval (seconds) that +/- move between.
MIN_REFRESH_S = 0.25
MAX_REFRESH_S = 30.0


class DashboardScreen(Screen[None]):
    """The screen the panes are on."""

    #: The first pane's main widget has the keys from the first frame on: focused later, the
    #: footer would compose its keys twice while the app starts. Textual takes a selector here,
    #: so it is the first pane's first focusable widget, which is its `main_widget()` (a test
    #: checks they agree). (Only this screen: the others, help, details, dialogs, keep
    #: Textual's first-focusable rule.)
    AUTO_FOCUS = f"#{PANES[0].id} *"


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
    #: The app's own keys; each pane's key comes from its PaneSpec (tui/panes.py).
    BINDINGS = [
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
        Binding(
            "e",
            "export",
            "Export",
            id="export",
            show=False,
            tooltip="Save the check as JSON and Markdown and the screen as SVG",
        ),
        # Before any widget's own ctrl+c: copy a selection if there is one, else quit (as htop
        # and nvitop do; Textual's default only says how to quit).
        Binding("ctrl+c", "copy_or_quit", "Quit", show=False, priority=True, id="ctrl-c"),
        # As in any terminal program: ctrl+z stops mltui, `fg` brings it back (redrawn whole).
        Binding("ctrl+z", "suspend_process", "Suspend", show=False, priority=True, id="suspend"),
    ]

    #: The interpreter every pane works with.
    target: var[TargetPython] = var(cast(TargetPython, None), init=False)
    #: The newest check of the target (cached or fresh), with a re-check's partial reports.
    check_state: var[CheckState | None] = var(None, always_update=True)
    #: The id of the pane in front.
    active_pane: var[str] = var("")
    #: Seconds between two hardware readings.
    refresh_interval: var[float] = var(1.0)

    def __init__(
        self,
        *,
        target: TargetPython | None = None,
        services: Services | None = None,
        refresh: float = 1.0,
        ascii: bool = False,
        colour: bool = True,
        watch_tty: bool = False,
        started_at: float | None = None,
        panes: Sequence[PaneSpec] = PANES,
    ) -> None:
        check_panes(panes)
        super().__init__()
        self.services = services or default_services()
        if target is None:
            from probes.target import current_target

            target = current_target()
        self.set_reactive(MltuiApp.target, target)
        self.set_reactive(MltuiApp.refresh_interval, refresh)
        self.set_reactive(MltuiApp.active_pane, next(iter(p.id for p in panes)))
        self.ascii = ascii
        self.watch_tty = watch_tty
        self.started_at = started_at if started_at is not None else time.perf_counter()
        #: Seconds from start to the first frame (set in on_ready).
        self.startup_s: float | None = None
        self._undo_ascii: Callable[[], None] | None = None
        #: Set once the first frame is painted; the re-check's probes wait for it.
        self._first_frame = asyncio.Event()
        #: Set once the machine's first reading is drawn (the re-check waits for it too).
        self._hardware_drawn = asyncio.Event()
        #: The panes by id, in tab order; the first is shown first.
        self.panes: dict[str, PaneSpec] = {spec.id: spec for spec in panes}
        self._first_pane = next(iter(self.panes))
        #: Each pane's widget once built, and whether it has finished mounting.
        self._pane_widgets: dict[str, Pane] = {}
        self._pane_mounted: dict[str, asyncio.Event] = {}
        #: Messages for lazy panes not mounted yet, delivered in order once they are.
        self._pane_mail: dict[str, list[Message]] = {}
        #: The pane last asked for (a key, a click, a command).
        self._wanted_pane = self._first_pane
        #: Tab activations this app caused itself whose TabActivated has not arrived yet, by
        #: pane (the first pane's comes from TabbedContent's start). Under load several can be
        #: in flight; one left unmatched would make a late one look like a click on its tab.
        self._activations_pending: Counter[str] = Counter({self._first_pane: 1})
        for spec in self.panes.values():
            self.bind(spec.key, f"show_pane({spec.id!r})", description=spec.title, show=False)
        #: Keys and pastes that came while the one before was still being handled, in order.
        self._held_input: deque[events.Key | events.Paste] = deque()
        #: Whether a key (or paste) is being handled: later ones are held until it is.
        self._input_in_flight = False
        #: The held key let through next (posted again, it must not be held a second time).
        self._releasing: events.Key | events.Paste | None = None
        self._settling: set[asyncio.Task[None]] = set()
        #: mltui's line filters, applied after Textual's own (see get_line_filters).
        self._own_filters: list[LineFilter] = []
        if ascii:
            self.add_class("-ascii")
            # Whatever is drawn (a widget, Textual itself, a notification): ASCII on screen.
            self._own_filters.append(AsciiCells())
        #: False under NO_COLOR or TERM=dumb: no colour escape is written at all.
        self.colour = colour
        if not colour:
            self.add_class("-plain")
            self._own_filters.append(NoColour())
        #: mltui's style names (tui.presentation) on the current theme's colours.
        self.console.push_theme(dashboard_theme(self.get_css_variables()))

    # ------------------------------------------------------------------------- layout

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's enabled filters, then mltui's own (ASCII cells, no colour) when asked for."""
        return [*super().get_line_filters(), *self._own_filters]

    def get_default_screen(self) -> Screen[None]:
        """The dashboard's screen (it knows which widget gets the keys first)."""
        return DashboardScreen(id="_default")

    def compose(self) -> ComposeResult:
        """Header, a tab per pane (the lazy ones empty until needed), the footer with the keys."""
        yield Header(icon="*" if self.ascii else None)
        context = self._pane_context()
        with TabbedContent(initial=self._first_pane, id="panes"):
            for spec in self.panes.values():
                with TabPane(safe_content(f"{spec.key} {spec.title}"), id=spec.id):
                    if not spec.lazy:
                        widget = spec.build(context)
                        self._pane_widgets[spec.id] = widget
                        yield widget
        # The palette hint draws a block-glyph separator; ctrl+p still works without it.
        yield KeysFooter(show_command_palette=not self.ascii)

    def _pane_context(self) -> PaneContext:
        return PaneContext(self.services, self.target, self.refresh_interval, self.ascii)

    def on_mount(self) -> None:
        """Show the target, start the check, and watch the terminal."""
        self.sub_title = self._target_words()
        for pane_id in self._pane_widgets:
            self._pane_mounted[pane_id] = asyncio.Event()
            self._pane_mounted[pane_id].set()
        if self.ascii:
            self._undo_ascii = use_ascii_chrome()
        self.theme_changed_signal.subscribe(self, self._recolour)
        self._redraw_on_continue()
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

    def _redraw_on_continue(self) -> None:
        """Draw every cell again whenever mltui continues after a stop (ctrl+z or SIGTSTP or
        SIGSTOP, then `fg` or SIGCONT): the terminal was the shell's meanwhile, and Textual
        would draw only what changed since the stop (the screen stayed blank until a key)."""
        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGCONT)  # Textual's: back into application mode

        def on_continue(signum: int, frame: FrameType | None) -> None:
            driver = self._driver
            # Stopped by SIGSTOP, Textual never left application mode (only SIGTSTP makes it):
            # leave it now, so that Textual's handler enters it afresh (raw keys, one reader).
            if driver is not None and not getattr(driver, "_must_signal_resume", True):
                with contextlib.suppress(Exception):
                    driver.suspend_application_mode()
            if callable(previous):
                previous(signum, frame)
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to draw
                loop.call_soon_threadsafe(lambda: self.screen.refresh(layout=True))

        signal.signal(signal.SIGCONT, on_continue)

    def _target_words(self) -> str:
        return inert_line(f"Python {self.target.version}: {self.target.executable}")

    # ------------------------------------------------------------------------- keys

    async def on_event(self, event: events.Event) -> None:
        """Route the terminal's keys and pastes one at a time, each after the one before it.

        Textual decides where a key goes (the focused widget, or the top screen's bindings) when
        the app takes it from its queue, but the key before may still be on its way: bubbling
        through the widgets' own queues to a binding, or a screen it opened still composing.
        Typed quickly, or on a busy machine, the next key then went where the previous one had
        not yet moved the keys: after ctrl+p it reached the palette before its search field had
        the focus (lost); a key before ctrl+p bubbled up to the bindings once the palette was on
        top (lost); after ctrl+p, escape it landed in the closing palette. So each key is held
        until the previous one has been handled and the screen in front has its focus.
        """
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if event is self._releasing:
                self._releasing = None
            elif self._input_in_flight:
                self._held_input.append(event)
                return
            self._input_in_flight = True
            focused = self.focused
            route: list[MessagePump] = (
                [*focused.ancestors_with_self] if focused is not None else [self.screen]
            )
            try:
                await super().on_event(event)
            finally:
                settling = asyncio.create_task(self._settle_input(route))
                self._settling.add(settling)
                settling.add_done_callback(self._settling.discard)
            return
        await super().on_event(event)

    async def _settle_input(self, route: list[MessagePump]) -> None:
        """Let the next held key through once the last one has been handled (or took too long)."""
        try:
            await asyncio.wait_for(self._input_handled(route), KEY_SETTLES_WITHIN_S)
        except TimeoutError:
            self.log.warning(f"a key took over {KEY_SETTLES_WITHIN_S} s to be handled")
        finally:
            if self._held_input:
                self._releasing = self._held_input.popleft()
                self.post_message(self._releasing)
            else:
                self._input_in_flight = False

    async def _input_handled(self, route: list[MessagePump]) -> None:
        """Return once a key sent along `route` (the focused widget up to its screen) has been
        handled there and by the app's bindings, and the screen now in front is composed with its
        focus (one that the key opened, or the one it went back to)."""
        for node in route:
            if node is not self:
                await self._processed(node)  # it handled the key, and passed it up if not used
        await self._processed(self)  # the app's bindings have seen it
        await self._processed(self.screen)

    @staticmethod
    async def _processed(node: MessagePump) -> None:
        """Return once `node` has handled what was posted to it before (or has gone)."""
        done = asyncio.Event()
        if not node.call_later(done.set):
            return  # closing: nothing more is handled there
        while not done.is_set() and node.is_attached:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.1)  # waits-for: the node, or its removal

    # ------------------------------------------------------------------------- panes

    def action_show_pane(self, pane: str) -> None:
        """Bring a pane to the front; one not built yet is built first, then shown."""
        if pane not in self.panes:
            return
        self._wanted_pane = pane
        if self._is_mounted_pane(pane):
            self._bring_to_front(pane)
        else:
            self._build_pane(pane)  # shown once mounted, if still wanted then

    def show_pane(self, pane: str) -> None:
        """Bring a pane to the front (the verb palette entries and other panes call)."""
        self.action_show_pane(pane)

    def tell_pane(self, pane: str, message: Message) -> None:
        """Post `message` to a pane's widget: now if it is mounted, else once it is (in order)."""
        widget = self._pane_widgets.get(pane)
        if widget is not None and self._is_mounted_pane(pane):
            widget.post_message(message)
            return
        self._pane_mail.setdefault(pane, []).append(message)
        self._build_pane(pane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Record the pane in front and give its main widget the keys (building it if need be)."""
        pane_id = event.pane.id or ""
        if self._activations_pending[pane_id] > 0:
            # Our own doing (start-up or _bring_to_front): by now another pane may be wanted.
            self._activations_pending[pane_id] -= 1
        else:
            self._wanted_pane = pane_id  # a click on a tab
        self.active_pane = self.query_one("#panes", TabbedContent).active
        if self._is_mounted_pane(pane_id):
            self._focus_pane(pane_id)
        elif pane_id in self.panes:
            self._build_pane(pane_id)  # a tab clicked before its pane was built

    def _bring_to_front(self, pane_id: str) -> None:
        tabs = self.query_one("#panes", TabbedContent)
        if tabs.active != pane_id:  # setting the same tab again posts no TabActivated
            self._activations_pending[pane_id] += 1
            tabs.active = pane_id
        self.active_pane = pane_id

    def _focus_pane(self, pane_id: str) -> None:
        widget = self._pane_widgets.get(pane_id)
        if widget is not None and self.active_pane == pane_id:
            focused = self.focused
            if focused is not None and widget in focused.ancestors_with_self:
                return  # a verb (open a page, run a sample) already put the keys in the pane
            widget.main_widget().focus()

    def _is_mounted_pane(self, pane_id: str) -> bool:
        event = self._pane_mounted.get(pane_id)
        return event is not None and event.is_set()

    def _build_pane(self, pane_id: str) -> None:
        """Build a pane into its tab the first time it is needed; then show it if still wanted."""
        if pane_id in self._pane_widgets:
            return
        widget = self.panes[pane_id].build(self._pane_context())
        self._pane_widgets[pane_id] = widget
        mounted = self._pane_mounted.setdefault(pane_id, asyncio.Event())
        mounting = self.query_one(f"#{pane_id}", TabPane).mount(widget)

        async def after_mount() -> None:
            await mounting
            if not (self.is_running and widget.is_attached):
                return  # the app quit while the pane was being built
            mounted.set()
            for message in self._pane_mail.pop(pane_id, []):
                widget.post_message(message)
            # Another key may have asked for another pane while this one was being built.
            if self._wanted_pane == pane_id:
                if self.query_one("#panes", TabbedContent).active != pane_id:
                    self._bring_to_front(pane_id)  # focused when its TabActivated arrives
                else:
                    self._focus_pane(pane_id)

        self.run_worker(after_mount(), group=f"mount-{pane_id}")

    async def action_quit(self) -> None:
        """Leave mltui at once: every process tree it started (probes, samples, perf runs) is
        killed first, so nothing under way holds the exit up (their workers end as the app
        closes; a pane still being built is torn down with it)."""
        from probes.process import kill_all_running

        kill_all_running()
        self.exit()

    async def action_copy_or_quit(self) -> None:
        """Copy the selected text when there is some (a field's or the screen's), else quit."""
        focused = self.focused
        selected = getattr(focused, "selected_text", None) if focused is not None else None
        if not selected:
            selected = self.screen.get_selected_text()
        if selected:
            self.copy_to_clipboard(selected)
            notify(self, "copied the selected text", timeout=2)
            return
        await self.action_quit()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the terminal is too small, only quitting works: no dialog opens over it."""
        if isinstance(self.screen, TooSmallScreen):
            return action in ("quit", "copy_or_quit")
        return True

    def action_export(self) -> None:
        """Save the current check as JSON and Markdown and the screen as SVG; say where."""
        from tui.export import export_folder, export_paths, write_check, write_whole

        state = self.check_state
        result = state.result if state is not None else None
        host = result.system.hostname if result is not None else os.uname().nodename
        try:
            paths = export_paths(host, export_folder())
            written = write_check(result, paths) if result is not None else []
            screen = paths.folder / paths.svg_name
            try:
                write_whole(screen, self.export_screenshot())
            except OSError:
                for path in written:  # an export is all its files, or none
                    path.unlink(missing_ok=True)
                raise
            written.append(screen)
        except OSError as exc:
            notify(self, f"export failed: {exc}", severity="error")
            return
        names = "\n".join(inert_line(path) for path in written)
        note = "" if result is not None else "\n(no check yet: the screen only)"
        notify(self, f"{names}{note}", title="exported", timeout=10)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """mltui's own palette commands in mltui's words: help, export, theme, maximise, quit.

        Textual's Screenshot is left out (the export saves the screen as SVG with the check), and
        its keys panel too (the help lists every key of every pane).
        """
        yield SystemCommand(
            "Help: keys and panes", "Every key of every pane (key ?)", self.action_help
        )
        yield SystemCommand(
            "Export the check and the screen",
            "Save the check as JSON and Markdown and the screen as SVG (key e)",
            self.action_export,
        )
        yield SystemCommand(
            "Theme: change the colours",
            "Pick another colour theme (NO_COLOR=1 turns colour off)",
            self.action_change_theme,
        )
        if screen.maximized is not None:
            yield SystemCommand(
                "Restore the pane", "Back from the maximised widget", screen.action_minimize
            )
        elif screen.focused is not None and screen.focused.allow_maximize:
            yield SystemCommand(
                "Maximise the focused widget", "Fill the screen with it", screen.action_maximize
            )
        yield SystemCommand(
            "Quit mltui", "Leave; every process mltui started is stopped (key q)", self.action_quit
        )

    def action_help(self) -> None:
        """Show the help screen."""
        # The screens are imported when first shown: the help's Markdown alone costs start-up 50 ms.
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh_interval(self, factor: float) -> None:
        """Multiply the hardware refresh interval, within bounds."""
        interval = min(MAX_REFRESH_S, max(MIN_REFRESH_S, self.refresh_interval * factor))
        self.refresh_interval = interval
        notify(self, f"hardware refresh every {interval:g} s", timeout=2)

    # ------------------------------------------------------------------------- check

    def action_recheck(self) -> None:
        """Probe every library again."""
        self._run_check()

    @work(exclusive=True, group="check", exit_on_error=False)
    async def _run_check(self) -> None:
        """Show the cached check at once, then re-check in the background and show that."""
        target = self.target
        clock = self.services.clock
        state = CheckState(target=target, running=True, expected=len(LIBRARIES))
        try:
            cached = await asyncio.to_thread(self.services.load_check, target)
        except Exception as exc:  # a broken cache only costs the head start
            notify(self, f"ignoring the check cache: {exc}", severity="warning")
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
            await asyncio.wait_for(self._hardware_drawn.wait(), CHECK_WAITS_FOR_HARDWARE_S)
        await self._refreshed()
        try:
            result = await self.services.run_check(target, on_library=self._library_probed)
        except Exception as exc:  # shown beside the matrix; the app goes on
            self.check_state = replace(self.check_state or state, running=False, error=str(exc))
            return
        self.check_state = CheckState(target=target, result=result, age_s=0.0, loaded_at=clock())

    class LibraryProbed(Message):
        """One library's report arrived during a check."""

        def __init__(self, report: LibraryReport) -> None:
            super().__init__()
            self.report = report

    def _library_probed(self, report: LibraryReport) -> None:
        """One library's report arrived during a check: called from any thread, so it is posted
        (post_message is thread-safe) and handled on the app's own."""
        self.post_message(self.LibraryProbed(report))

    def on_mltui_app_library_probed(self, event: LibraryProbed) -> None:
        """Show a library's report in the check under way (not in one that has ended)."""
        if self.check_state is not None and self.check_state.running:
            self.check_state = self.check_state.with_partial(event.report)

    def watch_check_state(self, state: CheckState | None) -> None:
        """Mark the first frame with every library's result (the panes follow on their own)."""
        if state is not None and state.result is not None:
            mark(self, "libraries")

    def on_perf_pane_measured(self, event: PerfPane.Measured) -> None:
        """A perf run ended: the check carries it (the Knowledge comparison shows its figures)."""
        state = self.check_state
        if state is not None and state.result is not None and state.target == self.target:
            self.check_state = replace(state, result=replace(state.result, perf=event.report))

    def on_hardware_pane_first_drawn(self, _event: HardwarePane.FirstDrawn) -> None:
        """The machine's first reading is on screen: the re-check may start."""
        self._hardware_drawn.set()

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
        from tui.widgets.run_pane import RunPane

        self.show_pane(RUN_PANE)
        self.tell_pane(RUN_PANE, RunPane.RunLibrarySample(library))

    def run_sample(self, name: str) -> None:
        """Switch to the Run pane and run a sample by name (once the samples are listed)."""
        self.run_samples([name])

    def run_samples(self, names: Sequence[str] | None) -> None:
        """Switch to the Run pane and run these samples in turn (None: every sample)."""
        from tui.widgets.run_pane import RunPane

        self.show_pane(RUN_PANE)
        self.tell_pane(RUN_PANE, RunPane.RunSamples(None if names is None else list(names)))

    def open_page(self, library: str, anchor: str | None = None) -> None:
        """Switch to the Knowledge pane and open a page (at a heading, when given)."""
        from tui.widgets.knowledge_pane import KnowledgePane

        self.show_pane(KNOWLEDGE_PANE)
        self.tell_pane(KNOWLEDGE_PANE, KnowledgePane.OpenPage(library, anchor))

    def show_knowledge_view(self, view: KnowledgeView) -> None:
        """Switch to the Knowledge pane's comparison, chooser or search."""
        from tui.widgets.knowledge_pane import KnowledgePane

        self.show_pane(KNOWLEDGE_PANE)
        self.tell_pane(KNOWLEDGE_PANE, KnowledgePane.ShowView(view))

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
        notify(
            self, f"now using {inert_line(target.executable)} (Python {inert_line(target.version)})"
        )
        self._run_check()

    def watch_target(self, target: TargetPython) -> None:
        """Name the target under the title."""
        self.sub_title = self._target_words()

    @work(thread=True, exclusive=True, group="resolve-target", exit_on_error=False)
    def switch_target_path(self, path: str) -> None:
        """Resolve a path to a Python (it runs it, so in a worker) and switch to it."""
        from probes.target import TargetError

        try:
            target = self.services.resolve_target(path)
        except TargetError as exc:
            self.call_from_thread(notify, self, exc, title="not usable", severity="error")
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
        elif not too_small:
            # The message may not be on top (a dialog opened over it before dialogs were
            # refused there): close it and whatever lies above it, back to the dashboard.
            stack = self.screen_stack
            found = [i for i, screen in enumerate(stack) if isinstance(screen, TooSmallScreen)]
            for _ in range(len(stack) - found[0] if found else 0):
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
