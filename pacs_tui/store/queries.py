"""The store's read queries (raw samples, a metric's series, events, targets, last
statuses), as a mixin of :class:`~pacs_tui.store.Store`."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from pacs_tui.model import Event, EventKind, Sample, Status, Target
from pacs_tui.store.errors import StoreError, _describe
from pacs_tui.store.schema import _BUCKET, _TABLE, Retention, SeriesPoint, choose_resolution


def _status(word: str | None) -> Status | None:
    if word is None:
        return None
    try:
        return Status(word)
    except ValueError:
        return Status.UNKNOWN


class QueriesMixin:
    """Reads of an open history; :class:`~pacs_tui.store.Store` sets these attributes."""

    path: Path
    retention: Retention
    clock: Callable[[], float]
    _db: aiosqlite.Connection | None

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

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float
    ) -> dict[str, list[SeriesPoint]]:
        """:meth:`series` of one metric for many targets up to now, in one query per 500
        targets (a table's trend column: one query instead of one per row)."""
        now = self.clock()
        resolution = choose_resolution(now - since, now - since, self.retention)
        if resolution == "raw":
            columns, table, start = "ts, value, value, value, 1", "samples", since
        else:
            bucket = _BUCKET[resolution]
            columns, table = "ts, min, max, avg, count", _TABLE[resolution]
            start = math.floor(since / bucket) * bucket
        out: dict[str, list[SeriesPoint]] = {t: [] for t in targets}
        wanted = list(out)
        for first in range(0, len(wanted), 500):  # SQLite's bound on host parameters
            chunk = wanted[first : first + 500]
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT target, {columns} FROM {table} WHERE metric = ? AND ts >= ? "
                f"AND target IN ({marks}) ORDER BY target, ts"
            )
            for target, *point in await self._fetch(sql, [metric, start, *chunk]):
                out[target].append(SeriesPoint(*point))
        return out

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
