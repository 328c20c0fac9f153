"""A tile summarising one area (DICOM nodes, later HL7, storage, …) on the Overview screen.

First line: counts per status, worst first ("▼ 1 DOWN  ▲ 1 WARN  ✔ 5 OK"); then every target
that is not OK, worst first, with its reason. The border takes the colour of the worst status.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from pacs_tui.model import Status, TargetState
from pacs_tui.ui_format import STATUS_ORDER, ago, count_summary, status_class

#: Lines of "not OK" targets shown before "… and N more".
MAX_PROBLEMS = 8


class AreaTile(Vertical):
    """Counts and the non-OK targets of one area."""

    DEFAULT_CSS = """
    AreaTile {
        height: auto;
        border: round $foreground 50%;
        border-title-style: bold;
        padding: 0 1;
    }
    AreaTile > Label { width: 1fr; text-overflow: ellipsis; text-wrap: nowrap; }
    AreaTile > .tile-counts { text-style: bold; }
    AreaTile > .tile-more { color: $text-muted; }
    """

    def __init__(self, title: str, area_id: str) -> None:
        super().__init__(id=f"tile-{area_id}", classes="tile")
        self.border_title = title
        self.worst = Status.UNKNOWN

    def compose(self) -> ComposeResult:
        yield Label("", classes="tile-counts", markup=False)
        # A fixed pool of lines, shown or hidden: no mounting or removing on updates.
        for _ in range(MAX_PROBLEMS + 1):
            yield Label("", classes="tile-line", markup=False)

    def show(self, states: Sequence[TargetState], now: float, hint: str = "") -> None:
        """Show ``states`` (any order): counts and the non-OK ones worst first."""
        self.worst = Status.worst(s.status for s in states) if states else Status.UNKNOWN
        for status in STATUS_ORDER:
            self.set_class(status is self.worst, status_class(status))
        self.query_one(".tile-counts", Label).update(count_summary(s.status for s in states))
        problems = sorted(
            (s for s in states if s.status is not Status.OK),
            key=lambda s: (-s.status.rank, s.target.id),
        )
        width = max((len(s.target.id) for s in problems), default=0)
        lines: list[tuple[str, Status, str]] = []
        for state in problems[:MAX_PROBLEMS]:
            since = f" ({ago(state.since, now)})" if state.since is not None else ""
            text = f"{state.status.label:<9} {state.target.id:<{width}}  {state.reason}{since}"
            lines.append((text, state.status, "tile-problem"))
        if len(problems) > MAX_PROBLEMS:
            more = f"… and {len(problems) - MAX_PROBLEMS} more{hint}"
            lines.append((more, Status.UNKNOWN, "tile-more"))
        self._set_lines(lines)

    def _set_lines(self, lines: list[tuple[str, Status, str]]) -> None:
        """Fill the pool of line labels; the unused ones are hidden."""
        labels = list(self.query(".tile-line").results(Label))
        for index, label in enumerate(labels):
            if index >= len(lines):
                label.display = False
                continue
            text, status, kind = lines[index]
            label.update(text)
            label.display = True
            for other in STATUS_ORDER:
                label.set_class(other is status and kind == "tile-problem", status_class(other))
            label.set_class(kind == "tile-more", "tile-more")
