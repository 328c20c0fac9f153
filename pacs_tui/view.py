"""The view seam: everything a screen may ask of the engine, and nothing more.

Screens talk to an :class:`EngineView`: a snapshot of target states, a change stream, history
queries and actions that carry the operator's identity (recorded as operator events). They
never touch the engine object, its dicts or its config. :class:`LocalView` is the in-process
implementation over an :class:`~pacs_tui.engine.Engine`;
:class:`~pacs_tui.collector_client.RemoteView` is the same protocol over the collector's socket,
whose :attr:`EngineView.link` says whether it is attached (and the change stream says when that
changes, with a :class:`LinkUpdate`). No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pacs_tui.model import Event, LoggedMessage, MessageQuery, MessageTree, Status, TargetState
from pacs_tui.operators import Operator, Role
from pacs_tui.ui_format import clock

if TYPE_CHECKING:
    from pacs_tui.engine import Engine, EngineUpdate
    from pacs_tui.store import SeriesPoint


@dataclass(frozen=True, slots=True)
class LinkState:
    """A view's link to a collector: where, and whether it is up (else since when it is not)."""

    host: str
    pid: int
    path: str
    gone_since: float | None = None
    #: Why the link is down, or why the last reattach failed.
    reason: str = ""

    @property
    def connected(self) -> bool:
        return self.gone_since is None

    def describe(self, tz: str | None = None, *, short: bool = False) -> str:
        """One line for the header: where the screens' data come from, or that it is stale;
        ``short`` for a narrow terminal (80 columns), where the long one was cut before
        "stale"."""
        if self.gone_since is None:
            if short:
                return f"attached to {self.host} (pid {self.pid})"
            return f"attached to collector on {self.host} (pid {self.pid})"
        since = clock(self.gone_since, tz)
        if short:
            return f"collector gone {since}, stale"
        return f"collector gone since {since} — reconnecting; values are stale"


@dataclass(frozen=True, slots=True)
class LinkUpdate:
    """The link to the collector went down or came back (then with a fresh snapshot)."""

    link: LinkState


ViewSubscriber = Callable[["EngineUpdate | LinkUpdate"], None]


class EngineView(Protocol):
    """What the UI reads and asks for. Reads are snapshots (immutable states)."""

    @property
    def site(self) -> str: ...

    @property
    def timezone(self) -> str | None: ...

    @property
    def operator(self) -> str:
        """Who the actions are recorded as (the OS user)."""
        ...

    def states(self, kind: str | None = None) -> list[TargetState]:
        """Current states (of targets of ``kind``), worst first."""
        ...

    def state(self, target_id: str) -> TargetState | None: ...

    def overall(self) -> Status: ...

    @property
    def link(self) -> LinkState | None:
        """The link to the collector this view is attached to; ``None`` in-process."""
        ...

    def subscribe(self, callback: ViewSubscriber) -> Callable[[], None]:
        """Every change (state, event, link) from now on; returns the unsubscribe function."""
        ...

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]: ...

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float, step: float | None = None
    ) -> dict[str, list[SeriesPoint]]:
        """One metric's history up to now for many targets at once (a trend column); with
        ``step``, the raw samples in buckets of ``step`` seconds."""
        ...

    async def events(
        self,
        target: str | None = None,
        *,
        kind: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Event]: ...

    async def messages(self, query: MessageQuery | None = None) -> list[LoggedMessage]:
        """The message-log rows ``query`` asks for, newest first (the newest 500 without)."""
        ...

    async def message_tree(self, link: str, ts: float, control_id: str) -> MessageTree | None:
        """A recent message's segments, patient fields masked; None when no longer kept."""
        ...

    @property
    def role(self) -> Role:
        """The operator's role (``[operators]``), as the engine judges it."""
        ...

    @property
    def idle_lock(self) -> float:
        """Seconds without a key before the UI locks (``[operators] idle_lock``); 0: never."""
        ...

    def probe_now(self, target_id: str) -> bool:
        """Check one target now; False for a target that cannot be probed.
        :class:`~pacs_tui.operators.NotAllowed` when the operator's role does not allow it."""
        ...

    def can_probe(self, target_id: str) -> bool:
        """Whether :meth:`probe_now` could check that target (False for one that reports on
        its own: a listener, a tap, an audit receiver), whatever the operator's role."""
        ...

    def probe_all(self) -> int:
        """Check every periodic target now; how many were asked (or NotAllowed)."""
        ...


class LocalView:
    """An :class:`EngineView` over an engine in this process, acting as ``operator``."""

    def __init__(self, engine: Engine, operator: Operator | None = None) -> None:
        self._engine = engine
        self._who = operator or engine.local_operator

    @property
    def site(self) -> str:
        return self._engine.config.site.name

    @property
    def timezone(self) -> str | None:
        return self._engine.config.site.timezone

    @property
    def operator(self) -> str:
        return self._who.user

    @property
    def role(self) -> Role:
        return self._who.role

    @property
    def idle_lock(self) -> float:
        return self._engine.config.operators.idle_lock

    def states(self, kind: str | None = None) -> list[TargetState]:
        return self._engine.worst_first(kind)

    def state(self, target_id: str) -> TargetState | None:
        return self._engine.states.get(target_id)

    def overall(self) -> Status:
        return self._engine.overall()

    @property
    def link(self) -> LinkState | None:
        return None

    def subscribe(self, callback: ViewSubscriber) -> Callable[[], None]:
        return self._engine.subscribe(callback)

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        return await self._engine.series(target, metric, since, until)

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float, step: float | None = None
    ) -> dict[str, list[SeriesPoint]]:
        return await self._engine.series_of(targets, metric, since, step)

    async def events(
        self,
        target: str | None = None,
        *,
        kind: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        return await self._engine.events(target, kind=kind, since=since, limit=limit)

    async def messages(self, query: MessageQuery | None = None) -> list[LoggedMessage]:
        if query is not None and query.patient:
            self._engine.look_up_patient(self._who, query.patient)
        return await self._engine.messages(query)

    async def message_tree(self, link: str, ts: float, control_id: str) -> MessageTree | None:
        return await self._engine.message_tree(link, ts, control_id)

    def probe_now(self, target_id: str) -> bool:
        return self._engine.probe_now(target_id, self._who)

    def can_probe(self, target_id: str) -> bool:
        return self._engine.can_probe(target_id)

    def probe_all(self) -> int:
        return self._engine.probe_all(self._who)
