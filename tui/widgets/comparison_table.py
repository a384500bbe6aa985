"""The comparison of the libraries as a DataTable sortable by any column (click a header or `s`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
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
#: The widest a column other than the library's gets: longer cells end in an ellipsis (the
#: library's page has them whole), so several columns fit at 80 columns.
MAX_CELL_WIDTH = 28


def _cell(value: Any) -> Text:
    """A cell as inert text on one line, cut with an ellipsis where its column ends."""
    text = safe_text(cell_text(value))
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


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
        rows = [[_cell(mapping.get(column)) for column in columns] for mapping in mappings]
        for position, column in enumerate(columns):
            title = (labels or {}).get(column, column.replace("_", " "))
            # Room for the sort arrow from the start; every width is set here, from the cells,
            # so the sticky library column never narrows when a column (a measurement) is added.
            widest = max([cell_len(title + "  ")] + [row[position].cell_len for row in rows])
            width = widest if position == 0 else min(widest, MAX_CELL_WIDTH)
            key = self.add_column(safe_text(title + "  "), key=column, width=width)
            self._titles[key] = title
        for row in rows:
            self.add_row(*row)

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        """Scroll sideways by whole columns: a column half under the sticky library column
        would show its tail beside it, looking like part of the library's row."""
        super().watch_scroll_x(old_value, new_value)
        snapped = self._column_start(new_value, forward=new_value >= old_value)
        if snapped != new_value:
            self.scroll_to(x=snapped, animate=False, immediate=True)

    def _column_start(self, x: float, *, forward: bool) -> float:
        """The scroll offset nearest `x` (the next one, going `forward`) at which a column
        starts right after the sticky ones."""
        widths = [column.get_render_width(self) for column in self.ordered_columns]
        starts = [0]
        for width in widths[self.fixed_columns : -1]:
            starts.append(starts[-1] + width)
        starts = [start for start in starts if start <= self.max_scroll_x] + [self.max_scroll_x]
        if forward:
            return float(next((s for s in starts if s >= x), self.max_scroll_x))
        return float(max((s for s in starts if s <= x), default=0))

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
