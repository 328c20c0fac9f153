"""The store's read queries (raw samples, a metric's series, events, the message log,
targets, last statuses), as a mixin of :class:`~pacs_tui.store.Store`."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from pacs_tui.model import LATE_ACK, NO_ACK, Event, EventKind, LoggedMessage, Sample, Status, Target
from pacs_tui.store.errors import StoreError, _describe
from pacs_tui.store.schema import Retention, SeriesPoint, choose_resolution
from pacs_tui.store.tiers import FIVE_MINUTES, HOURLY, Tier, increase, unpack_row


def _status(word: str | None) -> Status | None:
    if word is None:
        return None
    try:
        return Status(word)
    except ValueError:
        return Status.UNKNOWN


def _where(*clauses: tuple[str, Any]) -> tuple[str, list[Any]]:
    """`` WHERE …`` of the clauses whose value is not None (``""`` when none is), and their
    values in order."""
    kept = [(clause, value) for clause, value in clauses if value is not None]
    sql = " WHERE " + " AND ".join(clause for clause, _ in kept) if kept else ""
    return sql, [value for _, value in kept]


def _ms(seconds: float | None, rounding: Callable[[float], int]) -> int | None:
    """Epoch seconds as the integer milliseconds the tables keep (rounded inwards)."""
    return None if seconds is None else rounding(seconds * 1000)


class QueriesMixin:
    """Reads of an open history; :class:`~pacs_tui.store.Store` sets these attributes."""

    path: Path
    retention: Retention
    clock: Callable[[], float]
    _db: aiosqlite.Connection | None
    #: A connection of its own for reads, so that a read never queues behind a write.
    _reader: aiosqlite.Connection | None

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("history store is not open")
        return self._db

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        db = self._reader if self._reader is not None else self._conn()
        try:
            return list(await db.execute_fetchall(sql, params))
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
        join = "" if kind is None else " JOIN targets t ON t.id = s.target"
        where, params = _where(
            ("t.kind = ?", None if kind is None else str(kind)),
            ("s.target = ?", target),
            ("s.metric = ?", metric),
            ("r.ts >= ?", _ms(since, math.ceil)),
            ("r.ts <= ?", _ms(until, math.floor)),
        )
        sql = (
            "SELECT r.ts, s.target, s.metric, r.value FROM series s "
            f"JOIN raw r ON r.series = s.id{join}{where}"
        )
        sql += " ORDER BY r.ts, s.id"
        rows = await self._fetch(sql, params)
        return [Sample(ts / 1000, tgt, met, val) for ts, tgt, met, val in rows]

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        """A metric's history from the coarsest tier that suits the window, oldest first.

        Buckets are included when they start in [bucket of ``since``, ``until``]; the newest
        buckets, not rolled up yet, are computed from the raw samples."""
        return (await self.series_of([target], metric, since, until))[target]

    async def series_of(
        self,
        targets: Sequence[str],
        metric: str,
        since: float,
        until: float | None = None,
        step: float | None = None,
    ) -> dict[str, list[SeriesPoint]]:
        """:meth:`series` of one metric for many targets, in one query per 500 targets (a
        table's trend column: one query instead of one per row).

        With ``step`` (seconds), raw samples come as buckets of ``step`` (aligned on multiples
        of it; min, max, avg and count), summed up in SQL: a trend column of 1,000 targets over
        an hour of 5-s results is 60,000 points at a minute each, not 720,000."""
        now = self.clock()
        end = now if until is None else until
        resolution = choose_resolution(end - since, now - since, self.retention)
        out: dict[str, list[SeriesPoint]] = {t: [] for t in targets}
        wanted = list(out)
        for first in range(0, len(wanted), 500):  # SQLite's bound on host parameters
            chunk = wanted[first : first + 500]
            marks = ",".join("?" * len(chunk))
            found = await self._fetch(
                f"SELECT id, target, kind FROM series WHERE metric = ? AND target IN ({marks})",
                [metric, *chunk],
            )
            if resolution == "raw" and found and step is not None:
                names = {series: target for series, target, _ in found}
                ids = ",".join("?" * len(names))
                width = max(1000, round(step * 1000))
                for series, bucket, low, high, mean, count in await self._fetch(
                    f"SELECT series, ts / ? AS bucket, min(value), max(value), avg(value), "
                    f"count(*) FROM raw WHERE series IN ({ids}) AND ts >= ? AND ts <= ? "
                    "GROUP BY series, bucket ORDER BY series, bucket",
                    [width, *names, math.ceil(since * 1000), math.floor(end * 1000)],
                ):
                    point = SeriesPoint(bucket * width / 1000, low, high, mean, count)
                    out[names[series]].append(point)
                continue
            if resolution == "raw" and found:
                names = {series: target for series, target, _ in found}
                ids = ",".join("?" * len(names))
                for series, ts, value in await self._fetch(
                    f"SELECT series, ts, value FROM raw WHERE series IN ({ids}) "
                    "AND ts >= ? AND ts <= ? ORDER BY series, ts",
                    [*names, math.ceil(since * 1000), math.floor(end * 1000)],
                ):
                    out[names[series]].append(SeriesPoint(ts / 1000, value, value, value, 1))
                continue
            tier = FIVE_MINUTES if resolution == "5m" else HOURLY
            # Where the rollups stand, read before their rows: every row below it was
            # committed first, so an upkeep step between the reads cannot leave a gap.
            done = await self._fetch(
                "SELECT min(until, coalesce(late, until)) FROM rollup_done WHERE tier = ?",
                (tier.name,),
            )
            for series, target, kind in found:
                rolled = int(done[0][0]) if done else None
                out[target] = await self._tier_points(tier, series, kind, since, end, rolled)
        return out

    async def _tier_points(
        self, tier: Tier, series: int, kind: str, since: float, end: float, rolled: int | None
    ) -> list[SeriesPoint]:
        """The tier's buckets of one series; from ``rolled`` on (not rolled up yet), from raw."""
        start = tier.bucket_start(since)
        points: list[SeriesPoint] = []
        for row_id, data in await self._fetch(
            f"SELECT id, data FROM {tier.table} WHERE id >= ? AND id <= ? ORDER BY id",
            (tier.row_id(series, start), tier.row_id(series, end)),
        ):
            points.extend(p for p in unpack_row(tier, row_id, data) if start <= p.ts <= end)
        # Buckets not rolled up yet (the last minutes, up to an hour for the hourly tier)
        # come from the raw samples, as the rollup will make them.
        tail = max(rolled if rolled is not None else start, start)
        if tail <= end:
            points = [p for p in points if p.ts < tail]
            points.extend(await self._raw_buckets(tier, series, kind, tail, end))
        return points

    async def _raw_buckets(
        self, tier: Tier, series: int, kind: str, start: float, end: float
    ) -> list[SeriesPoint]:
        low = math.ceil(start * 1000)
        rows = await self._fetch(
            "SELECT ts, value FROM raw WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (series, low, math.floor((tier.bucket_start(end) + tier.bucket) * 1000)),
        )
        before: float | None = None
        if kind == "counter" and rows:
            prev = await self._fetch(
                "SELECT value FROM raw WHERE series = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                (series, low),
            )
            before = prev[0][0] if prev else None
        buckets: dict[int, list[float]] = {}
        for ts, value in rows:
            buckets.setdefault(tier.bucket_start(ts / 1000), []).append(value)
        points = []
        for bucket, values in buckets.items():
            if kind == "counter":
                up = increase(before, values)
                before = values[-1]
                points.append(SeriesPoint(float(bucket), up, up, up, len(values)))
            else:
                lo, hi, mean = min(values), max(values), sum(values) / len(values)
                points.append(SeriesPoint(float(bucket), lo, hi, mean, len(values)))
        return points

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
        join = "" if target_kind is None else " JOIN targets t ON t.id = e.target"
        where, params = _where(
            ("t.kind = ?", None if target_kind is None else str(target_kind)),
            ("e.target = ?", target),
            ("e.kind = ?", None if kind is None else str(kind)),
            ("e.ts >= ?", since),
            ("e.ts <= ?", until),
        )
        sql = (
            "SELECT e.ts, e.target, e.kind, e.status, e.summary, e.fields "
            f"FROM events e{join}{where}"
        )
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

    async def metric_names(self) -> list[str]:
        """Every metric the history has a series of, by name."""
        rows = await self._fetch("SELECT DISTINCT metric FROM series ORDER BY metric")
        return [str(name) for (name,) in rows]

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

    async def messages(
        self,
        link: str | None = None,
        *,
        control_id: str | None = None,
        ack: str | None = None,
        since: float | None = None,
        until: float | None = None,
        type_prefix: str | None = None,
        patient: Sequence[str] = (),
        limit: int = 500,
        links: Sequence[str] | None = None,
        sender: str | None = None,
    ) -> list[LoggedMessage]:
        """The newest ``limit`` rows of the message log that match, newest first (by link and
        time, by control ID, by ACK code: each has its index). ``ack`` :data:`NO_ACK` matches
        the messages no answer came to (or none within the tap's ack_timeout); ``type_prefix``
        the types that start with it ("ADT", "ADT^A01"); ``patient`` the rows of any of these
        patient references; ``links`` the rows of any of these links (none: no row); ``sender``
        the rows of one sending application (an audit record's user)."""
        where, params = _where(
            ("link = ?", link),
            ("control_id = ?", control_id),
            ("sender = ?", sender),
            ("ack = ?", ack if ack != NO_ACK else None),
            ("ts >= ?", _ms(since, math.ceil)),
            ("ts <= ?", _ms(until, math.floor)),
        )
        more = []
        if ack == NO_ACK:  # none came, or none within the tap's ack_timeout (counted as such)
            more.append("(ack IS NULL OR substr(detail, 1, ?) = ?)")
            params += [len(LATE_ACK), LATE_ACK]
        if type_prefix:  # substr, not LIKE: a type may hold % or _ (it comes from the sender)
            more.append("substr(type, 1, ?) = ?")
            params += [len(type_prefix), type_prefix]
        if patient:
            more.append(f"patient IN ({', '.join('?' * len(patient))})")
            params += list(patient)
        if links is not None:
            more.append(f"link IN ({', '.join('?' * len(links))})" if links else "0")
            params += list(links)
        if more:
            where = f"{where} AND " if where else " WHERE "
            where += " AND ".join(more)
        sql = (
            "SELECT ts, link, direction, type, control_id, ack, latency, size, sender, receiver, "
            "detail, version, sender_facility, receiver_facility, patient "
            f"FROM messages{where} ORDER BY ts DESC, id DESC LIMIT ?"
        )
        params.append(max(int(limit), 0))
        return [LoggedMessage(ts / 1000, *rest) for ts, *rest in await self._fetch(sql, params)]
