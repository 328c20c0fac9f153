"""The message log's journal: rows appended to a file beside the history before a listener
acknowledges them, written into the history's table by the next flush, replayed when the
history is opened after a crash.

Why: an HL7 listener answers a message only once its row is durable. A SQLite commit per
message (WAL, ``synchronous=NORMAL``: no fsync either) costs ~65 µs of page writes, and the trip
to aiosqlite's thread and back as much again: the listener answered ~2,400 messages a second
against ~10,000 for a bare MLLP server. One ``write()`` of a JSON line to this file costs ~3 µs
and survives the process being killed exactly as the WAL does (the kernel has it; neither
survives a power cut without fsync). The flush that writes the rows into the table then
carries a second's worth at once.

Files: ``<history>.messages-<generation>``, 0600, opened without following links, each
generation closed when a flush takes its rows and removed once they are committed (so the
journal holds about a second of rows). Bounded: appends stop with an error (the listener then
answers AE) past :data:`JOURNAL_LIMIT`; a replay reads at most that much, skips lines that are
not a row (a line cut short by the crash) and inserts only the rows the table does not have.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from pacs_tui.private_paths import RefusedPath, open_regular
from pacs_tui.store.errors import StoreError
from pacs_tui.store.schema import _MessageRow

log = logging.getLogger("pacs_tui.store")

#: Bytes the journal's files may hold together (rows not yet in the table).
JOURNAL_LIMIT = 256 * 1024 * 1024
_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
_TEXT_AT = (1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14)
_FIELDS = 15


def journal_files(history: Path) -> list[tuple[int, Path]]:
    """The journal's files beside ``history``, by generation."""
    pattern = re.compile(re.escape(history.name) + r"\.messages-(\d{1,9})")
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(history.parent):
            match = pattern.fullmatch(entry.name)
            if match:
                found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


class MessageJournal:
    """Appends rows to the current generation; :meth:`rotate` and :meth:`discard` around a
    flush. Used from the event loop's thread only."""

    def __init__(self, history: Path, generation: int) -> None:
        self.history = history
        self.generation = generation
        self._fd: int | None = None
        self._size = 0  # of the current file
        self._older = 0  # bytes in earlier generations not yet removed
        self._open()

    def _path(self, generation: int) -> Path:
        return self.history.with_name(f"{self.history.name}.messages-{generation:06d}")

    def _open(self) -> None:
        path = self._path(self.generation)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            self._fd = open_regular(path, flags, 0o600)
        except (OSError, RefusedPath) as exc:
            raise StoreError(f"cannot create the message journal {path}: {exc}") from None
        self._size = 0

    def append(self, rows: list[_MessageRow]) -> None:
        """Write ``rows`` to the journal (the kernel has them when this returns)."""
        if self._fd is None:
            raise StoreError("the message journal is closed")
        data = b"".join(_ENCODE(row).encode() + b"\n" for row in rows)
        if self._older + self._size + len(data) > JOURNAL_LIMIT:
            raise StoreError(
                f"the message journal holds {JOURNAL_LIMIT // 2**20} MiB of rows the history "
                "could not take: not accepting more until it can"
            )
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise StoreError(f"cannot write the message journal: {exc.strerror}") from None
        finally:
            self._size += len(data) - len(view)

    def rotate(self) -> int:
        """Start a new generation if the current one has rows; the last generation whose rows
        a flush starting now takes (all of them up to it)."""
        if self._fd is None or not self._size:
            return self.generation - 1
        os.close(self._fd)
        self._fd = None
        self._older += self._size
        self.generation += 1
        self._open()
        return self.generation - 1

    def discard(self, upto: int) -> None:
        """Remove the generations up to ``upto``: their rows are in the table."""
        for generation, path in journal_files(self.history):
            if generation <= upto and generation != self.generation:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._older = 0  # a flush discards every generation before the current one

    def close(self, *, empty: bool) -> None:
        """Close the current file; removed if ``empty`` (every row is in the table)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if empty:
            self.discard(self.generation)
            with contextlib.suppress(FileNotFoundError):
                self._path(self.generation).unlink()


def read_journal(history: Path) -> tuple[list[_MessageRow], int, int]:
    """Every row the journal's files hold (in order), the bad lines skipped, and the highest
    generation found (0 if none). Reads at most :data:`JOURNAL_LIMIT` bytes."""
    rows: list[_MessageRow] = []
    bad = 0
    left = JOURNAL_LIMIT
    files = journal_files(history)
    for _, path in files:
        try:
            fd = open_regular(path, os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, RefusedPath) as exc:
            log.error("message journal %s not read: %s", path, exc)
            continue
        with os.fdopen(fd, "rb") as file:
            data = file.read(left + 1)
        if len(data) > left:
            log.error("message journal over %d MiB: the rest not read", JOURNAL_LIMIT // 2**20)
            data = data[:left]
        left -= len(data)
        for line in data.splitlines():
            row = _row(line)
            if row is None:
                bad += 1
            else:
                rows.append(row)
    return rows, bad, files[-1][0] if files else 0


def _row(line: bytes) -> _MessageRow | None:
    """One journal line as a row; None if it is not one."""
    try:
        value: Any = json.loads(line)
    except ValueError:
        return None
    if not (isinstance(value, list) and len(value) == _FIELDS):
        return None
    ok = (
        isinstance(value[0], int)
        and all(isinstance(value[i], str) for i in _TEXT_AT)
        and (value[5] is None or isinstance(value[5], str))
        and (value[6] is None or isinstance(value[6], (int, float)))
        and isinstance(value[7], int)
    )
    return tuple(value) if ok else None
