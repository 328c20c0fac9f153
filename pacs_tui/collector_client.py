"""The viewer's side of attach: :class:`RemoteView`, an :class:`~pacs_tui.view.EngineView` over
the collector's Unix socket.

It keeps a mirror of the collector's states (the snapshot, then each change) so that reads
are local and never wait on the socket; history queries are requests with a deadline; actions
are sent and recorded by the collector under the user the kernel names for this connection.
When the collector goes away the mirror stays (stale, said by :attr:`RemoteView.link`) and the
view reattaches with back-off; a fresh snapshot then updates every target. Once a reattach shows
the collector is not running (its socket refuses or is gone), what only it runs (listeners,
taps, receivers) is DOWN in those words rather than its last known OK. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pacs_tui import wire
from pacs_tui.collector_socket import address
from pacs_tui.durations import seconds_words
from pacs_tui.engine import EventUpdate, StateUpdate
from pacs_tui.model import (
    Event,
    LoggedMessage,
    MessageQuery,
    MessageTree,
    Sample,
    Status,
    Target,
    TargetState,
    worst_first,
)
from pacs_tui.operators import NotAllowed, Operator, Role, probe_action
from pacs_tui.private_paths import file_kind
from pacs_tui.subscribers import Subscribers
from pacs_tui.view import LinkState, LinkUpdate, ViewSubscriber
from pacs_tui.visible import TEXT_LIMIT, visible

if TYPE_CHECKING:
    from pacs_tui.store import SeriesPoint

log = logging.getLogger(__name__)

#: Seconds to connect and read the welcome and the whole snapshot.
ATTACH_SECONDS = 10.0
#: Seconds a history query may take.
REQUEST_SECONDS = 15.0
#: A collector that sends nothing (not even its beat, every 2 s) for this long is taken as
#: gone: stopped (SIGSTOP) or hung, its socket still open. Its values are then shown stale.
SILENT_SECONDS = 10.0
#: Reattach back-off: the first wait, doubled up to the last.
RETRY_FIRST = 0.5
RETRY_MAX = 8.0
#: The welcome's facts about the site and the viewer's role, sent again in a ``site`` frame
#: after a reload.
SITE_FACTS = ("site", "timezone", "probeable", "intervals", "served", "idle_lock", "role")


class AttachError(Exception):
    """Attaching failed; the message says why and what to do."""


class NoCollector(AttachError):
    """Nothing listens at the socket (none there, or one left by a collector that stopped)."""


class CollectorStopped(NoCollector):
    """The socket is there but refuses connections: a collector that was killed or crashed
    (one that stops normally removes its socket)."""


class RemoteView:
    """An engine's view served by a collector. Build with :meth:`attach`; :meth:`close` at
    the end."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._states: dict[str, TargetState] = {}
        #: The ids worst first, kept while no status changes and no target comes or goes: a
        #: result that keeps its status leaves the order as it was (sorting a thousand states
        #: for each screen that asks, at every change, was a few % of a viewer's CPU).
        self._order: list[str] | None = None
        self._incoming: dict[str, TargetState] | None = None
        self._subscribers: Subscribers[StateUpdate | EventUpdate | LinkUpdate] = Subscribers()
        self._welcome: dict[str, Any] = {}
        self._probeable: set[str] = set()
        #: The targets of the collector's long-running services.
        self._served: set[str] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._link = LinkState("", 0, str(path))

    @classmethod
    async def attach(cls, path: Path, *, clock: Callable[[], float] = time.time) -> RemoteView:
        """Connect, read the welcome and the snapshot, then follow the changes."""
        view = cls(path, clock=clock)
        await view._connect()
        view._task = asyncio.create_task(view._follow())
        return view

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_connection("closed")

    # -- EngineView ---------------------------------------------------------------------------

    @property
    def site(self) -> str:
        return str(self._welcome.get("site", ""))

    @property
    def timezone(self) -> str | None:
        tz = self._welcome.get("timezone")
        return tz if isinstance(tz, str) else None

    @property
    def operator(self) -> str:
        return str(self._welcome.get("operator", "unknown"))

    @property
    def role(self) -> Role:
        """As the collector judged it at attach or at its last reload (it judges every action
        again itself)."""
        word = self._welcome.get("role")
        return next((r for r in Role if r.word == word), Role.VIEWER)

    @property
    def idle_lock(self) -> float:
        value = self._welcome.get("idle_lock")
        return float(value) if isinstance(value, int | float) and value > 0 else 0.0

    def _check(self, action: str, op: str, args: dict[str, Any]) -> None:
        """Say at once what the collector will refuse: the request still goes, so that the
        collector judges it with the role it gives now and writes the refusal in the operator
        trail (the UI's word is never the record)."""
        try:
            Operator(self.operator, -1, self.role).check(action)
        except NotAllowed:
            if self._link.connected:
                self._send(op, args)
            raise

    @property
    def link(self) -> LinkState:
        return self._link

    @property
    def intervals(self) -> dict[str, float]:
        """Each periodic target's interval, as the collector runs it."""
        try:
            return wire.float_map(self._welcome, "intervals")
        except wire.WireError:  # a collector that sent none
            return {}

    def states(self, kind: str | None = None) -> list[TargetState]:
        states = self._states
        order = self._order
        if order is None or len(order) != len(states):
            order = self._order = [s.id for s in worst_first(states.values())]
        try:
            found = [states[i] for i in order]
        except KeyError:  # cannot happen (every change of ids resets the order): sort anyway
            self._order = None
            return worst_first(states.values(), kind)
        return found if kind is None else [s for s in found if s.target.kind == kind]

    def state(self, target_id: str) -> TargetState | None:
        return self._states.get(target_id)

    def overall(self) -> Status:
        return Status.worst(s.status for s in self._states.values())

    def subscribe(self, callback: ViewSubscriber) -> Callable[[], None]:
        return self._subscribers.add(callback)

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        found = await self._call(
            "series", {"target": target, "metric": metric, "since": since, "until": until}
        )
        return wire.points_in(found)

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float, step: float | None = None
    ) -> dict[str, list[SeriesPoint]]:
        args: dict[str, Any] = {"targets": list(targets), "metric": metric, "since": since}
        if step is not None:
            args["step"] = step
        found = await self._call("series_of", args)
        if not isinstance(found, dict):
            raise wire.WireError("series_of: expected an object")
        return {str(t): wire.points_in(p) for t, p in found.items()}

    async def events(
        self,
        target: str | None = None,
        *,
        kind: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        target_kind: str | None = None,
    ) -> list[Event]:
        """Recorded events, oldest first; ``target_kind`` (for ``history``) picks the events
        of targets of that kind."""
        found = await self._call(
            "events",
            {
                "target": target,
                "kind": kind,
                "since": since,
                "limit": limit,
                "target_kind": target_kind,
            },
        )
        if not isinstance(found, list):
            raise wire.WireError("events: expected a list")
        return [wire.event_in(e) for e in found]

    async def messages(self, query: MessageQuery | None = None) -> list[LoggedMessage]:
        asked = dataclasses.asdict(query or MessageQuery())
        args = {k: v for k, v in asked.items() if v is not None}
        if query is not None and query.patient:
            self._check("patient-lookup", "messages", {**args, "limit": 1})
        found = await self._call("messages", args)
        if not isinstance(found, list):
            raise wire.WireError("messages: expected a list")
        return [wire.message_in(m) for m in found]

    async def message_tree(self, link: str, ts: float, control_id: str) -> MessageTree | None:
        found = await self._call("message_tree", {"link": link, "ts": ts, "control_id": control_id})
        return None if found is None else wire.tree_in(found)

    # -- the history, for ``pacs-tui history`` (not part of EngineView) ----------------------

    async def recorded_targets(self) -> list[Target]:
        found = await self._call("targets", {})
        if not isinstance(found, list):
            raise wire.WireError("targets: expected a list")
        return [wire.target_in(t) for t in found]

    async def samples(
        self,
        target: str | None = None,
        metric: str | None = None,
        since: float | None = None,
        kind: str | None = None,
    ) -> tuple[list[Sample], bool]:
        """Recorded samples, oldest first, and whether the collector kept only the newest."""
        found = await self._call(
            "samples", {"target": target, "metric": metric, "since": since, "kind": kind}
        )
        if not isinstance(found, dict):
            raise wire.WireError("samples: expected an object")
        return wire.samples_in(found.get("samples")), found.get("cut") is True

    def probe_now(self, target_id: str) -> bool:
        """Sent, not waited for: the collector records it (and says so with an event)."""
        known = self._states.get(target_id)
        action = probe_action(known.target.kind) if known is not None else "probe-now"
        self._check(action, "probe_now", {"target": target_id})
        if not self._link.connected or target_id not in self._probeable:
            return False
        self._send("probe_now", {"target": target_id})
        return True

    def can_probe(self, target_id: str) -> bool:
        return target_id in self._probeable

    def probe_all(self) -> int:
        self._check("probe-all", "probe_all", {})
        if not self._link.connected:
            return 0
        self._send("probe_all", {})
        return len(self._probeable)

    # -- requests -----------------------------------------------------------------------------

    def _send(self, op: str, args: dict[str, Any]) -> asyncio.Future[Any]:
        """Write a request; the future gets its result (or an :class:`AttachError`)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        writer = self._writer
        if writer is None or writer.is_closing():
            future.set_exception(AttachError(self._gone_words()))
            future.exception()  # retrieved: nobody may await a fire-and-forget action
            return future
        self._next_id += 1
        ident = self._next_id
        self._pending[ident] = future
        future.add_done_callback(lambda f: self._pending.pop(ident, None))
        writer.write(wire.encode({"id": ident, "op": op, **args}))
        return future

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        future = self._send(op, args)
        try:
            return await asyncio.wait_for(future, REQUEST_SECONDS)
        except TimeoutError:
            raise AttachError(
                f"the collector did not answer {op} within {seconds_words(REQUEST_SECONDS)}"
            ) from None

    def _gone_words(self) -> str:
        return f"not attached to the collector at {self.path}: {self._link.reason or 'gone'}"

    # -- the connection -----------------------------------------------------------------------

    async def _connect(self) -> None:
        """Open the socket, say hello, read the welcome and the snapshot; :class:`AttachError`
        in words otherwise."""
        path = os.fspath(self.path)
        try:
            with address(self.path) as where:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(where, limit=wire.FRAME_LIMIT), ATTACH_SECONDS
                )
        except TimeoutError:
            raise AttachError(
                f"the collector at {path} did not accept within {seconds_words(ATTACH_SECONDS)}"
            ) from None
        except OSError as exc:
            raise _connect_error(path, exc) from None
        try:
            hello = {"type": "hello", "magic": wire.MAGIC, "version": wire.PROTOCOL}
            writer.write(wire.encode(hello))
            async with asyncio.timeout(ATTACH_SECONDS):
                welcome = await self._frame(reader)
                if welcome.get("type") == "refused":
                    reason = visible(str(welcome.get("reason", "")), TEXT_LIMIT)
                    raise AttachError(f"the collector at {path} refused this viewer: {reason}")
                if welcome.get("type") != "welcome" or welcome.get("magic") != wire.MAGIC:
                    raise AttachError(f"{path} is not a pacs-tui collector's socket")
                states: dict[str, TargetState] = {}
                while True:
                    frame = await self._frame(reader)
                    if frame.get("type") != "states":
                        raise wire.WireError("expected the snapshot")
                    for item in wire.need(frame, "states", list):
                        state = wire.state_in(item)
                        states[state.id] = state
                    if frame.get("done") is True:
                        break
        except TimeoutError:
            writer.close()
            raise AttachError(
                f"the collector at {path} did not send its state within "
                f"{seconds_words(ATTACH_SECONDS)}"
            ) from None
        except (wire.WireError, AttachError, OSError, ValueError) as exc:
            writer.close()
            if isinstance(exc, AttachError):
                raise
            raise AttachError(f"the collector at {path} broke the protocol: {exc}") from None
        self._welcome = dict(welcome)
        self._take_site_facts(welcome)
        self._reader, self._writer = reader, writer
        self._link = LinkState(
            visible(str(welcome.get("host", "?")), 64),
            int(welcome.get("pid", 0)) if isinstance(welcome.get("pid"), int) else 0,
            path,
        )
        log.info("attached to the collector at %s (%d targets)", path, len(states))
        self._apply_snapshot(states)

    @staticmethod
    async def _frame(reader: asyncio.StreamReader) -> dict[str, Any]:
        line = await reader.readline()
        if not line:
            raise ConnectionResetError(errno.ECONNRESET, "the collector closed the connection")
        return wire.decode(line)

    async def _follow(self) -> None:
        """Read changes until the link breaks, then reattach with back-off; until closed."""
        while not self._closed:
            reader = self._reader
            reason = "gone"
            gone_since = None
            if reader is not None:
                heard = self._clock()
                try:
                    while True:
                        frame = await asyncio.wait_for(self._frame(reader), SILENT_SECONDS)
                        heard = self._clock()
                        self._handle(frame)
                except TimeoutError:  # before OSError, of which it is one
                    silent = seconds_words(SILENT_SECONDS)
                    reason = f"it sent nothing for {silent} (stopped or hung?)"
                    gone_since = heard  # silent since then, not since it was noticed
                except (OSError, ValueError, wire.WireError) as exc:
                    reason = _words(exc)
            self._drop_connection(reason)
            log.warning("the collector at %s is gone (%s); reconnecting", self.path, reason)
            since = gone_since if gone_since is not None else self._clock()
            self._link = replace(self._link, gone_since=since, reason=reason)
            self._publish(LinkUpdate(self._link))
            delay = RETRY_FIRST
            while not self._closed:
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                except AttachError as exc:
                    self._link = replace(self._link, reason=str(exc))
                    if isinstance(exc, NoCollector):
                        self._services_stopped(exc)
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                self._publish(LinkUpdate(self._link))
                break

    def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "state":
            state = wire.state_in(wire.need(frame, "state", dict))
            before = self._states.get(state.id)
            self._states[state.id] = state
            if before is None or before.status is not state.status:
                self._order = None
            previous = before.status if before is not None else Status.UNKNOWN
            self._publish(StateUpdate(state, previous))
        elif kind == "event":
            self._publish(EventUpdate(wire.event_in(wire.need(frame, "event", dict))))
        elif kind == "reply":
            self._answer(frame)
        elif kind == "beat":  # nothing to say: the collector is alive
            pass
        elif kind == "site":  # the collector reloaded its config; a snapshot follows
            self._take_site_facts(frame)
        elif kind == "states":  # the collector resent everything (this viewer fell behind)
            incoming = self._incoming if self._incoming is not None else {}
            for item in wire.need(frame, "states", list):
                state = wire.state_in(item)
                incoming[state.id] = state
            self._incoming = incoming
            if frame.get("done") is True:
                self._incoming = None
                self._apply_snapshot(incoming)
                self._publish(LinkUpdate(self._link))
        else:
            raise wire.WireError(f"unknown frame type {visible(str(kind), 40)!r}")

    def _take_site_facts(self, frame: dict[str, Any]) -> None:
        """What the welcome (or a ``site`` frame after a reload) says of the site."""
        self._welcome.update({k: frame[k] for k in SITE_FACTS if k in frame})
        self._probeable = {t for t in frame.get("probeable", ()) if isinstance(t, str)}
        self._served = {t for t in frame.get("served", ()) if isinstance(t, str)}

    def _services_stopped(self, exc: NoCollector) -> None:
        """The collector is not running, so neither is what it served: a tap's feed is cut
        now, and its last known OK would say otherwise. Those targets are DOWN in the words
        ``status`` gives them, until a reattach brings the collector's own states back."""
        if _running(self._link.pid):
            return  # its socket was removed or replaced, but the collector is still there
        if isinstance(exc, CollectorStopped):
            words = str(exc)
        else:
            words = (
                f"the collector is not running: no socket at {self.path} (it was stopped; "
                "`pacs-tui collect` starts it again)"
            )
        for target_id in sorted(self._served):
            before = self._states.get(target_id)
            if before is None or before.reason == words:
                continue
            was_down = before.status is Status.DOWN
            since = before.since if was_down else self._link.gone_since
            state = replace(before, status=Status.DOWN, reason=words, since=since)
            self._states[target_id] = state
            if not was_down:
                self._order = None
            self._publish(StateUpdate(state, before.status))

    def _answer(self, frame: dict[str, Any]) -> None:
        ident = frame.get("id")
        future = self._pending.get(ident) if isinstance(ident, int) else None
        if future is None or future.done():
            if "error" in frame:
                log.warning("the collector refused a request: %s", visible(str(frame["error"])))
            return
        if "error" in frame:
            future.set_exception(AttachError(f"the collector says: {frame['error']}"))
            future.exception()  # an action's reply is not awaited
        else:
            future.set_result(frame.get("result"))

    def _apply_snapshot(self, states: dict[str, TargetState]) -> None:
        old = self._states
        self._states = states
        self._order = None
        for state in states.values():
            before = old.get(state.id)
            if before is None or before != state:
                previous = before.status if before is not None else Status.UNKNOWN
                self._publish(StateUpdate(state, previous))

    def _drop_connection(self, reason: str) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
        self._reader = self._writer = None
        self._incoming = None
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(AttachError(f"the collector went away: {reason}"))
                future.exception()
        self._pending.clear()

    def _publish(self, update: StateUpdate | EventUpdate | LinkUpdate) -> None:
        self._subscribers.publish(update)


async def collector_states(path: Path) -> tuple[list[TargetState], dict[str, float]] | None:
    """The states (worst first) and check intervals of the collector at ``path``, read once;
    ``None`` when no collector runs there. :class:`CollectorStopped` when the socket of one that
    was killed is there; :class:`AttachError` when one runs but cannot be read (refused, not
    answering)."""
    try:
        view = await RemoteView.attach(path)
    except CollectorStopped:
        raise
    except NoCollector:
        return None
    try:
        return view.states(), view.intervals
    finally:
        await view.close()


def _connect_error(path: str, exc: OSError) -> AttachError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NoCollector(f"no collector socket at {path}")
    if exc.errno == errno.ECONNREFUSED and (kind := _not_a_socket(path)):
        # A Unix connect to a regular file is refused too: a config file given to --attach.
        return AttachError(
            f"{path} is not a socket but a {kind}: --attach takes the collector's socket "
            "(beside its history: history.collector.sock)"
        )
    if exc.errno == errno.ECONNREFUSED:
        return CollectorStopped(
            f"the collector is not running: its socket {path} refuses connections (it was "
            "killed or crashed; `pacs-tui collect` starts it again)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AttachError(
            f"may not connect to the collector's socket {path} (permission denied): run as "
            "the collector's user, or ask for its [collector] group"
        )
    return AttachError(f"cannot connect to the collector's socket {path}: {_words(exc)}")


def _running(pid: int) -> bool:
    """Whether process ``pid`` is there (a Unix socket's collector is on this host)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's: there
        return True
    except OSError:
        return False
    return True


def _not_a_socket(path: str) -> str:
    """What ``path`` is when it is there and not a socket ("regular file", "directory"); ""
    for a socket, or for nothing there."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISSOCK(mode):
        return ""
    return file_kind(mode) or "regular file"


def _words(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
