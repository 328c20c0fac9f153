"""The audit receiver in-process over real loopback sockets (UDP, TCP in both framings, TLS), as
a PACS and as hostile peers would use it; and the session book it feeds."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from pacs_tui.audit.atna import parse_audit
from pacs_tui.audit.receiver import (
    INLINE_BYTES,
    WAITING_BYTES,
    AuditReceiver,
    ReceiverError,
    SyslogConfig,
    record_of,
    tls_context,
)
from pacs_tui.audit.sessions import Policy, RoleMap, SessionBook
from pacs_tui.demo.audit_feed import audit_xml, syslog_frame
from pacs_tui.model import LoggedMessage, Status
from pacs_tui.probes.audit_source import receiver_target

from .scripted import Recorder

ROLES = RoleMap({"radiologist": ("rad-*",), "admin": ("pacsadmin",)})


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


Running = tuple[AuditReceiver, Recorder, int]


@contextlib.asynccontextmanager
async def start(entry: SyslogConfig) -> AsyncIterator[Running]:
    receiver = AuditReceiver(entry, receiver_target(entry))
    recorder = Recorder()
    task = asyncio.create_task(receiver.serve(recorder))
    await until(lambda: bool(recorder.results) or task.done())
    if task.done():
        task.result()  # raises what stopped it
    port = int(receiver.address.rsplit(":", 1)[1])
    try:
        yield receiver, recorder, port
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def config(protocol: str, **kw: object) -> SyslogConfig:
    return SyslogConfig("pacs-audit", "127.0.0.1", 0, protocol, roles=ROLES, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def udp() -> AsyncIterator[Running]:
    async with start(config("udp", max_size=8192)) as running:
        yield running


@pytest.fixture
async def tcp() -> AsyncIterator[Running]:
    async with start(config("tcp", max_size=8192, frame_timeout=0.5)) as running:
        yield running


def login(user: str = "rad-martin", host: str = "10.1.20.11", outcome: int = 0) -> bytes:
    return audit_xml("110114", user, host, type_code="110122", outcome=outcome)


async def test_the_address_is_said_once_unless_the_port_was_chosen_at_bind(
    udp: Running,
) -> None:
    _, recorder, port = udp  # bound to port 0: the detail says which port it got
    assert recorder.results[-1].details["listening"] == f"udp 127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    entry = replace(config("udp"), port=free)
    async with start(entry) as (_, fixed, _):  # its facts say the configured address
        assert "listening" not in fixed.results[-1].details


async def test_udp_on_ipv4_and_on_ipv6_any_share_a_port_as_config_check_says() -> None:
    """``config check`` passes 127.0.0.1 and "::" on one UDP port: both must bind (an IPv6
    socket that also took IPv4 could not), and IPv4 datagrams still reach the IPv4 one."""
    async with start(config("udp")) as (_, four, port):
        entry = replace(config("udp"), id="pacs-audit-6", host="::", port=port)
        async with start(entry) as (six_receiver, six, _):
            assert six_receiver.address == f"udp [::]:{port}"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(syslog_frame(login()).split(b" ", 1)[1], ("127.0.0.1", port))
            await until(lambda: len(four.rows) == 1)
            assert six.rows == []


async def test_udp_audit_records_become_rows_and_a_session(udp: Running) -> None:
    receiver, recorder, port = udp
    access = audit_xml(
        "110103", "rad-martin", "10.1.20.11", action="R", study="1.2.3.4", patient="PAT-0001"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for xml in (login(), access):
            s.sendto(syslog_frame(xml).split(b" ", 1)[1], ("127.0.0.1", port))  # no count: UDP
    await until(lambda: len(recorder.rows) == 2)
    first, second = recorder.rows
    assert first.type == "110114 User Authentication / Login"
    assert (first.sender, first.sender_facility, first.receiver_facility) == (
        "rad-martin",
        "10.1.20.11",
        "radiologist",
    )
    assert first.detail == "outcome 0 (success)" and first.receiver == "DEMO-PACS"
    assert second.type.startswith("110103 ") and second.patient.startswith("#")
    assert "PAT-0001" not in repr(recorder.rows)
    session = receiver.book.sessions[("rad-martin", "10.1.20.11")]
    assert session.login_seen and list(session.studies) == ["1.2.3.4"]
    result = receiver.result(time.time())
    assert result.status is Status.OK and "1 session" in result.reason
    assert result.metrics["audit_sessions"] == 1 and result.metrics["audit_parsed_total"] == 2


async def test_tcp_takes_octet_counted_and_newline_frames_on_one_connection(tcp: Running) -> None:
    _, recorder, port = tcp
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    octet = syslog_frame(login())
    newline = syslog_frame(login("pacsadmin", "10.1.1.2")).split(b" ", 1)[1] + b"\n"
    for byte in octet + newline:  # one byte at a time: the framing must not care
        writer.write(bytes([byte]))
        await writer.drain()
    await until(lambda: len(recorder.rows) == 2)
    assert [r.sender for r in recorder.rows] == ["rad-martin", "pacsadmin"]
    assert recorder.rows[1].receiver_facility == "admin"
    writer.close()


async def test_what_does_not_parse_is_an_unparsed_row_without_its_body(tcp: Running) -> None:
    receiver, recorder, port = tcp
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    secret = b"<AuditMessage><EventIdentification>DOE^JOHN 1970"  # truncated
    writer.write(str(len(secret)).encode() + b" " + secret)
    doctype = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><AuditMessage>&e;'
    writer.write(str(len(doctype)).encode() + b" " + doctype)
    await writer.drain()
    # In a syslog message: its app and host are said, as the audit source and the sending host.
    writer.write(syslog_frame(b"<AuditMessage>", host="pacs-node-2", app="PACS"))
    await writer.drain()
    await until(lambda: len(recorder.rows) == 3)
    assert all(r.type == "unparsed" and r.detail.startswith("unparsed: ") for r in recorder.rows)
    assert "DOE" not in repr(recorder.rows) and "root:" not in repr(recorder.rows)
    assert receiver.counts["unparsed"] == 3
    # No user in what did not parse: the User column stays empty, never the syslog app's name.
    assert [r.sender for r in recorder.rows] == ["", "", ""]
    assert recorder.rows[0].sender_facility == "127.0.0.1"
    framed = recorder.rows[2]
    assert (framed.receiver, framed.sender_facility) == ("PACS", "pacs-node-2")
    writer.close()


def padded(xml: bytes, elements: int) -> bytes:
    """``xml`` with ``elements`` empty elements the record does not use (what costs a parser
    the most for its size: a hostile sender's large record)."""
    return xml.replace(b"</AuditMessage>", b"<Pad/>" * elements + b"</AuditMessage>")


async def test_large_records_keep_their_place_among_small_ones() -> None:
    # A record over INLINE_BYTES is parsed on the worker thread: the small ones after it, on
    # the same connection and on another, wait their turn rather than overtake it.
    async with start(config("tcp", max_size=1024 * 1024)) as (receiver, recorder, port):
        _, first = await asyncio.open_connection("127.0.0.1", port)
        _, second = await asyncio.open_connection("127.0.0.1", port)
        big = padded(audit_xml("110103", "rad-big", "10.1.20.11", study="1.2.3"), 100_000)
        assert INLINE_BYTES < len(big) < 1024 * 1024
        first.write(syslog_frame(login("rad-before")) + syslog_frame(big))
        await first.drain()
        await until(lambda: receiver.counts["received"] == 2)
        second.write(syslog_frame(login("rad-other")))
        first.write(syslog_frame(login("rad-after")))
        await asyncio.gather(first.drain(), second.drain())
        await until(lambda: len(recorder.rows) == 4)
        users = [r.sender for r in recorder.rows]
        assert users[:2] == ["rad-before", "rad-big"] and set(users[2:]) == {
            "rad-after",
            "rad-other",
        }
        assert recorder.rows[1].type.startswith("110103 ") and receiver.counts["parsed"] == 4
        first.close()
        second.close()


async def test_a_sender_of_more_than_the_backlog_is_paused_and_loses_nothing() -> None:
    # Ten records of ~1 MiB each, written at once: more than WAITING_BYTES wait for the worker,
    # so the connection stops being read (the sender waits in TCP) and reads on once the worker
    # caught up. The frame under way meanwhile is not timed out (0.5 s: the ten records take
    # longer than that to parse), nor is any record dropped.
    async with start(config("tcp", max_size=1024 * 1024, frame_timeout=0.5)) as running:
        receiver, recorder, port = running
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        records = [
            padded(audit_xml("110112", f"rad-{n}", "10.1.20.11"), 170_000) for n in range(10)
        ]
        assert sum(map(len, records)) > WAITING_BYTES
        writer.write(b"".join(syslog_frame(r) for r in records))
        await writer.drain()
        await until(lambda: len(recorder.rows) == 10, seconds=30)
        assert [r.sender for r in recorder.rows] == [f"rad-{n}" for n in range(10)]
        assert receiver.counts["parsed"] == 10 and receiver.counts["dropped"] == 0
        writer.write(syslog_frame(login("rad-still-connected")))
        await writer.drain()
        await until(lambda: len(recorder.rows) == 11)
        writer.close()


async def test_an_octet_count_over_max_size_ends_the_connection_unread(tcp: Running) -> None:
    receiver, _, port = tcp
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"10485760 <AuditMessage>")  # a 10 MiB message announced
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the receiver
    assert receiver.counts["too_large"] == 1 and receiver.counts["received"] == 0
    writer.close()


async def test_a_frame_left_unfinished_is_closed_at_frame_timeout(tcp: Running) -> None:
    receiver, _, port = tcp
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"500 <85>1 - - - - - <AuditMessage")
    await writer.drain()
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.4 < time.monotonic() - started < 4
    assert receiver.counts["framing_errors"] == 1
    writer.close()


async def test_a_sender_outside_allow_is_dropped_and_counted() -> None:
    entry = config("udp", allow=(ipaddress.ip_network("10.0.0.0/8"),))
    async with start(entry) as (receiver, recorder, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(login(), ("127.0.0.1", port))
        await until(lambda: receiver.counts["refused"] == 1)
        assert recorder.rows == [] and receiver.counts["received"] == 0


async def test_a_datagram_over_max_size_is_dropped_unread(udp: Running) -> None:
    receiver, recorder, port = udp
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"<" + b"x" * 9000 + b">", ("127.0.0.1", port))
        s.sendto(login(), ("127.0.0.1", port))
    await until(lambda: len(recorder.rows) == 1)
    assert receiver.counts["too_large"] == 1


async def test_a_burst_of_failed_logins_turns_the_receiver_warn(udp: Running) -> None:
    receiver, recorder, port = udp
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(login("admin", "10.9.9.9", outcome=4), ("127.0.0.1", port))
    await until(lambda: recorder.results[-1].status is Status.WARN)
    reason = recorder.results[-1].reason
    assert "5 failed logins in 5 min for user admin from 10.9.9.9" in reason
    assert recorder.results[-1].metrics["audit_failed_logins_total"] == 5
    assert all(r.detail == "outcome 4 (minor failure)" for r in recorder.rows)
    # The Overview's tile counts over the windows the reason uses, not since the start.
    from pacs_tui.model import TargetState
    from pacs_tui.probes.audit_source import tile_summary

    metrics = recorder.results[-1].metrics
    assert metrics["audit_failed_logins_last_hour"] == 5
    assert metrics["audit_security_alerts_held"] == 1
    state = TargetState(receiver.targets[0], metrics=dict(metrics))
    assert tile_summary([state]) == "0 sessions · 5 failed logins in 1 h · 1 alert"


def test_logger_messages_reach_the_receiver(tmp_path: Path) -> None:
    """util-linux ``logger`` as the sender, RFC 5424 over TCP with octet counting and RFC 3164
    over UDP, each carrying an audit record."""
    logger = "/usr/bin/logger"
    if not Path(logger).exists():
        pytest.fail("util-linux logger is needed (apt-get install bsdutils)")
    xml = login().decode()

    async def scenario() -> list[LoggedMessage]:
        rows: list[LoggedMessage] = []
        for protocol, flags in (
            ("tcp", ["--rfc5424", "--octet-count", "-T"]),
            ("udp", ["--rfc3164", "-d"]),
        ):
            async with start(config(protocol)) as (_, recorder, port):
                command = [logger, *flags, "-n", "127.0.0.1", "-P", str(port), "-t", "PACS", xml]
                done = await asyncio.to_thread(
                    subprocess.run, command, capture_output=True, timeout=10
                )
                assert done.returncode == 0, done.stderr
                await until(lambda: len(recorder.rows) == 1)
                rows.extend(recorder.rows)
        return rows

    rows = asyncio.run(scenario())
    assert [r.type for r in rows] == ["110114 User Authentication / Login"] * 2
    assert [r.sender for r in rows] == ["rad-martin", "rad-martin"]


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 and its key (openssl), the key 0600."""
    folder = tmp_path_factory.mktemp("pki")
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    (folder / "key.pem").chmod(0o600)
    return folder


async def test_tls_with_octet_counting_from_pythons_ssl_client(pki: Path) -> None:
    entry = config("tls", cert=str(pki / "cert.pem"), key=str(pki / "key.pem"))
    async with start(entry) as (_, recorder, port):
        client = ssl.create_default_context(cafile=str(pki / "cert.pem"))
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(syslog_frame(login()))
        await writer.drain()
        await until(lambda: len(recorder.rows) == 1)
        assert recorder.rows[0].sender == "rad-martin"
        writer.close()


async def test_tls_refuses_a_plain_tcp_peer_without_taking_its_bytes_and_says_so(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A PACS configured for plain syslog on the TLS port: nothing arrives, and the admin must
    # be told why (asyncio's own TLS server closed such a connection in silence).
    entry = config("tls", cert=str(pki / "cert.pem"), key=str(pki / "key.pem"))
    async with start(entry) as (receiver, recorder, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(syslog_frame(login()))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert recorder.rows == []
        writer.close()
        await until(lambda: receiver.counts["tls_failed"] == 1)
        assert receiver.result(time.time()).metrics["audit_tls_failed_total"] == 1
    assert "127.0.0.1: TLS handshake failed: not TLS (a plain TCP sender?" in caplog.text


async def test_a_tls_peer_that_never_shakes_hands_is_closed_at_frame_timeout(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = config("tls", cert=str(pki / "cert.pem"), key=str(pki / "key.pem"), frame_timeout=0.3)
    async with start(entry) as (receiver, _, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the receiver
        writer.close()
        await until(lambda: receiver.peers == 0)
        assert receiver.counts["tls_failed"] == 1
    assert "TLS handshake failed: no handshake within 0.3 s: closed" in caplog.text


async def test_tls_with_a_ca_wants_a_client_certificate_and_says_when_none_came(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert = str(pki / "cert.pem")
    entry = config("tls", cert=cert, key=str(pki / "key.pem"), ca=cert)
    async with start(entry) as (receiver, recorder, port):
        client = ssl.create_default_context(cafile=cert)  # trusts the receiver, shows nothing
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
            writer.write(syslog_frame(login()))
            await writer.drain()
            await asyncio.wait_for(reader.read(), 5)
        await until(lambda: receiver.counts["tls_failed"] == 1)
        mutual = ssl.create_default_context(cafile=cert)
        mutual.load_cert_chain(cert, str(pki / "key.pem"))  # signed by the ca: taken
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=mutual)
        writer.write(syslog_frame(login()))
        await writer.drain()
        await until(lambda: len(recorder.rows) == 1)
        writer.close()
    assert "TLS handshake failed: no client certificate (ca is set" in caplog.text


def test_a_tls_key_every_user_can_read_is_refused_in_words(pki: Path, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes((pki / "key.pem").read_bytes())
    key.chmod(0o644)
    entry = config("tls", cert=str(pki / "cert.pem"), key=str(key))
    with pytest.raises(ReceiverError, match=r"can be read by every user .*0644"):
        tls_context(entry)


def test_config_check_names_each_tls_file_that_collect_could_not_load(
    pki: Path, tmp_path: Path
) -> None:
    """`config check` reads the TLS files as `collect` will: a missing certificate, a key every
    user can read, and a key that is not the certificate's, each named by its key."""
    other = tmp_path / "other"
    other.mkdir()
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=other",
        "-keyout", str(other / "key.pem"), "-out", str(other / "cert.pem"),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=30)
    (other / "key.pem").chmod(0o600)
    open_key = tmp_path / "open.pem"
    open_key.write_bytes((pki / "key.pem").read_bytes())
    open_key.chmod(0o644)

    def check(cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[history]\npath = "{tmp_path / "h.sqlite"}"\n'
            f'[[audit.syslog]]\nid = "atna"\nbind = "127.0.0.1:6514"\nprotocol = "tls"\n'
            f'cert = "{cert}"\nkey = "{key}"\n'
        )
        return subprocess.run(
            [sys.executable, "-m", "pacs_tui", "config", "check", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    good = check(pki / "cert.pem", pki / "key.pem")
    assert good.returncode == 0, good.stderr
    missing = check(tmp_path / "nowhere.pem", pki / "key.pem")
    assert missing.returncode == 1
    assert 'audit.syslog "atna" (#1).cert' in missing.stderr
    assert "No such file or directory" in missing.stderr
    readable = check(pki / "cert.pem", open_key)
    assert readable.returncode == 1
    assert 'audit.syslog "atna" (#1).key' in readable.stderr
    assert "can be read by every user (mode 0644)" in readable.stderr
    mismatched = check(pki / "cert.pem", other / "key.pem")
    assert mismatched.returncode == 1
    assert 'audit.syslog "atna" (#1).cert' in mismatched.stderr
    assert "a certificate and key that load" in mismatched.stderr
    assert "Traceback" not in missing.stderr + readable.stderr + mismatched.stderr


# -- the session book ---------------------------------------------------------------------------


def event(xml: bytes):  # type: ignore[no-untyped-def]
    return parse_audit(xml, lambda pid: "#" + pid[::-1])


def test_sessions_open_touch_idle_and_close() -> None:
    book = SessionBook(Policy(idle_after=60, expire_after=600), ROLES)
    t = 1_000_000.0
    book.take(event(login()), t)
    book.take(event(audit_xml("110103", "rad-martin", "10.1.20.11", study="1.2")), t + 10)
    book.take(event(audit_xml("110106", "rad-martin", "10.1.20.11", study="1.3")), t + 20)
    (row,) = book.details(t + 30)["sessions"]
    assert row["role"] == "radiologist" and row["studies"] == 2 and row["exports"] == 1
    assert row["since"] == t and row["last"] == t + 20 and not row["idle"]
    assert book.details(t + 90)["sessions"][0]["idle"]  # 70 s without activity > 60
    book.take(event(audit_xml("110114", "rad-martin", "10.1.20.11", type_code="110123")), t + 95)
    assert book.sessions == {}


def test_activity_without_a_login_opens_a_session_that_says_so_and_expires() -> None:
    book = SessionBook(Policy(idle_after=60, expire_after=600), ROLES)
    book.take(event(audit_xml("110112", "gp-durand", "10.2.4.77")), 100.0)
    (row,) = book.details(110.0)["sessions"]
    assert row["role"] == "unmapped" and not row["login_seen"]
    assert book.expire(701.0) == 1 and book.sessions == {}


def test_a_burst_is_said_once_per_window_and_a_security_alert_is_kept() -> None:
    book = SessionBook(Policy(burst=3, burst_window=60, alert_hold=300), ROLES)
    alerts = [book.take(event(login("x", "10.9.9.9", outcome=4)), 100.0 + i) for i in range(5)]
    said = [a for a in alerts if a is not None]
    assert len(said) == 1 and "3 failed logins in 1 min for user x" in said[0].words
    alert = book.take(event(audit_xml("110113", "tech-leroy", "10.1.30.5")), 200.0)
    assert alert is not None and alert.words.startswith("security alert by tech-leroy")
    assert "Security Alert" not in alert.words  # the event's own name is not said twice
    assert book.recent_alerts(250.0)[0].words == alert.words
    assert book.recent_alerts(600.0) == []
    assert book.failed_logins == 5 and book.security_alerts == 1


def test_roles_match_ids_patterns_and_role_codes_case_blind() -> None:
    roles = RoleMap({"technologist": ("tech-*", "role:110150"), "admin": ("PacsAdmin",)})
    assert roles.role("TECH-leroy") == "technologist"
    assert roles.role("someone", ["110150"]) == "technologist"
    assert roles.role("pacsadmin") == "admin"
    assert roles.role("nobody-known") == "unmapped"


def test_audit_xml_time_is_read_as_sent() -> None:
    when = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    parsed = event(audit_xml("110112", "gp-durand", "10.2.4.77", when=when))
    assert parsed.when.startswith("2026-12-02T10:00:00")


async def test_a_restarted_receiver_reads_its_sessions_back_from_the_history(
    tmp_path: Path,
) -> None:
    """The collector restarts: who is logged in, the failed logins and the burst's alert come
    back from the message log (the rows the first receiver recorded), the counters do not."""
    from pacs_tui.store import Store

    first = AuditReceiver(config("udp"), receiver_target(config("udp")))
    now = time.time()
    records = [
        login(),
        audit_xml("110103", "rad-martin", "10.1.20.11", action="R", study="1.2.3.4"),
        login("pacsadmin", "10.1.1.5"),
        audit_xml("110114", "pacsadmin", "10.1.1.5", type_code="110123"),  # logged out
        *(login("intruder", "10.9.9.9", outcome=4) for _ in range(5)),
    ]
    rows = []
    for n, xml in enumerate(records):
        event = parse_audit(xml, lambda pid: "#0123456789abcdef")
        first.book.take(event, now - 60 + n)
        rows.append(first.row(event, now - 60 + n, len(xml), "10.0.0.1"))
    store = await Store.open(tmp_path / "h.sqlite")
    try:
        store.add_messages(rows)
        await store.flush()
        entry = config("udp", policy=Policy(burst=5, burst_window=300, alert_hold=600))
        again = AuditReceiver(entry, receiver_target(entry), history=store)
        recorder = Recorder()
        task = asyncio.create_task(again.serve(recorder))
        try:
            await until(lambda: bool(recorder.results))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await store.close()
    book = again.book
    assert list(book.sessions) == [("rad-martin", "10.1.20.11")]  # the admin logged out
    session = book.sessions[("rad-martin", "10.1.20.11")]
    assert session.login_seen and session.role == "radiologist" and len(session.studies) == 1
    assert len(book.failures) == 5
    assert any("5 failed logins" in a.words for a in book.recent_alerts(time.time()))
    assert (book.logins, book.failed_logins) == (0, 0)  # this run's counters start at zero


def test_tls_on_uvloop_as_collect_runs_it(pki: Path) -> None:
    import uvloop

    cert = str(pki / "cert.pem")

    async def scenario() -> tuple[int, int]:
        entry = config("tls", cert=cert, key=str(pki / "key.pem"))
        async with start(entry) as (receiver, recorder, port):
            reader, plain = await asyncio.open_connection("127.0.0.1", port)
            plain.write(syslog_frame(login()))
            assert await asyncio.wait_for(reader.read(), 5) == b""
            client = ssl.create_default_context(cafile=cert)
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
            writer.write(syslog_frame(login()))
            await writer.drain()
            await until(lambda: len(recorder.rows) == 1)
            writer.close()
            return receiver.counts["tls_failed"], len(recorder.rows)

    assert uvloop.run(scenario()) == (1, 1)


def test_a_record_dated_far_from_its_arrival_says_so_in_its_row() -> None:
    receiver = AuditReceiver(config("udp"), receiver_target(config("udp")))
    arrived = dt.datetime(2026, 12, 2, 10, 12, tzinfo=dt.UTC).timestamp()

    def login_at(minute: int, second: int = 0) -> bytes:
        when = dt.datetime(2026, 12, 2, 10, minute, second, tzinfo=dt.UTC)
        return audit_xml("110114", "rad-martin", "10.1.20.11", type_code="110122", when=when)

    row = receiver.row(parse_audit(login_at(0), str), arrived, 500, "10.1.20.11")
    assert row.detail == "outcome 0 (success); dated 12 min before it came"
    on_time = receiver.row(parse_audit(login_at(11, 30), str), arrived, 500, "10.1.20.11")
    assert on_time.detail == "outcome 0 (success)"
    record = record_of(row)  # read back at a restart: the outcome still reads
    assert record is not None and record[1].outcome == 0


async def test_the_sessions_follow_a_login_and_a_logout_within_a_second(udp: Running) -> None:
    _, recorder, port = udp

    def open_sessions() -> list[str]:
        return [s["user"] for s in recorder.results[-1].details.get("sessions", [])]

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(syslog_frame(login("rad-quick")), ("127.0.0.1", port))
        await until(lambda: open_sessions() == ["rad-quick"], seconds=2.0)  # not in 5 s
        logout = audit_xml("110114", "rad-quick", "10.1.20.11", type_code="110123")
        sock.sendto(syslog_frame(logout), ("127.0.0.1", port))
        await until(lambda: open_sessions() == [], seconds=2.0)
