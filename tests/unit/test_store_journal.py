"""The message journal: rows a listener acknowledged are durable when ``commit_messages``
returns — a process killed before the next flush leaves them in the journal, and the next
open puts them in the table — and the journal holds only what the table does not have yet."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pacs_tui.model import LoggedMessage
from pacs_tui.store import Store, StoreError
from pacs_tui.store import journal as journal_module
from pacs_tui.store.journal import journal_files, read_journal

T0 = 1_700_006_400.0

#: Commits two rows, then dies by SIGKILL before any flush could write them to the table.
CRASH = """
import asyncio, os, signal, sys
from pacs_tui.model import LoggedMessage
from pacs_tui.store import Store

async def main() -> None:
    store = await Store.open(sys.argv[1], flush_interval=3600, retention_interval=None)
    for n in range(2):
        store.commit_messages(
            [LoggedMessage(1_700_006_400.0 + n, "his", "in", "ADT^A01", f"K{n}", "AA", None, 99)]
        )
    print("acked", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def table(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT control_id, ack FROM messages ORDER BY ts").fetchall()


def row(n: int) -> LoggedMessage:
    return LoggedMessage(T0 + n, "his", "in", "ADT^A01", f"C{n}", "AA", 0.001, 120)


def test_rows_committed_before_a_kill_are_in_the_table_after_the_next_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(path)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL and done.stdout == b"acked\n"
    assert table(path) == []  # not flushed: only the journal has them
    assert len(journal_files(path)) == 1

    async def reopen() -> None:
        async with Store(path, retention_interval=None) as s:
            assert [m.control_id for m in await s.messages()] == ["K1", "K0"]

    asyncio.run(reopen())
    assert table(path) == [("K0", "AA"), ("K1", "AA")]
    assert journal_files(path) == []  # closed with everything in the table


async def test_a_flush_empties_the_journal_and_a_replay_adds_no_row_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None, flush_interval=3600) as s:
        s.commit_messages([row(0), row(1)])
        (first,) = journal_files(path)
        assert first[1].read_bytes().count(b"\n") == 2
        assert stat_mode(first[1]) == 0o600
        await s.flush()
        assert table(path) == [("C0", "AA"), ("C1", "AA")]
        assert [g for g, _ in journal_files(path)] == [first[0] + 1]  # a new, empty one
        s.commit_messages([row(2)])
        # A crash between a commit and the journal's removal: rows in both.
        kept = path.with_name(path.name + ".messages-000099")
        kept.write_bytes(journal_line(0, old="0.4") + journal_line(2) + b'[1,"cut sh')
        kept.chmod(0o600)
    async with Store(path, retention_interval=None) as s:
        assert [m.control_id for m in await s.messages()] == ["C2", "C1", "C0"]
    assert journal_files(path) == []


async def test_the_journal_is_bounded_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "JOURNAL_LIMIT", 600)  # 5 rows, not 10
    async with Store(tmp_path / "h.sqlite", retention_interval=None, flush_interval=3600) as s:
        s.commit_messages([row(n) for n in range(5)])
        with pytest.raises(StoreError, match="not accepting more"):
            s.commit_messages([row(n) for n in range(5, 10)])
        await s.flush()  # the table took them: room again
        s.commit_messages([row(n) for n in range(5, 10)])


async def test_a_link_in_place_of_a_journal_file_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None):
        pass
    target = tmp_path / "elsewhere"
    target.write_bytes(journal_line(7))
    os.symlink(target, path.with_name(path.name + ".messages-000005"))
    async with Store(path, retention_interval=None) as s:
        assert await s.messages() == []  # not read through the link
        s.commit_messages([row(1)])
    assert target.read_bytes() == journal_line(7)  # nor written


def journal_line(n: int, *, old: str = "") -> bytes:
    """A journal line as commit_messages writes it (``old="json"``: as 0.5 wrote it, a JSON
    array; ``old="0.4"``: as 0.4's first journal did, before the patient column)."""
    if old:
        patient = "" if old == "0.4" else ',""'
        return (
            f'[{round((T0 + n) * 1000)},"his","in","ADT^A01","C{n}","AA",0.001,120,'
            f'"","","","","",""{patient}]\n'
        ).encode()
    fields = (round((T0 + n) * 1000), "his", "in", "ADT^A01", f"C{n}", "AA", 0.001, 120)
    return (ascii(fields + ("",) * 7) + "\n").encode()


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_acknowledged_rows_are_never_dropped_when_the_history_cannot_take_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None, flush_interval=3600, max_pending=5) as s:
        s.commit_messages([row(n) for n in range(5)])
        with pytest.raises(StoreError, match="not accepting more"):
            s.commit_messages([row(5)])  # refused (the sender gets AE), none dropped

        monkeypatch.setattr(s, "_transaction", lambda: _Failing())
        with pytest.raises(Exception, match="disk I/O error"):
            await s.flush()
        monkeypatch.undo()
        assert s.pending == 5  # back in the queue, whole
        await s.flush()
    assert [c for c, _ in table(path)] == [f"C{n}" for n in range(5)]


class _Failing:
    async def __aenter__(self) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async def __aexit__(self, *_: object) -> None:
        return None


async def test_a_write_that_fails_partway_leaves_no_cut_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.sqlite"
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            real_write(fd, bytes(data)[:10])
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    async with Store(path, retention_interval=None, flush_interval=3600) as s:
        s.commit_messages([row(0)])
        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(StoreError, match="No space left"):
            s.commit_messages([row(1)])
        s.commit_messages([row(2)])  # after the failed one, on a whole line
        monkeypatch.undo()
        (file,) = [f for _, f in journal_files(path)]
        assert file.read_bytes() == journal_line(0) + journal_line(2)


async def test_a_journal_file_that_cannot_be_read_is_left_for_the_next_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None):
        pass
    locked = path.with_name(path.name + ".messages-000003")
    os.mkfifo(locked, 0o600)  # not a regular file: refused, not read (nor waited on)
    async with Store(path, retention_interval=None) as s:
        s.commit_messages([row(1)])
        await s.flush()
    assert locked.exists()  # neither read nor removed


async def test_a_row_read_back_from_the_journal_is_the_row_written(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    odd = "line\nbreak\r\x00\x1b[31m é ü 漢 🏥 ' \" \\ \u2028"
    written = LoggedMessage(
        T0, "his", "in", "ADT^A01", odd, None, None, 7, odd, "", odd, "2.5", "", "", "#00ff"
    )
    async with Store(path, retention_interval=None, flush_interval=3600) as s:
        s.commit_messages([written, row(1)])
        ((_, file),) = journal_files(path)
        text = file.read_bytes()
        assert text.isascii() and text.count(b"\n") == 2  # one line a row, whatever they hold
        (rows,), bad, _, _ = read_journal(path)
        assert bad == 0
        assert rows[0] == (round(T0 * 1000), "his", "in", "ADT^A01", odd, None, None, 7, odd, "",
                           odd, "2.5", "", "", "#00ff")  # fmt: skip
        assert rows[1][4] == "C1"


async def test_lines_that_are_not_rows_are_skipped_and_nothing_in_them_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None):
        pass
    ran = tmp_path / "ran"
    hostile = [
        f"(__import__('pathlib').Path({str(ran)!r}).touch(),)".encode(),  # a call: not a literal
        b"(" * 100_000 + b")" * 100_000,  # nested past the parser's depth
        b"(" + b"'x', " * 300_000 + b")",  # longer than any row
        b"('not', 'a', 'row')",  # a tuple, the wrong length
        b"(" + b"1, " * 15 + b")",  # the right length, the wrong types
        b"('abcdefghijklmno')",  # a string of 15 characters, not a tuple of 15
        b"(1 if True else 2,)",  # an expression
    ]
    file = path.with_name(path.name + ".messages-000004")
    file.write_bytes(b"\n".join(hostile) + b"\n" + journal_line(3))
    file.chmod(0o600)
    (rows,), bad, _, _ = read_journal(path)
    assert bad == len(hostile) and [r[4] for r in rows] == ["C3"]
    async with Store(path, retention_interval=None) as s:
        assert [m.control_id for m in await s.messages()] == ["C3"]
    assert not ran.exists()
