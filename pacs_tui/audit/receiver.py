"""The audit receiver: a syslog server (UDP, TCP, TLS) for a PACS's IHE ATNA audit trail, as a
long-running source. Each message is one row of the message log (its metadata; patient IDs
only as keyed hashes) and a step of the :class:`~pacs_tui.audit.sessions.SessionBook`.

Every peer is a stranger: an address outside ``allow`` is dropped and counted, a message over
``max_size`` is refused unread, a frame under way must end within ``frame_timeout``, at most
``max_connections`` stream connections at once; what does not parse is kept as an "unparsed"
row without its body. A record over :data:`INLINE_BYTES` is parsed on a worker thread (a
megabyte of hostile XML kept the event loop ~100 ms), records keep their order, and the bytes
waiting are bounded: a stream's reading pauses, a datagram is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import socket
import ssl
import stat
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from pacs_tui.audit.atna import AuditEvent, AuditParseError, extract_xml, parse_audit
from pacs_tui.audit.sessions import LOGIN, LOGOUT, ROLES, Policy, RoleMap, SessionBook
from pacs_tui.audit.syslog import FrameProblem, SyslogFramer, SyslogMessage, parse_syslog
from pacs_tui.backup.rpo import span_words
from pacs_tui.minute_rate import MinuteRate
from pacs_tui.model import LoggedMessage, Result, Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import Emit, HistoryReader, MessageReader
from pacs_tui.visible import host_port, visible

log = logging.getLogger(__name__)

#: How often the counts and the sessions are reported (seconds).
REPORT_SECONDS = 5.0
#: A record that changed the sessions is reported this soon after it (at most this often).
SOON = 0.5
#: What a row's ``version`` says of the record's style.
STYLES = {"dicom": "DICOM PS3.15", "rfc3881": "RFC 3881"}
OUTCOMES = {0: "success", 4: "minor failure", 8: "serious failure", 12: "major failure"}
COUNTS = (
    "received", "parsed", "unparsed", "dropped", "too_large", "framing_errors", "refused",
    "tls_failed",
)  # fmt: skip
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Records up to this size are parsed on the event loop (at most ~5 ms of XML walking, even for
#: a record of tiny elements); larger ones on the receiver's worker thread.
INLINE_BYTES = 16 * 1024
#: Bytes of records waiting for the worker at most: past it, streams stop being read until the
#: worker catches up and datagrams are dropped (counted).
WAITING_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SyslogConfig:
    """One ``[[audit.syslog]]``: where it listens, how, and whom it takes messages from."""

    id: str
    host: str
    port: int
    protocol: str = "udp"  # "udp" | "tcp" | "tls"
    framing: str = "auto"  # tcp/tls: "auto" | "octet-counting" | "newline"
    allow: tuple[Network, ...] = ()  # empty: any source
    max_size: int = 64 * 1024
    max_connections: int = 64
    frame_timeout: float = 30.0
    cert: str = ""
    key: str = ""
    ca: str = ""
    site: str = ""
    description: str = ""
    policy: Policy = field(default_factory=Policy)
    roles: RoleMap = field(default_factory=RoleMap)


class ReceiverError(Exception):
    """The receiver cannot start (its TLS files, its address): the words say why."""


class AuditReceiver:
    """The ``serve(emit)`` service of one ``[[audit.syslog]]``."""

    def __init__(
        self,
        entry: SyslogConfig,
        target: Target,
        key: PatientKey | None = None,
        history: HistoryReader | None = None,
    ):
        self.entry = entry
        #: The history, read once at start for the sessions of before a restart.
        self._history = history if isinstance(history, MessageReader) else None
        self.id = entry.id
        self.targets: Sequence[Target] = (target,)
        self.book = SessionBook(entry.policy, entry.roles)
        self.counts: Counter[str] = Counter()
        self.peers = 0
        self.address = f"{entry.protocol} {host_port(entry.host, entry.port)}"
        self.last_message: float | None = None
        self._key = key or PatientKey()
        self._rate = MinuteRate()
        self._transports: set[asyncio.BaseTransport] = set()
        self._emit: Emit | None = None
        self._soon: asyncio.TimerHandle | None = None
        self._said: dict[str, float] = {}  # kind of drop → when it was last logged
        #: Records waiting their turn behind one parsed on the worker: (bytes, peer, time).
        self._waiting: deque[tuple[bytes, str, float]] = deque()
        self._waiting_bytes = 0
        self._worker: ThreadPoolExecutor | None = None
        self._draining: asyncio.Task[None] | None = None
        #: Streams whose reading is paused until the records waiting are taken.
        self.paused: set[_Stream] = set()

    @property
    def settings(self) -> SyslogConfig:
        return self.entry

    async def serve(self, emit: Emit) -> None:
        self._emit = emit
        await self._read_back()
        loop = asyncio.get_running_loop()
        entry = self.entry
        server: asyncio.AbstractServer | None = None
        datagrams: asyncio.DatagramTransport | None = None
        if entry.protocol == "udp":
            datagrams, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), sock=_udp_socket(entry.host, entry.port)
            )
            _widen_receive_buffer(datagrams.get_extra_info("socket"))
            bound = datagrams.get_extra_info("sockname")
        elif entry.protocol == "tls":
            context = tls_context(entry)
            factory = lambda: _TlsStream(self, context)  # noqa: E731
            server = await loop.create_server(factory, entry.host, entry.port)
            bound = server.sockets[0].getsockname()
        else:
            server = await loop.create_server(lambda: _Stream(self), entry.host, entry.port)
            bound = server.sockets[0].getsockname()
        self.address = f"{entry.protocol} {host_port(*bound[:2])}"
        log.info("audit receiver %s on %s", self.id, self.address)
        try:
            while True:
                self.report()
                await asyncio.sleep(REPORT_SECONDS)
        finally:
            if datagrams is not None:
                datagrams.close()
            if server is not None:
                server.close()
            for transport in list(self._transports):
                transport.close()
            if self._draining is not None:
                self._draining.cancel()
            if self._soon is not None:
                self._soon.cancel()
                self._soon = None
            if self._worker is not None:
                self._worker.shutdown(wait=False, cancel_futures=True)
                self._worker = None
            self._waiting.clear()
            self._waiting_bytes = 0
            self.paused.clear()

    async def close(self) -> None:
        """Nothing: ``serve`` closes its sockets when cancelled."""

    # -- what comes in ---------------------------------------------------------------------

    def allowed(self, peer: str) -> bool:
        if not self.entry.allow:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.entry.allow)

    def admit(self, peer: str, transport: asyncio.Transport) -> bool:
        """Whether a new stream connection from ``peer`` may stay: from an allowed address,
        under ``max_connections``; else dropped and closed."""
        if not self.allowed(peer):
            self.drop("refused", peer, "not in allow: connection closed")
        elif self.peers >= self.entry.max_connections:
            self.drop("refused", peer, "too many connections: closed")
        else:
            return True
        transport.abort()
        return False

    def drop(self, kind: str, peer: str, words: str) -> None:
        self.counts["dropped"] += 1
        self.counts[kind] += 1
        # At most one line a second per kind: a flood must not become a flood of log lines.
        now = time.monotonic()
        if now - self._said.get(kind, 0.0) >= 1.0:
            self._said[kind] = now
            log.warning("audit receiver %s: %s: %s", self.id, visible(peer, 60), words)

    @property
    def backlogged(self) -> bool:
        """More bytes wait for the worker than :data:`WAITING_BYTES`: stop reading."""
        return self._waiting_bytes > WAITING_BYTES

    def take(self, data: bytes, peer: str) -> None:
        """One syslog message from ``peer``: parsed, recorded, folded into the sessions — now,
        or after the records before it when a large one is being parsed on the worker."""
        now = time.time()
        self.counts["received"] += 1
        self.last_message = now
        if self._waiting or len(data) > INLINE_BYTES:
            self._waiting.append((data, peer, now))
            self._waiting_bytes += len(data)
            if self._draining is None:
                self._draining = asyncio.get_running_loop().create_task(self._drain())
            return
        self._apply(data, peer, now, self._parse(data))

    def _parse(self, data: bytes) -> tuple[SyslogMessage, AuditEvent | AuditParseError]:
        """The syslog message and its record (or why it has none); no state touched, so it may
        run on the worker."""
        message = parse_syslog(data)
        try:
            xml = extract_xml(message.body)
            return message, parse_audit(xml, self._patient, max_bytes=self.entry.max_size)
        except AuditParseError as exc:
            return message, exc

    async def _drain(self) -> None:
        """Take the records waiting, in order: the large ones parsed on the worker (one
        thread: the parser holds the GIL in any case; the loop gets its turn between)."""
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                data, peer, now = self._waiting[0]
                if len(data) > INLINE_BYTES:
                    if self._worker is None:
                        self._worker = ThreadPoolExecutor(1, f"audit-{self.id[:20]}")
                    parsed = await loop.run_in_executor(self._worker, self._parse, data)
                else:
                    parsed = self._parse(data)
                self._waiting.popleft()
                self._waiting_bytes -= len(data)
                self._apply(data, peer, now, parsed)
                if self.paused and self._waiting_bytes <= WAITING_BYTES // 2:
                    for stream in list(self.paused):
                        stream.resume()
                    self.paused.clear()
        finally:
            self._draining = None

    def _apply(
        self,
        data: bytes,
        peer: str,
        now: float,
        parsed: tuple[SyslogMessage, AuditEvent | AuditParseError],
    ) -> None:
        message, event = parsed
        if isinstance(event, AuditParseError):
            self.counts["unparsed"] += 1
            row = LoggedMessage(
                now, self.id, "in", "unparsed", "", None, None, len(data),
                sender_facility=message.host or _host(peer), receiver=message.app,
                detail=f"unparsed: {event}",  # no user: the syslog app is the audit source
            )  # fmt: skip
            self._record(row)
            return
        self.counts["parsed"] += 1
        alert = self.book.take(event, now)
        self._record(self.row(event, now, len(data), peer))
        if alert is not None:
            log.warning("audit receiver %s: %s", self.id, visible(alert.words, 200))
            self.report()  # the status says it now, not at the next report
        else:
            self._report_soon()

    def _report_soon(self) -> None:
        """A record changed the sessions: reported within :data:`SOON` (at most that often),
        so that the open sessions follow the trail (a logout in the trail, its session still
        listed for up to 5 s, read as a session left open)."""
        if self._soon is None and self._emit is not None:
            self._soon = asyncio.get_running_loop().call_later(SOON, self._reported_soon)

    def _reported_soon(self) -> None:
        self._soon = None
        self.report()

    def row(self, event: AuditEvent, ts: float, size: int, peer: str) -> LoggedMessage:
        """The message-log row of an audit record: the event and its type, the user (sending
        app), the user's host (sending facility), the audit source (receiving app), the user's
        role (receiving facility), the outcome in words (detail); patients only hashed."""
        kind = f"{event.event_id} {event.event_name}".strip()
        if event.type_name or event.type_code:
            kind += f" / {event.type_name or event.type_code}"
        outcome = OUTCOMES.get(event.outcome, "outcome not given")
        if event.outcome >= 0:
            outcome = f"outcome {event.outcome} ({outcome})"
        late = lateness(event.when, ts)
        if late:
            outcome += f"; {late}"
        if event.studies:
            outcome += f"; {len(event.studies)} stud{'y' if len(event.studies) == 1 else 'ies'}"
        return LoggedMessage(
            ts, self.id, "in", kind, "", None, None, size,
            sender=event.user_id, receiver=event.source_id, detail=outcome,
            version=STYLES.get(event.style, event.style),
            sender_facility=event.user_host or _host(peer),
            receiver_facility=ROLES.get(role := self.book.role_of(event), role),
            patient=event.patients[0] if event.patients else "",
        )  # fmt: skip

    async def _read_back(self) -> None:
        """The sessions, failed logins and alerts of before a restart, from this receiver's
        rows in the message log (the policy's windows, at most :data:`READ_BACK` rows)."""
        history, self._history = self._history, None  # once, not at each restart of serve
        if history is None:
            return
        policy = self.entry.policy
        now = time.time()
        since = now - max(policy.expire_after, policy.burst_window, policy.alert_hold)
        try:
            rows = await history.messages(self.id, since=since, limit=READ_BACK)
        except Exception as exc:  # a history that cannot answer: start empty, say so
            log.warning("audit receiver %s: sessions not read back: %s", self.id, exc)
            return
        records = [found for row in reversed(rows) if (found := record_of(row)) is not None]
        count = self.book.replay(records, now)
        if count:
            log.info(
                "audit receiver %s: %d records read back: %d sessions",
                self.id, count, len(self.book.sessions),
            )  # fmt: skip

    def _patient(self, patient_id: str) -> str:
        return self._key.reference(patient_id.strip()[:64])

    def _record(self, row: LoggedMessage) -> None:
        if self._emit is None:
            return
        try:
            self._emit.messages([row])
        except Exception as exc:  # the history cannot take it: counted, said, not fatal
            self.counts["not_recorded"] += 1
            log.error("audit receiver %s: record not kept: %s", self.id, exc)

    # -- what goes out ---------------------------------------------------------------------

    def report(self) -> None:
        if self._emit is None:
            return
        now = time.time()
        self.book.expire(now)
        emit_result = self._emit.result
        emit_result(self.id, self.result(now))

    def result(self, now: float) -> Result:
        book = self.book
        metrics = {f"audit_{k}_total": float(self.counts[k]) for k in COUNTS}
        metrics |= {
            "audit_sessions": float(len(book.sessions)),
            "audit_idle_sessions": float(len(book.idle(now))),
            "audit_failed_logins_total": float(book.failed_logins),
            "audit_security_alerts_total": float(book.security_alerts),
            "audit_exports_total": float(book.exports),
            "audit_received_per_minute": self._rate(time.monotonic(), self.counts["received"]),
        }
        if self.entry.protocol != "udp":
            metrics["audit_peers"] = float(self.peers)
        alerts = book.recent_alerts(now)
        failed = book.failures_within(now, 3600)
        metrics["audit_failed_logins_last_hour"] = float(failed)
        metrics["audit_security_alerts_held"] = float(len(alerts))
        details: dict[str, Any] = book.details(now)
        if self.address != self.targets[0].label("address"):  # bound to port 0: the port
            details["listening"] = self.address  # it got (else the facts say it already)
        sessions = len(book.sessions)
        words = f"{sessions} session{'s' if sessions != 1 else ''}"
        if failed:
            words += f", {failed} failed login{'s' if failed != 1 else ''} in the last hour"
        if alerts:
            more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
            return Result(Status.WARN, f"{alerts[0].words}{more}; {words}", metrics, details)
        # The address is the detail's "Listening" (a column on the Sessions screen), not the
        # reason too: the row said it twice.
        return Result(Status.OK, words, metrics, details)


#: The UDP socket's receive buffer asked for: a second of a busy PACS's audit trail, so that a
#: pause of the event loop loses nothing (the kernel caps it at net.core.rmem_max, 208 KiB by
#: default: ~90 datagrams of 1 KiB, ~90 ms at 1,000 a second — raise rmem_max for more).
UDP_BUFFER = 4 * 1024 * 1024


def _udp_socket(host: str, port: int) -> socket.socket:
    """A UDP socket bound as asyncio binds a TCP server: an IPv6 address takes IPv6 only, so
    "0.0.0.0" and "::" on one port are two receivers, as ``config check`` takes them (a
    dual-stack "::" failed to bind beside "0.0.0.0" only when ``collect`` ran)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _widen_receive_buffer(sock: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER)


def _host(peer: str) -> str:
    return peer.rsplit(":", 1)[0].strip("[]") if peer.count(":") == 1 or "]" in peer else peer


def tls_context(entry: SyslogConfig) -> ssl.SSLContext:
    """The server's TLS context (RFC 5425): TLS 1.2 at least, the certificate and key given;
    with ``ca``, a client must show a certificate signed by it. The key must not be readable by
    every user."""
    for what, path in (("certificate", entry.cert), ("key", entry.key), ("CA", entry.ca)):
        if path:
            _check_tls_file(what, path, private=what == "key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(entry.cert, entry.key)
        if entry.ca:
            context.load_verify_locations(entry.ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (ssl.SSLError, OSError) as exc:
        raise ReceiverError(f"TLS: cannot load the certificate or key: {exc}") from None
    return context


def _check_tls_file(what: str, path: str, *, private: bool) -> None:
    problem = tls_file_problem(path, private=private)
    if problem is not None:
        raise ReceiverError(f"TLS {what} {path}: {problem}")


def tls_file_problem(path: str, *, private: bool) -> str | None:
    """What is wrong with a TLS file before it is loaded (None: nothing): missing, not a
    regular file, or (``private``, a key) readable by every user."""
    try:
        st = os.stat(path)  # links allowed: certificates are often links (Let's Encrypt)
    except OSError as exc:
        return str(exc.strerror or exc)
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if private and st.st_mode & 0o004:
        mode = stat.S_IMODE(st.st_mode)
        return f"can be read by every user (mode {mode:04o}): chmod 600 or 640"
    return None


class _Datagrams(asyncio.DatagramProtocol):
    """UDP (RFC 5426): one message a datagram."""

    def __init__(self, receiver: AuditReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        receiver = self.receiver
        peer = str(addr[0]) if isinstance(addr, tuple) and addr else "a peer"
        if not receiver.allowed(peer):
            receiver.drop("refused", peer, "not in allow: dropped")
            return
        if len(data) > receiver.entry.max_size:
            receiver.drop("too_large", peer, f"a datagram of {len(data):,} bytes: dropped")
            return
        if receiver.backlogged:
            receiver.drop("busy", peer, "large records still being read: a datagram dropped")
            return
        receiver.take(data, peer)

    def error_received(self, exc: Exception) -> None:
        log.info("audit receiver %s: %s", self.receiver.id, exc)


def _peer(transport: asyncio.BaseTransport) -> str:
    name = transport.get_extra_info("peername")
    return str(name[0]) if isinstance(name, tuple) and name else "a peer"


#: OpenSSL's reasons for bytes that are not a TLS handshake at all.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_MESSAGE", "UNEXPECTED_RECORD")  # fmt: skip


def handshake_words(exc: ssl.SSLError) -> str:
    """Why a TLS handshake failed, in words an admin can act on."""
    reason = str(exc.reason or "").upper()
    if reason in _NOT_TLS:
        return 'not TLS (a plain TCP sender? protocol = "tcp" takes that)'
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason:
        return "no client certificate (ca is set: the sender must show one)"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        return "its certificate is not signed by the ca"
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
        return "the sender does not trust this receiver's certificate"
    if "VERSION" in reason or "UNSUPPORTED_PROTOCOL" in reason:
        return "the sender's TLS is older than 1.2"
    return visible(str(exc.reason or exc), 120)


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection (RFC 6587 / 5425): frames as they come, each taken in order.
    A frame under way that misses ``frame_timeout`` ends the connection, as does a framing
    that cannot be followed (an octet count that is not one)."""

    def __init__(self, receiver: AuditReceiver) -> None:
        self.receiver = receiver
        entry = receiver.entry
        self.framer = SyslogFramer(max_size=entry.max_size, framing=entry.framing)
        self.transport: asyncio.Transport | None = None
        self.peer = "a peer"
        self._deadline: asyncio.TimerHandle | None = None
        self._started = 0.0  # when the frame under way began (monotonic)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        receiver = self.receiver
        self.peer = _peer(transport)
        if not receiver.admit(self.peer, transport):
            return
        receiver.peers += 1
        self.transport = transport
        receiver._transports.add(transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        receiver, framer = self.receiver, self.framer
        waiting = framer.buffered
        completed = False
        for item in framer.feed(data):
            if isinstance(item, FrameProblem):
                kind = "too_large" if item.kind == "too_large" else "framing_errors"
                receiver.drop(kind, self.peer, item.words)
                if item.fatal:
                    self.transport.abort()
                    return
            else:
                completed = True
                receiver.take(item, self.peer)
        if framer.buffered and (completed or not waiting):
            self._started = time.monotonic()  # a new frame began in this read
            if self._deadline is None:
                self._arm(receiver.entry.frame_timeout)
        if receiver.backlogged and self not in receiver.paused:
            receiver.paused.add(self)  # the sender waits in TCP's window: nothing is lost
            self.transport.pause_reading()

    def resume(self) -> None:
        """The records waiting were taken: read on. A frame under way gets its full time
        again (it could not move while this side was not reading)."""
        if self.transport is None:
            return
        self._started = time.monotonic()
        self.transport.resume_reading()

    def _arm(self, seconds: float) -> None:
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _expired(self) -> None:
        """A frame begun must end within ``frame_timeout`` (one timer while bytes wait)."""
        self._deadline = None
        if self.transport is None or not self.framer.buffered:
            return
        timeout = self.receiver.entry.frame_timeout
        left = self._started + timeout - time.monotonic()
        if self in self.receiver.paused:  # held back by this side, not by the peer
            left = timeout
        if left > 0:
            self._arm(left)
            return
        self.receiver.drop(
            "framing_errors", self.peer, f"a message not finished within {timeout:g} s: closed"
        )
        self.transport.abort()

    def eof_received(self) -> bool:
        for problem in self.framer.eof():
            self.receiver.drop("framing_errors", self.peer, problem.words)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return
        self.receiver.peers -= 1
        self.receiver._transports.discard(self.transport)
        self.receiver.paused.discard(self)
        self.transport = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


#: Rows of the message log read back at start at most.
READ_BACK = 20_000
_ROLE_CODES = {words: code for code, words in ROLES.items()}
#: DICOM's names of the User Authentication types (PS3.16 CID ...): as a row stores them.
_TYPES = {"login": LOGIN, "110122": LOGIN, "logout": LOGOUT, "110123": LOGOUT}
#: An event dated this far from its arrival is said in its row (a queue that held the
#: records back, or a source whose clock is wrong): the trail shows arrival times.
LATE_AFTER = 120.0


def lateness(when: str, arrived: float) -> str:
    """ "dated 12 min before it came" for an EventDateTime far from the arrival; "" when it is
    near, or does not read as an ISO 8601 time with a zone."""
    try:
        dated = dt.datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
    except ValueError:
        return ""
    if dated.tzinfo is None:  # a local time of an unknown zone: not compared
        return ""
    gap = arrived - dated.timestamp()
    if abs(gap) < LATE_AFTER:
        return ""
    side = "before" if gap > 0 else "after"
    return f"dated {span_words(abs(gap))} {side} it came"


_OUTCOME = re.compile(r"^outcome (\d+) ")
_STUDIES = re.compile(r"; (\d+) stud(?:y|ies)$")


def record_of(row: LoggedMessage) -> tuple[float, AuditEvent, str] | None:
    """A message-log row of an audit record read back as (time, event, role), for the session
    book: what the row keeps of it (the event, its type, outcome, user, host, role, how many
    studies: their UIDs were never stored, so each record's count stands for them). None for a
    row that is not a parsed record (an unparsed message)."""
    event_id, _, rest = row.type.partition(" ")
    if not event_id.isdigit():
        return None
    name, _, kind = rest.partition(" / ")
    outcome_match = _OUTCOME.match(row.detail or "")
    studies_match = _STUDIES.search(row.detail or "")
    count = min(int(studies_match.group(1)), 1000) if studies_match else 0
    type_code = _TYPES.get(kind.lower(), kind)
    event = AuditEvent(
        event_id=event_id, event_name=name, type_code=type_code, type_name=kind, action="",
        outcome=int(outcome_match.group(1)) if outcome_match else -1, when="",
        user_id=row.sender, user_name="", user_roles=(), user_host=row.sender_facility,
        source_id=row.receiver,
        studies=tuple(f"{row.ts}#{n}" for n in range(count)),
        patients=(row.patient,) if row.patient else (), object_count=count, style=row.version,
    )  # fmt: skip
    return row.ts, event, _ROLE_CODES.get(row.receiver_facility, "")


class _TlsStream(_Stream):
    """One TLS connection (RFC 5425): the sender's address is checked before any handshake,
    the handshake must end within ``frame_timeout``, and one that fails is counted and said in
    words ("not TLS: a plain TCP sender?"). The TLS is :mod:`ssl`'s own, pumped through memory
    buffers as asyncio's TLS transport does it; the pump is ours because asyncio's TLS server
    closes a failed handshake in silence (debug log only) and uvloop's ``start_tls`` (0.23)
    does not complete a server-side handshake at all: an admin whose PACS sends plain syslog
    to the TLS port would see nothing arrive, and nothing wrong."""

    def __init__(self, receiver: AuditReceiver, context: ssl.SSLContext) -> None:
        super().__init__(receiver)
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._shaken = False
        self._given_up = False  # the handshake failed and was said: once
        self._handshake_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.transport is not None:
            timeout = self.receiver.entry.frame_timeout
            loop = asyncio.get_running_loop()
            self._handshake_timer = loop.call_later(timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self._given_up:
            return
        self._incoming.write(data)
        if not self._shaken:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._send()
                return
            except ssl.SSLError as exc:
                self._send()  # the alert that tells the sender why
                self._failed(handshake_words(exc))
                return
            self._shaken = True
            if self._handshake_timer is not None:
                self._handshake_timer.cancel()
                self._handshake_timer = None
        plain = bytearray()
        while True:  # everything this read decrypts to (bounded by what was read)
            try:
                chunk = self._tls.read(64 * 1024)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the sender's close_notify
                break
            except ssl.SSLError as exc:
                words = visible(str(exc.reason or exc), 120)
                self.receiver.drop("framing_errors", self.peer, f"TLS: {words}: closed")
                self._abort()
                return
            if not chunk:
                break
            plain += chunk
        self._send()  # what the TLS layer answers (TLS 1.3 tickets, key updates)
        if plain:
            super().data_received(bytes(plain))

    def _send(self) -> None:
        pending = self._outgoing.read()
        if pending and self.transport is not None:
            self.transport.write(pending)

    def _failed(self, words: str) -> None:
        if self._given_up:
            return
        self._given_up = True
        self.receiver.drop("tls_failed", self.peer, f"TLS handshake failed: {words}: closed")
        self._abort()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if not self._shaken and self.transport is not None:
            self._failed(f"no handshake within {self.receiver.entry.frame_timeout:g} s")

    def eof_received(self) -> bool:
        if not self._shaken:
            self._failed("the sender closed the connection during the handshake")
            return False
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._shaken and self.transport is not None:  # a reset: said unless it was
            self._failed("the sender closed the connection during the handshake")
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        super().connection_lost(exc)
