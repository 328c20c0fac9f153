"""The collector's side of attach: serves the engine's view to viewers on a Unix socket.

Each viewer gets the welcome, a snapshot, then every change. Changes are kept per viewer in a
bounded backlog: the newest state of each target (so the backlog is never larger than the
site) and up to :data:`EVENT_BACKLOG` events; a viewer that stops reading (suspended, its SSH
link frozen) overflows it, loses the backlog and gets a fresh snapshot when it reads again,
and never slows the engine or another viewer. Actions are recorded under the user the kernel
names for the connection. Garbage, a wrong version, an oversized line or a silent client are
dropped with a log line. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pacs_tui import collector_socket, wire
from pacs_tui.engine import EventUpdate, ReloadUpdate, StateUpdate
from pacs_tui.model import MessageQuery
from pacs_tui.operators import NotAllowed, Operator, operator_for
from pacs_tui.visible import VALUE_LIMIT, visible

if TYPE_CHECKING:
    from pacs_tui.engine import Engine, EngineUpdate

log = logging.getLogger(__name__)

#: A result that does not change its target's status waits at most this long (seconds) for
#: others to go with it to a viewer, in one write; a change of status, an event and a reply go
#: at once (with the results waiting). At 200 results a second, a viewer woke ~200 times a
#: second for one line each: the wake-ups, not the lines, were a third of its CPU.
STATES_EVERY = 0.2
#: Seconds a new connection has to say hello.
HELLO_SECONDS = 5.0
#: A viewer told nothing for this long is sent a beat: a collector that is stopped or hung
#: (alive, socket open, nothing sent) is then told from one with nothing to say.
BEAT_SECONDS = 2.0
_BEAT = wire.encode({"type": "beat"})
#: Events kept for a viewer that is not reading; past this, it is resynchronised.
EVENT_BACKLOG = 1000
#: Requests of one viewer answered at once; more are refused as busy.
MAX_IN_FLIGHT = 8
#: Replies waiting for a viewer that sends requests without reading them; past this, dropped.
MAX_REPLIES_WAITING = 64
#: Bounds on what a request may ask for.
MAX_TARGETS_PER_REQUEST = 10_000
MAX_EVENTS_PER_REQUEST = 10_000
MAX_MESSAGES_PER_REQUEST = 10_000
#: Links one message-log query may name (a screen's links).
MAX_LINKS_PER_REQUEST = 1_000
#: The buckets a series may be asked in (seconds).
MIN_STEP = 1.0
MAX_STEP = 86_400.0
#: Samples in one answer (about 60 bytes each on the wire).
MAX_SAMPLES_PER_REQUEST = 200_000


class CollectorServer:
    """Serve ``engine`` on the Unix socket at ``path``; ``group`` may attach besides this user."""

    def __init__(self, engine: Engine, path: Path, group: str | None = None) -> None:
        self.engine = engine
        self.path = path
        self.group_name = group
        self._group: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        self._viewers: set[Viewer] = set()
        self._unsubscribe: Callable[[], None] | None = None
        #: Who the welcome says is serving (the header's "on HOST (pid N)").
        self.host = socket.gethostname()
        self.pid = os.getpid()

    @property
    def viewers(self) -> int:
        return sum(1 for v in self._viewers if v.attached)

    async def start(self) -> None:
        """Bind the socket; :class:`~pacs_tui.collector_socket.SocketPathError` in words."""
        if self.group_name is not None:
            self._group = collector_socket.group_id(self.group_name)
        collector_socket.prepare(self.path, self._group)
        with collector_socket.address(self.path) as where:
            self._server = await asyncio.start_unix_server(
                self._connected, path=where, limit=wire.REQUEST_LIMIT
            )
        self._inode = collector_socket.publish(self.path, self._group)
        self._unsubscribe = self.engine.subscribe(self._on_update)
        log.info("serving viewers on %s", self.path)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for viewer in list(self._viewers):
            viewer.close()
        if self._inode is not None:
            collector_socket.remove(self.path, self._inode)
            self._inode = None

    def welcome(self, peer: collector_socket.Peer) -> dict[str, Any]:
        return {
            "type": "welcome",
            "magic": wire.MAGIC,
            "version": wire.PROTOCOL,
            "host": self.host,
            "pid": self.pid,
            "operator": peer.user,
            "role": operator_for(peer.uid, self.engine.config.operators).role.word,
            **self.site_facts(),
        }

    def site_facts(self) -> dict[str, Any]:
        """What the welcome says of the site, and a ``site`` frame again after a reload."""
        config = self.engine.config
        return {
            "site": config.site.name,
            "timezone": config.site.timezone,
            "probeable": sorted(self.engine.probeable()),
            "intervals": self.engine.intervals(),
            "served": sorted(self.engine.served()),
            "idle_lock": config.operators.idle_lock,
        }

    def snapshot(self) -> list[bytes]:
        """Every state now, as ``states`` frames (the last one says ``done``)."""
        states = [wire.state_out(s) for s in self.engine.worst_first()]
        chunks = [
            states[i : i + wire.SNAPSHOT_CHUNK] for i in range(0, len(states), wire.SNAPSHOT_CHUNK)
        ] or [[]]
        return [
            wire.encode({"type": "states", "states": chunk, "done": n == len(chunks) - 1})
            for n, chunk in enumerate(chunks)
        ]

    def _on_update(self, update: EngineUpdate) -> None:
        """Engine subscriber: encode once, hand the bytes to every attached viewer."""
        if not self._viewers:
            return
        if isinstance(update, StateUpdate):
            line = wire.encode({"type": "state", "state": wire.state_out(update.state)})
            for viewer in self._viewers:
                viewer.offer_state(update.state.id, line, urgent=update.changed)
        elif isinstance(update, EventUpdate):
            line = wire.encode({"type": "event", "event": wire.event_out(update.event)})
            for viewer in self._viewers:
                viewer.offer_event(line)
        elif isinstance(update, ReloadUpdate):
            # Targets came and went: every viewer gets the site's facts and everything again,
            # and its role as the reloaded [operators] gives it (the UI's early word on an
            # action follows a promotion or a demotion without a reattach).
            facts = self.site_facts()
            operators = self.engine.config.operators
            for viewer in self._viewers:
                role = operator_for(viewer.uid, operators).role.word
                viewer.resend_all(wire.encode({"type": "site", **facts, "role": role}))

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        viewer = Viewer(self, reader, writer)
        self._viewers.add(viewer)
        try:
            await viewer.serve()
        except ConnectionError as exc:  # it left before its answer (a check that gave up)
            log.info("viewer %s: left before it was answered (%s)", viewer.who, exc)
        except Exception:
            log.exception("viewer %s: dropped after an error", viewer.who)
        finally:
            self._viewers.discard(viewer)
            viewer.close()


class Viewer:
    """One connection: its handshake, its backlog, its requests."""

    def __init__(
        self, server: CollectorServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.attached = False
        self.who = "a process"
        self._states: dict[str, bytes] = {}
        self._events: deque[bytes] = deque()
        self._replies: deque[bytes] = deque()
        self._resync = False
        self._wake = asyncio.Event()
        #: The wake-up of a batch of results, when one is waiting.
        self._soon: asyncio.TimerHandle | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._operator = "unknown"
        self.uid = -1  # the peer's, once attached

    # -- backlog ------------------------------------------------------------------------------

    def offer_state(self, target: str, line: bytes, *, urgent: bool = True) -> None:
        """Queue ``target``'s newest state; sent at once if ``urgent`` (a change of status),
        else within :data:`STATES_EVERY`."""
        if not self.attached or self._resync:
            return
        self._states.pop(target, None)  # keep the order of arrival: newest last
        self._states[target] = line
        if urgent:
            self._wake.set()
        elif self._soon is None and not self._wake.is_set():
            self._soon = asyncio.get_running_loop().call_later(STATES_EVERY, self._wake.set)

    def offer_event(self, line: bytes) -> None:
        if not self.attached or self._resync:
            return
        if len(self._events) >= EVENT_BACKLOG:
            log.warning("viewer %s is not reading: backlog dropped, it will be resent", self.who)
            self._drop_backlog()
        else:
            self._events.append(line)
        self._wake.set()

    def resend_all(self, first: bytes) -> None:
        """Drop the backlog: ``first``, then a fresh snapshot, is what this viewer gets next."""
        if not self.attached:
            return
        self._drop_backlog()
        self._replies.append(first)
        self._wake.set()

    def _drop_backlog(self) -> None:
        """Forget the changes not yet sent: a fresh snapshot is sent instead."""
        self._resync = True
        self._states.clear()
        self._events.clear()

    def _reply(self, frame: Mapping[str, Any]) -> None:
        line = wire.encode(frame)
        if len(line) > wire.FRAME_LIMIT:
            line = wire.encode(
                {"type": "reply", "id": frame.get("id"), "error": "the answer is too large"}
            )
        self._replies.append(line)
        self._wake.set()

    # -- the connection -----------------------------------------------------------------------

    async def serve(self) -> None:
        sock = self.writer.get_extra_info("socket")
        peer = collector_socket.peer_of(sock)
        self.who = peer.describe()
        if not collector_socket.may_attach(peer, self.server._group):
            log.warning("refused %s: not this user, root or the collector's group", self.who)
            await self._refuse(
                f"{peer.user} may not attach to this collector (only its own user, root "
                + (f"and group {self.server.group_name})" if self.server.group_name else ")")
            )
            return
        hello = await self._hello()
        if hello is None:
            return
        self._operator = peer.user
        self.uid = peer.uid
        await self._send(wire.encode(self.server.welcome(peer)))
        # Attached and snapshot in one step: no change can fall between them.
        self.attached = True
        snapshot = self.server.snapshot()
        log.info("viewer attached: %s", self.who)
        writing = asyncio.create_task(self._write_loop(snapshot))
        try:
            await self._read_loop()
        finally:
            writing.cancel()
            for task in list(self._tasks):
                task.cancel()
            log.info("viewer left: %s", self.who)

    async def _hello(self) -> dict[str, Any] | None:
        try:
            line = await asyncio.wait_for(self.reader.readline(), HELLO_SECONDS)
        except TimeoutError:
            log.warning("dropped %s: no hello within %g s", self.who, HELLO_SECONDS)
            return None
        except (ValueError, asyncio.LimitOverrunError):
            log.warning("dropped %s: hello longer than %d bytes", self.who, wire.REQUEST_LIMIT)
            return None
        if not line:
            return None
        try:
            hello = wire.decode(line)
        except wire.WireError as exc:
            log.warning("dropped %s: not a pacs-tui viewer (%s)", self.who, exc)
            return None
        if hello.get("type") != "hello" or hello.get("magic") != wire.MAGIC:
            log.warning("dropped %s: not a pacs-tui hello", self.who)
            return None
        version = hello.get("version")
        if version != wire.PROTOCOL:
            shown = visible(str(version), 20)
            log.warning("refused %s: protocol version %s", self.who, shown)
            await self._refuse(
                f"this collector speaks protocol version {wire.PROTOCOL}, the viewer {shown}: "
                "run the same pacs-tui version on both sides"
            )
            return None
        return hello

    async def _refuse(self, reason: str) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(
                self._send(wire.encode({"type": "refused", "reason": reason})), HELLO_SECONDS
            )

    async def _send(self, line: bytes) -> None:
        self.writer.write(line)
        await self.writer.drain()

    async def _write_loop(self, snapshot: list[bytes]) -> None:
        try:
            for line in snapshot:
                await self._send(line)
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), BEAT_SECONDS)
                except TimeoutError:
                    self._replies.append(_BEAT)
                self._wake.clear()
                if self._soon is not None:
                    self._soon.cancel()
                    self._soon = None
                while self._replies:
                    await self._send(self._replies.popleft())
                if self._resync:
                    # Cleared before the snapshot is taken: changes from now on are kept again.
                    self._resync = False
                    for line in self.server.snapshot():
                        await self._send(line)
                    log.info("viewer %s resynchronised", self.who)
                batch = [*self._events, *self._states.values()]
                self._events.clear()
                self._states.clear()
                if batch:
                    self.writer.write(b"".join(batch))
                    await self.writer.drain()
        except (ConnectionError, OSError):
            self.close()

    async def _read_loop(self) -> None:
        while True:
            try:
                line = await self.reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                log.warning(
                    "dropped %s: a request longer than %d bytes", self.who, wire.REQUEST_LIMIT
                )
                return
            except (ConnectionError, OSError):
                return
            if not line:
                return
            try:
                frame = wire.decode(line)
            except wire.WireError as exc:
                log.warning("dropped %s: %s", self.who, exc)
                return
            self._request(frame)

    def _request(self, frame: dict[str, Any]) -> None:
        if len(self._replies) >= MAX_REPLIES_WAITING:
            log.warning("dropped %s: sends requests without reading the replies", self.who)
            self.close()
            return
        ident = frame.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool):
            self._reply({"type": "reply", "id": None, "error": "a request needs an integer id"})
            return
        if self._in_flight >= MAX_IN_FLIGHT:
            self._reply({"type": "reply", "id": ident, "error": "busy: too many requests"})
            return
        self._in_flight += 1
        task = asyncio.create_task(self._answer(ident, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, ident: int, frame: dict[str, Any]) -> None:
        try:
            result = await self._perform(frame)
        except wire.WireError as exc:
            self._reply({"type": "reply", "id": ident, "error": f"bad request: {exc}"})
        except NotAllowed as exc:  # logged and in the operator trail by the engine
            self._reply({"type": "reply", "id": ident, "error": f"refused: {exc}"})
        except Exception as exc:
            log.exception("viewer %s: request %s failed", self.who, frame.get("op"))
            self._reply({"type": "reply", "id": ident, "error": f"{type(exc).__name__}: {exc}"})
        else:
            self._reply({"type": "reply", "id": ident, "result": result})
        finally:
            self._in_flight -= 1

    def operator(self) -> Operator:
        """The viewer's operator, with the role the config gives it now (a reload may have
        changed it)."""
        return operator_for(self.uid, self.server.engine.config.operators)

    async def _perform(self, frame: dict[str, Any]) -> Any:
        engine = self.server.engine
        op = frame.get("op")
        if op == "probe_now":
            return engine.probe_now(wire.need(frame, "target", str), self.operator())
        if op == "probe_all":
            return engine.probe_all(self.operator())
        if op == "series":
            points = await engine.series(
                wire.need(frame, "target", str),
                wire.need(frame, "metric", str),
                wire.number(frame, "since"),
                wire.optional_number(frame, "until"),
            )
            return wire.points_out(points)
        if op == "series_of":
            targets = wire.need(frame, "targets", list)
            if len(targets) > MAX_TARGETS_PER_REQUEST or not all(
                isinstance(t, str) for t in targets
            ):
                raise wire.WireError(f"targets: at most {MAX_TARGETS_PER_REQUEST} strings")
            step = wire.optional_number(frame, "step")
            if step is not None and not MIN_STEP <= step <= MAX_STEP:
                raise wire.WireError(f"step: from {MIN_STEP:g} to {MAX_STEP:g} seconds")
            found = await engine.series_of(
                targets,
                wire.need(frame, "metric", str),
                wire.number(frame, "since"),
                step,
            )
            return {t: wire.points_out(p) for t, p in found.items()}
        if op == "events":
            limit = _limit(frame, MAX_EVENTS_PER_REQUEST)
            events = await engine.events(
                wire.optional(frame, "target", str),
                kind=wire.optional(frame, "kind", str),
                since=wire.optional_number(frame, "since"),
                limit=limit,
                target_kind=wire.optional(frame, "target_kind", str),
            )
            return [wire.event_out(e) for e in events]
        if op == "messages":
            limit = _limit(frame, MAX_MESSAGES_PER_REQUEST)
            patient = wire.optional(frame, "patient", str)
            if patient:  # the role allows it? who, which patient: by reference, never the ID
                engine.look_up_patient(self.operator(), patient)
            logged = await engine.messages(
                MessageQuery(
                    wire.optional(frame, "link", str),
                    since=wire.optional_number(frame, "since"),
                    until=wire.optional_number(frame, "until"),
                    control_id=wire.optional(frame, "control_id", str),
                    ack=wire.optional(frame, "ack", str),
                    type_prefix=wire.optional(frame, "type_prefix", str),
                    patient=patient,
                    limit=limit,
                    links=wire.optional_strings(frame, "links", MAX_LINKS_PER_REQUEST),
                    sender=wire.optional(frame, "sender", str),
                )
            )
            return [wire.message_out(m) for m in logged]
        if op == "message_tree":
            tree = await engine.message_tree(
                wire.need(frame, "link", str),
                wire.number(frame, "ts"),
                wire.need(frame, "control_id", str),
            )
            return None if tree is None else wire.tree_out(tree)
        if op == "targets":
            return [wire.target_out(t) for t in await engine.recorded_targets()]
        if op == "samples":
            samples = await engine.samples(
                wire.optional(frame, "target", str),
                wire.optional(frame, "metric", str),
                wire.optional_number(frame, "since"),
                wire.optional(frame, "kind", str),
            )
            # The newest ones when there are too many for one answer (said by "cut").
            cut = len(samples) > MAX_SAMPLES_PER_REQUEST
            kept = samples[-MAX_SAMPLES_PER_REQUEST:]
            return {"samples": wire.samples_out(kept), "cut": cut}
        raise wire.WireError(f"no such operation: {visible(str(op), VALUE_LIMIT)!r}")

    def close(self) -> None:
        self.attached = False
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        if not self.writer.is_closing():
            self.writer.close()


def _limit(frame: dict[str, Any], most: int) -> int:
    """A request's ``limit``: from 1 to ``most`` (``most`` when not given)."""
    limit = wire.optional(frame, "limit", int)
    if limit is not None and not 0 < limit <= most:
        raise wire.WireError(f"limit: from 1 to {most}")
    return most if limit is None else limit
