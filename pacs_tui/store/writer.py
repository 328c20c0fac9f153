"""The store's write side, as a mixin of :class:`~pacs_tui.store.Store`: rows queued in
memory by ``add_*``, written in batches by one background writer; the rollups and the
retention (:mod:`.maintenance`) run in an upkeep task of their own beside it."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from pacs_tui.model import Event, LoggedMessage, Sample, Target
from pacs_tui.store.errors import StoreError, UpkeepStopped, _describe
from pacs_tui.store.journal import MessageJournal
from pacs_tui.store.schema import Retention, _EventRow, _MessageRow, _TargetRow
from pacs_tui.store.tiers import TIERS

# Logs as "pacs_tui.store" (not __name__), the name the history's log lines have always had.
log = logging.getLogger("pacs_tui.store")

# (ts in ms, target, metric, value, kind)
_PendingSample = tuple[int, str, str, float, str]

# Within a batch a second sample of a series in the same millisecond is moved 1 ms later
# (_raw_rows); across batches (a clock set back) the newer one replaces the older.
_INSERT_RAW = "INSERT OR REPLACE INTO raw(series, ts, value) VALUES (?, ?, ?)"
_INSERT_EVENT = (
    "INSERT INTO events(ts, target, kind, status, summary, fields) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages(ts, link, direction, type, control_id, ack, latency, size, sender, "
    "receiver, detail, version, sender_facility, receiver_facility, patient) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_TARGET = (
    "INSERT INTO targets(id, kind, labels, seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, labels = excluded.labels, "
    "seen = excluded.seen"
)
_NEW_SERIES = (
    "INSERT INTO series(target, metric, kind) VALUES (?, ?, ?) "
    "ON CONFLICT(target, metric) DO UPDATE SET kind = excluded.kind RETURNING id"
)


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
    _samples: list[_PendingSample]
    _events: list[_EventRow]
    _messages: list[_MessageRow]
    _targets: dict[str, _TargetRow]
    _journal: MessageJournal | None
    #: (target, metric) → (series id, kind), read by the first flush, grown by each one.
    _series: dict[tuple[str, str], tuple[int, str]] | None
    #: Targets that had samples or events since the upkeep last marked them as seen.
    _active: set[str]

    if TYPE_CHECKING:  # from QueriesMixin and MaintenanceMixin

        def _conn(self) -> aiosqlite.Connection: ...

        async def maintain(self, now: float | None = None) -> None: ...

    # -- enqueue (synchronous, never blocks) ----------------------------------------------------

    @property
    def pending(self) -> int:
        """Rows queued and not yet taken by a flush."""
        return len(self._samples) + len(self._events) + len(self._messages) + len(self._targets)

    def add_samples(self, samples: Iterable[Sample], counters: Collection[str] = ()) -> None:
        """Queue samples for the next flush. NaN values are skipped (SQLite stores NaN as NULL).

        ``counters`` names the metrics that are counters (rolled up as their increase); every
        other metric is a gauge. A series keeps the kind of its newest samples."""
        self._check_open()
        rows = [
            (
                round(float(s.ts) * 1000),
                s.target,
                s.metric,
                value,
                "counter" if s.metric in counters else "gauge",
            )
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

    def add_messages(self, messages: Iterable[LoggedMessage]) -> None:
        """Queue message-log rows (metadata only: see :class:`~pacs_tui.model.LoggedMessage`);
        :meth:`commit_messages` makes them durable at once."""
        self._check_open()
        rows = _message_rows(messages)
        room = self.max_pending - len(self._messages)
        if len(rows) > room:  # the new ones go: those queued may be journaled, acknowledged
            if not self.dropped:
                log.warning("history store backlog full: dropping new message-log rows")
            self.dropped += len(rows) - max(room, 0)
            rows = rows[: max(room, 0)]
        if rows:
            self._messages.extend(rows)
            self._wake.set()

    def upsert_targets(self, targets: Iterable[Target]) -> None:
        """Queue targets to be inserted or updated (by id) at the next flush, marked as seen
        now: a target no longer configured ages out of the history with its rows."""
        self._check_open()
        now = self.clock()
        for target in targets:
            labels = json.dumps(dict(target.labels), default=str)
            self._targets[target.id] = (target.id, str(target.kind), labels, now)
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

    def commit_messages(self, messages: Sequence[LoggedMessage]) -> None:
        """Make message-log rows durable now (a listener ACKs only then): appended to the
        message journal (:mod:`.journal`) before this returns, written into the table by the
        next flush, replayed from the journal if the process dies first. Raises
        :class:`StoreError` when the journal cannot take them."""
        self._check_open()
        journal = self._journal
        if journal is None:  # not started: nothing can make them durable
            raise StoreError("history store is not open")
        rows = _message_rows(messages)
        if len(self._messages) + len(rows) > self.max_pending:
            # Journaled rows are never dropped from the queue: they are refused here instead
            # (the listener answers AE), and the sender sends them again later.
            raise StoreError(
                f"the history has {len(self._messages):,} message-log rows it could not write "
                "yet: not accepting more until it can"
            )
        journal.append(rows)
        self._messages.extend(rows)
        self._wake.set()

    async def flush(self) -> None:
        """Write everything pending now, in one transaction."""
        # Shielded so a cancelled caller cannot leave a batch half-known (written or re-queued).
        await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        """Write everything pending, in one transaction; the caller holds ``_lock``."""
        targets = list(self._targets.values())
        samples, events, messages = self._samples, self._events, self._messages
        if not (targets or samples or events or messages):
            return
        self._targets, self._samples, self._events, self._messages = {}, [], [], []
        # The journal's rows are all in ``messages`` now: the generations up to ``covered``
        # can go once they are committed.
        covered = self._journal.rotate() if self._journal is not None and messages else None
        try:
            async with self._transaction() as db:
                known = dict(self._series or await _read_series(db))
                if targets:
                    await db.executemany(_UPSERT_TARGET, targets)
                if samples:
                    raw = await self._raw_rows(db, samples, known)
                    await db.executemany(_INSERT_RAW, raw)
                    # A sample older than what is rolled up (late, or a series whose kind
                    # changed) sends the rollups back to it: in the same transaction, so it
                    # survives a crash, and readers make those buckets from raw meanwhile.
                    await _roll_up_again_from(db, min(ts for _, ts, _ in raw) / 1000)
                if events:
                    await db.executemany(_INSERT_EVENT, events)
                if messages:
                    await db.executemany(_INSERT_MESSAGE, messages)
        except BaseException:
            # Put the batch back in front of anything queued meanwhile.
            for target in targets:
                self._targets.setdefault(target[0], target)
            self._samples[:0] = samples
            self._events[:0] = events
            self._messages[:0] = messages  # never trimmed: the journal holds them, acknowledged
            for rows in (self._samples, self._events):
                self._trim(rows)
            raise
        if covered is not None and self._journal is not None:
            self._journal.discard(covered)
        self._series = known
        self._active.update(row[1] for row in samples)
        self._active.update(row[1] for row in events)

    @staticmethod
    async def _raw_rows(
        db: aiosqlite.Connection,
        samples: list[_PendingSample],
        known: dict[tuple[str, str], tuple[int, str]],
    ) -> list[tuple[int, int, float]]:
        """The samples as (series id, ts, value), adding series seen for the first time (and
        updating a series whose kind changed) to ``known`` and the table."""
        rows = []
        taken: set[tuple[int, int]] = set()
        for ts, target, metric, value, kind in samples:
            entry = known.get((target, metric))
            if entry is None or entry[1] != kind:
                cursor = await db.execute(_NEW_SERIES, (target, metric, kind))
                (series_id,) = await cursor.fetchone() or (None,)
                await cursor.close()
                if series_id is None:
                    raise StoreError("the history did not give a new series an id")
                if entry is not None:  # gauge ⇄ counter: its buckets are made again from raw
                    rows_of = await db.execute_fetchall(
                        "SELECT min(ts) FROM raw WHERE series = ?", (series_id,)
                    )
                    first = next(iter(rows_of), (None,))[0]
                    if first is not None:
                        await _roll_up_again_from(db, first / 1000)
                entry = known[(target, metric)] = (int(series_id), kind)
            key = (entry[0], ts)
            while key in taken:  # two samples of a series in one millisecond: keep both
                key = (entry[0], key[1] + 1)
            taken.add(key)
            rows.append((*key, value))
        return rows

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

    async def _run_upkeep(self) -> None:
        """Rollups and retention every ``retention_interval``, in a task of their own: their
        short transactions interleave with the flushes instead of delaying them."""
        assert self.retention_interval is not None
        while not self._stop.is_set():
            try:
                await self.maintain()
            except UpkeepStopped:
                return
            except StoreError as exc:
                log.error("history rollup or retention failed: %s", exc)
            except Exception:
                log.exception("history rollup or retention failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retention_interval)

    async def _run_writer(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
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


async def _read_series(db: aiosqlite.Connection) -> dict[tuple[str, str], tuple[int, str]]:
    """Every series' id and kind by (target, metric)."""
    rows = await db.execute_fetchall("SELECT id, target, metric, kind FROM series")
    return {(target, metric): (series, kind) for series, target, metric, kind in rows}


async def _roll_up_again_from(db: aiosqlite.Connection, ts: float) -> None:
    """Have the upkeep roll every bucket from the one holding ``ts`` up again: marked ``late``,
    not by moving ``until``, which a rollup under way would move on past it. The bucket the
    rollups reach next (``until`` itself) is marked too: it may be under way."""
    await db.executemany(
        "UPDATE rollup_done SET late = min(coalesce(late, ?), ?) WHERE tier = ? AND until >= ?",
        [(start, start, tier.name, start) for tier in TIERS for start in [tier.bucket_start(ts)]],
    )


def _message_rows(messages: Iterable[LoggedMessage]) -> list[_MessageRow]:
    return [
        (
            round(m.ts * 1000),
            m.link,
            m.direction,
            m.type,
            m.control_id,
            m.ack,
            m.latency,
            int(m.size),
            m.sender,
            m.receiver,
            m.detail,
            m.version,
            m.sender_facility,
            m.receiver_facility,
            m.patient,
        )
        for m in messages
    ]
