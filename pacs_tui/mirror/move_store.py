"""The storage SCP of ours that lives for one C-MOVE of the failover drill.

A C-MOVE makes the mirror open associations of its own to the move destination, an AE title it
looks up in its AE table. :class:`MoveStore` listens where that table says the destination is,
for as long as the move lasts: it accepts associations only for its own AE title and only from
the mirror's addresses (or the networks the config adds), at most two at once, and counts the
instances stored to it and their bytes, never decoding or writing them (they hold patient data).
Every read stops at the drill's deadline and every PDU is judged by its header first, as the
probes' requestor sockets do (:mod:`pacs_tui.probes.dicom_transport`). Blocking: the drill's
thread runs it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

from pacs_tui.probes.dicom_conduct import (
    ASSOCIATE_CAP,
    FIXED_LENGTH,
    PDU_NAMES,
    named,
    not_dicom,
)
from pacs_tui.probes.dicom_transport import Budget, seconds_text
from pacs_tui.units import format_value
from pacs_tui.visible import host_port, visible

__all__ = ["MAX_ASSOCIATIONS", "MoveStore", "MoveTo", "Network"]

LOGGER = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Associations the mirror may hold open to us at once (archives use one or two per move).
MAX_ASSOCIATIONS = 2
#: The largest P-DATA-TF PDU we announce (and so accept).
MAX_PDU = 256 * 1024
#: Refused peers named in the drill's words at most.
_REFUSED_SHOWN = 4


@dataclass(frozen=True, slots=True)
class MoveTo:
    """Where the drill's C-MOVE sends the study: our AE title, the address we listen on (the
    one the mirror's AE table has for that title), and the networks the mirror may connect
    from besides its own addresses (a mirror behind NAT, or sending from another interface)."""

    aet: str
    bind: tuple[str, int]
    networks: tuple[Network, ...] = ()

    @property
    def where(self) -> str:
        return host_port(*self.bind)


@dataclass(slots=True)
class _Tally:
    """What arrived, and whom the store refused (shared by the server's threads)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    instances: int = 0
    size: int = 0
    connections: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)

    def stored(self, size: int) -> None:
        with self.lock:
            self.instances += 1
            self.size += size

    def refuse(self, address: str, why: str) -> None:
        with self.lock:
            if len(self.refused) < _REFUSED_SHOWN:
                self.refused.setdefault(address, why)

    def fault(self, words: str) -> None:
        with self.lock:
            if len(self.faults) < _REFUSED_SHOWN:
                self.faults.append(words)


@dataclass(slots=True)
class _PduJudge:
    """Follows the byte stream PDU by PDU and judges each by its 6-byte header: a known type,
    the fixed length of the fixed-size ones, P-DATA no larger than we announced, the others
    under :data:`ASSOCIATE_CAP` (pynetdicom reads whatever length it is told, up to 4 GiB)."""

    head: bytes = b""
    body_left: int = 0

    def feed(self, data: bytes) -> str | None:
        view = memoryview(data)
        while view:
            if self.body_left:
                taken = min(self.body_left, len(view))
                self.body_left -= taken
                view = view[taken:]
                continue
            need = 6 - len(self.head)
            self.head += bytes(view[:need])
            view = view[need:]
            if len(self.head) < 6:
                return None
            pdu_type, _, length = struct.unpack(">BBL", self.head)
            head, self.head = self.head, b""
            problem = _header_problem(pdu_type, length, head)
            if problem is not None:
                return problem
            self.body_left = length
        return None


def _header_problem(pdu_type: int, length: int, head: bytes) -> str | None:
    if pdu_type not in PDU_NAMES:
        return f"sent bytes that are not a DICOM PDU{not_dicom(head)}"
    fixed = FIXED_LENGTH.get(pdu_type)
    if fixed is not None and length != fixed:
        return f"sent {named(pdu_type)} of {length:,} bytes (it is always {fixed})"
    limit = MAX_PDU if pdu_type == 0x04 else ASSOCIATE_CAP
    if fixed is None and length > limit:
        return f"announced {named(pdu_type)} of {length:,} bytes, over the {limit // 1024} kB limit"
    return None


class _GuardedSocket(socket.socket):
    """An accepted connection whose every read ends by the drill's hard deadline, waits at most
    ``idle`` for the peer, and passes the PDU judge; the bytes of all connections together are
    bounded. A refused read returns ``b""``: pynetdicom takes it as the connection closed."""

    guard: _Guard

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        guard = self.guard
        left = guard.budget.hard_left()
        if guard.closed or left <= 0:
            if left <= 0:
                guard.fail(self, "was still connected when the drill's time ran out")
            return b""
        try:
            self.settimeout(min(left, guard.idle))
            data = super().recv(bufsize, flags)
        except TimeoutError:
            if guard.budget.hard_left() <= 0:
                guard.fail(self, "was still connected when the drill's time ran out")
            else:
                words = f"went silent for {seconds_text(guard.idle)} part way through a PDU"
                guard.fail(self, words)
            return b""
        except OSError:
            return b""
        problem = guard.judge.feed(data) or guard.count(len(data))
        if problem is not None:
            guard.fail(self, problem)
            return b""
        return data


@dataclass(slots=True)
class _Guard:
    budget: Budget
    idle: float
    peer: str
    server: _StoreServer
    judge: _PduJudge = field(default_factory=_PduJudge)
    closed: bool = False

    def count(self, size: int) -> str | None:
        return self.server.count_bytes(size)

    def fail(self, sock: socket.socket, words: str) -> None:
        if not self.closed:
            self.closed = True
            self.server.tally.fault(f"{self.peer} {visible(words, 160)}")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _StoreServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server with the drill's door: the peer's address is
    checked before anything is read, and each accepted socket is guarded."""

    daemon_threads = True
    # Set by MoveStore before serving.
    tally: _Tally
    budget: Budget
    idle: float
    max_bytes: int
    allowed: tuple[Network, ...]
    _bytes: int = 0

    def count_bytes(self, size: int) -> str | None:
        with self.tally.lock:
            self._bytes += size
            total = self._bytes
        if total > self.max_bytes:
            return f"sent over {format_value('B', self.max_bytes)} in all (the drill's limit)"
        return None

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        listener = cast(socket.socket, self.socket)
        conn, address = listener.accept()
        guarded = _GuardedSocket(fileno=conn.detach())
        guarded.guard = _Guard(self.budget, self.idle, str(address[0]), self)
        return guarded, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        address = str(client_address[0])
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            ip = None
        if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is not None and any(ip in network for network in self.allowed):
            with self.tally.lock:
                self.tally.connections += 1
            return True
        self.tally.refuse(address, "not the mirror's address")
        LOGGER.warning("drill's C-MOVE store refused a connection from %s", visible(address, 64))
        return False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints the traceback on stderr, which would scribble over the UI.
        LOGGER.debug("drill's C-MOVE store: error serving %s", client_address, exc_info=True)

    def shutdown(self) -> None:
        """Stop serving and close the listener (not ``AssociationServer.shutdown``: this server
        was made with ``make_server`` and is not in the AE's list of servers)."""
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class MoveStore:
    """Listen at ``move.bind`` as ``move.aet`` for the mirror's C-STOREs, until :meth:`stop`.

    ``mirror_addresses`` are the mirror's own addresses; connections from anywhere else (and
    outside ``move.networks``) are closed before a byte is read, and named in :attr:`refused`.
    """

    def __init__(
        self,
        move: MoveTo,
        mirror_addresses: Iterable[str],
        budget: Budget,
        *,
        idle: float,
        max_bytes: int,
    ) -> None:
        self.move = move
        self.budget = budget
        allowed: list[Network] = list(move.networks)
        for address in mirror_addresses:
            with contextlib.suppress(ValueError):
                allowed.append(ipaddress.ip_network(address.split("%", 1)[0]))
        self._allowed = tuple(allowed)
        self._idle = idle
        self._max_bytes = max_bytes
        self._tally = _Tally()
        self._server: _StoreServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def instances(self) -> int:
        return self._tally.instances

    @property
    def size(self) -> int:
        return self._tally.size

    def refused_words(self) -> str:
        """Whom the store turned away and why, for the drill's words: when no one came at
        all, that the mirror never connected, with the likely cause."""
        tally = self._tally
        with tally.lock:
            if not tally.connections and not tally.refused:
                return (
                    f"saw no connection at {self.move.where}: does the mirror's AE table have "
                    f"{visible(self.move.aet, 16)} at this host's address and that port?"
                )
            refused = [
                f"refused a connection from {visible(a, 64)}: {why}"
                for a, why in tally.refused.items()
            ]
            faults = [f"closed the connection of {words}" for words in tally.faults]
        return "; ".join(refused + faults)

    def _on_store(self, event: Any) -> int:
        """A C-STORE: counted, its bytes never decoded nor kept."""
        self._tally.stored(len(event.request.DataSet.getvalue()))
        return 0x0000

    def start(self) -> None:
        """Listen (raises ``OSError`` when the address cannot be bound)."""
        ae = AE(ae_title=self.move.aet)
        ae.require_called_aet = True
        ae.maximum_associations = MAX_ASSOCIATIONS
        ae.maximum_pdu_size = MAX_PDU
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self._idle
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
        server = cast(
            _StoreServer,
            ae.make_server(
                self.move.bind,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
                server_class=_StoreServer,
            ),
        )
        server.tally = self._tally
        server.budget = self.budget
        server.idle = self._idle
        server.max_bytes = self._max_bytes
        server.allowed = self._allowed
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="drill-move-store",
            daemon=True,
        )  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and end what the mirror still holds open (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        for assoc in server.active_associations:
            if assoc.is_established:
                assoc.abort()
            else:
                assoc.kill()
        deadline = time.monotonic() + 2.0
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for assoc in server.active_associations:
            assoc.join(timeout=max(deadline - time.monotonic(), 0.01))
