"""Textual messages carrying engine updates into the UI.

The app subscribes to the view's change stream (:meth:`pacs_tui.view.EngineView.subscribe`); its
callback (run on the same asyncio loop) turns each :class:`~pacs_tui.engine.StateUpdate` into a
:class:`TargetStateChanged` posted straight to the screen that is showing, and each event or
link change into a message the app handles (recent events, reloading them) and forwards a fresh
copy of. Hidden screens do no work; they re-read the view's states when they are shown again.

The messages do not bubble: a forwarded copy must not travel back up to the app.
"""

from __future__ import annotations

from textual.message import Message

from pacs_tui.model import Event, Status, TargetState
from pacs_tui.view import LinkState


class TargetStateChanged(Message, bubble=False):
    """A target was checked; ``state`` is its new state, ``previous`` its status before.

    Sent after every check (latency and "last seen" change even when the status does not).
    """

    def __init__(self, state: TargetState, previous: Status) -> None:
        super().__init__()
        self.state = state
        self.previous = previous

    def copy(self) -> TargetStateChanged:
        """A new message with the same payload, for forwarding to a screen."""
        return TargetStateChanged(self.state, self.previous)


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
