"""What a history holds: the tables and their migrations, retention windows, and which tier
(raw, 5-minute, hourly) answers a window. The packed layout of the tiers is in :mod:`.tiers`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Resolution = Literal["raw", "5m", "1h"]

HOUR = 3600.0
DAY = 86400.0
#: The widest window a chart reads from raw samples (6 h at 30 s: 720 points).
RAW_MAX_WINDOW = 6 * HOUR
#: A window a reader can be sure to get as raw samples, each at its own time (a bucket's time
#: is its start): under :data:`RAW_MAX_WINDOW` by an hour, room for the reader's clock and the
#: store's to differ. A restart's seeds ask for it first.
RAW_RECENT = RAW_MAX_WINDOW - HOUR
#: The widest window read from the 5-minute tier (7 days: 2,016 points); wider from the hours.
FIVE_MINUTE_MAX_WINDOW = 7 * DAY


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each table keeps rows, in seconds.

    The defaults hold a year of 1,000 targets x 4 metrics sampled every 30 s in ~1.6 GB
    (docs/ARCHITECTURE.md, "History"): raw samples a day, 5-minute buckets 35 days (a
    5-minute outage still shows a month later), hourly buckets 400 days.
    """

    raw: float = 24 * HOUR
    five_minute: float = 35 * DAY
    hour: float = 400 * DAY
    events: float = 400 * DAY
    messages: float = 14 * DAY


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One point of a metric's history; a raw sample has min == max == avg and count 1.

    For a counter, a bucket's min, max and avg are all its *increase* over the bucket (resets
    counted from zero), and a raw point is the counter's value."""

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
    if age_seconds_of_since <= retention.five_minute and window_seconds <= FIVE_MINUTE_MAX_WINDOW:
        return "5m"
    return "1h"


# Schema version 1 (pacs-tui 0.1 to 0.3): one row per sample with the target's and the metric's
# names in it, per-minute and per-hour rollup rows. Kept to create a version-1 file in a test.
_V1: tuple[str, ...] = (
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
    *(
        statement
        for name in ("samples_1m", "samples_1h")
        for statement in (
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
    ),
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
)

# Version 2: integer series ids, integer millisecond timestamps, raw samples keyed by
# (series, ts) WITHOUT ROWID; the 5-minute and hourly tiers packed 288 buckets to a row
# (:mod:`.tiers`); the message log. The v1 sample tables are converted by
# :func:`pacs_tui.store.migrate.to_v2` and then dropped; ``samples`` becomes a view.
_V2: tuple[str, ...] = (
    "ALTER TABLE targets ADD COLUMN seen REAL NOT NULL DEFAULT 0",
    # AUTOINCREMENT: the id of a series that aged out is never given to a new one.
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        metric TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'gauge',
        UNIQUE (target, metric)
    )""",
    """CREATE TABLE raw (
        series INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID""",
    # id = series << 20 | chunk number; data = 288 packed buckets (tiers.SLOT).
    "CREATE TABLE rollup_5m (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE rollup_1h (id INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    # Buckets of a tier that end at or before ``until`` (epoch seconds) are rolled up, except
    # from ``late`` on: a flush wrote samples there since (the next rollup goes back to it).
    """CREATE TABLE rollup_done (
        tier TEXT PRIMARY KEY,
        until INTEGER NOT NULL,
        late INTEGER NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        link TEXT NOT NULL,
        direction TEXT NOT NULL,
        type TEXT NOT NULL,
        control_id TEXT NOT NULL,
        ack TEXT NULL,
        latency REAL NULL,
        size INTEGER NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        receiver TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX messages_link_ts ON messages(link, ts)",
    "CREATE INDEX messages_control_id ON messages(control_id)",
    "CREATE INDEX messages_ack_ts ON messages(ack, ts)",
    "CREATE INDEX messages_ts ON messages(ts)",
)

_V2_VIEW = """CREATE VIEW samples AS
    SELECT r.ts / 1000.0 AS ts, s.target AS target, s.metric AS metric, r.value AS value
    FROM raw r JOIN series s ON s.id = r.series"""

# Version 3: the message log says the HL7 version and the sending and receiving facilities.
_V3: tuple[str, ...] = (
    "ALTER TABLE messages ADD COLUMN version TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE messages ADD COLUMN sender_facility TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE messages ADD COLUMN receiver_facility TEXT NOT NULL DEFAULT ''",
)

# Version 4: the patient a message is about, as a keyed hash of PID-3's ID ("#" and 16 hex
# digits) unless the listener's store_phi is on (then the ID itself); "" when none.
_V4: tuple[str, ...] = (
    "ALTER TABLE messages ADD COLUMN patient TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX messages_patient_ts ON messages(patient, ts)",
)

# MIGRATIONS[n - 1] takes the schema from user_version n - 1 to n. Only ever append. A step
# that moves data is completed in Python by migrate.STEPS[n] after its statements.
# JSON columns are declared TEXT: a declared type "JSON" would get NUMERIC affinity.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)
_TABLES_V1 = frozenset({"targets", "samples", "samples_1m", "samples_1h", "events"})
_TABLES = frozenset({"targets", "series", "raw", "rollup_5m", "rollup_1h", "events", "messages"})
# "PTUI": marks the file as a pacs-tui history, so another program's SQLite file is refused.
APPLICATION_ID = 0x50545549

_EventRow = tuple[float, str, str, str | None, str, str]
_TargetRow = tuple[str, str, str, float]
# ts, link, direction, type, control_id, ack, latency, size, sender, receiver, detail, version,
# sender_facility, receiver_facility, patient
_MessageRow = tuple[
    int, str, str, str, str, str | None, float | None, int, str, str, str, str, str, str, str
]
