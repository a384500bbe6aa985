"""The command palette's providers: what can fail is an entry that says so; a bug is not hidden.

A provider that swallowed every exception went silently empty (issue 21, item 6): the palette
then offered no sample, page or environment and said nothing. Each now catches only what its
source can raise (an unreadable disk, a broken content file) and lists why instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from content.page import ContentError
from tests.support import fixed_target, make_services, wait_for
from tests.test_tui_app import choose_in_palette
from tui.app import MltuiApp
from tui.commands import InterpreterCommands, PageCommands, SampleCommands, _ListProvider


def raising(error: BaseException) -> Callable[..., Any]:
    """A service or loader that fails with `error`."""

    def fail(*_: object) -> Any:
        raise error

    return fail


async def entries_of(provider: type[_ListProvider], **services: Any) -> list[tuple[str, str]]:
    """The (title, help) entries `provider` makes in an app with these services."""
    app = MltuiApp(target=fixed_target(), services=make_services(**services), refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        # Started fully first: an app torn down while its first pane mounts is another matter.
        await wait_for(pilot, lambda: app.check_state is not None and not app.check_state.running)
        made = await provider(app.screen).make_entries()
    return [(title, help_text) for title, _, help_text in made]


async def test_samples_that_cannot_be_listed_are_an_entry_with_the_reason() -> None:
    entries = await entries_of(SampleCommands, list_samples=raising(OSError("disk is gone")))
    assert ("Samples cannot be listed", "disk is gone") in entries
    assert any(title == "Run all samples" for title, _ in entries)


async def test_environments_that_cannot_be_listed_are_an_entry_and_the_picker_stays() -> None:
    failing = raising(PermissionError(13, "Permission denied"))
    entries = await entries_of(InterpreterCommands, discover_environments=failing)
    titles = [title for title, _ in entries]
    assert "Switch interpreter..." in titles
    assert "Environments cannot be listed" in titles
    assert any("Permission denied" in help_text for _, help_text in entries)


@pytest.mark.parametrize(
    "error",
    [ContentError("content/pages/torch.md", 3, "front matter is not closed"), OSError(5, "EIO")],
    ids=["broken-page", "unreadable"],
)
async def test_pages_that_cannot_be_read_are_an_entry_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    import content.knowledge

    monkeypatch.setattr(content.knowledge, "load_pages", raising(error))
    entries = await entries_of(PageCommands)
    assert ("Pages cannot be read", str(error)) in entries
    assert any(title == "Search the pages" for title, _ in entries)


@pytest.mark.parametrize(
    ("provider", "service"),
    [(SampleCommands, "list_samples"), (InterpreterCommands, "discover_environments")],
)
@pytest.mark.parametrize("bug", [ZeroDivisionError("a bug"), AttributeError("no such thing")])
async def test_a_bug_behind_a_provider_surfaces(
    provider: type[_ListProvider], service: str, bug: Exception
) -> None:
    with pytest.raises(type(bug)):
        await entries_of(provider, **{service: raising(bug)})


async def test_a_bug_behind_the_pages_provider_surfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    import content.knowledge

    monkeypatch.setattr(content.knowledge, "load_pages", raising(KeyError("title")))
    with pytest.raises(KeyError):
        await entries_of(PageCommands)


async def test_the_reason_entry_is_in_the_palette_and_leads_to_the_pane() -> None:
    services = make_services(list_samples=raising(OSError("disk is gone")))
    app = MltuiApp(target=fixed_target(), services=services, refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await choose_in_palette(pilot, "samples cannot", expect="Samples cannot be listed")
        await wait_for(pilot, lambda: app.active_pane == "run")
