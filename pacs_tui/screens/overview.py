"""Overview: one worst-first tile per area that has targets, and the recent status changes.

There is one area per registered source (:data:`pacs_tui.probes.SOURCES`); an area with no
configured target shows no tile. A tile is redrawn when a status in it changes, and every
:data:`~pacs_tui.screens.TICK_SECONDS` (its "since" times), not on every result. The recent
changes come from the app's shared list (loaded from the history, then kept up to date live),
newest first; their targets and reasons are shown :func:`~pacs_tui.visible.visible`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import Label

from pacs_tui.model import Event, EventKind, Status, TargetState
from pacs_tui.probes import SOURCES
from pacs_tui.screens import TICK_SECONDS, WIDE, PacsScreen, UiContext
from pacs_tui.ui_format import when
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets import AreaTile, LightTable
from pacs_tui.widgets.status_table import plain

#: Status changes listed under "Recent status changes".
RECENT_ROWS = 20
#: A change of status is listed under the recent changes at once; the tiles follow this much
#: later, once for every change meanwhile (a tile that gains or loses a line re-lays the whole
#: screen out: most of what a change costs the Overview, and the list says it first).
TILES_DELAY = 0.1
#: Width of the Change column: "? UNKNOWN → ▲ WARN", or narrow "? → ▲ WARN".
CHANGE_WIDTH = 18
CHANGE_WIDTH_NARROW = 11


@dataclass(frozen=True, slots=True)
class Area:
    """One tile: the targets of ``kinds``; ``screen`` is the mode that lists them in full."""

    id: str
    title: str
    kinds: tuple[str, ...]
    screen: str
    screen_title: str
    summary: Callable[[Sequence[TargetState]], str] | None = None


AREAS: tuple[Area, ...] = tuple(
    Area(s.name, s.title, s.kinds, s.screen, s.screen_title, s.tile_summary) for s in SOURCES
)


def _status_word(word: object) -> Status | None:
    try:
        return Status(str(word))
    except ValueError:
        return None


class OverviewScreen(PacsScreen):
    """Tiles per area, worst first, and the last status changes."""

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx, id="overview")
        self._shown_version = -1
        self._shown_width = -1
        self._tiles_timer: Timer | None = None
        self._tile_kinds: set[str] = set()
        self._below_text = ""  # what the line under the body says ("": hidden)

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview-body"):  # a small terminal scrolls to the list
            with Vertical(id="tiles"):
                for area in AREAS:
                    yield AreaTile(area.title, area.id)
            yield Label("Recent status changes", id="recent-title", classes="section-title")
            yield LightTable(id="recent")
        # What a small terminal leaves below the fold, in words: a scrollbar alone is easy to
        # miss on a wall screen (the tiles are worst first, so these are the healthiest).
        yield Label("", id="overview-more", markup=False)

    def on_mount(self) -> None:
        self.set_interval(TICK_SECONDS, self._tick)
        body = self.query_one("#overview-body", VerticalScroll)
        for name in ("scroll_y", "virtual_size"):
            self.watch(body, name, lambda _old, _new: self._say_below(), init=False)

    # -- hooks ------------------------------------------------------------------------------

    def sync(self) -> None:
        self._update_tiles()
        self._update_recent()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        if state.status is not previous:  # reasons and times catch up at the next tick
            self._tile_kinds.add(state.target.kind)
            if self._tiles_timer is None:
                self._tiles_timer = self.set_timer(TILES_DELAY, self._update_changed_tiles)

    def _update_changed_tiles(self) -> None:
        self._tiles_timer = None
        kinds, self._tile_kinds = self._tile_kinds, set()
        if self.is_current and not self.closing:
            self._update_tiles(kinds)

    def apply_event(self, event: Event) -> None:
        if event.kind == EventKind.STATUS_CHANGE:
            self._update_recent()

    def apply_recent_loaded(self) -> None:
        self._update_recent()

    def apply_link(self) -> None:
        stale = self.stale_words()
        title = "Recent status changes" + (f" — {stale}" if stale else "")
        self.query_one("#recent-title", Label).update(title)

    def restyle(self) -> None:
        for tile in self.query(AreaTile):
            tile.show_border()  # set inline from the old theme's colours
        self._shown_version = -1
        self._update_recent()

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._shown_width:
            self._shown_version = -1
            self._update_recent()
        self.call_after_refresh(self._say_below)

    def _say_below(self) -> None:
        """Under the body, what is below its fold: "▼ below (PgDn): ✔ Storage, ✔ Hosts,
        recent changes"; nothing when it all fits or the end is in sight."""
        body = self.query_one("#overview-body", VerticalScroll)
        more = self.query_one("#overview-more", Label)
        # The height the body has without this line: showing it must not change the answer.
        room = body.size.height + (1 if more.display else 0)
        overflows = body.virtual_size.height > room
        fold = body.scroll_y + room - 1  # the first line out of sight with this line shown
        below: list[str] = []
        if overflows:
            tiles = self.query_one("#tiles", Vertical)
            top = tiles.virtual_region.y
            below = [
                f"{tile.worst.glyph} {tile.border_title}"
                for tile in tiles.children
                if isinstance(tile, AreaTile)
                and tile.display
                and top + tile.virtual_region.y >= fold
            ]
            if self.query_one("#recent-title", Label).virtual_region.y >= fold:
                below.append("recent changes")
        text = f"▼ below (PgDn): {', '.join(below)}" if below else ""
        room_for = max(body.size.width - 2, 10)
        text = text if len(text) <= room_for else text[: room_for - 1] + "…"
        if text != self._below_text:  # an update re-lays the screen out: only on a change
            self._below_text = text
            more.update(text)
            more.display = bool(text)

    def _fit_recent(self, events: list[Event], width: int, now: float) -> bool:
        """Columns fitted to what is listed, so that the reason gets the rest of the width."""
        times = [when(e.ts, now, self.ctx.tz) for e in events]
        target_width = max((len(visible(e.target, VALUE_LIMIT)) for e in events), default=6)
        columns: list[tuple[str, str, int | None]] = [
            ("Time", "time", max((len(t) for t in times), default=8)),
            ("Target", "target", max(6, min(target_width, 24))),
            ("Change", "change", CHANGE_WIDTH if width >= WIDE else CHANGE_WIDTH_NARROW),
            ("Reason", "reason", None),
        ]
        return self.query_one("#recent", LightTable).fit_columns(columns, width)

    def _tick(self) -> None:
        if self.is_current:
            self._update_tiles()  # which says what is below the fold after its refresh

    # -- drawing ----------------------------------------------------------------------------

    def _update_tiles(self, kinds: Collection[str] | None = None) -> None:
        """Redraw the tiles of ``kinds`` (all by default) and put the worst area first."""
        now = self.ctx.now()
        tiles: list[AreaTile] = []
        # One pass over every state, by kind (an area's pass of its own over a thousand
        # states, per area, was most of what a change of status cost the Overview).
        by_kind: dict[str, list[TargetState]] = {}
        for state in self.ctx.view.states():
            found = by_kind.get(state.target.kind)
            if found is None:
                by_kind[state.target.kind] = [state]
            else:
                found.append(state)
        for area in AREAS:
            tile = self.query_one(f"#tile-{area.id}", AreaTile)
            tiles.append(tile)
            if len(area.kinds) == 1:
                states = by_kind.get(area.kinds[0], [])
            else:
                states = [s for kind in area.kinds for s in by_kind.get(kind, ())]
            tile.display = bool(states)
            if kinds is not None and not any(k in kinds for k in area.kinds):
                continue
            summary = area.summary(states) if area.summary else ""
            tile.show(states, now, hint=f" (see {area.screen_title})", summary=summary)
        # Worst area first. Only the tiles shown count: a hidden (empty) tile's worst is
        # UNKNOWN, and sorting it above an OK one re-laid out the screen at every change of
        # the OK one's status, for no change on screen.
        shown = [t for t in tiles if t.display]
        order = sorted(shown, key=lambda t: (-t.worst.rank, AREAS_INDEX[t.id or ""]))
        container = self.query_one("#tiles", Vertical)
        if [t for t in container.children if t.display] != order:
            for index, tile in enumerate(order):
                container.move_child(tile, before=index)
        self.call_after_refresh(self._say_below)

    def _update_recent(self) -> None:
        width = self.app.size.width
        if self.ctx.recent_version == self._shown_version and width == self._shown_width:
            return
        self._shown_version = self.ctx.recent_version
        self._shown_width = width
        table = self.query_one("#recent", LightTable)
        now = self.ctx.now()
        events = list(self.ctx.recent)[-RECENT_ROWS:]
        # The words and the column's width are chosen from the same width (at 120 columns
        # the column was fitted narrow, beside the scrollbar, and the words wide: cut).
        room = width - table.styles.scrollbar_size_vertical
        narrow = room < WIDE
        self._fit_recent(events, room, now)
        # A long reason wraps onto more lines rather than being cut.
        table.set_rows(self._event_cells(table, event, now, narrow) for event in reversed(events))

    def _event_cells(
        self, table: LightTable, event: Event, now: float, narrow: bool = False
    ) -> list[Text]:
        before = _status_word(event.fields.get("from"))
        after = event.status or _status_word(event.fields.get("to"))
        change = Text(no_wrap=True, end="")
        if before is not None:
            # Narrow: the glyph alone says what it was ("✔ → ▼ DOWN"), leaving room for the reason.
            text = table.status_text(before)
            if narrow:
                text = Text(before.glyph, style=text.style, no_wrap=True, end="")
            change.append_text(text)
            change.append(" → ")
        if after is not None:
            change.append_text(table.status_text(after))
        reason = str(event.fields.get("reason", event.summary))
        if after is not None and reason == after.word:
            reason = ""  # "→ OK" says it all
        return [
            plain(when(event.ts, now, self.ctx.tz)),
            plain(visible(event.target, VALUE_LIMIT)),
            change,
            Text(visible(reason, TEXT_LIMIT), end=""),
        ]


AREAS_INDEX = {f"tile-{area.id}": index for index, area in enumerate(AREAS)}
