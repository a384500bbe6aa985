"""The processes holding GPU memory: GPU, pid, user, memory, command."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from probes.model import GpuInfo
from tui.presentation import MUTED, human_bytes
from tui.safe_text import safe_text

HIDDEN_PID = "host PID (not visible in this container)"


def process_rows(gpus: list[GpuInfo]) -> list[tuple[str, str, str, str, str]]:
    """One row per (GPU, process): GPU index, pid, user, GPU memory, command."""
    rows = []
    for gpu in gpus:
        for process in gpu.processes or []:
            command = (process.command or "") if process.visible else HIDDEN_PID
            user = (process.user or "?") if process.visible else "-"
            rows.append(
                (
                    str(gpu.index),
                    str(process.pid),
                    user,
                    human_bytes(process.used_memory_bytes),
                    command,
                )
            )
    return rows


class ProcessesTable(DataTable[str | Text]):
    """A DataTable of GPU processes that redraws only when the set of rows changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: list[tuple[str, str, str, str, str]] | None = None

    def on_mount(self) -> None:
        """Set the columns."""
        self.add_columns("GPU", "PID", "user", "GPU mem", "command")

    def show(self, gpus: list[GpuInfo]) -> None:
        """Show the processes of these GPUs."""
        rows = process_rows(gpus)
        if rows == self._shown:
            return
        self._shown = rows
        self.clear()
        if not rows:
            self.add_row("-", "-", "-", "-", Text("no process is using a GPU", style=MUTED))
            return
        for row in rows:
            style = MUTED if row[4] == HIDDEN_PID else ""
            self.add_row(*(safe_text(cell) for cell in row[:4]), safe_text(row[4], style=style))
