"""A multi-row bar chart of one metric's series, drawn with block characters to fit its width;
the axis says the values in the metric's unit.

Gaps (no sample in a time slot: target down or not checked) stay blank with a dotted baseline,
so "no data" never looks like "fast". Under the bars a status strip marks with the DOWN glyph
every slot in which the target was DOWN, so an outage shows as such and not only as a gap. The
axis labels and marks are plain text, readable without colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from pacs_tui.ui_format import DOWN_MARK, bar_chart, bucket_series, mark_buckets, metric_text

_LABEL_WIDTH = 9
#: Label of the status strip's row.
DOWN_LABEL = "DOWN"


#: The axis' zero, by unit ("0 ms" reads better than "0.0 ms").
ZERO = {"s": "0 ms", "B": "0 B", "%": "0 %", "ratio": "0 %"}


class MetricChart(Widget):
    """Bars of ``(ts, value)`` points over ``[start, end]``, one column per time slot; values
    in base units of ``unit`` ("s", "B", "%", "c" or "")."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"metric-chart--down"}

    DEFAULT_CSS = """
    MetricChart { height: 7; color: $primary; text-wrap: nowrap; text-overflow: clip; }
    MetricChart > .metric-chart--down { color: $error; text-style: bold; }
    """

    def __init__(self, *, unit: str = "s", id: str | None = None) -> None:
        super().__init__(id=id)
        self.unit = unit
        self._points: list[tuple[float, float]] = []
        self._down: list[tuple[float, float]] = []
        self._start = 0.0
        self._end = 0.0

    def set_series(
        self,
        points: Sequence[tuple[float, float]],
        start: float,
        end: float,
        down: Sequence[tuple[float, float]] = (),
    ) -> None:
        """Show ``points`` over ``[start, end]``; ``down`` are the spans the target was DOWN."""
        self._points = list(points)
        self._down = list(down)
        self._start = start
        self._end = end
        self.refresh()

    def render(self) -> Table:
        height = max(1, self.size.height - 2)  # last rows: the DOWN strip and the time axis
        width = max(1, self.size.width - _LABEL_WIDTH - 2)
        values = bucket_series(self._points, self._start, self._end, width, how="max")
        marks = mark_buckets(self._down, self._start, self._end, width)
        present = [v for v in values if v is not None]
        top = max(present) if present else 0.0
        rows = bar_chart(values, height, hi=top if top > 0 else None, gap="·")
        grid = Table.grid(padding=0)
        grid.add_column(width=_LABEL_WIDTH, justify="right", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="crop")
        for index, row in enumerate(rows):
            if index == 0:
                label = metric_text(self.unit, top) if present else "no data"
            elif index == len(rows) - 1:
                label = ZERO.get(self.unit, "0")
            else:
                label = ""
            grid.add_row(Text(label), Text("│" + row))
        down_style = self.get_component_rich_style(
            "metric-chart--down", partial=True, default=Style()
        )
        strip = Text("│")
        strip.append("".join(DOWN_MARK if m else " " for m in marks), style=down_style)
        grid.add_row(Text(DOWN_LABEL, style=down_style if any(marks) else ""), strip)
        span_minutes = round((self._end - self._start) / 60) if self._end > self._start else 0
        left = f"-{span_minutes}m" if span_minutes else ""
        grid.add_row(Text(""), Text("└" + left + "now".rjust(max(0, width - len(left)))))
        return grid
