"""A read-only table that renders each row once: a new row at the top costs one row's render.

The Overview's recent status changes get a new row at the top at every change. A ``DataTable``
renders every cell again after that (each cell's render carries its row index, for clicks, and
``add_row`` bumps the update count its caches are keyed by): ~80 cells through Rich, most of what
a change of status cost the Overview (measured ~15 of ~27 ms of CPU; with ten attached viewers on
two cores, the change→screen delay). Here a row's lines are cached by its cells' content and the
column layout, so rows that only moved down are reused, not rendered. No cursor, no clicks, no
sorting: a list to read, with a header that stays on top and a scrollbar when it is too long.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import ClassVar

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pacs_tui.widgets.columns import Column, FittedColumn, fit_layout
from pacs_tui.widgets.status_colours import STATUS_COMPONENTS, StatusColours, status_css

#: Cells of blank on each side of a column, as a DataTable's ``cell_padding``.
PADDING = 1


class LightTable(StatusColours, ScrollView, can_focus=False):
    """Rows of Rich ``Text`` cells under fixed-width columns; long cells wrap (a taller row)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(STATUS_COMPONENTS) | {"light-table--header"}

    DEFAULT_CSS = (
        status_css("LightTable")
        + """
    LightTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
    }
    LightTable > .light-table--header { text-style: bold; background: $panel; color: $foreground; }
    LightTable:ansi > .light-table--header { background: ansi_bright_blue; color: ansi_default; }
    """
    )

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._layout: tuple[FittedColumn, ...] = ()
        self._rows: list[tuple[Text, ...]] = []
        self._heights: list[int] = []
        self._lines: list[Strip] = []
        self._renders: dict[Hashable, list[Strip]] = {}
        self._header: Strip | None = None
        self._styled_with: tuple[Style, Style] | None = None
        #: The widget's style while a frame is drawn (None between frames).
        self._base: Style | None = None

    # -- reading ----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def row(self, index: int) -> tuple[Text, ...]:
        """The cells of the row at ``index`` (0 is the top)."""
        return self._rows[index]

    def row_height(self, index: int) -> int:
        """How many lines the row at ``index`` takes (more than one when a cell wraps)."""
        return self._heights[index]

    # -- writing ----------------------------------------------------------------------------

    def fit_columns(self, columns: Sequence[Column], width: int) -> bool:
        """Fixed-width columns ``(label, key, width)``; the one with ``None`` takes the rest of
        ``width``. Returns True when the layout changed, which drops the rows."""
        layout = fit_layout(columns, width, PADDING)
        if layout == self._layout:
            return False
        self._layout = layout
        self._header = None
        self._renders.clear()
        self.set_rows([])
        return True

    def set_rows(self, rows: Iterable[Sequence[Text]]) -> None:
        """Show ``rows``, top first. A row whose cells were shown before is not rendered again."""
        self._check_styles()
        kept: dict[Hashable, list[Strip]] = {}
        shown: list[tuple[Text, ...]] = []
        heights: list[int] = []
        lines: list[Strip] = []
        for row in rows:
            cells = tuple(row)
            key = _fingerprint(cells)
            strips = kept.get(key) or self._renders.get(key) or self._render_row(cells)
            kept[key] = strips
            shown.append(cells)
            heights.append(len(strips))
            lines.extend(strips)
        self._renders = kept
        if len(lines) == len(self._lines) and all(
            new is old for new, old in zip(lines, self._lines, strict=True)
        ):
            self._rows = shown
            return
        self._rows, self._heights, self._lines = shown, heights, lines
        width = sum(w + 2 * PADDING for _, _, w in self._layout)
        self.virtual_size = Size(width, 1 + len(lines))
        self.refresh()

    # -- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted and self._check_styles():
            self.set_rows(self._rows)

    def _check_styles(self) -> bool:
        """Drop the cached renders when the theme changed the colours; True if it did."""
        styles = (self.rich_style, self.get_component_rich_style("light-table--header"))
        if styles == self._styled_with:
            return False
        self._styled_with = styles
        self._renders.clear()
        self._lines = []
        self._header = None
        return True

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style, once a frame: ``rich_style`` walks every ancestor's styles, and
        # it was a sixth of an Overview frame when asked for each of the list's lines.
        self._base = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._base if self._base is not None else self.rich_style
        if y == 0:
            header_style = base + self.get_component_rich_style("light-table--header")
            if self._header is None:
                cells = [Text(label, no_wrap=True, end="") for label, _, _ in self._layout]
                self._header = self._join(cells, header_style)[0]
            return self._header.crop_extend(0, width, header_style)
        index = y - 1 + self.scroll_offset.y
        if index >= len(self._lines):
            return Strip.blank(width, base)
        return self._lines[index].crop_extend(0, width, base)

    def _render_row(self, cells: tuple[Text, ...]) -> list[Strip]:
        return self._join(cells, self.rich_style)

    def _join(self, cells: Sequence[Text], style: Style) -> list[Strip]:
        """Each cell rendered in its column (wrapped if it must), side by side, line by line."""
        console = self.app.console
        columns: list[tuple[list[list[Segment]], int]] = []
        for cell, (_, _, width) in zip(cells, self._layout, strict=False):
            room = width + 2 * PADDING
            options = self.app.console_options.update_width(room)
            lines = console.render_lines(Padding(cell, (0, PADDING)), options, style=style)
            columns.append((lines, room))
        height = max((len(lines) for lines, _ in columns), default=1)
        blank = {room: [Segment(" " * room, style)] for _, room in columns}
        # Simplified: neighbouring segments of one style are joined, so the terminal is sent one
        # style sequence for them, not one each (a list line: 378 → 222 bytes).
        return [
            Strip(
                [
                    segment
                    for lines, room in columns
                    for segment in (lines[y] if y < len(lines) else blank[room])
                ]
            ).simplify()
            for y in range(height)
        ]


def _fingerprint(cells: tuple[Text, ...]) -> Hashable:
    """What a row's render depends on in its cells: text, styles, spans and wrapping."""
    return tuple(
        (c.plain, c.style, tuple(c.spans), c.no_wrap, c.overflow, c.justify) for c in cells
    )
