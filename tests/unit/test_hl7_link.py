"""HL7 link checks against receivers on loopback: python-hl7's MLLP server for the accept (and a
slow one for ``ack_warn``), small servers of ours for the errors, rejects, silences and hang-ups;
the receiver's words unescaped and made visible; a control ID of its own each time; a test
message file that is not one, or not a file, is said so; ``ack_warn`` read and checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp
import pytest

from pacs_tui.config import ConfigError, parse_config
from pacs_tui.hl7.link import LinkCheck, LinkConfig, control_id
from pacs_tui.hl7.link import test_message as read_test_message
from pacs_tui.model import Status, TargetKind, TargetState
from pacs_tui.nagios import judge, render
from pacs_tui.probes import metric_spec
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


async def test_an_accept_of_another_control_id_is_warn(
    receiver: Callable[[Answer], Awaitable[int]], message_file: Path
) -> None:
    port = await receiver(canned("MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AA|OTHER42"))
    result = await check(port, message_file).check()
    assert result.status is Status.WARN
    assert result.reason.startswith("AA for another message (MSA-2 OTHER42, sent PTLINK")
    assert result.reason.endswith(")")


def raw(data: bytes, close: bool) -> Answer:
    """An answer that is not MLLP at all (a web server, an ACK without its blocks)."""

    async def answer(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(5)

    return answer


@pytest.mark.parametrize(
    ("data", "close", "reason"),
    [
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n",
            True,
            "the receiver closed the connection without an ACK: it answered 'HTTP/1.1 400 Bad "
            "Request␍␊␍␊', not MLLP (the wrong port?)",
        ),
        (
            b"MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AA|X\r",
            False,
            "no ACK: it answered 'MSH|^~\\\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.…', "
            "not MLLP (the wrong port?)",
        ),
        (  # a DICOM port: an A-ABORT, the connection left open; said at once, not in 5 s
            b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00",
            False,
            "no ACK: it answered with a DICOM A-ABORT, not MLLP (a DICOM port, not an HL7 one?)",
        ),
    ],
)
async def test_an_answer_that_is_not_mllp_is_said(
    receiver: Callable[[Answer], Awaitable[int]],
    message_file: Path,
    data: bytes,
    close: bool,
    reason: str,
) -> None:
    port = await receiver(raw(data, close))
    result = await check(port, message_file, timeout=5.0).check()
    assert (result.status, result.reason) == (Status.DOWN, reason)


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
            "AR: Unsupported version id (203) at MSH-12",
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
    two = tmp_path / "two.hl7"
    one = "MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\nEVN|A08\nPID|1\nPV1|1\n"
    two.write_text(one + one)
    for path, words in (
        (text, "is not an HL7 message: no MSH segment first"),
        (two, "holds 2 messages (an MSH segment each): one a file"),
        (fifo, "is not a regular file"),  # and the check did not wait for a writer
        (tmp_path / "missing.hl7", "cannot read"),
    ):
        result = await asyncio.wait_for(check(port, path).check(), 3)
        assert result.status is Status.UNKNOWN and words in result.reason


def test_a_test_message_saved_with_a_byte_order_mark_is_read_without_it(tmp_path: Path) -> None:
    """Windows Notepad saves UTF-8 with a BOM: the message still starts with MSH on the wire."""
    path = tmp_path / "bom.hl7"
    path.write_bytes(b"\xef\xbb\xbfMSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\r\nEVN|A08\r\n")
    assert read_test_message(path) == b"MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\rEVN|A08\r"


def slow_receiver(delay: float, seen: list[str]) -> Callable[[Any, Any], Awaitable[None]]:
    """python-hl7's MLLP server's handler: each message's control ID noted, then AA after
    ``delay`` seconds (a receiver that is slow to answer)."""

    async def accept(reader: Any, writer: Any) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while not writer.is_closing():
                message = await reader.readmessage()
                seen.append(str(message.segment("MSH")[10]))
                await asyncio.sleep(delay)  # the peer's own delay
                writer.writemessage(message.create_ack("AA"))
                await writer.drain()

    return accept


async def test_an_ack_slower_than_ack_warn_is_warn_and_the_perfdata_says_the_same(
    message_file: Path,
) -> None:
    seen: list[str] = []
    server = await hl7.mllp.start_hl7_server(slow_receiver(0.3, seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        slow = LinkConfig("ris-link", "127.0.0.1", port, message_file, timeout=3.0, ack_warn=0.1)
        result = await LinkCheck(slow, link_target(slow)).check()
        relaxed = LinkConfig("ris-link", "127.0.0.1", port, message_file, timeout=3.0, ack_warn=2)
        unhurried = await LinkCheck(relaxed, link_target(relaxed)).check()
    finally:
        server.close()
    assert result.status is Status.WARN
    assert re.fullmatch(r"AA in [\d,]+ ms, slower than 100 ms", result.reason), result.reason
    assert 0.25 < result.metrics["ack_seconds"] < 3
    assert unhurried.status is Status.OK and re.fullmatch(r"AA in [\d,]+ ms", unhurried.reason)
    # The default threshold is the declared metric's warn; the perfdata gives the link's own,
    # so the line and its perfdata agree.
    assert LinkConfig("x", "h", 1).ack_warn == metric_spec(TargetKind.HL7_LINK, "ack_seconds").warn
    state = TargetState(link_target(slow), result.status, result.reason, metrics=result.metrics)
    line = render(judge([state], now=0.0))
    assert line.startswith("PACS-TUI WARNING - ris-link WARN: AA in "), line
    assert re.search(r"'ris-link ack time'=[\d.]+s;0.1;;0", line), line


async def test_a_slow_error_or_reject_keeps_the_receivers_words(
    receiver: Callable[[Answer], Awaitable[int]], message_file: Path
) -> None:
    reject = "MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AR|X|busy"

    async def late(data: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)  # the peer's own delay
        await canned(reject)(data, writer)

    entry = LinkConfig("r", "127.0.0.1", await receiver(late), message_file, ack_warn=0.1)
    result = await LinkCheck(entry, link_target(entry)).check()
    assert (result.status, result.reason) == (Status.CRIT, "AR: busy")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "ADT\\S\\A01 without its required EVN segment",
            "ADT^A01 without its required EVN segment",
        ),
        ("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "a|b^c&d~e\\f"),
        ("line one\\.br\\line two\\.sp2\\end\\.in+4\\", "line one line two end"),
        ("\\H\\urgent\\N\\: \\X1B5B324A\\wiped", "urgent: ␛[2Jwiped"),  # visible after
        ("\\XE280AE\\gpj.exe \\X0D0A\\forged", "\\u202egpj.exe ␍␊forged"),
        (
            "\\C2842\\kept \\Zlocal\\ C:\\dir \\XZZ\\ \\X1\\ \\",
            "kept \\Zlocal\\ C:\\dir \\XZZ\\ \\X1\\ \\",
        ),
        ("caf\\XC3A9\\ \\XE9\\t\\XE9\\", "café été"),  # UTF-8, else Latin-1
    ],
)
async def test_the_receivers_words_are_shown_unescaped_and_visible(
    receiver: Callable[[Answer], Awaitable[int]], message_file: Path, text: str, shown: str
) -> None:
    port = await receiver(canned(f"MSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AE|X|{text}"))
    result = await check(port, message_file).check()
    assert (result.status, result.reason) == (Status.WARN, f"AE: {shown}")


async def test_an_error_segment_in_the_messages_own_delimiters_is_unescaped(
    receiver: Callable[[Answer], Awaitable[int]], message_file: Path
) -> None:
    # Field #, component *, repetition @, escape $, subcomponent %: a backslash is just text.
    ack = "MSH#*@$%#RIS#RAD#PT#IT#2026##ACK#1#T#2.5\rMSA#AR#X\rERR##PID*3#no $F$ $S$ $T$ $E$ C:\\d"
    port = await receiver(canned(ack))
    result = await check(port, message_file).check()
    assert (result.status, result.reason) == (Status.CRIT, "AR: error at PID: no # * % $ C:\\d")


async def test_each_check_sends_a_control_id_of_its_own(message_file: Path) -> None:
    seen: list[str] = []
    server = await hl7.mllp.start_hl7_server(slow_receiver(0, seen), "127.0.0.1", 0)
    try:
        link = check(server.sockets[0].getsockname()[1], message_file)
        results = [await link.check() for _ in range(3)]
    finally:
        server.close()
    assert [r.status for r in results] == [Status.OK] * 3
    assert len(set(seen)) == 3, seen  # the same second, the same process: still three
    assert all(s.startswith("PTLINK") and len(s) <= 20 and s.isalnum() for s in seen), seen


def test_control_ids_are_unique_and_fit_msh_10() -> None:
    made = [control_id("PTLINK") for _ in range(5000)] + [control_id("PTDIAG") for _ in range(5)]
    assert len(set(made)) == len(made)
    assert {len(c) for c in made} == {20}
    with pytest.raises(ValueError, match="no room"):
        control_id("A-PREFIX-FAR-TOO-LONG")


def link_problems(body: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(f'[[hl7.link]]\nid = "ris"\nhost = "ris.example.org"\nport = 2575\n{body}')
    return [str(p) for p in info.value.problems]


def test_ack_warn_is_read_with_a_default_and_checked_in_words(tmp_path: Path) -> None:
    send = f'send = "{tmp_path / "a08.hl7"}"\n'
    (first,) = (
        parse_config(f'[[hl7.link]]\nid = "a"\nhost = "h"\nport = 1\n{send}').section("hl7").links
    )
    assert first.ack_warn == 1.0
    # A short timeout leaves the default alone: it can never fire, which is no mistake.
    (short,) = (
        parse_config(f'[[hl7.link]]\nid = "a"\nhost = "h"\nport = 1\n{send}timeout = "500ms"\n')
        .section("hl7")
        .links
    )
    assert (short.timeout, short.ack_warn) == (0.5, 1.0)
    (set_,) = (
        parse_config(f'[[hl7.link]]\nid = "a"\nhost = "h"\nport = 1\n{send}ack_warn = "250ms"\n')
        .section("hl7")
        .links
    )
    assert set_.ack_warn == 0.25
    assert link_problems(f'{send}ack_warn = "fast"\n') == [
        "hl7.link \"ris\" (#1).ack_warn = 'fast': expected a duration from 100ms to 10m, "
        "like '500ms' or '2s'"
    ]
    assert link_problems(f"{send}ack_warn = 0\n") == [
        'hl7.link "ris" (#1).ack_warn = 0: expected a duration from 100ms to 10m, '
        "like '500ms' or '2s'"
    ]
    assert link_problems(f'{send}ack_warn = "5s"\ntimeout = "2s"\n') == [
        "hl7.link \"ris\" (#1).ack_warn = '5s': expected less than the timeout "
        '(hl7.link "ris" (#1).timeout = 2s)'
    ]
    assert link_problems('ack_warn = "2s"\n') == [
        "hl7.link \"ris\" (#1).ack_warn = '2s': expected nothing without send (a test message)"
    ]
