"""Export goes to a documented place, never the working directory (issue 19.5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import fixed_target, make_services, wait_for
from tui.export import default_export_folder


def test_the_export_folder_by_its_rule(tmp_path: Path) -> None:
    assert default_export_folder({"MLTUI_EXPORT_DIR": str(tmp_path)}) == tmp_path
    data = tmp_path / "data"
    assert default_export_folder({"XDG_DATA_HOME": str(data)}) == data / "mltui" / "exports"
    # A relative XDG_DATA_HOME is ignored, as the XDG rules say.
    relative = default_export_folder({"XDG_DATA_HOME": "rel", "HOME": str(tmp_path)})
    assert relative.is_absolute() and relative.parts[-2:] == ("mltui", "exports")


async def test_e_leaves_the_working_directory_alone_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.app import MltuiApp

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("MLTUI_EXPORT_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press("e")
        await wait_for(pilot, lambda: any(n.title == "exported" for n in app._notifications))
        note = next(n for n in app._notifications if n.title == "exported")
    folder = tmp_path / "data" / "mltui" / "exports"
    assert list(checkout.iterdir()) == []
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".md", ".svg"]
    assert str(folder) in note.message
