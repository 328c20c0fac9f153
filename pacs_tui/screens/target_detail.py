"""Target detail: one target's facts, its headline metric over the last hour and its recent
events, for any source (the labels, metric names and units come from its declaration).

Pushed over a target table (Enter on a row); Escape goes back. The chart and the events come
from the history in a worker and are extended live while the screen shows; the chart marks the
time the target was DOWN. The body scrolls (↓, PgDn, End) when it is taller than the terminal.

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

from pacs_tui.model import Event, EventKind, Status, Target, TargetState
from pacs_tui.probes import source_of_kind
from pacs_tui.screens import PacsScreen, UiContext, probe_now
from pacs_tui.screens.table_cells import address, shown_id
from pacs_tui.source import MetricSpec, Source, spec_from_name
from pacs_tui.ui_format import (
    STATUS_ORDER,
    ago,
    down_periods,
    metric_text,
    series_summary,
    status_class,
)
from pacs_tui.ui_format import when as when_text
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible, visible_lines
from pacs_tui.widgets import MetricChart, StatusTable
from pacs_tui.widgets.status_table import plain

log = logging.getLogger(__name__)

#: Seconds of history in the chart.
CHART_WINDOW = 3600.0
#: Events of this target listed.
EVENT_ROWS = 30


class Lines(str):
    """A detail's text a source laid out in lines itself (``Source.detail_text``, each line
    made visible there): its line breaks stay, where any other value's are made visible."""

    __slots__ = ()


def detail_facts(source: Source | None, details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A result's details as (label, text), the source's known ones first, empty ones left
    out."""
    labels = source.detail_labels if source is not None else {}
    hidden = source.hidden_details if source is not None else frozenset()
    known = [k for k in labels if k in details]
    other = sorted(k for k in details if k not in labels and k not in hidden)
    facts: list[tuple[str, str]] = []
    for key in (*known, *other):
        value = details[key]
        if value is None or value == "" or value == []:
            continue
        special = source.detail_text(key, value) if source and source.detail_text else None
        if special is not None:
            text = Lines(special) if "\n" in special else special
        elif isinstance(value, list):
            text = "; ".join(str(v) for v in value)
        else:
            text = str(value)
        facts.append((labels.get(key, key.replace("_", " ").capitalize()), text))
    return facts


def _spec(source: Source | None, name: str) -> MetricSpec:
    """The declaration of metric ``name`` (by its name's unit suffix without a source)."""
    return source.metric(name) if source is not None else spec_from_name(name)


def other_metrics(source: Source | None, metrics: Mapping[str, float], headline: str) -> str:
    """``"assoc 1.2 ms · echo 0.4 ms · release 0.3 ms"``: the metrics besides the headline,
    declared ones first, each with its label and unit."""
    declared = [m.name for m in source.metrics] if source is not None else []
    names = [n for n in declared if n in metrics] + sorted(n for n in metrics if n not in declared)
    parts = []
    for name in names:
        if name == headline:
            continue
        spec = _spec(source, name)
        parts.append(f"{spec.label} {metric_text(spec.unit, metrics[name])}")
    return " · ".join(parts)


def _shown(value: str) -> str:
    return (
        visible_lines(value, TEXT_LIMIT) if isinstance(value, Lines) else visible(value, TEXT_LIMIT)
    )


class FactsGrid:
    """``(label, value)`` facts laid out for the width they get (a Rich renderable).

    Two facts per line while both values fit in half the width; a longer value gets a line of
    its own (after the paired ones), where it is wrapped only if it is longer than the line.
    Labels and values are shown :func:`~pacs_tui.visible.visible` (a probe's details and their
    keys come from the peer), a value cut at :data:`~pacs_tui.visible.TEXT_LIMIT` characters.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = [
            (visible(label, VALUE_LIMIT), _shown(value) if value else "—") for label, value in pairs
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        label_width = max((len(label) for label, _ in self.pairs), default=0)
        # Two pairs: label, value, label, value with a space between each.
        half_value = (options.max_width - 2 * label_width - 3) // 2
        short = [p for p in self.pairs if len(p[1]) <= half_value and "\n" not in p[1]]
        long = [p for p in self.pairs if len(p[1]) > half_value or "\n" in p[1]]
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


#: What a detail says of a target the site no longer watches.
GONE_WORDS = "no longer watched: not in the site's config now"


class TargetDetailScreen(PacsScreen):
    """Everything known about one target."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the list"),
        Binding("p", "probe", "Probe", id="detail.probe", tooltip="Check this target now"),
    ]

    AUTO_FOCUS = "#detail-body"

    def __init__(self, ctx: UiContext, target_id: str) -> None:
        # No id: a detail screen being popped is still registered while a new one is pushed
        # (back and open again in one burst of keys), and a second "node-detail" would raise
        # DuplicateIds.
        super().__init__(ctx)
        self.target_id = target_id
        first = ctx.view.state(target_id)
        self.source = source_of_kind(first.target.kind) if first is not None else None
        #: The charted metric: the target's headline one when its screen opens.
        self.metric = (self.source.headline_metric(first) if self.source and first else None) or ""
        self._points: list[tuple[float, float]] = []
        self._events: list[Event] = []
        #: Status changes in the chart's window, from the history: (ts, before, after).
        self._changes: list[tuple[float, object, object]] = []
        self._loaded = False
        #: The target's last state seen: what is shown once it is gone from the site (a reload,
        #: or a collector back with another config, while this screen was open).
        self._last = first or TargetState(Target(target_id, "unknown"))

    @property
    def state(self) -> TargetState:
        state = self.ctx.view.state(self.target_id)
        if state is not None:
            self._last = state
            return state
        return self._last

    @property
    def gone(self) -> bool:
        """The target is no longer watched (the site's config has it no more)."""
        return self.ctx.view.state(self.target_id) is None

    @property
    def spec(self) -> MetricSpec:
        return _spec(self.source, self.metric)

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            yield Label("", id="detail-title", markup=False)
            yield Static("", id="detail-facts")
            yield Label("", id="chart-title", classes="section-title", markup=False)
            yield MetricChart(unit=self.spec.unit, id="detail-chart")
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
        link = self.ctx.view.link
        if not self._loaded and not self.gone and (link is None or link.connected):
            self.load_history()  # opened while the collector was away
        self.refresh_bindings()  # p: not for a target gone

    def apply_state(self, state: TargetState, previous: Status) -> None:
        if state.id != self.target_id:
            return
        value = state.metrics.get(self.metric)
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
        shown = state.status
        if self.gone:
            reason = f" — {GONE_WORDS}; last known: {state.status.label}{reason}"
            shown = Status.UNKNOWN
        title.update(visible(f"{shown.label}  {shown_id(state)}{reason}", TEXT_LIMIT))
        for status in STATUS_ORDER:
            title.set_class(status is shown, status_class(status))
        self.query_one("#detail-facts", Static).update(self._facts(state))

    def _last_seen(self, state: TargetState, moment: Callable[[float | None], str]) -> str:
        """When the target last answered; after a restart, from the last sample in the
        history."""
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

        source = self.source
        pairs: list[tuple[str, str]] = []
        if target.label("aet"):
            pairs.append(("AE title", target.label("aet")))
        if target.label("host"):
            pairs.append(("Address", address(state)))
        for column in source.columns if source is not None else ():
            if column.cell == "label" and column.arg != "aet":
                pairs.append((column.label, target.label(column.arg)))
        pairs += [
            ("Site", target.label("site")),
            ("Since", moment(state.since)),
            ("Last seen", self._last_seen(state, moment)),
            # A DOWN node is checked less and less often (up to every 5 minutes): its reason
            # is as old as this; p checks now.
            ("Last checked", moment(state.checked)),
        ]
        if self.metric:
            pairs.append(
                (self.spec.label, metric_text(self.spec.unit, state.metrics.get(self.metric)))
            )
        others = other_metrics(source, state.metrics, self.metric)
        if others:
            units = {_spec(source, n).unit for n in state.metrics}
            pairs.append(("Timings" if units == {"s"} else "Metrics", others))
        pairs += [(label, value) for label, value in detail_facts(source, state.details)]
        if target.label("description"):
            pairs.append(("Description", target.label("description")))
        return FactsGrid(pairs)

    def _show_chart(self) -> None:
        now = self.ctx.now()
        start = now - CHART_WINDOW
        points = [p for p in self._points if p[0] >= start]
        down = self.down_periods(start, now)
        self.query_one(MetricChart).set_series(points, start, now, down)
        spec = self.spec
        stats = series_summary((v, v, v, 1) for _, v in points)
        if stats is None:
            figures = "no samples yet"
        else:
            low, avg, high = (metric_text(spec.unit, v) for v in stats)
            figures = f"min {low} · avg {avg} · max {high}"
        title = visible(spec.title or spec.label, VALUE_LIMIT)
        self.query_one("#chart-title", Label).update(f"{title}, last hour — {figures}")

    def down_periods(self, start: float, end: float) -> list[tuple[float, float]]:
        """When this target was DOWN within ``[start, end]`` (history, live events, state now)."""
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
        """Read the last hour of the charted metric and the recent events of this target."""
        view = self.ctx.view
        now = self.ctx.now()
        try:
            points = await view.series(self.target_id, self.metric, now - CHART_WINDOW)
            events = await view.events(self.target_id, limit=EVENT_ROWS)
            changes = await view.events(
                self.target_id, kind=EventKind.STATUS_CHANGE, since=now - CHART_WINDOW
            )
        except Exception as exc:  # the history closing, the collector gone: in words
            log.warning("could not read the history of %s: %s", self.target_id, exc)
            log.debug("the detail's read", exc_info=True)
            self.notify("Could not read the history of this target.", severity="error")
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A target that reports on its own (a listener, a tap, an audit receiver) is not
        # offered a probe its detail could only say it cannot take.
        if action == "probe" and not self.ctx.view.can_probe(self.target_id):
            return False
        return super().check_action(action, parameters)

    def action_probe(self) -> None:
        probe_now(self, self.target_id)
