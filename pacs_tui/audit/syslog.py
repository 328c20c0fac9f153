"""Syslog as audit senders write it: the RFC 5424 or RFC 3164 header of one message
(:func:`parse_syslog`) and the RFC 6587 framing of a TCP or TLS stream (:class:`SyslogFramer`).

Both are fed by a hostile peer: nothing here raises on bad bytes, and the work done is bounded by
the bytes given, never more (no regular expression, a header looked for in the first 2 KiB only).
"""

from __future__ import annotations

from dataclasses import dataclass

#: How far into a message its header is looked for; what follows is body, never scanned.
HEADER_SCAN = 2048
#: Header fields are cut to this many characters (RFC 5424's longest, HOSTNAME, is 255).
FIELD_LIMIT = 256
#: The framings :class:`SyslogFramer` takes.
FRAMINGS = ("auto", "octet-counting", "newline")

_BOM = b"\xef\xbb\xbf"
_MONTHS = frozenset(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
_SP, _LF, _NUL, _CR = 0x20, 0x0A, 0x00, 0x0D
_QUOTE, _BACKSLASH, _OPEN, _CLOSE = 0x22, 0x5C, 0x5B, 0x5D
_MAX_PRI = 191
# RFC 3164 allows a TAG of 32 characters; a little more for senders that go over it.
_TAG_SCAN = 48
_PROCID_SCAN = 130
# MSG-LEN digits (RFC 6587): ten take a count up to 9,999,999,999, past any sane max_size.
_MAX_DIGITS = 10


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """One syslog message. Header fields are text as sent, "" where absent or RFC 5424's NILVALUE
    "-"; ``format`` is "rfc5424", "rfc3164" or "none" (no PRI: ``body`` is all of the data)."""

    facility: int | None
    severity: int | None
    timestamp: str
    host: str
    app: str
    procid: str
    msgid: str
    format: str
    body: bytes


def parse_syslog(data: bytes) -> SyslogMessage:
    """The header fields and the MSG of one syslog message; never raises."""
    pri, start = _pri(data)
    if pri is None:
        return SyslogMessage(None, None, "", "", "", "", "", "none", data)
    cursor = _Cursor(data, start)
    if cursor.version():
        return _rfc5424(cursor, pri)
    return _rfc3164(cursor, pri)


def _pri(data: bytes) -> tuple[int | None, int]:
    """PRI's value (0 to 191) and where the header goes on; None without a PRI."""
    if data[:1] != b"<":
        return None, 0
    end = data.find(b">", 1, 5)
    digits = data[1:end]
    if end < 0 or not digits.isdigit() or int(digits) > _MAX_PRI:
        return None, 0
    return int(digits), end + 1


class _Cursor:
    """Reads a message's header, field by field, within its first :data:`HEADER_SCAN` bytes."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.head = data[:HEADER_SCAN]
        self.pos = pos
        # The header did not end within the bytes scanned: the rest is left to the body.
        self.stuck = False

    def version(self) -> bool:
        """Step over RFC 5424's VERSION and its space if there is one (1 to 3 digits)."""
        head, pos = self.head, self.pos
        end = pos
        while end < len(head) and end - pos < 3 and head[end : end + 1].isdigit():
            end += 1
        if end == pos or head[pos] == ord("0") or head[end : end + 1] != b" ":
            return False
        self.pos = end + 1
        return True

    def peek(self) -> bytes:
        """The word (up to the next space) at the cursor, not stepped over."""
        end = self.head.find(b" ", self.pos)
        return self.head[self.pos : len(self.head) if end < 0 else end]

    def word(self) -> str:
        """The word at the cursor, stepped over with its space; "" once the header is over."""
        if self.stuck or self.pos >= len(self.data):
            return ""
        end = self.head.find(b" ", self.pos)
        if end < 0:
            if len(self.head) < len(self.data):
                self.stuck = True
                return ""
            end = len(self.data)
        word = self.head[self.pos : end]
        self.pos = end + 1
        return _text(word)

    def skip_space(self) -> None:
        if self.head[self.pos : self.pos + 1] == b" ":
            self.pos += 1

    def body(self) -> bytes:
        return self.data[self.pos :]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:FIELD_LIMIT]


def _nil(text: str) -> str:
    return "" if text == "-" else text


def _rfc5424(cursor: _Cursor, pri: int) -> SyslogMessage:
    """TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG], after VERSION."""
    timestamp, host, app, procid, msgid = (_nil(cursor.word()) for _ in range(5))
    if not cursor.stuck:
        _skip_structured_data(cursor)
    body = cursor.body()
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    return SyslogMessage(pri >> 3, pri & 7, timestamp, host, app, procid, msgid, "rfc5424", body)


def _skip_structured_data(cursor: _Cursor) -> None:
    """Step over "-" or the SD-ELEMENTs and the space after them. Anything else (a sender that
    leaves STRUCTURED-DATA out, an element not closed within the scan) is left to the body."""
    head, pos = cursor.head, cursor.pos
    if head[pos : pos + 1] == b"-":
        end = pos + 1
    elif head[pos : pos + 1] == b"[":
        end = _sd_end(head, pos)
    else:
        return
    if end < 0 or (end < len(head) and head[end] != _SP):
        return
    cursor.pos = end
    cursor.skip_space()


def _sd_end(head: bytes, start: int) -> int:
    """Where the SD-ELEMENTs from ``start`` (a "[") end; -1 when one is not closed within
    ``head``. Inside a PARAM-VALUE's quotes, ``\\"``, ``\\]`` and ``\\\\`` are escapes."""
    i, size = start, len(head)
    while i < size and head[i] == _OPEN:
        i += 1
        quoted = False
        while i < size:
            byte = head[i]
            if quoted and byte == _BACKSLASH:
                i += 2
                continue
            if byte == _QUOTE:
                quoted = not quoted
            elif byte == _CLOSE and not quoted:
                break
            i += 1
        else:
            return -1
        i += 1
    return i


def _rfc3164(cursor: _Cursor, pri: int) -> SyslogMessage:
    """[TIMESTAMP HOSTNAME] [TAG[\\[PID\\]]: ]MSG, loosely, as RFC 3164 describes what is sent."""
    timestamp = _bsd_timestamp(cursor)
    host = app = procid = ""
    if timestamp:
        word = cursor.peek()
        # A sender that leaves out HOSTNAME (some do) goes on with its TAG.
        if not (word.endswith(b":") or b"[" in word):
            host = cursor.word()
        app, procid = _tag(cursor)
    facility, severity = pri >> 3, pri & 7
    return SyslogMessage(
        facility, severity, timestamp, host, app, procid, "", "rfc3164", cursor.body()
    )


def _bsd_timestamp(cursor: _Cursor) -> str:
    """RFC 3164's "Mmm dd hh:mm:ss" (or, as some relays send, an ISO 8601 one) stepped over;
    "" when the message has none (RFC 3164 4.3.3: then all of it is the MSG)."""
    head, pos = cursor.head, cursor.pos
    stamp = head[pos : pos + 15]
    if _is_bsd_time(stamp):
        cursor.pos = pos + 15
        # What follows the seconds up to a space (".123", a year) belongs to the timestamp.
        return (_text(stamp) + cursor.word())[:FIELD_LIMIT]
    if head[pos : pos + 4].isdigit() and head[pos + 4 : pos + 5] == b"-":
        return cursor.word()
    return ""


def _is_bsd_time(stamp: bytes) -> bool:
    day, clock = stamp[4:6], stamp[7:15]
    return (
        len(stamp) == 15
        and stamp[:3] in _MONTHS
        and stamp[3] == _SP
        and stamp[6] == _SP
        and day.strip().isdigit()
        and clock[2:3] == clock[5:6] == b":"
        and (clock[:2] + clock[3:5] + clock[6:]).isdigit()
    )


def _tag(cursor: _Cursor) -> tuple[str, str]:
    """TAG and its "[PID]" and the ": " after them, stepped over; ("", "") when the MSG does not
    start with a TAG (a space, or nothing to end one, within the first 48 bytes)."""
    head, pos = cursor.head, cursor.pos
    window = head[pos : pos + _TAG_SCAN]
    end = next((i for i, byte in enumerate(window) if byte in b":[ "), -1)
    if end <= 0 or window[end] == _SP:
        return "", ""
    app, procid, after = _text(window[:end]), "", pos + end
    if window[end] == _OPEN:
        close = head.find(b"]", after, after + _PROCID_SCAN)
        if close < 0 or head[close + 1 : close + 2] != b":":
            return "", ""
        procid, after = _text(head[after + 1 : close]), close + 1
    cursor.pos = after + 1
    cursor.skip_space()
    return app, procid


@dataclass(frozen=True, slots=True)
class FrameProblem:
    """Something in a stream that is not a message: ``kind`` a short name for counting
    ("too_large": over ``max_size``, fatal when octet-counted, skipped when newline-framed;
    "bad_length", "framing", "truncated"), ``words`` what happened (never the bytes), ``fatal``
    whether the connection must end (its framing is lost)."""

    kind: str
    words: str
    fatal: bool = False


class SyslogFramer:
    """The messages in the bytes of one TCP or TLS connection, fed as they arrive (RFC 6587).

    ``framing`` "octet-counting" takes ``LEN SP MSG`` frames, "newline" messages ended by LF (or
    NUL; a CR before the LF is dropped), "auto" decides each frame by its first byte, a digit for
    octet counting (RFC 6587 3.4). Empty lines between frames are skipped. No more than
    ``max_size + 16`` bytes are kept between calls, and each byte is searched once. After a fatal
    problem the framer is :attr:`done` and takes nothing more.
    """

    def __init__(self, *, max_size: int, framing: str = "auto") -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"framing {framing!r} is not one of {', '.join(FRAMINGS)}")
        if max_size < 1:
            raise ValueError(f"max_size {max_size} is not a positive number of bytes")
        self.max_size = max_size
        self.framing = framing
        self.done = False
        #: Newline-framed messages over ``max_size``, skipped.
        self.skipped = 0
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the newline-framed message under way already searched
        self._skipping = False  # in a newline-framed message over max_size: drop to its end

    @property
    def buffered(self) -> int:
        """Bytes kept for the message under way."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes | FrameProblem]:
        """The messages ``chunk`` completes and the problems met, in order; a fatal one last."""
        if self.done:
            return []
        self._buffer += chunk
        out: list[bytes | FrameProblem] = []
        pos = 0  # where the message under way starts
        while pos < len(self._buffer) and not self.done:
            step = self._next(pos, out)
            if step is None:
                break
            pos = step
        if self.done:
            self._buffer.clear()
        else:
            # Compacted once a call: the bytes of the message under way move to the front.
            del self._buffer[:pos]
        return out

    def eof(self) -> list[FrameProblem]:
        """The connection ended: a message it cut short, if any ("truncated")."""
        if self.done:
            return []
        self.done = True
        left = len(self._buffer)
        self._buffer.clear()
        if not left:
            return []
        return [FrameProblem("truncated", f"the connection closed {left:,} bytes into a message")]

    def _next(self, pos: int, out: list[bytes | FrameProblem]) -> int | None:
        """Read what starts at ``pos``: where the next thing starts, None to wait for bytes."""
        if self._skipping:
            return self._skip(pos)
        first = self._buffer[pos]
        if first in (_LF, _NUL):
            return pos + 1
        octets = 0x30 <= first <= 0x39
        if octets and self.framing == "newline":
            self._fatal(out, "framing", "an octet-counted message on a newline-framed link")
            return None
        if not octets and self.framing == "octet-counting":
            self._fatal(out, "framing", "a message without an octet count (octet counting)")
            return None
        return self._octet_counted(pos, out) if octets else self._newline(pos, out)

    def _octet_counted(self, pos: int, out: list[bytes | FrameProblem]) -> int | None:
        buffer = self._buffer
        limit = min(len(buffer), pos + _MAX_DIGITS + 1)
        space = buffer.find(b" ", pos, limit)
        digits = buffer[pos : limit if space < 0 else space]
        if not digits.isdigit():
            self._fatal(out, "bad_length", "an octet count that is not a number")
            return None
        if space < 0:
            if len(digits) > _MAX_DIGITS:
                self._fatal(out, "bad_length", f"an octet count of over {_MAX_DIGITS} digits")
            return None
        size = int(digits)
        if size > self.max_size:
            words = f"an octet count of {size:,} bytes, over the {self.max_size:,}-byte limit"
            self._fatal(out, "too_large", words)
            return None
        end = space + 1 + size
        if end > len(buffer):
            return None
        if size:
            out.append(bytes(buffer[space + 1 : end]))
        return end

    def _newline(self, pos: int, out: list[bytes | FrameProblem]) -> int | None:
        buffer = self._buffer
        # The message, a CR and the trailer: past that without a trailer it is over the limit.
        window = min(len(buffer), pos + self.max_size + 2)
        end = _trailer(buffer, pos + self._scanned, window)
        if end < 0:
            if window - pos < self.max_size + 2:
                self._scanned = window - pos
                return None
            self._scanned = 0
            self._skipping = True
            out.append(self._oversized())
            return window
        self._scanned = 0
        message = bytes(buffer[pos : end - 1 if buffer[end - 1] == _CR else end])
        if len(message) > self.max_size:
            out.append(self._oversized())
        elif message:
            out.append(message)
        return end + 1

    def _skip(self, pos: int) -> int:
        end = _trailer(self._buffer, pos, len(self._buffer))
        if end < 0:
            return len(self._buffer)
        self._skipping = False
        return end + 1

    def _oversized(self) -> FrameProblem:
        self.skipped += 1
        words = f"a newline-framed message over the {self.max_size:,}-byte limit: skipped"
        return FrameProblem("too_large", words)

    def _fatal(self, out: list[bytes | FrameProblem], kind: str, words: str) -> None:
        self.done = True
        out.append(FrameProblem(kind, words, fatal=True))


def _trailer(buffer: bytearray, start: int, stop: int) -> int:
    """The first LF or NUL in ``buffer[start:stop]``, -1 if none; NUL is only looked for
    before the LF, so each byte is searched once."""
    lf = buffer.find(b"\n", start, stop)
    nul = buffer.find(b"\0", start, stop if lf < 0 else lf)
    return lf if nul < 0 else nul
