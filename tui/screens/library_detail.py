"""A library's whole probe result and the findings about it, each with its fix."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from probes.model import Finding, LibraryReport
from tui.presentation import (
    ERROR,
    MUTED,
    SUCCESS,
    build_text,
    library_status_style,
    library_status_words,
    severity_style,
)
from tui.safe_text import inert, inert_line, safe_assemble, safe_content, safe_text
from tui.widgets.libraries_matrix import device_label


def report_renderable(
    report: LibraryReport | None, findings: list[Finding], age: str
) -> RenderableType:
    """Everything the probe found, then the findings with evidence and fix."""
    if report is None:
        return Text(f"This library has not been checked yet ({age}).", style=MUTED)
    parts: list[RenderableType] = []
    head = Text()
    head.append(inert(report.display_name or report.name), style="bold")
    head.append("  installed: ")
    head.append(
        inert(library_status_words(report.status)), style=library_status_style(report.status)
    )
    head.append(f"  ({age})", style=MUTED)
    parts.append(head)
    facts = [
        ("version", report.version or "-"),
        ("location", report.location or "-"),
        ("CUDA build", build_text(report, detailed=True)),
    ]
    if report.elapsed_s is not None:
        timings = ", ".join(f"{k} {v:.2f} s" for k, v in report.phase_timings.items())
        facts.append(
            ("probe took", f"{report.elapsed_s:.2f} s" + (f" ({timings})" if timings else ""))
        )
    for key, value in report.build.items():
        if key != "cuda_version":
            facts.append(
                (f"build: {key}", json.dumps(value) if not isinstance(value, str) else value)
            )
    # A grid keeps a long key from running into its value and wrapped values under themselves.
    fact_grid = Table.grid(padding=(0, 2, 0, 0))
    fact_grid.add_column(style="bold", no_wrap=True)
    fact_grid.add_column(ratio=1)
    for key, value in facts:
        fact_grid.add_row(safe_text(key), safe_text(value))
    parts.append(fact_grid)
    parts.append(Text("\nDevices", style="bold underline"))
    if not report.devices:
        parts.append(Text("  none seen", style=MUTED))
    for device in report.devices:
        line = safe_text("  " + device_label(device.kind, device.index))
        if device.name:
            line.append(f"  {inert(device.name)}")
        if device.compute_capability:
            line.append(f"  sm {inert(device.compute_capability)}")
        if device.computation_ok is True:
            line.append("  computation ok", style=SUCCESS)
        elif device.computation_ok is False:
            line.append("  computation FAILED", style=ERROR)
        if device.computation_detail:
            line.append(f"  {inert(device.computation_detail)}", style=MUTED)
        if device.error:
            line.append(f"\n    {inert(device.error)}", style=ERROR)
        parts.append(line)
    if report.error:
        parts.append(Text("\nError", style="bold underline"))
        parts.append(safe_text(report.error, style=ERROR))
    if report.stderr_tail:
        parts.append(Text("\nLast lines on stderr", style="bold underline"))
        parts.append(safe_text("\n".join(map(str, report.stderr_tail)), style=MUTED))
    parts.append(Text("\nFindings", style="bold underline"))
    if not findings:
        parts.append(Text("  nothing to report", style=MUTED))
    for finding in findings:
        parts.append(
            safe_assemble(
                (f"[{finding.severity}] ", severity_style(finding.severity)),
                (finding.title, "bold"),
            )
        )
        lines = Table.grid(padding=(0, 1, 0, 0))
        lines.add_column(width=11, no_wrap=True, style=MUTED)
        lines.add_column(ratio=1)
        lines.add_row("   evidence", safe_text(finding.evidence))
        lines.add_row("   fix", safe_text(finding.fix, style=SUCCESS))
        parts.append(lines)
    return Group(*parts)


class LibraryDetailScreen(ModalScreen[None]):
    """Shows one library's probe result over the dashboard."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", tooltip="Back to the dashboard")]

    def __init__(
        self, library: str, report: LibraryReport | None, findings: list[Finding], age: str
    ) -> None:
        super().__init__()
        self.library = library
        self.report = report
        self.findings = findings
        self.age = age

    def compose(self) -> ComposeResult:
        """The result in a scrolling frame."""
        with Vertical(id="detail-frame", classes="dialog"):
            with VerticalScroll(id="detail-scroll"):
                yield Static(
                    report_renderable(self.report, self.findings, self.age), id="detail-body"
                )
            yield Static("escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        """Title the frame and let the arrow keys scroll it."""
        name = (
            self.report.display_name if self.report and self.report.display_name else self.library
        )
        self.query_one("#detail-frame").border_title = safe_content(
            f"probe result: {inert_line(name)}"
        )
        self.query_one("#detail-scroll").focus()
