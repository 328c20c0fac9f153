"""What a history holds: the tables and their migrations, retention windows, the rollup
arithmetic, and which table (raw, per-minute, per-hour) answers a window."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

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
