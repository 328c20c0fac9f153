"""The HL7 tap: a transparent MLLP proxy between a sender (the HIS) and its receiver (the RIS).

Each connection of the sender gets one connection to the upstream. Every message is forwarded
upstream byte for byte, every answer of the upstream is relayed back byte for byte, in order.
The tap never answers on its own: with the upstream down, silent or gone, the sender gets no
ACK (and retries, as senders do), and the tap records "no ACK". For each message it records the
header's type and control ID, the upstream's ACK code and its round trip; rows are recorded
without holding the relay (unlike the listener, which ACKs once its row is durable, the tap's
ACK is the upstream's to give).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import read_msa
from pacs_tui.hl7.error_share import DEFAULT_CRIT, DEFAULT_WARN
from pacs_tui.hl7.header import Header, HeaderError, read_header
from pacs_tui.hl7.link import connect_words, unescape
from pacs_tui.hl7.server import ACK_CODES, LINE_ENDS, MllpServer, message_row
from pacs_tui.hl7.validate import check_message
from pacs_tui.model import LATE_ACK, LoggedMessage, Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import Emit
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

#: Messages forwarded and not yet answered on one connection, at most (a sender that pipelines
#: more is not read until the upstream catches up: TCP slows it down).
MAX_IN_FLIGHT = 256
COUNTS = ("received", *ACK_CODES, "no_ack", "framing_errors", "upstream_down", "refused")


@dataclass(frozen=True, slots=True)
class TapConfig:
    id: str
    host: str
    port: int
    upstream_host: str
    upstream_port: int
    ack_timeout: float = 5.0
    connect_timeout: float = 5.0
    max_frame: int = 16 * 1024 * 1024
    frame_timeout: float = 30.0
    max_connections: int = 64
    site: str = ""
    description: str = ""
    store_phi: bool = False
    error_warn: float = DEFAULT_WARN
    error_crit: float = DEFAULT_CRIT


@dataclass(eq=False)  # one message each: kept in a set by identity
class _Pending:
    """A message forwarded upstream and not answered yet."""

    sent: float
    row: LoggedMessage
    timer: asyncio.TimerHandle | None = None
    late: bool = False


@dataclass
class _Connection:
    """One sender's connection and its upstream's: the messages awaiting an answer, in order."""

    peer: str
    pending: deque[_Pending] = field(default_factory=deque)
    space: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))
    #: Set whenever the last message waiting is answered.
    emptied: asyncio.Event = field(default_factory=asyncio.Event)


class Tap(MllpServer):
    """The ``serve(emit)`` service of one ``[[hl7.listener]]`` with ``mode = "tap"``."""

    what = "HL7 tap"
    counted = COUNTS
    failures = (*MllpServer.failures, "no_ack")

    def __init__(self, entry: TapConfig, target: Target, key: PatientKey | None = None) -> None:
        super().__init__(
            entry.id,
            entry.host,
            entry.port,
            entry.max_connections,
            target,
            key,
            error_limits=(entry.error_warn, entry.error_crit),
        )
        self.entry = entry
        self.upstream = f"{entry.upstream_host}:{entry.upstream_port}"
        self.upstream_error: str | None = None
        #: Messages past ``ack_timeout`` still waiting for the upstream's answer: the tap is
        #: WARN while there is one (a stalled receiver is seen while it stalls).
        self._overdue: set[_Pending] = set()
        self._emit: Emit | None = None

    @property
    def settings(self) -> TapConfig:
        return self.entry

    def state(self) -> tuple[Status, str]:
        reason = f"tapping {self.address} → {self.upstream}; {self.peers_text()}"
        if self._overdue:
            waited = time.monotonic() - min(p.sent for p in self._overdue)
            many = len(self._overdue)
            what = "a message" if many == 1 else f"{many} messages"
            return Status.WARN, (
                f"the upstream has not answered {what} for {waited:.0f} s "
                f"(ack_timeout {self.entry.ack_timeout:g} s); {reason}"
            )
        if self.upstream_error is not None:  # the fault first: a cell cuts the end
            return Status.WARN, f"upstream: {self.upstream_error}; {reason}"
        return Status.OK, reason

    def _report_now(self) -> None:
        """The status at once when it turns (an overdue answer, or its end), not at the next
        report."""
        if self._emit is not None:
            self._report(self._emit)

    async def handle(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        entry = self.entry
        self._emit = emit
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(entry.upstream_host, entry.upstream_port),
                entry.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            # No upstream: the sender's connection ends without a word (it retries).
            self.counts["upstream_down"] += 1
            self.upstream_error = connect_words(exc, entry.upstream_host, entry.connect_timeout)
            log.warning("HL7 tap %s: upstream %s: %s", self.id, self.upstream, self.upstream_error)
            return
        self.upstream_error = None
        conn = _Connection(peer)
        # Both ways at once. When the upstream's side ends, so does the sender's (a sender whose
        # receiver went away sees its connection close, as it would without the tap). When the
        # sender's side ends first (it stopped sending, or a write to the upstream failed), the
        # answers to what it sent still come back, for up to ack_timeout.
        forward = asyncio.create_task(self._forward(conn, reader, up_writer))
        relay = asyncio.create_task(self._relay(emit, conn, up_reader, writer))
        ways: set[asyncio.Task[Any]] = {forward, relay}
        try:
            await asyncio.wait(ways, return_when=asyncio.FIRST_COMPLETED)
            if forward.done() and not relay.done() and conn.pending:
                answered = asyncio.create_task(conn.emptied.wait())
                ways.add(answered)  # cancelled below with the others, even if we are
                await asyncio.wait(
                    {relay, answered},
                    timeout=entry.ack_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            for way in ways:
                if (
                    way.done()
                    and not way.cancelled()
                    and isinstance(way.exception(), (ConnectionError, OSError))
                ):
                    log.info("HL7 tap %s: %s: %s", self.id, peer, way.exception())
        finally:
            for way in ways:
                way.cancel()
            await asyncio.gather(*ways, return_exceptions=True)
            reason = "the connection ended before an ACK came"
            while conn.pending:
                self._unanswered(emit, conn.pending.popleft(), reason)
            up_writer.close()

    async def _forward(
        self, conn: _Connection, reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter
    ) -> None:
        """Sender → upstream: each frame as it came, its row waiting for the answer."""
        entry = self.entry
        async for item in mllp.frames(
            reader, max_frame=entry.max_frame, frame_timeout=entry.frame_timeout
        ):
            if isinstance(item, mllp.FramingProblem):
                self.counts["framing_errors"] += 1
                log.warning("HL7 tap %s: from %s: %s", self.id, conn.peer, item.words)
                if item.fatal:
                    return
                continue
            await conn.space.acquire()
            self.counts["received"] += 1
            row, charset = self._row(item.data)
            pending = _Pending(time.monotonic(), row)
            self.note_message(row.ts, row.control_id, item.data, charset)
            conn.pending.append(pending)
            conn.emptied.clear()
            pending.timer = asyncio.get_running_loop().call_later(
                entry.ack_timeout, self._late, pending
            )
            up_writer.write(b"\x0b" + item.data + mllp.END)
            await up_writer.drain()

    async def _relay(
        self,
        emit: Emit,
        conn: _Connection,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Upstream → sender: each answer as it came, matched to the oldest message waiting."""
        entry = self.entry
        answers = aiter(
            mllp.frames(up_reader, max_frame=entry.max_frame, frame_timeout=entry.frame_timeout)
        )
        reason = "the upstream closed the connection"
        while True:
            try:
                item = await anext(answers)
            except StopAsyncIteration:
                break
            except (ConnectionError, OSError) as exc:
                # A receiver that closes with a message of ours unread resets the connection.
                reason = f"the upstream reset the connection ({exc.strerror or exc})"
                break
            if isinstance(item, mllp.FramingProblem):
                log.warning("HL7 tap %s: from the upstream: %s", self.id, item.words)
                if item.fatal:
                    break
                continue
            writer.write(b"\x0b" + item.data + mllp.END)
            await writer.drain()
            code, echoed, words = _answer(item.data, self.entry.store_phi)
            if code is None:
                continue  # relayed all the same: the tap does not judge the upstream
            # The answer names its message in MSA-2; one that does not is taken as the oldest
            # message's. A second answer to a message (an application ACK after a commit ACK)
            # names one no longer waiting: relayed, not recorded again.
            match = next((p for p in conn.pending if p.row.control_id == echoed), None)
            if match is None and not echoed and conn.pending:
                match = conn.pending[0]
            if match is not None:
                conn.pending.remove(match)
                conn.space.release()
                self._answered(emit, match, code, words)
                if not conn.pending:
                    conn.emptied.set()
        if not conn.pending:
            # Nothing lost: many receivers close a connection left idle. The sender's ends too
            # (as it would without the tap) and its next one gets an upstream of its own.
            log.info("HL7 tap %s: %s with no message waiting", self.id, reason)
            return
        self.upstream_error = reason
        while conn.pending:
            self._unanswered(emit, conn.pending.popleft(), reason)
            conn.space.release()
        log.warning("HL7 tap %s: %s", self.id, reason)
        self._report_now()

    def _row(self, data: bytes) -> tuple[LoggedMessage, str]:
        """The message's log row, and its character set (MSH-18) for the detail view."""
        if data[:1] in LINE_ENDS:  # judged as the listener does; forwarded as it came
            data = data.lstrip(b"\r\n")
        try:
            header: Header | None = read_header(data)
        except HeaderError:
            header = None
        if header is None:
            row = LoggedMessage(
                time.time(), self.id, "in", "", "", size=len(data), detail="no header"
            )
            return row, ""
        # Judged as a listener would, for the log only: the tap passes everything on.
        problem = check_message(header, data)
        patient = self.patient_reference(data, header, self.entry.store_phi)
        row = message_row(self.id, time.time(), header, len(data), problem, None, patient)
        return row, header.charset

    def _answered(self, emit: Emit, pending: _Pending, code: str, words: str = "") -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        overdue = pending in self._overdue
        self._overdue.discard(pending)
        self.counts[code if code in ACK_CODES else "other_ack"] += 1
        took = time.monotonic() - pending.sent
        late = f"{LATE_ACK} {took:.1f} s" if pending.late else ""
        # Why the receiver did not accept it: in its own words (MSA-3, an ERR's) with
        # store_phi, else what is coded (an ERR's number and place) and where the words went.
        said = ""
        if code[1:] != "A":
            kept = "" if self.entry.store_phi else " (its words are kept with store_phi = true)"
            said = f"{code}: {visible(words, 200)}{kept}" if words else f"{code}{kept}"
            said = said if words or kept else ""
        # The late mark first: what follows it may be the receiver's words, which must not be
        # able to make a row read as late (the no-ACK filter looks at the start only).
        detail = "; ".join(x for x in (late, pending.row.detail, said) if x)
        _record(emit, replace(pending.row, ack=code, latency=took, detail=detail))
        if overdue:  # the stall is over: OK again at once, with this answer counted
            self._report_now()

    def _late(self, pending: _Pending) -> None:
        """No ACK within ``ack_timeout``: counted now; the row waits for a late one."""
        pending.late = True
        self.counts["no_ack"] += 1
        self._overdue.add(pending)
        self._report_now()
        log.info(
            "HL7 tap %s: no ACK within %g s for %s %s",
            self.id,
            self.entry.ack_timeout,
            visible(pending.row.type, 40),
            visible(pending.row.control_id, 40),
        )

    def _unanswered(self, emit: Emit, pending: _Pending, reason: str) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        self._overdue.discard(pending)
        if not pending.late:
            self.counts["no_ack"] += 1
        detail = "; ".join(x for x in (pending.row.detail, f"no ACK: {reason}") if x)
        _record(emit, replace(pending.row, detail=detail))


def _record(emit: Emit, row: LoggedMessage) -> None:
    """Record ``row`` (a journal append: it does not hold the relay); a history that cannot
    take it is logged, and the answer is relayed all the same: the tap does not judge."""
    try:
        emit.messages([row])
    except Exception as exc:
        log.error("HL7 tap %s: message not recorded: %s", row.link, exc)


def _answer(data: bytes, free_text: bool) -> tuple[str | None, str, str]:
    """MSA-1 (its two letters), MSA-2 and the words (MSA-3, else ERR; HL7's escapes undone) of
    an answer (``None``, "" and "" when it is not an ACK); without ``free_text`` (``store_phi``
    off) only the ERR's error number and place: the receiver's words may name the patient."""
    found = read_msa(data, free_text)
    if found is None or not found[0]:
        return None, "", ""
    words = unescape(found[2], read_header(data)) if found[2] else ""
    return found[0][:2], found[1], words
