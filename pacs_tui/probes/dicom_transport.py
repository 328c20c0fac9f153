"""The DICOM probe's socket: deadlines, a judge of every PDU, and quick ACKs, under pynetdicom 3.0.

pynetdicom builds a requestor's socket through ``AE._create_socket`` →
``AssociationSocket._create_socket``, and its DUL thread reads every PDU through
``AssociationSocket.recv``: ``recv(6)`` for the header, then ``recv(length)`` for the rest. This
module subclasses those two classes (no monkeypatching) and guards that read, because stock
pynetdicom trusts the peer completely:

* **No deadline after the connect.** ``AssociationSocket.connect`` calls ``settimeout(None)``
  once connected, and ``recv`` loops until it has every byte the header announced. A peer that
  sends part of a PDU and then nothing (or one byte a second) keeps the DUL thread in ``recv``
  for ever; ``Association.kill()`` then spins waiting for it and the worker thread is lost.
  Here every read and write gets what is left of the check's hard deadline, checked again
  before each ``recv``, so a trickle cannot stretch it.
* **Every PDU is believed.** Lengths, order and fields are taken as sent; what that costs
  and what is checked instead is in :mod:`pacs_tui.probes.dicom_conduct`, which judges each
  header before its body is read and each body before pynetdicom decodes it.

When the guard refuses something it records why (:attr:`ProbeAssociationSocket.fault`, in
words), sends an A-ABORT, shuts the socket down and hands pynetdicom a short read, which it
treats as a closed connection (Evt17): the association aborts and the DUL thread ends. The
probe then reports the recorded words rather than pynetdicom's generic abort.

The delayed-ACK fix (TCP_QUICKACK before every read, TCP_NODELAY) lives here too; see
:mod:`pacs_tui.probes.dicom` for why.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE
from pynetdicom.fsm import StateMachine
from pynetdicom.transport import AddressInformation, AssociationSocket

from pacs_tui.durations import seconds_words
from pacs_tui.probes.dicom_conduct import PDU_NAMES, PeerConduct, named
from pacs_tui.visible import visible

LOGGER = logging.getLogger(__name__)

# Linux only; elsewhere the QUICKACK half of the fix is skipped.
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

# A-ABORT, source 2 (service-provider), reason 6 (invalid PDU parameter value).
_ABORT_PDU = bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6])


@dataclass(slots=True)
class Budget:
    """What is left of one echo's ``timeout``.

    Every wait gets at least ``floor`` seconds (a slow connect still leaves the A-ASSOCIATE wait
    time to say what happened) but never past ``hard_end``, the moment after which nothing of
    the association may still block: socket reads and writes stop there whatever the peer does.
    """

    deadline: float
    floor: float
    hard_end: float

    @classmethod
    def for_timeout(cls, start: float, timeout: float) -> Budget:
        grace = min(0.5, timeout / 10)
        return cls(deadline=start + timeout, floor=timeout / 10, hard_end=start + timeout + grace)

    def left(self) -> float:
        now = time.perf_counter()
        return max(min(max(self.deadline - now, self.floor), self.hard_end - now), 0.01)

    def hard_left(self) -> float:
        return self.hard_end - time.perf_counter()


def seconds_text(value: float) -> str:
    """``2 s`` for a timeout, ``250 ms`` below a second."""
    return seconds_words(value) if value >= 0.95 else f"{value * 1000:.0f} ms"


class ProbeSocket(socket.socket):
    """The OS socket: keeps why ``connect`` failed, and asks for a quick ACK before each read.

    pynetdicom catches the ``OSError`` from ``connect`` and only logs it, so the error is kept
    here to say "connection refused" rather than a bare failure. ``on_connected`` runs in the
    DUL thread right after the TCP connect, before pynetdicom starts waiting for the
    A-ASSOCIATE response.
    """

    connect_error: OSError | None = None
    on_connected: Callable[[], None] | None = None

    def connect(self, address: Any) -> None:
        try:
            super().connect(address)
        except OSError as exc:
            self.connect_error = exc
            raise
        if self.on_connected is not None:
            self.on_connected()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        # TCP_QUICKACK is not sticky (the kernel drops back to delayed ACKs), so set it before
        # every read: if the peer's first piece of a reply is waiting for our ACK, the ACK goes
        # out now and the peer's Nagle-held second piece follows at once, instead of ~40 ms on.
        if _TCP_QUICKACK is not None:
            with contextlib.suppress(OSError):
                self.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        return super().recv(bufsize, flags)


class ProbeAssociationSocket(AssociationSocket):
    """pynetdicom's association socket with deadlines, a judge of every PDU, and TCP_NODELAY.

    ``conduct`` judges each PDU header and body (:class:`~pacs_tui.probes.dicom_conduct.
    PeerConduct`). After the TCP connect the socket gives the association's A-ASSOCIATE wait
    what is left of the budget, so connect + associate together stay within ``timeout``.
    """

    def __init__(
        self, assoc: Any, address: AddressInformation, budget: Budget, conduct: PeerConduct
    ) -> None:
        self._budget = budget
        self.conduct = conduct
        self._probe_socket: ProbeSocket | None = None
        self._pending_type: int | None = None  # type of the PDU whose header was just read
        self._pdu = _PduClock()
        self._received = 0
        self.fault: str | None = None
        """Why the guard refused the peer's data, in words; ``None`` while all is well."""
        self.fault_at: float | None = None
        """When (``time.perf_counter()``) the fault was found."""
        super().__init__(assoc, address=address)  # calls _create_socket

    def _create_socket(self, address: AddressInformation) -> socket.socket:
        # As AssociationSocket._create_socket (family, SO_REUSEADDR, network timeout, bind),
        # plus TCP_NODELAY, on a socket class that keeps the connect error.
        family = socket.AF_INET if address.is_ipv4 else socket.AF_INET6
        sock = ProbeSocket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.assoc.network_timeout is not None:
            sock.settimeout(self.assoc.network_timeout)
        sock.bind(address.as_tuple)
        sock.on_connected = self._on_connected
        self._is_connected = False
        self._probe_socket = sock
        return sock

    def _on_connected(self) -> None:
        self.assoc.acse_timeout = self._budget.left()

    @property
    def connect_error(self) -> OSError | None:
        """Why the TCP connect failed, or ``None``."""
        # pynetdicom sets ``self.socket`` to None when connect fails, so keep our own reference.
        sock = self._probe_socket
        return sock.connect_error if sock is not None else None

    def close_os_socket(self) -> None:
        """Close the OS socket whatever state pynetdicom left it in (idempotent)."""
        if self._probe_socket is not None:
            with contextlib.suppress(OSError):
                self._probe_socket.close()

    # -- the guarded read ------------------------------------------------------------------

    def recv(self, nr_bytes: int) -> bytearray:
        """Read ``nr_bytes`` (a PDU header or the rest of that PDU) by the hard deadline.

        Returns fewer bytes than asked for when the peer closed, the deadline passed or the
        guard refused the PDU; pynetdicom then treats the connection as closed.
        """
        sock = self.socket
        if sock is None or self.fault is not None:
            return bytearray()
        header = self._pending_type is None
        if header:
            self._pdu = _PduClock(wanted=6)
        data = self._read(sock, nr_bytes)
        if len(data) < nr_bytes:
            self._pending_type = None
            return data
        if header:
            pdu_type, _, length = struct.unpack(">BBL", data)
            self._pdu.pdu_type, self._pdu.wanted = pdu_type, 6 + length
            problem = self.conduct.header_problem(pdu_type, length, bytes(data))
            if problem is None:
                self._pending_type = pdu_type
        else:
            pdu_type, self._pending_type = self._pending_type or 0, None
            problem = self.conduct.body_problem(pdu_type, data)
        if problem is not None:
            self._refuse(problem)
            return bytearray()
        return data

    def _read(self, sock: socket.socket, nr_bytes: int) -> bytearray:
        data = bytearray()
        clock = self._pdu
        while len(data) < nr_bytes:
            left = self._budget.hard_left()
            if left <= 0:
                self._refuse(self._deadline_words())
                return data
            try:
                sock.settimeout(left)
                chunk = sock.recv(min(nr_bytes - len(data), 65536))
            except TimeoutError:
                continue  # the next turn finds the deadline passed and says so
            except OSError:
                return data
            if not chunk:
                return data
            clock.got_bytes(len(chunk))
            if clock.pdu_type is None and not data:
                clock.pdu_type = chunk[0] if chunk[0] in PDU_NAMES else None
            self._received += len(chunk)
            data += chunk
        return data

    def _deadline_words(self) -> str:
        """What the peer was doing when the hard deadline passed, in words."""
        clock = self._pdu
        if clock.got == 0:
            # Between PDUs with more data waiting: the peer kept sending.
            return (
                f"peer was still sending when the deadline passed: {self.conduct.pdus} PDUs, "
                f"{self._received:,} bytes"
            )
        return clock.stall_words()

    @property
    def last_pdu(self) -> int | None:
        """The type of the last PDU the peer began to send, if any."""
        return self._pdu.pdu_type

    def refuse(self, reason: str) -> None:
        """Refuse the peer for ``reason`` (from outside the read: the state machine)."""
        self._refuse(reason)

    def _refuse(self, reason: str) -> None:
        """Record ``reason``, tell the peer (A-ABORT) and shut the connection down."""
        if self.fault is None:
            self.fault = reason
            self.fault_at = time.perf_counter()
        sock = self.socket
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.settimeout(0.05)
            sock.send(_ABORT_PDU)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def send(self, bytestream: bytes) -> None:
        """Send by the hard deadline (pynetdicom turns a failed send into a closed connection)."""
        if bytestream:
            self.conduct.we_sent(bytestream[0])
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.settimeout(max(self._budget.hard_left(), 0.01))
        super().send(bytestream)


@dataclass(slots=True)
class _PduClock:
    """How one PDU (header and body together) has arrived so far, for the stall words."""

    wanted: int = 6
    pdu_type: int | None = None
    got: int = 0
    started: float = field(default_factory=time.perf_counter)
    first: float = 0.0
    first_count: int = 0
    last: float = 0.0

    def got_bytes(self, count: int) -> None:
        self.last = time.perf_counter()
        if not self.first:
            self.first, self.first_count = self.last, count
        self.got += count

    def stall_words(self) -> str:
        """A peer that went silent part way through the PDU, or one that trickled it."""
        now = time.perf_counter()
        what = named(self.pdu_type) if self.pdu_type is not None else "a PDU"
        # The PDU's length is known once its 6-byte header is in.
        unit = "byte" if self.got == 1 else "bytes"
        count = f"{self.got} of {self.wanted:,} bytes" if self.got >= 6 else f"{self.got} {unit}"
        if self.got == self.first_count or now - self.last >= (now - self.started) / 2:
            return f"peer sent {count} of {what} then went silent"
        # The rate after the first read: bytes that came in while we waited for them.
        rate = (self.got - self.first_count) / max(self.last - self.first, 1e-3)
        per = f"{rate:.0f} bytes a second" if round(rate) != 1 else "1 byte a second"
        took = seconds_text(now - self.started)
        return f"peer sent {what} too slowly: {count} in {took} (about {per})"


class GuardedStateMachine(StateMachine):
    """pynetdicom's DUL state machine, minus the crash.

    pynetdicom 3.0 calls ``state_machine.do_action`` outside the reactor's ``try``: an
    exception there (an event invalid in the current state, a DIMSE message it cannot decode:
    ``InvalidEventError``, ``KeyError``, ``AttributeError``, ``ValueError``) ends the reactor
    thread, the association is never aborted and the caller waits out its whole timeout, then
    reports a timeout the peer did not cause. Here the exception becomes the socket's fault, in
    words; the socket is shut down, so the reactor's next turn sees a closed connection and
    aborts the association at once.
    """

    def __init__(self, dul: Any, sock: ProbeAssociationSocket) -> None:
        super().__init__(dul)
        self._sock = sock

    def do_action(self, event: str) -> None:
        try:
            super().do_action(event)
        except Exception as exc:
            state = self.current_state
            last = self._sock.last_pdu
            what = f" after {named(last)}" if last is not None else ""
            detail = visible(f"{type(exc).__name__}: {exc}", 160)
            LOGGER.debug("pynetdicom failed on %s in %s", event, state, exc_info=True)
            self._sock.refuse(
                f"pynetdicom could not go on with what the peer sent{what} ({detail})"
            )
            # A caller waiting for a DIMSE reply is not woken by the abort: wake it.
            with contextlib.suppress(Exception):
                self.dul.assoc.dimse.msg_queue.put((None, None))


class ProbeAE(AE):
    """An AE whose requestor sockets are :class:`ProbeAssociationSocket`.

    ``pdata_limit`` and ``expecting`` bound what the peer may send back in P-DATA (see
    :class:`~pacs_tui.probes.dicom_conduct.PeerConduct`).
    """

    def __init__(self, ae_title: str, budget: Budget, *, pdata_limit: int, expecting: str) -> None:
        super().__init__(ae_title=ae_title)
        self._budget = budget
        self._pdata_limit = pdata_limit
        self._expecting = expecting
        self.socket: ProbeAssociationSocket | None = None
        """The socket of the association this AE requested (one per AE)."""

    def _create_socket(
        self, assoc: Any, address: AddressInformation, tls_args: Any
    ) -> AssociationSocket:
        conduct = PeerConduct(self.maximum_pdu_size, self._pdata_limit, self._expecting)
        sock = ProbeAssociationSocket(assoc, address, self._budget, conduct)
        sock.tls_args = tls_args
        self.socket = sock
        # Called before the association's threads start: its state machine is still idle.
        assoc.dul.state_machine = GuardedStateMachine(assoc.dul, sock)
        return sock
