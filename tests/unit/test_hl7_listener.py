"""The HL7 listener in-process, driven over real loopback sockets as hostile peers would: bad
bytes get a NAK where the framing allows and a closed connection where it is lost, while other
connections go on being served; a history that cannot record means no AA."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Sequence

import hl7
import hl7.mllp
import pytest

from pacs_tui.hl7 import server
from pacs_tui.hl7.listener import Listener, ListenerConfig
from pacs_tui.model import Event, LoggedMessage, Result, Status
from pacs_tui.probes.hl7_source import listener_target

VT, END = b"\x0b", b"\x1c\r"
MSA = re.compile(rb"MSA\|(\w\w)\|([^|\r]*)")


def message(control: str = "C1", version: str = "2.5", extra: str = "") -> bytes:
    return (
        f"MSH|^~\\&|HIS|WARD|RIS|RAD|20261201120000||ORU^R01|{control}|P|{version}{extra}\r"
        "PID|1||123456^^^HOSP^MR||DOE^JANE\rOBR|1\rOBX|1|TX|||text\r"
    ).encode()


class Recorder:
    """The emit a listener gets: results and rows kept; ``fail`` makes recording fail."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.rows: list[LoggedMessage] = []
        self.fail = False

    def result(self, target_id: str, result: Result) -> None:
        self.results.append(result)

    def event(self, event: Event) -> None:
        raise AssertionError("no events expected")

    def messages(self, rows: Sequence[LoggedMessage]) -> None:
        if self.fail:
            raise OSError("database or disk is full")
        self.rows.extend(rows)


@pytest.fixture
async def listening() -> AsyncIterator[tuple[Listener, Recorder, int]]:
    entry = ListenerConfig("his-copy", "127.0.0.1", 0, max_frame=4096, frame_timeout=1.0)
    listener = Listener(entry, listener_target(entry))
    recorder = Recorder()
    task = asyncio.create_task(listener.serve(recorder))
    while not recorder.results:
        await asyncio.sleep(0.01)
    port = int(listener.address.rsplit(":", 1)[1])
    yield listener, recorder, port
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def exchange(port: int, data: bytes, acks: int) -> list[tuple[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    async with asyncio.timeout(5):
        while len(MSA.findall(got)) < acks:
            chunk = await reader.read(65536)
            assert chunk, f"closed after {got!r}"
            got += chunk
    writer.close()
    return [(c.decode(), i.decode()) for c, i in MSA.findall(got)]


async def test_it_listens_and_says_so(listening: tuple[Listener, Recorder, int]) -> None:
    _, recorder, port = listening
    result = recorder.results[-1]
    assert result.status is Status.OK
    assert result.reason == f"listening on 127.0.0.1:{port}; 0 peers connected"


@pytest.fixture
async def reporting_often(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Listener, Recorder, int]]:
    monkeypatch.setattr(server, "REPORT_SECONDS", 0.05)
    async for found in listening.__wrapped__():  # type: ignore[attr-defined]
        yield found


async def test_a_message_is_kept_for_its_detail_masked_and_counted_in_the_rate(
    reporting_often: tuple[Listener, Recorder, int],
) -> None:
    listener, recorder, port = reporting_often
    assert "hl7_idle_seconds" not in recorder.results[-1].metrics  # nothing came yet
    await exchange(port, b"".join(VT + message(f"R{n}") + END for n in range(3)), 3)
    row = recorder.rows[1]
    tree = await listener.message_tree(row.ts, "R1")
    assert tree is not None and tree.segments[0].name == "MSH"
    shown = repr(tree)
    assert "R1" in shown and "DOE" not in shown and "123456" not in shown
    assert await listener.message_tree(row.ts, "R9") is None  # no such control ID
    assert await listener.message_tree(row.ts - 60, "R1") is None

    def rate() -> float:
        return recorder.results[-1].metrics.get("hl7_received_per_minute", 0.0)

    async with asyncio.timeout(5):
        while rate() == 0:
            await asyncio.sleep(0.01)
    assert rate() == 3.0  # three in the first seconds: 3 a minute, not extrapolated
    assert 0 <= recorder.results[-1].metrics["hl7_idle_seconds"] < 5


async def test_the_detail_names_each_hl7_error_code_it_counted(
    reporting_often: tuple[Listener, Recorder, int],
) -> None:
    _, recorder, port = reporting_often
    assert await exchange(port, VT + message("V9", version="2.9") + END, 1) == [("AR", "V9")]

    def details() -> dict[str, object]:
        return dict(recorder.results[-1].details)

    async with asyncio.timeout(5):
        while "error 203 (unsupported version)" not in details():
            await asyncio.sleep(0.01)
    assert details()["error 203 (unsupported version)"] == 1


async def test_junk_before_a_message_is_skipped_and_the_message_answered(
    listening: tuple[Listener, Recorder, int],
) -> None:
    listener, recorder, port = listening
    acks = await exchange(port, b"\r\nHELLO" + VT + message("J1") + END, 1)
    assert acks == [("AA", "J1")]
    assert listener.counts["framing_junk"] == 1 and listener.counts["AA"] == 1
    assert [(r.control_id, r.ack, r.type) for r in recorder.rows] == [("J1", "AA", "ORU^R01")]
    assert "DOE" not in repr(recorder.rows) and "123456" not in repr(recorder.rows)


async def test_a_message_without_a_header_gets_an_error_it_can_read(
    listening: tuple[Listener, Recorder, int],
) -> None:
    _, recorder, port = listening
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(VT + b"PID|1||123456\r" + END + VT + message("N2") + END)
    got = b""
    async with asyncio.timeout(5):
        while got.count(END) < 2:
            chunk = await reader.read(65536)
            assert chunk, f"closed after {got!r}"
            got += chunk
    writer.close()
    assert [(c.decode(), i.decode()) for c, i in MSA.findall(got)] == [("AE", ""), ("AA", "N2")]
    # A structure error, in standard delimiters; MSH-11 the processing ID, MSH-12 a version.
    first = got.split(END)[0].lstrip(VT).split(b"\r")[0].split(b"|")
    assert (first[8], first[10], first[11]) == (b"ACK", b"P", b"2.5")
    assert recorder.rows[0].ack == "AE" and "no MSH segment first" in recorder.rows[0].detail
    assert recorder.rows[0].version == ""  # not the ACK's: the message's was not known


async def test_enhanced_mode_gets_a_commit_accept_and_nothing_when_never_asked(
    listening: tuple[Listener, Recorder, int],
) -> None:
    _, _, port = listening
    data = VT + message("E1", extra="|||NE|NE") + END + VT + message("E2", extra="|||AL|AL") + END
    assert await exchange(port, data, 2) == [("CA", "E2"), ("AA", "E2")]


async def test_an_oversized_frame_closes_its_connection_and_no_other(
    listening: tuple[Listener, Recorder, int],
) -> None:
    listener, _, port = listening
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    other = await asyncio.open_connection("127.0.0.1", port)
    writer.write(VT + message("BIG") + b"X" * 10_000)
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed, no ACK
    assert listener.counts["framing_too_large"] == 1
    other[1].write(VT + message("OK1") + END)
    async with asyncio.timeout(5):
        assert MSA.findall(await other[0].readuntil(END)) == [(b"AA", b"OK1")]
    other[1].close()
    writer.close()


async def test_a_peer_that_trickles_is_cut_off_and_others_served(
    listening: tuple[Listener, Recorder, int],
) -> None:
    listener, _, port = listening
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(VT + b"MSH|^~")
    async with asyncio.timeout(5):
        assert await exchange(port, VT + message("OK2") + END, 1) == [("AA", "OK2")]
        assert await reader.read() == b""  # after the 1 s frame deadline
    assert listener.counts["framing_timeout"] == 1
    writer.close()


async def test_a_peer_that_leaves_its_acks_unread_is_closed_and_others_served(
    listening: tuple[Listener, Recorder, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A sender that writes and never reads: once its ACKs fill the buffers the listener
    reads no more of it, and closes it after the 1 s frame_timeout, saying why; another
    sender is served meanwhile."""
    listener, recorder, port = listening
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    # Long header fields make long ACKs (each echoes them): the buffers fill sooner.
    wide = "|".join(["X" * 170] * 4).encode()
    pending = (VT + message("W").replace(b"HIS|WARD|RIS|RAD", wide) + END) * 20_000
    async with asyncio.timeout(20):
        while listener.peers == 0:
            await asyncio.sleep(0.01)
        while pending:  # until every buffer on the way is full and the listener reads no more
            try:
                pending = pending[sock.send(pending[:65536]) :]
            except BlockingIOError:
                read = len(recorder.rows)
                await asyncio.sleep(0.1)
                if read and len(recorder.rows) == read:
                    break
        stalled = listener.peers == 1  # still connected, unread ACKs and all
        served = await exchange(port, VT + message("OK3") + END, 1) == [("AA", "OK3")]
        while listener.peers:  # closed by the listener, not by us
            await asyncio.sleep(0.05)
    sock.close()
    assert pending, "the buffers took every message: send more"
    assert stalled
    assert served
    assert len(recorder.rows) < 20_000  # it read no more once its ACKs went unread
    assert "does not read its ACKs: closed" in caplog.text
    assert "still incomplete" not in caplog.text  # a paused frame is not the sender's fault


async def test_a_history_that_cannot_record_means_no_accept(
    listening: tuple[Listener, Recorder, int],
) -> None:
    _, recorder, port = listening
    recorder.fail = True
    acks = await exchange(port, VT + message("F1") + END, 1)
    assert acks == [("AE", "F1")]
    recorder.fail = False
    assert await exchange(port, VT + message("F2") + END, 1) == [("AA", "F2")]


VERSIONS = ("2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")


async def test_python_hl7s_asyncio_client_gets_an_ack_it_parses_for_every_version(
    listening: tuple[Listener, Recorder, int],
) -> None:
    """A sender nobody here wrote: python-hl7's asyncio client (open_hl7_connection) sends an
    ORU^R01 of each version from 2.2 to 2.8 and parses each ACK with python-hl7."""
    _, recorder, port = listening
    reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port)
    try:
        for version in VERSIONS:
            control = f"V{version}"
            writer.writemessage(hl7.parse(message(control, version).decode()))
            await writer.drain()
            async with asyncio.timeout(5):
                ack = await reader.readmessage()
            assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == control
            assert str(ack.segment("MSH")[12]) == version  # the message's own version
            assert str(ack.segment("MSH")[5]) == "HIS" and str(ack.segment("MSH")[3]) == "RIS"
    finally:
        writer.close()
    assert [(r.control_id, r.version, r.ack) for r in recorder.rows] == [
        (f"V{v}", v, "AA") for v in VERSIONS
    ]
