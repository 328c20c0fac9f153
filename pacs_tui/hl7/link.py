"""HL7 link checks (``[[hl7.link]]``): can the receiver be reached, and does it acknowledge?

Every ``interval``: a TCP connection to the receiver; with ``send``, a test message (a file of
one HL7 message, MLLP-framed or not, LF or CRLF line ends taken as segment ends) sent with a
control ID of its own, and its ACK awaited within ``timeout``. AA/CA → OK (WARN when slower
than ``ack_warn``), AE/CE → WARN and AR/CR → CRIT with the receiver's words (MSA-3, else ERR,
HL7's escapes undone), no ACK → DOWN "no ACK within 5 s".
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import secrets
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacs_tui.hl7 import mllp
from pacs_tui.hl7.ack import read_msa
from pacs_tui.hl7.header import Header, HeaderError, read_header
from pacs_tui.model import Result, Status, Target
from pacs_tui.visible import visible

#: A test message file is read up to this size (a larger one is a config problem in words).
MAX_MESSAGE_FILE = 1024 * 1024
#: An answer larger than this is not an ACK.
MAX_ANSWER = 256 * 1024
#: An ACK slower than this is WARN unless a link's ``ack_warn`` says otherwise (the declared
#: ``ack_seconds`` metric's warn: what the perfdata shows).
DEFAULT_ACK_WARN = 1.0
#: MSH-10's length (HL7 v2: 20 characters); a test message's control ID fills it.
CONTROL_ID_LENGTH = 20
_LINE_ENDS = re.compile(rb"\r\n|\n")
_ids = itertools.count(1)
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    id: str
    host: str
    port: int
    send: Path | None = None
    timeout: float = 5.0
    interval: float = 60.0
    site: str = ""
    description: str = ""
    ack_warn: float = DEFAULT_ACK_WARN


class MessageFileError(ValueError):
    """The test message file cannot be used (said in words)."""


def test_message(path: Path) -> bytes:
    """The message in ``path`` as it goes on the wire (without the MLLP blocks)."""
    try:
        # Non-blocking: a FIFO put in its place must not hold the check; only a file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise MessageFileError(f"{path} is not a regular file")
            data = os.read(fd, MAX_MESSAGE_FILE + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MessageFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_MESSAGE_FILE:
        raise MessageFileError(f"{path} is over {MAX_MESSAGE_FILE:,} bytes")
    # Framed or not; a UTF-8 byte order mark first (Windows editors write one) is not HL7's.
    body = data.removeprefix(b"\xef\xbb\xbf").strip(b"\x0b\x1c\r\n")
    body = _LINE_ENDS.sub(b"\r", body) + b"\r"
    try:
        read_header(body)
    except HeaderError as exc:
        raise MessageFileError(f"{path} is not an HL7 message: {exc}") from None
    messages = body.count(b"\rMSH") + 1
    if messages > 1:  # sent as one frame, a receiver reads one message with extra segments
        raise MessageFileError(
            f"{path} holds {messages} messages (an MSH segment each): one a file"
        )
    return body


def with_control_id(message: bytes, control_id: str) -> bytes:
    """``message`` with MSH-10 set to ``control_id`` (each test its own: receivers drop repeats)."""
    header = read_header(message)
    sep = header.separator.encode("latin-1")
    first, _, rest = message.partition(b"\r")
    fields = first.split(sep)
    while len(fields) < 10:
        fields.append(b"")
    fields[9] = control_id.encode("ascii")
    return sep.join(fields) + b"\r" + rest


def control_id(prefix: str) -> str:
    """A control ID (MSH-10) of its own for each test message: ``prefix`` ("PTLINK", "PTDIAG"),
    the time in milliseconds and this process's count (base 36), then random characters, 20 in
    all: a receiver that drops repeated control IDs must not drop a test. Tests of one process
    never share one; two processes' tests in the same millisecond, once in 1.7 million."""
    millis = time.time_ns() // 1_000_000 % 36**8  # 8 characters until 2059, then it wraps
    count = next(_ids) % 36**2
    stamp = _base36(millis, 8) + _base36(count, 2)
    room = CONTROL_ID_LENGTH - len(prefix) - len(stamp)
    if room < 2:
        raise ValueError(f"control ID prefix {prefix!r} leaves no room for random characters")
    return prefix + stamp + "".join(secrets.choice(_BASE36) for _ in range(room))


def _base36(number: int, width: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits.rjust(width, "0")


class LinkCheck:
    """One ``[[hl7.link]]``: connect, and with ``send`` a test message and its ACK."""

    pool = "hl7"

    def __init__(self, entry: LinkConfig, target: Target) -> None:
        self.entry = entry
        self.target = target
        self.interval = entry.interval
        self.timeout = entry.timeout

    @property
    def settings(self) -> LinkConfig:
        return self.entry

    async def check(self) -> Result:
        entry = self.entry
        started = time.monotonic()
        deadline = started + entry.timeout
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(entry.host, entry.port), entry.timeout
            )
        except (TimeoutError, OSError) as exc:
            return Result(Status.DOWN, connect_words(exc, entry.host, entry.timeout))
        connected = time.monotonic() - started
        metrics: dict[str, float] = {"connect_seconds": connected}
        try:
            if entry.send is None:
                return Result(Status.OK, f"connected in {connected * 1000:.0f} ms", metrics)
            try:
                body = await asyncio.to_thread(test_message, entry.send)
            except MessageFileError as exc:
                return Result(Status.UNKNOWN, str(exc), metrics)
            control = control_id("PTLINK")
            writer.write(b"\x0b" + with_control_id(body, control) + mllp.END)
            sent = time.monotonic()
            await asyncio.wait_for(writer.drain(), max(0.01, deadline - sent))
            return await self._answer(reader, deadline, sent, metrics, control)
        except TimeoutError:
            return Result(Status.DOWN, f"no ACK within {entry.timeout:g} s", metrics)
        except (ConnectionError, OSError) as exc:
            words = visible(exc.strerror or str(exc) or type(exc).__name__, 200)
            return Result(Status.DOWN, f"connection lost: {words}", metrics)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 0.5)

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        deadline: float,
        sent: float,
        metrics: dict[str, float],
        control: str,
    ) -> Result:
        left = max(0.01, deadline - time.monotonic())
        framer = mllp.Framer(max_frame=MAX_ANSWER, frame_timeout=left)
        frames = mllp.frames(
            reader,
            max_frame=MAX_ANSWER,
            frame_timeout=left,
            framer=framer,
            junk_grace=mllp.JUNK_GRACE,
        )
        try:
            async with asyncio.timeout(left):
                async for item in frames:
                    if isinstance(item, mllp.FramingProblem):
                        if item.fatal:
                            return Result(Status.DOWN, f"no ACK: {item.words}", metrics)
                        continue
                    metrics["ack_seconds"] = time.monotonic() - sent
                    return verdict_of(item.data, metrics, self.entry.ack_warn, control)
        except TimeoutError:
            if stray := mllp.not_mllp(framer):
                return Result(
                    Status.DOWN, f"no ACK within {self.entry.timeout:g} s{stray}", metrics
                )
            raise
        closed = f"the receiver closed the connection without an ACK{mllp.not_mllp(framer)}"
        return Result(Status.DOWN, closed, metrics)

    async def close(self) -> None:
        """Nothing kept open between checks."""


def connect_words(exc: BaseException, host: str, timeout: float) -> str:
    """Why a TCP connection to ``host`` failed, in words (a link check, the tap, diagnose)."""
    if isinstance(exc, TimeoutError):
        return f"no connection within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"host not found: {visible(host, 100)}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"cannot connect: {visible(getattr(exc, 'strerror', None) or str(exc), 200)}"


def ack_fields(answer: bytes) -> tuple[str, str]:
    """MSA-1 (upper case) and the answer's words (MSA-3, else its first ERR) of an ACK, HL7's
    escapes undone (:func:`unescape`; not yet :func:`visible`); ("", "") when it has neither."""
    found = read_msa(answer)
    if found is None:
        return ("", "")
    return found[0], unescape(found[2], read_header(answer))


#: ``\.sp\``, ``\.sp3\``, ``\.in+4\``: a formatting command of formatted text (HL7 2.10.6).
_FORMATTING = re.compile(r"\.(br|sp|sk|in|ti|fi|nf|ce)([+-]?\d*)")
#: ``\X1B5B\``: hex-encoded bytes (HL7 2.10.5).
_HEX = re.compile(r"X((?:[0-9A-Fa-f]{2})+)")
#: ``\C2842\``, ``\M2442\``: a switch of character set (HL7 2.10.2), which cannot apply here.
_CHARSET = re.compile(r"C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?")


def unescape(text: str, header: Header) -> str:
    """``text`` (a field as received) with HL7's escape sequences turned back into what they
    stand for, for people: ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` the message's own delimiters;
    a line break or space of formatted text (``\\.br\\``, ``\\.sp\\``, ``\\.sk\\``) one space,
    the other formatting and highlighting (``\\H\\ \\N\\``) and a character set switch
    nothing; hex bytes (``\\X1B\\``) their characters (UTF-8, else Latin-1). Anything else
    (``\\Zxx\\``, a lone escape character) stays as written. Control characters come out as
    they are: show the result through :func:`visible`."""
    encoding = header.encoding
    escape = encoding[2:3]
    if not escape or escape not in text:
        return text
    delimiters = {
        "F": header.separator,
        "S": encoding[0],
        "R": encoding[1],
        "E": escape,
        "T": encoding[3:4],
        "P": encoding[4:5],  # the truncation character (2.7)
    }
    out: list[str] = []
    at = 0
    while (start := text.find(escape, at)) != -1:
        end = text.find(escape, start + 1)
        if end == -1:
            break
        out.append(text[at:start])
        out.append(_escape_value(text[start + 1 : end], delimiters, text[start : end + 1]))
        at = end + 1
    out.append(text[at:])
    return "".join(out)


def _escape_value(code: str, delimiters: dict[str, str], written: str) -> str:
    """What one escape sequence (``code`` between the escape characters) stands for."""
    if code in ("H", "N"):  # highlighting on, off
        return ""
    if code in delimiters:  # a delimiter the message does not have stays as written
        return delimiters[code] or written
    if (formatting := _FORMATTING.fullmatch(code)) is not None:
        return " " if formatting.group(1) in ("br", "sp", "sk") else ""
    if (hex_bytes := _HEX.fullmatch(code)) is not None:
        data = bytes.fromhex(hex_bytes.group(1))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if _CHARSET.fullmatch(code):
        return ""
    return written


def _seconds_words(seconds: float) -> str:
    """A threshold as the config would write it: "250 ms", "1 s", "1.5 s"."""
    return f"{seconds * 1000:,.0f} ms" if seconds < 1 else f"{seconds:g} s"


def verdict_of(
    answer: bytes,
    metrics: dict[str, float],
    ack_warn: float = DEFAULT_ACK_WARN,
    sent: str = "",
) -> Result:
    """A link's result from the receiver's answer (``metrics`` has its ``ack_seconds``): an
    accept slower than ``ack_warn`` seconds is WARN, and so is one for another message than
    the control ID ``sent`` (MSA-2 not it: a receiver that answers from a queue or a cache)."""
    seconds = metrics["ack_seconds"]
    took = f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:,.0f} ms"
    try:
        read_header(answer)
    except HeaderError as exc:
        return Result(Status.CRIT, f"the answer is not an ACK: {exc}", metrics)
    code, text = ack_fields(answer)
    details: dict[str, Any] = {"ack": code}
    words = visible(text, 200)
    if code in ("AA", "CA"):
        answered = (read_msa(answer) or ("", "", ""))[1]
        if sent and answered and answered != sent:
            other = (
                f"{code} for another message (MSA-2 {visible(answered, 40)}, "
                f"sent {visible(sent, 40)})"
            )
            return Result(Status.WARN, other, metrics, details)
        if seconds > ack_warn:  # as source.over_threshold: over, not at
            slow = f"{code} in {took}, slower than {_seconds_words(ack_warn)}"
            return Result(Status.WARN, slow, metrics, details)
        return Result(Status.OK, f"{code} in {took}", metrics, details)
    if code in ("AE", "CE"):
        reason = f"{code}: {words or 'error, no reason given'}"
        return Result(Status.WARN, reason, metrics, details)
    if code in ("AR", "CR"):
        reason = f"{code}: {words or 'rejected, no reason given'}"
        return Result(Status.CRIT, reason, metrics, details)
    shown = visible(code, 8) or "none"
    return Result(Status.CRIT, f"the answer has no known ACK code (MSA-1: {shown})", metrics)
