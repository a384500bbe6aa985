"""The Fleet pane: `mltui fleet` in the dashboard, a row per node as each answers, and the skew.

Type what follows `mltui fleet` (`--hosts hosts.txt`, `--slurm -p gpu`, `--ray 10.0.0.1:6379`)
or the path of a saved `mltui fleet --json` report, then enter. Rows stream in: each report adds
or updates its one row (the table is never rebuilt per report); the skew is worked out again at
most every `SKEW_REFRESH_S` while reports arrive. `s` sorts by the next column, `r` reverses,
`f` filters: every node, the problems (failures, skew, error findings), only failures, only skew.
Enter on a node shows its whole check in the Hardware pane's widgets. `b` saves what most nodes
have as the baseline `mltui health` holds a node to (probes.health.model.default_baseline_path).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from probes.files import expand_user
from probes.fleet.aggregate import FleetAggregate
from probes.fleet.launch import FleetError, Launcher, NodeCommand
from probes.fleet.model import FAILED_STATES, FleetReport, NodeResult, SkewFinding
from probes.fleet.run import new_aggregate, run_fleet
from probes.model import from_dict
from probes.untrusted_json import read_json_file
from tui.fleet_args import parse_fleet_words
from tui.fleet_view import COLUMNS, row_cells, skew_by_node, state_style
from tui.presentation import ERROR, MUTED, WARNING
from tui.safe_text import inert_line, notify, safe_text
from tui.widgets.pane import Pane

#: The largest saved `mltui fleet --json` the pane loads (a node's report is tens of KiB).
MAX_SAVED_REPORT_BYTES = 256 * 1024 * 1024
#: Seconds between two workings-out of the skew while reports stream in.
SKEW_REFRESH_S = 0.25
#: The columns shown: the row cells and, after the state, what the node differs in.
TABLE_COLUMNS = (*COLUMNS[:2], "skew", *COLUMNS[2:])
#: Filters `f` goes through, and their words.
FILTERS = ("all", "problems", "failures", "skew")
#: Columns `s` sorts by, in turn.
SORT_COLUMNS = ("node", "state", "skew", "GPUs", "driver", "CUDA")
#: Lines of skew findings shown under the table.
SKEW_LINES = 5


class FleetPane(Pane):
    """Run or load a fleet check; the node table, sortable and filterable; the skew below it."""

    DEFAULT_CSS = """
    FleetPane { height: 1fr; }
    FleetPane #fleet-args { height: 1; border: none; padding: 0 1; }
    FleetPane #fleet-status { height: auto; max-height: 4; padding: 0 1; background: $boost; }
    FleetPane DataTable { height: 1fr; }
    FleetPane #fleet-filtered { display: none; }
    FleetPane.-filtered #fleet-table { display: none; }
    FleetPane.-filtered #fleet-filtered { display: block; }
    FleetPane #fleet-skew { height: auto; max-height: 6; padding: 0 1; }
    """

    BINDINGS = [
        Binding("n", "edit", "New run", tooltip="Type a launcher (or a saved report) to run"),
        Binding("s", "sort", "Sort", tooltip="Sort the nodes by the next column"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("f", "filter", "Filter", tooltip="All nodes, problems, failures, skew"),
        Binding("x", "cancel", "Stop", show=False, tooltip="Stop the fleet run under way"),
        Binding(
            "b",
            "save_baseline",
            "Save baseline",
            show=False,
            tooltip="Save what most nodes have as the baseline `mltui health` holds a node to",
        ),
    ]

    def __init__(self, *, ascii: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ascii = ascii
        self.fleet: FleetAggregate | None = None
        self.filter = "all"
        self.sort_column = "node"
        self.sort_reverse = False
        self.running = False
        self.message = "n: type the launcher as for `mltui fleet` (or a saved --json), enter"
        self._message_style = ""
        self._skew: dict[str, list[SkewFinding]] = {}
        self._skew_findings: list[SkewFinding] = []
        self._skew_timer: asyncio.TimerHandle | None = None
        self._worker: Worker[FleetReport] | None = None
        #: Reports taken so far (tests and the bench wait on it).
        self.rows_taken = 0

    def compose(self) -> ComposeResult:
        """The launcher line, the status, the node table, the skew."""
        yield Input(
            placeholder="--hosts FILE | --slurm -p PART | --ray ADDR | report.json",
            id="fleet-args",
        )
        yield Static("", id="fleet-status")
        # Every node in one table, filled as reports stream in; a filter fills the second one
        # with its (usually few) nodes, so going back to all nodes costs no rebuild.
        yield DataTable[Text](id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield DataTable[Text](id="fleet-filtered", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fleet-skew")

    def on_mount(self) -> None:
        """The table's columns and the first status line."""
        for table in (self.all_table, self.filtered_table):
            for name in TABLE_COLUMNS:
                table.add_column(name, key=name)
        self._draw_status()

    @property
    def all_table(self) -> DataTable[Text]:
        """The table of every node."""
        return self.query_one("#fleet-table", DataTable)

    @property
    def filtered_table(self) -> DataTable[Text]:
        """The table of the nodes the filter lets through (shown while a filter is on)."""
        return self.query_one("#fleet-filtered", DataTable)

    @property
    def table(self) -> DataTable[Text]:
        """The node table on show."""
        return self.all_table if self.filter == "all" else self.filtered_table

    def main_widget(self) -> Widget:
        """The node table on show (the filtered one while a filter is on)."""
        return self.table

    # ------------------------------------------------------------------------------- input

    def action_edit(self) -> None:
        """Put the keys in the launcher line."""
        self.query_one("#fleet-args", Input).focus()

    def on_key(self, event: events.Key) -> None:
        """Escape in the launcher line gives the keys back to the table."""
        if event.key == "escape" and isinstance(self.screen.focused, Input):
            event.stop()
            self.table.focus()

    @on(Input.Submitted, "#fleet-args")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.start(event.value)
        if self.fleet is not None:
            self.table.focus()

    def start(self, text: str) -> None:
        """Run the fleet `text` names (the words after `mltui fleet`), or load a saved report."""
        text = text.strip()
        if not text:
            return
        path = Path(text)
        try:
            path = expand_user(text, text)
            saved = not text.startswith("-") and path.is_file()
        except (OSError, ValueError):  # ~nosuchuser, a word too long for a path
            saved = False
        if saved:
            try:
                report = from_dict(
                    FleetReport, read_json_file(path, max_bytes=MAX_SAVED_REPORT_BYTES)
                )
            except (OSError, ValueError, TypeError) as exc:
                self._say(f"cannot read {text}: {exc}", ERROR)
                return
            self.show_report(report)
            return
        try:
            launcher, command, expected = parse_fleet_words(text)
        except FleetError as exc:
            self._say(str(exc), ERROR)
            return
        self.begin(new_aggregate(launcher, expected))
        self.running = True
        self._say(f"running: {launcher.describe()}", WARNING)
        self._worker = self.run_worker(
            self._run(launcher, command), exclusive=True, group="fleet", exit_on_error=False
        )

    async def _run(self, launcher: Launcher, command: NodeCommand) -> FleetReport:
        fleet = self.fleet

        def take(row: NodeResult) -> None:
            if fleet is self.fleet:  # a row of a run that was replaced is not shown
                self._take(row)

        try:
            report = await run_fleet(launcher, command, on_node=take, aggregate=fleet)
        finally:
            self.running = False
        if fleet is self.fleet:
            if report.error:
                self._say(f"the run did not finish: {report.error}", ERROR)
            else:
                self._say(f"done in {report.elapsed_s or 0:.1f} s", MUTED)
            self.refresh_skew()
        return report

    def action_cancel(self) -> None:
        """Stop the run under way (its processes are killed whole)."""
        if self._worker is not None and self.running:
            self._worker.cancel()
            self.running = False
            self._say("stopped", WARNING)

    # ------------------------------------------------------------------------------- rows

    def begin(self, fleet: FleetAggregate) -> None:
        """Start over with an empty table for a new run."""
        self.fleet = fleet
        self._skew = {}
        self._skew_findings = []
        self.all_table.clear()
        self.filtered_table.clear()
        self.query_one("#fleet-skew", Static).update("")
        self._draw_status()

    def show_report(self, report: FleetReport) -> None:
        """Show a whole report at once (a saved `mltui fleet --json`)."""
        fleet = FleetAggregate(report.launcher, report.target, expected_gpus=report.expected_gpus)
        fleet.error = report.error
        self.begin(fleet)
        fleet.extend(report.nodes)
        self.rows_taken += len(report.nodes)
        self.refresh_skew()  # first, so the rows are made with their skew
        table = self.all_table
        for node in fleet.nodes:
            _put_row(table, node.name, self._cells(node))
        if self.filter != "all":
            self._rebuild()
        self._say(f"loaded {len(report.nodes)} nodes", MUTED)

    def add_node(self, row: NodeResult) -> None:
        """Take one node's row as it arrives: add or update its one row, nothing else."""
        if self.fleet is None:
            self.begin(FleetAggregate("ssh"))
        assert self.fleet is not None
        self.fleet.add(row)
        self._take(row)

    def _take(self, row: NodeResult) -> None:
        """Show a row the aggregate already holds (run_fleet added it)."""
        self.rows_taken += 1
        cells = self._cells(row)
        _put_row(self.all_table, row.name, cells)
        if self.filter != "all":
            if self._passes(row):
                _put_row(self.filtered_table, row.name, cells)
            elif row.name in self.filtered_table.rows:
                self.filtered_table.remove_row(row.name)
        self._draw_status()
        if self._skew_timer is None:
            loop = asyncio.get_running_loop()
            self._skew_timer = loop.call_later(SKEW_REFRESH_S, self._skew_due)

    def _skew_due(self) -> None:
        self._skew_timer = None
        self.refresh_skew()

    def refresh_skew(self, *, rebuild: bool = False) -> None:
        """Work the skew out again; update only the rows whose skew changed."""
        if self.fleet is None:
            return
        findings = self.fleet.skew()
        grouped = skew_by_node(findings)
        changed = {
            name
            for name in set(grouped) | set(self._skew)
            if [f.text for f in grouped.get(name, [])] != [f.text for f in self._skew.get(name, [])]
        }
        self._skew = grouped
        self._skew_findings = findings
        for table in (self.all_table, self.filtered_table):
            for name in changed:
                if name in table.rows:
                    words = skew_words(grouped.get(name, []))
                    table.update_cell(name, "skew", safe_text(words, WARNING))
        if rebuild or (changed and self.filter in ("problems", "skew")):
            self._rebuild()
        self._draw_skew()
        self._draw_status()

    def _cells(self, row: NodeResult) -> tuple[Text, ...]:
        expected = self.fleet.expected_gpus if self.fleet is not None else None
        cells = row_cells(row, expected).as_tuple()
        texts = [safe_text(inert_line(cell)) for cell in cells]
        texts[1] = safe_text(cells[1], state_style(row))
        skew = safe_text(skew_words(self._skew.get(row.name, [])), WARNING)
        return (texts[0], texts[1], skew, *texts[2:])

    def _passes(self, row: NodeResult) -> bool:
        mode = self.filter
        if mode == "all":
            return True
        failed = row.state in FAILED_STATES
        skewed = row.name in self._skew
        if mode == "failures":
            return failed
        if mode == "skew":
            return skewed
        return failed or skewed or row.state == "findings"

    def _rebuild(self) -> None:
        """Show the filter's nodes in sort order (a filter or sort changed: once per key press).

        All nodes: the full table is re-ordered in place (no row is made again). A filter: its
        table is filled again with the nodes it lets through.
        """
        # The table on show follows the filter even before any node came in: the keys go to it.
        self.set_class(self.filter != "all", "-filtered")
        if self.fleet is None:
            return
        sort_key = self._sort_key()
        if self.filter == "all":
            fleet = self.fleet

            def by_row(cells: tuple[Text, ...]) -> tuple[str, ...]:
                node = fleet.get(cells[0].plain)
                return sort_key(node) if node is not None else (cells[0].plain,)

            self.all_table.sort(key=by_row, reverse=self.sort_reverse)
            return
        table = self.filtered_table
        cursor_key = self._cursor_key()
        nodes = [n for n in self.fleet.nodes if self._passes(n)]
        nodes.sort(key=sort_key, reverse=self.sort_reverse)
        table.clear()
        for node in nodes:
            table.add_row(*self._cells(node), key=node.name)
        if cursor_key is not None and cursor_key in table.rows:
            table.move_cursor(row=table.get_row_index(cursor_key), animate=False)

    def _cursor_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        with contextlib.suppress(Exception):
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            return str(key) if key is not None else None
        return None

    def _sort_key(self) -> Callable[[NodeResult], tuple[str, ...]]:
        column = self.sort_column
        expected = self.fleet.expected_gpus if self.fleet is not None else None
        skew = self._skew

        def key(node: NodeResult) -> tuple[str, ...]:
            if column == "node":
                return (node.name,)
            if column == "state":
                return (str(node.state in FAILED_STATES), node.state, node.name)
            if column == "skew":
                return (skew_words(skew.get(node.name, [])) or "~", node.name)
            cells = row_cells(node, expected)
            value = {"GPUs": cells.gpus, "driver": cells.driver, "CUDA": cells.cuda}[column]
            return (value.zfill(12), node.name)

        return key

    # ---------------------------------------------------------------------------- actions

    def action_sort(self) -> None:
        """Sort by the next column."""
        index = SORT_COLUMNS.index(self.sort_column)
        self.sort_column = SORT_COLUMNS[(index + 1) % len(SORT_COLUMNS)]
        self._rebuild()
        self._draw_status()

    def action_reverse(self) -> None:
        """Reverse the order."""
        self.sort_reverse = not self.sort_reverse
        self._rebuild()
        self._draw_status()

    def action_filter(self) -> None:
        """Show the next subset: all, problems, failures, skew."""
        focused = self.screen.focused in (self.all_table, self.filtered_table)
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self._rebuild()
        if focused:
            self.table.focus()
        self._draw_status()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.fleet is None or event.row_key.value is None:
            return
        node = self.fleet.get(str(event.row_key.value))
        if node is None:
            return
        if node.check is None:
            # The newline is mltui's own; only the node's words are outside text.
            words = f"{inert_line(node.name)}: {inert_line(node.reason or node.state)}"
            if node.fix:
                words += f"\nfix: {inert_line(node.fix)}"
            notify(self.app, words, severity="warning", timeout=8)
            return
        from tui.screens.fleet_node import NodeCheckScreen

        self.app.push_screen(NodeCheckScreen(node, ascii=self.ascii))

    def action_save_baseline(self) -> None:
        """Save the majority of the nodes shown as the baseline (the Hardware pane and
        `mltui health --baseline` compare a node with it)."""
        from probes.health.baseline import NoBaselineError, save_baseline
        from probes.health.model import default_baseline_path

        if self.fleet is None or self.running:
            self._say("b saves a baseline once a fleet run has finished", WARNING)
            return
        try:
            path = default_baseline_path()
            baseline = save_baseline(self.fleet.report(), path)
        except (NoBaselineError, OSError) as exc:
            self._say(f"no baseline saved: {exc}", ERROR)
            return
        self._say(f"baseline of {baseline.nodes} nodes saved to {path}", MUTED)

    # ------------------------------------------------------------------------------- text

    def _say(self, words: str, style: str = "") -> None:
        self.message = words
        self._message_style = style
        self._draw_status()

    def _draw_status(self) -> None:
        status = Text()
        fleet = self.fleet
        if fleet is not None:
            counts = fleet.counts()
            status.append_text(safe_text(inert_line(fleet.target or fleet.launcher), "bold"))
            nodes = "node" if counts.total == 1 else "nodes"
            status.append(f"  {counts.total} {nodes}, {counts.ok} ok")
            if counts.failed:
                status.append(f", {counts.failed} failed", style=ERROR)
            if self._skew:
                status.append(f", {len(self._skew)} skewed", style=WARNING)
            status.append(f"  | {self.filter} by {self.sort_column}", style=MUTED)
            status.append("  ")
        status.append_text(safe_text(inert_line(self.message), self._message_style))
        # It wraps (a failed launcher's message ends in its fix): its height may change.
        self.query_one("#fleet-status", Static).update(status)

    def _draw_skew(self) -> None:
        findings = self._skew_findings
        text = Text()
        for finding in findings[:SKEW_LINES]:
            text.append_text(safe_text(inert_line(finding.text), WARNING))
            text.append("\n")
        if len(findings) > SKEW_LINES:
            text.append(f"... and {len(findings) - SKEW_LINES} more (f: filter to skew)", MUTED)
        text.rstrip()
        self.query_one("#fleet-skew", Static).update(text)


def _put_row(table: DataTable[Text], key: str, cells: tuple[Text, ...]) -> None:
    """Add the row `key`, or update its cells when it is there."""
    if key in table.rows:
        for column, cell in zip(TABLE_COLUMNS, cells, strict=True):
            table.update_cell(key, column, cell)
    else:
        table.add_row(*cells, key=key)


def skew_words(findings: list[SkewFinding]) -> str:
    """What a node differs in, in a few words: "driver, GPU count"."""
    return ", ".join(dict.fromkeys(f.subject for f in findings))
