"""MLLP framing read from a hostile peer: each message between a start block (VT, 0x0B) and an
end block (FS CR, 0x1C 0x0D), bounded in size and in time.

Hand-written rather than python-hl7's ``MLLPStreamReader.readblock``: that one drops a good
message that follows stray bytes (the whole block is refused for not starting with VT), clears
its buffer mid-frame on an oversized block and goes on reading the rest as a frame, and has no
deadline, so a peer that trickles one byte a second holds a connection for ever. Here stray
bytes are counted and skipped up to the next start block, a frame over the limit ends the
connection without being kept, a frame that does not complete within its deadline too, and a
start block inside a frame says the frame before it had lost its end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

START = 0x0B
END = b"\x1c\r"
FS = 0x1C

#: Read size: a frame of 16 MiB arrives in 256 reads.
CHUNK = 65536


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


async def frames(
    reader: asyncio.StreamReader, *, max_frame: int, frame_timeout: float
) -> AsyncIterator[Frame | FramingProblem]:
    """The frames of one connection, and what came between them, until it ends (EOF) or a
    fatal problem (yielded last).

    Between frames the peer may stay silent as long as it likes (senders keep connections open
    for hours); once a frame has started it must end within ``frame_timeout`` seconds and
    ``max_frame`` bytes. Stray bytes before a start block are one "junk" problem, said before
    the frame that follows them.
    """
    buffer = bytearray()
    in_frame = False
    started = 0.0
    junk = 0
    skip_cr = False  # a frame ended on FS at the end of a read: its CR may come next
    while True:
        if skip_cr and buffer:
            if buffer[0] == END[1]:
                del buffer[:1]
            skip_cr = False
        if not in_frame:
            start = buffer.find(START)
            junk += len(buffer) if start < 0 else start
            del buffer[: len(buffer) if start < 0 else start + 1]
            if start >= 0:
                if junk:
                    yield FramingProblem("junk", f"{junk:,} bytes before a start block: skipped")
                    junk = 0
                in_frame, started = True, time.monotonic()
        if in_frame:
            end = buffer.find(FS)
            again = buffer.find(START)
            if again >= 0 and (end < 0 or again < end):
                # A new start block before this frame's end: the end was lost.
                yield FramingProblem(
                    "no_end_block", f"a message of {again:,} bytes had no end block"
                )
                del buffer[: again + 1]
                started = time.monotonic()
                continue
            if end >= 0:
                data = bytes(buffer[:end])
                followed = end + 1 < len(buffer)
                # FS is followed by CR in the standard; any other byte starts what follows.
                cr = followed and buffer[end + 1] == END[1]
                del buffer[: end + (2 if cr else 1)]
                skip_cr = not followed
                in_frame = False
                if len(data) > max_frame:
                    yield FramingProblem("too_large", _too_large(len(data), max_frame), True)
                    return
                yield Frame(data)
                continue
            if len(buffer) > max_frame:
                yield FramingProblem("too_large", _too_large(len(buffer), max_frame), True)
                return
        elif junk > max_frame:
            yield FramingProblem("junk", f"{junk:,} bytes with no start block", fatal=True)
            return
        # Read more: without a deadline between frames, within the frame's own in one.
        try:
            if in_frame:
                left = started + frame_timeout - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                chunk = await asyncio.wait_for(reader.read(CHUNK), left)
            else:
                chunk = await reader.read(CHUNK)
        except TimeoutError:
            yield FramingProblem(
                "timeout",
                f"a message still incomplete after {frame_timeout:g} s "
                f"({len(buffer):,} bytes so far)",
                fatal=True,
            )
            return
        if not chunk:
            if in_frame:
                yield FramingProblem(
                    "truncated", f"the connection closed {len(buffer):,} bytes into a message"
                )
            elif junk:
                yield FramingProblem("junk", f"{junk:,} bytes with no start block before the end")
            return
        buffer += chunk


def _too_large(size: int, limit: int) -> str:
    return f"a message over {limit:,} bytes ({size:,} so far): not kept"
