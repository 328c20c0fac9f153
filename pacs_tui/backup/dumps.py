"""Dump folders (database dumps, exports): the newest file matching a pattern, its age against
the RPO and its size, and a newest file that shrank beyond ``shrink_warn`` (a failed dump)."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pacs_tui.backup.repository import with_size_trend
from pacs_tui.backup.rpo import measure, span_words
from pacs_tui.model import Result, Status, Target, TargetKind
from pacs_tui.source import HistoryReader
from pacs_tui.units import format_value
from pacs_tui.visible import VALUE_LIMIT, visible

#: Entries of a folder read at most each check (beyond: said in words, UNKNOWN).
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class DumpsConfig:
    """A ``[[backup.dumps]]`` entry. ``shrink_warn`` (0.2 for "20%"; None: off): WARN when the
    newest file is smaller than the one before it by more than that."""

    id: str
    path: str
    rpo: float
    pattern: str = "*"
    shrink_warn: float | None = 0.2
    interval: float = 300.0
    timeout: float = 10.0
    site: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class DumpFile:
    name: str
    mtime: float
    size: float


@dataclass(frozen=True, slots=True)
class Scan:
    """The newest matching file, the one before it, and how many match."""

    newest: DumpFile | None
    previous: DumpFile | None
    count: int


class TooMany(ValueError):
    """A folder with more entries than a check reads (said in words)."""


def scan(path: str, pattern: str) -> Scan:
    """The regular files in ``path`` (not in its subfolders; symbolic links not followed)
    whose name matches ``pattern`` (``fnmatch``, case-sensitive), newest by modification time.
    Blocking, bounded by :data:`MAX_ENTRIES`: call it in a thread."""
    newest: DumpFile | None = None
    previous: DumpFile | None = None
    count = seen = 0
    with os.scandir(path) as entries:
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                raise TooMany(f"more than {MAX_ENTRIES:,} entries: too many to read each check")
            if not fnmatch.fnmatchcase(entry.name, pattern):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listing
            if not stat.S_ISREG(st.st_mode):
                continue
            found = DumpFile(entry.name, st.st_mtime, float(st.st_size))
            count += 1
            key = (found.mtime, found.name)
            if newest is None or key > (newest.mtime, newest.name):
                newest, previous = found, newest
            elif previous is None or key > (previous.mtime, previous.name):
                previous = found
    return Scan(newest, previous, count)


def dumps_target(entry: DumpsConfig) -> Target:
    labels = {
        "kind": "dumps",
        "path": entry.path,
        "rpo": span_words(entry.rpo),
        "site": entry.site,
        "description": entry.description,
    }
    return Target(entry.id, TargetKind.BACKUP, labels)


def _file_words(dump: DumpFile) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(dump.mtime))
    return f"{dump.name} · {format_value('B', dump.size)} · {when}"


class DumpsCheck:
    """One dump folder every ``interval``: the newest dump's age and size, a shrink."""

    pool = "backup"

    def __init__(
        self,
        entry: DumpsConfig,
        executor: ThreadPoolExecutor | None = None,
        history: HistoryReader | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entry = entry
        self._history = history
        self.target = dumps_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._executor = executor
        self._clock = clock
        self._stuck: Future[Scan] | None = None  # a listing that has not returned yet
        self._stuck_since = 0.0

    def __repr__(self) -> str:
        return f"DumpsCheck({self.target.id!r}, {self.entry.path!r})"

    @property
    def settings(self) -> DumpsConfig:
        return self.entry

    async def check(self) -> Result:
        now = self._clock()
        entry = self.entry
        details: dict[str, Any] = {"path": entry.path, "pattern": entry.pattern}
        if self._stuck is not None and not self._stuck.done():
            since = time.strftime("%H:%M:%S", time.localtime(self._stuck_since))
            words = f"the folder has not answered since {since} (a hung network mount?)"
            return Result(Status.DOWN, words, details=details, ts=now)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, scan, entry.path, entry.pattern)
        try:
            found = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            self._stuck, self._stuck_since = future, now  # type: ignore[assignment]
            words = f"the folder did not answer within {self.timeout:g} s (a hung network mount?)"
            return Result(Status.DOWN, words, details=details, ts=now)
        except TooMany as exc:
            return Result(Status.UNKNOWN, str(exc), details=details, ts=now)
        except OSError as exc:
            return Result(Status.DOWN, _os_words(exc, entry.path), details=details, ts=now)
        self._stuck = None
        result = self._result(found, now, details)
        return await with_size_trend(result, self._history, self.target.id, now)

    def _result(self, found: Scan, now: float, details: dict[str, Any]) -> Result:
        entry = self.entry
        newest, previous = found.newest, found.previous
        where = visible(entry.path, VALUE_LIMIT)
        measured = measure(
            newest.mtime if newest else None,
            now,
            entry.rpo,
            "newest dump",
            f"no file matching {visible(entry.pattern, 80)!r} in {where}",
        )
        parts: list[tuple[Status, str]] = [(measured.status, measured.words)]
        metrics: dict[str, float] = {"backup_snapshots": float(found.count)}
        if measured.age is not None and measured.ratio is not None:
            metrics["backup_age_seconds"] = measured.age
            metrics["backup_rpo_ratio"] = measured.ratio
        if newest is not None:
            metrics["backup_size_bytes"] = newest.size
            details["newest"] = visible(_file_words(newest), VALUE_LIMIT)
            name = visible(newest.name, 80)
            if newest.size == 0:
                parts.append((Status.CRIT, f"newest dump {name} is empty"))
            elif previous is not None and entry.shrink_warn is not None:
                shrunk = _shrink_words(newest, previous, entry.shrink_warn)
                if shrunk:
                    parts.append((Status.WARN, shrunk))
        if previous is not None:
            details["previous"] = visible(_file_words(previous), VALUE_LIMIT)
        status = Status.worst(s for s, _ in parts)
        ordered = sorted(parts, key=lambda p: -p[0].rank)
        return Result(status, "; ".join(w for _, w in ordered), metrics, details, ts=now)

    async def close(self) -> None:
        """Nothing held open (a hung listing's thread ends when its folder answers)."""


def _shrink_words(newest: DumpFile, previous: DumpFile, limit: float) -> str:
    """ "newest dump ris.sql.gz is 64 % smaller than the one before (400 B < 1.1 KiB)" when it
    shrank by more than ``limit`` (a fraction), else ""."""
    if previous.size <= 0:
        return ""
    shrink = 1 - newest.size / previous.size
    if shrink <= limit:
        return ""
    size, before = format_value("B", newest.size), format_value("B", previous.size)
    how_much = format_value("ratio", round(shrink, 2))
    return (
        f"newest dump {visible(newest.name, 80)} is {how_much} smaller than the one before "
        f"({size} < {before})"
    )


def _os_words(exc: OSError, path: str) -> str:
    shown = visible(path, VALUE_LIMIT)
    if isinstance(exc, FileNotFoundError):
        return f"{shown} does not exist (not mounted?)"
    if isinstance(exc, NotADirectoryError):
        return f"{shown} is not a folder"
    if isinstance(exc, PermissionError):
        return f"{shown}: permission denied"
    return f"{shown}: {exc.strerror or exc}"
