"""HL7 link checks against receivers on loopback: python-hl7's MLLP server for the accept, small
servers of ours for the errors, rejects, silences and hang-ups; a test message file that is not
one, or not a file, is said so."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp
import pytest

from pacs_tui.hl7.link import LinkCheck, LinkConfig
from pacs_tui.model import Status
from pacs_tui.probes.hl7_source import link_target

MESSAGE = (
    "MSH|^~\\&|PACSTUI|IT|RIS|RAD|20261201120000||ADT^A08^ADT_A01|TEMPLATE|T|2.5\n"
    "EVN|A08|20261201120000\nPID|1||TEST^^^HOSP^MR||TEST^PATIENT\n"
)


@pytest.fixture
def message_file(tmp_path: Path) -> Path:
    path = tmp_path / "test.hl7"
    path.write_text(MESSAGE)  # LF line ends, as an editor writes them
    return path


Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[[Answer], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                data = await reader.readuntil(b"\x1c\r")
                await answer(data, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


def check(port: int, send: Path | None = None, timeout: float = 2.0) -> LinkCheck:
    entry = LinkConfig("ris-adt", "127.0.0.1", port, send, timeout=timeout)
    return LinkCheck(entry, link_target(entry))


def canned(ack: str) -> Answer:
    async def answer(data: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x0b" + ack.encode() + b"\x1c\r")
        await writer.drain()

    return answer


async def test_a_receiver_that_accepts_is_ok_with_its_round_trip(message_file: Path) -> None:
    received: list[Any] = []

    async def accept(reader: Any, writer: Any) -> None:
        message = await reader.readmessage()
        received.append(message)
        writer.writemessage(message.create_ack("AA"))
        await writer.drain()

    server = await hl7.mllp.start_hl7_server(accept, "127.0.0.1", 0)
    try:
        result = await check(server.sockets[0].getsockname()[1], message_file).check()
    finally:
        server.close()
    assert result.status is Status.OK and result.reason.startswith("AA in ")
    assert 0 < result.metrics["ack_seconds"] < 2 and result.metrics["connect_seconds"] < 2
    (sent,) = received
    assert str(sent.segment("MSH")[10]).startswith("PTLINK")  # its own control ID
    assert [str(s[0]) for s in sent] == ["MSH", "EVN", "PID"]  # LF became segment ends


async def test_connecting_is_enough_without_a_test_message(
    receiver: Callable[[Answer], Awaitable[int]],
) -> None:
    port = await receiver(canned(""))
    result = await check(port).check()
    assert result.status is Status.OK and result.reason.startswith("connected in ")


@pytest.mark.parametrize(
    ("ack", "status", "reason"),
    [
        (
            "MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AE|X|PID-3 missing",
            Status.WARN,
            "AE: PID-3 missing",
        ),
        (
            "MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AR|X\rERR||MSH^1^12|203^Unsupported "
            "version id^HL70357|E",
            Status.CRIT,
            "AR: MSH^1^12 203^Unsupported version id^HL70357 E",
        ),
        (
            "MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|CR|X|\x1b[2J busy",
            Status.CRIT,
            "CR: ␛[2J busy",
        ),
        (
            "MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|ZZ|X",
            Status.CRIT,
            "the answer has no known ACK code (MSA-1: ZZ)",
        ),
        ("HTTP/1.1 400 Bad Request", Status.CRIT, "the answer is not an ACK: no MSH segment first"),
    ],
)
async def test_an_error_or_reject_says_what_the_receiver_said(
    receiver: Callable[[Answer], Awaitable[int]],
    message_file: Path,
    ack: str,
    status: Status,
    reason: str,
) -> None:
    port = await receiver(canned(ack))
    result = await check(port, message_file).check()
    assert (result.status, result.reason) == (status, reason)


async def test_no_ack_and_a_hang_up_are_down_in_words(
    receiver: Callable[[Answer], Awaitable[int]], message_file: Path
) -> None:
    async def silent(data: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async def hang_up(data: bytes, writer: asyncio.StreamWriter) -> None:
        writer.close()

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await check(await receiver(silent), message_file, timeout=0.3).check()
    assert (result.status, result.reason) == (Status.DOWN, "no ACK within 0.3 s")
    assert loop.time() - started < 2
    result = await check(await receiver(hang_up), message_file).check()
    assert result.status is Status.DOWN
    assert result.reason == "the receiver closed the connection without an ACK"


async def test_a_closed_port_is_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await check(port).check()
    assert (result.status, result.reason) == (Status.DOWN, "connection refused")


async def test_a_test_message_that_is_not_one_is_said_so(
    receiver: Callable[[Answer], Awaitable[int]], tmp_path: Path
) -> None:
    port = await receiver(canned(""))
    text = tmp_path / "notes.txt"
    text.write_text("call the RIS team\n")
    fifo = tmp_path / "fifo.hl7"
    os.mkfifo(fifo)
    for path, words in (
        (text, "is not an HL7 message: no MSH segment first"),
        (fifo, "is not a regular file"),  # and the check did not wait for a writer
        (tmp_path / "missing.hl7", "cannot read"),
    ):
        result = await asyncio.wait_for(check(port, path).check(), 3)
        assert result.status is Status.UNKNOWN and words in result.reason
