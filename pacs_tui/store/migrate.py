"""Schema changes that move data, run by :meth:`Store._migrate` after the statements of
their :data:`~pacs_tui.store.schema.MIGRATIONS` step, inside the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import aiosqlite

from pacs_tui.store.schema import _V2_VIEW
from pacs_tui.store.tiers import FIVE_MINUTES, HOURLY, ROW_BYTES, SLOT, Tier, merge

log = logging.getLogger("pacs_tui.store")

_Rollup = tuple[int, float, float, float, float, int]  # series, ts, min, max, avg, count


async def to_v2(db: aiosqlite.Connection) -> None:
    """Version 1 → 2: series get integer ids, raw samples move to ``raw`` (millisecond
    integer times), per-minute rollups are merged into the 5-minute tier and per-hour ones
    copied into the hourly tier; the v1 sample tables are dropped and ``samples`` becomes a
    view. Every bucket rolled up from raw samples is rolled up again from them by the next
    upkeep (nothing is marked done), so the tiers end exactly as a v2 history makes them."""
    await db.execute(
        "INSERT INTO series(target, metric) SELECT target, metric FROM samples "
        "UNION SELECT target, metric FROM samples_1m UNION SELECT target, metric FROM samples_1h"
    )
    cursor = await db.execute(
        "INSERT OR REPLACE INTO raw(series, ts, value) "
        "SELECT s.id, CAST(round(x.ts * 1000) AS INTEGER), x.value FROM samples x "
        "JOIN series s ON s.target = x.target AND s.metric = x.metric "
        # In the v1 index's order: series ids follow (target, metric), so the rows go in at
        # the end of the new key instead of all over it (~4x faster).
        "ORDER BY x.target, x.metric, x.ts"
    )
    moved = max(cursor.rowcount, 0)
    for table, tier in (("samples_1m", FIVE_MINUTES), ("samples_1h", HOURLY)):
        # Grouped into the tier's buckets by SQLite (five per-minute rows to a bucket), in
        # the order of the v1 key, so each series' buckets come together.
        width = tier.bucket
        cursor = await db.execute(
            f"SELECT s.id, CAST(x.ts / {width} AS INTEGER) * {width} AS bucket, min(x.min), "
            "max(x.max), sum(x.avg * x.count) / sum(x.count), sum(x.count) "
            f"FROM {table} x JOIN series s ON s.target = x.target AND s.metric = x.metric "
            "GROUP BY x.target, x.metric, bucket ORDER BY x.target, x.metric, bucket"
        )
        one: list[_Rollup] = []  # one series' buckets at a time: memory stays small
        async for row in cursor:
            if one and one[0][0] != row[0]:
                await _write(db, tier, one)
                one = []
            one.append(row)  # type: ignore[arg-type]
        await cursor.close()
        await _write(db, tier, one)
    for table in ("samples", "samples_1m", "samples_1h"):
        await db.execute(f"DROP TABLE {table}")  # its indexes go with it
    await db.execute(_V2_VIEW)
    if moved:
        log.info("history migrated to version 2: %d raw samples moved", moved)


async def _write(db: aiosqlite.Connection, tier: Tier, buckets: Iterable[_Rollup]) -> None:
    """Finer v1 buckets of one series merged into the tier's packed rows."""
    parts: dict[tuple[int, int], list[tuple[float, float, float, int]]] = {}
    for series, ts, lo, hi, avg, count in buckets:
        key = (tier.row_id(series, ts), tier.slot_of(ts))
        parts.setdefault(key, []).append((lo, hi, avg, int(count)))
    rows: dict[int, bytearray] = {}
    for (row_id, slot), finer in parts.items():
        merged = merge("gauge", finer)
        if merged is not None:
            row = rows.setdefault(row_id, bytearray(ROW_BYTES))
            row[slot * SLOT.size : (slot + 1) * SLOT.size] = merged
    await db.executemany(
        f"INSERT OR REPLACE INTO {tier.table}(id, data) VALUES (?, ?)",
        [(row_id, bytes(data)) for row_id, data in rows.items()],
    )


#: STEPS[n]: the Python part of migration to version n.
STEPS: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {2: to_v2}
