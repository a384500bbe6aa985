"""`mltui fleet`: the check on many nodes through Slurm, Ray or SSH; one row per node, the skew.

Without --json each node's row is printed the moment it answers, then the whole table and the
skew findings. With --json stdout holds only the final `FleetReport` (its schema:
`mltui fleet --schema`, committed as probes/fleet/fleet.schema.json). Exit status: 0 when every
node answered, agrees with the others and has no error finding; 1 otherwise; 2 on bad usage or a
launcher that cannot run at all (no ssh, srun or Ray; a cluster that cannot be reached).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from probes.fleet.model import FleetReport, NodeResult, fleet_schema
from probes.fleet.run import run_fleet
from probes.model import to_json
from tui.cli.console import make_console
from tui.exit_codes import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from tui.fleet_args import build_command, build_launcher
from tui.fleet_view import COLUMNS, row_cells, state_style, state_word
from tui.presentation import ERROR_STRONG, MUTED, WARNING
from tui.safe_text import safe_text


def cmd_fleet(args: argparse.Namespace) -> int:
    """Run `mltui fleet` with parsed arguments; returns the exit status."""
    if getattr(args, "schema", False):
        print(json.dumps(fleet_schema(), indent=2))
        return EXIT_OK
    launcher = build_launcher(args)
    command = build_command(args)
    as_json = bool(args.json)
    console = make_console()
    expected = getattr(args, "gpus", None)

    def streamed(row: NodeResult) -> None:
        if not as_json:
            console.print(_row_line(row, expected))

    report = asyncio.run(run_fleet(launcher, command, on_node=streamed, expected_gpus=expected))
    if as_json:
        sys.stdout.write(to_json(report, indent=2) + "\n")
    else:
        console.print(render_fleet(report))
    if report.error is not None and not report.nodes:
        print(f"mltui: {report.error}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "save_baseline", None):
        from tui.cli.health import save_fleet_baseline

        problem = save_fleet_baseline(report, args.save_baseline)
        if problem is not None:
            print(f"mltui: {problem}", file=sys.stderr)
            return EXIT_USAGE
    failed = report.counts.failed or report.counts.findings or report.skew or report.error
    return EXIT_FINDINGS if failed else EXIT_OK


def _row_line(row: NodeResult, expected: int | None) -> Text:
    cells = row_cells(row, expected)
    line = Text()
    line.append_text(safe_text(cells.node, "bold"))
    line.append("  ")
    line.append_text(safe_text(cells.state, state_style(row)))
    if row.check is None:
        line.append("  ")
        line.append_text(safe_text(row.reason or ""))
    else:
        detail = f"  {cells.gpus} GPUs  driver {cells.driver}  CUDA {cells.cuda}  {cells.libraries}"
        line.append_text(safe_text(detail))
    return line


def library_lines(cell: str) -> str:
    """The libraries cell ('sklearn 1.9.0 torch 2.13.0+') as one "name version" pair a line."""
    words = cell.split(" ")
    return "\n".join(" ".join(words[i : i + 2]) for i in range(0, len(words), 2))


def render_fleet(report: FleetReport) -> RenderableType:
    """The whole run: the node table, the skew findings, what to do about failures."""
    table = Table(
        box=box.SIMPLE_HEAD,
        title=safe_text(_title(report)),
        title_justify="left",
        pad_edge=False,
        padding=0,
        show_edge=False,
    )
    columns = list(COLUMNS)
    has_perf = any(node.throughput is not None for node in report.nodes)
    if not has_perf:
        columns.remove("perf")
    rows = []
    at = columns.index("libraries")
    for node in report.nodes:
        cells = row_cells(node, report.expected_gpus).as_tuple()[: len(columns)]
        if node.check is None:
            cells = (cells[0], cells[1], *([""] * (len(columns) - 2)))
        else:
            cells = (*cells[:at], library_lines(cells[at]), *cells[at + 1 :])
        rows.append((node, cells))
    longest_pair = max(
        (len(line) for _, cells in rows for line in cells[at].splitlines()), default=0
    )
    for name in columns:
        no_wrap = name in ("node", "state", "GPUs", "driver", "CUDA", "err/warn")
        # A header is never folded ('librarie/s'), nor a library's "name version" pair.
        least = max(len(name), min(longest_pair, 24)) if name == "libraries" else len(name)
        # The model wraps at its words ("NVIDIA", "H100 80GB"): the room goes to the pairs.
        widest = 10 if name == "model" else None
        table.add_column(name, overflow="fold", no_wrap=no_wrap, min_width=least, max_width=widest)
    for node, cells in rows:
        texts = [safe_text(cell) for cell in cells]
        texts[1] = safe_text(cells[1], state_style(node))
        table.add_row(*texts)
    parts: list[RenderableType] = [table]
    if report.skew:
        skew = Text("Skew\n", style="bold")
        for finding in report.skew:
            skew.append("  ")
            skew.append_text(safe_text(finding.text, WARNING))
            skew.append("\n")
        parts.append(skew)
    failed = [n for n in report.nodes if n.check is None]
    if failed:
        text = Text("Nodes without a report\n", style="bold")
        for node in failed:
            text.append("  ")
            text.append_text(safe_text(node.name, "bold"))
            text.append_text(safe_text(f": {node.reason or state_word(node)}"))
            text.append("\n")
            if node.fix:
                text.append_text(safe_text(f"    fix: {node.fix}", MUTED))
                text.append("\n")
        parts.append(text)
    if report.error:
        parts.append(safe_text(f"the run did not finish: {report.error}", ERROR_STRONG))
    return Group(*parts)


def _title(report: FleetReport) -> str:
    counts = report.counts
    words = f"{counts.total} nodes: {counts.ok} ok"
    if counts.findings:
        words += f", {counts.findings} with errors"
    if counts.failed:
        words += f", {counts.failed} without a report"
    if report.skew:
        words += f", {len(report.skew)} skew finding{'s' if len(report.skew) != 1 else ''}"
    return f"{report.target} — {words}"
