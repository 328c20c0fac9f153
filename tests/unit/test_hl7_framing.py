"""MLLP framing from hostile peers: stray bytes, lost end blocks, oversized frames, tricklers,
cut connections; and a fuzzer that finds no input that makes the reader raise or hang."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from pacs_tui.hl7.mllp import Frame, Framer, FramingProblem, frames, not_mllp

VT, END = b"\x0b", b"\x1c\r"
MSG = b"MSH|^~\\&|HIS|WARD|RIS|RAD|20261201120000||ADT^A01|MSG0001|P|2.5\rEVN|A01\r"


async def read_all(
    data: bytes, *, max_frame: int = 1 << 20, timeout: float = 5.0
) -> list[Frame | FramingProblem]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return [item async for item in frames(reader, max_frame=max_frame, frame_timeout=timeout)]


def kinds(items: list[Frame | FramingProblem]) -> list[str]:
    return ["frame" if isinstance(i, Frame) else i.kind for i in items]


async def test_frames_come_whole_whatever_the_reads() -> None:
    reader = asyncio.StreamReader()
    stream = (VT + MSG + END) * 3
    for i in range(0, len(stream), 7):  # cut anywhere, even between FS and CR
        reader.feed_data(stream[i : i + 7])
    reader.feed_eof()
    got = [i async for i in frames(reader, max_frame=4096, frame_timeout=5)]
    assert got == [Frame(MSG)] * 3


async def test_stray_bytes_are_skipped_and_the_message_after_them_kept() -> None:
    got = await read_all(b"GET / HTTP/1.1\r\n\r\n" + VT + MSG + END + b"\r\n")
    assert kinds(got) == ["junk", "frame", "junk"]
    assert isinstance(got[0], FramingProblem) and "18 bytes before a start block" in got[0].words
    assert got[1] == Frame(MSG)


async def test_a_start_block_inside_a_frame_says_the_end_was_lost() -> None:
    got = await read_all(VT + MSG[:40] + VT + MSG + END)
    assert kinds(got) == ["no_end_block", "frame"]
    assert got[1] == Frame(MSG)


async def test_a_frame_over_the_limit_ends_the_connection_unkept() -> None:
    big = VT + b"MSH|^~\\&|" + b"X" * 5000 + END + VT + MSG + END
    got = await read_all(big, max_frame=4096)
    assert kinds(got) == ["too_large"]
    assert isinstance(got[0], FramingProblem) and got[0].fatal
    assert "over 4,096 bytes" in got[0].words


async def test_endless_junk_ends_the_connection() -> None:
    got = await read_all(b"\x00" * 10_000, max_frame=4096)
    assert kinds(got) == ["junk"] and isinstance(got[0], FramingProblem) and got[0].fatal


async def test_a_peer_that_trickles_a_frame_is_cut_off_at_the_deadline() -> None:
    reader = asyncio.StreamReader()

    async def trickle() -> None:
        reader.feed_data(VT)
        for byte in MSG:
            reader.feed_data(bytes([byte]))
            await asyncio.sleep(0.02)

    feeding = asyncio.create_task(trickle())
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = [i async for i in frames(reader, max_frame=4096, frame_timeout=0.3)]
    feeding.cancel()
    assert kinds(got) == ["timeout"]
    assert loop.time() - started < 2.0
    assert isinstance(got[0], FramingProblem) and "still incomplete after 0.3 s" in got[0].words


async def test_silence_between_frames_is_allowed() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(VT + MSG + END)

    async def later() -> None:
        await asyncio.sleep(0.5)  # longer than the frame deadline, but between frames
        reader.feed_data(VT + MSG + END)
        reader.feed_eof()

    feeding = asyncio.create_task(later())
    got = [i async for i in frames(reader, max_frame=4096, frame_timeout=0.2)]
    await feeding
    assert got == [Frame(MSG), Frame(MSG)]


async def test_a_connection_cut_inside_a_frame_is_said() -> None:
    got = await read_all(VT + MSG[:30])
    assert kinds(got) == ["truncated"]


async def test_an_end_block_without_its_cr_still_ends_the_frame() -> None:
    got = await read_all(VT + MSG + b"\x1c" + VT + MSG + END)
    assert got == [Frame(MSG), Frame(MSG)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=64), st.sampled_from([VT, END, b"\x1c", MSG]))))
def test_no_input_makes_the_framing_raise_or_hang(parts: list[bytes]) -> None:
    data = b"".join(parts)
    got = asyncio.run(asyncio.wait_for(read_all(data, max_frame=256, timeout=1.0), 5.0))
    # Everything is a frame within the limit or a named problem; at most one fatal, last.
    for item in got:
        assert isinstance(item, (Frame, FramingProblem))
        if isinstance(item, Frame):
            assert len(item.data) <= 256 and b"\x0b" not in item.data
    assert all(not i.fatal for i in got[:-1] if isinstance(i, FramingProblem))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=64), st.sampled_from([VT, END, b"\x1c", VT + MSG + END]))
    ),
    st.lists(st.integers(min_value=1, max_value=80), min_size=1),
)
def test_the_framer_finds_the_same_whatever_the_reads(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    # A limit no input here reaches: over it, what was read so far decides (as it must).
    whole = Framer(max_frame=1 << 20, frame_timeout=60)
    expected: list[Frame | FramingProblem] = [*whole.feed(data), *whole.eof()]
    framer, at = Framer(max_frame=1 << 20, frame_timeout=60), 0
    got: list[Frame | FramingProblem] = []
    for n in cuts * (len(data) // sum(cuts) + 1):
        if at >= len(data):
            break
        got += framer.feed(data[at : at + n])
        at += n
    got += framer.eof()

    def what(items: list[Frame | FramingProblem]) -> list[object]:
        # A problem's words may count the bytes read so far: its kind is what must agree.
        return [i if isinstance(i, Frame) else (i.kind, i.fatal) for i in items]

    assert what(got) == what(expected)


def test_what_came_instead_of_mllp_is_kept_bounded_for_the_words() -> None:
    framer = Framer(max_frame=4 * 1024 * 1024, frame_timeout=5.0)
    for _ in range(64):
        framer.feed(b"HTTP/1.1 400 Bad Request\r\n" + b"x" * 16384)
    assert framer.junk_head == b"HTTP/1.1 400 Bad Request\r\n" + b"x" * 15  # 41 bytes, no more
    assert not_mllp(framer) == (
        ": it answered 'HTTP/1.1 400 Bad Request␍␊xxxxxxxxxxxxx…', not MLLP (the wrong port?)"
    )
    clean = Framer(max_frame=1024, frame_timeout=5.0)
    clean.feed(b"\x0bMSH|^~\\&|A\x1c\r")
    assert clean.junk_head == b"" and not_mllp(clean) == ""
