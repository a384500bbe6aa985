"""Pilot tests of the dashboard as a whole: panes, help, palette, interpreter, terminal habits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from textual.widgets import TabbedContent

from probes.model import CheckResult, TargetPython
from tests.support import canned_check, fixed_target, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.screens.help import HelpScreen
from tui.screens.interpreter import InterpreterScreen
from tui.screens.too_small import TooSmallScreen
from tui.widgets.hardware_pane import HardwarePane

ROOT = Path(__file__).resolve().parent.parent


def make_app(**kwargs: Any) -> MltuiApp:
    """A dashboard over deterministic services; keyword arguments go to make_services."""
    return MltuiApp(target=fixed_target(), services=make_services(**kwargs), refresh=3600)


async def test_number_keys_switch_panes_and_hardware_is_first() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.active_pane == "hardware"
        for key, pane in (("2", "run"), ("3", "knowledge"), ("4", "fleet"), ("1", "hardware")):
            await pilot.press(key)
            await wait_for(pilot, lambda p=pane: app.active_pane == p)
            assert app.query_one("#panes", TabbedContent).active == pane
        assert "1 Hardware" in screen_text(app)


async def test_question_mark_opens_help_and_escape_closes_it() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Everywhere" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_footer_shows_the_pane_keys_whole_at_80_columns() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        tabs = screen_text(app).splitlines()[1]
        for words in ("1 Hardware", "2 Run", "3 Knowledge", "5 Perf"):  # pane keys on the tabs
            assert words in tabs
        expected = {
            "1": ("l Libraries", "? Help", "i Python", "q Quit"),
            "2": ("r Run", "a Run all", "c Cancel", "? Help", "i Python", "q Quit"),
            "3": ("/ Search", "? Help", "i Python", "q Quit"),
            "5": ("r Run", "c Cancel", "? Help", "i Python", "q Quit"),
        }
        for key, keys in expected.items():
            await pilot.press(key)

            def footer() -> str:
                return screen_text(app).splitlines()[-1]

            # Each whole: nothing is cut off at 80 columns.
            await wait_for(pilot, lambda k=keys: all(words in footer() for words in k), timeout=10)


async def test_terminal_too_small_says_so_and_recovers() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.resize_terminal(50, 15)
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        assert "terminal too small (need 60x20, have 50x15)" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not isinstance(app.screen, TooSmallScreen)
        assert "1 Hardware" in screen_text(app)


async def test_switching_interpreter_rechecks_and_a_bad_path_is_a_notification(
    tmp_path: Path,
) -> None:
    checked: list[str] = []

    async def run_check(target: TargetPython, **_: Any) -> CheckResult:
        checked.append(target.executable)
        return canned_check(target)

    app = make_app(run_check=run_check, discover_environments=lambda: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(checked) == 1)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InterpreterScreen))
        not_python = tmp_path / "not-python"
        not_python.write_text("")
        await pilot.click("#interpreter-path")
        await pilot.press(*str(not_python), "enter")
        await wait_for(
            pilot, lambda: any("not executable" in n.message for n in app._notifications)
        )
        assert isinstance(app.screen, InterpreterScreen)

        app.screen.query_one("#interpreter-path").value = ""  # type: ignore[attr-defined]
        other = os.path.realpath(sys.executable)
        await pilot.press(*other, "enter")
        await wait_for(pilot, lambda: len(checked) == 2)
        assert not isinstance(app.screen, InterpreterScreen)
        assert app.target.executable == other
        assert checked[-1] == other
        assert other in app.sub_title


async def choose_in_palette(pilot: Any, words: str, *, expect: str) -> None:
    """Open the command palette, type `words`, wait for `expect` to be the first hit, choose it."""
    from textual.command import CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*words)

    def first_hit() -> str:
        options = app.screen.query_one(CommandList).options
        return str(options[0].prompt) if options else ""

    await wait_for(pilot, lambda: expect in first_hit(), timeout=10)
    await pilot.press("enter")


async def test_command_palette_reaches_a_pane() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await choose_in_palette(pilot, "Go to Run", expect="Go to Run")
        await wait_for(pilot, lambda: app.active_pane == "run")


async def test_ascii_mode_draws_no_box_or_block_characters() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600, ascii=True)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: pane.readings_drawn >= 1)
        await pilot.pause()  # the frame that shows the reading
        body = screen_text(app)
        assert "GPU 0" in body
        for glyph in "█░▁▂▃▄▅▆▇╭╮╰╯│─":
            assert glyph not in body, glyph


def colours_of(app: MltuiApp, text: str) -> set[str]:
    """The foreground colours ('#rrggbb') the screen draws `text` in, wherever it shows."""
    colours = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            if text in segment.text and style is not None and style.color is not None:
                colours.add(style.color.get_truecolor().hex)
    return colours


async def test_a_theme_change_recolours_mltuis_own_styles() -> None:
    """Statuses and severities are drawn in the theme's colours, and follow a change of theme."""
    app = make_app()
    async with app.run_test(size=(120, 50)) as pilot:
        hardware = app.query_one(HardwarePane)
        await wait_for(pilot, lambda: app.check_state and app.check_state.result is not None)
        await wait_for(pilot, lambda: colours_of(app, "CPU-only"))
        for theme in ("nord", "gruvbox", "textual-light"):
            app.theme = theme
            await pilot.pause()
            variables = app.get_css_variables()
            error, success = variables["error"][:7].lower(), variables["success"][:7].lower()
            # The findings (a Static) and the libraries matrix (a DataTable) both follow.
            await wait_for(pilot, lambda e=error: colours_of(app, "  error") == {e})
            assert colours_of(app, "2.13.0+cpu") != {error}
            assert success in colours_of(app, "PyTorch"), theme  # an ok library's name
            assert colours_of(app, "no problems") == set()
        assert hardware.readings_drawn >= 1


def test_the_app_never_imports_an_ml_library() -> None:
    """Every pane exercised in a fresh interpreter; then none of the ML libraries is loaded."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from tests.support import make_services, fixed_target, wait_for
        from tui.app import MltuiApp
        from tui.widgets.hardware_pane import HardwarePane
        from tui.widgets.run_pane import RunPane
        from tui.widgets.knowledge_pane import KnowledgePane

        async def main():
            app = MltuiApp(target=fixed_target(), services=make_services(), refresh=0.3)
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: app.query_one(HardwarePane).readings_drawn >= 2)
                await pilot.press("l", "enter")  # a library's whole probe result
                await wait_for(pilot, lambda: type(app.screen).__name__ == "LibraryDetailScreen")
                await pilot.press("escape", "2")
                run = app.query_one(RunPane)
                await wait_for(pilot, lambda: run.samples)
                await pilot.press("3")
                knowledge = app.query_one(KnowledgePane)
                await wait_for(pilot, lambda: knowledge.pages)
                knowledge.open_page("torch")
                await wait_for(pilot, lambda: knowledge.open_library == "torch")
                knowledge.show_view("chooser")
                await pilot.press("ctrl+p")
                from textual.command import CommandList
                await wait_for(pilot, lambda: app.screen.query(CommandList)
                               and app.screen.query_one(CommandList).option_count > 5)
        asyncio.run(main())
        heavy = ("torch", "tensorflow", "theano", "pytensor", "caffe", "cv2", "sklearn", "jax")
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), done.stdout


def test_the_dashboard_without_a_terminal_is_one_line_and_exit_2() -> None:
    mltui = Path(sys.executable).parent / "mltui"
    done = subprocess.run(
        [str(mltui)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mltui: the dashboard needs a terminal; for a report use: mltui check"
    )


def test_ascii_is_chosen_for_the_linux_console_and_non_utf8_locales() -> None:
    from tui.terminal import wants_ascii

    assert wants_ascii(True, {"TERM": "xterm-256color", "LANG": "C.UTF-8"})
    assert wants_ascii(False, {"TERM": "linux", "LANG": "C.UTF-8"})
    assert wants_ascii(False, {"TERM": "xterm", "LANG": "C"})
    assert not wants_ascii(False, {"TERM": "xterm-256color", "LANG": "en_US.UTF-8"})


async def test_command_palette_searches_the_text_of_the_pages() -> None:
    from textual.command import CommandList, CommandPalette

    from tui.widgets.knowledge_pane import KnowledgePane

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        # A phrase from the body of the Caffe page, in no page title or command name.
        await pilot.press(*"60 million")
        await wait_for(
            pilot,
            lambda: any(
                "Caffe" in str(option.prompt)
                for option in app.screen.query_one(CommandList).options
            ),
            timeout=10,
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.active_pane == "knowledge")
        knowledge = app.query_one(KnowledgePane)
        await wait_for(pilot, lambda: knowledge.open_library == "caffe", timeout=10)
