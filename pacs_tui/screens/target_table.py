"""A target table: one source's targets in a keyed table, worst first, updated cell by cell.

The screen is generic: a source's :class:`~pacs_tui.source.Column` spec says what each column
holds (:mod:`pacs_tui.screens.table_cells` draws it), so the DICOM nodes and the command checks
are two instances of this class. Row key = target id; column keys are the spec's keys. An
update touches only the cells whose text changed, inside ``app.batch_update()``; rows are added
or removed only when the filter changes, and the rows are re-sorted only when a row's sort key
moved (at most every :data:`SORT_DELAY` seconds). Below 120 columns the wide-only columns are
left out (the selected line and the detail screen show them). Below the table a line shows the
selected target's status and reason in full (wrapped), so the words that explain a failure are
never cut off. The sorted column's header carries ▴ (ascending) or ▾ (descending).

The trend is the last hour of each target's headline metric from the history, re-read every
:data:`TREND_REFRESH` seconds in a worker and extended live from each result. Time slots in
which the target was DOWN (from the status changes) show the DOWN glyph instead of a bar.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Static
from textual.widgets.data_table import CellDoesNotExist

from pacs_tui.model import EventKind, Status, TargetState
from pacs_tui.screens import TICK_SECONDS, WIDE, PacsScreen, UiContext
from pacs_tui.screens import table_cells as cells
from pacs_tui.source import Column, Source
from pacs_tui.ui_format import (
    DOWN_MARK,
    ago,
    bucket_series,
    down_periods,
    mark_buckets,
    sparkline,
    when,
)
from pacs_tui.visible import VALUE_LIMIT, visible
from pacs_tui.widgets import StatusTable
from pacs_tui.widgets.status_table import plain

log = logging.getLogger(__name__)

#: Seconds of history behind the trend column.
TREND_WINDOW = 3600.0
#: How often the trend is re-read from the history while the screen shows, in seconds.
TREND_REFRESH = 30.0
#: How long a "probing now" notice stays (short: it must not hide the chart for long).
NOTIFY_SECONDS = 2.0
#: Rows whose sort key moved are re-sorted together, at most this often (seconds): 200 nodes
#: report ~7 results a second, and a sort redraws the whole table.
SORT_DELAY = 0.3
#: Sort indicators on the sorted column's header.
ASCENDING = "▴"
DESCENDING = "▾"
_NARROW_TREND = 8
#: The reason is what an admin reads first: below this width, optional columns give way.
REASON_FIRST = 36


class TargetTableScreen(PacsScreen):
    """One source's targets in a table with filter, sorting, details and probe-now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "filter",
            "Filter",
            id="table.filter",
            tooltip="Filter rows by id, labels, address or status",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="table.clear_filter",
            show=False,
            tooltip="Clear the filter and show every row",
        ),
        Binding(
            "enter",
            "open_selected",
            "Details",
            id="table.open",
            # Priority, so that it is the table's Enter shown in the footer; in the filter field
            # the action skips and Enter goes to the field.
            priority=True,
            tooltip="Open the selected target's details",
        ),
        Binding(
            "p",
            "probe_selected",
            "Probe",
            id="table.probe",
            tooltip="Check the selected target now",
        ),
        Binding(
            "s",
            "next_sort",
            "Sort",
            id="table.sort",
            show=False,
            tooltip="Sort by the next column (or click a column header)",
        ),
        Binding(
            "r",
            "reverse_sort",
            "Reverse",
            id="table.reverse",
            show=False,
            tooltip="Reverse the sort order",
        ),
    ]

    AUTO_FOCUS = "#target-table"

    def __init__(self, ctx: UiContext, source: Source, *, screen_id: str | None = None) -> None:
        super().__init__(ctx, id=screen_id or source.screen)
        self.source = source
        self.filter_text = ""
        self.sort_column = "status"
        self.sort_reverse = False
        self._columns: tuple[Column, ...] = ()
        self._layout: tuple[Any, ...] = ()
        #: What each shown cell holds now: (plain text, style) per column, per row key.
        self._cells: dict[str, dict[str, tuple[str, str]]] = {}
        self._trend: dict[str, list[tuple[float, float]]] = {}
        #: Status changes of the trend window per node, from the history: (ts, before, after).
        self._changes: dict[str, list[tuple[float, object, object]]] = {}
        self._trend_loaded_at: float | None = None
        #: The one clock every "since" on this screen is shown against: set by the tick and
        #: when the screen is shown, so the table and the selected line always agree.
        self._clock: float | None = None
        self._wide = False
        #: Each shown row's key in the sorted column, to tell whether a result moved it.
        self._keys: dict[str, tuple[Any, ...]] = {}
        self._sort_timer: Timer | None = None
        #: The texts last written to the summary and selected lines (an unchanged text is not
        #: written again: a Label update re-lays the screen out).
        self._summary_shown: str | None = None
        self._selected_shown: Text | None = None

    def compose_body(self) -> ComposeResult:
        yield Label("", id="table-summary", markup=False)
        with Horizontal(id="filter-bar"):
            yield Label("Filter:", id="filter-label")
            yield Input(placeholder=cells.filter_hint(self.source), id="filter", compact=True)
        yield StatusTable(id="target-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="table-selected")

    def on_mount(self) -> None:
        self._relayout(self.app.size.width)
        self.set_interval(TICK_SECONDS, self._tick)
        self.set_interval(TREND_REFRESH, self._refresh_trend)
        self.load_trend()

    # -- reading ----------------------------------------------------------------------------

    @property
    def table(self) -> StatusTable:
        return self.query_one("#target-table", StatusTable)

    def states(self) -> list[TargetState]:
        kinds = self.source.kinds
        return [s for s in self.ctx.view.states() if s.target.kind in kinds]

    def column(self, key: str) -> Column:
        return next((c for c in self.source.columns if c.key == key), self.source.columns[0])

    def selected_id(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    # -- hooks ------------------------------------------------------------------------------

    def shown_now(self) -> float:
        """The moment "since" is shown against (see ``_clock``)."""
        return self._clock if self._clock is not None else self.ctx.now()

    def _ago(self, ts: float | None) -> str:
        now = self.shown_now()
        # A change newer than the clock (between two ticks) reads "just now", never "in 3s".
        return ago(ts, max(now, ts) if ts is not None else now)

    def sync(self) -> None:
        """Re-read every state (the screen is being shown again)."""
        self._clock = self.ctx.now()
        self._apply_filter()
        loaded = self._trend_loaded_at
        if loaded is None or self.ctx.now() - loaded >= TREND_REFRESH:
            self.load_trend()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        if state.target.kind not in self.source.kinds:
            return
        metric = self.source.headline_metric(state)
        value = state.metrics.get(metric) if metric else None
        if value is not None and state.last_seen is not None:
            points = self._trend.setdefault(state.id, [])
            if not points or points[-1][0] < state.last_seen:
                points.append((state.last_seen, value))
        shown = state.id in self._cells
        wanted = cells.matches(self.source, state, self.filter_text.lower())
        if shown != wanted:
            self._apply_filter()  # the status word changed in or out of the filter
            return
        if not shown:
            return
        with self.app.batch_update():
            self._update_row(state)
        if self.column(self.sort_column).dynamic and self._key_moved(state):
            self._sort_soon()
        if state.status is not previous:
            self._update_summary()
        if state.id == self.selected_id():
            self._update_selected()

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

    def restyle(self) -> None:
        self._layout = ()  # force the rebuild: every cell is drawn again with the new theme
        self._relayout(self.size.width)

    # -- columns and rows -------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._relayout(event.size.width)

    def _relayout(self, width: int) -> None:
        """(Re)build the columns for ``width``; rows are re-added only when the layout changes.

        The reason gets its room first: when it would be narrower than :data:`REASON_FIRST`,
        the columns the selected-node line repeats (role, AE title, address) are left out, in
        that order, before the reason is squeezed.
        """
        wide = width >= WIDE
        self._wide = wide
        columns = tuple(c for c in self.source.columns if wide or c.narrow)
        widths = self._widths(columns, wide, width)
        # The wide-only columns the selected line repeats give way first, last declared first.
        for optional in [c for c in reversed(columns) if not c.narrow]:
            if widths.get("reason", REASON_FIRST) >= REASON_FIRST:
                break
            columns = tuple(c for c in columns if c is not optional)
            widths = self._widths(columns, wide, width)
        layout = (columns, tuple(sorted(widths.items())))
        if layout == self._layout:
            return
        self._layout = layout
        self._columns = columns
        table = self.table
        selected = self.selected_id()
        with self.app.batch_update():
            table.clear(columns=True)
            self._cells.clear()
            for column in columns:
                table.add_column(self._header(column), width=widths[column.key], key=column.key)
            self._apply_filter(selected)

    def _widths(self, columns: tuple[Column, ...], wide: bool, width: int) -> dict[str, int]:
        states = self.states()
        widths: dict[str, int] = {}
        for column in columns:
            room = len(column.label) + 2  # the label and its sort indicator
            if column.cell == "trend" and not wide:
                widths[column.key] = max(_NARROW_TREND, room)
            elif column.width is not None:
                widths[column.key] = max(column.width, room)
            elif column.cell != "reason":
                longest = max((len(self._text(s, column)) for s in states), default=4)
                widths[column.key] = min(max(longest, room), 28)
        padding = 2 * self.table.cell_padding
        used = sum(widths.values()) + padding * len(columns) + 2  # + vertical scrollbar
        for column in columns:
            if column.cell == "reason":  # the reason takes the rest
                widths[column.key] = max(12, width - used)
        return widths

    def _apply_filter(self, keep: str | None = None) -> None:
        """Add the rows that match the filter and are missing, remove those that no longer do.

        The cursor stays on the node it was on (``keep``); on a fresh table it starts at the top.
        """
        table = self.table
        fresh = not self._cells
        keep = keep or (None if fresh else self.selected_id())
        needle = self.filter_text.lower()
        wanted = {s.id: s for s in self.states() if cells.matches(self.source, s, needle)}
        with self.app.batch_update():
            for row_id in [r for r in self._cells if r not in wanted]:
                table.remove_row(row_id)
                del self._cells[row_id]
                self._keys.pop(row_id, None)
            for row_id, state in wanted.items():
                if row_id in self._cells:
                    self._update_row(state)
                else:
                    row = self._render_cells(state)
                    table.add_row(*(row[c.key] for c in self._columns), key=row_id)
                    self._cells[row_id] = {k: _sig(v) for k, v in row.items()}
            self._sort(keep, top=fresh and keep is None)
        self._update_summary()

    def _update_row(self, state: TargetState, only: tuple[str, ...] | None = None) -> None:
        """Write the cells of ``state``'s row whose content changed (call inside batch_update)."""
        shown = self._cells.get(state.id)
        if shown is None:
            return
        table = self.table
        for key, cell in self._render_cells(state, only).items():
            sig = _sig(cell)
            if shown.get(key) != sig:
                table.update_cell(state.id, key, cell)
                shown[key] = sig

    def _render_cells(
        self, state: TargetState, only: tuple[str, ...] | None = None
    ) -> dict[str, Text]:
        table = self.table
        out: dict[str, Text] = {}
        for column in self._columns:
            key = column.key
            if only is not None and column.cell not in only:
                continue
            cell = column.cell
            if cell == "status":
                out[key] = table.status_text(state.status)
            elif cell == "trend":
                out[key] = self._trend_text(table, state, column)
            elif cell == "value":
                text = self._text(state, column)
                out[key] = Text(text, justify="right", no_wrap=True, end="")
            elif cell == "reason" and state.status is not Status.OK:
                style = table.status_style(state.status)
                text = self._text(state, column)
                out[key] = Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")
            elif cell == "since" or (cell == "label" and column.width is not None):
                out[key] = table.dim_text(self._text(state, column))
            else:
                out[key] = plain(self._text(state, column))
        return out

    def _text(self, state: TargetState, column: Column) -> str:
        if column.cell == "since":
            return self._ago(state.since)
        if column.cell == "trend":
            return self._sparkline(state, column)
        return cells.plain_text(self.source, state, column)

    def _trend_width(self) -> int:
        return 12 if self._wide else _NARROW_TREND

    def _sparkline(self, state: TargetState, column: Column) -> str:
        found = cells.headline(self.source, state, column)
        now = self.ctx.now()
        start = now - TREND_WINDOW
        width = self._trend_width()
        values = bucket_series(self._trend.get(state.id, []), start, now, width, how="max")
        marks = mark_buckets(self.down_periods(state, start, now), start, now, width)
        lo, hi, log_scale = cells.trend_scale(found[1]) if found else (None, None, False)
        return sparkline(values, lo=lo, hi=hi, log=log_scale, gap="·", marks=marks)

    def _trend_text(self, table: StatusTable, state: TargetState, column: Column) -> Text:
        """The sparkline, its DOWN marks in the DOWN colour (the glyph says it without colour)."""
        text = Text(self._sparkline(state, column), no_wrap=True, end="")
        if DOWN_MARK in text.plain:
            style = table.status_style(Status.DOWN)
            for index, char in enumerate(text.plain):
                if char == DOWN_MARK:
                    text.stylize(style, index, index + 1)
        return text

    def down_periods(
        self, state: TargetState, start: float, end: float
    ) -> list[tuple[float, float]]:
        """When ``state``'s target was DOWN within ``[start, end]``: the history's status changes,
        the live ones the app keeps (also while this screen is hidden) and the current status."""
        changes = list(self._changes.get(state.id, ()))
        changes += [
            (e.ts, e.fields.get("from"), e.status or e.fields.get("to"))
            for e in self.ctx.recent
            if e.target == state.id
        ]
        return down_periods(changes, start, end, current=state.status, since=state.since)

    # -- sorting ----------------------------------------------------------------------------

    def _sort_key(self, state: TargetState) -> tuple[Any, ...]:
        column = self.column(self.sort_column)
        return cells.sort_key(self.source, state, column, self._trend.get(state.id, ()))

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

    @on(DataTable.HeaderSelected, "#target-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        reverse = not self.sort_reverse if column == self.sort_column else False
        self._set_sort(column, reverse)

    def action_next_sort(self) -> None:
        keys = [c.key for c in self._columns]
        index = keys.index(self.sort_column) if self.sort_column in keys else -1
        self._set_sort(keys[(index + 1) % len(keys)], False)

    def action_reverse_sort(self) -> None:
        self._set_sort(self.sort_column, not self.sort_reverse)

    # -- summary line -----------------------------------------------------------------------

    def sort_description(self) -> str:
        """``"sort: status, worst first"``, ``"sort: node"``, ``"sort: node, reversed"``."""
        column = self.column(self.sort_column)
        order = (column.reversed_order or "reversed") if self.sort_reverse else column.order
        return f"sort: {column.label.lower()}" + (f", {order}" if order else "")

    def _update_summary(self) -> None:
        states = self.states()
        bad = sum(1 for s in states if s.status is not Status.OK)
        shown = len(self._cells)
        if self.filter_text:
            parts = [f"{shown} of {len(states)} match"]
        else:
            noun = self.source.noun + ("s" if len(states) != 1 else "")
            parts = [f"{len(states)} {noun}", f"{bad} not OK"]
        parts.append(self.sort_description())
        text = " · ".join(parts)
        if text != self._summary_shown:
            self._summary_shown = text
            self.query_one("#table-summary", Label).update(text)

    # -- selected node line -----------------------------------------------------------------

    def selected_text(self) -> Text:
        """The selected target's status, address and labels, its reason in full and since
        when; "" when none."""
        target_id = self.selected_id()
        state = self.ctx.view.state(target_id) if target_id is not None else None
        if state is None:
            return Text("Nothing matches the filter." if self.filter_text else "")
        table = self.table
        style = table.status_style(state.status)
        text = Text()
        text.append_text(table.status_text(state.status))
        text.append("  ")
        text.append(cells.shown_id(state), style="bold")
        facts = cells.selected_facts(self.source, state)
        if facts:  # the columns an 80-column table leaves out
            text.append_text(table.dim_text(f" {facts}"))
        if state.reason != state.status.word:
            text.append(" — ")
            reason = cells.reason_text(state)
            text.append(reason, style=style if state.status is not Status.OK else "")
        if state.since is not None:
            when_text = when(state.since, self.shown_now(), self.ctx.tz)
            since = f"since {when_text} ({self._ago(state.since)})"
            text.append(" · ")
            text.append_text(table.dim_text(since))
        return text

    def _update_selected(self) -> None:
        text = self.selected_text()
        if text != self._selected_shown:
            self._selected_shown = text
            self.query_one("#table-selected", Static).update(text)

    @on(DataTable.RowHighlighted, "#target-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_selected()

    # -- timers and the trend worker --------------------------------------------------------

    def _tick(self) -> None:
        if not self.is_current:
            return
        self._clock = self.ctx.now()
        with self.app.batch_update():
            for state in self.states():
                self._update_row(state, only=("since",))
        self._update_selected()
        if self.sort_column == "since":
            self._sort_soon()

    def _refresh_trend(self) -> None:
        if self.is_current:
            self.load_trend()

    @work(exclusive=True, group="table-trend")
    async def load_trend(self) -> None:
        """Re-read the last hour of every target's headline metric from the history."""
        now = self.ctx.now()
        since = now - TREND_WINDOW
        if not any(c.cell == "trend" for c in self.source.columns):
            return
        try:
            for state in self.states():
                metric = self.source.headline_metric(state)
                if metric is None:
                    continue
                points = await self.ctx.view.series(state.id, metric, since)
                history = [(p.ts, p.avg) for p in points]
                last = history[-1][0] if history else since
                live = [p for p in self._trend.get(state.id, []) if p[0] > last]
                self._trend[state.id] = history + live
            events = await self.ctx.view.events(kind=EventKind.STATUS_CHANGE, since=since)
            changes: dict[str, list[tuple[float, object, object]]] = {}
            for event in events:
                if event.kind == EventKind.STATUS_CHANGE:
                    changes.setdefault(event.target, []).append(
                        (event.ts, event.fields.get("from"), event.status or event.fields.get("to"))
                    )
            self._changes = changes
        except Exception:
            log.exception("could not read the trend from the history")
            return
        self._trend_loaded_at = now
        if self.is_current and not self.closing:  # closing: the app quits, the table is gone
            with self.app.batch_update():
                for state in self.states():
                    self._update_row(state, only=("trend",))
                if self.column(self.sort_column).cell == "trend":
                    self._sort()

    # -- filter -----------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#filter-bar").add_class("-filtering")
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        self.query_one("#filter-bar").remove_class("-filtering")
        self.table.focus()
        if self.filter_text:
            self.filter_text = ""
            self._apply_filter()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._apply_filter()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    # -- actions ----------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#target-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_detail(event.row_key.value)

    def action_open_selected(self) -> None:
        if self.focused is not self.table:
            raise SkipAction()  # Enter in the filter field goes to the field
        target_id = self.selected_id()
        if target_id is not None:
            self.open_detail(target_id)

    def open_detail(self, target_id: str) -> None:
        from pacs_tui.screens.target_detail import TargetDetailScreen

        # Only from the screen shown: an Enter that reaches this screen after a detail screen was
        # pushed over it (two in one burst) must not stack a second one.
        if self.ctx.view.state(target_id) is not None and self.is_active:
            self.app.push_screen(TargetDetailScreen(self.ctx, target_id))

    def action_probe_selected(self) -> None:
        target_id = self.selected_id()
        if target_id is None:
            self.notify("Nothing selected.", severity="warning")
            return
        probe_now(self, target_id)


def probe_now(screen: PacsScreen, target_id: str) -> None:
    """Ask the engine to check ``target_id`` now and say so."""
    shown = visible(target_id, VALUE_LIMIT)
    if screen.ctx.view.probe_now(target_id):
        screen.notify(f"Probing {shown} now…", timeout=NOTIFY_SECONDS, markup=False)
    elif screen.ctx.view.state(target_id) is not None:
        screen.notify(f"{shown} reports on its own; it cannot be probed.", markup=False)
    else:
        screen.notify(f"{shown} is not a known target.", severity="error", markup=False)


def _sig(cell: Text) -> tuple[str, str]:
    return (cell.plain, str(cell.style))
