"""A tile summarising one area (DICOM nodes, later HL7, storage, …) on the Overview screen.

First line: counts per status, worst first ("▼ 1 DOWN  ▲ 1 WARN  ✔ 5 OK"); then every target
that is not OK, worst first, with its reason and how long ago it began. When a line is too long
the reason is cut short ("…"), never the age: "(2m ago)" is what an admin needs to see. The border
takes the colour of the worst status. Ids and reasons are shown :func:`~pacs_tui.visible.visible`.
A tile grows at once and shrinks only after ``SHRINK_AFTER`` seconds of needing fewer lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label

from pacs_tui.model import Status, TargetState, worst_first
from pacs_tui.ui_format import STATUS_ORDER, ago, count_summary
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible

#: Lines of "not OK" targets shown before "… and N more".
MAX_PROBLEMS = 8
#: Seconds a tile that needs fewer lines keeps its height (the lines left blank): a node that
#: flaps does not make the screen below jump at each change, and a tile that changes height
#: re-lays the whole screen out, which was half of what a change of status cost the Overview.
SHRINK_AFTER = 60.0


class TileLine(Widget):
    """One line of a tile: a text cut to fit (with "…") and, kept whole after it, an age.

    Its colour is its tile's style for the line's status (a component class of the tile): a
    line that changes status is redrawn, never restyled (a CSS class change re-matches the
    stylesheet, which was most of what a change of status cost the Overview)."""

    DEFAULT_CSS = """
    TileLine { height: 1; width: 1fr; }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.text = ""
        self.age = ""
        self.look = ""

    def set(self, text: str, age: str = "", look: str = "") -> None:
        """Show ``text`` and ``age`` in the tile's component style ``look`` (none: plain)."""
        if (text, age, look) != (self.text, self.age, self.look):
            self.text = text
            self.age = age
            self.look = look
            self.refresh()

    def render(self) -> Text:
        age = f" {self.age}" if self.age else ""
        room = max(1, self.size.width - cell_len(age))
        tile = self.parent
        style = (
            tile.get_component_rich_style(self.look, partial=True)
            if self.look and isinstance(tile, AreaTile)
            else Style()
        )
        line = Text(self.text, style=style, no_wrap=True, end="")
        line.truncate(room, overflow="ellipsis")
        line.append(age)
        return line


class AreaTile(Vertical):
    """Counts and the non-OK targets of one area."""

    #: The lines' looks (``tile--down`` …) and the border's colour for each worst status
    #: (``tile-border--down`` …): component styles, so that a change of status restyles nothing.
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"tile--{s.value.lower()}" for s in STATUS_ORDER),
        *(f"tile-border--{s.value.lower()}" for s in STATUS_ORDER),
        "tile--more",
    }

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
    AreaTile > .tile--ok, AreaTile > .tile-border--ok { color: $success; }
    AreaTile > .tile--unknown { color: $text-muted; }
    AreaTile > .tile-border--unknown { color: $foreground 50%; }
    AreaTile > .tile--warn, AreaTile > .tile-border--warn { color: $warning; text-style: bold; }
    AreaTile > .tile--crit, AreaTile > .tile-border--crit { color: $error; text-style: bold; }
    AreaTile > .tile--down, AreaTile > .tile-border--down { color: $error; text-style: bold; }
    AreaTile > .tile--more { color: $text-muted; }
    """

    def __init__(self, title: str, area_id: str) -> None:
        super().__init__(id=f"tile-{area_id}", classes="tile")
        self.border_title = title
        self.worst = Status.UNKNOWN
        self._counts: str | None = None
        self._lines_kept = 0  # lines the tile is high (blank ones included)
        self._fewer_since: float | None = None  # since when it has needed fewer

    def compose(self) -> ComposeResult:
        yield Label("", classes="tile-counts", markup=False)
        # A fixed pool of lines, shown or hidden: no mounting or removing on updates.
        for _ in range(MAX_PROBLEMS + 1):
            yield TileLine(classes="tile-line")

    def show(
        self, states: Sequence[TargetState], now: float, hint: str = "", summary: str = ""
    ) -> None:
        """Show ``states`` (any order): counts (and the area's ``summary`` after them) and the
        non-OK ones worst first."""
        self.worst = Status.worst(s.status for s in states) if states else Status.UNKNOWN
        self.show_border()
        counts = count_summary(s.status for s in states)
        if summary:
            counts = f"{counts}   {summary}"
        if counts != self._counts:  # an update re-lays the screen out: only when it changed
            self._counts = counts
            self.query_one(".tile-counts", Label).update(counts, layout=False)  # one line
        problems = worst_first(s for s in states if s.status is not Status.OK)
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
        # Targets not checked yet (the first seconds after a start) do not hold the height.
        checked = sum(1 for s in shown if s.checked is not None)
        self._set_lines(lines, max(len(lines), self._keep_height(checked, now)))

    def _keep_height(self, needed: int, now: float) -> int:
        """How many lines to keep: more at once, fewer after ``SHRINK_AFTER``."""
        if needed >= self._lines_kept:
            self._fewer_since = None
            self._lines_kept = needed
        elif self._fewer_since is None:
            self._fewer_since = now
        elif not 0 <= now - self._fewer_since < SHRINK_AFTER:
            self._fewer_since = None
            self._lines_kept = needed
        return self._lines_kept

    def show_border(self) -> None:
        """The border and the counts in the worst status's colour (again after a change of
        theme)."""
        worst = self.worst.value.lower()
        color = self.get_component_styles(f"tile-border--{worst}").color
        if self.styles.border_top != ("round", color):
            self.styles.border = ("round", color)
        counts = self.query_one(".tile-counts", Label)
        text_color = self.get_component_styles(f"tile--{worst}").color
        if counts.styles.color != text_color:
            counts.styles.color = text_color

    def _set_lines(self, lines: list[tuple[str, str, Status, str]], keep: int) -> None:
        """Fill the pool of lines; up to ``keep`` lines the unused ones are blank, the others
        hidden."""
        labels = list(self.query(".tile-line").results(TileLine))
        for index, label in enumerate(labels):
            if index >= len(lines):
                label.set("")
                if label.display != (index < keep):
                    label.display = index < keep
                continue
            text, age, status, kind = lines[index]
            look = f"tile--{status.value.lower()}" if kind == "tile-problem" else "tile--more"
            label.set(text, age, look)
            if not label.display:
                label.display = True
