"""The rows of a target table: which are shown (the filter), what their cells say, how results
reach them (together, every ``FLUSH_SECONDS``, only the cells that changed) and their order
(the chosen column, ascending or reversed, the header marked ▴/▾; re-sorted only when a result
moved a row's key)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.timer import Timer

from pacs_tui.model import Status, TargetState
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


class TableRows(PacsScreen):
    """The rows half of :class:`~pacs_tui.screens.target_table.TargetTableScreen`, which
    provides the table, its columns, the filter text and the trend."""

    sort_column: str = "status"
    sort_reverse: bool = False
    _keys: dict[str, tuple[Any, ...]]
    #: Rows off screen whose cells are behind their state (see :meth:`_show_stale`).
    _stale: set[str]
    _sort_timer: Timer | None = None
    if TYPE_CHECKING:
        source: Source
        trend: TableTrend
        _columns: tuple[Column, ...]
        _cells: dict[str, dict[str, tuple[str, Status]]]

        @property
        def table(self) -> StatusTable: ...
        def column(self, key: str) -> Column: ...
        def states(self) -> list[TargetState]: ...
        def selected_id(self) -> str | None: ...
        def _update_summary(self) -> None: ...
        def _update_selected(self) -> None: ...
        def _ago(self, ts: float | None) -> str: ...

        filter_text: str
        _wide: bool
        #: Targets that reported since the last flush, with their status before.
        _dirty: dict[str, Status]
        _flush_timer: Timer | None
        _status_changed: set[str]
        _status_due: bool
        _status_drawn: float

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
        if self._shown() and not self.closing:
            with self.app.batch_update():
                self._sort(keys_kept=True)

    def _sort_key(self, state: TargetState) -> tuple[Any, ...]:
        column = self.column(self.sort_column)
        return cells.sort_key(self.source, state, column, self.trend.points(state.id))

    def _sort(self, keep: str | None = None, *, top: bool = False, keys_kept: bool = False) -> None:
        """Order the rows; the cursor stays on ``keep`` (default: the selected node, unless it
        is on the first row) or, with ``top``, goes to the first row. With ``keys_kept`` the
        rows' keys are those :meth:`_key_moved` kept up to date (a re-sort after results:
        computing all 1,000 again was most of a sort's cost); otherwise every key is computed
        again (a new column, new rows, new trends)."""
        table = self.table
        keep = None if top else keep or self._followed()
        if not keys_kept or not self._keys:
            self._keys = {s.id: self._sort_key(s) for s in self.states()}
        keys = self._keys

        reverse = self.sort_reverse

        def key(row: str) -> tuple[Any, ...]:
            found = keys.get(row)
            if found is None:
                found = (True, row)
            # A key that starts with "no value" (True: an echo, a trend, a since it has not)
            # keeps those rows last in either direction: "fastest first" began with the DOWN.
            if reverse and type(found[0]) is bool:
                return (not found[0], *found[1:])
            return found

        for column in self._columns:
            table.set_column_label(column.key, self._header(column))
        table.reorder(key, self.sort_reverse)
        if keep is not None and keep in self._cells:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        elif table.row_count:
            table.move_cursor(row=0, animate=False)
        self._update_summary()
        self._update_selected()
        self._show_stale()  # rows the sort brought into view

    def _followed(self) -> str | None:
        """The node the cursor stays on when the rows change: None when it is on the first row,
        which it keeps. The first row is the place to watch (worst first): a cursor that
        followed a recovered node down the list scrolled the new worst targets out of sight on
        a screen nobody had touched (or came back to)."""
        return None if self.table.cursor_coordinate.row == 0 else self.selected_id()

    def _show_stale(self) -> None:
        """Write the rows on screen that results reached while they were off it.

        A table of 1,000 targets shows ~40 rows: writing the cells of every row that reported
        (~400 every 2 s at 200 results a second, and every row's "since" at each tick) was
        most of what a Nodes screen cost, in bursts of 40 to 100 ms that held a change of status
        back behind them. Rows off screen keep their sort key current (the order is right);
        their cells are written when a scroll, a resize or a sort shows them.
        """
        if self._stale and not self.closing and self._shown():
            self._write_on_screen()

    def _write_on_screen(self, only: tuple[str, ...] = ()) -> None:
        """Write the rows on screen: whole if results reached them while they were off it,
        else their ``only`` cells (by kind); with ``only``, the rows off screen are left
        behind, to be written whole when they come into view."""
        on_screen = self.table.rows_on_screen()
        if only:
            self._stale.update(self._cells.keys() - set(on_screen))
        view = self.ctx.view
        changes: list[tuple[str, str, Text]] = []
        for row_id in on_screen:
            whole = row_id in self._stale
            self._stale.discard(row_id)
            state = view.state(row_id)
            if state is not None and (whole or only):
                changes += self._row_changes(state, None if whole else only)
        if changes:
            with self.app.batch_update():
                self.table.update_cells(changes)

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

    def _flush(self) -> None:
        """Draw the results that came in since the last flush."""
        self._flush_timer = None
        dirty, self._dirty = self._dirty, {}
        self._draw(dirty, sort_now=True)

    def _flush_status(self) -> None:
        """Draw the rows whose status changed, now; they move to their place at the next sort
        (within :data:`SORT_DELAY`), the other results wait for the next flush."""
        self._status_due = False
        self._status_drawn = time.monotonic()
        changed, self._status_changed = self._status_changed, set()
        self._draw({t: self._dirty.pop(t) for t in changed if t in self._dirty}, sort_now=False)

    def _draw(self, dirty: dict[str, Status], *, sort_now: bool) -> None:
        """Redraw the cells of the ``dirty`` rows that changed (with each one's status before
        its first result since the last draw); re-sort if a key moved."""
        if not dirty or self.closing or not self._shown():
            return  # hidden: sync() re-reads everything when the screen is shown again
        view = self.ctx.view
        states = [s for s in (view.state(t) for t in dirty) if s is not None]
        needle = self.filter_text.lower()
        if any((s.id in self._cells) != cells.matches(self.source, s, needle) for s in states):
            if any(s.id not in self._cells and s.id not in self._keys for s in states):
                self._new_targets()  # a reload added one: the columns may fit it anew
            self._apply_filter()  # a status word changed in or out of the filter
            return
        shown = [s for s in states if s.id in self._cells]
        # Only the rows on screen are written; the others when they come into view.
        on_screen = set(self.table.rows_on_screen())
        self._stale.update(s.id for s in shown if s.id not in on_screen)
        with self.app.batch_update():
            self.table.update_cells(
                [c for s in shown if s.id in on_screen for c in self._row_changes(s)]
            )
            if self.column(self.sort_column).dynamic:
                moved = [self._key_moved(s) for s in shown]  # every key, not the first moved
                if any(moved):
                    if sort_now:
                        self._sort(keys_kept=True)
                    else:
                        self._sort_soon()
        if any(s.status is not dirty[s.id] for s in states):
            self._update_summary()
        if self.selected_id() in dirty:
            self._update_selected()

    def _new_targets(self) -> None:
        """Targets the table has not shown yet came (a reload): the subclass's columns may be
        fitted to them again."""

    def _shown(self) -> bool:
        """Is this screen the one on top? (``is_current`` is also true for the screen under a
        detail screen, which must not keep redrawing a table no one sees.)"""
        return self.app.screen is self

    def _apply_filter(self, keep: str | None = None) -> None:
        """Add the rows that match the filter and are missing, remove those that no longer do.

        The cursor stays on the node it was on (``keep``), or on the first row if it was there
        (the screen shown again after the order changed behind it); on a fresh table it starts
        at the top.
        """
        table = self.table
        fresh = not self._cells
        keep = keep or (None if fresh else self._followed())
        needle = self.filter_text.lower()
        wanted = {s.id: s for s in self.states() if cells.matches(self.source, s, needle)}
        with self.app.batch_update():
            for row_id in [r for r in self._cells if r not in wanted]:
                table.remove_row(row_id)
                del self._cells[row_id]
                self._keys.pop(row_id, None)
            changes = []
            for row_id, state in wanted.items():
                if row_id in self._cells:
                    changes += self._row_changes(state)
                else:
                    texts = {c.key: self._text(state, c) for c in self._columns}
                    row = [cells.styled(table, c, state, texts[c.key]) for c in self._columns]
                    table.add_row(*row, key=row_id)
                    self._cells[row_id] = {k: (t, state.status) for k, t in texts.items()}
            table.update_cells(changes)
            self._stale.clear()  # every row was written
            self._sort(keep, top=fresh and keep is None)
        self._update_summary()

    def _row_changes(
        self, state: TargetState, only: tuple[str, ...] | None = None
    ) -> list[tuple[str, str, Text]]:
        """The cells of ``state``'s row whose content changed, as (row, column, cell) for
        :meth:`StatusTable.update_cells`; they are recorded as shown."""
        shown = self._cells.get(state.id)
        if shown is None:
            return []
        changes = []
        for column in self._columns:
            if only is not None and column.cell not in only:
                continue
            # A cell's look follows from its text and the status (the theme's changes rebuild
            # every row): a cell is styled only when one of them changed, not at every result.
            text = self._text(state, column)
            sig = (text, state.status)
            if shown.get(column.key) != sig:
                shown[column.key] = sig
                cell = cells.styled(self.table, column, state, text)
                changes.append((state.id, column.key, cell))
        return changes

    def _text(self, state: TargetState, column: Column) -> str:
        if column.cell == "since":
            return self._ago(state.since)
        if column.cell == "trend":
            return self._sparkline(state, column)
        return cells.plain_text(self.source, state, column)

    def _sparkline(self, state: TargetState, column: Column) -> str:
        width = cells.TREND_WIDE if self._wide else cells.TREND_NARROW
        return self.trend.sparkline(state, column, self.ctx.now(), width, self.ctx.recent)
