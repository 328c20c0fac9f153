"""The store's upkeep, as a mixin of :class:`~pacs_tui.store.Store`: rolling closed buckets
up into the 5-minute and hourly tiers, and deleting what is past each table's retention.

Both run in an upkeep task of their own (``WriterMixin._run_upkeep``), as many short
transactions (one slice of the series at a time) so that neither a flush nor a reader ever
waits long for them; the longest is kept in ``longest_hold`` (``bench/history_year.py``
prints it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from pacs_tui.store.errors import UpkeepStopped
from pacs_tui.store.schema import Retention
from pacs_tui.store.tiers import (
    CHUNK_BITS,
    FIVE_MINUTES,
    HOURLY,
    ROW_BYTES,
    SLOT,
    TIERS,
    Tier,
    increase,
    merge,
    pack,
)

log = logging.getLogger("pacs_tui.store")

#: Makes one bucket's packed slots for the series with ids in [first, last], in a step.
_SlotsOf = Callable[[aiosqlite.Connection, int, int], Awaitable[dict[int, bytes]]]

#: Series handled per transaction of a rollup or a retention run.
SERIES_PER_STEP = 200
#: Rows deleted per transaction from the events and the message log.
ROWS_PER_STEP = 5_000
#: How often the retention also looks for series and targets left with nothing.
AGE_OUT_EVERY = 3600.0
#: A bucket is rolled up this long after it ends (late results: a check's timeout).
ROLLUP_GRACE = 120

_SPLICE = (
    "UPDATE {table} SET data = CAST(substr(data, 1, ?) || ? || substr(data, ?) AS BLOB) "
    "WHERE id = ?"
)
_NEW_ROW = (
    f"INSERT INTO {{table}}(id, data) VALUES (?, zeroblob({ROW_BYTES})) ON CONFLICT DO NOTHING"
)


class MaintenanceMixin:
    """Rollups and retention; :class:`~pacs_tui.store.Store` sets these attributes."""

    path: Path
    retention: Retention
    clock: Callable[[], float]
    _lock: asyncio.Lock
    _stop: asyncio.Event
    _active: set[str]
    _aged_at: float | None
    _series: dict[tuple[str, str], tuple[int, str]] | None
    longest_hold: float

    if TYPE_CHECKING:  # from WriterMixin and QueriesMixin

        def _transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]: ...

        def _conn(self) -> aiosqlite.Connection: ...

    async def maintain(self, now: float | None = None) -> None:
        """Roll up every closed bucket, then apply the retention."""
        now = self.clock() if now is None else now
        await self.roll_up(now)
        await self.run_retention(now)

    @asynccontextmanager
    async def _step(self) -> AsyncIterator[aiosqlite.Connection]:
        """One short write transaction of the upkeep, timed."""
        if self._stop.is_set():
            raise UpkeepStopped  # close() is waiting: leave the rest for the next start
        async with self._lock:
            started = time.perf_counter()
            async with self._transaction() as db:
                yield db
            self.longest_hold = max(self.longest_hold, time.perf_counter() - started)
        await asyncio.sleep(0)  # let a flush or a reader in between two steps

    async def _series_ids(self) -> list[int]:
        return [
            row[0]
            for row in await self._conn().execute_fetchall("SELECT id FROM series ORDER BY id")
        ]

    async def _first_raw(self, at_or_after_ms: int) -> int | None:
        """The time (ms) of the oldest raw sample at or after a time, over every series."""
        rows = list(
            await self._conn().execute_fetchall(
                "SELECT min((SELECT ts FROM raw WHERE series = s.id AND ts >= ? "
                "ORDER BY ts LIMIT 1)) FROM series s",
                (at_or_after_ms,),
            )
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    # -- rollups --------------------------------------------------------------------------------

    async def roll_up(self, now: float | None = None) -> int:
        """Roll every bucket that closed (``ROLLUP_GRACE`` ago) into the tiers: 5-minute
        buckets from the raw samples, hourly ones from the 5-minute buckets. A sample written
        late into a bucket already rolled up has that bucket rolled up again (the flush that
        wrote it marked it ``late``). Returns the number of buckets rolled."""
        now = self.clock() if now is None else now
        horizon = int(now) - ROLLUP_GRACE
        async with self._step() as db:
            # Go back to the late buckets, in one step with taking their marks: a flush after
            # it marks them again for the next run, even one that reaches a bucket under way.
            rows = await db.execute_fetchall(
                "UPDATE rollup_done SET until = min(until, coalesce(late, until)), "
                "late = NULL RETURNING tier, until"
            )
        done_of: dict[str, int] = {str(tier): int(until) for tier, until in rows}
        done = done_of.get(FIVE_MINUTES.name)
        if done is None:
            first = await self._first_raw(0)
            if first is None:
                return 0
            done = FIVE_MINUTES.bucket_start(first / 1000)
            await self._set_done(FIVE_MINUTES, done)  # so that a flush can mark it late
        hours_done = done_of.get(HOURLY.name)
        if hours_done is None:
            hours_done = HOURLY.bucket_start(done)
            await self._set_done(HOURLY, hours_done)
        done, minutes = await self._catch_up(FIVE_MINUTES, done, horizon, self._roll_five_minutes)
        _, hours = await self._catch_up(HOURLY, hours_done, done, self._roll_hour)
        return minutes + hours

    async def _catch_up(
        self, tier: Tier, done: int, until: int, roll: Callable[[int], Awaitable[bool]]
    ) -> tuple[int, int]:
        """Roll ``tier``'s buckets from ``done`` on while they end by ``until``, skipping a
        stretch with no samples at all (the collector was stopped); where it got to, and the
        buckets rolled."""
        rolled = 0
        while done + tier.bucket <= until:
            if await roll(done):
                rolled += 1
                done += tier.bucket
            else:
                nxt = await self._first_raw((done + tier.bucket) * 1000)
                last = tier.bucket_start(until)
                ahead = last if nxt is None else tier.bucket_start(nxt / 1000)
                done = max(done + tier.bucket, min(ahead, last))
            await self._set_done(tier, done)
        return done, rolled

    async def _set_done(self, tier: Tier, until: int) -> None:
        async with self._step() as db:
            await db.execute(
                "INSERT INTO rollup_done(tier, until) VALUES (?, ?) "
                "ON CONFLICT(tier) DO UPDATE SET until = excluded.until",
                (tier.name, until),
            )

    async def _roll_bucket(self, tier: Tier, start: int, slots_of: _SlotsOf) -> bool:
        """One bucket of ``tier`` for every series, a step of series at a time, from what
        ``slots_of(db, first id, last id)`` makes of them; whether any series had data."""
        had = False
        for part in _slices(await self._series_ids()):
            async with self._step() as db:
                slots = await slots_of(db, part[0], part[-1])
                if slots:
                    had = True
                    await self._write_slots(db, tier, start, slots)
        return had

    async def _roll_five_minutes(self, start: int) -> bool:
        """One 5-minute bucket from the raw samples."""
        low, high = start * 1000, (start + FIVE_MINUTES.bucket) * 1000
        return await self._roll_bucket(
            FIVE_MINUTES, start, lambda db, lo, hi: self._five_minute_slots(db, lo, hi, low, high)
        )

    @staticmethod
    async def _five_minute_slots(
        db: aiosqlite.Connection, lo_id: int, hi_id: int, low: int, high: int
    ) -> dict[int, bytes]:
        slots: dict[int, bytes] = {}
        # The join drives the raw table's (series, ts) key once per series: a seek each,
        # where "WHERE ts BETWEEN" alone would read every series' whole day.
        for series, lo, hi, avg, count in await db.execute_fetchall(
            "SELECT s.id, min(r.value), max(r.value), avg(r.value), count(*) FROM series s "
            "JOIN raw r ON r.series = s.id AND r.ts >= ? AND r.ts < ? "
            "WHERE s.id BETWEEN ? AND ? AND s.kind != 'counter' GROUP BY s.id",
            (low, high, lo_id, hi_id),
        ):
            slots[series] = pack(lo, hi, avg, count)
        values: dict[int, list[float]] = {}
        for series, value in await db.execute_fetchall(
            "SELECT s.id, r.value FROM series s "
            "JOIN raw r ON r.series = s.id AND r.ts >= ? AND r.ts < ? "
            "WHERE s.id BETWEEN ? AND ? AND s.kind = 'counter' ORDER BY s.id, r.ts",
            (low, high, lo_id, hi_id),
        ):
            values.setdefault(series, []).append(value)
        if values:
            marks = ",".join("?" * len(values))
            before = {
                series: value
                for series, value in await db.execute_fetchall(
                    "SELECT s.id, (SELECT value FROM raw WHERE series = s.id AND ts < ? "
                    f"ORDER BY ts DESC LIMIT 1) FROM series s WHERE s.id IN ({marks})",
                    (low, *values),
                )
            }
            for series, run in values.items():
                up = increase(before.get(series), run)
                slots[series] = pack(up, up, up, len(run))
        return slots

    async def _roll_hour(self, start: int) -> bool:
        """One hourly bucket from its twelve 5-minute buckets."""
        return await self._roll_bucket(
            HOURLY, start, lambda db, lo, hi: self._hour_slots(db, lo, hi, start)
        )

    @staticmethod
    async def _hour_slots(
        db: aiosqlite.Connection, lo_id: int, hi_id: int, start: int
    ) -> dict[int, bytes]:
        per_hour = HOURLY.bucket // FIVE_MINUTES.bucket
        rows = await db.execute_fetchall(
            "SELECT s.id, s.kind, substr(r.data, ?, ?) FROM series s "
            f"JOIN rollup_5m r ON r.id = (s.id << {CHUNK_BITS} | ?) WHERE s.id BETWEEN ? AND ?",
            (
                FIVE_MINUTES.slot_of(start) * SLOT.size + 1,
                per_hour * SLOT.size,
                int(start // FIVE_MINUTES.span),
                lo_id,
                hi_id,
            ),
        )
        slots: dict[int, bytes] = {}
        for series, kind, data in rows:
            if len(data) == per_hour * SLOT.size:
                merged = merge(kind, SLOT.iter_unpack(data))
                if merged is not None:
                    slots[series] = merged
        return slots

    @staticmethod
    async def _write_slots(
        db: aiosqlite.Connection, tier: Tier, start: int, slots: dict[int, bytes]
    ) -> None:
        offset = tier.slot_of(start) * SLOT.size
        rows = [(tier.row_id(series, start), data) for series, data in slots.items()]
        await db.executemany(_NEW_ROW.format(table=tier.table), [(rid,) for rid, _ in rows])
        await db.executemany(
            _SPLICE.format(table=tier.table),
            [(offset, data, offset + SLOT.size + 1, rid) for rid, data in rows],
        )

    # -- retention ------------------------------------------------------------------------------

    async def run_retention(self, now: float | None = None) -> dict[str, int]:
        """Delete rows older than each table's window, a slice at a time; rows deleted per
        table. Series and targets that are no longer configured and have nothing left go too."""
        now = self.clock() if now is None else now
        deleted = {"raw": 0, "rollup_5m": 0, "rollup_1h": 0, "events": 0, "messages": 0}
        raw_before = int((now - self.retention.raw) * 1000)
        windows = {FIVE_MINUTES: self.retention.five_minute, HOURLY: self.retention.hour}
        ids = await self._series_ids()
        for part in _slices(ids):
            async with self._step() as db:
                deleted["raw"] += await _delete_each(
                    db,
                    "DELETE FROM raw WHERE series = ? AND ts < ?",
                    [(series, raw_before) for series in part],
                )
                for tier, window in windows.items():
                    deleted[tier.table] += await _delete_each(
                        db,
                        f"DELETE FROM {tier.table} WHERE id >= ? AND id < ?",
                        [tier.rows_before(series, now - window) for series in part],
                    )
        for table, column, cutoff in (
            ("events", "rowid", now - self.retention.events),  # ts in seconds
            ("messages", "id", int((now - self.retention.messages) * 1000)),  # in ms
        ):
            while True:
                async with self._step() as db:
                    cursor = await db.execute(
                        f"DELETE FROM {table} WHERE {column} IN (SELECT {column} FROM {table} "
                        f"WHERE ts < ? LIMIT {ROWS_PER_STEP})",
                        (cutoff,),
                    )
                    count = max(cursor.rowcount, 0)
                deleted[table] += count
                if count < ROWS_PER_STEP:
                    break
        if self._aged_at is None or not 0 <= now - self._aged_at < AGE_OUT_EVERY:
            await self._age_out(ids, now)
            self._aged_at = now
        if any(deleted.values()):
            log.info("history retention deleted %s", {k: v for k, v in deleted.items() if v})
        return deleted

    async def _age_out(self, ids: list[int], now: float) -> None:
        """Drop the series with no sample left in any table, and the targets no longer
        configured (not seen within the event retention) with no series and no events."""
        empty = " AND ".join(
            [
                "NOT EXISTS (SELECT 1 FROM raw WHERE series = s.id)",
                *(
                    f"NOT EXISTS (SELECT 1 FROM {tier.table} WHERE id >= s.id << {CHUNK_BITS} "
                    f"AND id < (s.id + 1) << {CHUNK_BITS})"
                    for tier in TIERS
                ),
            ]
        )
        for part in _slices(ids):
            async with self._step() as db:
                gone = await db.execute_fetchall(
                    f"DELETE FROM series WHERE id IN (SELECT s.id FROM series s "
                    f"WHERE s.id BETWEEN ? AND ? AND {empty}) RETURNING target, metric",
                    (part[0], part[-1]),
                )
                # In the same step: a flush between two steps must not write under a gone id.
                for target, metric in gone:
                    if self._series is not None:
                        self._series.pop((target, metric), None)
        active, self._active = self._active, set()
        async with self._step() as db:
            # Targets that reported since the last look are still configured.
            await db.executemany(
                "UPDATE targets SET seen = max(seen, ?) WHERE id = ?",
                [(now, target) for target in active],
            )
            await db.execute(
                "DELETE FROM targets WHERE seen < ? "
                "AND NOT EXISTS (SELECT 1 FROM series WHERE series.target = targets.id) "
                "AND NOT EXISTS (SELECT 1 FROM events WHERE events.target = targets.id)",
                (now - self.retention.events,),
            )


def _slices(ids: list[int]) -> Iterator[list[int]]:
    """The series ids a step at a time."""
    for first in range(0, len(ids), SERIES_PER_STEP):
        yield ids[first : first + SERIES_PER_STEP]


async def _delete_each(db: aiosqlite.Connection, sql: str, params: list[tuple[int, int]]) -> int:
    cursor = await db.executemany(sql, params)  # rowcount: the rows of every statement
    count = max(cursor.rowcount, 0)
    await cursor.close()
    return count


__all__ = ["ROLLUP_GRACE", "SERIES_PER_STEP", "MaintenanceMixin"]
