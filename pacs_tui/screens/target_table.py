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

The trend is the last hour of each target's headline metric: read from the history in a worker
when the screen is shown (again, if it was hidden or the collector gone for over
:data:`TREND_REFRESH` seconds), then extended live from each result and slid every
:data:`TREND_REFRESH` seconds. Time slots in which the target was DOWN (from the status
changes) show the DOWN glyph instead of a bar.
"""

from __future__ import annotations

import logging
import time
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

from pacs_tui.model import Status, TargetState
from pacs_tui.screens import TICK_SECONDS, WIDE, UiContext, probe_now
from pacs_tui.screens import table_cells as cells
from pacs_tui.screens.table_rows import TableRows
from pacs_tui.screens.table_trend import TableTrend
from pacs_tui.source import Column, Source
from pacs_tui.ui_format import (
    ago,
    when,
)
from pacs_tui.wall import READ_ONLY, WallView
from pacs_tui.widgets import StatusTable
from pacs_tui.widgets.filter_input import FilterInput

log = logging.getLogger(__name__)

#: Results are drawn at most this often (seconds): one redraw of the rows that changed, as
#: often as Glances refreshes. A change of status is drawn at once, its row alone, if no
#: other was drawn in the last STATUS_FLUSH; within it, changes wait for its end together (a
#: burst, an outage of a whole ward, is one redraw); the rows move to their sorted place
#: SORT_DELAY later.
FLUSH_SECONDS = 2.0
STATUS_FLUSH = 0.05

#: How often the trend's window slides while the screen shows; a screen hidden (or a collector
#: gone) longer than this reads the history again when shown (seconds).
TREND_REFRESH = 30.0
#: A result this old (seconds) has its age said after "since" on the selected line.
CHECKED_SHOWN_AFTER = 60.0


class TargetTableScreen(TableRows):
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
            "Clear",
            id="table.clear_filter",
            tooltip="Clear the filter and show every row",  # in the footer while one is set
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
        # On a wall, p is not offered in the footer (it refuses every action) yet still says
        # why it does nothing: this unlisted binding takes it there.
        Binding("p", "probe_refused", show=False),
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
        self._cells: dict[str, dict[str, tuple[str, Status]]] = {}
        self.trend = TableTrend(source)
        #: The one clock every "since" on this screen is shown against: set by the tick and
        #: when the screen is shown, so the table and the selected line always agree.
        self._clock: float | None = None
        self._wide = False
        #: Each shown row's key in the sorted column, to tell whether a result moved it.
        self._keys = {}
        self._stale = set()
        self._sort_timer = None
        #: The texts last written to the summary and selected lines (an unchanged text is not
        #: written again: a Label update re-lays the screen out).
        self._summary_shown: str | None = None
        self._selected_shown: Text | None = None
        #: Targets that reported since the last flush, with their status before.
        self._dirty: dict[str, Status] = {}
        self._flush_timer: Timer | None = None
        #: Targets whose status changed since the last status flush.
        self._status_changed: set[str] = set()
        #: A draw of changes of status is due; when the last one was (monotonic seconds).
        self._status_due = False
        self._status_drawn = -STATUS_FLUSH

    def compose_body(self) -> ComposeResult:
        yield Label("", id="table-summary", markup=False)
        with Horizontal(id="filter-bar"):
            yield Label("Filter:", id="filter-label")
            yield FilterInput(placeholder=cells.filter_hint(self.source), id="filter", compact=True)
        yield StatusTable(id="target-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="table-selected")

    def on_mount(self) -> None:
        self._relayout(self.app.size.width)
        self.set_interval(TICK_SECONDS, self._tick)
        self.set_interval(TREND_REFRESH, self._refresh_trend)  # read when shown: sync()

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
        loaded = self.trend.loaded_at
        if loaded is None or self.ctx.now() - loaded >= TREND_REFRESH:
            self.load_trend()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        if state.target.kind not in self.source.kinds:
            return
        self.trend.add_live(state, previous)
        # Results are drawn together every FLUSH_SECONDS: one redraw of the changed rows, one
        # sort, however many targets reported meanwhile. A new status is drawn at once, alone.
        self._dirty.setdefault(state.id, previous)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_SECONDS, self._flush)
        if state.status is not previous:
            self._status_changed.add(state.id)
            if not self._status_due:
                self._status_due = True
                wait = self._status_drawn + STATUS_FLUSH - time.monotonic()
                if wait > 0:
                    self.set_timer(wait, self._flush_status)
                else:  # after the results of this message (the burst it carries) are in
                    self.call_next(self._flush_status)

    def restyle(self) -> None:
        self._layout = ()  # force the rebuild: every cell is drawn again with the new theme
        self._relayout(self.size.width)

    # -- columns and rows -------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._relayout(event.size.width)
        self._update_selected()  # wrapped anew: "since" kept whole on one line

    def _new_targets(self) -> None:
        # A longer id than any before (a reload's new node) widens its column, or is cut
        # with "…": drawn in the old width without one, "archive-main-2" read "archive-main".
        self._relayout(self.size.width)

    def _relayout(self, width: int) -> None:
        """(Re)build the columns for ``width``; rows are re-added only when the layout changes
        (see :func:`~pacs_tui.screens.table_cells.fit_columns`)."""
        wide = width >= WIDE
        self._wide = wide
        states = self.states()

        def longest(column: Column) -> int:
            return max((len(self._text(s, column)) for s in states), default=4)

        padding = 2 * self.table.cell_padding
        columns, widths = cells.fit_columns(self.source.columns, width, padding, longest)
        layout = (columns, tuple(sorted(widths.items())))
        if layout == self._layout:
            return
        self._layout = layout
        self._columns = columns
        table = self.table
        selected = self._followed()
        with self.app.batch_update():
            table.clear(columns=True)
            self._cells.clear()
            for column in columns:
                table.add_column(self._header(column), width=widths[column.key], key=column.key)
            self._apply_filter(selected)

    # -- sorting (the rest is in TableRows) --------------------------------------------------

    @on(DataTable.HeaderSelected, "#target-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        reverse = not self.sort_reverse if column == self.sort_column else False
        self._set_sort(column, reverse)

    # -- summary line -----------------------------------------------------------------------

    def apply_link(self) -> None:
        self._update_summary()

    def _update_summary(self) -> None:
        states = self.states()
        shown = len(self._cells) if self.filter_text else None
        text = cells.summary(self.source, states, shown, self.sort_description())
        stale = self.stale_words()
        if stale:
            text = f"{stale} · {text}"
        if text != self._summary_shown:
            self._summary_shown = text
            # One line of the full width whatever it says: no layout pass needed.
            self.query_one("#table-summary", Label).update(text, layout=False)

    # -- selected node line -----------------------------------------------------------------

    def selected_text(self) -> Text:
        """The selected target's status, address and labels, its reason in full and since
        when; "" when none."""
        target_id = self.selected_id()
        state = self.ctx.view.state(target_id) if target_id is not None else None
        if state is None:
            return Text("Nothing matches the filter." if self.filter_text else "")
        since = None
        if state.since is not None:
            moment = when(state.since, self.shown_now(), self.ctx.tz)
            since = f"since {moment} ({self._ago(state.since)})"
            checked = state.checked
            if checked is not None and self.shown_now() - checked >= CHECKED_SHOWN_AFTER:
                # The reason is this old: a DOWN node is checked less and less often.
                since += f", checked {self._ago(checked)}"
        # The line's width inside its padding: "since" is kept whole on one line of it. Its
        # room (max-height, less the rule above it) bounds a long reason, cut with "…".
        line = self.query_one("#table-selected", Static)
        # Its own width once laid out: a scrollbar beside it (Sessions at 80x24) takes two.
        width = line.size.width or self.app.size.width - 2
        room = line.styles.max_height
        lines = room.cells - 1 if room is not None and room.cells is not None else None
        return cells.selected_line(self.table, self.source, state, since, width, lines)

    def _update_selected(self) -> None:
        text = self.selected_text()
        old = self._selected_shown
        if text != old:
            self._selected_shown = text
            # Its height follows its wrapped length: lay out again only if the length changed
            # (the tick's "12s ago" → "17s ago" does not).
            resized = old is None or old.cell_len != text.cell_len
            self.query_one("#table-selected", Static).update(text, layout=resized)

    @on(StatusTable.RowsShown, "#target-table")
    def _rows_shown(self) -> None:
        self._show_stale()

    @on(DataTable.RowHighlighted, "#target-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_selected()

    # -- timers and the trend worker --------------------------------------------------------

    def _tick(self) -> None:
        if not self._shown():
            return
        self._clock = self.ctx.now()
        self._write_on_screen(("since",))
        self._update_selected()
        if self.sort_column == "since":
            self._sort_soon()

    def _refresh_trend(self) -> None:
        """Slide the trend's window while the screen shows and the results reach it; the
        history is read again only when they may not have (hidden, or the collector gone)."""
        link = self.ctx.view.link
        if not self._shown() or (link is not None and not link.connected):
            return
        self.trend.trim(self.ctx.now())
        with self.app.batch_update():
            self._write_on_screen(("trend",))
            if self.column(self.sort_column).cell == "trend":
                self._sort()

    @work(exclusive=True, group="table-trend")
    async def load_trend(self) -> None:
        """Re-read the last hour of every target's headline metric from the history."""
        if not any(c.cell == "trend" for c in self.source.columns):
            return
        try:
            await self.trend.load(self.ctx.view, self.states(), self.ctx.now())
        except Exception as exc:  # the history closing at quit, the collector gone: in words
            log.warning("could not read the trend from the history: %s", exc)
            log.debug("the trend's read", exc_info=True)
            return
        if self.is_current and not self.closing:  # closing: the app quits, the table is gone
            with self.app.batch_update():
                self._write_on_screen(("trend",))
                if self.column(self.sort_column).cell == "trend":
                    self._sort()

    # -- filter -----------------------------------------------------------------------------

    @property
    def filtering(self) -> bool:
        """Is a filter open or set (escape clears it, and the footer says so)?"""
        return bool(self.filter_text) or self.query_one("#filter-bar").has_class("-filtering")

    def action_filter(self) -> None:
        self.query_one("#filter-bar").add_class("-filtering")
        self.refresh_bindings()
        # At once, not at the next turn as Input.focus() does: the keys of a paste or of a
        # fast typist are already queued behind "/", and went to the table's own keys.
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        self.query_one("#filter-bar").remove_class("-filtering")
        self.set_focus(self.table)  # at once, as the filter got it
        if self.filter_text:
            self.filter_text = ""
            self._apply_filter()
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._apply_filter()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.set_focus(self.table)

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

    #: Whether any target of this screen can be probed: the Sessions screen's receivers
    #: report on their own, so there ``p`` is left out of the footer (and does nothing)
    #: rather than offered only to say it cannot. (On a wall it is not offered either, and
    #: says read-only when pressed.)
    probes = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wall = isinstance(self.ctx.view, WallView)
        if action == "probe_selected" and (not self.probes or wall or not self._any_probeable()):
            return False
        if action == "probe_refused":
            return self.probes and wall
        if action == "clear_filter":
            return self.filtering
        return super().check_action(action, parameters)

    def _any_probeable(self) -> bool:
        """Whether a target of this screen can be checked now: HL7 listeners and taps report
        on their own, so an HL7 screen without a link is not offered ``p``."""
        view = self.ctx.view
        return any(view.can_probe(s.id) for s in self.states())

    def action_probe_refused(self) -> None:
        self.notify(READ_ONLY, severity="warning", markup=False)

    def action_probe_selected(self) -> None:
        target_id = self.selected_id()
        if target_id is None:
            self.notify("Nothing selected.", severity="warning")
            return
        probe_now(self, target_id)
