"""The HL7 listener: an MLLP server that takes a copy feed and acknowledges each message by
HL7's rules once its log row is committed to the history.

One task per connection, messages of a connection answered in order. A message with no header
to answer is still answered (AR, with standard separators) where the framing allows; framing
that is lost ends the connection. What it counted is reported as the listener target's result
every :data:`REPORT_SECONDS`. Only the header is read (:mod:`pacs_tui.hl7.header`): no patient
field is stored or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import Problem, answers, build_ack
from pacs_tui.hl7.header import Header, HeaderError, read_header
from pacs_tui.hl7.validate import check_message
from pacs_tui.model import LoggedMessage, Result, Status, Target
from pacs_tui.source import Emit
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

#: How often the listener's counters are reported (seconds).
REPORT_SECONDS = 5.0
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


class Listener:
    """The ``serve(emit)`` service of one ``[[hl7.listener]]`` (mode ``listen``)."""

    def __init__(self, entry: ListenerConfig, target: Target) -> None:
        self.entry = entry
        self.id = entry.id
        self.targets: Sequence[Target] = (target,)
        self.counts: Counter[str] = Counter()
        self.peers = 0
        self.last_message: float | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.address = f"{entry.host}:{entry.port}"

    @property
    def settings(self) -> ListenerConfig:
        return self.entry

    async def serve(self, emit: Emit) -> None:
        entry = self.entry

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._connection(emit, reader, writer)

        server = await asyncio.start_server(connected, entry.host, entry.port)
        self.address = _address(server)
        log.info("HL7 listener %s on %s", self.id, self.address)
        try:
            while True:
                self._report(emit)
                await asyncio.sleep(REPORT_SECONDS)
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def close(self) -> None:
        """Nothing left open: ``serve`` closes its server and connections when cancelled."""

    def _report(self, emit: Emit) -> None:
        metrics = {f"hl7_{_metric(k)}": float(self.counts[k]) for k in COUNTS}
        metrics["hl7_peers"] = float(self.peers)
        peers = f"{self.peers} peer{'s' if self.peers != 1 else ''} connected"
        reason = f"listening on {self.address}; {peers}"
        # The counts are metrics; the kinds of framing error and of HL7 error (table 0357's
        # codes: 100 a required segment missing, 101 a required field, 203 a version, …) are
        # the detail's.
        details: dict[str, Any] = {
            k.replace("framing_", "framing: "): n
            for k, n in sorted(self.counts.items())
            if (k.startswith("framing_") and k != "framing_errors") or k.startswith("error ")
        }
        emit.result(self.id, Result(Status.OK, reason, metrics, details))

    async def _connection(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = _peer(writer)
        if self.peers >= self.entry.max_connections:
            self.counts["refused"] += 1
            log.warning(
                "HL7 listener %s: %s refused, %d connections already",
                self.id,
                peer,
                self.entry.max_connections,
            )
            writer.close()
            return
        self.peers += 1
        self._writers.add(writer)
        try:
            async for item in mllp.frames(
                reader, max_frame=self.entry.max_frame, frame_timeout=self.entry.frame_timeout
            ):
                if isinstance(item, mllp.FramingProblem):
                    self.counts["framing_errors"] += 1
                    self.counts[f"framing_{item.kind}"] += 1
                    log.warning("HL7 listener %s: from %s: %s", self.id, peer, item.words)
                    if item.fatal:
                        break
                    continue
                if not await self._answer(emit, item.data, writer, peer):
                    break
        except (ConnectionError, OSError) as exc:
            log.info("HL7 listener %s: %s: %s", self.id, peer, exc)
        finally:
            self.peers -= 1
            self._writers.discard(writer)
            writer.close()

    async def _answer(
        self, emit: Emit, data: bytes, writer: asyncio.StreamWriter, peer: str
    ) -> bool:
        """Record one message, then send what HL7 says it is owed; False if the peer stopped
        reading its answers."""
        self.counts["received"] += 1
        received = time.time()
        self.last_message = received
        try:
            header = read_header(data)
            problem = check_message(header, data)
        except HeaderError as exc:
            header, problem = _FALLBACK, Problem(100, f"no header to answer: {exc}")
        codes = answers(header, problem)
        row = LoggedMessage(
            ts=received,
            link=self.id,
            direction="in",
            type=header.message_type,
            control_id=header.control_id,
            ack=codes[0] if codes else None,
            size=len(data),
            sender=header.sending_app,
            receiver=header.receiving_app,
            detail=problem.words if problem is not None else "",
            version=header.version,
            sender_facility=header.sending_facility,
            receiver_facility=header.receiving_facility,
        )
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
        if codes:
            try:
                await asyncio.wait_for(writer.drain(), self.entry.frame_timeout)
            except TimeoutError:
                log.warning("HL7 listener %s: %s does not read its ACKs: closed", self.id, peer)
                return False
        return True


def _metric(count: str) -> str:
    if count in ("AA", "AE", "AR", "CA", "CE", "CR"):
        return f"ack_{count.lower()}_total"
    return f"{count}_total"


def _peer(writer: asyncio.StreamWriter) -> str:
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}"
    return "a peer"


def _address(server: asyncio.Server) -> str:
    for sock in server.sockets:
        host, port = sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "?"
