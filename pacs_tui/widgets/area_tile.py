"""A tile summarising one area (DICOM nodes, later HL7, storage, …) on the Overview screen.

First line: counts per status, worst first ("▼ 1 DOWN  ▲ 1 WARN  ✔ 5 OK"); then every target
that is not OK, worst first, with its reason and how long ago it began. When a line is too long
the reason is cut short ("…"), never the age: "(2m ago)" is what an admin needs to see. The border
takes the colour of the worst status. Ids and reasons are shown :func:`~pacs_tui.visible.visible`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label

from pacs_tui.model import Status, TargetState
from pacs_tui.ui_format import STATUS_ORDER, ago, count_summary, status_class
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible

#: Lines of "not OK" targets shown before "… and N more".
MAX_PROBLEMS = 8


class TileLine(Widget):
    """One line of a tile: a text cut to fit (with "…") and, kept whole after it, an age."""

    DEFAULT_CSS = """
    TileLine { height: 1; width: 1fr; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.text = ""
        self.age = ""

    def set(self, text: str, age: str = "") -> None:
        if (text, age) != (self.text, self.age):
            self.text = text
            self.age = age
            self.refresh()

    def render(self) -> Text:
        age = f" {self.age}" if self.age else ""
        room = max(1, self.size.width - cell_len(age))
        line = Text(self.text, no_wrap=True, end="")
        line.truncate(room, overflow="ellipsis")
        line.append(age)
        return line


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
    AreaTile > TileLine { text-wrap: nowrap; }
    AreaTile > .tile-counts { text-style: bold; }
    AreaTile > .tile-more { color: $text-muted; }
    """

    def __init__(self, title: str, area_id: str) -> None:
        super().__init__(id=f"tile-{area_id}", classes="tile")
        self.border_title = title
        self.worst = Status.UNKNOWN
        self._counts: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("", classes="tile-counts", markup=False)
        # A fixed pool of lines, shown or hidden: no mounting or removing on updates.
        for _ in range(MAX_PROBLEMS + 1):
            yield TileLine(classes="tile-line")

    def show(self, states: Sequence[TargetState], now: float, hint: str = "") -> None:
        """Show ``states`` (any order): counts and the non-OK ones worst first."""
        self.worst = Status.worst(s.status for s in states) if states else Status.UNKNOWN
        for status in STATUS_ORDER:
            self.set_class(status is self.worst, status_class(status))
        counts = count_summary(s.status for s in states)
        if counts != self._counts:  # an update re-lays the screen out: only when it changed
            self._counts = counts
            self.query_one(".tile-counts", Label).update(counts, layout=False)  # one line
        problems = sorted(
            (s for s in states if s.status is not Status.OK),
            key=lambda s: (-s.status.rank, s.target.id),
        )
        shown = problems[:MAX_PROBLEMS]
        ids = [visible(s.target.id, VALUE_LIMIT) for s in shown]
        width = max((len(i) for i in ids), default=0)
        lines: list[tuple[str, str, Status, str]] = []
        for state, target_id in zip(shown, ids, strict=True):
            since = f"({ago(state.since, now)})" if state.since is not None else ""
            reason = visible(state.reason, TEXT_LIMIT)
            text = f"{state.status.label:<9} {target_id:<{width}}  {reason}"
            lines.append((text, since, state.status, "tile-problem"))
        if len(problems) > MAX_PROBLEMS:
            more = f"… and {len(problems) - MAX_PROBLEMS} more{hint}"
            lines.append((more, "", Status.UNKNOWN, "tile-more"))
        self._set_lines(lines)

    def _set_lines(self, lines: list[tuple[str, str, Status, str]]) -> None:
        """Fill the pool of lines; the unused ones are hidden."""
        labels = list(self.query(".tile-line").results(TileLine))
        for index, label in enumerate(labels):
            if index >= len(lines):
                if label.display:
                    label.display = False
                continue
            text, age, status, kind = lines[index]
            label.set(text, age)
            if not label.display:
                label.display = True
            for other in STATUS_ORDER:
                label.set_class(other is status and kind == "tile-problem", status_class(other))
            label.set_class(kind == "tile-more", "tile-more")
