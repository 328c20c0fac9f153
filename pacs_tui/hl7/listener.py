"""The HL7 listener: an MLLP server that takes a copy feed and acknowledges each message by
HL7's rules once its log row is durable (in the history's message journal, see
:mod:`pacs_tui.store.journal`).

One task per connection, messages of a connection answered in order. A message with no header
to answer is still answered (AE, with standard separators) where the framing allows; framing
that is lost ends the connection. What it counted is reported as the listener target's result
every :data:`REPORT_SECONDS`. Only the header is read (:mod:`pacs_tui.hl7.header`): no patient
field is stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import Problem, answers, build_ack
from pacs_tui.hl7.header import Header, HeaderError, read_header
from pacs_tui.hl7.server import MllpServer, message_row
from pacs_tui.hl7.validate import check_message
from pacs_tui.model import Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import Emit
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

#: The header an unanswerable message is answered with (its own could not be read).
_FALLBACK = Header("MSH", "|", "^~\\&", ("|", "^~\\&", "", "", "", "", "", "", "", "", "", "P"))
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


class Listener(MllpServer):
    """The ``serve(emit)`` service of one ``[[hl7.listener]]`` (mode ``listen``)."""

    what = "HL7 listener"
    counted = COUNTS

    def __init__(
        self, entry: ListenerConfig, target: Target, key: PatientKey | None = None
    ) -> None:
        super().__init__(entry.id, entry.host, entry.port, entry.max_connections, target, key)
        self.entry = entry

    @property
    def settings(self) -> ListenerConfig:
        return self.entry

    def state(self) -> tuple[Status, str]:
        return Status.OK, f"listening on {self.address}; {self.peers_text()}"

    async def handle(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        async for item in mllp.frames(
            reader, max_frame=self.entry.max_frame, frame_timeout=self.entry.frame_timeout
        ):
            if isinstance(item, mllp.FramingProblem):
                self.counts["framing_errors"] += 1
                self.counts[f"framing_{item.kind}"] += 1
                log.warning("HL7 listener %s: from %s: %s", self.id, peer, item.words)
                if item.fatal:
                    return
                continue
            if not await self._answer(emit, item.data, writer, peer):
                return

    async def _answer(
        self, emit: Emit, data: bytes, writer: asyncio.StreamWriter, peer: str
    ) -> bool:
        """Record one message, then send what HL7 says it is owed; False if the peer stopped
        reading its answers."""
        self.counts["received"] += 1
        received = time.time()
        try:
            header = read_header(data)
            problem = check_message(header, data)
        except HeaderError as exc:
            header, problem = _FALLBACK, Problem(100, f"no header to answer: {exc}")
        codes = answers(header, problem)
        ack = codes[0] if codes else None
        patient = self.patient_reference(data, header, self.entry.store_phi)
        row = message_row(self.id, received, header, len(data), problem, ack, patient)
        self.note_message(received, header.control_id, data, header.charset)
        try:
            await emit.messages([row])
        except Exception as exc:  # the history cannot take it: say so, do not accept
            log.error("HL7 listener %s: message not recorded: %s", self.id, exc)
            problem = Problem(207, "the receiver could not record the message")
            codes = answers(header, problem)
        if problem is not None:
            self.counts[f"error {problem.code}"] += 1
            log.info(
                "HL7 listener %s: %s %s from %s: %s",
                self.id,
                visible(header.message_type, 40),
                visible(header.control_id, 40),
                peer,
                problem.words,
            )
        for code in codes:
            self.counts[code] += 1
            owed = problem if code[1] != "A" else None
            writer.write(b"\x0b" + build_ack(header, code, owed) + mllp.END)
        # An ACK that went out whole needs no drain; waiting on one anyway (wait_for makes a
        # task) was a sixth of the listener's time a message. Only a peer that leaves its ACKs
        # unread fills the buffer, and then gets frame_timeout to read them.
        if codes and writer.transport.get_write_buffer_size() > 0:
            try:
                await asyncio.wait_for(writer.drain(), self.entry.frame_timeout)
            except TimeoutError:
                log.warning("HL7 listener %s: %s does not read its ACKs: closed", self.id, peer)
                return False
        return True
