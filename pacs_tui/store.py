"""History store: samples, per-minute/per-hour rollups, events and targets in SQLite (WAL).

Producers only enqueue; one background writer batches rows into a transaction about once a second.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import math
import os
import sqlite3
import stat
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiosqlite

from pacs_tui.model import Event, EventKind, Sample, Status, Target
from pacs_tui.private_paths import (
    RefusedPath,
    file_kind,
    make_private_dirs,
    open_regular,
)
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

Resolution = Literal["raw", "1m", "1h"]

HOUR = 3600.0
DAY = 86400.0
RAW_MAX_WINDOW = 2 * HOUR
MINUTE_MAX_WINDOW = 3 * DAY

_BUCKET: dict[Resolution, float] = {"raw": 0.0, "1m": 60.0, "1h": HOUR}
_TABLE: dict[Resolution, str] = {"raw": "samples", "1m": "samples_1m", "1h": "samples_1h"}


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each table keeps rows, in seconds."""

    raw: float = 48 * HOUR
    minute: float = 30 * DAY
    hour: float = 2 * 365 * DAY
    events: float = 90 * DAY


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of a metric's history; a raw sample has min == max == avg and count 1."""

    ts: float
    min: float
    max: float
    avg: float
    count: int


class StoreError(RuntimeError):
    """The store cannot do what was asked (not started, closed, newer schema, …). Every SQLite
    and OS error at the store's boundary comes out as one, in words, naming the history."""


def choose_resolution(
    window_seconds: float, age_seconds_of_since: float, retention: Retention
) -> Resolution:
    """The coarsest table that still covers the window with useful resolution."""
    if age_seconds_of_since <= retention.raw and window_seconds <= RAW_MAX_WINDOW:
        return "raw"
    if age_seconds_of_since <= retention.minute and window_seconds <= MINUTE_MAX_WINDOW:
        return "1m"
    return "1h"


def _rollup_table(name: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE {name} (
            ts REAL NOT NULL,
            target TEXT NOT NULL,
            metric TEXT NOT NULL,
            min REAL NOT NULL,
            max REAL NOT NULL,
            avg REAL NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (target, metric, ts)
        ) WITHOUT ROWID""",
        f"CREATE INDEX {name}_ts ON {name}(ts)",
    )


# MIGRATIONS[n - 1] takes the schema from user_version n - 1 to n. Only ever append.
# JSON columns are declared TEXT: a declared type "JSON" would get NUMERIC affinity.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE targets (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            labels TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE samples (
            ts REAL NOT NULL,
            target TEXT NOT NULL,
            metric TEXT NOT NULL,
            value REAL NOT NULL
        )""",
        "CREATE INDEX samples_target_metric_ts ON samples(target, metric, ts)",
        "CREATE INDEX samples_ts ON samples(ts)",
        *_rollup_table("samples_1m"),
        *_rollup_table("samples_1h"),
        """CREATE TABLE events (
            ts REAL NOT NULL,
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NULL,
            summary TEXT NOT NULL,
            fields TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX events_target_ts ON events(target, ts)",
        "CREATE INDEX events_kind_target_ts ON events(kind, target, ts)",
        "CREATE INDEX events_ts ON events(ts)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_TABLES = {"targets", "samples", "samples_1m", "samples_1h", "events"}
# "PTUI": marks the file as a pacs-tui history, so another program's SQLite file is refused.
APPLICATION_ID = 0x50545549

_SampleRow = tuple[float, str, str, float]
_EventRow = tuple[float, str, str, str | None, str, str]
_TargetRow = tuple[str, str, str]
_RollupRow = tuple[float, str, str, float, float, float, int]

_INSERT_SAMPLE = "INSERT INTO samples(ts, target, metric, value) VALUES (?, ?, ?, ?)"
_INSERT_EVENT = (
    "INSERT INTO events(ts, target, kind, status, summary, fields) VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_TARGET = (
    "INSERT INTO targets(id, kind, labels) VALUES (?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, labels = excluded.labels"
)
# In an UPDATE every right-hand side sees the old row, so avg is weighted by the old count.
_UPSERT_ROLLUP = """INSERT INTO {table}(ts, target, metric, min, max, avg, count)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT(ts, target, metric) DO UPDATE SET
        min = min(min, excluded.min),
        max = max(max, excluded.max),
        avg = (avg * count + excluded.avg * excluded.count) / (count + excluded.count),
        count = count + excluded.count"""


def _rollup(rows: Iterable[_SampleRow], bucket: float) -> list[_RollupRow]:
    """Aggregate raw rows into (bucket start, target, metric) groups."""
    acc: dict[tuple[float, str, str], list[float]] = {}
    for ts, target, metric, value in rows:
        key = (math.floor(ts / bucket) * bucket, target, metric)
        group = acc.get(key)
        if group is None:
            acc[key] = [value, value, value, 1.0]
        else:
            group[0] = min(group[0], value)
            group[1] = max(group[1], value)
            group[2] += value
            group[3] += 1.0
    return [
        (ts, target, metric, lo, hi, total / n, int(n))
        for (ts, target, metric), (lo, hi, total, n) in acc.items()
    ]


def _status(word: str | None) -> Status | None:
    if word is None:
        return None
    try:
        return Status(word)
    except ValueError:
        return Status.UNKNOWN


# Files SQLite opens beside the history, by name: we check them too, since SQLite follows links.
_SIBLINGS = ("-wal", "-shm", "-journal")
# The 100-byte database header (sqlite.org/fileformat.html): magic, then big-endian fields.
_HEADER_SIZE = 100
_MAGIC = b"SQLite format 3\x00"
_USER_VERSION_AT = 60
_APPLICATION_ID_AT = 68


def _refusal(path: Path, kind: str) -> StoreError:
    if kind == "symbolic link":
        return StoreError(f"{path} is a symbolic link; give the real path of the history")
    return StoreError(f"{path} is not a regular file ({kind})")


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if kind := file_kind(mode):
        raise _refusal(path, kind)


def _open_history(path: Path, real: Path, flags: int) -> int:
    """:func:`~pacs_tui.private_paths.open_regular` on the history, a refusal in its words."""
    try:
        return open_regular(real, flags)
    except RefusedPath as exc:
        raise _refusal(path, exc.kind) from None


def _check_paths(path: Path, real: Path) -> bool:
    """Refuse a history (or a sibling SQLite would open) that is a link or not a regular file,
    without opening anything. True if the history exists. Messages name the path as given."""
    exists = False
    for suffix in ("", *_SIBLINGS):
        try:
            st = os.lstat(f"{real}{suffix}")
        except FileNotFoundError:
            continue
        _refuse_unless_regular(Path(f"{path}{suffix}"), st.st_mode)
        exists = exists or not suffix
    return exists


def _real_path(path: Path) -> Path:
    """The history in its real folder: a symlinked folder is fine, a symlinked file is not."""
    return Path(os.path.realpath(path.parent)) / path.name


def _open_for_writing(path: Path) -> tuple[int, Path]:
    """Open (creating it 0600, its folder 0700) and lock the history; return (fd, real path).

    The lock is a ``flock`` on the history file itself, not on a ``.lock`` beside it, so it is
    keyed on the file's device and inode: the same history reached through a symlinked folder, a
    bind mount or a hard link is still written by one engine only, and there is no second file
    to guard. flock and SQLite's own POSIX (fcntl) locks do not interact on Linux's local file
    systems (a WAL history needs a local one anyway). The descriptor must outlive the SQLite
    connection: closing any descriptor of a file drops the process's POSIX locks on it.
    """
    make_private_dirs(path.parent)
    real = _real_path(path)
    _check_paths(path, real)
    try:
        fd = _open_history(path, real, os.O_RDWR | os.O_CREAT)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot create the history {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(os.fstat(fd).st_ino)
        os.close(fd)
        raise StoreError(
            f"the history {path} is already written by another pacs-tui engine ({holder}). "
            "Only one engine may write a history: stop the other one, or give this one another "
            "[history] path. `pacs-tui history` can read it meanwhile."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd, real


def _lock_holder(inode: int) -> str:
    """Who holds the flock on ``inode``, from /proc/locks (best effort: "another process")."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read(1 << 20).splitlines()
    except OSError:
        return "another process"
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 6327 fe:00:2146493 0 EOF"; waiters have "->" in field 1
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            pid = fields[4]
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    argv = fh.read(4096).split(b"\0")
            except OSError:
                return f"pid {pid}"
            command = " ".join(a.decode("utf-8", "replace") for a in argv if a)
            return f"pid {pid}: {visible(command, 160)}"
    return "another process"


def _tighten(fd: int, path: Path, real: Path) -> None:
    """Mode 0600 for the history (through its descriptor) and for stale -wal/-shm files (SQLite
    gives new ones the history's mode, but stale ones may be looser)."""
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, 0o600)
    for suffix in ("-wal", "-shm"):
        try:
            sibling = _open_history(Path(f"{path}{suffix}"), Path(f"{real}{suffix}"), os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"cannot open {path}{suffix}: {exc.strerror}") from None
        try:
            if stat.S_IMODE(os.fstat(sibling).st_mode) & 0o077:
                os.fchmod(sibling, 0o600)
        finally:
            os.close(sibling)  # no connection of ours has it open yet, so no lock is lost


def _same_file(fd: int, real: Path) -> bool:
    try:
        st = os.lstat(real)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_header(fd: int) -> bytes:
    """Up to the first 100 bytes of the history (fewer for a shorter file), one bounded read."""
    chunks: list[bytes] = []
    size = 0
    while size < _HEADER_SIZE and (chunk := os.pread(fd, _HEADER_SIZE - size, size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_header_of(path: Path, real: Path) -> bytes:
    """The history's header for a reader: opened ``O_NOFOLLOW | O_NONBLOCK``, checked to be a
    regular file on the descriptor, read without SQLite (which would make -wal and -shm files
    beside a WAL-mode database just to look at it)."""
    try:
        fd = _open_history(path, real, os.O_RDONLY)
    except PermissionError:
        raise StoreError(
            f"cannot read the history {path}: permission denied (run this as the user that "
            "writes the history)"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot read the history {path}: {exc.strerror}") from None
    try:
        return _read_header(fd)
    finally:
        os.close(fd)


def _probe_query(real: Path) -> str | None:
    """How to open a history just to read its identity: immutable (no locks, no -shm, no -wal
    made) unless a -wal or -journal beside it holds changes only a normal reader sees. None
    when a -wal has no -shm: a normal reader would create one beside what may be another
    program's database, and an immutable one would miss a schema that lives only in the -wal."""
    if os.path.lexists(f"{real}-wal") and not os.path.lexists(f"{real}-shm"):
        return None
    if any(os.path.lexists(f"{real}{suffix}") for suffix in ("-wal", "-journal")):
        return "mode=ro"
    return "mode=ro&immutable=1"


def _uri(real: Path, query: str) -> str:
    return f"{real.as_uri()}?{query}"


def _describe(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """An SQLite error in words, naming the history (no traceback reaches the user)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary result code
    if code == sqlite3.SQLITE_CORRUPT:
        return StoreError(
            f"the history file {path} is corrupt: {exc}. Move it aside to start a new history."
        )
    if code == sqlite3.SQLITE_NOTADB:
        return StoreError(f"{path} is not a pacs-tui history ({exc})")
    if code == sqlite3.SQLITE_FULL:
        return StoreError(f"disk full writing the history {path}: {exc}")
    if code == sqlite3.SQLITE_IOERR:
        return StoreError(f"I/O error trying to {doing} the history {path}: {exc}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"the history {path} is locked by another program: {exc}")
    return StoreError(f"cannot {doing} the history {path}: {exc}")


class Store:
    """The history database. Enqueue with ``add_*``; query with the async methods.

    ``add_*`` must be called from the event loop's thread. Pending rows are kept in memory until
    written; if the database keeps failing, at most ``max_pending`` samples and events each are
    kept (oldest dropped first, counted in ``dropped``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        retention: Retention | None = None,
        *,
        flush_interval: float = 1.0,
        retention_interval: float | None = HOUR,
        max_pending: int = 1_000_000,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self.retention = retention if retention is not None else Retention()
        self.flush_interval = flush_interval
        self.retention_interval = retention_interval
        self.max_pending = max_pending
        self.clock = clock  # "now" for series() and retention; tests replay a fixed moment
        self.dropped = 0
        self._db: aiosqlite.Connection | None = None
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._closed = False
        self._samples: list[_SampleRow] = []
        self._events: list[_EventRow] = []
        self._targets: dict[str, _TargetRow] = {}

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        retention: Retention | None = None,
        **options: Any,
    ) -> Store:
        """Create a store, open its database and start the writer."""
        store = cls(path, retention, **options)
        await store.start()
        return store

    @property
    def started(self) -> bool:
        return self._db is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Self:
        if self._db is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open (creating or migrating) the database and start the background writer.

        Raises :class:`StoreError` with the path and the reason in words when the file cannot be
        used (a link, a device, another program's database, corrupt, a newer schema, held by
        another engine); a refused file is left as it was. A caller
        cancelled meanwhile does not cut the opening short: it completes in the background and
        :meth:`close` waits for it, so no connection thread or lock is ever left behind.
        """
        if self._db is not None or self._closed or self._starting is not None:
            raise StoreError("store already started or closed")
        self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        if self.readonly:
            await self._open_readonly()
            return
        # Order matters: refuse links and special files before opening anything, then check
        # the file is ours (or new) from its header and through a read-only connection that
        # makes no file beside it, and only then chmod, switch to WAL (a write) and migrate.
        # A refused file is left exactly as it was, with nothing added to its folder.
        try:
            fd, real = await asyncio.to_thread(_open_for_writing, self.path)
        except OSError as exc:
            raise StoreError(f"cannot create the history {self.path}: {exc.strerror}") from None
        self._lock_fd = fd
        try:
            header_id = self._identity_from_header(await asyncio.to_thread(_read_header, fd))
            if header_id is not None:
                await self._probe_identity(real, header_id)
            await asyncio.to_thread(_tighten, fd, self.path, real)
            db = await aiosqlite.connect(real, isolation_level=None)
            try:
                if not _same_file(fd, real):
                    raise StoreError(f"{self.path} was replaced while it was being opened")
                # Stamp a new file before WAL mode, so the id is in the main file's header at
                # once (in WAL mode it would sit in the -wal until the first checkpoint).
                await db.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
                await self._configure(db)
                await self._migrate(db)
            except BaseException:
                await db.close()
                raise
        except sqlite3.Error as exc:
            self._release_lock()
            raise _describe(self.path, exc, "open") from None
        except OSError as exc:
            self._release_lock()
            raise StoreError(f"cannot open the history {self.path}: {exc.strerror}") from None
        except BaseException:
            self._release_lock()
            raise
        self._db = db
        self._writer = asyncio.create_task(self._run_writer(), name="pacs-tui store writer")

    async def _open_readonly(self) -> None:
        """Reader for ``pacs-tui history``: no create, no migration, no writer, no lock."""
        real = _real_path(self.path)
        try:
            exists = await asyncio.to_thread(_check_paths, self.path, real)
        except OSError as exc:
            raise StoreError(f"cannot read the history {self.path}: {exc.strerror}") from None
        if not exists:
            raise StoreError(f"no history at {self.path}")
        header = await asyncio.to_thread(_read_header_of, self.path, real)
        app_id = self._identity_from_header(header)
        if app_id is None:
            raise StoreError(f"the history {self.path} is empty: nothing recorded yet")
        try:
            try:
                if app_id == 0:  # ours from before application ids, or another program's
                    await self._probe_identity(real, app_id)
                db = await self._connect_readonly(real, "mode=ro")
            except sqlite3.Error as exc:
                if not self._needs_immutable(exc, real):
                    raise
                # A read-only folder: SQLite cannot create the -shm index a WAL reader needs.
                # Without a -wal log no writer is live and the file holds every row, so it can be
                # read as immutable; a writer starting meanwhile only appends to a new -wal.
                db = await self._connect_readonly(real, "mode=ro&immutable=1")
        except sqlite3.Error as exc:
            if not os.access(real, os.R_OK):
                raise StoreError(
                    f"cannot read the history {self.path}: permission denied (run this as the "
                    "user that writes the history)"
                ) from None
            raise _describe(self.path, exc, "read") from None
        self._db = db

    async def _connect_readonly(self, real: Path, query: str) -> aiosqlite.Connection:
        db = await aiosqlite.connect(_uri(real, query), uri=True, isolation_level=None)
        try:
            await db.execute("PRAGMA busy_timeout=5000")
            version = await self._check_identity(db)
            if version == 0:
                raise StoreError(f"the history {self.path} is empty: nothing recorded yet")
        except BaseException:
            await db.close()
            raise
        return db

    def _needs_immutable(self, exc: sqlite3.Error, real: Path) -> bool:
        """Whether a failed read-only open is the read-only-folder case; StoreError if that
        folder also holds a -wal log, whose rows only a connection able to write -shm can see."""
        code = getattr(exc, "sqlite_errorcode", 0)
        if code not in (
            sqlite3.SQLITE_CANTOPEN,
            sqlite3.SQLITE_READONLY_DIRECTORY,
            sqlite3.SQLITE_READONLY_CANTINIT,
            sqlite3.SQLITE_READONLY_RECOVERY,
        ) or os.access(real.parent, os.W_OK):
            return False
        if Path(f"{real}-wal").exists():
            raise StoreError(
                f"cannot read the history {self.path}: its folder {self.path.parent} is not "
                f"writable and the history has a WAL log ({self.path}-wal) that SQLite can only "
                "read with a writable folder. Run this as the user that writes the history, or "
                "copy the history with its -wal file to a writable folder."
            ) from None
        return True

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    async def close(self) -> None:
        """Write everything pending, stop the writer and close the database.

        Every caller waits for the same closing: a second ``close()`` (a second signal, say)
        returns only once the history is really flushed and its lock released, and cancelling
        one caller does not cut the closing short.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._starting is not None:
            await asyncio.wait({self._starting})
            if not self._starting.cancelled():
                self._starting.exception()  # retrieved; start()'s caller has reported it
        try:
            if self._writer is not None:
                await asyncio.wait({self._writer})
            if self._db is not None:
                await self.flush()
        finally:
            try:
                if self._db is not None:
                    await self._db.close()
            except sqlite3.Error as exc:
                raise _describe(self.path, exc, "close") from None
            finally:
                self._db = None
                self._release_lock()
                if self.pending:
                    log.error("history store closed with %d rows unwritten", self.pending)

    @staticmethod
    async def _configure(db: aiosqlite.Connection) -> None:
        rows = list(await db.execute_fetchall("PRAGMA journal_mode=WAL"))
        if not rows or str(rows[0][0]).lower() != "wal":
            log.warning("SQLite refused WAL mode; concurrent readers may block the writer")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")

    def _identity_from_header(self, header: bytes) -> int | None:
        """The ``application_id`` in a history's header, None for an empty (new) file.

        StoreError, without SQLite having opened the file, for a file that is not an SQLite
        database or whose application id is another program's. The header of a WAL-mode file
        may lag behind its -wal log, so an id of 0 (or ours) still needs :meth:`_check_identity`.
        """
        if not header:
            return None
        if len(header) < _HEADER_SIZE or not header.startswith(_MAGIC):
            raise StoreError(f"{self.path} is not a pacs-tui history (not an SQLite database)")
        (version,) = struct.unpack_from(">i", header, _USER_VERSION_AT)
        (app_id,) = struct.unpack_from(">i", header, _APPLICATION_ID_AT)
        if app_id not in (0, APPLICATION_ID):
            raise self._foreign(app_id, version)
        return int(app_id)

    async def _probe_identity(self, real: Path, header_id: int) -> None:
        """:meth:`_check_identity` through a connection of its own that creates nothing beside
        the file (see :func:`_probe_query`)."""
        query = _probe_query(real)
        if query is None and header_id == APPLICATION_ID:
            query = "mode=ro"  # ours by its header: a normal reader may make its -shm
        if query is None:
            raise StoreError(
                f"{self.path} has a write-ahead log ({self.path}-wal) but no {self.path}-shm, "
                "and its header does not say it is a pacs-tui history: pacs-tui will not "
                "recover it. If it is one, open it once with `sqlite3` to recover it, then "
                "try again."
            )
        probe = await aiosqlite.connect(_uri(real, query), uri=True, isolation_level=None)
        try:
            await self._check_identity(probe)
        finally:
            await probe.close()

    def _foreign(self, app_id: int, version: int) -> StoreError:
        return StoreError(
            f"{self.path} is not a pacs-tui history: it is another program's SQLite file "
            f"(application_id 0x{app_id & 0xFFFFFFFF:08x}, user_version {version})"
        )

    async def _check_identity(self, db: aiosqlite.Connection) -> int:
        """The schema version of a pacs-tui history, 0 for a new (empty) file; StoreError for
        another program's SQLite file (told apart by ``PRAGMA application_id``) or a newer
        pacs-tui's. Only reads."""
        (app_id,) = next(iter(await db.execute_fetchall("PRAGMA application_id")))
        (version,) = next(iter(await db.execute_fetchall("PRAGMA user_version")))
        names = {row[0] for row in await db.execute_fetchall("SELECT name FROM sqlite_master")}
        ours = app_id == APPLICATION_ID
        if app_id == 0:
            if version == 0 and not names:
                return 0
            # A history written before pacs-tui set application_id: our version and tables.
            ours = 1 <= version <= SCHEMA_VERSION and names >= _TABLES
        if not ours:
            raise self._foreign(app_id, version)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this pacs-tui knows up to "
                f"{SCHEMA_VERSION}. Upgrade pacs-tui or use another history file."
            )
        return int(version)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        version = await self._check_identity(db)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1]:
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {target:d}")
                await db.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            log.info("history store %s migrated to schema version %d", self.path, target)
        (app_id,) = next(iter(await db.execute_fetchall("PRAGMA application_id")))
        if app_id != APPLICATION_ID:  # a history from before application ids
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")

    # -- enqueue (synchronous, never blocks) ----------------------------------------------------

    @property
    def pending(self) -> int:
        """Rows queued and not yet taken by a flush."""
        return len(self._samples) + len(self._events) + len(self._targets)

    def add_samples(self, samples: Iterable[Sample]) -> None:
        """Queue samples for the next flush. NaN values are skipped (SQLite stores NaN as NULL)."""
        self._check_open()
        rows = [
            (float(s.ts), s.target, s.metric, value)
            for s in samples
            if not math.isnan(value := float(s.value))
        ]
        if rows:
            self._samples.extend(rows)
            self._trim(self._samples)
            self._wake.set()

    def add_event(self, event: Event) -> None:
        """Queue one event for the next flush."""
        self._check_open()
        status = event.status.value if event.status is not None else None
        fields = json.dumps(dict(event.fields), default=str)
        row = (float(event.ts), event.target, str(event.kind), status, event.summary, fields)
        self._events.append(row)
        self._trim(self._events)
        self._wake.set()

    def upsert_targets(self, targets: Iterable[Target]) -> None:
        """Queue targets to be inserted or updated (by id) at the next flush."""
        self._check_open()
        for target in targets:
            labels = json.dumps(dict(target.labels), default=str)
            self._targets[target.id] = (target.id, str(target.kind), labels)
        self._wake.set()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("history store is closed")
        if self.readonly:
            raise StoreError("history store is open read-only")

    def _trim(self, rows: list[Any]) -> None:
        excess = len(rows) - self.max_pending
        if excess > 0:
            del rows[:excess]
            if not self.dropped:  # once: this runs on every add while the database is down
                log.warning("history store backlog full: dropping the oldest rows")
            self.dropped += excess

    # -- writing --------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything pending now, in one transaction."""
        # Shielded so a cancelled caller cannot leave a batch half-known (written or re-queued).
        await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            targets = list(self._targets.values())
            samples, events = self._samples, self._events
            if not (targets or samples or events):
                return
            self._targets, self._samples, self._events = {}, [], []
            try:
                async with self._transaction() as db:
                    if targets:
                        await db.executemany(_UPSERT_TARGET, targets)
                    if samples:
                        await db.executemany(_INSERT_SAMPLE, samples)
                        for resolution in ("1m", "1h"):
                            sql = _UPSERT_ROLLUP.format(table=_TABLE[resolution])
                            await db.executemany(sql, _rollup(samples, _BUCKET[resolution]))
                    if events:
                        await db.executemany(_INSERT_EVENT, events)
            except BaseException:
                # Put the batch back in front of anything queued meanwhile.
                for target in targets:
                    self._targets.setdefault(target[0], target)
                self._samples[:0] = samples
                self._events[:0] = events
                self._trim(self._samples)
                self._trim(self._events)
                raise

    async def run_retention(self, now: float | None = None) -> dict[str, int]:
        """Delete rows older than each table's window; rows deleted per table."""
        now = self.clock() if now is None else now
        windows = {
            "samples": self.retention.raw,
            "samples_1m": self.retention.minute,
            "samples_1h": self.retention.hour,
            "events": self.retention.events,
        }
        deleted: dict[str, int] = {}
        async with self._lock, self._transaction() as db:
            for table, window in windows.items():
                cursor = await db.execute(f"DELETE FROM {table} WHERE ts < ?", (now - window,))
                deleted[table] = max(cursor.rowcount, 0)
        if any(deleted.values()):
            log.info("history retention deleted %s", deleted)
        return deleted

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; the caller holds ``_lock``."""
        db = self._conn()
        try:
            await db.execute("BEGIN IMMEDIATE")
            yield db
            await db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                with suppress(Exception):
                    await db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _describe(self.path, exc, "write") from None
            raise

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        next_retention = loop.time()
        failures = 0
        while not self._stop.is_set():
            if self.retention_interval is not None and loop.time() >= next_retention:
                try:
                    await self.run_retention()
                except StoreError as exc:
                    log.error("history retention failed: %s", exc)
                except Exception:
                    log.exception("history retention failed")
                next_retention = loop.time() + self.retention_interval
            if not self.pending and not self._stop.is_set():
                self._wake.clear()
                timeout = None
                if self.retention_interval is not None:
                    timeout = max(next_retention - loop.time(), 0.0)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            # Let rows accumulate so each transaction carries flush_interval's worth; after
            # failures, back off (up to a minute) instead of retrying every interval.
            delay = self.flush_interval
            if failures:
                delay = max(delay, min(self.flush_interval * 2**failures, 60.0))
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                break  # close() does the final flush
            if self.pending:
                try:
                    await self.flush()
                    failures = 0
                except Exception as exc:
                    failures = min(failures + 1, 10)
                    message = "history flush failed; %d rows kept for retry"
                    if isinstance(exc, StoreError):  # in words, without a traceback
                        log.error(message + ": %s", self.pending, exc)
                    else:
                        log.exception(message, self.pending)

    # -- queries --------------------------------------------------------------------------------

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("history store is not open")
        return self._db

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._conn().execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _describe(self.path, exc, "read") from None

    def _json(self, text: Any, what: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            value = None
        if not isinstance(value, dict):
            raise StoreError(f"the history file {self.path} is corrupt: {what} are not JSON")
        return value

    async def samples(
        self,
        target: str | None = None,
        metric: str | None = None,
        since: float | None = None,
        until: float | None = None,
        kind: str | None = None,
    ) -> list[Sample]:
        """Raw samples, oldest first; ``kind`` filters by the target's kind."""
        where: list[str] = []
        params: list[Any] = []
        join = ""
        if kind is not None:
            join = " JOIN targets t ON t.id = s.target"
            where.append("t.kind = ?")
            params.append(str(kind))
        for clause, value in (
            ("s.target = ?", target),
            ("s.metric = ?", metric),
            ("s.ts >= ?", since),
            ("s.ts <= ?", until),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT s.ts, s.target, s.metric, s.value FROM samples s{join}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.ts, s.rowid"
        return [Sample(ts, tgt, met, val) for ts, tgt, met, val in await self._fetch(sql, params)]

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        """A metric's history from the coarsest table that suits the window, oldest first.

        Rollup buckets are included when they start in [bucket of ``since``, ``until``].
        """
        now = self.clock()
        end = now if until is None else until
        resolution = choose_resolution(end - since, now - since, self.retention)
        params: list[Any] = [target, metric]
        if resolution == "raw":
            sql = "SELECT ts, value, value, value, 1 FROM samples"
            params.append(since)
        else:
            bucket = _BUCKET[resolution]
            sql = f"SELECT ts, min, max, avg, count FROM {_TABLE[resolution]}"
            params.append(math.floor(since / bucket) * bucket)
        sql += " WHERE target = ? AND metric = ? AND ts >= ?"
        if until is not None:
            sql += " AND ts <= ?"
            params.append(until)
        sql += " ORDER BY ts"
        return [SeriesPoint(*row) for row in await self._fetch(sql, params)]

    async def events(
        self,
        target: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        target_kind: str | None = None,
    ) -> list[Event]:
        """Events oldest first; with ``limit``, only the most recent ``limit`` of them."""
        where: list[str] = []
        params: list[Any] = []
        join = ""
        if target_kind is not None:
            join = " JOIN targets t ON t.id = e.target"
            where.append("t.kind = ?")
            params.append(str(target_kind))
        for clause, value in (
            ("e.target = ?", target),
            ("e.kind = ?", None if kind is None else str(kind)),
            ("e.ts >= ?", since),
            ("e.ts <= ?", until),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT e.ts, e.target, e.kind, e.status, e.summary, e.fields FROM events e{join}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is not None:
            sql += " ORDER BY e.ts DESC, e.rowid DESC LIMIT ?"
            params.append(limit)
        else:
            sql += " ORDER BY e.ts, e.rowid"
        rows = await self._fetch(sql, params)
        if limit is not None:
            rows.reverse()
        return [
            Event(ts, tgt, knd, _status(status), summary, self._json(fields, "an event's fields"))
            for ts, tgt, knd, status, summary, fields in rows
        ]

    async def targets(self) -> list[Target]:
        """Every known target, by id."""
        rows = await self._fetch("SELECT id, kind, labels FROM targets ORDER BY id")
        return [
            Target(tid, kind, self._json(labels, "a target's labels")) for tid, kind, labels in rows
        ]

    async def last_statuses(self) -> dict[str, tuple[Status, str, float]]:
        """Per target, its newest status-change event as (status, summary, ts)."""
        rows = await self._fetch(
            """SELECT target, status, summary, ts FROM (
                SELECT target, status, summary, ts, row_number() OVER (
                    PARTITION BY target ORDER BY ts DESC, rowid DESC) AS n
                FROM events WHERE kind = ? AND status IS NOT NULL
            ) WHERE n = 1""",
            (EventKind.STATUS_CHANGE.value,),
        )
        result: dict[str, tuple[Status, str, float]] = {}
        for target, word, summary, ts in rows:
            status = _status(word)
            assert status is not None  # the query excludes NULL status
            result[target] = (status, summary, ts)
        return result
