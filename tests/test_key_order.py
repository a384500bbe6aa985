"""Keys arrive in bursts (a fast typist, a paste, a busy machine: issue 19.2, "the palette
swallowed the next key"): each key goes where the keys before it have moved the focus, and none
is lost. The keys are posted to the app all at once, as the terminal driver posts them, without
waiting between them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual import events
from textual.command import CommandInput, CommandPalette

from tests.support import fixed_target, make_services, wait_for
from tui.app import MltuiApp


def burst(app: MltuiApp, *keys: str | events.Paste) -> None:
    """Post every key (or paste) at once, as the terminal driver does for typed-ahead input."""
    for key in keys:
        if isinstance(key, events.Paste):
            app.post_message(key)
        else:
            app.post_message(events.Key(key, key if len(key) == 1 else None))


def palette_text(app: MltuiApp) -> str | None:
    """What the palette's search field holds (None: the palette is not open)."""
    if not isinstance(app.screen, CommandPalette):
        return None
    found = app.screen.query(CommandInput)  # the palette may be in front, not yet composed
    return found.first().value if found else None


def screen_name(app: MltuiApp) -> str:
    """The class name of the screen in front."""
    return type(app.screen).__name__


Expect = Callable[[MltuiApp], bool]

VECTORS: list[tuple[str, tuple[str | events.Paste, ...], Expect]] = [
    ("typed after ctrl+p", ("ctrl+p", "t", "o", "r"), lambda app: palette_text(app) == "tor"),
    (
        "pasted after ctrl+p",
        ("ctrl+p", events.Paste("torch")),
        lambda app: palette_text(app) == "torch",
    ),
    (
        "a pane key after the palette closed",
        ("ctrl+p", "escape", "2"),
        lambda app: palette_text(app) is None and app.active_pane == "run",
    ),
    (
        "a pane key just before ctrl+p",
        ("2", "ctrl+p"),
        lambda app: palette_text(app) == "" and app.active_pane == "run",
    ),
    (
        "a pane key before, letters after ctrl+p",
        ("3", "ctrl+p", "r", "u", "n"),
        lambda app: palette_text(app) == "run" and app.active_pane == "knowledge",
    ),
    (
        "the palette opened, typed in, closed, then a pane key",
        ("ctrl+p", "x", "escape", "3"),
        lambda app: palette_text(app) is None and app.active_pane == "knowledge",
    ),
    (
        "help opened and closed, then a pane key",
        ("question_mark", "escape", "2"),
        lambda app: screen_name(app) == "DashboardScreen" and app.active_pane == "run",
    ),
    (
        "the palette twice",
        ("ctrl+p", "escape", "ctrl+p", "a"),
        lambda app: palette_text(app) == "a" and app.active_pane == "hardware",
    ),
    (
        "help, then the palette over it",
        ("question_mark", "ctrl+p", "k"),
        lambda app: palette_text(app) == "k",
    ),
]


@pytest.mark.parametrize(("keys", "expect"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
async def test_keys_in_a_burst_each_go_where_the_ones_before_moved_the_focus(
    keys: tuple[str | events.Paste, ...], expect: Expect
) -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        burst(app, *keys)
        await wait_for(pilot, lambda: expect(app))
        await pilot.pause(0.3)  # waits-for: a key still on its way that would undo the result
        assert expect(app), (palette_text(app), app.active_pane, screen_name(app))


async def test_keys_during_the_start_up_check_are_neither_lost_nor_misrouted() -> None:
    """The same bursts while the check is still under way (it never ends here)."""
    import asyncio

    async def never_ends(*_: object, **__: object) -> object:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = MltuiApp(
        target=fixed_target(), services=make_services(run_check=never_ends), refresh=3600
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.running)
        burst(app, "ctrl+p", "escape", "2", "ctrl+p", "t", "f")
        await wait_for(pilot, lambda: palette_text(app) == "tf" and app.active_pane == "run")
