"""``pacs-tui diagnose hl7 HOST:PORT``: one HL7 link tested step by step — the name looked up,
the TCP connection, the test message sent, its ACK — each timed and said as it happens, then a
verdict (the status a link check would give, with the default ``ack_warn``). Each run sends its
own control ID (``PTDIAG…``); the receiver's words are shown with HL7's escapes undone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from pacs_tui.diagnosis import Diagnosis, Step, Steps, close_quietly, connect, look_up
from pacs_tui.hl7 import mllp
from pacs_tui.hl7.link import (
    DEFAULT_ACK_WARN,
    MAX_ANSWER,
    MessageFileError,
    ack_fields,
    connect_words,
    control_id,
    test_message,
    verdict_of,
    with_control_id,
)
from pacs_tui.hl7.server import peer_name
from pacs_tui.model import Status
from pacs_tui.visible import host_port, visible


async def diagnose_link(
    host: str,
    port: int,
    send: Path | None,
    timeout: float,
    on_step: Callable[[Step], None] = lambda step: None,
    ack_warn: float | None = None,
) -> Diagnosis:
    """Run the steps, each within ``timeout``; ``on_step`` hears each as it ends; an accept
    slower than ``ack_warn`` (default: a link's default) is WARN. The JSON
    document's ``ack`` is the receiver's answer (``code``, ``text``), null when none came."""
    steps = Steps(Diagnosis(f"{host}:{port}", learned={"ack": None}), on_step)
    step, verdict = steps.step, steps.verdict

    body = None
    if send is not None:
        started = time.monotonic()
        try:
            body = await asyncio.to_thread(test_message, send)
        except MessageFileError as exc:
            step("read test message", False, started, str(exc))
            return verdict(Status.UNKNOWN, str(exc))
        step("read test message", True, started, f"{len(body):,} bytes from {send}")

    if not await look_up(host, port, timeout, steps):
        return steps.found

    connected = await connect(
        host,
        port,
        timeout,
        steps,
        lambda exc: _connect_words(exc, host, port, timeout),
        lambda writer: f"connected to {peer_name(writer)}",
    )
    if connected is None:
        return steps.found
    reader, writer = connected
    try:
        if body is None:
            # A port that takes a connection is all that is known: a proxy or another service
            # would take it too.
            return verdict(
                Status.OK,
                "the port takes connections; nothing was sent (--send FILE sends a test "
                "message and reads the ACK)",
            )
        control = control_id("PTDIAG")
        started = time.monotonic()
        writer.write(b"\x0b" + with_control_id(body, control) + mllp.END)
        try:
            await asyncio.wait_for(writer.drain(), timeout)
        except (TimeoutError, OSError) as exc:
            step("send", False, started, f"could not send: {visible(str(exc), 200)}")
            return verdict(Status.DOWN, "the message could not be sent")
        step("send", True, started, f"{len(body):,} bytes, control ID {control}")
        warn = ack_warn if ack_warn is not None else DEFAULT_ACK_WARN
        return await _ack(steps, reader, timeout, control, warn)
    finally:
        await close_quietly(writer)


def _connect_words(exc: BaseException, host: str, port: int, timeout: float) -> str:
    """A link check's words for a failed connection, with the address and what to look at."""
    words = connect_words(exc, host, timeout)
    if isinstance(exc, ConnectionRefusedError):
        words += f" by {host_port(host, port)}; nothing listens there: is the receiver running?"
    return words


async def _ack(
    steps: Steps, reader: asyncio.StreamReader, timeout: float, control: str, ack_warn: float
) -> Diagnosis:
    step, verdict = steps.step, steps.verdict
    started = time.monotonic()
    framer = mllp.Framer(max_frame=MAX_ANSWER, frame_timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            read = mllp.frames(
                reader,
                max_frame=MAX_ANSWER,
                frame_timeout=timeout,
                framer=framer,
                junk_grace=mllp.JUNK_GRACE,
            )
            async for item in read:
                if isinstance(item, mllp.FramingProblem):
                    if item.fatal:
                        step("ACK", False, started, item.words)
                        return verdict(Status.DOWN, f"no ACK: {item.words}")
                    continue
                took = time.monotonic() - started
                result = verdict_of(item.data, {"ack_seconds": took}, ack_warn, sent=control)
                code, text = ack_fields(item.data)
                steps.found.learned["ack"] = {"code": visible(code, 8), "text": visible(text)}
                # The step succeeded if the answer would be OK whatever its time: a slow accept
                # is ✔ with a WARN verdict, as a slow DICOM exchange is.
                on_time = verdict_of(item.data, {"ack_seconds": 0.0}, ack_warn, sent=control)
                step("ACK", on_time.status is Status.OK, started, result.reason)
                return verdict(result.status, result.reason)
    except TimeoutError:
        stray = mllp.not_mllp(framer)
        step("ACK", False, started, f"none within {timeout:g} s{stray}")
        return verdict(Status.DOWN, f"no ACK within {timeout:g} s{stray}")
    except OSError as exc:
        if isinstance(exc, ConnectionResetError):
            words = "the receiver reset the connection (not an MLLP receiver? the wrong port?)"
        else:
            words = f"connection lost: {visible(exc.strerror or str(exc), 200)}"
        step("ACK", False, started, words)
        return verdict(Status.DOWN, f"no ACK: {words}")
    stray = mllp.not_mllp(framer)
    step("ACK", False, started, f"the receiver closed the connection{stray}")
    return verdict(Status.DOWN, f"the receiver closed the connection without an ACK{stray}")
