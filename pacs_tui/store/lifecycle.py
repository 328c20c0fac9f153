"""The :class:`Store` itself: opening a history (checking it is ours, migrating it), starting
its writer, closing it. Writes come from :mod:`.writer`, reads from :mod:`.queries`."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import struct
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from pacs_tui.store.errors import StoreError, _describe
from pacs_tui.store.files import (
    _APPLICATION_ID_AT,
    _check_paths,
    _open_for_writing,
    _probe_query,
    _read_header,
    _real_path,
    _same_file,
    _tighten,
    _uri,
    foreign_words,
    header_problem,
    read_header_of,
)
from pacs_tui.store.journal import MessageJournal, journal_files, read_journal
from pacs_tui.store.maintenance import MaintenanceMixin
from pacs_tui.store.migrate import STEPS
from pacs_tui.store.queries import QueriesMixin
from pacs_tui.store.schema import (
    _TABLES,
    _TABLES_V1,
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    Retention,
    _EventRow,
    _MessageRow,
    _TargetRow,
)
from pacs_tui.store.writer import _INSERT_MESSAGE, WriterMixin, _PendingSample

#: A journal row, unless the table has it already (a crash between a commit and the journal's
#: removal): the same link, time, control ID, size and ACK.
_REPLAY = (
    _INSERT_MESSAGE.split(" VALUES ")[0]
    + " SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
    " messages WHERE link = ? AND ts = ? AND control_id = ? AND size = ? AND ack IS ?)"
)


def _same(row: _MessageRow) -> tuple[object, ...]:
    return (row[1], row[0], row[4], row[7], row[5])


# Logs as "pacs_tui.store" (not __name__), the name the history's log lines have always had.
log = logging.getLogger("pacs_tui.store")


class Store(WriterMixin, MaintenanceMixin, QueriesMixin):
    """The history database. Enqueue with ``add_*``; query with the async methods.

    ``add_*`` must be called from the event loop's thread. Pending rows are kept in memory until
    written; if the database keeps failing, at most ``max_pending`` samples and events each are
    kept (oldest dropped first, counted in ``dropped``), and ``max_pending`` message-log rows
    (past that :meth:`commit_messages` refuses new ones and ``add_messages`` drops them: the
    rows queued may be acknowledged ones, which are never dropped). Rollups and retention run every
    ``retention_interval`` seconds (None: only when :meth:`maintain` is called).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        retention: Retention | None = None,
        *,
        flush_interval: float = 1.0,
        retention_interval: float | None = 60.0,
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
        self._reader: aiosqlite.Connection | None = None
        self._writer: asyncio.Task[None] | None = None
        self._upkeep: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._closed = False
        self._samples: list[_PendingSample] = []
        self._events: list[_EventRow] = []
        self._messages: list[_MessageRow] = []
        self._targets: dict[str, _TargetRow] = {}
        self._series: dict[tuple[str, str], tuple[int, str]] | None = None  # read at 1st flush
        #: Message-log rows a listener acknowledged go here first (:mod:`.journal`).
        self._journal: MessageJournal | None = None
        self._active: set[str] = set()
        self._aged_at: float | None = None  # the last look for series and targets to drop
        #: The longest transaction the rollups and the retention have held, in seconds.
        self.longest_hold = 0.0

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
                self._journal = await self._replay_journal(db, real)
                reader = await aiosqlite.connect(real, isolation_level=None)
                try:
                    await reader.execute("PRAGMA query_only = ON")
                    await reader.execute("PRAGMA busy_timeout=5000")
                except BaseException:
                    await reader.close()
                    raise
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
        self._reader = reader
        self._writer = asyncio.create_task(self._run_writer(), name="pacs-tui store writer")
        if self.retention_interval is not None:
            self._upkeep = asyncio.create_task(self._run_upkeep(), name="pacs-tui store upkeep")

    async def _open_readonly(self) -> None:
        """Reader for ``pacs-tui history``: no create, no migration, no writer, no lock."""
        real = _real_path(self.path)
        try:
            exists = await asyncio.to_thread(_check_paths, self.path, real)
        except OSError as exc:
            raise StoreError(f"cannot read the history {self.path}: {exc.strerror}") from None
        if not exists:
            raise StoreError(f"no history at {self.path}")
        header = await asyncio.to_thread(read_header_of, self.path, real)
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
            if version < SCHEMA_VERSION:  # upgrading is a write: the writer does it
                raise StoreError(
                    f"the history {self.path} was written by an older pacs-tui (schema "
                    f"version {version}, this one reads {SCHEMA_VERSION}): start `pacs-tui "
                    "collect` or `pacs-tui run` on it once to upgrade it, then read it again"
                )
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
        if self._journal is not None:  # opened under the lock: closed before it is let go
            self._journal.close()
            self._journal = None
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
            tasks = {t for t in (self._writer, self._upkeep) if t is not None}
            if tasks:
                await asyncio.wait(tasks)
            if self._db is not None:
                await self.flush()
        finally:
            try:
                if self._reader is not None:
                    await self._reader.close()
                if self._db is not None:
                    await self._db.close()
            except sqlite3.Error as exc:
                raise _describe(self.path, exc, "close") from None
            finally:
                self._db = self._reader = None
                self._release_lock()
                if self.pending:
                    log.error("history store closed with %d rows unwritten", self.pending)

    async def _replay_journal(self, db: aiosqlite.Connection, real: Path) -> MessageJournal:
        """Put the rows a crash left in the message journal into the table (those it does not
        have already: a crash between a commit and the removal), then start a new journal."""
        found, bad, last, whole = await asyncio.to_thread(read_journal, real)
        if bad:
            log.warning("message journal: %d line(s) that were not a row skipped", bad)
        if any(found):
            added = 0
            await db.execute("BEGIN IMMEDIATE")
            try:
                for rows in found:  # file by file, one statement for each file's rows
                    cursor = await db.executemany(_REPLAY, [(*row, *_same(row)) for row in rows])
                    added += max(cursor.rowcount, 0)  # the rows inserted, not those it had
                await db.execute("COMMIT")
            except BaseException:
                with suppress(Exception):
                    await db.execute("ROLLBACK")
                raise
            log.warning("message journal: %d message-log row(s) recovered after a crash", added)
        journal = MessageJournal(real, last + 1)
        for generation, path in journal_files(real):
            if generation in whole:
                with suppress(FileNotFoundError):
                    path.unlink()
        return journal

    @staticmethod
    async def _configure(db: aiosqlite.Connection) -> None:
        rows = list(await db.execute_fetchall("PRAGMA journal_mode=WAL"))
        if not rows or str(rows[0][0]).lower() != "wal":
            log.warning("SQLite refused WAL mode; concurrent readers may block the writer")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        # Each flush touches the newest page of every series that reported (raw rows are
        # kept in series order): 32 MiB keeps those pages of 4,000 series in memory instead of
        # reading them back at every flush (the default 2 MiB held 500).
        await db.execute("PRAGMA cache_size=-32768")

    def _identity_from_header(self, header: bytes) -> int | None:
        """The ``application_id`` in a history's header, None for an empty (new) file.

        StoreError, without SQLite having opened the file, for a file that is not an SQLite
        database or whose application id is another program's. The header of a WAL-mode file
        may lag behind its -wal log, so an id of 0 (or ours) still needs :meth:`_check_identity`.
        """
        if not header:
            return None
        problem = header_problem(header)
        if problem is not None:
            raise StoreError(f"{self.path} is not a pacs-tui history{problem}")
        (app_id,) = struct.unpack_from(">i", header, _APPLICATION_ID_AT)
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
        return StoreError(f"{self.path} is not a pacs-tui history{foreign_words(app_id, version)}")

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
            ours = 1 <= version <= SCHEMA_VERSION and names >= (
                _TABLES_V1 if version == 1 else _TABLES
            )
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
            if version:  # not a new file: moving the data can take minutes (bench/README)
                log.info("history store %s: upgrading to schema version %d", self.path, target)
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1]:
                    await db.execute(statement)
                step = STEPS.get(target)
                if step is not None:
                    await step(db)
                await db.execute(f"PRAGMA user_version = {target:d}")
                await db.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            if version:
                log.info("history store %s migrated to schema version %d", self.path, target)
        if not version:
            log.info("history store %s created (schema version %d)", self.path, SCHEMA_VERSION)
        (app_id,) = next(iter(await db.execute_fetchall("PRAGMA application_id")))
        if app_id != APPLICATION_ID:  # a history from before application ids
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
