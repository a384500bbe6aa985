"""The libraries matrix: per library its install, version, CUDA build, devices, computation."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from probes.catalog import LIBRARIES, get_library
from probes.model import LibraryReport

STATUS_STYLE = {
    "ok": "green",
    "degraded": "yellow",
    "not_installed": "dim",
    "import_error": "red",
    "timeout": "red",
    "crashed": "red",
    "bad_output": "red",
}

COLUMNS = ("library", "installed", "version", "CUDA build", "devices", "computation ran")

SHORT_NAMES = {"cv2": "OpenCV DNN"}

STATUS_WORDS = {
    "ok": "yes",
    "degraded": "yes, degraded",
    "not_installed": "not installed",
    "import_error": "import error",
    "timeout": "timed out",
    "crashed": "crashed",
    "bad_output": "bad output",
}


def device_label(kind: str, index: int | None) -> str:
    """'cpu', 'cuda:0', 'mps'."""
    return kind if index is None else f"{kind}:{index}"


def cuda_of_build(report: LibraryReport) -> str:
    """The CUDA version the library was built for, 'CPU-only', or '-' when it does not say."""
    build = report.build
    if build.get("cuda_version"):
        return str(build["cuda_version"])
    if build.get("is_cuda_build") is False or build.get("cuda") is False:
        return "CPU-only"
    return "-"


def computation_summary(report: LibraryReport) -> str:
    """Did the computation run on each claimed device: "yes: cpu, cuda:0" or "FAILED: ..."."""
    failed = [device_label(d.kind, d.index) for d in report.devices if d.computation_ok is False]
    passed = [device_label(d.kind, d.index) for d in report.devices if d.computation_ok]
    if failed:
        return "FAILED: " + ", ".join(failed)
    if passed:
        return "yes: " + ", ".join(passed)
    return "-"


def short_name(library: str) -> str:
    """The library's display name, shortened where it would widen the table."""
    return SHORT_NAMES.get(library) or get_library(library).display_name


def matrix_row(report: LibraryReport) -> tuple[Text, ...]:
    """The cells of one library's row, styled by its state."""
    style = STATUS_STYLE.get(report.status, "")
    devices = ", ".join(device_label(d.kind, d.index) for d in report.devices) or "-"
    return (
        Text(short_name(report.name), style="bold " + style),
        Text(STATUS_WORDS.get(report.status, report.status), style=style),
        Text(report.version or "-"),
        Text(cuda_of_build(report)),
        Text(devices),
        Text(
            computation_summary(report),
            style="red" if "FAILED" in computation_summary(report) else "",
        ),
    )


class LibrariesMatrix(DataTable[Text]):
    """The libraries × state table; selecting a row asks for that library's whole probe result."""

    class LibrarySelected(Message):
        """A library's row was chosen (enter or click)."""

        def __init__(self, library: str) -> None:
            super().__init__()
            self.library = library

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        """A placeholder row per known library until a check arrives."""
        self.show({}, checking=True)

    def show(self, reports: dict[str, LibraryReport], *, checking: bool) -> None:
        """Show these reports (by library id); libraries without one say 'checking…' or '-'."""
        cursor = self.cursor_row
        # Rebuilding the columns lets their widths fit the new contents.
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        for spec in LIBRARIES:
            report = reports.get(spec.id)
            if report is None:
                waiting = Text("checking..." if checking else "not checked", style="dim italic")
                self.add_row(
                    Text(short_name(spec.id), style="bold"),
                    waiting,
                    *(Text("") for _ in range(4)),
                    key=spec.id,
                )
            else:
                self.add_row(*matrix_row(report), key=spec.id)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Turn the table's row selection into a LibrarySelected."""
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.LibrarySelected(event.row_key.value))
