"""Wall mode (``pacs-tui run --wall``): a NOC wall terminal that shows and never acts.

:class:`WallView` wraps the :class:`~pacs_tui.view.EngineView` the UI was given, so that every
path to an action — a key, the command palette, a screen's own call — meets the same refusal
(:class:`~pacs_tui.operators.NotAllowed`, "wall mode: read-only") whatever the operator's role,
and no patient data leaves it: the message log's rows come without their patient reference, a
search by patient is refused, message bodies are not read. Wall mode has no idle lock (its
:attr:`WallView.idle_lock` is 0): it shows nothing a lock would hide. No Textual here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pacs_tui.model import Event, LoggedMessage, MessageQuery, MessageTree, Status, TargetState
from pacs_tui.operators import NotAllowed, Role

if TYPE_CHECKING:
    from pacs_tui.store import SeriesPoint
    from pacs_tui.view import EngineView, LinkState, ViewSubscriber

#: What every refused action says.
READ_ONLY = "wall mode: read-only"
NO_PATIENT_SEARCH = f"{READ_ONLY}, no patient data: a search by patient is not done here"
NO_MESSAGE_BODY = f"{READ_ONLY}, no patient data: a message's content is not shown here"


class WallView:
    """An :class:`~pacs_tui.view.EngineView` that reads through ``inner`` and acts never."""

    def __init__(self, inner: EngineView) -> None:
        self.inner = inner

    @property
    def site(self) -> str:
        return self.inner.site

    @property
    def timezone(self) -> str | None:
        return self.inner.timezone

    @property
    def operator(self) -> str:
        return self.inner.operator

    @property
    def role(self) -> Role:
        return Role.VIEWER

    @property
    def idle_lock(self) -> float:
        return 0.0

    def states(self, kind: str | None = None) -> list[TargetState]:
        return self.inner.states(kind)

    def state(self, target_id: str) -> TargetState | None:
        return self.inner.state(target_id)

    def overall(self) -> Status:
        return self.inner.overall()

    @property
    def link(self) -> LinkState | None:
        return self.inner.link

    def subscribe(self, callback: ViewSubscriber) -> Callable[[], None]:
        return self.inner.subscribe(callback)

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        return await self.inner.series(target, metric, since, until)

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float, step: float | None = None
    ) -> dict[str, list[SeriesPoint]]:
        return await self.inner.series_of(targets, metric, since, step)

    async def events(
        self,
        target: str | None = None,
        *,
        kind: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        return await self.inner.events(target, kind=kind, since=since, limit=limit)

    async def messages(self, query: MessageQuery | None = None) -> list[LoggedMessage]:
        """The rows without their patient (a reference, or the ID where ``store_phi`` is on)."""
        if query is not None and query.patient:
            raise NotAllowed(NO_PATIENT_SEARCH)
        rows = await self.inner.messages(query)
        return [dataclasses.replace(row, patient="") if row.patient else row for row in rows]

    async def message_tree(self, link: str, ts: float, control_id: str) -> MessageTree | None:
        raise NotAllowed(NO_MESSAGE_BODY)

    def probe_now(self, target_id: str) -> bool:
        raise NotAllowed(READ_ONLY)

    def can_probe(self, target_id: str) -> bool:
        return self.inner.can_probe(target_id)  # so that p still says read-only where it would

    def probe_all(self) -> int:
        raise NotAllowed(READ_ONLY)
