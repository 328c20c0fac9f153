"""Sorting a target table: the rows by the chosen column (ascending or reversed, the header
marked ▴/▾), re-sorted only when a result moved a row's key, at most every
:data:`SORT_DELAY` seconds (200 nodes report ~7 results a second; a sort redraws the table)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.timer import Timer

from pacs_tui.model import TargetState
from pacs_tui.screens import PacsScreen
from pacs_tui.screens import table_cells as cells
from pacs_tui.source import Column, Source

if TYPE_CHECKING:
    from pacs_tui.screens.table_trend import TableTrend
    from pacs_tui.widgets import StatusTable

#: Rows whose sort key moved are re-sorted together, at most this often (seconds).
SORT_DELAY = 0.3
#: Sort indicators on the sorted column's header.
ASCENDING = "▴"
DESCENDING = "▾"


class SortedRows(PacsScreen):
    """The sorting half of :class:`~pacs_tui.screens.target_table.TargetTableScreen`, which
    provides the table, columns, rows and trend it uses."""

    sort_column: str = "status"
    sort_reverse: bool = False
    _keys: dict[str, tuple[Any, ...]]
    _sort_timer: Timer | None = None
    if TYPE_CHECKING:
        source: Source
        trend: TableTrend
        _columns: tuple[Column, ...]
        _cells: dict[str, dict[str, tuple[str, str]]]

        @property
        def table(self) -> StatusTable: ...
        def column(self, key: str) -> Column: ...
        def states(self) -> list[TargetState]: ...
        def selected_id(self) -> str | None: ...
        def _update_summary(self) -> None: ...
        def _update_selected(self) -> None: ...

    def _key_moved(self, state: TargetState) -> bool:
        """Did ``state``'s row's sort key change (so the order may have)?"""
        key = self._sort_key(state)
        if self._keys.get(state.id) == key:
            return False
        self._keys[state.id] = key
        return True

    def _sort_soon(self) -> None:
        """Sort once after :data:`SORT_DELAY`, however many rows moved meanwhile."""
        if self._sort_timer is None:
            self._sort_timer = self.set_timer(SORT_DELAY, self._sort_now)

    def _sort_now(self) -> None:
        self._sort_timer = None
        if self.is_current and not self.closing:
            with self.app.batch_update():
                self._sort()

    def _sort_key(self, state: TargetState) -> tuple[Any, ...]:
        column = self.column(self.sort_column)
        return cells.sort_key(self.source, state, column, self.trend.points(state.id))

    def _sort(self, keep: str | None = None, *, top: bool = False) -> None:
        """Order the rows; the cursor stays on ``keep`` (default: the selected node) or, with
        ``top``, goes to the first row."""
        table = self.table
        keep = None if top else keep or self.selected_id()
        # The id column holds the id as shown: sort by what the view knows about that target.
        by_shown = {cells.shown_id(s): s for s in self.states()}
        self._keys = {s.id: self._sort_key(s) for s in by_shown.values()}

        def key(cell: Text) -> tuple[Any, ...]:
            state = by_shown.get(cell.plain)
            return self._keys[state.id] if state is not None else (True, cell.plain)

        for column in self._columns:
            table.set_column_label(column.key, self._header(column))
        id_key = next(c.key for c in self._columns if c.cell == "id")
        table.sort(id_key, key=key, reverse=self.sort_reverse)
        if keep is not None and keep in self._cells:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        elif table.row_count:
            table.move_cursor(row=0, animate=False)
        self._update_summary()
        self._update_selected()

    def _header(self, column: Column) -> str:
        """The column's label, with ▴ or ▾ when the rows are sorted by it."""
        if column.key != self.sort_column:
            return column.label
        descending = column.descending != self.sort_reverse
        return f"{column.label} {DESCENDING if descending else ASCENDING}"

    def _set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        with self.app.batch_update():
            self._sort()

    def action_next_sort(self) -> None:
        keys = [c.key for c in self._columns]
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self._set_sort(keys[(index + 1) % len(keys)], False)

    def action_reverse_sort(self) -> None:
        self._set_sort(self.sort_column, not self.sort_reverse)

    def sort_description(self) -> str:
        """``"sort: status, worst first"``, ``"sort: node"``, ``"sort: node, reversed"``."""
        column = self.column(self.sort_column)
        order = (column.reversed_order or "reversed") if self.sort_reverse else column.order
        return f"sort: {column.label.lower()}" + (f", {order}" if order else "")
