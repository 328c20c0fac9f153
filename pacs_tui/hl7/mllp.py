"""MLLP framing read from a hostile peer: each message between a start block (VT, 0x0B) and an
end block (FS CR, 0x1C 0x0D), bounded in size and in time.

Hand-written rather than python-hl7's ``MLLPStreamReader.readblock``: that one drops a good
message that follows stray bytes (the whole block is refused for not starting with VT), clears
its buffer mid-frame on an oversized block and goes on reading the rest as a frame, and has no
deadline, so a peer that trickles one byte a second holds a connection for ever. Here stray
bytes are counted and skipped up to the next start block, a frame over the limit ends the
connection without being kept, a frame that does not complete within its deadline too, and a
start block inside a frame says the frame before it had lost its end.

:class:`Framer` is the one implementation, fed bytes as they come (the listener's protocol
feeds it from ``data_received``); :func:`frames` reads a stream through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pacs_tui.visible import visible

START = 0x0B
END = b"\x1c\r"
FS = 0x1C
_CR = 0x0D

#: Read size: a frame of 16 MiB arrives in 256 reads.
CHUNK = 65536
#: Stray bytes kept (the first of them) for a caller to say what came instead of MLLP.
JUNK_KEPT = 40
#: How long a client awaiting an answer gives bytes that are not MLLP to be followed by a
#: start block before it takes them as the answer (another protocol: the wrong port).
JUNK_GRACE = 0.5


@dataclass(frozen=True, slots=True)
class Frame:
    """One message as framed: its bytes without the blocks."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FramingProblem:
    """Something that is not a message: ``kind`` a short name for counting ("junk",
    "no_end_block", "too_large", "timeout", "truncated"), ``words`` what happened, ``fatal``
    whether the connection must end (the framing is lost or the peer misbehaves)."""

    kind: str
    words: str
    fatal: bool = False


class Framer:
    """The frames in the bytes of one connection, fed as they arrive.

    Between frames the peer may stay silent as long as it likes (senders keep connections open
    for hours); once a frame has started it must end within ``frame_timeout`` seconds
    (:attr:`deadline`, the caller's to watch) and ``max_frame`` bytes. Stray bytes before a
    start block are one "junk" problem, said before the frame that follows them. After a fatal
    problem the framer is :attr:`done` and takes nothing more.
    """

    def __init__(self, *, max_frame: int, frame_timeout: float) -> None:
        self.max_frame = max_frame
        self.frame_timeout = frame_timeout
        self.done = False
        self._buffer = bytearray()
        self._in_frame = False
        self._started = 0.0
        self._scanned = 0  # bytes of the frame so far already searched for FS and VT
        self._junk = 0
        #: The first :data:`JUNK_KEPT` (and one) stray bytes of the connection ("HTTP/1.1 400 …": a
        #: link check pointed at the wrong port says what answered).
        self.junk_head = b""
        self._skip_cr = False  # a frame ended on FS at the end of a read: its CR may come next

    @property
    def deadline(self) -> float | None:
        """When the frame under way must have ended (``time.monotonic()``), None between
        frames."""
        return self._started + self.frame_timeout if self._in_frame and not self.done else None

    def restart_deadline(self) -> None:
        """Give the frame under way a fresh deadline (its reading was paused by the reader)."""
        if self._in_frame:
            self._started = time.monotonic()

    def feed(self, chunk: bytes) -> list[Frame | FramingProblem]:
        """What ``chunk`` completes, in order; a fatal problem is last."""
        if self.done:
            return []
        buffer = self._buffer
        if self._skip_cr and chunk:
            self._skip_cr = False
            if chunk[0] == _CR:
                chunk = chunk[1:]
        if not (self._in_frame or buffer or self._junk) and chunk[:1] == b"\x0b":
            # The usual case, one whole message a read: no copy into the buffer.
            end = chunk.find(FS)
            whole = end + 2 == len(chunk) and chunk[end + 1] == _CR
            if whole and 0 < end <= self.max_frame + 1 and chunk.find(START, 1, end) < 0:
                return [Frame(chunk[1:end])]
        buffer += chunk
        out: list[Frame | FramingProblem] = []
        while True:
            if not self._in_frame:
                start = buffer.find(START)
                if start != 0 and len(self.junk_head) <= JUNK_KEPT:  # one more: "…" if cut
                    stray = buffer[: len(buffer) if start < 0 else start]
                    self.junk_head += bytes(stray[: JUNK_KEPT + 1 - len(self.junk_head)])
                self._junk += len(buffer) if start < 0 else start
                del buffer[: len(buffer) if start < 0 else start + 1]
                if start < 0:
                    if self._junk > self.max_frame:
                        return self._fatal(out, "junk", f"{self._junk:,} bytes with no start block")
                    return out
                if self._junk:
                    out.append(
                        FramingProblem(
                            "junk", f"{self._junk:,} bytes before a start block: skipped"
                        )
                    )
                    self._junk = 0
                self._in_frame, self._started, self._scanned = True, time.monotonic(), 0
            end = buffer.find(FS, self._scanned)
            again = buffer.find(START, self._scanned, len(buffer) if end < 0 else end)
            if again >= 0:
                # A new start block before this frame's end: the end was lost.
                out.append(
                    FramingProblem("no_end_block", f"a message of {again:,} bytes had no end block")
                )
                del buffer[: again + 1]
                self._started, self._scanned = time.monotonic(), 0
                continue
            if end < 0:
                if len(buffer) > self.max_frame:
                    return self._fatal(out, "too_large", _too_large(len(buffer), self.max_frame))
                self._scanned = len(buffer)
                return out
            if end > self.max_frame:
                return self._fatal(out, "too_large", _too_large(end, self.max_frame))
            data = bytes(buffer[:end])
            followed = end + 1 < len(buffer)
            # FS is followed by CR in the standard; any other byte starts what follows.
            cr = followed and buffer[end + 1] == _CR
            del buffer[: end + (2 if cr else 1)]
            self._in_frame = False
            out.append(Frame(data))
            if not followed:
                self._skip_cr = True
                return out

    def timed_out(self) -> FramingProblem:
        """The frame under way missed its deadline: the fatal problem that says so."""
        self.done = True
        return FramingProblem(
            "timeout",
            f"a message still incomplete after {self.frame_timeout:g} s "
            f"({len(self._buffer):,} bytes so far)",
            fatal=True,
        )

    def eof(self) -> list[FramingProblem]:
        """The connection ended: what was left unfinished, if anything."""
        if self.done:
            return []
        self.done = True
        if self._in_frame:
            size = len(self._buffer)
            return [
                FramingProblem("truncated", f"the connection closed {size:,} bytes into a message")
            ]
        if self._junk:
            return [
                FramingProblem("junk", f"{self._junk:,} bytes with no start block before the end")
            ]
        return []

    def _fatal(
        self, out: list[Frame | FramingProblem], kind: str, words: str
    ) -> list[Frame | FramingProblem]:
        self.done = True
        self._buffer.clear()
        out.append(FramingProblem(kind, words, fatal=True))
        return out


async def frames(
    reader: asyncio.StreamReader,
    *,
    max_frame: int,
    frame_timeout: float,
    framer: Framer | None = None,
    junk_grace: float | None = None,
) -> AsyncIterator[Frame | FramingProblem]:
    """The frames of one connection read through a :class:`Framer` (``framer``, when the
    caller wants to ask it afterwards what came), and what came between them, until it ends
    (EOF) or a fatal problem (yielded last). With ``junk_grace`` (a client awaiting one
    answer), bytes that are not MLLP and no start block after them within that many seconds
    are a fatal "not_mllp": the peer has answered, in another protocol, and waiting longer
    for an ACK would only wait out the timeout."""
    framer = framer or Framer(max_frame=max_frame, frame_timeout=frame_timeout)
    while True:
        # Without a deadline between frames, within the frame's own in one.
        deadline = framer.deadline
        try:
            if deadline is None and junk_grace is not None and framer.junk_head:
                try:
                    chunk = await asyncio.wait_for(reader.read(CHUNK), junk_grace)
                except TimeoutError:
                    yield FramingProblem("not_mllp", not_mllp(framer).removeprefix(": "), True)
                    return
            elif deadline is None:
                chunk = await reader.read(CHUNK)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(reader.read(CHUNK), left)
        except TimeoutError:
            yield framer.timed_out()
            return
        for item in framer.feed(chunk) if chunk else framer.eof():
            yield item
        if not chunk or framer.done:
            return


def _too_large(size: int, limit: int) -> str:
    return f"a message over {limit:,} bytes ({size:,} so far): not kept"


def not_mllp(framer: Framer) -> str:
    """What a peer that should answer in MLLP sent instead, as words to add to a reason (""
    when nothing stray came): ": it answered 'HTTP/1.1 400 Bad Request…', not MLLP (the wrong
    port?)"."""
    if not framer.junk_head:
        return ""
    # Here, not at the top: importing pacs_tui.probes from hl7/ at load time loops back here
    # through the source registry.
    from pacs_tui.probes.dicom_conduct import PDU_NAMES

    first = framer.junk_head
    pdu = PDU_NAMES.get(first[0])
    if pdu is not None and first[1:2] == b"\0" and len(first) >= 6:  # type, 0, a length
        return f": it answered with a DICOM {pdu}, not MLLP (a DICOM port, not an HL7 one?)"
    head = first.decode("latin-1")
    return f": it answered {visible(head, JUNK_KEPT)!r}, not MLLP (the wrong port?)"
