"""What the HL7 listener and the tap share: an asyncio MLLP server as a long-running source.

It binds, refuses connections over ``max_connections``, runs one task per connection (the
subclass's :meth:`MllpServer.handle`), counts, and reports the counts as the target's result
every :data:`REPORT_SECONDS`; cancelled, it closes the server and every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pacs_tui.hl7.ack import ERROR_NAMES, Problem
from pacs_tui.hl7.error_share import DEFAULT_CRIT, DEFAULT_WARN, ErrorShare
from pacs_tui.hl7.header import Header
from pacs_tui.hl7.patient import patient_id
from pacs_tui.hl7.recent import RecentMessages
from pacs_tui.hl7.segments import segment_tree
from pacs_tui.minute_rate import MinuteRate
from pacs_tui.model import LoggedMessage, MessageTree, Result, Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import Emit
from pacs_tui.visible import host_port

log = logging.getLogger(__name__)

#: How often the counters are reported (seconds).
REPORT_SECONDS = 5.0
ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")
#: A message's first byte that is a line end: skipped before its MSH (some senders end each
#: segment with CRLF and split at the CR, so the next message starts with an LF).
LINE_ENDS = (b"\r", b"\n")


class MllpServer(ABC):
    """The skeleton of a ``serve(emit)`` MLLP service; ``what`` names it in the log."""

    what = "HL7 server"
    #: The counts reported as ``hl7_<name>_total`` metrics (ACK codes as ``hl7_ack_aa_total``).
    counted: tuple[str, ...] = ()
    #: The counts that are failed messages, whose recent share turns the status WARN or CRIT.
    failures: tuple[str, ...] = ("AE", "AR", "CE", "CR", "framing_errors")

    def __init__(
        self,
        entry_id: str,
        host: str,
        port: int,
        max_connections: int,
        target: Target,
        key: PatientKey | None = None,
        *,
        error_limits: tuple[float, float] = (DEFAULT_WARN, DEFAULT_CRIT),
    ):
        self.id = entry_id
        self.targets: Sequence[Target] = (target,)
        self.counts: Counter[str] = Counter()
        self.peers = 0
        self.address = host_port(host, port)
        self._bind = (host, port)
        self._max_connections = max_connections
        self._tasks: set[asyncio.Task[Any]] = set()
        self._key = key or PatientKey()
        #: The newest messages' bytes, in memory only, for the detail view (masked there).
        self.recent = RecentMessages()
        #: When the last message came (wall clock), None before the first.
        self.last_message: float | None = None
        self._minute_rate = MinuteRate()
        self._error_share = ErrorShare(self.failures)
        self._error_limits = error_limits

    async def message_tree(self, ts: float, control_id: str) -> MessageTree | None:
        """The masked segment tree of a recent message (parsed in a thread: a message may be
        large); None when it is no longer kept."""
        found = self.recent.find(ts, control_id)
        return None if found is None else await asyncio.to_thread(segment_tree, *found)

    def patient_reference(self, data: bytes, header: Header, store_phi: bool) -> str:
        """The message log's reference to the message's patient (see :mod:`.patient`)."""
        return self._key.reference(patient_id(data, header), store_phi)

    def note_message(self, ts: float, control_id: str, data: bytes, charset: str = "") -> None:
        """A message came: kept for the detail view, and the time of the last one."""
        self.last_message = ts
        self.recent.add(ts, control_id, data, charset)

    async def serve(self, emit: Emit) -> None:
        server = await self.listen(emit)
        for sock in server.sockets:
            self.address = host_port(*sock.getsockname()[:2])
            break
        log.info("%s %s on %s", self.what, self.id, self.address)
        try:
            while True:
                self._report(emit)
                await asyncio.sleep(REPORT_SECONDS)
        finally:
            server.close()
            self.close_connections()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def listen(self, emit: Emit) -> asyncio.Server:
        """The bound server: by default one task a connection on streams, running
        :meth:`handle`."""

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await self._connection(emit, reader, writer)
            except asyncio.CancelledError:
                pass  # the server stops: the connection is closed, nothing to say
            finally:
                if task is not None:
                    self._tasks.discard(task)

        return await asyncio.start_server(connected, *self._bind)

    def close_connections(self) -> None:
        """The server stops: every connection ends."""
        for task in list(self._tasks):
            task.cancel()

    def admit(self, peer: str) -> bool:
        """Whether a new connection from ``peer`` may stay (counted as a peer if so)."""
        if self.peers >= self._max_connections:
            self.counts["refused"] += 1
            log.warning(
                "%s %s: %s refused, %d connections already", self.what, self.id, peer, self.peers
            )
            return False
        self.peers += 1
        return True

    async def close(self) -> None:  # noqa: B027 (a Service's close; nothing to add here)
        """Nothing left open: ``serve`` closes its server and connections when cancelled."""

    async def _connection(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = peer_name(writer)
        if not self.admit(peer):
            writer.close()
            return
        try:
            await self.handle(emit, reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            log.info("%s %s: %s: %s", self.what, self.id, peer, exc)
        finally:
            self.peers -= 1
            writer.close()

    async def handle(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        """Serve one connection of :meth:`listen`'s default server until it ends (the
        subclass's part when it keeps that server)."""
        raise NotImplementedError

    @abstractmethod
    def state(self) -> tuple[Status, str]:
        """The target's status and reason now (the subclass's part)."""

    def _report(self, emit: Emit) -> None:
        metrics = {f"hl7_{_metric(k)}": float(self.counts[k]) for k in self.counted}
        metrics["hl7_peers"] = float(self.peers)
        metrics["hl7_received_per_minute"] = self._rate(time.monotonic())
        if self.last_message is not None:
            metrics["hl7_idle_seconds"] = max(0.0, round(time.time() - self.last_message, 1))
        # The counts are metrics; the kinds of framing error and of HL7 error (table 0357's
        # codes: 100 a required segment missing, 101 a required field, 203 a version, …) are
        # the detail's.
        details: dict[str, Any] = {
            _detail_name(k): n
            for k, n in sorted(self.counts.items())
            if (k.startswith("framing_") and k != "framing_errors") or k.startswith("error ")
        }
        status, reason = self.state()
        share = self._error_share(time.monotonic(), self.counts)
        if share.ratio is not None:
            metrics["hl7_error_ratio"] = round(share.ratio, 4)
        judged = share.judge(*self._error_limits)
        if judged is not None:  # the worse of the two says its words first
            worse = Status.worst((status, judged[0]))
            reason = f"{judged[1]}; {reason}" if worse is judged[0] else f"{reason}; {judged[1]}"
            status = worse
        emit.result(self.id, Result(status, reason, metrics, details))

    def _rate(self, now: float) -> float:
        """Messages received over the last minute (:class:`MinuteRate`: in the first minute,
        what came so far, not a few seconds' count scaled up)."""
        rate = self._minute_rate(now, self.counts["received"])
        return rate if rate < 10 else float(round(rate))  # "2.5", "168", not "168.4"

    def peers_text(self) -> str:
        return f"{self.peers} peer{'s' if self.peers != 1 else ''} connected"


def _detail_name(count: str) -> str:
    """A count's name in the detail: "framing: junk", "error 100 (segment sequence)"."""
    if count.startswith("error "):
        code = count.removeprefix("error ")
        name = ERROR_NAMES.get(int(code)) if code.isdigit() else None
        return f"{count} ({name})" if name else count
    return count.replace("framing_", "framing: ")


def _metric(count: str) -> str:
    if count in ACK_CODES:
        return f"ack_{count.lower()}_total"
    return f"{count}_total"


def peer_name(end: asyncio.StreamWriter | asyncio.BaseTransport) -> str:
    """The other end of a connection, ``host:port`` (``[v6]:port``)."""
    name = end.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        return host_port(name[0], name[1])
    return "a peer"


def message_row(
    link: str,
    ts: float,
    header: Header,
    size: int,
    problem: Problem | None,
    ack: str | None = None,
    patient: str = "",
) -> LoggedMessage:
    """The message-log row of a message: its header's metadata and what was wrong, nothing of
    its body."""
    apps = (
        header.sending_app,
        header.receiving_app,
        header.sending_facility,
        header.receiving_facility,
    )
    kind = header.message_type
    if problem is not None:  # a header that is wrong may not be a header at all: see _hd
        apps = _hd(apps, header.encoding[:1] or "^")
        kind = kind if _TYPE.fullmatch(kind) else ""
    # Positional: a third quicker than by keyword, and this runs for every message.
    return LoggedMessage(
        ts,
        link,
        "in",
        kind,
        header.control_id,
        ack,
        None,
        size,
        apps[0],
        apps[1],
        problem.words if problem is not None else "",
        header.version,
        apps[2],
        apps[3],
        patient,
    )


#: What MSH-9 can be once its structure is left out: a message code and a trigger event.
_TYPE = re.compile(r"[A-Z0-9]{3}(?:\W[A-Z0-9]{2,3})?")


def _hd(fields: tuple[str, str, str, str], component: str) -> tuple[str, str, str, str]:
    """MSH-3 to MSH-6 of a message with a problem, each kept only if it can be an application
    or facility (HL7's HD type: at most three components); MSH-9 likewise only if it can be a
    type. A message sent without its MSH by a tool that puts one in front (python-hl7's
    ``mllp_send --loose``) has its PID there: ``999^^^HOSP^MR``, a patient's identifier, must
    not reach the message log as a receiver, nor a name as its type."""
    kept = tuple(f if f.count(component) <= 2 else "" for f in fields)
    return kept[0], kept[1], kept[2], kept[3]
