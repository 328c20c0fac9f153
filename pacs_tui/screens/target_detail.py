"""Node detail: one DICOM node's facts, its latency over the last hour and its recent events.

Pushed over the Nodes screen (Enter on a row); Escape goes back. The chart and the events come
from the history in a worker and are extended live while the screen shows; the chart marks the
time the node was DOWN. The body scrolls (↓, PgDn, End) when it is taller than the terminal.

Facts sit two to a line where they fit; a value too long for half the width (timings, a UID, a
description) gets a line of its own, so that no value is ever broken in the middle ("4.8 / ms").

Most of what this screen shows came from outside: the peer's implementation class UID and
version name, the reason (which quotes the peer), the config's AE title, host and description,
the events' summaries. All of it is shown :func:`~pacs_tui.visible.visible` and as ``Text``,
never as markup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.widgets import Label, Static

from pacs_tui.model import Event, EventKind, Status, TargetState
from pacs_tui.screens import PacsScreen, UiContext
from pacs_tui.screens.nodes import METRIC, address, probe_now, shown_id
from pacs_tui.ui_format import (
    STATUS_ORDER,
    ago,
    down_periods,
    ms,
    series_summary,
    status_class,
)
from pacs_tui.ui_format import when as when_text
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets import LatencyChart, StatusTable
from pacs_tui.widgets.status_table import plain

log = logging.getLogger(__name__)

#: Seconds of history in the chart.
CHART_WINDOW = 3600.0
#: Events of this target listed.
EVENT_ROWS = 30


#: Labels for the probe's details, in the order shown; other keys are shown after them.
DETAIL_LABELS: dict[str, str] = {
    "peer_implementation_version_name": "Peer version",
    "peer_implementation_class_uid": "Peer class UID",
    "peer_max_pdu": "Peer max PDU",
    "address": "Resolved IP",
    "calling_aet": "Calling AE",
    "echo_status": "C-ECHO status",
}
#: Details that repeat what is shown elsewhere.
HIDDEN_DETAILS = {"called_aet", "accepted"}


def detail_facts(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The probe's details as (label, text), known ones first, empty ones left out."""
    known = [k for k in DETAIL_LABELS if k in details]
    other = sorted(k for k in details if k not in DETAIL_LABELS and k not in HIDDEN_DETAILS)
    facts: list[tuple[str, str]] = []
    for key in (*known, *other):
        value = details[key]
        if value is None or value == "":
            continue
        if key == "echo_status" and isinstance(value, int):
            text = f"0x{value:04X}" + (" (success)" if value == 0 else "")
        elif key == "peer_max_pdu" and value == 0:
            text = "unlimited"
        else:
            text = str(value)
        facts.append((DETAIL_LABELS.get(key, key.replace("_", " ").capitalize()), text))
    return facts


def timings(metrics: Mapping[str, float]) -> str:
    """``"associate 1.2 ms · C-ECHO 0.4 ms · release 0.3 ms"`` from the probe's metrics."""
    parts = [
        f"{label} {ms(metrics[name])}"
        for name, label in (
            ("associate_seconds", "assoc"),
            ("dimse_seconds", "echo"),
            ("release_seconds", "release"),
        )
        if name in metrics
    ]
    return " · ".join(parts)


class FactsGrid:
    """``(label, value)`` facts laid out for the width they get (a Rich renderable).

    Two facts per line while both values fit in half the width; a longer value gets a line of
    its own (after the paired ones), where it is wrapped only if it is longer than the line.
    Labels and values are shown :func:`~pacs_tui.visible.visible` (a probe's details and their
    keys come from the peer), a value cut at :data:`~pacs_tui.visible.TEXT_LIMIT` characters.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = [
            (visible(label, VALUE_LIMIT), visible(value, TEXT_LIMIT) if value else "—")
            for label, value in pairs
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        label_width = max((len(label) for label, _ in self.pairs), default=0)
        # Two pairs: label, value, label, value with a space between each.
        half_value = (options.max_width - 2 * label_width - 3) // 2
        short = [p for p in self.pairs if len(p[1]) <= half_value]
        long = [p for p in self.pairs if len(p[1]) > half_value]
        paired = Table.grid(padding=(0, 1), expand=True)
        for _ in range(2):
            paired.add_column(style="bold", no_wrap=True, width=label_width)
            paired.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for index in range(0, len(short), 2):
            cells: list[Text] = []
            for label, value in short[index : index + 2]:
                cells += [Text(label), Text(value)]
            paired.add_row(*cells)
        yield paired
        if long:
            single = Table.grid(padding=(0, 1), expand=True)
            single.add_column(style="bold", no_wrap=True, width=label_width)
            single.add_column(ratio=1, overflow="fold")
            for label, value in long:
                single.add_row(Text(label), Text(value))
            yield single


class NodeDetailScreen(PacsScreen):
    """Everything known about one node."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the list"),
        Binding("p", "probe", "Probe", id="detail.probe", tooltip="Check this node now"),
    ]

    AUTO_FOCUS = "#detail-body"

    def __init__(self, ctx: UiContext, target_id: str) -> None:
        # No id: a detail screen being popped is still registered while a new one is pushed
        # (back and open again in one burst of keys), and a second "node-detail" would raise
        # DuplicateIds.
        super().__init__(ctx)
        self.target_id = target_id
        self._points: list[tuple[float, float]] = []
        self._events: list[Event] = []
        #: Status changes in the chart's window, from the history: (ts, before, after).
        self._changes: list[tuple[float, object, object]] = []
        self._loaded = False

    @property
    def state(self) -> TargetState:
        return self.ctx.engine.states[self.target_id]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Label("", id="detail-title", markup=False)
            yield Static("", id="detail-facts")
            yield Label("", id="chart-title", classes="section-title", markup=False)
            yield LatencyChart(id="detail-chart")
            yield Label("Recent events", classes="section-title")
            events = StatusTable(id="detail-events", cursor_type="none", show_cursor=False)
            events.can_focus = False  # the body scrolls, not the table
            yield events

    def on_mount(self) -> None:
        if self.closing:
            return  # closed as soon as it opened (Enter, Escape in one burst): widgets gone
        self._fit_events(self.app.size.width)
        self._show_state()
        self._show_chart()
        self.load_history()

    # -- hooks ------------------------------------------------------------------------------

    def sync(self) -> None:
        self._show_state()
        self._show_chart()

    def apply_state(self, state: TargetState, previous: Status) -> None:
        if state.id != self.target_id:
            return
        value = state.metrics.get(METRIC)
        seen = state.last_seen
        if (
            value is not None
            and seen is not None
            and (not self._points or self._points[-1][0] < seen)
        ):
            self._points.append((seen, value))
        self._show_state()
        self._show_chart()

    def restyle(self) -> None:
        self._show_events()

    def apply_event(self, event: Event) -> None:
        if event.target == self.target_id:
            self._events.append(event)
            self._show_events()
            if event.kind == EventKind.STATUS_CHANGE:
                self._show_chart()

    def on_resize(self, event: Resize) -> None:
        if not self.closing and self._fit_events(event.size.width):
            self._show_events()

    def _fit_events(self, width: int) -> bool:
        columns: list[tuple[str, str, int | None]] = [
            ("Time", "time", 12),
            ("Status", "status", 9),
            ("What", "summary", None),
        ]
        # The body has a padding of 1 on each side and may show a scrollbar.
        table = self.query_one("#detail-events", StatusTable)
        return table.fit_columns(columns, width - 4)

    # -- drawing ----------------------------------------------------------------------------

    def _show_state(self) -> None:
        state = self.state
        title = self.query_one("#detail-title", Label)
        reason = "" if state.reason == state.status.word else f" — {state.reason}"
        title.update(visible(f"{state.status.label}  {shown_id(state)}{reason}", TEXT_LIMIT))
        for status in STATUS_ORDER:
            title.set_class(status is state.status, status_class(status))
        self.query_one("#detail-facts", Static).update(self._facts(state))

    def _last_seen(self, state: TargetState, moment: Callable[[float | None], str]) -> str:
        """When the node last answered; after a restart, from the last sample in the history."""
        if state.last_seen is not None:
            return moment(state.last_seen)
        if self._points:
            return f"{moment(self._points[-1][0])}, history"
        return "never (this hour)" if self._loaded else "…"

    def _facts(self, state: TargetState) -> FactsGrid:
        """Two key/value pairs per line where they fit, so that most fits above the chart."""
        now = self.ctx.now()
        tz = self.ctx.tz
        target = state.target

        def moment(ts: float | None) -> str:
            if ts is None:
                return "never"
            return f"{ago(ts, now)} ({when_text(ts, now, tz)})"

        pairs: list[tuple[str, str]] = [
            ("AE title", target.label("aet")),
            ("Address", address(state)),
            ("Role", target.label("role")),
            ("Site", target.label("site")),
            ("Since", moment(state.since)),
            ("Last seen", self._last_seen(state, moment)),
            ("Echo", ms(state.metrics.get(METRIC))),
            ("Timings", timings(state.metrics)),
        ]
        pairs += [(label, value) for label, value in detail_facts(state.details)]
        if target.label("description"):
            pairs.append(("Description", target.label("description")))
        return FactsGrid(pairs)

    def _show_chart(self) -> None:
        now = self.ctx.now()
        start = now - CHART_WINDOW
        points = [p for p in self._points if p[0] >= start]
        down = self.down_periods(start, now)
        self.query_one(LatencyChart).set_series(points, start, now, down)
        stats = series_summary((v, v, v, 1) for _, v in points)
        if stats is None:
            figures = "no samples yet"
        else:
            low, avg, high = stats
            figures = f"min {ms(low)} · avg {ms(avg)} · max {ms(high)}"
        self.query_one("#chart-title", Label).update(f"Echo latency, last hour — {figures}")

    def down_periods(self, start: float, end: float) -> list[tuple[float, float]]:
        """When this node was DOWN within ``[start, end]`` (history, live events, state now)."""
        changes = list(self._changes)
        changes += [
            (e.ts, e.fields.get("from"), e.status or e.fields.get("to"))
            for e in (*self._events, *self.ctx.recent)
            if e.target == self.target_id and e.kind == EventKind.STATUS_CHANGE
        ]
        state = self.state
        return down_periods(changes, start, end, current=state.status, since=state.since)

    def _show_events(self) -> None:
        table = self.query_one("#detail-events", StatusTable)
        now = self.ctx.now()
        events = self._events[-EVENT_ROWS:]
        with self.app.batch_update():
            table.clear()
            for event in reversed(events):
                status = table.status_text(event.status) if event.status else plain("")
                # A long summary wraps onto more lines rather than being cut.
                table.add_row(
                    plain(when_text(event.ts, now, self.ctx.tz)),
                    status,
                    Text(visible(event.summary, TEXT_LIMIT), end=""),
                    height=None,
                )

    # -- history ----------------------------------------------------------------------------

    @work(exclusive=True, group="detail-history")
    async def load_history(self) -> None:
        """Read the last hour of latency and the recent events of this node."""
        engine = self.ctx.engine
        now = self.ctx.now()
        try:
            points = await engine.series(self.target_id, METRIC, now - CHART_WINDOW)
            events = await engine.events(self.target_id, limit=EVENT_ROWS)
            changes = await engine.events(
                self.target_id, kind=EventKind.STATUS_CHANGE, since=now - CHART_WINDOW
            )
        except Exception:
            log.exception("could not read the history of %s", self.target_id)
            self.notify("Could not read the history of this node.", severity="error")
            return
        self._changes = [
            (e.ts, e.fields.get("from"), e.status or e.fields.get("to"))
            for e in changes
            if e.kind == EventKind.STATUS_CHANGE
        ]
        history = [(p.ts, p.avg) for p in points]
        last = history[-1][0] if history else now - CHART_WINDOW
        self._points = history + [p for p in self._points if p[0] > last]
        seen = {(e.ts, e.kind, e.summary) for e in events}
        self._events = events + [e for e in self._events if (e.ts, e.kind, e.summary) not in seen]
        self._events.sort(key=lambda e: e.ts)
        self._loaded = True
        if self.closing:
            return  # closed (Escape) while the history was read: its widgets are gone
        self._show_state()
        self._show_chart()
        self._show_events()

    # -- actions ----------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_probe(self) -> None:
        probe_now(self, self.target_id)
