"""Textual messages carrying engine updates into the UI.

The app subscribes to the view's change stream (:meth:`pacs_tui.view.EngineView.subscribe`); its
callback (run on the same asyncio loop) gathers the :class:`~pacs_tui.engine.StateUpdate` s into
:class:`TargetStatesChanged` messages posted straight to the screen that is showing (at once when
a status changed, else every ``RESULTS_BATCH`` seconds), and turns each event or link change into
a message the app handles (recent events, reloading them) and forwards a fresh copy of. Hidden
screens do no work; they re-read the view's states when they are shown again.

The messages do not bubble: a forwarded copy must not travel back up to the app.
"""

from __future__ import annotations

from textual.message import Message

from pacs_tui.model import Event, Status, TargetState
from pacs_tui.view import LinkState


class TargetStatesChanged(Message, bubble=False):
    """Targets were checked: each new state with the status before it, oldest first.

    Every check is in one (latency and "last seen" change even when the status does not).
    """

    def __init__(self, results: tuple[tuple[TargetState, Status], ...]) -> None:
        super().__init__()
        self.results = results


class EngineEventRecorded(Message, bubble=False):
    """The engine recorded an event (status change, operator action, …)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def copy(self) -> EngineEventRecorded:
        """A new message with the same payload, for forwarding to a screen."""
        return EngineEventRecorded(self.event)


class RecentEventsLoaded(Message, bubble=False):
    """The recent status changes were read from the history into the app's shared list."""


class CollectorLinkChanged(Message, bubble=False):
    """The link to the collector went down, or came back with a fresh snapshot."""

    def __init__(self, link: LinkState) -> None:
        super().__init__()
        self.link = link

    def copy(self) -> CollectorLinkChanged:
        return CollectorLinkChanged(self.link)
