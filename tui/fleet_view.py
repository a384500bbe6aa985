"""How a fleet node row reads, for `mltui fleet` and the Fleet pane alike (the same cells).

The state words and styles are `tui.presentation`'s. Everything that came from a node (versions,
hostnames, reasons, stderr) is untrusted: the cells here are plain strings and the renderers put
them through `tui.safe_text`, never through markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from probes.fleet.aggregate import gpu_count, gpu_model
from probes.fleet.model import FAILED_STATES, NodeResult, SkewFinding
from tui.presentation import node_state_style, node_state_words

COLUMNS = ("node", "state", "GPUs", "model", "driver", "CUDA", "libraries", "err/warn", "perf")


@dataclass(frozen=True)
class RowCells:
    """The cells of one node row, as plain (untrusted) strings."""

    node: str
    state: str
    gpus: str
    model: str
    driver: str
    cuda: str
    libraries: str
    counts: str
    perf: str

    def as_tuple(self) -> tuple[str, ...]:
        """The cells in COLUMNS order."""
        return (
            self.node,
            self.state,
            self.gpus,
            self.model,
            self.driver,
            self.cuda,
            self.libraries,
            self.counts,
            self.perf,
        )


def state_word(node: NodeResult) -> str:
    """The state of a node as shown."""
    return node_state_words(node.state)


def state_style(node: NodeResult) -> str:
    """The style of a node's state (a `tui.presentation` style name)."""
    return node_state_style(node.state, strong=True)


def library_cell(node: NodeResult) -> str:
    """Each installed library with its version and whether it ran on the GPUs (+), else (-)."""
    check = node.check
    if check is None:
        return ""
    parts = []
    has_gpus = gpu_count(check) > 0
    for library in check.libraries:
        if library.status == "not_installed":
            continue
        mark = ""
        if has_gpus:
            mark = "+" if any(d.computation_ok for d in library.gpu_devices) else "-"
        version = library.version or library.status
        parts.append(f"{library.name} {version}{mark}")
    return " ".join(parts)


def row_cells(node: NodeResult, expected_gpus: int | None) -> RowCells:
    """The cells of a node's row; a failed node shows its reason across the data cells."""
    check = node.check
    if check is None or node.state in FAILED_STATES:
        return RowCells(node.name, state_word(node), "", "", "", "", node.reason or "", "", "")
    found = gpu_count(check)
    gpus = f"{found}/{expected_gpus}" if expected_gpus is not None else str(found)
    errors = sum(1 for f in check.findings if f.severity == "error")
    warnings = sum(1 for f in check.findings if f.severity == "warning")
    perf = ""
    if node.throughput is not None:
        perf = f"{node.throughput:g}" + (f" {node.throughput_unit}" if node.throughput_unit else "")
    return RowCells(
        node.name,
        state_word(node),
        gpus,
        gpu_model(check) or "-",
        check.nvml.driver_version or "-",
        check.nvml.cuda_driver_version or "-",
        library_cell(node),
        f"{errors}/{warnings}",
        perf,
    )


def skew_by_node(findings: list[SkewFinding]) -> dict[str, list[SkewFinding]]:
    """Skew findings grouped by the node they are about."""
    grouped: dict[str, list[SkewFinding]] = {}
    for finding in findings:
        grouped.setdefault(finding.node, []).append(finding)
    return grouped
