"""Snapshots of each pane at 80x24 and 160x48, fed a replayed H100 reading so GPU cards show.

Everything that varies is fixed: the system reading, the check, the clock (ages), one reading
only (a long refresh interval keeps the sparklines from growing). Regenerate after a deliberate
change with `pytest tests/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from textual.containers import ScrollableContainer
from textual.widgets import MarkdownViewer

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.model import FleetReport, NodeResult
from probes.model import TargetPython, to_dict
from tests.fleet_reports import one_gpu_fewer, other_driver, recorded_node
from tests.perf_fixtures import canned_report
from tests.support import canned_check, fresh_check_shown, make_services, screen_text, wait_for
from tui.app import MltuiApp
from tui.screens.fleet_node import NodeCheckScreen
from tui.screens.library_detail import LibraryDetailScreen
from tui.widgets.fleet_pane import FleetPane
from tui.widgets.hardware_pane import HardwarePane
from tui.widgets.knowledge_pane import KnowledgePane
from tui.widgets.perf_pane import PerfPane
from tui.widgets.run_pane import RunPane

SIZES = [(80, 24), (160, 48)]


#: Shown in the title bar; nothing runs in it here. A fixed path keeps the snapshots the same in
#: any checkout folder (CI clones the repository elsewhere).
SNAPSHOT_TARGET = TargetPython(
    executable="/opt/envs/ml/bin/python", version="3.11.9", prefix="/opt/envs/ml", is_current=False
)


def make_app() -> MltuiApp:
    """The dashboard over the H100 fixture, a canned check and a frozen clock."""
    return MltuiApp(
        target=SNAPSHOT_TARGET,
        services=make_services(cached=canned_check(SNAPSHOT_TARGET)),
        refresh=3600,
    )


async def settle(pilot: Any) -> None:
    """Wait until the first reading and the check are shown (the Hardware pane's content)."""
    app = pilot.app
    await wait_for(pilot, lambda: app.query_one(HardwarePane).readings_drawn >= 1)
    # The cached check shows first; wait for the fresh one that replaces it.
    await wait_for(pilot, lambda: fresh_check_shown(app))
    await steady(pilot, lambda: _scroll_geometry(app))


def _scroll_geometry(app: MltuiApp) -> tuple[object, ...]:
    scroll = app.query_one("#hw-scroll")
    return (scroll.virtual_size, scroll.scroll_offset, scroll.size)


async def steady(pilot: Any, reading: Any, *, polls: int = 3, timeout: float = 10.0) -> None:
    """Wait until `reading()` gives the same value `polls` times in a row, 0.1 s apart.

    The Hardware pane grows as the fresh check's libraries and findings are laid out; a snapshot
    taken while it grows catches the scrollbar's thumb mid-way.
    """
    last, same, waited = reading(), 0, 0.0
    while same < polls and waited < timeout:
        await pilot.pause(0.1)  # waits-for: the next reading to compare (a poll)
        waited += 0.1
        now = reading()
        same = same + 1 if now == last else 0
        last = now


async def show_pane(pilot: Any, key: str) -> None:
    """Press a pane's key (the Run and Knowledge panes are built then) and wait for its content."""
    app = pilot.app
    await pilot.press(key)
    if key == "2":
        await wait_for(pilot, lambda: app.query_one(RunPane).samples)
    elif key == "3":
        await wait_for(pilot, lambda: app.query_one(KnowledgePane).pages)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hardware_pane(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_pane(snap_compare: Any, size: tuple[int, int]) -> None:
    async def show_run(pilot: Any) -> None:
        await settle(pilot)
        await show_pane(pilot, "2")
        await steady(pilot, lambda: screen_text(pilot.app))

    assert snap_compare(make_app(), terminal_size=size, run_before=show_run)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_knowledge_pane_comparison(snap_compare: Any, size: tuple[int, int]) -> None:
    async def show_knowledge(pilot: Any) -> None:
        await settle(pilot)
        await show_pane(pilot, "3")
        await steady(pilot, lambda: screen_text(pilot.app))

    assert snap_compare(make_app(), terminal_size=size, run_before=show_knowledge)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_knowledge_pane_page(snap_compare: Any, size: tuple[int, int]) -> None:
    async def show_page(pilot: Any) -> None:
        await settle(pilot)
        await show_pane(pilot, "3")
        pilot.app.query_one(KnowledgePane).open_page("torch")
        viewer = pilot.app.query_one("#page-viewer", MarkdownViewer)
        await wait_for(pilot, lambda: viewer.document.children)
        await steady(pilot, lambda: screen_text(pilot.app))

    assert snap_compare(make_app(), terminal_size=size, run_before=show_page)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_perf_pane(snap_compare: Any, size: tuple[int, int]) -> None:
    # A kept run of two H100s (one slow: power brake, clocks down, below its sibling) and a CPU.
    check = replace(canned_check(SNAPSHOT_TARGET), perf=canned_report())
    app = MltuiApp(
        target=SNAPSHOT_TARGET, services=make_services(cached=check, check=check), refresh=3600
    )

    async def show_perf(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("5")
        await wait_for(pilot, lambda: pilot.app.query_one(PerfPane).report is not None)
        await steady(pilot, lambda: pilot.app.query_one("#perf-scroll").virtual_size)

    assert snap_compare(app, terminal_size=size, run_before=show_perf)


def test_library_detail(snap_compare: Any) -> None:
    async def show_detail(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.show_library("torch")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LibraryDetailScreen))
        await steady(
            pilot,
            lambda: [
                (w.virtual_size, w.scroll_offset, w.size)
                for w in pilot.app.screen.query(ScrollableContainer)
            ],
        )

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show_detail)


def test_terminal_too_small(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(50, 15))


def snapshot_fleet() -> FleetReport:
    """A fleet of recorded nodes: the canned check on the H100 readings, two of them changed,
    one drained, one unreachable (all fixed, so the snapshot is the same on any machine)."""
    base = to_dict(canned_check(SNAPSHOT_TARGET))
    rows = [recorded_node(base, f"gpu{k:02d}") for k in (1, 2, 4, 5, 6)]
    rows.insert(2, recorded_node(base, "gpu03", other_driver))
    rows.append(recorded_node(base, "gpu07", one_gpu_fewer))
    rows.append(NodeResult("gpu08", "down", "Slurm says drained: gpu 3 fell off the bus"))
    rows.append(NodeResult("gpu09", "unreachable", "ssh: connect to host gpu09: No route to host"))
    fleet = FleetAggregate("slurm", "slurm: partition gpu")
    fleet.extend(rows)
    return fleet.report()


async def show_fleet(pilot: Any) -> FleetPane:
    """Show the Fleet pane with the recorded fleet loaded and the keys in its table."""
    await settle(pilot)
    await pilot.press("4")
    await wait_for(pilot, lambda: pilot.app.query(FleetPane))
    pane = pilot.app.query_one(FleetPane)
    pane.show_report(snapshot_fleet())
    pane.table.focus()
    await steady(pilot, lambda: (pane.table.virtual_size, pane.table.row_count))
    return pane


def test_fleet_pane(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show_fleet)


def test_fleet_node_check(snap_compare: Any) -> None:
    async def show_node(pilot: Any) -> None:
        pane = await show_fleet(pilot)
        pane.table.move_cursor(row=pane.table.get_row_index("gpu07"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, NodeCheckScreen))
        await steady(pilot, lambda: _scroll_geometry(pilot.app))

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=show_node)
