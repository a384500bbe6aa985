"""Pilot tests of the dashboard's readability fixes: the interpreter picker says which Pythons
cannot be used and why before they are chosen; help scrolls by keyboard; the device selector's
drop-down stays inside its panel at 80x24; every focusable widget shows focus in shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList
from textual.css.query import NoMatches
from textual.widgets import Input, OptionList, Select
from textual.widgets.input import Selection

from probes.envs import PythonEnvironment
from tests.support import fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.panes import PANES
from tui.screens.help import HelpScreen
from tui.screens.interpreter import InterpreterScreen, unusable_reason
from tui.screens.too_small import TooSmallScreen
from tui.widgets.pane import Pane


def make_app(**kwargs: Any) -> MltuiApp:
    """A dashboard over deterministic services; keyword arguments go to make_services."""
    return MltuiApp(target=fixed_target(), services=make_services(**kwargs), refresh=3600)


def env(python: str, version: str | None, name: str = "env") -> PythonEnvironment:
    """A discovered environment as probes.envs reports one."""
    return PythonEnvironment(
        python=python, kind="venv", name=name, version=version, prefix=str(Path(python).parent)
    )


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("3.11.9", None),
        ("3.8.18", None),
        ("3.13", None),
        ("3.7.16", "Python 3.7.16 is too old"),
        ("2.7.18", "Python 2.7.18 is too old"),
        (None, "version could not be read"),
        ("banana", "not a Python version mltui knows"),
    ],
)
def test_unusable_reason_by_version(version: str | None, reason: str | None) -> None:
    said = unusable_reason(env(sys.executable, version))
    assert said is None if reason is None else (said is not None and reason in said)


def test_unusable_reason_without_an_executable(tmp_path: Path) -> None:
    assert "no Python executable" in str(unusable_reason(env(str(tmp_path / "nope"), "3.11")))
    plain = tmp_path / "python"
    plain.write_text("")  # there, but not executable
    assert "no Python executable" in str(unusable_reason(env(str(plain), "3.11")))


async def test_the_picker_marks_unusable_interpreters_before_they_are_chosen(
    tmp_path: Path,
) -> None:
    found = [
        env(sys.executable, "3.11.9", "good"),
        env(sys.executable, "2.7.18", "ancient"),
        env(str(tmp_path / "gone" / "python"), "3.12.1", "gone"),
    ]
    app = make_app(discover_environments=lambda: found)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InterpreterScreen))
        options = app.screen.query_one("#environments", OptionList)
        await wait_for(pilot, lambda: options.option_count == 3)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(3)]
        disabled = [options.get_option_at_index(i).disabled for i in range(3)]
        assert disabled == [False, True, True]
        assert "cannot use" not in labels[0]
        assert "cannot use: Python 2.7.18 is too old" in labels[1]
        assert "cannot use: no Python executable" in labels[2]


async def test_help_scrolls_with_the_keyboard() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        scroll = app.screen.query_one("#help-scroll")
        await wait_for(pilot, lambda: scroll.max_scroll_y > 10)
        for key, moves in (
            ("down", "down"),
            ("j", "down"),
            ("pagedown", "down"),
            ("space", "down"),
            ("up", "up"),
            ("k", "up"),
            ("pageup", "up"),
        ):
            before = scroll.scroll_y
            await pilot.press(key)

            def moved(before: float = before, moves: str = moves) -> bool:
                return scroll.scroll_y > before if moves == "down" else scroll.scroll_y < before

            await wait_for(pilot, moved, timeout=5)
        await pilot.press("end")
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, timeout=5)
        await pilot.press("home")
        await wait_for(pilot, lambda: scroll.scroll_y == 0, timeout=5)


async def test_device_dropdown_stays_inside_its_panel_at_80x24() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("2")
        select = app.query_one("#device-select", Select)
        await wait_for(pilot, lambda: len(select._options) == 3)
        select.focus()
        await pilot.press("enter")
        overlay = app.screen.query_one("SelectOverlay")
        await wait_for(pilot, lambda: overlay.region.height > 0)
        side = app.query_one("#run-side")
        inside = side.region.shrink(side.styles.border.spacing)
        assert inside.contains_region(overlay.region), (overlay.region, inside)


def _region_text(app: MltuiApp, widget: Any) -> str:
    """The characters on screen in a widget's region (its border included)."""
    lines = screen_text(app).splitlines()
    region = widget.region
    return "\n".join(line[region.x : region.right] for line in lines[region.y : region.bottom])


def _shown_with_keys(app: MltuiApp, pane_id: str) -> bool:
    """Whether the pane is in front and its main widget has the keys."""
    if app.active_pane != pane_id or app.focused is None:
        return False
    try:
        return app.focused is app.query_one(f"#{pane_id}").query_one(Pane).main_widget()
    except NoMatches:  # not built yet
        return False


@pytest.mark.parametrize("pane", ["1", "2", "3", "4", "5"])
async def test_every_focusable_widget_shows_focus_in_shape(pane: str) -> None:
    """With focus, a widget's box or bar changes shape (not only colour: NO_COLOR keeps it)."""
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600, ascii=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press(pane)
        await wait_for(pilot, lambda: _shown_with_keys(app, PANES[int(pane) - 1].id))
        chain = [w for w in app.screen.focus_chain if type(w).__name__ != "ContentTabs"]
        assert chain  # at least one focusable widget besides the tabs
        tabs = app.query_one("ContentTabs")
        for widget in chain:
            tabs.focus()
            widget.scroll_visible(animate=False, immediate=True)
            await wait_for(pilot, lambda: app.focused is tabs)
            await pilot.pause()  # the messages that follow are handled and the screen updated
            unfocused = _region_text(app, widget)
            widget.focus()
            await wait_for(pilot, lambda w=widget: app.focused is w)
            await pilot.pause()
            if isinstance(widget, Select):
                current = widget.query_one("SelectCurrent")
                assert current.styles.text_style.reverse, "the focused selector is reversed"
                continue
            assert _region_text(app, widget) != unfocused, f"{widget!r} shows no focus"


# --------------------------------------------------------------------------- app-level keys


@pytest.mark.parametrize("key", ["question_mark", "i", "ctrl+p", "e"])
async def test_no_dialog_opens_over_the_too_small_screen(key: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.resize_terminal(50, 15)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
        await pilot.press(key)
        await pilot.pause(0.2)  # waits-for: a dialog the key might open; none may come
        assert isinstance(app.screen, TooSmallScreen)
        assert len(app.screen_stack) == 2  # the dashboard and the message, nothing above
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not isinstance(app.screen, TooSmallScreen))
        assert "1 Hardware" in screen_text(app)


async def test_a_dialog_under_the_too_small_screen_does_not_trap_the_dashboard() -> None:
    """A dialog opened before the terminal shrank: enlarging brings the dashboard back."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.resize_terminal(50, 15)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen))
        app.push_screen(HelpScreen())  # as an older build let a key open one over it
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.resize_terminal(80, 24)
        await wait_for(
            pilot, lambda: not any(isinstance(s, TooSmallScreen) for s in app.screen_stack)
        )
        assert isinstance(app.screen, HelpScreen)  # the one opened before is still there
        await pilot.press("escape")
        await wait_for(pilot, lambda: "1 Hardware" in screen_text(app))


async def test_ctrl_c_quits_without_a_selection() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.return_code is not None or not app.is_running, timeout=5)


async def test_ctrl_c_copies_a_selection_instead_of_quitting() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.active_pane == "knowledge")
        await pilot.press("slash")
        search = app.query_one("#search-input", Input)
        await wait_for(pilot, lambda: search.has_focus)
        await pilot.press(*"cuda")
        search.selection = Selection(0, 4)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.clipboard == "cuda")
        assert app.is_running


async def test_export_saves_the_check_and_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLTUI_EXPORT_DIR", str(tmp_path))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("e")
        await wait_for(pilot, lambda: any(n.title == "exported" for n in app._notifications))
        note = next(n for n in app._notifications if n.title == "exported")
        files = sorted(tmp_path.iterdir(), key=lambda f: f.suffix)
        assert [f.suffix for f in files] == [".json", ".md", ".svg"]
        for file in files:
            assert str(file) in note.message  # the notification names every file
        data = json.loads(files[0].read_text())
        assert [lib["name"] for lib in data["libraries"]][:2] == ["sklearn", "theano"]
        assert files[1].read_text().startswith("# mltui check")
        assert "<svg" in files[2].read_text()


async def test_export_is_a_palette_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTUI_EXPORT_DIR", str(tmp_path))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("ctrl+p")
        await pilot.press(*"Export the check")
        await wait_for(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(list(tmp_path.iterdir())) == 3)
