"""Nodes: every DICOM node in a keyed table, worst first, updated cell by cell.

Row key = target id; column keys are the :data:`COLUMNS` keys. An update touches only the cells
whose text changed, inside ``app.batch_update()``; rows are added or removed only when the filter
changes. Below 120 columns the AE title, address and role columns are left out (the detail
screen shows them) so that status, latency, trend, since and reason fit in 80 columns. Below the
table a line shows the selected node's status and reason in full (wrapped), so the words that
explain a failure are never cut off, whatever the width. The sorted column's header carries ▴
(ascending) or ▾ (descending).

Ids, AE titles, addresses, roles and reasons come from the config and from peers: every cell
and line shows them :func:`~pacs_tui.visible.visible` (control characters as ``␛``, never as
markup), and the filter matches what is shown.

The latency trend is the last hour of ``echo_seconds`` from the history, re-read every
:data:`TREND_REFRESH` seconds in a worker and extended live from each check's result. Time slots
in which the node was DOWN (from the status changes) show the DOWN glyph instead of a bar.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.widgets import DataTable, Input, Label, Static
from textual.widgets.data_table import CellDoesNotExist

from pacs_tui.model import EventKind, Status, TargetKind, TargetState
from pacs_tui.screens import TICK_SECONDS, WIDE, PacsScreen, UiContext
from pacs_tui.ui_format import (
    DOWN_MARK,
    ago,
    bucket_series,
    down_periods,
    mark_buckets,
    ms,
    sparkline,
    when,
)
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, host_port, visible
from pacs_tui.widgets import StatusTable
from pacs_tui.widgets.status_table import plain

log = logging.getLogger(__name__)

METRIC = "echo_seconds"
#: Seconds of history behind the trend column.
TREND_WINDOW = 3600.0
#: How often the trend is re-read from the history while the screen shows, in seconds.
TREND_REFRESH = 30.0
#: Trend bars share one log scale, 1 ms (lowest) to 2 s (highest), so rows compare.
TREND_LO = 0.001
TREND_HI = 2.0
#: How long a "probing now" notice stays (short: it must not hide the chart for long).
NOTIFY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None  # None: sized from the data
    narrow: bool  # shown below WIDE columns
    #: How the default order reads in the summary ("worst first"); "" for plain A to Z.
    order: str = ""
    #: How the reversed order reads ("best first"); "" for "reversed".
    reversed_order: str = ""
    #: The default order is descending (worst, slowest, latest first): the header shows ▾.
    descending: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("status", "Status", 9, True, "worst first", "best first", descending=True),
    Column("id", "Node", None, True),
    Column("aet", "AE title", None, False),
    Column("address", "Host:port", None, False),
    Column("role", "Role", 8, False),
    Column("latency", "Echo", 7, True, "slowest first", "fastest first", descending=True),
    Column("trend", "Last 1h", 12, True, "slowest first", "fastest first", descending=True),
    Column("since", "Since", 10, True, "latest change first", "oldest first", descending=True),
    Column("reason", "Reason", None, True),
)
#: Columns whose order can change when a check result arrives (the others are configuration).
DYNAMIC_SORT = frozenset({"status", "latency", "trend", "since", "reason"})
#: Sort indicators on the sorted column's header.
ASCENDING = "▴"
DESCENDING = "▾"
_NARROW_TREND = 8
#: The reason is what an admin reads first: below this width, optional columns give way.
REASON_FIRST = 36


def address(state: TargetState) -> str:
    """``host:port`` (``[::1]:104`` for IPv6), made visible."""
    return host_port(state.target.label("host"), state.target.label("port") or None)


def shown_id(state: TargetState) -> str:
    """The target's id as the screens show it."""
    return visible(state.target.id, VALUE_LIMIT)


def matches(state: TargetState, needle: str) -> bool:
    """Does the filter ``needle`` (lower case) occur in the id, AET, address, role or status, as
    they are shown?"""
    if not needle:
        return True
    hay = (
        shown_id(state),
        visible(state.target.label("aet"), VALUE_LIMIT),
        address(state),
        visible(state.target.label("role"), VALUE_LIMIT),
        state.status.word,
    )
    return any(needle in field.lower() for field in hay)


class NodesScreen(PacsScreen):
    """The DICOM nodes table with filter, sorting and probe-now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "filter",
            "Filter",
            id="nodes.filter",
            tooltip="Filter rows by id, AE title, host, role or status",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="nodes.clear_filter",
            show=False,
            tooltip="Clear the filter and show every node",
        ),
        Binding(
            "enter",
            "open_selected",
            "Details",
            id="nodes.open",
            # Priority, so that it is the table's Enter shown in the footer; in the filter field
            # the action skips and Enter goes to the field.
            priority=True,
            tooltip="Open the selected node's details",
        ),
        Binding(
            "p", "probe_selected", "Probe", id="nodes.probe", tooltip="Check the selected node now"
        ),
        Binding(
            "s",
            "next_sort",
            "Sort",
            id="nodes.sort",
            show=False,
            tooltip="Sort by the next column (or click a column header)",
        ),
        Binding(
            "r",
            "reverse_sort",
            "Reverse",
            id="nodes.reverse",
            show=False,
            tooltip="Reverse the sort order",
        ),
    ]

    AUTO_FOCUS = "#nodes-table"

    def __init__(self, ctx: UiContext, *, kind: str = TargetKind.DICOM_NODE) -> None:
        super().__init__(ctx, id="nodes")
        self.kind = kind
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

    def compose_body(self) -> ComposeResult:
        yield Label("", id="nodes-summary", markup=False)
        with Horizontal(id="filter-bar"):
            yield Label("Filter:", id="filter-label")
            yield Input(placeholder="id, AET, host, role or status", id="filter", compact=True)
        yield StatusTable(id="nodes-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="nodes-selected")

    def on_mount(self) -> None:
        self._relayout(self.app.size.width)
        self.set_interval(TICK_SECONDS, self._tick)
        self.set_interval(TREND_REFRESH, self._refresh_trend)
        self.load_trend()

    # -- reading ----------------------------------------------------------------------------

    @property
    def table(self) -> StatusTable:
        return self.query_one("#nodes-table", StatusTable)

    def states(self) -> list[TargetState]:
        return [s for s in self.ctx.engine.states.values() if s.target.kind == self.kind]

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
        if state.target.kind != self.kind:
            return
        value = state.metrics.get(METRIC)
        if value is not None and state.last_seen is not None:
            points = self._trend.setdefault(state.id, [])
            if not points or points[-1][0] < state.last_seen:
                points.append((state.last_seen, value))
        shown = state.id in self._cells
        wanted = matches(state, self.filter_text.lower())
        if shown != wanted:
            self._apply_filter()  # the status word changed in or out of the filter
            return
        if not shown:
            return
        with self.app.batch_update():
            self._update_row(state)
            if self.sort_column in DYNAMIC_SORT:
                self._sort()
        self._update_summary()
        self._update_selected()

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
        columns = tuple(c for c in COLUMNS if wide or c.narrow)
        widths = self._widths(columns, wide, width)
        for optional in ("role", "aet", "address"):
            if widths["reason"] >= REASON_FIRST:
                break
            if any(c.key == optional for c in columns):
                columns = tuple(c for c in columns if c.key != optional)
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
            if column.key == "trend" and not wide:
                widths[column.key] = max(_NARROW_TREND, room)
            elif column.width is not None:
                widths[column.key] = max(column.width, room)
            elif column.key != "reason":
                longest = max((len(self._text(s, column.key)) for s in states), default=4)
                widths[column.key] = min(max(longest, room), 28)
        padding = 2 * self.table.cell_padding
        used = sum(widths.values()) + padding * len(columns) + 2  # + vertical scrollbar
        widths["reason"] = max(12, width - used)
        return widths

    def _apply_filter(self, keep: str | None = None) -> None:
        """Add the rows that match the filter and are missing, remove those that no longer do.

        The cursor stays on the node it was on (``keep``); on a fresh table it starts at the top.
        """
        table = self.table
        fresh = not self._cells
        keep = keep or (None if fresh else self.selected_id())
        needle = self.filter_text.lower()
        wanted = {s.id: s for s in self.states() if matches(s, needle)}
        with self.app.batch_update():
            for row_id in [r for r in self._cells if r not in wanted]:
                table.remove_row(row_id)
                del self._cells[row_id]
            for row_id, state in wanted.items():
                if row_id in self._cells:
                    self._update_row(state)
                else:
                    cells = self._render_cells(state)
                    table.add_row(*(cells[c.key] for c in self._columns), key=row_id)
                    self._cells[row_id] = {k: _sig(v) for k, v in cells.items()}
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
        cells: dict[str, Text] = {}
        for column in self._columns:
            key = column.key
            if only is not None and key not in only:
                continue
            if key == "status":
                cells[key] = table.status_text(state.status)
            elif key == "trend":
                cells[key] = self._trend_text(table, state)
            elif key == "latency":
                cells[key] = Text(self._text(state, key), justify="right", no_wrap=True, end="")
            elif key == "reason" and state.status is not Status.OK:
                style = table.status_style(state.status)
                cells[key] = Text(
                    self._text(state, key), style=style, no_wrap=True, overflow="ellipsis", end=""
                )
            elif key in ("since", "role"):
                cells[key] = table.dim_text(self._text(state, key))
            else:
                cells[key] = plain(self._text(state, key))
        return cells

    def _text(self, state: TargetState, key: str) -> str:
        if key == "id":
            return shown_id(state)
        if key == "aet":
            return visible(state.target.label("aet"), VALUE_LIMIT)
        if key == "address":
            return address(state)
        if key == "role":
            return visible(state.target.label("role"), VALUE_LIMIT)
        if key == "latency":
            return ms(state.metrics.get(METRIC)) if state.status is not Status.DOWN else "—"
        if key == "trend":
            return self._sparkline(state)
        if key == "since":
            return self._ago(state.since)
        if key == "reason":
            return "" if state.reason == state.status.word else visible(state.reason, TEXT_LIMIT)
        return state.status.label

    def _trend_width(self) -> int:
        wide = any(c.key == "trend" and c.width == 12 for c in self._columns) and self._wide
        return 12 if wide else _NARROW_TREND

    def _sparkline(self, state: TargetState) -> str:
        now = self.ctx.now()
        start = now - TREND_WINDOW
        width = self._trend_width()
        values = bucket_series(self._trend.get(state.id, []), start, now, width, how="max")
        marks = mark_buckets(self.down_periods(state, start, now), start, now, width)
        return sparkline(values, lo=TREND_LO, hi=TREND_HI, log=True, gap="·", marks=marks)

    def _trend_text(self, table: StatusTable, state: TargetState) -> Text:
        """The sparkline, its DOWN marks in the DOWN colour (the glyph says it without colour)."""
        text = Text(self._sparkline(state), no_wrap=True, end="")
        if DOWN_MARK in text.plain:
            style = table.status_style(Status.DOWN)
            for index, char in enumerate(text.plain):
                if char == DOWN_MARK:
                    text.stylize(style, index, index + 1)
        return text

    def down_periods(
        self, state: TargetState, start: float, end: float
    ) -> list[tuple[float, float]]:
        """When ``state``'s node was DOWN within ``[start, end]``: the history's status changes,
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
        column = self.sort_column
        tid = state.target.id
        if column == "status":
            return (-state.status.rank, tid)
        if column == "latency":
            value = state.metrics.get(METRIC)
            missing = value is None or state.status is Status.DOWN
            return (missing, -(value or 0.0), tid)
        if column == "trend":
            points = self._trend.get(tid, [])
            high = max((v for _, v in points), default=math.nan)
            return (math.isnan(high), -high if not math.isnan(high) else 0.0, tid)
        if column == "since":
            return (state.since is None, -(state.since or 0.0), tid)
        if column == "address":
            port = state.target.label("port")
            return (state.target.label("host"), int(port) if port.isdigit() else 0, tid)
        return (self._text(state, column).lower(), tid)

    def _sort(self, keep: str | None = None, *, top: bool = False) -> None:
        """Order the rows; the cursor stays on ``keep`` (default: the selected node) or, with
        ``top``, goes to the first row."""
        table = self.table
        keep = None if top else keep or self.selected_id()
        # The id column holds the id as shown: sort by what the engine knows about that target.
        by_shown = {shown_id(s): s for s in self.ctx.engine.states.values()}

        def key(cell: Text) -> tuple[Any, ...]:
            return self._sort_key(by_shown[cell.plain])

        for column in self._columns:
            table.set_column_label(column.key, self._header(column))
        table.sort("id", key=key, reverse=self.sort_reverse)
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

    @on(DataTable.HeaderSelected, "#nodes-table")
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
        column = next((c for c in COLUMNS if c.key == self.sort_column), COLUMNS[0])
        order = (column.reversed_order or "reversed") if self.sort_reverse else column.order
        return f"sort: {column.label.lower()}" + (f", {order}" if order else "")

    def _update_summary(self) -> None:
        states = self.states()
        bad = sum(1 for s in states if s.status is not Status.OK)
        shown = len(self._cells)
        if self.filter_text:
            parts = [f"{shown} of {len(states)} match"]
        else:
            parts = [f"{len(states)} DICOM nodes", f"{bad} not OK"]
        parts.append(self.sort_description())
        self.query_one("#nodes-summary", Label).update(" · ".join(parts))

    # -- selected node line -----------------------------------------------------------------

    def selected_text(self) -> Text:
        """The selected node's status, AE title, address and role, its reason in full and since
        when; "" when none."""
        target_id = self.selected_id()
        state = self.ctx.engine.states.get(target_id) if target_id is not None else None
        if state is None:
            return Text("No node matches the filter." if self.filter_text else "")
        table = self.table
        style = table.status_style(state.status)
        text = Text()
        text.append_text(table.status_text(state.status))
        text.append("  ")
        text.append(shown_id(state), style="bold")
        labels = state.target.labels
        if "aet" in labels:  # the columns an 80-column table leaves out
            where = f"{visible(labels['aet'], VALUE_LIMIT)}@{address(state)}"
            role = visible(labels.get("role", ""), VALUE_LIMIT)
            text.append_text(table.dim_text(f" {where}" + (f" {role}" if role else "")))
        if state.reason != state.status.word:
            text.append(" — ")
            reason = visible(state.reason, TEXT_LIMIT)
            text.append(reason, style=style if state.status is not Status.OK else "")
        if state.since is not None:
            when_text = when(state.since, self.shown_now(), self.ctx.tz)
            since = f"since {when_text} ({self._ago(state.since)})"
            text.append(" · ")
            text.append_text(table.dim_text(since))
        return text

    def _update_selected(self) -> None:
        self.query_one("#nodes-selected", Static).update(self.selected_text())

    @on(DataTable.RowHighlighted, "#nodes-table")
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

    def _refresh_trend(self) -> None:
        if self.is_current:
            self.load_trend()

    @work(exclusive=True, group="nodes-trend")
    async def load_trend(self) -> None:
        """Re-read the last hour of echo latency of every node from the history."""
        now = self.ctx.now()
        since = now - TREND_WINDOW
        try:
            for state in self.states():
                points = await self.ctx.engine.series(state.id, METRIC, since)
                history = [(p.ts, p.avg) for p in points]
                last = history[-1][0] if history else since
                live = [p for p in self._trend.get(state.id, []) if p[0] > last]
                self._trend[state.id] = history + live
            events = await self.ctx.engine.events(kind=EventKind.STATUS_CHANGE, since=since)
            changes: dict[str, list[tuple[float, object, object]]] = {}
            for event in events:
                if event.kind == EventKind.STATUS_CHANGE:
                    changes.setdefault(event.target, []).append(
                        (event.ts, event.fields.get("from"), event.status or event.fields.get("to"))
                    )
            self._changes = changes
        except Exception:
            log.exception("could not read the latency trend from the history")
            return
        self._trend_loaded_at = now
        if self.is_current and not self.closing:  # closing: the app quits, the table is gone
            with self.app.batch_update():
                for state in self.states():
                    self._update_row(state, only=("trend",))
                if self.sort_column == "trend":
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

    @on(DataTable.RowSelected, "#nodes-table")
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
        from pacs_tui.screens.node_detail import NodeDetailScreen

        # Only from the screen shown: an Enter that reaches this screen after a detail screen was
        # pushed over it (two in one burst) must not stack a second one.
        if target_id in self.ctx.engine.states and self.is_active:
            self.app.push_screen(NodeDetailScreen(self.ctx, target_id))

    def action_probe_selected(self) -> None:
        target_id = self.selected_id()
        if target_id is None:
            self.notify("No node selected.", severity="warning")
            return
        probe_now(self, target_id)


def probe_now(screen: PacsScreen, target_id: str) -> None:
    """Ask the engine to check ``target_id`` now and say so."""
    shown = visible(target_id, VALUE_LIMIT)
    if screen.ctx.engine.probe_now(target_id, screen.ctx.operator):
        screen.notify(f"Probing {shown} now…", timeout=NOTIFY_SECONDS, markup=False)
    else:
        screen.notify(f"{shown} is not a known target.", severity="error", markup=False)


def _sig(cell: Text) -> tuple[str, str]:
    return (cell.plain, str(cell.style))
