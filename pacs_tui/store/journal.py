"""The message log's journal: rows appended to a file beside the history before a listener
acknowledges them, written into the history's table by the next flush, replayed when the
history is opened after a crash.

Why: an HL7 listener answers a message only once its row is durable. A SQLite commit per
message (WAL, ``synchronous=NORMAL``: no fsync either) costs ~65 µs of page writes, and the trip
to aiosqlite's thread and back as much again: the listener answered ~2,400 messages a second
against ~10,000 for a bare MLLP server. One ``write()`` of a line to this file costs ~3 µs
and survives the process being killed exactly as the WAL does (the kernel has it; neither
survives a power cut without fsync). The flush that writes the rows into the table then
carries a second's worth at once.

Lines: each row as Python's ``ascii()`` writes a tuple (ASCII, one line: every control
character escaped), read back with :func:`ast.literal_eval`, which evaluates literals only.
``ascii()`` takes 0.9 µs a row where a JSON encoder takes 1.6, on the path of every message
before its ACK. Lines of earlier versions, JSON arrays, are still read.

Files: ``<history>.messages-<generation>``, 0600, opened without following links, each
generation closed when a flush takes its rows and removed once they are committed (so the
journal holds about a second of rows). Bounded: appends stop with an error (the listener then
answers AE) past :data:`JOURNAL_LIMIT`; a replay reads at most that much, skips lines that are
not a row (a line cut short by the crash) and inserts only the rows the table does not have.
"""

from __future__ import annotations

import ast
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
#: The longest line read back as a row: a row is a few hundred bytes (at most some tens of
#: KiB, its texts cut where they are made); a longer line is not one, and is not parsed.
LINE_LIMIT = 1024 * 1024
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
    flush. Used from the event loop's thread only.

    It removes only generations it made itself (from ``generation`` on), and only those whose
    rows a flush committed: a file left by an earlier run that could not be read stays for the
    next start, and a generation with rows not yet committed is never removed, even at close.
    """

    def __init__(self, history: Path, generation: int) -> None:
        self.history = history
        self.first = self.generation = generation
        self._size = 0  # of the current file
        self._uncommitted: dict[int, int] = {}  # generation → bytes of rows not yet committed
        self._held = 0  # their sum
        self._fd: int | None = self._open(generation)

    def _path(self, generation: int) -> Path:
        return self.history.with_name(f"{self.history.name}.messages-{generation:06d}")

    def _open(self, generation: int) -> int:
        path = self._path(generation)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return open_regular(path, flags, 0o600)
        except (OSError, RefusedPath) as exc:
            raise StoreError(f"cannot create the message journal {path}: {exc}") from None

    def append(self, rows: list[_MessageRow]) -> None:
        """Write ``rows`` to the journal (the kernel has them when this returns), all or none:
        a write that fails partway is cut back, so no row of it is replayed and the next
        append does not land on a cut line."""
        if self._fd is None:
            raise StoreError("the message journal is closed")
        # One row a call is the listener's case: no generator for it.
        text = ascii(rows[0]) + "\n" if len(rows) == 1 else "".join(ascii(r) + "\n" for r in rows)
        data = text.encode("ascii")
        if self._held + len(data) > JOURNAL_LIMIT:
            raise StoreError(
                f"the message journal holds {JOURNAL_LIMIT // 2**20} MiB of rows the history "
                "could not take: not accepting more until it can"
            )
        try:
            written = os.write(self._fd, data)
            if written < len(data):  # a short write (a full disk, a signal): the rest after it
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                # Cannot cut it back: the next append goes to a new file, after a whole line.
                with contextlib.suppress(OSError):
                    os.write(self._fd, b"\n")
                    self._size = os.fstat(self._fd).st_size
            raise StoreError(f"cannot write the message journal: {exc.strerror}") from None
        self._size += len(data)
        self._held += len(data)
        self._uncommitted[self.generation] = self._uncommitted.get(self.generation, 0) + len(data)

    def rotate(self) -> int:
        """Start a new generation if the current one has rows; the last generation whose rows
        a flush starting now takes (all of them up to it). If the new file cannot be made,
        the current one goes on (its rows are then removed by a later flush)."""
        if self._fd is None or not self._size:
            return self.generation - 1
        try:
            fd = self._open(self.generation + 1)
        except StoreError as exc:
            log.warning("%s; the message journal goes on in its current file", exc)
            return self.generation - 1
        os.close(self._fd)
        self._fd, self._size = fd, 0
        self.generation += 1
        return self.generation - 1

    def discard(self, upto: int) -> None:
        """Remove this journal's generations up to ``upto``: their rows are in the table."""
        for generation, path in journal_files(self.history):
            if self.first <= generation <= upto and generation != self.generation:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        for generation in [g for g in self._uncommitted if g <= upto]:
            self._held -= self._uncommitted.pop(generation)

    def close(self) -> None:
        """Close the current file; removed if every row in it is in the table."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.generation not in self._uncommitted:
            with contextlib.suppress(FileNotFoundError):
                self._path(self.generation).unlink()


def read_journal(history: Path) -> tuple[list[list[_MessageRow]], int, int, list[int]]:
    """What a crash left in the journal's files: their rows, file by file, the lines that were
    not a row, the highest generation found (0 if none), and the generations read whole (the
    ones that may be removed once their rows are in the table). Reads at most
    :data:`JOURNAL_LIMIT` bytes; a file that cannot be read is left for the next start."""
    found: list[list[_MessageRow]] = []
    bad = 0
    left = JOURNAL_LIMIT
    files = journal_files(history)
    whole: list[int] = []
    for generation, path in files:
        try:
            fd = open_regular(path, os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, RefusedPath) as exc:
            log.error("message journal %s not read (left for the next start): %s", path, exc)
            continue
        with os.fdopen(fd, "rb") as file:
            data = file.read(left + 1)
        if len(data) > left:
            log.error(
                "message journal over %d MiB: %s read in part (left for the next start)",
                JOURNAL_LIMIT // 2**20,
                path,
            )
            data = data[: data.rfind(b"\n", 0, left) + 1]
        else:
            whole.append(generation)
        left -= len(data)
        rows: list[_MessageRow] = []
        for line in data.splitlines():
            row = _row(line)
            if row is None:
                bad += 1
            else:
                rows.append(row)
        found.append(rows)
    return found, bad, files[-1][0] if files else 0, whole


def _row(line: bytes) -> _MessageRow | None:
    """One journal line as a row (a tuple's ``ascii()``, or an earlier version's JSON array);
    None if it is not one."""
    if len(line) > LINE_LIMIT:
        return None
    value: Any
    try:
        if line.startswith(b"("):
            value = ast.literal_eval(line.decode("ascii"))
            value = list(value) if isinstance(value, tuple) else None
        else:
            value = json.loads(line)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, list) and len(value) == _FIELDS - 1:
        value.append("")  # a line of 0.4's first journal, before the patient column
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
