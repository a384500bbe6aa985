"""The libraries matrix: per library its install, version, CUDA build, devices, computation."""

from __future__ import annotations

from rich.text import Text
from textual.containers import ScrollableContainer
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import DataTable

from probes.catalog import LIBRARIES, get_library
from probes.model import LibraryReport
from tui.presentation import (
    ERROR,
    MUTED,
    build_text,
    library_status_style,
    library_status_words,
)
from tui.safe_text import inert_line, safe_text

COLUMNS = ("library", "installed", "version", "CUDA build", "devices", "computed on")

SHORT_NAMES = {"cv2": "OpenCV DNN"}


def device_label(kind: str, index: int | None) -> str:
    """'cpu', 'cuda:0', 'mps'."""
    return kind if index is None else f"{kind}:{index}"


def device_list(devices: list[tuple[str, int | None]]) -> str:
    """Devices in order, consecutive indices of a kind as a range: 'cpu, cuda:0-7'."""
    parts: list[str] = []
    run: list[tuple[str, int]] = []

    def close_run() -> None:
        if run:
            kind, first = run[0]
            last = run[-1][1]
            parts.append(f"{kind}:{first}" if first == last else f"{kind}:{first}-{last}")
            run.clear()

    for kind, index in devices:
        if index is not None and run and run[-1][0] == kind and run[-1][1] + 1 == index:
            run.append((kind, index))
            continue
        close_run()
        if index is None:
            parts.append(kind)
        else:
            run.append((kind, index))
    close_run()
    return ", ".join(parts)


def computation_summary(report: LibraryReport) -> str:
    """Where the test computation ran: "cpu, cuda:0-7", or "FAILED: cuda:1" where it did not."""
    failed = [(d.kind, d.index) for d in report.devices if d.computation_ok is False]
    passed = [(d.kind, d.index) for d in report.devices if d.computation_ok]
    if failed:
        return "FAILED: " + device_list(failed)
    if passed:
        return device_list(passed)
    return "-"


def short_name(library: str) -> str:
    """The library's display name, shortened where it would widen the table."""
    return SHORT_NAMES.get(library) or get_library(library).display_name


def matrix_row(report: LibraryReport) -> tuple[Text, ...]:
    """The cells of one library's row, styled by its state."""
    devices = device_list([(d.kind, d.index) for d in report.devices]) or "-"
    computed = computation_summary(report)
    return (
        Text(short_name(report.name), style=library_status_style(report.status, strong=True)),
        safe_text(
            inert_line(library_status_words(report.status, short=True)),
            style=library_status_style(report.status),
        ),
        safe_text(inert_line(report.version or "-")),
        safe_text(inert_line(build_text(report))),
        safe_text(inert_line(devices)),
        Text(computed, style=ERROR if computed.startswith("FAILED") else ""),
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

    # The table shows every library without scrolling of its own: the page keys move its cursor
    # to the end and scroll the column around it (the findings below), as they would elsewhere.

    def _column(self) -> ScrollableContainer | None:
        if self.max_scroll_y > 0:
            return None  # a table taller than its room pages through itself
        try:
            return self.query_ancestor(ScrollableContainer)
        except NoMatches:
            return None

    def action_page_down(self) -> None:
        """The next page of the pane (the table's rows all fit), the cursor on the last row."""
        column = self._column()
        if column is None:
            super().action_page_down()
            return
        self.move_cursor(row=self.row_count - 1, scroll=False)
        column.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        """The previous page of the pane, the cursor on the first row."""
        column = self._column()
        if column is None:
            super().action_page_up()
            return
        self.move_cursor(row=0, scroll=False)
        column.scroll_page_up(animate=False)

    def action_scroll_end(self) -> None:
        """End: the last row, and the end of the pane."""
        column = self._column()
        if column is None:
            super().action_scroll_end()
            return
        self.move_cursor(row=self.row_count - 1, scroll=False)
        column.scroll_end(animate=False)

    def action_scroll_home(self) -> None:
        """Home: the first row, and the top of the pane."""
        column = self._column()
        if column is None:
            super().action_scroll_home()
            return
        self.move_cursor(row=0, scroll=False)
        column.scroll_home(animate=False)

    def show(self, reports: dict[str, LibraryReport], *, checking: bool) -> None:
        """Show these reports (by library id); libraries without one say 'checking...' or '-'."""
        cursor = self.cursor_row
        rows: list[tuple[str, tuple[Text, ...]]] = []
        for spec in LIBRARIES:
            report = reports.get(spec.id)
            if report is None:
                waiting = Text("checking..." if checking else "not checked", style=MUTED)
                cells = (
                    Text(short_name(spec.id), style="bold"),
                    waiting,
                    *(Text("") for _ in range(4)),
                )
                rows.append((spec.id, cells))
            else:
                rows.append((spec.id, matrix_row(report)))
        # The columns are rebuilt with widths measured here, to fit the new contents (narrower
        # too). Left to the table, widths are measured when it is next idle, and a frame drawn
        # before that (a focus change, a resize) stays cached with the headers' widths.
        self.clear(columns=True)
        for position, title in enumerate(COLUMNS):
            width = max(Text(title).cell_len, *(cells[position].cell_len for _, cells in rows))
            self.add_column(title, width=width, key=title)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Turn the table's row selection into a LibrarySelected."""
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.LibrarySelected(event.row_key.value))
