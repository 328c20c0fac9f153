"""What the HL7 listener and the tap share: an asyncio MLLP server as a long-running source.

It binds, refuses connections over ``max_connections``, runs one task per connection (the
subclass's :meth:`MllpServer.handle`), counts, and reports the counts as the target's result
every :data:`REPORT_SECONDS`; cancelled, it closes the server and every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pacs_tui.hl7.ack import Problem
from pacs_tui.hl7.header import Header
from pacs_tui.model import LoggedMessage, Result, Status, Target
from pacs_tui.source import Emit

log = logging.getLogger(__name__)

#: How often the counters are reported (seconds).
REPORT_SECONDS = 5.0
ACK_CODES = ("AA", "AE", "AR", "CA", "CE", "CR")


class MllpServer(ABC):
    """The skeleton of a ``serve(emit)`` MLLP service; ``what`` names it in the log."""

    what = "HL7 server"
    #: The counts reported as ``hl7_<name>_total`` metrics (ACK codes as ``hl7_ack_aa_total``).
    counted: tuple[str, ...] = ()

    def __init__(self, entry_id: str, host: str, port: int, max_connections: int, target: Target):
        self.id = entry_id
        self.targets: Sequence[Target] = (target,)
        self.counts: Counter[str] = Counter()
        self.peers = 0
        self.address = f"{host}:{port}"
        self._bind = (host, port)
        self._max_connections = max_connections
        self._tasks: set[asyncio.Task[Any]] = set()

    async def serve(self, emit: Emit) -> None:
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

        server = await asyncio.start_server(connected, *self._bind)
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            break
        log.info("%s %s on %s", self.what, self.id, self.address)
        try:
            while True:
                self._report(emit)
                await asyncio.sleep(REPORT_SECONDS)
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def close(self) -> None:  # noqa: B027 (a Service's close; nothing to add here)
        """Nothing left open: ``serve`` closes its server and connections when cancelled."""

    async def _connection(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = peer_name(writer)
        if self.peers >= self._max_connections:
            self.counts["refused"] += 1
            log.warning(
                "%s %s: %s refused, %d connections already", self.what, self.id, peer, self.peers
            )
            writer.close()
            return
        self.peers += 1
        try:
            await self.handle(emit, reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            log.info("%s %s: %s: %s", self.what, self.id, peer, exc)
        finally:
            self.peers -= 1
            writer.close()

    @abstractmethod
    async def handle(
        self, emit: Emit, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        """Serve one connection until it ends (the subclass's part)."""

    @abstractmethod
    def state(self) -> tuple[Status, str]:
        """The target's status and reason now (the subclass's part)."""

    def _report(self, emit: Emit) -> None:
        metrics = {f"hl7_{_metric(k)}": float(self.counts[k]) for k in self.counted}
        metrics["hl7_peers"] = float(self.peers)
        # The counts are metrics; the kinds of framing error and of HL7 error (table 0357's
        # codes: 100 a required segment missing, 101 a required field, 203 a version, …) are
        # the detail's.
        details: dict[str, Any] = {
            k.replace("framing_", "framing: "): n
            for k, n in sorted(self.counts.items())
            if (k.startswith("framing_") and k != "framing_errors") or k.startswith("error ")
        }
        status, reason = self.state()
        emit.result(self.id, Result(status, reason, metrics, details))

    def peers_text(self) -> str:
        return f"{self.peers} peer{'s' if self.peers != 1 else ''} connected"


def _metric(count: str) -> str:
    if count in ACK_CODES:
        return f"ack_{count.lower()}_total"
    return f"{count}_total"


def peer_name(writer: asyncio.StreamWriter) -> str:
    """The other end of a connection, ``host:port`` (``[v6]:port``)."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and len(name) >= 2:
        host = str(name[0])
        return f"[{host}]:{name[1]}" if ":" in host else f"{host}:{name[1]}"
    return "a peer"


def message_row(
    link: str, ts: float, header: Header, size: int, problem: Problem | None, ack: str | None = None
) -> LoggedMessage:
    """The message-log row of a message: its header's metadata and what was wrong, nothing of
    its body."""
    return LoggedMessage(
        ts=ts,
        link=link,
        direction="in",
        type=header.message_type,
        control_id=header.control_id,
        ack=ack,
        size=size,
        sender=header.sending_app,
        receiver=header.receiving_app,
        detail=problem.words if problem is not None else "",
        version=header.version,
        sender_facility=header.sending_facility,
        receiver_facility=header.receiving_facility,
    )
