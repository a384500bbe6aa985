"""The pane registry: a pane declared once gets its tab, key, palette entry, lazy build, focus."""

from __future__ import annotations

import pytest
from textual.widget import Widget
from textual.widgets import Static, TabbedContent

from tests.support import fixed_target, make_services, screen_text, wait_for
from tests.test_tui_app import choose_in_palette
from tui.app import MltuiApp
from tui.panes import PANES, PaneContext, PaneSpec
from tui.state import CheckState
from tui.widgets.pane import Pane


class NotesPane(Pane):
    """A trivial pane that follows the app's check the way the real panes do."""

    DEFAULT_CSS = "NotesPane { height: 1fr; } #notes-body { height: 3; }"

    def __init__(self, context: PaneContext) -> None:
        super().__init__(id="notes-pane")
        self.built_for = context.target
        self.states: list[CheckState | None] = []

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("nothing noted yet", id="notes-body")

    def main_widget(self) -> Widget:
        return self.query_one("#notes-body")

    def on_mount(self) -> None:
        self.query_one("#notes-body").can_focus = True
        self.watch(self.app, "check_state", self._follow_check)

    def _follow_check(self, state: CheckState | None) -> None:
        self.states.append(state)


#: The first key no real pane takes, so the test keeps working as panes are added.
NOTES_KEY = str(len(PANES) + 1)


def notes_spec(built: list[NotesPane]) -> PaneSpec:
    def build(context: PaneContext) -> Pane:
        pane = NotesPane(context)
        built.append(pane)
        return pane

    return PaneSpec("notes", NOTES_KEY, "Notes", "what a test wrote down", build)


def make_app_with_notes(built: list[NotesPane]) -> MltuiApp:
    return MltuiApp(
        target=fixed_target(),
        services=make_services(),
        refresh=3600,
        panes=(*PANES, notes_spec(built)),
    )


async def test_a_registered_pane_gets_a_tab_and_is_built_only_when_its_key_is_pressed() -> None:
    built: list[NotesPane] = []
    app = make_app_with_notes(built)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.check_state and app.check_state.result is not None)
        tabs = screen_text(app).splitlines()[1]
        assert f"{NOTES_KEY} Notes" in tabs
        assert built == []  # lazy: nothing built before it is needed
        await pilot.press(NOTES_KEY)
        await wait_for(pilot, lambda: app.active_pane == "notes")
        assert len(built) == 1
        pane = built[0]
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "notes-body")
        assert "nothing noted yet" in screen_text(app)
        # Built late, it was handed the app's current check at once, and follows the next one.
        assert pane.states and pane.states[-1] is app.check_state
        app.action_recheck()
        await wait_for(pilot, lambda: len(pane.states) >= 3)
        assert pane.built_for == app.target
        await pilot.press("1", NOTES_KEY)
        await wait_for(pilot, lambda: app.active_pane == "notes")
        assert len(built) == 1  # built once


async def test_a_registered_pane_is_in_the_command_palette() -> None:
    built: list[NotesPane] = []
    app = make_app_with_notes(built)
    async with app.run_test(size=(100, 30)) as pilot:
        await choose_in_palette(pilot, "Go to Notes", expect="Go to Notes")
        await wait_for(pilot, lambda: app.active_pane == "notes")
        assert len(built) == 1


async def test_the_registry_is_the_one_place_panes_are_named() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        # From the first frame, the first pane's main widget has the keys (the screen's
        # AUTO_FOCUS selector and the pane's main_widget() agree).
        first = app.query_one(f"#{PANES[0].id}").query_one(Pane)
        assert app.focused is first.main_widget()
        tabs = screen_text(app).splitlines()[1]
        for spec in PANES:
            assert f"{spec.key} {spec.title}" in tabs
            await pilot.press(spec.key)
            await wait_for(pilot, lambda s=spec: app.active_pane == s.id)
            await wait_for(
                pilot,
                lambda s=spec: (
                    app.focused is not None
                    and app.focused is app.query_one(f"#{s.id}").query_one(Pane).main_widget()
                ),
            )


async def test_a_pane_shown_again_focuses_what_it_shows_now() -> None:
    """After a Fleet filter, 1 then 4 focuses the filtered table on show, not the hidden table
    of every node (a fixed selector named that one whatever the filter)."""
    from probes.fleet.model import NodeResult
    from tui.widgets.fleet_pane import FleetPane

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.active_pane == "fleet")
        fleet = app.query_one(FleetPane)
        await wait_for(pilot, lambda: app.focused is fleet.all_table)
        fleet.add_node(NodeResult("node7", "unreachable", "ssh: Connection refused"))
        await pilot.press("f")
        await wait_for(pilot, lambda: fleet.filter != "all")
        await wait_for(pilot, lambda: app.focused is fleet.filtered_table)
        await pilot.press("1")
        await wait_for(pilot, lambda: app.active_pane == "hardware")
        await pilot.press("4")
        await wait_for(pilot, lambda: app.active_pane == "fleet")
        await wait_for(pilot, lambda: app.focused is fleet.filtered_table)
        # The focused table is the one on show; the other is hidden.
        assert fleet.filtered_table.display and not fleet.all_table.display


def test_a_registry_with_two_panes_on_one_key_or_id_is_refused() -> None:
    same_key = PaneSpec("other", "1", "Other", "a pane on the Hardware key", NotesPane)
    same_id = PaneSpec("run", "9", "Run again", "a second pane called run", NotesPane)
    for extra, field in ((same_key, "key '1'"), (same_id, "id 'run'")):
        with pytest.raises(ValueError, match=field):
            MltuiApp(target=fixed_target(), services=make_services(), panes=(*PANES, extra))


async def test_the_last_pane_asked_for_wins_while_panes_are_being_built() -> None:
    """Keys pressed faster than the lazy panes are built: the last one asked for is in front."""
    for keys, last in ((("2", "3"), "knowledge"), (("3", "2", "1"), "hardware"), (("2",), "run")):
        app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press(*keys)
            await wait_for(pilot, lambda a=app: all(a._is_mounted_pane(p) for p in a._pane_widgets))
            await wait_for(pilot, lambda a=app, w=last: a.active_pane == w)
            await wait_for(
                pilot, lambda a=app, w=last: a.query_one("#panes", TabbedContent).active == w
            )
            # Steady: a late TabActivated of an earlier key does not take the front back.
            await pilot.pause()
            assert app.active_pane == last, keys
            assert app.query_one("#panes", TabbedContent).active == last, keys


async def test_a_late_activation_of_the_previous_pane_does_not_win() -> None:
    """The app brings the Run pane to the front; before Textual reports that, Knowledge is asked
    for. The late report of Run must not make the app forget that Knowledge is wanted."""
    import asyncio

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_show_pane("run")
        deadline = asyncio.get_running_loop().time() + 20
        while app.active_pane != "run":  # every turn of the loop, not after a pause
            assert asyncio.get_running_loop().time() < deadline, "the Run pane never came"
            await asyncio.sleep(0)
        app.action_show_pane("knowledge")
        await wait_for(pilot, lambda: app.active_pane == "knowledge")
        await wait_for(pilot, lambda: app.query_one("#panes", TabbedContent).active == "knowledge")
