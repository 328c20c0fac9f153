"""A DataTable whose status cells are coloured from the theme ($error, $warning, $success).

Cells are always Rich ``Text`` (never markup strings: a reason such as ``"[Errno 111] …"``
must print as it is). Colour comes from component classes resolved against the current theme, so
it follows ``ansi-dark`` and disappears under ``NO_COLOR``; the glyph and word always remain.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, ClassVar

from rich._pick import pick_bool
from rich.segment import Segment
from rich.style import Style
from rich.text import DEFAULT_JUSTIFY, DEFAULT_OVERFLOW, Text
from textual._two_way_dict import TwoWayDict
from textual._types import SegmentLines
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from pacs_tui.widgets.columns import Column, FittedColumn, fit_layout
from pacs_tui.widgets.status_colours import STATUS_COMPONENTS, StatusColours, status_css

#: A coordinate no cell has (-1 is the header's row).
NOWHERE = Coordinate(-2, -2)


class StatusTable(StatusColours, DataTable[Text]):
    """A keyed table of Rich ``Text`` cells with theme-aware status styles."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(STATUS_COMPONENTS)

    DEFAULT_CSS = status_css("StatusTable")

    class RowsShown(Message):
        """Rows that were off screen may be on screen now (the table scrolled or grew)."""

        def __init__(self, table: StatusTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> StatusTable:
            return self.table

    #: The column layout last applied by :meth:`fit_columns`.
    _fitted: tuple[FittedColumn, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Lines by row (see :meth:`_render_line`); before ``super().__init__``, which may
        #: clear the caches.
        self._row_lines: LRUCache[tuple[Any, ...], Strip] = LRUCache(2000)
        super().__init__(*args, **kwargs)

    def fit_columns(self, columns: Sequence[Column], width: int) -> bool:
        """Set fixed-width columns ``(label, key, width)``; the one with ``None`` takes the rest
        of ``width``. Returns True when the columns were (re)built, which also drops the rows.

        Every column has a fixed width so that no row is ever drawn with a width that changes
        afterwards (auto-width columns are re-measured only when the table is idle).
        """
        layout = fit_layout(columns, width, self.cell_padding)
        if layout == self._fitted:
            return False
        self._fitted = layout
        self.clear(columns=True)
        for label, key, w in layout:
            self.add_column(label, key=key, width=w)
        return True

    def update_cells(self, changes: Iterable[tuple[str, str, Text]]) -> None:
        """Write ``(row key, column key, cell)`` changes and redraw only the rows they touch.

        ``DataTable.update_cell`` bumps the table's update count, which every render cache is
        keyed by: the next frame renders every visible cell again through Rich (measured: ~85 %
        of the UI's CPU on a 200-node table, one full redraw per result). Here the rows' data is
        written and only the cache entries of those cells (and the joined lines of their rows)
        are dropped, and only those rows are repainted, so a frame re-renders the changed cells
        alone. Rows are never added,
        removed or moved here, and widths are fixed, so the other caches (row order, offsets)
        stay true. Textual 8.2's caches are
        private: if their shape differs, this falls back to ``update_cell``.
        """
        written = list(changes)
        if not written:
            return
        rows = {RowKey(row) for row, _, _ in written}
        try:
            for row, column, cell in written:
                self._data[RowKey(row)][ColumnKey(column)] = cell
            indices = {self._row_locations.get(key) for key in rows}
            cells = {(RowKey(row), ColumnKey(column)) for row, column, _ in written}
            # Only the changed cells are rendered again; their rows' lines are re-joined.
            for key in [k for k in self._cell_render_cache.keys() if k[:2] in cells]:  # noqa: SIM118
                self._cell_render_cache.discard(key)
            _drop(self._row_render_cache, 0, rows)
            _drop(self._row_renderable_cache, 1, indices)
            # The table's lines (header first) of those rows, from its own line → row map.
            header = self.header_height if self.show_header else 0
            lines = [y + header for y, (key, _) in enumerate(self._y_offsets) if key in rows]
            _drop(self._line_cache, 0, set(lines))
            _drop(self._row_lines, 0, rows)
        except (AttributeError, IndexError, TypeError):  # another Textual: the public way
            for row, column, cell in written:
                self.update_cell(row, column, cell)
            return
        width = self.size.width
        for y in lines:  # repaint those lines where they are on screen, nothing else
            self._refresh_region(Region(0, y, width, 1))

    def reorder(self, key: Callable[[str], Any], reverse: bool = False) -> None:
        """Order the rows by ``key(row key)``, keeping the cached renders of the rows that stay
        where they were.

        ``DataTable.sort`` bumps the update count: every visible cell is rendered again through
        Rich (measured: most of what a change of status cost a 1,000-node table, whose one row
        moving up shifts only the few rows above it). Here only the moved rows' cells are
        dropped (their renders carry their row index, for clicks, and their stripe) with their
        rows' renders; the order and the offsets are rebuilt from the rows, and the lines of the
        rows that stayed are found again in :meth:`_render_line`'s own cache. The key is asked
        of the row's key, not of a cell (a cell's text through a map to the target was most of
        a re-sort's cost). Textual 8.2's caches are private: if their shape differs, this falls
        back to ``sort``.
        """
        try:
            ordered = sorted(self._data, key=lambda row: key(str(row.value)), reverse=reverse)
            places = {row_key: index for index, row_key in enumerate(ordered)}
            moved = {k for k, index in places.items() if self._row_locations.get(k) != index}
            if not moved:
                return
            self._row_locations = TwoWayDict(places)
            for cached in [k for k in self._cell_render_cache.keys() if k[0] in moved]:  # noqa: SIM118
                self._cell_render_cache.discard(cached)
            _drop(self._row_render_cache, 0, moved)
            _drop(self._row_renderable_cache, 1, {places[k] for k in moved})
            for cache in (self._line_cache, self._offset_cache, self._ordered_row_cache):
                cache.clear()
        except (AttributeError, KeyError, TypeError):  # another Textual: the public way
            ordered = sorted(self.rows, key=lambda row: key(str(row.value)), reverse=reverse)
            rows = [(row, self.get_row(row)) for row in ordered]
            self.clear()
            for row, cells in rows:
                self.add_row(*cells, key=row.value)
            return
        self.refresh()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A table line, cached under its row (key and place) rather than under its ``y``.

        ``DataTable`` caches its lines by ``y`` and the cursor's coordinate, and a re-sort must
        drop them all: after a change of status every line on screen was joined again from its
        cells (measured: 10 to 60 ms a re-sort on a 1,000-node Nodes screen, for the one or two
        rows that moved). A line of a row that kept its place, whose cells did not change and
        that the cursor and the mouse did not reach or leave looks the same: it is kept here
        under those, and found again after the re-sort. (The place is in the key because a
        line's segments carry their row's index, for clicks, and its stripe.)
        """
        if self.cursor_type not in ("row", "none"):
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        index = self._row_locations.get(row_key)
        if index is None:  # the header
            return super()._render_line(y, x1, x2, base_style)
        key = (
            row_key,
            index,
            line_no,
            x1,
            x2,
            self.size.width,
            base_style,
            self.cursor_coordinate.row == index,
            self.hover_coordinate.row == index,
            self.cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        strip = self._row_lines.get(key)
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
            self._row_lines[key] = strip
        return strip

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """A body cell of one line drawn by the steps Rich takes for it, without Rich's
        general machinery around them.

        ``DataTable`` draws a cell through ``Console.render_lines`` of a ``Styled`` ``Padding``
        of the ``Text``: three nested renders, each splitting, cropping and padding lines
        again. On a Nodes screen of 1,000 nodes the cells on screen are drawn again at every
        flush of results (their latency and last check change), which made that the largest
        part of an attached Nodes viewer's CPU. A one-line ``Text`` cell (every cell here) is
        drawn with the same calls, in the same order, on the same line: wrapped to the cell
        (justified, truncated), its style made a span, padded to the cell's width, the table's
        styles applied under it and the cursor's over it. Anything else (the header, a cell
        that is not ``Text``, a taller row) is left to ``DataTable``.
        """
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row_key is None or row is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key].get(column_key)
        if (
            not isinstance(cell, Text)
            or row.height != 1
            or cell.end
            or column_index < self.fixed_columns
            or row_index < self.fixed_rows
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = (
            base_style + Style.from_meta({"row": row_index, "column": column_index})
        ) + component_style
        console = self.app.console
        padding = self.cell_padding
        inner = max(0, width - 2 * padding)
        tab_size = console.tab_size if cell.tab_size is None else cell.tab_size
        lines = cell.wrap(
            console,
            inner,
            justify=cell.justify or DEFAULT_JUSTIFY,
            overflow=cell.overflow or DEFAULT_OVERFLOW,
            tab_size=tab_size or 8,
            no_wrap=pick_bool(cell.no_wrap, True),
        )
        text = Text("\n").join(lines[:1])  # the lines' styles become spans, as Rich does
        blank = Style()
        line = Segment.adjust_line_length(list(text.render(console)), inner, style=blank)
        if padding:
            line = [Segment(" " * padding, blank), *line, Segment(" " * padding, blank)]
        rendered = [list(Segment.apply_style(line, pre_style, post_style))]
        self._cell_render_cache[key] = rendered
        return rendered

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._row_lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._row_lines.clear()

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[SegmentLines, SegmentLines]:
        """A row's render, cached under one key whichever other row the cursor is on.

        ``DataTable`` keys each row's cached render by the cursor's and the mouse's coordinates:
        a cursor that moves (it follows its node when a re-sort moves the row) makes every
        visible row be assembled again (measured: ~15 ms of the ~43 ms a change of status cost
        a 1,000-node table). With a row cursor, a row the cursor and the mouse are not on looks
        the same wherever they are, so it is rendered as if they were nowhere.
        """
        if self.cursor_type in ("row", "none"):
            index = self._row_locations.get(row_key)
            row_index = -1 if index is None else index  # the header's row
            if cursor_location.row != row_index:
                cursor_location = NOWHERE
            if hover_location.row != row_index:
                hover_location = NOWHERE
        return super()._render_line_in_row(
            row_key, line_no, base_style, cursor_location, hover_location
        )

    def rows_on_screen(self) -> list[str]:
        """The keys of the rows the table shows now, top first (rows one line high)."""
        header = self.header_height if self.show_header else 0
        top = self.scroll_offset.y
        shown = self.ordered_rows[top : top + max(0, self.size.height - header)]
        return [str(row.key.value) for row in shown]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.post_message(self.RowsShown(self))

    def on_resize(self) -> None:
        self.post_message(self.RowsShown(self))

    def set_column_label(self, key: str, label: str) -> None:
        """Change a column's header text (e.g. to add a sort indicator); no-op if unchanged."""
        column = self.columns.get(ColumnKey(key))
        if column is None or column.label.plain == label:
            return
        column.label = Text(label)
        # DataTable has no public call for this; its render caches are keyed by the update count.
        self._update_count += 1
        self.refresh()


def _drop(cache: LRUCache[Any, Any], position: int, keys: Collection[object]) -> None:
    """Drop the entries of ``cache`` whose key has one of ``keys`` at ``position``."""
    for key in [k for k in cache.keys() if k[position] in keys]:  # noqa: SIM118 (no __iter__)
        cache.discard(key)


def plain(text: str) -> Text:
    """A cell that shows ``text`` literally (no markup), on one line."""
    return Text(text, no_wrap=True, end="")
