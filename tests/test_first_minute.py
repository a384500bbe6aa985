"""The first minute in the dashboard (issue 19.1, 19.2): one plain sentence first, progress in
numbers while the check runs, and a first frame of few widgets."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from probes.catalog import LIBRARIES
from probes.model import CheckResult, DeviceResult, LibraryReport, SystemInfo, TargetPython
from probes.system import read_pci_bus
from tests.fake_nvml import FakeNvml
from tests.support import (
    fixed_system,
    fixed_target,
    make_services,
    screen_text,
    wait_for,
)
from tests.test_tui_hardware import nvml_from
from tui.app import MltuiApp
from tui.widgets.hardware_pane import HardwarePane

SYSFS = Path(__file__).resolve().parent / "fixtures" / "sysfs"


def system_on(bus: str) -> SystemInfo:
    """The fixed machine reading with a recorded PCI bus."""
    return replace(fixed_system(), pci=read_pci_bus(str(SYSFS / bus)))


def cpu_report(name: str) -> LibraryReport:
    """A library that computed on the CPU."""
    return LibraryReport(
        name=name, status="ok", devices=[DeviceResult(kind="cpu", computation_ok=True)]
    )


def headline_of(app: MltuiApp) -> str:
    """The Hardware pane's first line as shown."""
    from textual.widgets import Static

    return str(app.query_one("#headline", Static).render())


@pytest.mark.parametrize(
    ("bus", "first_words"),
    [
        ("vm_no_display", "No NVIDIA GPU in this machine (PCI: 6 devices, none NVIDIA)."),
        (
            "vm_virtio_gpu",
            "No NVIDIA GPU in this machine (PCI: 4 devices, none NVIDIA; display: virtio).",
        ),
        ("gpus_no_driver", "2 NVIDIA GPUs on the PCI bus, but"),
        ("gpu_nouveau", "1 NVIDIA GPU on the PCI bus, but the nouveau driver holds it"),
    ],
)
async def test_the_hardware_pane_opens_with_one_plain_sentence(bus: str, first_words: str) -> None:
    app = MltuiApp(
        target=fixed_target(),
        services=make_services(
            nvml=nvml_from(FakeNvml.no_driver()), read_system=lambda: system_on(bus)
        ),
        refresh=3600,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        # "Reading the GPUs..." until NVML answers; then the sentence.
        await wait_for(pilot, lambda: headline_of(app).startswith(first_words))
        # The top row of the pane, under the tabs: nothing above the sentence.
        rows = screen_text(app).splitlines()
        assert rows[3].strip().startswith(first_words.split()[0])


async def test_a_check_under_way_counts_what_is_done() -> None:
    release = asyncio.Event()
    target = fixed_target()

    async def slow_check(target: TargetPython, *, on_library: Any = None, **_: Any) -> Any:
        for name in ("sklearn", "torch", "jax"):
            on_library(cpu_report(name))
        await release.wait()
        return CheckResult(target=target, libraries=[cpu_report(s.id) for s in LIBRARIES])

    app = MltuiApp(
        target=target,
        services=make_services(
            nvml=nvml_from(FakeNvml.no_driver()),
            read_system=lambda: system_on("vm_no_display"),
            run_check=slow_check,
        ),
        refresh=3600,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: f"3 of {len(LIBRARIES)} checked" in screen_text(app))
        assert "re-checking" not in screen_text(app)
        assert f"3 of {len(LIBRARIES)} libraries checked..." in headline_of(app)
        release.set()
        await wait_for(pilot, lambda: "compute on the CPU" in headline_of(app))
        assert "checked..." not in screen_text(app)


async def test_the_first_frame_is_a_few_widgets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the first frame is painted the pane holds the sentence, the status and the CPU;
    the GPUs, libraries, findings and processes come after it."""
    held = asyncio.Event()

    async def hold(self: HardwarePane) -> None:
        held.set()

    original = HardwarePane._mount_sections
    monkeypatch.setattr(HardwarePane, "_mount_sections", hold)
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, held.is_set)
        pane = app.query_one(HardwarePane)
        first_frame = list(pane.walk_children())
        assert len(first_frame) <= 5, [type(w).__name__ for w in first_frame]
        await original(pane)
        await wait_for(
            pilot, lambda: "Findings" in screen_text(app) or len(list(pane.walk_children())) > 10
        )
        assert len(list(pane.walk_children())) > 10


async def test_the_palette_lists_mltui_s_own_commands_in_its_words() -> None:
    from textual.command import CommandPalette

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Screenshot" not in titles and "Keys" not in titles
        assert {"Help: keys and panes", "Quit mltui", "Theme: change the colours"} <= set(titles)
        assert "Export the check and the screen" in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"quit")
        await wait_for(pilot, lambda: "Quit mltui" in screen_text(app))
        assert "as soon as possible" not in screen_text(app)


@pytest.mark.parametrize(("key", "at_end"), [("end", True), ("pagedown", True), ("home", False)])
async def test_page_keys_in_the_libraries_table_move_the_pane(key: str, at_end: bool) -> None:
    from textual.containers import VerticalScroll

    from tui.widgets.libraries_matrix import LibrariesMatrix

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await wait_for(pilot, lambda: bool(app.query(LibrariesMatrix)))
        await pilot.press("l")
        matrix = app.query_one(LibrariesMatrix)
        column = app.query_one("#hw-scroll", VerticalScroll)
        await wait_for(pilot, lambda: app.focused is matrix)
        start = column.scroll_y
        if not at_end:
            await pilot.press("end")
            await wait_for(pilot, lambda: column.scroll_y > start)
            start = column.scroll_y
        await pilot.press(key)
        if at_end:
            await wait_for(pilot, lambda: column.scroll_y > start)
            assert matrix.cursor_row == matrix.row_count - 1
        else:
            await wait_for(pilot, lambda: column.scroll_y < start)
            assert matrix.cursor_row == 0


@pytest.mark.parametrize(
    ("keys", "selector"),
    [(("3",), "#kn-index"), (("2",), "#samples-table"), (("l",), "#libraries-matrix")],
)
async def test_every_list_shows_its_cursor_without_colour(
    keys: tuple[str, ...], selector: str
) -> None:
    """Under NO_COLOR/TERM=dumb (colour=False) a cursor is reverse or underlined, not a
    background colour that the plain screen drops."""
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600, colour=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        await pilot.press(*keys)
        await wait_for(pilot, lambda: bool(app.query(selector)))
        widget = app.query_one(selector)
        widget.focus()

        def cursor_drawn() -> bool:
            for y in range(widget.size.height):
                for segment in widget.render_line(y):
                    style = segment.style
                    if style is not None and (style.reverse or style.underline):
                        return True
            return False

        await wait_for(pilot, cursor_drawn, timeout=10)


@pytest.mark.parametrize("built_first", [False, True])
async def test_a_page_opened_from_the_palette_has_the_keys(built_first: bool) -> None:
    from textual.widgets import MarkdownViewer

    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.check_state is not None and app.check_state.result)
        if built_first:  # the Knowledge pane built and left for another before
            await pilot.press("3")
            await wait_for(pilot, lambda: "Comparison" in screen_text(app))
            await pilot.press("1")
            await wait_for(pilot, lambda: app.active_pane == "hardware")
        app.open_page("torch")  # what the palette's "Open page" entry calls
        await wait_for(pilot, lambda: bool(app.query("#page-viewer")))
        viewer = app.query_one("#page-viewer", MarkdownViewer)
        await wait_for(pilot, lambda: viewer.border_title is not None and viewer.display)
        await pilot.pause(0.3)  # waits-for: a late TabActivated that would take the keys back
        focused = app.focused
        assert focused is not None and viewer in focused.ancestors_with_self, focused


async def test_the_fleet_summary_counts_one_node_in_the_singular() -> None:
    from probes.fleet.aggregate import FleetAggregate
    from tests.fleet_reports import local_check_data, recorded_node
    from tests.test_tui_fleet import FleetHost
    from tui.widgets.fleet_pane import FleetPane

    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.begin(FleetAggregate("ssh", "ssh: 1 host"))
        pane.add_node(recorded_node(local_check_data(), "node1"))
        await wait_for(pilot, lambda: "1 node, 1 ok" in screen_text(app))
        assert "1 nodes" not in screen_text(app)


async def test_the_run_pane_gives_the_source_the_room_at_120x40() -> None:
    app = MltuiApp(target=fixed_target(), services=make_services(), refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "tensorflow" in screen_text(app))
        source = app.query_one("#source-view")
        side = app.query_one("#run-side")
        await wait_for(pilot, lambda: source.content_size.width > 0)
        assert source.content_size.width >= 50, source.content_size
        assert side.size.width <= 26
        # Every sample's name and its last status still fit in the list.
        assert "tensorflow  -" in screen_text(app)


async def test_the_comparison_at_80x24_cuts_with_an_ellipsis_and_scrolls_by_columns() -> None:
    from tests.perf_fixtures import canned_report
    from tests.support import canned_check
    from tui.widgets.comparison_table import MAX_CELL_WIDTH, ComparisonTable

    check = replace(canned_check(fixed_target()), perf=canned_report())
    app = MltuiApp(
        target=fixed_target(), services=make_services(cached=check, check=check), refresh=3600
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: bool(app.query(ComparisonTable)))
        table = app.query_one(ComparisonTable)
        await wait_for(pilot, lambda: table.row_count > 0 and "…" in screen_text(app))
        text = screen_text(app)
        # Every library's name whole, beside a measured column (the perf run's figures).
        for name in ("scikit-learn", "TensorFlow", "PyTorch", "Theano"):
            assert f" {name} " in text, text
        assert all(
            column.get_render_width(table) <= MAX_CELL_WIDTH + 2
            for column in table.ordered_columns[1:]
        )
        table.focus()
        starts, total = [0.0], 0.0
        for column in table.ordered_columns[1:]:
            total += column.get_render_width(table)
            starts.append(total)

        def at_a_column_start() -> bool:
            return table.scroll_x in starts or table.scroll_x == table.max_scroll_x

        for _ in range(7):
            await pilot.press("right")
            # The scroll may glide; where it comes to rest is what shows.
            await wait_for(pilot, at_a_column_start)
            await pilot.pause(0.3)  # waits-for: a scroll animation to end before it is read
            assert at_a_column_start(), (table.scroll_x, starts)
        assert table.scroll_x > 0


async def test_a_failed_launcher_message_shows_whole_with_its_fix(tmp_path: Path) -> None:
    from tests.test_tui_fleet import FleetHost
    from tui.widgets.fleet_pane import FleetPane

    app = FleetHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(FleetPane)
        pane.start(f"--hosts {tmp_path}/no-such-folder/with-a-long-name/hosts.txt")
        await wait_for(pilot, lambda: bool(pane.message))
        assert len(pane.message) > 76  # longer than the line: it wraps, nothing is cut
        # (a long path folds where the line ends: compare without the line breaks)
        words = "".join(pane.message.split())
        await wait_for(pilot, lambda: words in "".join(screen_text(app).split()))
