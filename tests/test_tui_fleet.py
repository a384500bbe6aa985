"""The Fleet pane under Textual's Pilot: streamed rows, filters, sort, a node's whole check.

The node reports are recorded ones (tests/fleet_reports.py: this machine's real check with the
NVML readings of real GPU servers). One test runs a real fleet through the pane's own input line
against the test sshd (tests/fleet_engines.py).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from probes.fleet.aggregate import FleetAggregate
from probes.fleet.model import NodeResult
from probes.model import to_json
from tests.fleet_engines import SshEngine, sshd_running
from tests.fleet_reports import local_check_data, one_gpu_fewer, other_driver, recorded_node
from tests.support import screen_text, wait_for
from tui.presentation import dashboard_theme
from tui.screens.fleet_node import NodeCheckScreen
from tui.widgets.fleet_pane import FleetPane
from tui.widgets.gpu_card import GpuCard
from tui.widgets.libraries_matrix import LibrariesMatrix

ROOT = Path(__file__).resolve().parent.parent


class FleetHost(App[None]):
    """The Fleet pane alone, with the dashboard's stylesheet."""

    CSS_PATH = str(ROOT / "tui" / "app.tcss")

    def __init__(self) -> None:
        super().__init__()
        self.console.push_theme(dashboard_theme(self.get_css_variables()))

    def compose(self) -> ComposeResult:
        yield FleetPane(id="fleet")


def fleet_rows() -> list[NodeResult]:
    base = local_check_data()
    rows = [recorded_node(base, f"node{k}") for k in (1, 2, 4, 5)]
    rows.insert(2, recorded_node(base, "node3", other_driver))
    rows.append(recorded_node(base, "node6", one_gpu_fewer))
    rows.append(
        NodeResult(
            "node7",
            "unreachable",
            "ssh: connect to host node7 port 22: Connection refused",
            "check `ssh -o BatchMode=yes HOST true` works",
        )
    )
    return rows


def table_keys(pane: FleetPane) -> list[str]:
    table = pane.table
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


@pytest.fixture(scope="module")
def rows() -> list[NodeResult]:
    return fleet_rows()


async def test_rows_stream_in_without_rebuilding_the_table(rows: list[NodeResult]) -> None:
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.begin(FleetAggregate("ssh", "recorded nodes"))
        table = pane.table
        clears = 0
        original_clear = table.clear

        def counting_clear(*args: Any, **kwargs: Any) -> Any:
            nonlocal clears
            clears += 1
            return original_clear(*args, **kwargs)

        table.clear = counting_clear  # type: ignore[method-assign]
        for count, row in enumerate(rows, 1):
            pane.add_node(row)
            assert table.row_count == count
        await wait_for(pilot, lambda: bool(pane._skew))
        assert clears == 0
        assert set(pane._skew) == {"node3", "node6"}
        skew_cell = table.get_cell("node3", "skew")
        assert "driver" in str(skew_cell)
        text = screen_text(app)
        assert "node3: driver 550.54.15 where 5 nodes have 565.57.01" in text
        assert "7 nodes, 6 ok, 1 failed, 2 skewed" in text
        # A later report for a node updates its one row.
        pane.add_node(recorded_node(local_check_data(), "node3"))
        assert table.row_count == len(rows)
        await wait_for(pilot, lambda: "node3" not in pane._skew)
        assert "driver" not in str(table.get_cell("node3", "skew"))


async def test_filters_and_sort(rows: list[NodeResult]) -> None:
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        for row in rows:
            pane.add_node(row)
        pane.refresh_skew()
        pane.table.focus()
        await pilot.press("f")
        assert pane.filter == "problems"
        assert sorted(table_keys(pane)) == ["node3", "node6", "node7"]
        await pilot.press("f")
        assert table_keys(pane) == ["node7"]
        await pilot.press("f")
        assert sorted(table_keys(pane)) == ["node3", "node6"]
        await pilot.press("f")
        assert pane.filter == "all"
        assert len(table_keys(pane)) == 7
        await pilot.press("s")  # by state: the failed node last
        assert pane.sort_column == "state"
        assert table_keys(pane)[-1] == "node7"
        await pilot.press("r")
        assert table_keys(pane)[0] == "node7"
        await pilot.press("s")  # by skew: the skewed nodes first (reversed: last)
        await pilot.press("r")
        assert set(table_keys(pane)[:2]) == {"node3", "node6"}


async def test_enter_on_a_node_shows_its_check_in_the_hardware_widgets(
    rows: list[NodeResult],
) -> None:
    app = FleetHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(FleetPane)
        for row in rows:
            pane.add_node(row)
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.get_row_index("node6"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NodeCheckScreen))
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.query(GpuCard)) == 1)
        matrix = screen.query_one(LibrariesMatrix)
        assert matrix.row_count >= 2
        text = screen_text(app)
        assert "node node6" in text
        assert "H100" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NodeCheckScreen))
        # A node without a report says why instead.
        pane.table.move_cursor(row=pane.table.get_row_index("node7"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app._notifications) > 0)
        (note,) = list(app._notifications)
        assert "Connection refused" in note.message
        assert not isinstance(app.screen, NodeCheckScreen)


async def test_a_saved_report_loads_from_the_input_line(
    rows: list[NodeResult], tmp_path: Path
) -> None:
    fleet = FleetAggregate("slurm", "slurm: partition gpu")
    fleet.extend(rows)
    saved = tmp_path / "fleet.json"
    saved.write_text(to_json(fleet.report()))
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [{"name": 3}]')
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.start(str(broken))
        assert pane.message.startswith(f"cannot read {broken}")
        await pilot.click("#fleet-args")
        pane.query_one("#fleet-args", Input).value = str(saved)
        await pilot.press("enter")
        assert pane.table.row_count == len(rows)
        assert app.focused is pane.table
        assert set(pane._skew) == {"node3", "node6"}
        assert "driver" in str(pane.table.get_cell("node3", "skew"))
        await pilot.press("f")
        assert sorted(table_keys(pane)) == ["node3", "node6", "node7"]


async def test_bad_launcher_words_are_one_line_in_the_status() -> None:
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        for words, expected in (
            ("--ray --partition x", "--partition is a Slurm option"),
            ("--hosts a, --only nosuchlib", "nosuchlib"),
            ("--bogus", "unrecognized arguments"),
            ("", ""),
        ):
            pane.message = ""
            pane.start(words)
            await pilot.pause()
            assert expected in pane.message
        assert pane.fleet is None


async def test_a_filter_before_any_node_keeps_the_keys_on_the_table_on_show() -> None:
    """With no nodes yet, f still switches to the filtered table and focuses it shown, not
    the hidden one (the keys went nowhere visible)."""
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        assert pane.fleet is None
        pane.all_table.focus()
        await pilot.pause()
        for _ in range(4):  # every filter, and back to all nodes
            await pilot.press("f")
            await wait_for(pilot, lambda: app.screen.focused is pane.table)
            assert pane.table.display and pane.table.region.height > 0, pane.filter
            other = pane.filtered_table if pane.table is pane.all_table else pane.all_table
            assert other.region.height == 0 or not other.display


async def test_typed_words_that_are_no_path_are_launcher_words_not_a_crash() -> None:
    """The line is tried as a saved report's path first: `~nosuchuser/fleet.json` raised
    RuntimeError (no such home) and a 5,000-character word OSError (name too long), each
    ending the dashboard. Now they are launcher words, refused in one line."""
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        for words in ("~nosuchuser/fleet.json", "x" * 5000, "~nosuchuser"):
            pane.message = ""
            pane.start(words)
            await pilot.pause()
            assert "unrecognized arguments" in pane.message or "launcher" in pane.message
        assert pane.fleet is None


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with sshd_running(tmp_path_factory.mktemp("sshd-pane")) as engine:
        yield engine


async def test_a_real_run_from_the_input_line(sshd: SshEngine) -> None:
    node_mltui = f"env PYTHONPATH={ROOT} {sys.executable} -m tui.cli"
    words = shlex.join(
        [
            "--hosts",
            "node-a,node-b,closed-host",
            "--ssh-config",
            str(sshd.config),
            "--remote-mltui",
            node_mltui,
            "--only",
            "caffe",
        ]
    )
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.table.focus()
        await pilot.press("n")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert app.focused is pane.table
        await pilot.press("n")
        assert isinstance(app.focused, Input)
        app.focused.value = words
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.rows_taken == 3 and not pane.running, timeout=60)
        assert pane.fleet is not None
        states = {n.name: n.state for n in pane.fleet.nodes}
        assert states == {"node-a": "ok", "node-b": "ok", "closed-host": "unreachable"}
        assert pane.table.row_count == 3
        assert isinstance(pane.table, DataTable)
        assert "done in" in pane.message


async def test_x_stops_a_run_and_kills_what_it_started(sshd: SshEngine) -> None:
    hanging = shlex.join(["sh", "-c", "sleep 30", "mltui"])
    words = shlex.join(
        ["--hosts", "node-a,node-b", "--ssh-config", str(sshd.config), "--remote-mltui", hanging]
    )
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.start(words)
        assert pane.running
        await wait_for(pilot, lambda: len(ssh_clients()) == 2)
        pane.table.focus()
        await pilot.press("x")
        assert not pane.running
        assert pane.message == "stopped"
        await wait_for(pilot, lambda: ssh_clients() == [])


def ssh_clients() -> list[int]:
    """The ssh clients this test process started that are still alive."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "ssh" and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize(
    "content",
    ["[" * 100_000 + "]" * 100_000, '{"nodes": NaN}', '{"launcher": "ssh", "nodes": 1e999}'],
    ids=["100,000 deep", "NaN", "1e999"],
)
async def test_a_hostile_saved_report_is_one_line_in_the_status(
    content: str, tmp_path: Path
) -> None:
    """A saved report goes through the one bounded JSON reader: a line, never a crash."""
    saved = tmp_path / "fleet.json"
    saved.write_text(content, encoding="utf-8")
    app = FleetHost()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(FleetPane)
        pane.start(str(saved))
        await pilot.pause()
        assert pane.message.startswith(f"cannot read {saved}")
        assert pane.fleet is None
