"""History store: schema, file safety, batching, rollups, retention and queries."""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pacs_tui.model import Event, EventKind, Sample, Status, Target
from pacs_tui.store import (
    APPLICATION_ID,
    DAY,
    HOUR,
    SCHEMA_VERSION,
    Retention,
    SeriesPoint,
    Store,
    StoreError,
    choose_resolution,
)
from pacs_tui.store import writer as store_module  # _INSERT_EVENT, patched below

T0 = 1_699_999_200.0  # on an hour boundary


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    # Retention off: tests insert old timestamps on purpose. Tests flush explicitly.
    s = await Store.open(db_path, flush_interval=3600, retention_interval=None)
    yield s
    await s.close()


# -- choose_resolution ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "age", "expected"),
    [
        (HOUR, HOUR, "raw"),
        (6 * HOUR, 6 * HOUR, "raw"),
        (6 * HOUR + 1, 6 * HOUR + 1, "5m"),  # window too wide for raw
        (HOUR, 2 * DAY, "5m"),  # narrow window but older than raw retention
        (7 * DAY, 7 * DAY, "5m"),
        (7 * DAY + 1, 7 * DAY + 1, "1h"),
        (30 * DAY, 30 * DAY, "1h"),
        (HOUR, 60 * DAY, "1h"),  # older than the 5-minute tier's retention
    ],
)
def test_choose_resolution(window: float, age: float, expected: str) -> None:
    assert choose_resolution(window, age, Retention()) == expected


def test_choose_resolution_follows_retention() -> None:
    short = Retention(raw=HOUR / 2, five_minute=DAY)
    assert choose_resolution(HOUR / 4, HOUR, short) == "5m"
    assert choose_resolution(HOUR, 2 * DAY, short) == "1h"


def test_retention_defaults() -> None:
    r = Retention()
    assert (r.raw, r.five_minute, r.hour, r.events, r.messages) == (
        24 * HOUR,
        35 * DAY,
        400 * DAY,
        400 * DAY,
        14 * DAY,
    )


# -- file and schema ------------------------------------------------------------------------


async def test_new_file_is_private_and_versioned(store: Store, db_path: Path) -> None:
    store.add_samples([Sample(T0, "a", "m", 1.0)])
    await store.flush()
    assert mode(db_path) == 0o600
    assert mode(Path(f"{db_path}-wal")) == 0o600
    assert mode(db_path.parent) == 0o700
    assert rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 4
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {r[0] for r in rows(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {
        "targets",
        "series",
        "raw",
        "rollup_5m",
        "rollup_1h",
        "rollup_done",
        "events",
        "messages",
        "sqlite_sequence",  # series ids are AUTOINCREMENT: never given twice
    }
    # The raw samples through the view scripts and the README's sqlite3 lines use:
    assert rows(db_path, "SELECT ts, target, metric, value FROM samples") == [(T0, "a", "m", 1.0)]


async def test_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.touch()
    os.chmod(path, 0o644)
    s = await Store.open(path, retention_interval=None)
    try:
        assert mode(path) == 0o600
    finally:
        await s.close()


async def test_reopen_keeps_schema_and_data(db_path: Path) -> None:
    async with Store(db_path, retention_interval=None) as s:
        s.add_samples([Sample(T0, "pacs", "rtt", 1.0)])
    async with Store(db_path, retention_interval=None) as s:
        assert await s.samples() == [Sample(T0, "pacs", "rtt", 1.0)]
    assert rows(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # a newer pacs-tui's file
    with pytest.raises(StoreError, match="schema version"):
        await Store.open(path)


# -- writing ----------------------------------------------------------------------------------


async def test_samples_events_targets_round_trip(store: Store) -> None:
    store.upsert_targets(
        [
            Target("pacs", "dicom-node", {"site": "north", "ae": "PACS1"}),
            Target("ris", "hl7-link", {}),
        ]
    )
    samples = [
        Sample(T0 + 1, "pacs", "echo_rtt_seconds", 0.012),
        Sample(T0 + 2, "ris", "queue_depth", 4.0),
        Sample(T0 + 3, "pacs", "echo_rtt_seconds", 0.015),
    ]
    store.add_samples(samples)
    down = Event(T0 + 4, "pacs", EventKind.STATUS_CHANGE, Status.DOWN, "no answer", {"n": 3})
    note = Event(T0 + 5, "ris", "operator", None, "ack", {"when": Path("/x")})
    store.add_event(down)
    store.add_event(note)
    assert store.pending == 2 + 3 + 2
    assert await store.samples() == []  # nothing written until a flush
    await store.flush()
    assert store.pending == 0

    assert await store.samples() == samples
    assert await store.samples(target="pacs", since=T0 + 2) == [samples[2]]
    assert await store.samples(metric="queue_depth") == [samples[1]]
    assert await store.samples(kind="dicom-node") == [samples[0], samples[2]]
    assert await store.samples(until=T0 + 1) == [samples[0]]

    events = await store.events()
    assert events[0] == Event(T0 + 4, "pacs", "status-change", Status.DOWN, "no answer", {"n": 3})
    assert events[1].status is None
    assert events[1].fields == {"when": "/x"}  # non-JSON values stored with str()
    assert await store.events(kind="operator") == [events[1]]
    assert await store.events(target_kind="dicom-node") == [events[0]]
    assert await store.events(since=T0 + 5) == [events[1]]
    assert rows(store.path, "SELECT status FROM events ORDER BY ts") == [("DOWN",), (None,)]

    assert await store.targets() == [
        Target("pacs", "dicom-node", {"site": "north", "ae": "PACS1"}),
        Target("ris", "hl7-link", {}),
    ]
    store.upsert_targets([Target("ris", "hl7-listener", {"port": "2575"})])
    await store.flush()
    assert (await store.targets())[1] == Target("ris", "hl7-listener", {"port": "2575"})


async def test_nan_samples_are_skipped(store: Store) -> None:
    store.add_samples([Sample(T0, "a", "m", math.nan), Sample(T0, "a", "m", 2.0)])
    await store.flush()
    assert await store.samples() == [Sample(T0, "a", "m", 2.0)]


async def test_background_writer_flushes_by_itself(db_path: Path) -> None:
    s = await Store.open(db_path, flush_interval=0.05, retention_interval=None)
    try:
        s.add_samples([Sample(T0, "a", "m", 1.0)])
        for _ in range(100):
            if s.pending == 0 and await s.samples():
                break
            await asyncio.sleep(0.02)
        assert await s.samples() == [Sample(T0, "a", "m", 1.0)]
    finally:
        await s.close()


async def test_close_flushes_pending(db_path: Path) -> None:
    s = await Store.open(db_path, flush_interval=3600, retention_interval=None)
    s.upsert_targets([Target("a", "host")])
    s.add_samples([Sample(T0 + i, "a", "m", float(i)) for i in range(1000)])
    s.add_event(Event(T0, "a", "probe", Status.OK, "fine"))
    await s.close()
    with pytest.raises(StoreError):
        s.add_samples([Sample(T0, "a", "m", 1.0)])

    reopened = await Store.open(db_path, retention_interval=None)
    try:
        got = await reopened.samples()
        assert len(got) == 1000
        assert got[-1] == Sample(T0 + 999, "a", "m", 999.0)
        assert [e.summary for e in await reopened.events()] == ["fine"]
        assert await reopened.targets() == [Target("a", "host", {})]
    finally:
        await reopened.close()


async def test_failed_flush_keeps_rows_and_writes_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_samples([Sample(T0, "a", "m", 1.0)])
    store.add_event(Event(T0, "a", "probe", None, "x"))
    monkeypatch.setattr(store_module, "_INSERT_EVENT", "INSERT INTO no_such_table VALUES (?)")
    with pytest.raises(StoreError, match=r"cannot write the history .*no such table"):
        await store.flush()
    assert store.pending == 2
    assert rows(store.path, "SELECT count(*) FROM samples") == [(0,)]  # rolled back

    monkeypatch.undo()
    await store.flush()
    assert await store.samples() == [Sample(T0, "a", "m", 1.0)]
    assert [e.summary for e in await store.events()] == ["x"]


async def test_second_connection_reads_while_writer_is_open(store: Store) -> None:
    store.add_samples([Sample(T0, "a", "m", 1.0)])
    await store.flush()

    reader = sqlite3.connect(store.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM samples").fetchone() == (1,)
        # The reader holds a snapshot; under WAL the writer still commits without waiting.
        store.add_samples([Sample(T0 + 1, "a", "m", 2.0)])
        started = time.monotonic()
        await store.flush()
        assert time.monotonic() - started < 1.0
        assert reader.execute("SELECT count(*) FROM samples").fetchone() == (1,)
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM samples").fetchone() == (2,)
    finally:
        reader.close()

    other = await Store.open(store.path, readonly=True)
    try:
        assert len(await other.samples()) == 2
    finally:
        await other.close()


# -- retention --------------------------------------------------------------------------------


async def test_retention_deletes_old_raw_but_keeps_rollups(store: Store) -> None:
    now = T0 + 10 * DAY
    old, recent = now - 3 * DAY, now - HOUR
    store.add_samples([Sample(old, "a", "m", 1.0), Sample(recent, "a", "m", 2.0)])
    store.add_event(Event(now - 500 * DAY, "a", "probe", None, "ancient"))
    store.add_event(Event(now - DAY, "a", "probe", None, "yesterday"))
    await store.flush()
    await store.roll_up(now=now)

    deleted = await store.run_retention(now=now)

    assert deleted == {"raw": 1, "rollup_5m": 0, "rollup_1h": 0, "events": 1, "messages": 0}
    assert await store.samples() == [Sample(recent, "a", "m", 2.0)]
    day_ago = await store.series("a", "m", since=old - HOUR, until=old + HOUR)
    assert [(p.avg, p.count) for p in day_ago] == [(1.0, 1)]  # from the 5-minute tier
    assert [e.summary for e in await store.events()] == ["yesterday"]

    # Much later the tiers age out too, each by its own window (a row at a time: the 5-minute
    # tier keeps a day of one series in a row, the hourly tier 12 days).
    await store.roll_up(now=now + HOUR)  # the hour of the recent sample closed
    deleted = await store.run_retention(now=now + 40 * DAY)
    assert deleted == {"raw": 1, "rollup_5m": 2, "rollup_1h": 0, "events": 0, "messages": 0}
    assert len(await store.series("a", "m", since=old - HOUR, until=now)) == 2  # hourly
    deleted = await store.run_retention(now=now + 450 * DAY)
    hour_rows = len({int(t // (12 * DAY)) for t in (old, recent)})
    assert deleted == {
        "raw": 0,
        "rollup_5m": 0,
        "rollup_1h": hour_rows,
        "events": 1,
        "messages": 0,
    }
    assert await store.series("a", "m", since=old - HOUR, until=now) == []


async def test_retention_job_runs_in_writer(db_path: Path) -> None:
    async with Store(db_path, retention_interval=None) as s:
        s.add_samples([Sample(time.time() - 5 * DAY, "a", "m", 1.0)])
        s.add_samples([Sample(time.time() - 2 * DAY, "a", "m", 3.0)])
    async with Store(db_path, retention_interval=3600) as s:
        for _ in range(100):
            if not await s.samples():
                break
            await asyncio.sleep(0.02)
        assert await s.samples() == []
        # Rolled up before the raw samples went: both are in the 5-minute tier.
        kept = await s.series("a", "m", since=time.time() - 6 * DAY, until=time.time())
        assert [p.avg for p in kept] == [1.0, 3.0]


# -- queries ----------------------------------------------------------------------------------


async def test_series_uses_raw_for_one_hour(store: Store) -> None:
    now = float(int(time.time()))  # whole seconds: times are kept to the millisecond
    store.add_samples(
        [
            Sample(now - 1800, "a", "m", 1.0),
            Sample(now - 1790, "a", "m", 3.0),
            Sample(now - 1000, "a", "m", 5.0),
            Sample(now - 2 * HOUR, "a", "m", 7.0),  # outside the window
            Sample(now - 1000, "a", "other", 9.0),
        ]
    )
    await store.flush()

    points = await store.series("a", "m", since=now - HOUR)

    assert points == [
        SeriesPoint(now - 1800, 1.0, 1.0, 1.0, 1),
        SeriesPoint(now - 1790, 3.0, 3.0, 3.0, 1),
        SeriesPoint(now - 1000, 5.0, 5.0, 5.0, 1),
    ]


@pytest.mark.parametrize("window", [HOUR, DAY])
async def test_series_of_many_targets_is_each_ones_series(store: Store, window: float) -> None:
    """One query for a table's trend column gives what one query per target would, for more
    targets than one SQL statement may name (chunks of 500)."""
    now = float(int(time.time()))  # whole seconds: times are kept to the millisecond
    targets = [f"n{i}" for i in range(1203)]
    store.add_samples(
        Sample(now - 50 * (i % 7 + 1), t, "m", float(i)) for i, t in enumerate(targets[:1200])
    )
    store.add_samples([Sample(now - 100, "n0", "other", 5.0)])  # another metric: left out
    await store.flush()

    found = await store.series_of(targets, "m", since=now - window)

    assert set(found) == set(targets)
    for target in ("n0", "n6", "n499", "n500", "n1199"):
        assert found[target] == await store.series(target, "m", since=now - window)
        assert found[target]
    assert found["n1200"] == found["n1202"] == []


async def test_series_of_in_steps_sums_up_the_raw_samples_of_each_step(store: Store) -> None:
    now = float(int(time.time()) // 60 * 60)  # a whole minute: the steps fall on minutes
    store.add_samples(
        [
            Sample(now - 600, "a", "m", 1.0),  # the minute 10 minutes ago: 1, 4, 2
            Sample(now - 590, "a", "m", 4.0),
            Sample(now - 541, "a", "m", 2.0),
            Sample(now - 540, "a", "m", 9.0),  # the next minute: 9 alone
            Sample(now - 30, "b", "m", 5.0),
            Sample(now - 2 * HOUR, "a", "m", 7.0),  # outside the window
        ]
    )
    await store.flush()

    found = await store.series_of(["a", "b", "c"], "m", since=now - HOUR, step=60)

    assert found == {
        "a": [
            SeriesPoint(now - 600, 1.0, 4.0, 7 / 3, 3),
            SeriesPoint(now - 540, 9.0, 9.0, 9.0, 1),
        ],
        "b": [SeriesPoint(now - 60, 5.0, 5.0, 5.0, 1)],
        "c": [],
    }


async def test_series_uses_hour_table_for_thirty_days(store: Store) -> None:
    now = float(int(time.time()))  # whole seconds: times are kept to the millisecond
    hour = math.floor((now - 10 * DAY) / HOUR) * HOUR
    store.add_samples(
        [
            Sample(hour + 60, "a", "m", 1.0),
            Sample(hour + 600, "a", "m", 2.0),
            Sample(hour + 1200, "a", "m", 6.0),
            Sample(hour + HOUR + 5, "a", "m", 10.0),
            Sample(now - 40 * DAY, "a", "m", 50.0),  # before the window
        ]
    )
    await store.flush()
    await store.roll_up(now=now)

    points = await store.series("a", "m", since=now - 30 * DAY, until=now)

    assert points == [
        SeriesPoint(hour, 1.0, 6.0, 3.0, 3),
        SeriesPoint(hour + HOUR, 10.0, 10.0, 10.0, 1),
    ]


async def test_series_uses_five_minute_tier_for_a_day(store: Store) -> None:
    now = float(int(time.time()))
    bucket = math.floor((now - 20 * HOUR) / 300) * 300
    store.add_samples(
        [
            Sample(bucket + 1, "a", "m", 1.0),
            Sample(bucket + 200, "a", "m", 3.0),
            Sample(bucket + 301, "a", "m", 8.0),
        ]
    )
    await store.flush()
    await store.roll_up(now=now)

    points = await store.series("a", "m", since=now - DAY)

    assert points == [
        SeriesPoint(bucket, 1.0, 3.0, 2.0, 2),
        SeriesPoint(bucket + 300, 8.0, 8.0, 8.0, 1),
    ]


async def test_events_limit_returns_most_recent_ascending(store: Store) -> None:
    for i in range(10):
        store.add_event(Event(T0 + i, "a", "probe", Status.OK, f"e{i}"))
    store.add_event(Event(T0 + 100, "b", "probe", Status.OK, "other target"))
    await store.flush()

    assert [e.summary for e in await store.events(target="a", limit=3)] == ["e7", "e8", "e9"]
    assert [e.summary for e in await store.events(limit=2)] == ["e9", "other target"]
    assert len(await store.events()) == 11


async def test_last_statuses(store: Store) -> None:
    store.add_event(Event(T0, "a", "status-change", Status.OK, "up"))
    store.add_event(Event(T0 + 60, "a", "status-change", Status.DOWN, "refused"))
    store.add_event(Event(T0 + 90, "a", "probe", Status.OK, "not a status change"))
    store.add_event(Event(T0 + 30, "b", "status-change", Status.WARN, "slow"))
    store.add_event(Event(T0 + 40, "c", "operator", None, "ack"))
    await store.flush()
    store.add_event(Event(T0 + 10, "b", "status-change", Status.CRIT, "older, written later"))
    await store.flush()

    assert await store.last_statuses() == {
        "a": (Status.DOWN, "refused", T0 + 60),
        "b": (Status.WARN, "slow", T0 + 30),
    }


async def test_queries_need_an_open_store(tmp_path: Path) -> None:
    s = Store(tmp_path / "h.db")
    with pytest.raises(StoreError):
        await s.samples()


async def test_close_is_prompt_while_retention_runs(db_path: Path) -> None:
    s = await Store.open(db_path, retention_interval=3600)
    await asyncio.sleep(0)  # let the writer start its first retention pass
    await asyncio.wait_for(s.close(), timeout=5)


async def test_only_one_engine_writes_a_history(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    first = await Store.open(path)
    try:
        with pytest.raises(StoreError, match="already written by another pacs-tui engine"):
            await Store.open(path)
    finally:
        await first.close()
    second = await Store.open(path)  # the lock went with the first store
    await second.close()


async def test_a_readonly_store_reads_while_the_writer_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    writer = await Store.open(path)
    writer.add_samples([Sample(1000.0, "n", "echo_seconds", 0.01)])
    await writer.flush()
    reader = await Store.open(path, readonly=True)
    try:
        assert [s.value for s in await reader.samples()] == [0.01]
        with pytest.raises(StoreError, match="read-only"):
            reader.add_samples([Sample(1001.0, "n", "echo_seconds", 0.02)])
    finally:
        await reader.close()
        await writer.close()


async def test_unusable_history_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"is not a regular file \(directory\)"):
        await Store.open(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is not a pacs-tui history"):
        await Store.open(junk)
    with pytest.raises(StoreError, match="is not a pacs-tui history"):
        await Store.open(junk, readonly=True)
    with pytest.raises(StoreError, match="no history at"):
        await Store.open(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


async def test_a_second_close_waits_for_the_flush_even_if_the_first_is_cancelled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    store = await Store.open(path, flush_interval=3600, retention_interval=None)
    store.add_samples([Sample(1000.0 + i, "n", "echo_seconds", 0.01) for i in range(100)])
    first = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    first.cancel()  # a second signal cancels the first stop ...
    await store.close()  # ... and the second must still find the history flushed and closed
    reader = await Store.open(path, readonly=True)
    try:
        assert len(await reader.samples()) == 100
    finally:
        await reader.close()
    again = await Store.open(path)  # and the lock released
    await again.close()


async def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 1")  # looks like our version, is not our schema
        db.execute("CREATE TABLE things (x)")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="not a pacs-tui history"):
            await Store.open(path, readonly=readonly)
    mine = tmp_path / "mine.sqlite"
    await (await Store.open(mine)).close()
    with sqlite3.connect(mine) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x50545549
