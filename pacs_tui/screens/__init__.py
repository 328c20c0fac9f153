"""Screens of the UI and what they share: the :class:`UiContext` and the :class:`PacsScreen` base.

Every screen gets the context in its constructor (the engine's view, the clock, the shared list
of recent status changes) and only reads through the :class:`~pacs_tui.view.EngineView` or asks
it for actions: never the engine itself. The app forwards engine messages to the screen that is
showing; a screen that is not showing gets nothing and re-reads the view's states in
:meth:`PacsScreen.sync` when it is shown again.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Label

from pacs_tui.messages import (
    CollectorLinkChanged,
    EngineEventRecorded,
    RecentEventsLoaded,
    TargetStatesChanged,
)
from pacs_tui.model import Event, Status, TargetKind, TargetState
from pacs_tui.operators import NotAllowed
from pacs_tui.screens.on_top import OnTopActions
from pacs_tui.ui_format import clock
from pacs_tui.view import EngineView
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible, visible_lines
from pacs_tui.widgets import StatusHeader
from pacs_tui.widgets.footer import ScreenFooter

#: How many recent status changes the app keeps in memory for the Overview.
RECENT_MAX = 50
#: How often relative times ("3m ago") are refreshed while a screen shows, in seconds.
TICK_SECONDS = 5.0
#: At or above this terminal width the screens show every column and spell statuses out.
WIDE = 120
#: How long a "probing now" notice stays (short: it must not hide the chart for long).
NOTIFY_SECONDS = 2.0
#: How long a probe's result is waited for, to be said when it comes (seconds): a drill's
#: retrieve, or a check behind a busy pool, takes its time; a later result is not this one's.
PROBE_RESULT_WAIT = 300.0


@dataclass
class UiContext:
    """What every screen may use. Built once by the app."""

    view: EngineView
    now: Callable[[], float]
    demo: bool = False
    recent: deque[Event] = field(default_factory=lambda: deque(maxlen=RECENT_MAX))
    #: Bumped whenever :attr:`recent` changes, so a screen can tell whether to redraw it.
    recent_version: int = 0
    #: Runs recorded as events of their own (drills) since the UI started: the history's
    #: copy is written at its next flush, and a screen opened meanwhile must see them.
    runs: deque[Event] = field(default_factory=lambda: deque(maxlen=RECENT_MAX))

    @property
    def site(self) -> str:
        return self.view.site

    @property
    def tz(self) -> str | None:
        return self.view.timezone

    def add_recent(self, event: Event) -> None:
        """Kept in time order: a check's result carries the time it started, so a slow check
        (a restic listing) reports after quicker ones that started later."""
        recent = self.recent
        if recent and event.ts < recent[-1].ts:
            ordered = list(recent)
            bisect.insort(ordered, event, key=lambda e: e.ts)
            recent.clear()
            recent.extend(ordered)  # the deque's bound drops the oldest
        else:
            recent.append(event)
        self.recent_version += 1

    def replace_recent(self, events: list[Event]) -> None:
        self.recent.clear()
        self.recent.extend(sorted(events, key=lambda e: e.ts))
        self.recent_version += 1

    def states(self, kind: str | None = None) -> list[TargetState]:
        """The current states (of ``kind``), worst first."""
        return self.view.states(kind)


class PacsScreen(OnTopActions, Screen[None]):
    """Header + body + footer, with hooks called for engine updates while the screen shows.

    Subclasses implement :meth:`compose_body` and override :meth:`sync`, :meth:`apply_state`,
    :meth:`apply_event` as needed (rather than defining message handlers themselves).
    """

    def __init__(self, ctx: UiContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ctx = ctx
        self._restyle_pending = False

    def compose(self) -> ComposeResult:
        yield StatusHeader(
            self.ctx.site,
            self.ctx.view.overall,
            self.ctx.now,
            tz=self.ctx.tz,
            demo=self.ctx.demo,
            link=lambda: self.ctx.view.link,
        )
        yield from self.compose_body()
        yield ScreenFooter()

    def compose_body(self) -> ComposeResult:
        """The widgets between the header and the footer."""
        return iter(())

    # -- hooks ------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring everything up to date from the view's states (the screen is being shown)."""

    def apply_state(self, state: TargetState, previous: Status) -> None:
        """One target was checked (only called while this screen is showing)."""

    def apply_event(self, event: Event) -> None:
        """The engine recorded an event (only called while this screen is showing)."""

    def apply_recent_loaded(self) -> None:
        """The shared recent status changes were (re)loaded from the history."""

    def restyle(self) -> None:
        """The theme changed: redraw cells whose colours were taken from the old theme."""

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """The screen is being removed (popped, or the app quits): its widgets may be gone
        already while messages queued before still arrive (Enter then Escape in one burst of
        keys), so the hooks do nothing. Textual 8.2 marks a node being removed with these
        flags (``DOMNode.display`` reads them too); there is no public property for it."""
        return self._pruning or self._closing or self._closed

    def on_mount(self) -> None:
        # Runs after the subclass's own on_mount (Textual dispatches along the MRO).
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._restyle_pending = True
        if self.is_current:
            self.call_after_refresh(self._restyle_now)

    def _restyle_now(self) -> None:
        if self._restyle_pending and not self.closing:
            self._restyle_pending = False
            self.restyle()

    def on_target_states_changed(self, message: TargetStatesChanged) -> None:
        if self.closing:
            return
        if any(state.status is not previous for state, previous in message.results):
            self.query_one(StatusHeader).refresh_status()  # the overall is worst-of: O(targets)
        for state, previous in message.results:
            self.apply_state(state, previous)

    def on_engine_event_recorded(self, message: EngineEventRecorded) -> None:
        if not self.closing:
            self.apply_event(message.event)

    def on_recent_events_loaded(self, message: RecentEventsLoaded) -> None:
        if not self.closing:
            self.apply_recent_loaded()

    def on_collector_link_changed(self, message: CollectorLinkChanged) -> None:
        if self.closing:
            return
        self._show_link()
        if message.link.connected:  # a fresh snapshot: targets may have come or gone
            self.query_one(StatusHeader).refresh_status()
            self.sync()

    def _show_link(self) -> None:
        """The header's line about the collector, and the body marked stale while it is gone."""
        link = self.ctx.view.link
        self.set_class(link is not None and not link.connected, "-stale")
        self.query_one(StatusHeader).refresh_link()
        self.apply_link()

    def apply_link(self) -> None:
        """Hook: the link to the collector changed (a screen's own words for stale values)."""

    def stale_words(self) -> str:
        """ "" while the values are live; else what a list's title adds: they are the last
        known ones (the dimming is never the only cue)."""
        link = self.ctx.view.link
        if link is None or link.gone_since is None:
            return ""
        since = clock(link.gone_since, self.ctx.tz)
        if self.app.size.width < WIDE:  # the words that count, where a title is cut at 80
            return f"⚠ stale since {since}"
        return f"⚠ last known values (collector gone since {since})"

    def on_screen_resume(self) -> None:
        if self.closing:
            return
        header = self.query_one(StatusHeader)
        header.refresh_status()
        header.tick()
        self._show_link()
        self.sync()
        if self._restyle_pending:
            self.call_after_refresh(self._restyle_now)


def collector_gone(view: EngineView) -> str:
    """Why nothing can be asked of the collector now ("" while it is there): said before any
    word about roles, which the collector would judge only once it is back."""
    link = view.link
    if link is None or link.connected:
        return ""
    since = clock(link.gone_since, None) if link.gone_since is not None else "just now"
    return (
        f"Nothing was sent: the collector has been gone since {since} (reconnecting). "
        "Try again once it is back."
    )


def probe_now(screen: PacsScreen, target_id: str) -> None:
    """Ask the engine to check ``target_id`` now and say so on ``screen``."""
    probe_and_say(screen.ctx.view, screen.notify, target_id)


def probe_and_say(view: EngineView, notify: Callable[..., None], target_id: str) -> None:
    """Ask ``view`` to check ``target_id`` now and say so with ``notify`` (a screen's or the
    app's)."""
    shown = visible(target_id, VALUE_LIMIT)
    gone = collector_gone(view)
    if gone:
        notify(gone, severity="warning", markup=False)
        return
    try:
        asked = view.probe_now(target_id)
    except NotAllowed as exc:
        notify(visible(str(exc), TEXT_LIMIT), severity="warning", markup=False)
        return
    if asked:
        state = view.state(target_id)
        drill = state is not None and state.target.kind == TargetKind.DRILL
        doing = (
            f"Running the drill {shown} now: echo, find, retrieve"
            if drill
            else f"Probing {shown} now"
        )
        notify(f"{doing}…", timeout=NOTIFY_SECONDS, markup=False)
        say_result(view, notify, target_id, state)
    elif view.state(target_id) is not None:
        notify(f"{shown} reports on its own; it cannot be probed.", markup=False)
    else:
        notify(f"{shown} is not a known target.", severity="error", markup=False)


def say_result(
    view: EngineView, notify: Callable[..., None], target_id: str, before: TargetState | None
) -> None:
    """Say the next result of ``target_id`` once it comes ("ct-1: ▼ DOWN — connection refused"):
    the row changes in place, or not at all, and a probe that answered nothing new looked like
    one that was never run."""
    checked = before.checked if before is not None else None

    def on_update(update: object) -> None:
        state = getattr(update, "state", None)
        if not isinstance(state, TargetState) or state.id != target_id:
            return
        if state.checked is None or state.checked == checked:
            return
        unsubscribe()
        words = "" if state.reason == state.status.word else visible(state.reason, TEXT_LIMIT)
        shown = visible(target_id, VALUE_LIMIT)
        notify(
            f"{shown}: {state.status.label}" + (f" — {words}" if words else ""),
            severity=RESULT_SEVERITY[state.status],
            timeout=NOTIFY_SECONDS * 2,
            markup=False,
        )

    unsubscribe = view.subscribe(on_update)
    asyncio.get_running_loop().call_later(PROBE_RESULT_WAIT, unsubscribe)


#: A probe's result said at the level of its status.
RESULT_SEVERITY = {
    Status.OK: "information",
    Status.UNKNOWN: "information",
    Status.WARN: "warning",
    Status.CRIT: "error",
    Status.DOWN: "error",
}


class StartingScreen(Screen[None]):
    """Shown for the moment between the first frame and the engine being ready (or failing)."""

    DEFAULT_CSS = """
    StartingScreen { align: center middle; }
    StartingScreen > #starting {
        width: auto;
        max-width: 90%;
        padding: 1 2;
        border: round $primary;
    }
    StartingScreen > #starting.failed { border: round $error; }
    """

    def __init__(
        self,
        *,
        demo: bool = False,
        now: Callable[[], float] = time.time,
        screen_id: str | None = "starting-screen",
    ) -> None:
        super().__init__(id=screen_id)
        self.demo = demo
        self.now = now

    def compose(self) -> ComposeResult:
        yield StatusHeader("pacs-tui", lambda: Status.UNKNOWN, self.now, demo=self.demo)
        what = "the simulated hospital and the engine" if self.demo else "the engine"
        yield Label(f"Starting {what}…", id="starting", markup=False)
        yield ScreenFooter()

    def show_failure(self, text: str, *, attach: bool = False) -> None:
        label = self.query_one("#starting", Label)
        # The error may quote the config or a file (a path, a value): shown made visible.
        shown = visible_lines(text, TEXT_LIMIT)
        what = "Could not attach to the collector" if attach else "Could not start"
        label.update(f"{what}: {shown}\n\nq quits; the log has the details.")
        label.add_class("failed")
