"""One fleet node's whole check, in the Hardware pane's own widgets (one data model, one view).

The node's `CheckResult` is shown as the Hardware pane shows this machine's: the system panel,
a card per GPU, the libraries matrix, the findings and the GPU processes, all read once (the
node's report is a snapshot, not a live reading).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from probes.fleet.model import NodeResult
from probes.model import CheckResult
from tui.safe_text import inert_line, safe_text
from tui.widgets.gpu_card import GpuCard
from tui.widgets.hardware_pane import (
    check_sections,
    findings_renderable,
    gpu_summary,
    no_gpu_text,
)
from tui.widgets.libraries_matrix import LibrariesMatrix
from tui.widgets.processes_table import ProcessesTable
from tui.widgets.system_panel import SystemPanel


class NodeCheckScreen(Screen[None]):
    """A node's check over the dashboard; escape goes back to the fleet table."""

    BINDINGS = [Binding("escape,q", "dismiss", "Back", tooltip="Back to the fleet table")]

    def __init__(self, node: NodeResult, *, ascii: bool = False) -> None:
        super().__init__()
        self.node = node
        self.ascii = ascii

    def compose(self) -> ComposeResult:
        """The node's name and age, then the Hardware pane's sections."""
        yield Static("", id="check-status")
        with VerticalScroll(id="hw-scroll"):
            yield from check_sections(ascii=self.ascii)
        yield Footer()

    def on_mount(self) -> None:
        """Fill every section from the node's report."""
        check = self.node.check
        status = safe_text(f"node {inert_line(self.node.name)}", "bold")
        if check is None:
            status.append_text(safe_text(f": no report ({self.node.reason or self.node.state})"))
            self.query_one("#check-status", Static).update(status)
            return
        status.append_text(safe_text(f"  checked {check.created_at}  (escape: back)"))
        self.query_one("#check-status", Static).update(status)
        self.show_check(check)

    def show_check(self, check: CheckResult) -> None:
        """Draw one check in the sections."""
        self.query_one(SystemPanel).show(check.system)
        cards = self.query_one("#gpu-cards", Container)
        report = check.nvml
        if report.status == "ok" and report.gpus:
            cards.remove_children()
            cards.mount_all(GpuCard(gpu, ascii=self.ascii) for gpu in report.gpus)
            self.query_one("#gpu-summary", Static).update(gpu_summary(report))
        else:
            self.query_one("#gpu-message", Static).update(no_gpu_text(report))
        self.query_one(LibrariesMatrix).show(
            {library.name: library for library in check.libraries}, checking=False
        )
        count = len(check.findings)
        self.query_one("#findings-heading", Static).update(
            f"Findings ({count})" if count else "Findings"
        )
        self.query_one("#findings", Static).update(findings_renderable(check.findings))
        self.query_one(ProcessesTable).show(report.gpus)
