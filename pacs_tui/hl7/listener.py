"""The HL7 listener: an MLLP server that takes a copy feed and acknowledges each message by
HL7's rules once its log row is durable (in the history's message journal, see
:mod:`pacs_tui.store.journal`).

One protocol per connection, each message answered as it is read, in order. A message with no header
to answer is still answered (AE, with standard separators) where the framing allows; framing
that is lost ends the connection. What it counted is reported as the listener target's result
every :data:`REPORT_SECONDS`. Only the header is read (:mod:`pacs_tui.hl7.header`): no patient
field is stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import cast

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import Problem, answers, build_ack
from pacs_tui.hl7.error_share import DEFAULT_CRIT, DEFAULT_WARN
from pacs_tui.hl7.header import Header, HeaderError, read_header
from pacs_tui.hl7.server import LINE_ENDS, MllpServer, message_row, peer_name
from pacs_tui.hl7.validate import check_message
from pacs_tui.model import Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import Emit
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

#: The header an unanswerable message is answered with (its own could not be read): MSH-11
#: processing ID "P", MSH-12 version 2.5 (the message's own is not known; one every sender
#: reads).
_FALLBACK = Header("MSH", "|", "^~\\&", ("|", "^~\\&", *("",) * 8, "P", "2.5"))
#: Counted things, in the order the detail shows them.
COUNTS = ("received", "AA", "AE", "AR", "CA", "CE", "CR", "framing_errors", "refused")


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    id: str
    host: str
    port: int
    max_frame: int = 16 * 1024 * 1024
    frame_timeout: float = 30.0
    max_connections: int = 64
    site: str = ""
    description: str = ""
    store_phi: bool = False
    error_warn: float = DEFAULT_WARN
    error_crit: float = DEFAULT_CRIT


class Listener(MllpServer):
    """The ``serve(emit)`` service of one ``[[hl7.listener]]`` (mode ``listen``)."""

    what = "HL7 listener"
    counted = COUNTS

    def __init__(
        self, entry: ListenerConfig, target: Target, key: PatientKey | None = None
    ) -> None:
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
        self._transports: set[asyncio.Transport] = set()

    @property
    def settings(self) -> ListenerConfig:
        return self.entry

    def state(self) -> tuple[Status, str]:
        return Status.OK, f"listening on {self.address}; {self.peers_text()}"

    async def listen(self, emit: Emit) -> asyncio.Server:
        # A protocol, not streams: the listener answers each message inside data_received,
        # with no task, reader or generator between the socket and the ACK (a third of the
        # listener's time a message, measured with bench/hl7_listener.py).
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Connection(self, emit), *self._bind)

    def close_connections(self) -> None:
        super().close_connections()
        for transport in list(self._transports):
            transport.close()

    def answer(self, emit: Emit, data: bytes, transport: asyncio.WriteTransport, peer: str) -> None:
        """Record one message, then send what HL7 says it is owed."""
        received = time.time()
        if data[:1] in LINE_ENDS:  # a sender's stray line end before MSH (CRLF split at CR)
            data = data.lstrip(b"\r\n")
        try:
            header = read_header(data)
            problem = check_message(header, data)
        except HeaderError as exc:
            header, problem = _FALLBACK, Problem(100, f"no header to answer: {exc}")
        codes = answers(header, problem)
        ack = codes[0] if codes else None
        patient = self.patient_reference(data, header, self.entry.store_phi)
        row = message_row(self.id, received, header, len(data), problem, ack, patient)
        if header is _FALLBACK:  # the ACK's version, not the message's: that is not known
            row = replace(row, version="")
        try:
            emit.messages([row])
        except Exception as exc:  # the history cannot take it: say so, do not accept
            log.error("HL7 listener %s: message not recorded: %s", self.id, exc)
            problem = Problem(207, "the receiver could not record the message")
            codes = answers(header, problem)
        for code in codes:
            owed = problem if code[1] != "A" else None
            transport.write(b"\x0b" + build_ack(header, code, owed) + mllp.END)
        # The rest after the ACK: the sender goes on while this runs.
        counts = self.counts
        counts["received"] += 1
        for code in codes:
            counts[code] += 1
        self.note_message(received, header.control_id, data, header.charset)
        if problem is not None:
            counts[f"error {problem.code}"] += 1
            log.info(
                "HL7 listener %s: %s %s from %s: %s",
                self.id,
                visible(header.message_type, 40) or "a message",
                visible(header.control_id, 40) or "with no control ID",
                peer,
                problem.words,
            )

    def framing_problem(self, problem: mllp.FramingProblem, peer: str) -> None:
        self.counts["framing_errors"] += 1
        self.counts[f"framing_{problem.kind}"] += 1
        log.warning("HL7 listener %s: from %s: %s", self.id, peer, problem.words)


class _Connection(asyncio.Protocol):
    """One sender's connection: frames as they arrive, each answered in order before the next
    is read. A frame under way that misses its deadline ends the connection; so does a peer
    that leaves its ACKs unread for ``frame_timeout`` (its reading is paused meanwhile, so it
    cannot pile up more)."""

    def __init__(self, listener: Listener, emit: Emit) -> None:
        self.listener = listener
        self.emit = emit
        entry = listener.entry
        self.framer = mllp.Framer(max_frame=entry.max_frame, frame_timeout=entry.frame_timeout)
        self.transport: asyncio.Transport | None = None
        self.peer = "a peer"
        self._deadline: asyncio.TimerHandle | None = None
        self._stalled: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.peer = peer_name(transport)
        if not self.listener.admit(self.peer):
            transport.close()
            return
        self.transport = transport
        self.listener._transports.add(transport)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        listener = self.listener
        for item in self.framer.feed(data):
            if transport.is_closing():
                return
            if isinstance(item, mllp.FramingProblem):
                listener.framing_problem(item, self.peer)
                if item.fatal:
                    transport.close()
                    return
            else:
                listener.answer(self.emit, item.data, transport, self.peer)
        if self._deadline is None and self.framer.deadline is not None:
            self._watch_deadline()

    def eof_received(self) -> bool:
        for problem in self.framer.eof():
            self.listener.framing_problem(problem, self.peer)
        return False  # the transport closes, once the ACKs it holds are sent

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return  # refused: never counted as a peer
        if exc is not None:
            log.info("%s %s: %s: %s", self.listener.what, self.listener.id, self.peer, exc)
        self.listener.peers -= 1
        self.listener._transports.discard(self.transport)
        self.transport = None
        for timer in (self._deadline, self._stalled):
            if timer is not None:
                timer.cancel()

    def pause_writing(self) -> None:
        # The peer does not read its ACKs: read no more of its messages, and give it
        # frame_timeout to catch up.
        if self.transport is not None:
            self.transport.pause_reading()
            loop = asyncio.get_running_loop()
            self._stalled = loop.call_later(self.listener.entry.frame_timeout, self._stall)

    def resume_writing(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if self.transport is not None and not self.transport.is_closing():
            self.framer.restart_deadline()  # the frame under way waited on us, not the sender
            self.transport.resume_reading()

    def _stall(self) -> None:
        self._stalled = None
        if self.transport is not None:
            listener = self.listener
            log.warning(
                "HL7 listener %s: %s does not read its ACKs: closed", listener.id, self.peer
            )
            self.transport.abort()

    def _watch_deadline(self) -> None:
        """Wake at the frame's deadline (armed only while a frame is under way at the end of a
        read: a whole message a read costs no timer)."""
        self._deadline = None
        deadline = self.framer.deadline
        if deadline is None or self.transport is None:
            return
        left = deadline - time.monotonic()
        if self._stalled is not None:  # paused by us: the stall decides, not the frame
            left = self.listener.entry.frame_timeout
        if left > 0:
            self._deadline = asyncio.get_running_loop().call_later(left, self._watch_deadline)
            return
        self.listener.framing_problem(self.framer.timed_out(), self.peer)
        self.transport.close()
