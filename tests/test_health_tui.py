"""The dashboard's health bits: the Fleet pane saves a baseline (`b`), the Hardware pane shows this
node against it (its status line), under Textual's Pilot with recorded node reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Static

from probes.fleet.model import NodeResult
from probes.health.baseline import baseline_from_nodes
from probes.health.model import load_baseline
from probes.model import to_json
from tests.fleet_reports import local_check_data, other_driver, recorded_node
from tests.support import canned_check, fixed_target, make_services, wait_for
from tests.test_tui_fleet import FleetHost
from tui.app import MltuiApp
from tui.baseline_view import BaselineView
from tui.widgets.fleet_pane import FleetPane
from tui.widgets.hardware_pane import HardwarePane


def status_of(pane: FleetPane) -> str:
    return str(pane.query_one("#fleet-status", Static).render())


async def test_fleet_pane_saves_the_majority_as_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "baseline.json"
    monkeypatch.setenv("MLTUI_BASELINE", str(path))
    base = local_check_data()
    rows = [recorded_node(base, f"node{k}") for k in (1, 2, 3)]
    rows.append(recorded_node(base, "node4", other_driver))
    rows.append(NodeResult("node5", "unreachable", "ssh: connect refused"))
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.table.focus()
        await pilot.press("b")  # nothing to save yet
        assert not path.exists() and "once a fleet run has finished" in status_of(pane)
        for row in rows:
            pane.add_node(row)
        await pilot.press("b")
        await wait_for(pilot, lambda: "baseline of 4 nodes saved" in status_of(pane))
    baseline = load_baseline(str(path))
    driver = next(f for f in baseline.facts if f.kind == "driver")
    assert driver.value != "550.54.15" and (driver.nodes, driver.compared) == (3, 4)


def test_baseline_view_follows_the_file_and_the_check(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    view = BaselineView(lambda: path)
    check = canned_check(fixed_target())
    assert view.words(check) is None  # no baseline: nothing said
    baseline = baseline_from_nodes([NodeResult("a", "ok", check=check)])
    path.write_text(to_json(baseline))
    assert str(view.words(check)) == "baseline: this node matches (1 nodes)"
    for fact in baseline.facts:
        if fact.library == "sklearn" and fact.kind == "library_version":
            fact.value = "0.1\x1b[2J"
    path.write_text(to_json(baseline) + " ")  # another size: seen as changed
    words = str(view.words(check))
    assert words.startswith("baseline: scikit-learn version 1.9.0 where the baseline has 0.1")
    assert "\x1b" not in words
    path.write_text("{")
    assert str(view.words(check)).startswith("baseline: baseline ")  # unreadable: says why
    os.unlink(path)
    assert view.words(check) is None


@pytest.mark.parametrize("differs", [False, True])
async def test_hardware_pane_shows_this_node_against_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, differs: bool
) -> None:
    path = tmp_path / "baseline.json"
    monkeypatch.setenv("MLTUI_BASELINE", str(path))
    check = canned_check(fixed_target())
    baseline = baseline_from_nodes([NodeResult("a", "ok", check=check)])
    if differs:
        for fact in baseline.facts:
            if fact.library == "torch" and fact.kind == "library_version":
                fact.value = "2.12.0"
    path.write_text(to_json(baseline))
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    want = (
        "baseline: PyTorch version 2.13.0+cpu where the baseline has 2.12.0"
        if differs
        else "baseline: this node matches (1 nodes)"
    )
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.query_one(HardwarePane)
        status = pane.query_one("#check-status", Static)
        await wait_for(pilot, lambda: want in str(status.render()))
