"""The comparison of the libraries as a DataTable sortable by any column (click a header or `s`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from tui.safe_text import safe_text


def row_as_mapping(row: Any) -> Mapping[str, Any]:
    """A comparison row as column -> value, whether it came as a mapping or a dataclass."""
    if isinstance(row, Mapping):
        return row
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return dict(vars(row))


def cell_text(value: Any) -> str:
    """A cell's text: lists joined, booleans as yes/no, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _sort_key(value: Any) -> tuple[int, Any]:
    text = value.plain if isinstance(value, Text) else str(value)
    try:
        return (0, float(text))
    except ValueError:
        return (1, text.lower())


#: Marks after the title of the column the table is sorted by (ascending, descending).
SORT_MARKS = (" \u25b2", " \u25bc")


class ComparisonTable(DataTable[Text]):
    """Rows of the comparison; `s` sorts by the cursor's column, again to reverse.

    The first column (the library) stays in view when the table scrolls sideways, and the
    column it is sorted by carries an arrow after its title. Every cell and title is shown as
    text (the content files' words and a measured device's name are never read as markup).
    """

    BINDINGS = [
        Binding("s", "sort_by_cursor", "Sort", tooltip="Sort by this column (again: reverse)")
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True, fixed_columns=1)
        self._sorted_by: tuple[ColumnKey, bool] | None = None
        self._titles: dict[ColumnKey, str] = {}

    def show(self, rows: Sequence[Any], labels: Mapping[str, str] | None = None) -> None:
        """Fill the table; columns are the rows' keys in order, titled by `labels` when given."""
        self.clear(columns=True)
        mappings = [row_as_mapping(r) for r in rows]
        if not mappings:
            return
        columns = list(mappings[0].keys())
        self._titles = {}
        self._sorted_by = None
        for column in columns:
            title = (labels or {}).get(column, column.replace("_", " "))
            # Room for the sort arrow from the start: widths measured later lag a frame behind.
            key = self.add_column(safe_text(title + "  "), key=column)
            self._titles[key] = title
        for mapping in mappings:
            self.add_row(*(safe_text(cell_text(mapping.get(column))) for column in columns))

    def sort_by(self, column: ColumnKey) -> None:
        """Sort by a column; the same column twice reverses the order."""
        reverse = self._sorted_by is not None and self._sorted_by == (column, False)
        self.sort(column, key=_sort_key, reverse=reverse)
        self._sorted_by = (column, reverse)
        for key, title in self._titles.items():
            mark = SORT_MARKS[reverse] if key == column else "  "
            self.columns[key].label = safe_text(title + mark)
        self.refresh()

    @property
    def sorted_by(self) -> tuple[str, bool] | None:
        """The column key and direction (reverse?) of the last sort."""
        if self._sorted_by is None:
            return None
        return (str(self._sorted_by[0].value), self._sorted_by[1])

    def action_sort_by_cursor(self) -> None:
        """Sort by the column the cursor is in."""
        if self.columns:
            column = list(self.columns.keys())[self.cursor_column]
            self.sort_by(column)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by it."""
        event.stop()
        self.sort_by(event.column_key)
