"""``diagnose hl7`` against receivers on loopback: pacs-tui's own listener (whose AE text is
HL7-escaped) and python-hl7's MLLP server. The receiver's words are shown unescaped and with
control characters made visible, on the command line too; each run sends a control ID of its own;
a slow accept is WARN, as a link check says."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp
import pytest

from pacs_tui.diagnosis import Diagnosis, Step
from pacs_tui.hl7.diagnose import diagnose_link
from pacs_tui.hl7.listener import Listener, ListenerConfig
from pacs_tui.model import Status
from pacs_tui.probes.hl7_source import listener_target

from .scripted import Recorder

#: An ADT^A01 without its EVN segment: pacs-tui's listener answers "AE: ADT\S\A01 without …".
NO_EVN = "MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A01|X|T|2.5\nPID|1||TEST^^^HOSP^MR\nPV1|1|I\n"
A08 = "MSH|^~\\&|PT|IT|RIS|RAD|2026||ADT^A08|X|T|2.5\nEVN|A08\nPID|1\nPV1|1\n"


@pytest.fixture
async def listener_port() -> AsyncIterator[int]:
    """pacs-tui's own HL7 listener on a free loopback port."""
    entry = ListenerConfig("ris-copy", "127.0.0.1", 0, max_frame=65536, frame_timeout=2.0)
    listener = Listener(entry, listener_target(entry))
    recorder = Recorder()
    task = asyncio.create_task(listener.serve(recorder))
    async with asyncio.timeout(5):
        while not recorder.results:
            await asyncio.sleep(0.01)
    yield int(listener.address.rsplit(":", 1)[1])
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def python_hl7(seen: list[str], delay: float = 0.0) -> Callable[[Any, Any], Awaitable[None]]:
    """python-hl7's server's handler: notes each control ID, answers AA after ``delay``."""

    async def accept(reader: Any, writer: Any) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while not writer.is_closing():
                message = await reader.readmessage()
                seen.append(str(message.segment("MSH")[10]))
                await asyncio.sleep(delay)  # the peer's own delay (none by default)
                writer.writemessage(message.create_ack("AA"))
                await writer.drain()

    return accept


async def run_diagnose(*args: str) -> tuple[int | None, str, str]:
    """``pacs-tui diagnose hl7 ARGS`` in a process of its own: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "pacs_tui", "diagnose", "hl7", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, stdout.decode(), stderr.decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.hl7"
    path.write_text(text)
    return path


async def diagnosed(server: asyncio.Server, tmp_path: Path) -> Diagnosis:
    """``diagnose`` of ``server`` with the A08 test message; the server closed after."""
    try:
        port = server.sockets[0].getsockname()[1]
        return await diagnose_link("127.0.0.1", port, write(tmp_path, A08), 5.0)
    finally:
        server.close()


async def test_the_receivers_escaped_words_are_shown_unescaped(
    listener_port: int, tmp_path: Path
) -> None:
    steps: list[Step] = []
    found = await diagnose_link(
        "127.0.0.1", listener_port, write(tmp_path, NO_EVN), 5.0, steps.append
    )
    words = "ADT^A01 without its required EVN segment"
    assert (found.verdict, found.reason) == (Status.WARN, f"AE: {words}")
    assert found.learned["ack"] == {"code": "AE", "text": words}
    assert (steps[-1].name, steps[-1].ok, steps[-1].detail) == ("ACK", False, f"AE: {words}")


async def test_the_command_line_shows_them_unescaped_and_visible(
    listener_port: int, tmp_path: Path
) -> None:
    # A receiver whose ACK text hides a terminal escape (OSC 52 writes the clipboard) in \X..\.
    async def sly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\x1c\r")
        text = "\\X1B5D35323B633B5A6D6C7A6441073D\\owned\\.br\\ID\\S\\1"
        writer.write(b"\x0bMSH|^~\\&|RIS|RAD|PT|IT|2026||ACK|1|T|2.5\rMSA|AR|X|")
        writer.write(text.encode() + b"\x1c\r")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(sly, "127.0.0.1", 0)
    message = write(tmp_path, NO_EVN)
    try:
        runs: list[tuple[int | None, str, str]] = []
        for port in (listener_port, server.sockets[0].getsockname()[1]):
            address = f"127.0.0.1:{port}"
            runs.append(await run_diagnose(address, "--send", str(message), "--timeout", "5s"))
    finally:
        server.close()
    (code, out, err), (sly_code, sly_out, sly_err) = runs
    assert code == 1, err  # WARN
    ack = out.splitlines()[-2]
    assert ack.startswith("✖ ACK") and ack.endswith("AE: ADT^A01 without its required EVN segment")
    assert out.splitlines()[-1] == "verdict: ▲ WARN — AE: ADT^A01 without its required EVN segment"
    assert "\\S\\" not in out
    assert sly_code == 2, sly_err  # CRIT
    assert "\x1b" not in sly_out and "\x07" not in sly_out
    assert sly_out.splitlines()[-1] == ("verdict: ✖ CRIT — AR: ␛]52;c;ZmlzdA␇=owned ID^1")


async def test_two_runs_in_a_row_send_different_control_ids(tmp_path: Path) -> None:
    seen: list[str] = []
    server = await hl7.mllp.start_hl7_server(python_hl7(seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    message = write(tmp_path, A08)
    try:
        runs: list[list[Step]] = [[], []]
        for steps in runs:
            found = await diagnose_link("127.0.0.1", port, message, 5.0, steps.append)
            assert found.verdict is Status.OK, found.reason
    finally:
        server.close()
    first, second = seen
    assert first != second
    assert all(c.startswith("PTDIAG") and len(c) <= 20 and c.isalnum() for c in seen), seen
    # The send step names the control ID the receiver got.
    sent = [next(s.detail for s in steps if s.name == "send") for steps in runs]
    assert sent[0].endswith(f"control ID {first}") and sent[1].endswith(f"control ID {second}")


async def test_a_slow_accept_is_warn_as_a_link_check_would_say(tmp_path: Path) -> None:
    seen: list[str] = []
    server = await hl7.mllp.start_hl7_server(python_hl7(seen, delay=1.1), "127.0.0.1", 0)
    found = await diagnosed(server, tmp_path)
    assert found.verdict is Status.WARN
    assert found.reason.startswith("AA in 1,") and found.reason.endswith(" ms, slower than 1 s")
    # The ACK came and accepted: its step is ✔; the verdict says it was slow.
    assert (found.steps[-1].name, found.steps[-1].ok) == ("ACK", True)


async def test_an_accept_for_another_message_is_warn(tmp_path: Path) -> None:
    """A receiver that answers an ACK it had ready (a cache, a queue out of step): its MSA-2 is
    not the control ID sent, so nothing says this message was taken."""

    async def stale(reader: Any, writer: Any) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            message = await reader.readmessage()
            ack = message.create_ack("AA")
            ack.segment("MSA")[2] = "OTHER42"
            writer.writemessage(ack)
            await writer.drain()

    server = await hl7.mllp.start_hl7_server(stale, "127.0.0.1", 0)
    found = await diagnosed(server, tmp_path)
    assert found.verdict is Status.WARN
    assert found.reason.startswith("AA for another message (MSA-2 OTHER42, sent PTDIAG")
    assert (found.steps[-1].name, found.steps[-1].ok) == ("ACK", False)


async def test_an_answer_that_is_not_mllp_says_what_came(tmp_path: Path) -> None:
    """The classic mistake, the wrong port: a web server answers, and diagnose says so."""

    async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(web, "127.0.0.1", 0)
    found = await diagnosed(server, tmp_path)
    assert found.verdict is Status.DOWN
    assert found.reason == (
        "the receiver closed the connection without an ACK: it answered 'HTTP/1.1 400 Bad "
        "Request␍␊␍␊', not MLLP (the wrong port?)"
    )


async def test_a_configured_link_is_tested_by_its_id_with_its_message_and_limit(
    tmp_path: Path,
) -> None:
    """``diagnose hl7 ID``: the [[hl7.link]]'s host, port, test message and ``ack_warn`` (an
    accept after 300 ms is WARN under the link's 100 ms, OK under the default 1 s)."""
    seen: list[str] = []
    server = await hl7.mllp.start_hl7_server(python_hl7(seen, delay=0.3), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    message = write(tmp_path, A08)
    config = tmp_path / "site.toml"
    config.write_text(
        '[site]\nname = "T"\n'
        f'[[hl7.link]]\nid = "ris"\nhost = "127.0.0.1"\nport = {port}\nsend = "{message}"\n'
        'ack_warn = "100ms"\n'
    )
    try:
        runs = [
            await run_diagnose("ris", "--config", str(config)),
            await run_diagnose(f"127.0.0.1:{port}", "--send", str(message)),
        ]
    finally:
        server.close()
    (code, out, err), (plain_code, plain_out, plain_err) = runs
    assert plain_out.splitlines()[0].startswith("✔ read test message")
    assert code == 1, err  # the link's own ack_warn
    assert (
        out.splitlines()[0]
        == f"hl7.link ris at 127.0.0.1:{port}, sending {message} (from {config})"
    )
    assert out.splitlines()[-1].startswith("verdict: ▲ WARN — AA in ")
    assert out.splitlines()[-1].endswith(" ms, slower than 100 ms")
    assert plain_code == 0, plain_err  # the default ack_warn
    assert len(seen) == 2
