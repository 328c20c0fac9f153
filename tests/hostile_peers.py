"""Hostile DICOM peers on loopback: one small TCP server per misbehaviour, written in raw PDUs.

A well-behaved peer is built from the same pieces (:func:`polite`), so the suite proves the
PDUs here are valid before it bends them. Shared by the hostile-peer tests and
``bench/soak.py``; no pytest here. Every server binds 127.0.0.1 port 0, every loop is bounded
in time and bytes, and :meth:`HostilePeer.close` ends all of it within a second.
"""

from __future__ import annotations

import collections
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HOST = "127.0.0.1"
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"

# A stream from a hostile peer stops here even if the client never hangs up, so a broken
# guard fails its test instead of filling this machine's memory.
STREAM_CAP = 1 << 30


class Conn:
    """One accepted connection, as the behaviour sees it."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.sent = 0
        self.closed_by_client = False
        """The behaviour ended before the server was stopped: the client hung up (or the
        behaviour itself closed the connection)."""

    def read_exact(self, n: int, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(min(n - len(data), 65536))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return bytes(data)

    def read_pdu(self, timeout: float = 5.0) -> bytes:
        """One whole PDU from the client (they are small: ours are below 16 kB)."""
        header = self.read_exact(6, timeout)
        (length,) = struct.unpack(">L", header[2:6])
        if length > 1 << 20:
            raise ConnectionError(f"client PDU of {length} bytes")
        return header + self.read_exact(length, timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)

    def trickle(self, data: bytes, every: float) -> None:
        """Send ``data`` one byte every ``every`` seconds until done, stopped or hung up."""
        for i in range(len(data)):
            if self.stop.wait(every if i else 0):
                return
            self.send(data[i : i + 1])

    def stream(self, chunk: bytes) -> None:
        """Send ``chunk`` again and again until the client hangs up (or the cap, or stop)."""
        self.sock.settimeout(1.0)
        while not self.stop.is_set() and self.sent < STREAM_CAP:
            try:
                self.send(chunk)
            except TimeoutError:
                continue

    def hold(self) -> None:
        """Keep the connection open and say nothing, reading what comes, until stopped."""
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue


Behaviour = Callable[[Conn], None]


class HostilePeer:
    """A loopback TCP server that runs ``behaviour`` on each connection in its own thread."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.connections = 0
        # The latest connections only, so a long soak does not grow the peer itself.
        self.conns: collections.deque[Conn] = collections.deque(maxlen=64)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._accepter.start()

    @property
    def bytes_sent(self) -> int:
        return sum(c.sent for c in list(self.conns))

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn = Conn(sock, self.stop)
            self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: Conn) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            self.behaviour(conn)
        conn.closed_by_client = not self.stop.is_set()
        if not getattr(conn, "reset", False):
            with contextlib.suppress(OSError):
                conn.sock.close()

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in list(self.conns):
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in [self._accepter, *self._threads]:
            thread.join(1.0)


@contextlib.contextmanager
def running(behaviour: Behaviour) -> Iterator[HostilePeer]:
    peer = HostilePeer(behaviour)
    try:
        yield peer
    finally:
        peer.close()


# --- PDUs (PS3.8 section 9.3) -------------------------------------------------------------


def _item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBL", pdu_type, 0, len(body)) + body


def _context_ids(rq: bytes) -> list[int]:
    """The presentation context IDs asked for in an A-ASSOCIATE-RQ."""
    ids = []
    offset = 74
    while offset + 4 <= len(rq):
        item_type, _, length = struct.unpack(">BBH", rq[offset : offset + 4])
        if item_type == 0x20:
            ids.append(rq[offset + 4])
        offset += 4 + length
    return ids or [1]


def associate_ac(
    rq: bytes,
    *,
    implementation_uid: bytes = b"1.2.826.0.1.3680043.9.7433.1",
    version_name: bytes = b"HOSTILE_1",
    called_aet: bytes | None = None,
    max_pdu: int | None = 16384,
    transfer_syntax: bytes | None = IMPLICIT_LE,
    context_id: int | None = None,
    version: int = 1,
) -> bytes:
    """An A-ASSOCIATE-AC accepting every context of ``rq`` with Implicit VR Little Endian; the
    keywords bend it (no max-length item when ``max_pdu`` is None, no transfer syntax when
    ``transfer_syntax`` is None, another context ID, another protocol version)."""
    called = called_aet if called_aet is not None else rq[10:26]
    header = struct.pack(">HH", version, 0) + called[:16].ljust(16) + rq[26:42] + bytes(32)
    items = _item(0x10, APP_CONTEXT)
    for cid in _context_ids(rq):
        syntax = _item(0x40, transfer_syntax) if transfer_syntax is not None else b""
        items += _item(0x21, bytes([context_id or cid, 0, 0, 0]) + syntax)
    user = _item(0x51, struct.pack(">L", max_pdu)) if max_pdu is not None else b""
    user += _item(0x52, implementation_uid)
    user += _item(0x55, version_name)
    return _pdu(0x02, header + items + _item(0x50, user))


def associate_rj(result: int, source: int, reason: int) -> bytes:
    return _pdu(0x03, bytes([0, result, source, reason]))


def abort(source: int = 0, reason: int = 0) -> bytes:
    return _pdu(0x07, bytes([0, 0, source, reason]))


RELEASE_RP = _pdu(0x06, bytes(4))


def _element(tag: tuple[int, int], value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHL", tag[0], tag[1], len(value)) + value


def echo_rsp(
    pdata: bytes,
    *,
    command_field: int = 0x8030,
    message_id: int | None = None,
    sop_class: bytes = VERIFICATION,
    status: int = 0,
    extra: bytes = b"",
) -> bytes:
    """A P-DATA-TF with the C-ECHO-RSP to the C-ECHO-RQ in ``pdata`` (Success); the keywords
    bend it (another command field, message ID, SOP class or status; ``extra`` elements)."""
    cid = pdata[10]
    command = pdata[12:]
    asked = 1
    offset = 0
    while offset + 8 <= len(command):
        group, elem, length = struct.unpack("<HHL", command[offset : offset + 8])
        if (group, elem) == (0x0000, 0x0110):
            (asked,) = struct.unpack("<H", command[offset + 8 : offset + 10])
        offset += 8 + length
    body = _element((0, 0x0002), sop_class)
    body += _element((0, 0x0100), struct.pack("<H", command_field))
    body += _element((0, 0x0120), struct.pack("<H", asked if message_id is None else message_id))
    body += _element((0, 0x0800), struct.pack("<H", 0x0101))
    body += _element((0, 0x0900), struct.pack("<H", status)) + extra
    command_set = _element((0, 0x0000), struct.pack("<L", len(body))) + body
    pdv = bytes([cid, 0x03]) + command_set  # command, last fragment
    return _pdu(0x04, struct.pack(">L", len(pdv)) + pdv)


def pdata(cid: int, header: int, data: bytes) -> bytes:
    """A P-DATA-TF with one PDV (``header``: bit 0 command, bit 1 last fragment)."""
    pdv = bytes([cid, header]) + data
    return _pdu(0x04, struct.pack(">L", len(pdv)) + pdv)


# --- behaviours ----------------------------------------------------------------------------


def polite(conn: Conn) -> None:
    """A correct Verification SCP: accept, answer the echo, answer the release."""
    conn.send(associate_ac(conn.read_pdu()))
    polite_after_ac(conn)


def silent(conn: Conn) -> None:
    conn.hold()


def random_bytes(conn: Conn) -> None:
    conn.read_pdu()
    conn.send(random.Random(7).randbytes(4096))
    conn.hold()


def huge_header_silent(conn: Conn) -> None:
    conn.read_pdu()
    conn.send(b"\x02\x00\xff\xff\xff\xff")
    conn.hold()


def huge_header_stream(conn: Conn) -> None:
    conn.read_pdu()
    conn.send(b"\x02\x00\xff\xff\xff\xff")
    conn.stream(bytes(65536))


def ac_trickle(conn: Conn) -> None:
    conn.trickle(associate_ac(conn.read_pdu()), every=1.0)
    conn.hold()


def random_trickle(conn: Conn) -> None:
    conn.read_pdu()
    conn.trickle(random.Random(11).randbytes(4096), every=1.0)
    conn.hold()


def close_at_once(conn: Conn) -> None:
    conn.sock.close()


def reset(conn: Conn) -> None:
    """Close with an RST (SO_LINGER 0) once the request has arrived."""
    conn.read_pdu()
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()
    conn.reset = True  # type: ignore[attr-defined]


def aborts(conn: Conn) -> None:
    conn.read_pdu()
    conn.send(abort(source=0, reason=0))
    conn.hold()


def rq_back(conn: Conn) -> None:
    """Answer an A-ASSOCIATE-RQ with the same RQ, as if we had called it."""
    conn.send(conn.read_pdu())
    conn.hold()


def rj_out_of_range(conn: Conn) -> None:
    conn.read_pdu()
    conn.send(associate_rj(9, 9, 9))
    conn.hold()


def accept_no_echo(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu()))
    conn.hold()


def no_release(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu()))
    conn.hold()


ESC_UID = "9\x1b]2;PWNED\x1b\\"
ESC_VERSION = "[/]RED[b]x"


def escapes_in_fields(conn: Conn) -> None:
    """Accept with terminal escapes in the UID and AE title, and markup in the version name
    (pynetdicom refuses control characters in the version name: see ``esc_in_version``)."""
    conn.send(
        associate_ac(
            conn.read_pdu(),
            implementation_uid=ESC_UID.encode(),
            version_name=ESC_VERSION.encode(),
            called_aet=b"\x1b]52;c;QUJD\x07",
        )
    )
    polite_after_ac(conn)


def esc_in_version(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu(), version_name=b"\x1b[31mRED"))
    polite_after_ac(conn)


def c1_in_version(conn: Conn) -> None:
    """Accept with a C1 control (0x9B, CSI) in the version name: not ASCII."""
    conn.send(associate_ac(conn.read_pdu(), version_name=b"\x9b31mRED"))
    polite_after_ac(conn)


def partial_ac_silent(conn: Conn) -> None:
    """Send the first 20 bytes of a valid A-ASSOCIATE-AC, then nothing."""
    conn.send(associate_ac(conn.read_pdu())[:20])
    conn.hold()


def long_version_name(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu(), version_name=b"V" * 60_000))
    polite_after_ac(conn)


def pdata_bomb(conn: Conn) -> None:
    """Accept, then answer the C-ECHO with a P-DATA-TF claiming 2 GiB and stream zeros."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.read_pdu()
    conn.send(b"\x04\x00\x7f\xff\xff\xff")
    conn.stream(bytes(65536))


def fragment_flood(conn: Conn) -> None:
    """Accept, then answer the C-ECHO with command fragments of legal size, none of them last."""
    conn.send(associate_ac(conn.read_pdu()))
    cid = conn.read_pdu()[10]
    conn.stream(pdata(cid, 0x01, bytes(16382 - 6)))


def small_pdata_flood(conn: Conn) -> None:
    """Accept, then answer the C-ECHO with an endless run of tiny P-DATA-TFs."""
    conn.send(associate_ac(conn.read_pdu()))
    cid = conn.read_pdu()[10]
    conn.stream(pdata(cid, 0x01, b"\0\0") * 4096)


def max_pdu_6(conn: Conn) -> None:
    """Accept, announcing a maximum PDU length of 6 bytes (pynetdicom divides by zero)."""
    conn.send(associate_ac(conn.read_pdu(), max_pdu=6))
    polite_after_ac(conn)


def double_ac(conn: Conn) -> None:
    """Accept twice."""
    ac = associate_ac(conn.read_pdu())
    conn.send(ac)
    time.sleep(0.05)
    conn.send(ac)
    polite_after_ac(conn)


def glued_ac_echo(conn: Conn) -> None:
    """Accept, and in the same write a C-ECHO-RSP to a request not sent yet."""
    rq = conn.read_pdu()
    fake_rq = pdata(_context_ids(rq)[0], 0x03, b"")
    conn.send(associate_ac(rq) + echo_rsp(fake_rq))
    polite_after_ac(conn)


def glued_ac_release_rp(conn: Conn) -> None:
    """Accept, and in the same write an A-RELEASE-RP nobody asked for."""
    conn.send(associate_ac(conn.read_pdu()) + RELEASE_RP)
    polite_after_ac(conn)


def glued_echo_rp(conn: Conn) -> None:
    """Answer the C-ECHO and, in the same write, the release not asked for yet."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu()) + RELEASE_RP)
    polite_after_ac(conn)


def rsp_unknown_field(conn: Conn) -> None:
    """Answer the C-ECHO with a command field no DIMSE service has (0x9999)."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu(), command_field=0x9999))
    polite_after_ac(conn)


def rsp_cfind_field(conn: Conn) -> None:
    """Answer the C-ECHO with a C-FIND-RSP."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu(), command_field=0x8020))
    polite_after_ac(conn)


def rsp_wrong_message_id(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu(), message_id=999))
    polite_after_ac(conn)


def rsp_wrong_sop(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu(), sop_class=b"1.2.3.4"))
    polite_after_ac(conn)


def rsp_trickle(conn: Conn) -> None:
    """Answer the C-ECHO two bytes a second."""
    conn.send(associate_ac(conn.read_pdu()))
    rsp = echo_rsp(conn.read_pdu())
    for i in range(0, len(rsp), 2):
        if conn.stop.wait(0.5 if i else 0):
            return
        conn.send(rsp[i : i + 2])
    conn.hold()


def rsp_charset_escape(conn: Conn) -> None:
    """Fail the C-ECHO (0xC001) with terminal escapes in a Specific Character Set element."""
    conn.send(associate_ac(conn.read_pdu()))
    charset = _element((0x0008, 0x0005), b"\x1b]2;CSPWN\x07\x1b[41m")
    conn.send(echo_rsp(conn.read_pdu(), status=0xC001, extra=charset))
    polite_after_ac(conn)


def no_max_length(conn: Conn) -> None:
    """Accept with no Maximum Length sub-item (pynetdicom: TypeError in the caller)."""
    conn.send(associate_ac(conn.read_pdu(), max_pdu=None))
    polite_after_ac(conn)


def odd_transfer_syntax(conn: Conn) -> None:
    """Accept with a transfer syntax that is no UID: an escape, a CSI, a byte past ASCII
    (pynetdicom aborts on the last, "unexpected PDU parameter", and shows the rest as it came)."""
    conn.send(associate_ac(conn.read_pdu(), transfer_syntax=b"1.2.840\x1b[31m\x9b2J\xff"))
    polite_after_ac(conn)


def no_transfer_syntax(conn: Conn) -> None:
    """Accept the context with no transfer syntax (pynetdicom: IndexError in the caller)."""
    conn.send(associate_ac(conn.read_pdu(), transfer_syntax=None))
    polite_after_ac(conn)


def even_context_id(conn: Conn) -> None:
    """Accept presentation context 2, an even ID (pynetdicom: ValueError in its reactor)."""
    conn.send(associate_ac(conn.read_pdu(), context_id=2))
    polite_after_ac(conn)


def protocol_version_2(conn: Conn) -> None:
    conn.send(associate_ac(conn.read_pdu(), version=2))
    polite_after_ac(conn)


def unknown_field_fragmented(conn: Conn) -> None:
    """Answer with command field 0x9999 in a command set split over two fragments."""
    conn.send(associate_ac(conn.read_pdu()))
    rsp = echo_rsp(conn.read_pdu(), command_field=0x9999)
    cid, command = rsp[10], rsp[12:]
    conn.send(pdata(cid, 0x01, command[:20]) + pdata(cid, 0x03, command[20:]))
    polite_after_ac(conn)


def command_field_4_bytes(conn: Conn) -> None:
    """Answer with a Command Field element 4 bytes long (pynetdicom: TypeError in its reactor)."""
    conn.send(associate_ac(conn.read_pdu()))
    cid = conn.read_pdu()[10]
    body = _element((0, 0x0100), struct.pack("<L", 0x8030))
    body += _element((0, 0x0120), struct.pack("<H", 1))
    body += _element((0, 0x0800), struct.pack("<H", 0x0101))
    body += _element((0, 0x0900), struct.pack("<H", 0))
    command = _element((0, 0x0000), struct.pack("<L", len(body))) + body
    conn.send(pdata(cid, 0x03, command))
    polite_after_ac(conn)


def abort_out_of_range(conn: Conn) -> None:
    """Accept, then abort with source 3, reason 7 (pynetdicom: ValueError in its reactor)."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.read_pdu()
    conn.send(abort(source=3, reason=7))
    conn.hold()


def release_instead_of_answer(conn: Conn) -> None:
    """Accept, then answer the C-ECHO with an A-RELEASE-RQ of its own."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.read_pdu()
    conn.send(_pdu(0x05, bytes(4)))
    conn.hold()


def answer_then_release(conn: Conn) -> None:
    """Answer the C-ECHO and ask to release in the same write."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.send(echo_rsp(conn.read_pdu()) + _pdu(0x05, bytes(4)))
    conn.hold()


def answer_on_context_99(conn: Conn) -> None:
    """Answer the C-ECHO on presentation context 99, which was never proposed."""
    conn.send(associate_ac(conn.read_pdu()))
    rsp = bytearray(echo_rsp(conn.read_pdu()))
    rsp[10] = 99
    conn.send(bytes(rsp))
    polite_after_ac(conn)


def half_close_after_ac(conn: Conn) -> None:
    """Accept, then close its sending side (FIN) and keep reading."""
    conn.send(associate_ac(conn.read_pdu()))
    conn.sock.shutdown(socket.SHUT_WR)
    conn.hold()


def polite_after_ac(conn: Conn) -> None:
    """After an A-ASSOCIATE-AC: answer each C-ECHO, then the release, then wait for the close."""
    while True:
        pdu = conn.read_pdu()
        if pdu[0] == 0x04:
            conn.send(echo_rsp(pdu))
        elif pdu[0] == 0x05:
            conn.send(RELEASE_RP)
            conn.hold()
            return
        else:
            return


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout``; True if it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def site_config(
    history: Path,
    ports: dict[str, int],
    *,
    site: str = "Hostile",
    interval: str = "1s",
    timeout: str = "800ms",
    warn_latency: str = "500ms",
    workers: int = 2,
) -> str:
    """A pacs-tui config watching ``ports`` (node id → loopback port, AE title PEER)."""
    lines = [
        f'[site]\nname = "{site}"\n',
        f'[history]\npath = "{history}"\n',
        f'[dicom]\ncalling_aet = "PACSTUI"\ninterval = "{interval}"\ntimeout = "{timeout}"\n'
        f'warn_latency = "{warn_latency}"\nmax_workers = {workers}\n',
    ]
    for node_id, port in ports.items():
        lines.append(
            f'[[dicom.node]]\nid = "{node_id.replace("_", "-")}"\naet = "PEER"\n'
            f'host = "{HOST}"\nport = {port}\n'
        )
    return "\n".join(lines)


BEHAVIOURS: dict[str, Behaviour] = {
    "silent": silent,
    "random_bytes": random_bytes,
    "huge_header_silent": huge_header_silent,
    "huge_header_stream": huge_header_stream,
    "ac_trickle": ac_trickle,
    "random_trickle": random_trickle,
    "close_at_once": close_at_once,
    "reset": reset,
    "abort": aborts,
    "rq_back": rq_back,
    "rj_out_of_range": rj_out_of_range,
    "accept_no_echo": accept_no_echo,
    "no_release": no_release,
    "escapes_in_fields": escapes_in_fields,
    "c1_in_version": c1_in_version,
    "esc_in_version": esc_in_version,
    "partial_ac_silent": partial_ac_silent,
    "long_version_name": long_version_name,
    "pdata_bomb": pdata_bomb,
    "fragment_flood": fragment_flood,
    "small_pdata_flood": small_pdata_flood,
    "max_pdu_6": max_pdu_6,
    "double_ac": double_ac,
    "glued_ac_echo": glued_ac_echo,
    "glued_ac_release_rp": glued_ac_release_rp,
    "glued_echo_rp": glued_echo_rp,
    "rsp_unknown_field": rsp_unknown_field,
    "rsp_cfind_field": rsp_cfind_field,
    "rsp_wrong_message_id": rsp_wrong_message_id,
    "rsp_wrong_sop": rsp_wrong_sop,
    "rsp_trickle": rsp_trickle,
    "rsp_charset_escape": rsp_charset_escape,
    "no_max_length": no_max_length,
    "no_transfer_syntax": no_transfer_syntax,
    "odd_transfer_syntax": odd_transfer_syntax,
    "even_context_id": even_context_id,
    "protocol_version_2": protocol_version_2,
    "unknown_field_fragmented": unknown_field_fragmented,
    "command_field_4_bytes": command_field_4_bytes,
    "abort_out_of_range": abort_out_of_range,
    "release_instead_of_answer": release_instead_of_answer,
    "answer_then_release": answer_then_release,
    "answer_on_context_99": answer_on_context_99,
    "half_close_after_ac": half_close_after_ac,
}
"""Every hostile behaviour by name (``polite`` is the control, not in here)."""
