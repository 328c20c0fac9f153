"""A multi-row bar chart of a latency series, drawn with block characters to fit its width.

Gaps (no sample in a time slot: target down or not checked) stay blank with a dotted baseline,
so "no data" never looks like "fast". The axis labels are plain text, readable without colour.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from pacs_tui.ui_format import bar_chart, bucket_series, ms

_LABEL_WIDTH = 9


class LatencyChart(Widget):
    """Bars of ``(ts, seconds)`` points over ``[start, end]``, one column per time slot."""

    DEFAULT_CSS = """
    LatencyChart { height: 6; color: $primary; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._points: list[tuple[float, float]] = []
        self._start = 0.0
        self._end = 0.0

    def set_series(self, points: Sequence[tuple[float, float]], start: float, end: float) -> None:
        self._points = list(points)
        self._start = start
        self._end = end
        self.refresh()

    def render(self) -> Table:
        height = max(1, self.size.height - 1)  # last row: time axis
        width = max(1, self.size.width - _LABEL_WIDTH - 2)
        values = bucket_series(self._points, self._start, self._end, width, how="max")
        present = [v for v in values if v is not None]
        top = max(present) if present else 0.0
        rows = bar_chart(values, height, hi=top if top > 0 else None, gap="·")
        grid = Table.grid(padding=0)
        grid.add_column(width=_LABEL_WIDTH, justify="right", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="crop")
        for index, row in enumerate(rows):
            if index == 0:
                label = ms(top) if present else "no data"
            elif index == len(rows) - 1:
                label = "0 ms"
            else:
                label = ""
            grid.add_row(Text(label), Text("│" + row))
        span_minutes = round((self._end - self._start) / 60) if self._end > self._start else 0
        left = f"-{span_minutes}m" if span_minutes else ""
        grid.add_row(Text(""), Text("└" + left + "now".rjust(max(0, width - len(left)))))
        return grid
