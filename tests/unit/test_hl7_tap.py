"""The HL7 tap between a sender and python-hl7's MLLP server as the receiver, over loopback
sockets: bytes pass unchanged both ways, each message is recorded with the receiver's answer and
its round trip, and the tap never answers in the receiver's place (down, silent, gone)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import hl7
import hl7.mllp
import pytest

from pacs_tui.hl7 import server as server_module
from pacs_tui.hl7.tap import Tap, TapConfig
from pacs_tui.model import Status
from pacs_tui.probes.hl7_source import listener_target

from .test_hl7_listener import Recorder

VT, END = b"\x0b", b"\x1c\r"
MSA = re.compile(rb"MSA\|(\w\w)\|([^|\r]*)")


def message(control: str, extra: str = "") -> bytes:
    return (
        f"MSH|^~\\&|HIS|WARD|RIS|RAD|20261201120000||ADT^A08|{control}|P|2.5{extra}\r"
        "EVN|A08\rPID|1||123456^^^HOSP^MR||DOE^JANE\rPV1|1|I\r"
    ).encode()


Handler = Callable[[Any, Any], Awaitable[None]]


async def upstream(handler: Handler) -> tuple[asyncio.Server, int, list[bytes]]:
    """python-hl7's MLLP server answering as ``handler`` says; what it received, as bytes."""
    received: list[bytes] = []

    async def serve(reader: Any, writer: Any) -> None:
        try:
            while not writer.is_closing():
                block = await reader.readblock()
                received.append(bytes(block))
                await handler(hl7.parse(block.decode()), writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await hl7.mllp.start_hl7_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], received


async def ack(msg: Any, writer: Any) -> None:
    writer.writemessage(msg.create_ack("AA", message_id="R" + str(msg.segment("MSH")[10])))
    await writer.drain()


async def tapping(up_port: int, **options: Any) -> tuple[Tap, Recorder, asyncio.Task[None]]:
    entry = TapConfig("his-ris", "127.0.0.1", 0, "127.0.0.1", up_port, **options)
    tap = Tap(entry, listener_target(entry))
    recorder = Recorder()
    task = asyncio.create_task(tap.serve(recorder))
    while not recorder.results:
        await asyncio.sleep(0.01)
    return tap, recorder, task


@pytest.fixture
async def stop_later() -> AsyncIterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in things:
        if isinstance(thing, asyncio.Task):
            thing.cancel()
            await asyncio.gather(thing, return_exceptions=True)
        else:
            thing.close()


def port_of(tap: Tap) -> int:
    return int(tap.address.rsplit(":", 1)[1])


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_messages_and_answers_pass_unchanged_and_are_recorded(
    stop_later: list[Any],
) -> None:
    server, up_port, received = await upstream(ack)
    tap, recorder, task = await tapping(up_port)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    sent = [message(f"T{i}") for i in range(2)]
    sent.append(message("T2").replace(b"PV1|1|I\r", b""))  # wrong, but not the tap's to judge
    writer.write(b"".join(VT + m + END for m in sent))  # pipelined: no wait between them
    answers = b""
    async with asyncio.timeout(5):
        while answers.count(END) < 3:
            answers += await reader.read(4096)
    writer.close()
    assert [bytes(r) for r in received] == sent  # byte for byte, in order
    assert MSA.findall(answers) == [(b"AA", b"T0"), (b"AA", b"T1"), (b"AA", b"T2")]
    assert answers.startswith(VT + b"MSH|^~\\&|RIS|RAD|HIS|WARD|")  # the receiver's own ACK
    await until(lambda: len(recorder.rows) == 3)
    rows = sorted(recorder.rows, key=lambda r: r.control_id)
    assert [(r.control_id, r.ack, r.type) for r in rows] == [
        ("T0", "AA", "ADT^A08"),
        ("T1", "AA", "ADT^A08"),
        ("T2", "AA", "ADT^A08"),
    ]
    assert all(r.latency is not None and 0 < r.latency < 5 for r in rows)
    assert [r.detail for r in rows] == ["", "", "ADT^A08 without its required PV1 segment"]
    assert tap.counts["AA"] == 3 and tap.counts["received"] == 3
    assert "DOE" not in repr(recorder.rows)


async def test_a_sender_that_stops_sending_still_gets_its_answers(
    stop_later: list[Any],
) -> None:
    async def slow_ack(msg: Any, writer: Any) -> None:
        await asyncio.sleep(0.2)  # the receiver takes its time; the sender has shut its side
        await ack(msg, writer)

    server, up_port, _ = await upstream(slow_ack)
    tap, recorder, task = await tapping(up_port)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("H0") + END + VT + message("H1") + END)
    writer.write_eof()  # "that is all": what a batch sender does, then it reads its ACKs
    answers = b""
    async with asyncio.timeout(5):
        while chunk := await reader.read(4096):
            answers += chunk
    writer.close()
    assert MSA.findall(answers) == [(b"AA", b"H0"), (b"AA", b"H1")]
    await until(lambda: len(recorder.rows) == 2)
    assert {(r.control_id, r.ack) for r in recorder.rows} == {("H0", "AA"), ("H1", "AA")}


async def test_with_the_receiver_down_the_sender_gets_no_answer(
    stop_later: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "REPORT_SECONDS", 0.05)
    server, up_port, _ = await upstream(ack)
    server.close()
    await server.wait_closed()  # nothing listens there now
    tap, recorder, task = await tapping(up_port)
    stop_later.append(task)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("D1") + END)
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed, nothing invented
    assert tap.counts["upstream_down"] == 1
    await until(lambda: recorder.results[-1].status is Status.WARN)
    # The fault first: a table cell or a tile cuts the end of a long reason.
    assert recorder.results[-1].reason.startswith("upstream: connection refused; tapping ")
    assert recorder.results[-1].metrics["hl7_upstream_down_total"] == 1


async def test_a_silent_receiver_means_no_ack_counted_then_recorded(
    stop_later: list[Any],
) -> None:
    async def silent(msg: Any, writer: Any) -> None:
        return None

    server, up_port, received = await upstream(silent)
    tap, recorder, task = await tapping(up_port, ack_timeout=0.2)
    stop_later += [task, server]
    _, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("S1") + END)
    await until(lambda: tap.counts["no_ack"] == 1)
    assert received == [message("S1")]
    writer.close()  # the sender gives up
    await until(lambda: len(recorder.rows) == 1)
    assert recorder.rows[0].ack is None
    assert recorder.rows[0].detail == "no ACK: the connection ended before an ACK came"


async def test_a_stalled_receiver_makes_the_tap_warn_while_it_stalls(
    stop_later: list[Any],
) -> None:
    go_on = asyncio.Event()

    async def stalls(msg: Any, writer: Any) -> None:
        await go_on.wait()  # the RIS stalls, then answers after all
        await ack(msg, writer)

    server, up_port, _ = await upstream(stalls)
    tap, recorder, task = await tapping(up_port, ack_timeout=0.2)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("S1") + END)
    await until(lambda: recorder.results[-1].status is Status.WARN)  # at once, not in 5 s
    assert recorder.results[-1].reason.startswith("the upstream has not answered a message for ")
    assert "(ack_timeout 0.2 s); tapping " in recorder.results[-1].reason
    go_on.set()
    async with asyncio.timeout(5):
        assert MSA.findall(await reader.readuntil(END)) == [(b"AA", b"S1")]
    await until(lambda: recorder.results[-1].status is Status.OK)
    writer.close()


async def test_a_receiver_gone_mid_stream_ends_the_senders_connection(
    stop_later: list[Any],
) -> None:
    async def once_then_gone(msg: Any, writer: Any) -> None:
        if str(msg.segment("MSH")[10]) == "G1":
            await ack(msg, writer)
        else:
            writer.close()

    server, up_port, _ = await upstream(once_then_gone)
    tap, recorder, task = await tapping(up_port)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("G1") + END)
    first = await asyncio.wait_for(reader.readuntil(END), 5)
    assert MSA.findall(first) == [(b"AA", b"G1")]
    writer.write(VT + message("G2") + END)
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # no ACK for G2: the connection ends
    await until(lambda: len(recorder.rows) == 2)
    rows = {r.control_id: r for r in recorder.rows}
    assert rows["G1"].ack == "AA"
    assert rows["G2"].ack is None and "the upstream closed the connection" in rows["G2"].detail
    # A message lost its answer: the tap says so at once, the fault first.
    await until(lambda: recorder.results[-1].status is Status.WARN)
    assert recorder.results[-1].reason.startswith("upstream: the upstream closed the connection;")


async def test_a_receiver_that_closes_an_idle_connection_is_no_fault(
    stop_later: list[Any],
) -> None:
    """Many receivers close a connection left idle: nothing was waiting, nothing is lost,
    so the tap stays OK (it warned until the next message came, maybe hours later)."""

    async def answer_then_close(msg: Any, writer: Any) -> None:
        await ack(msg, writer)
        writer.close()

    server, up_port, _ = await upstream(answer_then_close)
    tap, recorder, task = await tapping(up_port)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("I1") + END)
    assert MSA.findall(await asyncio.wait_for(reader.readuntil(END), 5)) == [(b"AA", b"I1")]
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # its connection ends with the upstream's
    await until(lambda: tap.state()[1].endswith("0 peers connected"))
    assert tap.state()[0] is Status.OK, tap.state()
    assert [(r.control_id, r.ack) for r in recorder.rows] == [("I1", "AA")]


@pytest.mark.parametrize("store_phi", [False, True])
async def test_a_refusal_keeps_the_receivers_words_only_with_store_phi(
    stop_later: list[Any], store_phi: bool
) -> None:
    """A receiver's words about a real message may name its patient ("Unknown patient
    DOE^JANE"): without store_phi only what is coded (the ERR's number and place) is
    recorded; with it, the words as people read them (HL7's escapes undone)."""

    async def refuse(msg: Any, writer: Any) -> None:
        control = str(msg.segment("MSH")[10])
        answer = (
            f"MSH|^~\\&|RIS|RAD|HIS|WARD|2026||ACK|R1|P|2.5\rMSA|AE|{control}|Unknown patient "
            "DOE\\S\\JANE MRN123456\rERR||PID^1^3|204^Unknown key identifier^HL70357|E||||"
            "no patient DOE\\S\\JANE"
        )
        writer.writemessage(hl7.parse(answer))
        await writer.drain()

    server, up_port, _ = await upstream(refuse)
    tap, recorder, task = await tapping(up_port, store_phi=store_phi)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("E1") + END)
    async with asyncio.timeout(5):
        answer = await reader.readuntil(END)
    writer.close()
    assert b"DOE\\S\\JANE" in answer  # relayed byte for byte all the same
    await until(lambda: len(recorder.rows) == 1)
    (row,) = recorder.rows
    assert row.ack == "AE"
    if store_phi:
        assert row.detail == "AE: Unknown patient DOE^JANE MRN123456"
    else:
        assert row.detail == "AE: error 204 at PID-3 (its words are kept with store_phi = true)"
        assert "DOE" not in repr(row) and "MRN123456" not in repr(row)


async def test_an_accept_then_application_ack_are_both_relayed_and_recorded_once(
    stop_later: list[Any],
) -> None:
    async def both(msg: Any, writer: Any) -> None:
        writer.writemessage(msg.create_ack("CA", message_id="C"))
        writer.writemessage(msg.create_ack("AA", message_id="A"))
        await writer.drain()

    server, up_port, _ = await upstream(both)
    tap, recorder, task = await tapping(up_port)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    writer.write(VT + message("E1", "|||AL|AL") + END + VT + message("E2", "|||AL|AL") + END)
    answers = b""
    async with asyncio.timeout(5):
        while answers.count(END) < 4:
            answers += await reader.read(4096)
    writer.close()
    assert [c for c, _ in MSA.findall(answers)] == [b"CA", b"AA", b"CA", b"AA"]
    await until(lambda: len(recorder.rows) == 2)
    assert sorted((r.control_id, r.ack) for r in recorder.rows) == [("E1", "CA"), ("E2", "CA")]


async def test_a_receiver_that_rejects_many_turns_the_tap_crit_with_the_count(
    stop_later: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is open and every answer relayed, but the RIS rejects a third of the orders:
    the tap is CRIT (over error_crit) and says how many of what, not "✔ OK"."""
    monkeypatch.setattr(server_module, "REPORT_SECONDS", 0.05)

    async def picky(msg: Any, writer: Any) -> None:
        control = str(msg.segment("MSH")[10])
        writer.writemessage(msg.create_ack("AR" if control.endswith("X") else "AA"))
        await writer.drain()

    server, up_port, _ = await upstream(picky)
    tap, recorder, task = await tapping(up_port, error_warn=0.0, error_crit=0.3)
    stop_later += [task, server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(tap))
    controls = [f"R{i}" + ("X" if i % 3 == 0 else "") for i in range(12)]  # 4 of 12 rejected
    writer.write(b"".join(VT + message(c) + END for c in controls))
    async with asyncio.timeout(5):
        for _ in controls:
            await reader.readuntil(END)
    await until(lambda: recorder.results[-1].metrics.get("hl7_ack_ar_total") == 4)
    result = recorder.results[-1]
    assert result.status is Status.CRIT
    assert result.reason.startswith(
        "4 of 12 messages failed in the last 5 min (33.3 % > 30 %: AR 4); tapping "
    )
    assert result.metrics["hl7_error_ratio"] == pytest.approx(4 / 12, abs=1e-4)
    writer.close()
