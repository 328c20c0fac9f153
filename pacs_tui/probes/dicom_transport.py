"""The DICOM probe's socket: deadlines, PDU size caps and quick ACKs under pynetdicom 3.0.

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
* **Lengths are believed.** The header's 32-bit length is read in full, so a peer that
  announces 4 GiB and streams zeros grows memory without bound. Here each PDU type has a cap
  (an A-ASSOCIATE-AC is a few kB; a P-DATA-TF may not exceed the maximum PDU we announced) and
  a PDU over it is refused before anything is allocated.
* **Invalid replies kill the DUL thread or lose the reason.** An A-ASSOCIATE-RJ with
  out-of-range fields raises ``ValueError`` in the DUL thread's state machine (a thread
  traceback on stderr; the caller sees a timeout), and a field pynetdicom cannot decode
  (a version name over 16 bytes) is only logged. Both are checked here first.

When the guard refuses something it records why (:attr:`ProbeAssociationSocket.fault`, in
words), sends an A-ABORT, shuts the socket down and hands pynetdicom a short read, which it
treats as a closed connection (Evt17): the association aborts and the DUL thread ends. The
probe then reports the recorded words rather than pynetdicom's generic abort.

The delayed-ACK fix (TCP_QUICKACK before every read, TCP_NODELAY) lives here too; see
:mod:`pacs_tui.probes.dicom` for why.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynetdicom import AE
from pynetdicom.transport import AddressInformation, AssociationSocket

# Linux only; elsewhere the QUICKACK half of the fix is skipped.
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}

# Largest length field we accept per PDU type (PS3.8 9.3). An A-ASSOCIATE-AC answering our
# one presentation context is a few hundred bytes; 128 contexts and a 64 kB user identity
# response stay well under 256 kB. The fixed-size PDUs are always 4 bytes long.
ASSOCIATE_CAP = 256 * 1024
_FIXED_LENGTH = {0x03: 4, 0x05: 4, 0x06: 4, 0x07: 4}

# A-ABORT, source 2 (service-provider), reason 6 (invalid PDU parameter value).
_ABORT_PDU = bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6])

# PS3.8 9.3.4: Result 1-2, Source 1-3, and the reasons each source may give.
_RJ_REASONS = {1: {1, 2, 3, 7}, 2: {1, 2}, 3: {1, 2}}

# User information sub-items pynetdicom refuses when too long: (max bytes, name).
_USER_FIELDS = {0x52: (64, "Implementation Class UID"), 0x55: (16, "Implementation Version Name")}


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


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value >= 0.95 else f"{value * 1000:.0f} ms"


def _named(pdu_type: int) -> str:
    name = PDU_NAMES.get(pdu_type)
    return f"an {name}" if name and name[0] in "AE" else (f"a {name}" if name else "a PDU")


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
    """pynetdicom's association socket with deadlines, PDU caps and TCP_NODELAY.

    ``max_pdu`` is the Maximum Length Received we announce: no P-DATA-TF may be longer. After
    the TCP connect it gives the association's A-ASSOCIATE wait what is left of the budget, so
    connect + associate together stay within ``timeout``.
    """

    def __init__(
        self, assoc: Any, address: AddressInformation, budget: Budget, max_pdu: int
    ) -> None:
        self._budget = budget
        self._max_pdu = max_pdu
        self._probe_socket: ProbeSocket | None = None
        self._pending_type: int | None = None  # type of the PDU whose header was just read
        self.fault: str | None = None
        """Why the guard refused the peer's data, in words; ``None`` while all is well."""
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
        what = "a PDU header" if header else _named(self._pending_type or 0)
        data = self._read(sock, nr_bytes, what)
        if len(data) < nr_bytes:
            self._pending_type = None
            return data
        if header:
            pdu_type, _, length = struct.unpack(">BBL", data)
            problem = self._length_problem(pdu_type, length)
            if problem is not None:
                self._refuse(problem)
                return bytearray()
            self._pending_type = pdu_type
            return data
        pdu_type, self._pending_type = self._pending_type, None
        problem = self._content_problem(pdu_type or 0, data)
        if problem is not None:
            self._refuse(problem)
            return bytearray()
        return data

    def _read(self, sock: socket.socket, nr_bytes: int, what: str) -> bytearray:
        data = bytearray()
        started = time.perf_counter()
        first = last = 0.0
        while len(data) < nr_bytes:
            left = self._budget.hard_left()
            if left <= 0:
                if what == "a PDU header" and data:
                    what = f"the header of {_named(data[0])}"
                self._refuse(_stall_words(what, len(data), nr_bytes, started, first, last))
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
            last = time.perf_counter()
            first = first or last
            data += chunk
        return data

    def _length_problem(self, pdu_type: int, length: int) -> str | None:
        name = PDU_NAMES.get(pdu_type)
        if name is None:
            return f"peer sent bytes that are not a DICOM PDU (PDU type 0x{pdu_type:02X})"
        if pdu_type == 0x01:
            return "peer answered with an A-ASSOCIATE-RQ of its own instead of an AC or RJ"
        fixed = _FIXED_LENGTH.get(pdu_type)
        if fixed is not None and length != fixed:
            return f"peer sent {_named(pdu_type)} of {length:,} bytes (it is always {fixed})"
        limit = self._max_pdu if pdu_type == 0x04 else ASSOCIATE_CAP
        if fixed is None and length > limit:
            over = (
                f"the maximum PDU of {limit:,} bytes we announced"
                if pdu_type == 0x04
                else f"the {limit // 1024} kB limit"
            )
            return f"peer announced {_named(pdu_type)} of {length:,} bytes, over {over}"
        return None

    @staticmethod
    def _content_problem(pdu_type: int, body: bytes | bytearray) -> str | None:
        if pdu_type == 0x03:
            result, source, reason = body[1], body[2], body[3]
            if result not in (1, 2) or reason not in _RJ_REASONS.get(source, set()):
                return (
                    "association rejected with out-of-range fields "
                    f"(result {result}, source {source}, reason {reason})"
                )
        if pdu_type == 0x02:
            return _user_info_problem(body)
        return None

    def _refuse(self, reason: str) -> None:
        """Record ``reason``, tell the peer (A-ABORT) and shut the connection down."""
        if self.fault is None:
            self.fault = reason
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
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.settimeout(max(self._budget.hard_left(), 0.01))
        super().send(bytestream)


def _stall_words(
    what: str, got: int, wanted: int, started: float, first: float, last: float
) -> str:
    """Words for a read the deadline cut short: a peer that went silent, or one that trickled."""
    now = time.perf_counter()
    if got == 0:
        return f"peer went silent in the middle of {what} ({_seconds(now - started)})"
    if got == 1 or now - last >= (now - started) / 2:
        return f"peer sent {got} of {wanted} bytes of {what} then went silent"
    rate = (got - 1) / max(last - first, 1e-3)
    per = f"{rate:.0f} bytes a second" if round(rate) != 1 else "1 byte a second"
    return (
        f"peer sent {what} too slowly: {got} of {wanted} bytes in {_seconds(now - started)} "
        f"(about {per})"
    )


def _user_info_problem(body: bytes | bytearray) -> str | None:
    """What in an A-ASSOCIATE-AC's user information pynetdicom would choke on, in words.

    pynetdicom refuses an Implementation Class UID over 64 bytes, a version name over 16 or
    bytes it cannot decode as ASCII, but only logs why; we say it. ``body`` is the PDU after
    its 6-byte header: 68 fixed bytes, then items (type, reserved, 2-byte length, value).
    """
    offset = 68
    while offset + 4 <= len(body):
        item_type, _, length = struct.unpack(">BBH", body[offset : offset + 4])
        value = body[offset + 4 : offset + 4 + length]
        if item_type == 0x50:
            sub = 0
            while sub + 4 <= len(value):
                sub_type, _, sub_length = struct.unpack(">BBH", value[sub : sub + 4])
                field = value[sub + 4 : sub + 4 + sub_length]
                limit, name = _USER_FIELDS.get(sub_type, (0, ""))
                if limit and not 0 < len(field) <= limit:
                    return (
                        f"peer's A-ASSOCIATE-AC is invalid: its {name} is {len(field):,} bytes "
                        f"(1 to {limit} allowed)"
                    )
                if limit and not field.isascii():
                    return f"peer's A-ASSOCIATE-AC is invalid: its {name} is not ASCII"
                # pynetdicom checks the version name as an AE title: no controls, no backslash.
                if sub_type == 0x55 and any(b < 0x20 or b in (0x5C, 0x7F) for b in field):
                    return (
                        f"peer's A-ASSOCIATE-AC is invalid: its {name} has control characters "
                        "or a backslash"
                    )
                sub += 4 + sub_length
        offset += 4 + length
    return None


class ProbeAE(AE):
    """An AE whose requestor sockets are :class:`ProbeAssociationSocket`."""

    def __init__(self, ae_title: str, budget: Budget) -> None:
        super().__init__(ae_title=ae_title)
        self._budget = budget
        self.socket: ProbeAssociationSocket | None = None
        """The socket of the association this AE requested (one per AE)."""

    def _create_socket(
        self, assoc: Any, address: AddressInformation, tls_args: Any
    ) -> AssociationSocket:
        sock = ProbeAssociationSocket(assoc, address, self._budget, self.maximum_pdu_size)
        sock.tls_args = tls_args
        self.socket = sock
        return sock
