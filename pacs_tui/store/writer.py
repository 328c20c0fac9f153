"""The store's write side, as a mixin of :class:`~pacs_tui.store.Store`: rows queued in
memory by ``add_*``, written in batches (with their rollups) by one background writer."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from pacs_tui.model import Event, Sample, Target
from pacs_tui.store.errors import StoreError, _describe
from pacs_tui.store.schema import (
    _BUCKET,
    _TABLE,
    Retention,
    _EventRow,
    _rollup,
    _SampleRow,
    _TargetRow,
)

# Logs as "pacs_tui.store" (not __name__), the name the history's log lines have always had.
log = logging.getLogger("pacs_tui.store")

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


class WriterMixin:
    """Queueing and writing; :class:`~pacs_tui.store.Store` sets these attributes."""

    path: Path
    readonly: bool
    retention: Retention
    flush_interval: float
    retention_interval: float | None
    max_pending: int
    clock: Callable[[], float]
    dropped: int
    _lock: asyncio.Lock
    _wake: asyncio.Event
    _stop: asyncio.Event
    _closed: bool
    _samples: list[_SampleRow]
    _events: list[_EventRow]
    _targets: dict[str, _TargetRow]

    if TYPE_CHECKING:  # from QueriesMixin

        def _conn(self) -> aiosqlite.Connection: ...

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
