"""History schema 2: the packed tiers, counters, late samples, the message log, ageing out,
reads beside writes, and histories written by pacs-tui 0.1 and 0.3 opening and migrating."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from pacs_tui.model import LATE_ACK, NO_ACK, Event, LoggedMessage, Sample, Target
from pacs_tui.store import DAY, HOUR, SCHEMA_VERSION, Retention, SeriesPoint, Store, StoreError

T0 = 1_700_006_400.0  # a UTC midnight: 5-minute rows (a day each) start here
DATA = Path(__file__).resolve().parent.parent / "data"


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(
        tmp_path / "h.sqlite",
        flush_interval=3600,
        retention_interval=None,
        clock=lambda: T0 + 2 * DAY,
    )
    yield s
    await s.close()


async def test_a_counter_rolls_up_as_its_increase_across_a_reset(store: Store) -> None:
    # Two 5-minute buckets of an HL7 message counter; the source restarts in the second one.
    values = [(0, 100.0), (60, 110.0), (120, 125.0), (300, 130.0), (360, 4.0), (420, 12.0)]
    store.add_samples(
        [Sample(T0 + dt, "his-tap", "messages_total", v) for dt, v in values],
        counters={"messages_total"},
    )
    store.add_samples([Sample(T0 + dt, "his-tap", "latency_seconds", 0.5) for dt, _ in values])
    await store.flush()
    # Not rolled up yet: the buckets are made from the raw samples the same way.
    from_raw = await store.series("his-tap", "messages_total", T0, T0 + DAY)
    await store.roll_up(now=T0 + DAY)
    rolled = await store.series("his-tap", "messages_total", T0, T0 + DAY)

    # The first sample only sets the base; 100 → 125 is +25; 125 → 130 is +5, then the
    # reset counts 4 from zero and 4 → 12 is +8.
    expected = [SeriesPoint(T0, 25.0, 25.0, 25.0, 3), SeriesPoint(T0 + 300, 17.0, 17.0, 17.0, 3)]
    assert from_raw == rolled == expected
    # The hourly tier adds the increases up; a gauge keeps min/max/avg/count.
    store.clock = lambda: T0 + 100 * DAY
    hourly = await store.series("his-tap", "messages_total", T0, T0 + DAY)
    assert hourly == [SeriesPoint(T0, 42.0, 42.0, 42.0, 6)]
    assert await store.series("his-tap", "latency_seconds", T0, T0 + DAY) == [
        SeriesPoint(T0, 0.5, 0.5, 0.5, 6)
    ]


async def test_a_counter_continues_across_a_restart_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    for values in ([(0, 5.0), (30, 9.0)], [(60, 1.0), (90, 3.0)]):  # the source restarted
        async with Store(path, retention_interval=None, clock=lambda: T0 + DAY) as s:
            s.add_samples(
                [Sample(T0 + dt, "t", "c_total", v) for dt, v in values], counters={"c_total"}
            )
    async with Store(path, retention_interval=None, clock=lambda: T0 + DAY) as s:
        await s.roll_up()
        # A day's window: 5-minute buckets. 5 → 9 is +4; the restart counts 1, then +2.
        assert [p.avg for p in await s.series("t", "c_total", T0, T0 + DAY)] == [4.0 + 1 + 2]


async def test_a_late_sample_rolls_its_bucket_up_again(store: Store) -> None:
    store.add_samples([Sample(T0 + 10, "a", "m", 2.0)])
    await store.flush()
    assert await store.roll_up(now=T0 + HOUR) > 0
    store.add_samples([Sample(T0 + 20, "a", "m", 4.0)])  # a result that came in late
    await store.flush()
    await store.roll_up(now=T0 + HOUR + 60)
    assert await store.series("a", "m", T0, T0 + DAY) == [SeriesPoint(T0, 2.0, 4.0, 3.0, 2)]


async def test_a_five_minute_outage_shows_a_month_later(tmp_path: Path) -> None:
    """Echo every 30 s for a day with a 5-minute gap; 30 days on, the day still shows it."""
    path = tmp_path / "h.sqlite"
    outage = range(int(T0 + 12 * HOUR), int(T0 + 12 * HOUR + 300))
    async with Store(path, retention_interval=None, clock=lambda: T0 + 31 * DAY) as s:
        s.add_samples(
            Sample(t, "ct-1", "echo_seconds", 0.01)
            for t in range(int(T0), int(T0 + DAY), 30)
            if t not in outage
        )
        await s.flush()
        await s.roll_up(now=T0 + DAY + HOUR)
        await s.run_retention(now=T0 + 31 * DAY)
        assert await s.samples() == []  # the raw samples are long gone
        day = await s.series("ct-1", "echo_seconds", T0, T0 + DAY)
    assert len(day) == 287  # 5-minute buckets, one empty
    assert T0 + 12 * HOUR not in {p.ts for p in day}


async def test_the_message_log_by_type_prefix_takes_the_type_as_written(store: Store) -> None:
    store.add_messages(
        LoggedMessage(T0 + n, "l", "in", kind, f"C{n}", "AA", 0.01, 100)
        for n, kind in enumerate(["ADT^A01", "ADT^A08", "ORU^R01", "A%T^A01", "adt^a01"])
    )
    await store.flush()

    async def types(prefix: str) -> list[str]:
        return [m.type for m in await store.messages(type_prefix=prefix)]

    assert await types("ADT") == ["ADT^A08", "ADT^A01"]
    assert await types("ADT^A01") == ["ADT^A01"]
    assert await types("A%") == ["A%T^A01"]  # no LIKE: % is itself, not "anything"
    assert await types("ORU") == ["ORU^R01"] and await types("SIU") == []
    both = await store.messages(type_prefix="ADT", ack="AA", until=T0 + 0.5)
    assert [m.control_id for m in both] == ["C0"]


async def test_the_message_log_by_link_control_id_and_ack(store: Store) -> None:
    base = T0 + DAY
    store.add_messages(
        LoggedMessage(base + n, f"link-{n % 2}", "in", "ADT^A01", f"MSG{n:05d}", ack, 0.02, 300)
        for n, ack in enumerate(["AA", "AA", "AE", "AR", None, "AA"])
    )
    await store.flush()

    newest = await store.messages(limit=2)
    assert [m.control_id for m in newest] == ["MSG00005", "MSG00004"]
    assert newest[0] == LoggedMessage(
        base + 5, "link-1", "in", "ADT^A01", "MSG00005", "AA", 0.02, 300
    )
    assert [m.control_id for m in await store.messages("link-0")] == [
        "MSG00004",
        "MSG00002",
        "MSG00000",
    ]
    assert [m.ack for m in await store.messages(control_id="MSG00003")] == ["AR"]
    assert [m.control_id for m in await store.messages(ack="AE")] == ["MSG00002"]
    assert len(await store.messages(since=base + 4)) == 2
    assert [m.control_id for m in await store.messages(until=base + 1.5)] == [
        "MSG00001",
        "MSG00000",
    ]
    assert [m.control_id for m in await store.messages(ack=NO_ACK)] == ["MSG00004"]
    for where, index in (
        ("link = 'x' AND ts > 0", "messages_link_ts"),
        ("control_id = 'x'", "messages_control_id"),
        ("ack = 'AE' AND ts > 0", "messages_ack_ts"),
    ):
        plan = rows(store.path, f"EXPLAIN QUERY PLAN SELECT * FROM messages WHERE {where}")
        assert index in str(plan)

    plan = rows(store.path, "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE ack IS NULL")
    assert "messages_ack_ts" in str(plan)

    deleted = await store.run_retention(now=base + 14 * DAY + 2.5)
    assert deleted["messages"] == 3  # its own window: 14 days
    assert len(await store.messages()) == 3


async def test_the_message_log_keeps_version_facilities_and_patient_and_a_v2_file_gains_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite"
    full = LoggedMessage(
        T0,
        "his-copy",
        "in",
        "ORU^R01",
        "C9",
        "AA",
        None,
        512,
        "LAB",
        "RIS",
        "",
        "2.5.1",
        "CENTRAL LAB",
        "RADIOLOGY",
        "#00112233445566aa",
    )
    async with Store(path, retention_interval=None, clock=lambda: T0) as s:
        s.add_messages([full])
        await s.flush()
        assert await s.messages() == [full]
    # The same file as schema 2 wrote it: no version, facilities or patient.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX messages_patient_ts")
        for column in ("version", "sender_facility", "receiver_facility", "patient"):
            conn.execute(f"ALTER TABLE messages DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 2")
    async with Store(path, retention_interval=None, clock=lambda: T0) as s:
        (old,) = await s.messages()
        assert old == replace(
            full, version="", sender_facility="", receiver_facility="", patient=""
        )
        assert [m.control_id for m in await s.messages(patient=["#00112233445566aa"])] == []
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(4,)]
    plan = rows(path, "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE patient = 'x'")
    assert "messages_patient_ts" in str(plan)


async def test_a_target_no_longer_configured_ages_out(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    retention = Retention(raw=HOUR, five_minute=2 * DAY, hour=3 * DAY, events=3 * DAY)
    async with Store(path, retention, retention_interval=None, clock=lambda: T0) as s:
        s.upsert_targets([Target("old-ct", "dicom-node"), Target("archive", "dicom-node")])
        s.add_samples([Sample(T0 - 60, t, "echo_seconds", 0.01) for t in ("old-ct", "archive")])
        await s.flush()
        await s.roll_up(now=T0 + HOUR)
    # Later the config has "archive" only (the engine upserts what it watches at each start).
    later = T0 + 20 * DAY  # past the hourly row's 12 days too
    async with Store(path, retention, retention_interval=None, clock=lambda: later) as s:
        s.upsert_targets([Target("archive", "dicom-node")])
        s.add_samples([Sample(later, "archive", "echo_seconds", 0.02)])
        await s.flush()
        await s.run_retention(now=later)
        assert [t.id for t in await s.targets()] == ["archive"]
    assert rows(path, "SELECT target FROM series") == [("archive",)]


async def test_a_read_does_not_wait_for_a_long_write(store: Store) -> None:
    store.add_event(Event(T0, "a", "probe", None, "before"))
    await store.flush()
    store.add_samples(Sample(T0 + i / 100, f"n{i % 1000}", "m", 1.0) for i in range(300_000))
    flushing = asyncio.ensure_future(store.flush())
    await asyncio.sleep(0.05)  # the flush is under way on the writer's connection
    assert not flushing.done()
    events = await store.events()
    assert not flushing.done(), "the read waited for the whole write"
    assert [e.summary for e in events] == ["before"]
    await flushing


@pytest.mark.parametrize("version", ["0.1", "0.3"])
async def test_a_history_written_by_an_older_version_opens_and_migrates(
    tmp_path: Path, version: str
) -> None:
    """Made by that version's own Store (tests/data/make_old_histories.py): three targets, two
    metrics every 10 minutes for two days from 2025-11-20, two status changes, a note."""
    path = tmp_path / "h.sqlite"
    shutil.copy(DATA / f"history-{version}.sqlite", path)
    start = 1_763_596_800.0
    with pytest.raises(StoreError, match=r"older pacs-tui \(schema version 1.*collect"):
        await Store.open(path, readonly=True)  # a reader does not upgrade

    async with Store(path, retention_interval=None, clock=lambda: start + 2 * DAY) as s:
        assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        samples = await s.samples(target="ct-1", metric="echo_seconds")
        assert len(samples) == 288
        assert samples[0] == Sample(start + 1, "ct-1", "echo_seconds", 0.02)
        assert [e.summary for e in await s.events(target="ct-1")] == [
            "OK → DOWN: refused",
            "DOWN → OK: echo ok",
        ]
        assert [t.id for t in await s.targets()] == ["archive", "ct-1", "nightly"]
        # The per-minute rows became 5-minute buckets, the per-hour ones hourly buckets.
        day = await s.series("ct-1", "queue_depth", start, start + DAY - 1)
        assert len(day) == 144 and {p.count for p in day} == {1}
        s.clock = lambda: start + 300 * DAY
        hours = await s.series("ct-1", "queue_depth", start, start + 2 * DAY - 1)
        assert len(hours) == 48 and {p.count for p in hours} == {6}
        s.clock = lambda: start + 2 * DAY
        # Rolled up again from the raw samples, the buckets come out the same.
        await s.roll_up(now=start + 3 * DAY)
        assert await s.series("ct-1", "queue_depth", start, start + DAY - 1) == day
        s.add_samples([Sample(start + 2 * DAY, "ct-1", "echo_seconds", 0.5)])
    async with Store(path, readonly=True) as reader:
        assert len(await reader.samples(target="ct-1", metric="echo_seconds")) == 289


async def test_a_late_sample_is_rolled_up_again_even_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    async with Store(path, retention_interval=None, clock=lambda: T0 + DAY) as s:
        s.add_samples([Sample(T0 + 10, "a", "m", 2.0)])
        await s.flush()
        await s.roll_up(now=T0 + HOUR)
        s.add_samples([Sample(T0 + 20, "a", "m", 100.0)])  # late, written by the final flush
    async with Store(path, retention_interval=None, clock=lambda: T0 + DAY) as s:
        want = [SeriesPoint(T0, 2.0, 100.0, 51.0, 2)]
        assert await s.series("a", "m", T0, T0 + DAY) == want  # from raw until rolled up
        await s.roll_up(now=T0 + 2 * HOUR)
        assert await s.series("a", "m", T0, T0 + DAY) == want


async def test_a_metric_that_becomes_a_counter_is_rolled_up_again(store: Store) -> None:
    store.add_samples([Sample(T0 + 10, "a", "m", 0.0), Sample(T0 + 20, "a", "m", 10.0)])
    await store.flush()
    await store.roll_up(now=T0 + HOUR)
    assert [p.avg for p in await store.series("a", "m", T0, T0 + DAY)] == [5.0]  # a gauge
    store.add_samples([Sample(T0 + HOUR, "a", "m", 12.0)], counters={"m"})
    await store.flush()
    await store.roll_up(now=T0 + 2 * HOUR)
    assert [p.avg for p in await store.series("a", "m", T0, T0 + DAY)] == [10.0, 2.0]


async def test_a_series_that_aged_out_comes_back_under_a_new_id(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    retention = Retention(raw=HOUR, five_minute=DAY, hour=DAY)
    async with Store(path, retention, retention_interval=None, clock=lambda: T0) as s:
        s.add_samples([Sample(T0, "a", "m", 1.0)])
        await s.flush()
        await s.run_retention(now=T0 + 30 * DAY)  # nothing left of a/m: its series goes
        assert rows(path, "SELECT count(*) FROM series") == [(0,)]
        s.add_samples([Sample(T0 + 30 * DAY, "a", "m", 42.0)])
        s.add_samples([Sample(T0 + 30 * DAY, "z", "other", 7.0)])
        await s.flush()
        assert [x.value for x in await s.samples(target="a")] == [42.0]
        assert [x.value for x in await s.samples(target="z")] == [7.0]
    assert rows(path, "SELECT id, target FROM series ORDER BY id") == [(2, "a"), (3, "z")]


async def test_a_late_sample_flushed_while_the_rollups_run_is_rolled_up_again(
    store: Store,
) -> None:
    store.add_samples(
        Sample(T0 + t, f"n{i}", "m", 1.0) for t in range(0, 2 * 3600, 60) for i in range(300)
    )
    await store.flush()
    rolling = asyncio.ensure_future(store.roll_up(now=T0 + 3 * HOUR))
    while store.longest_hold == 0:  # the rollups are under way, bucket after bucket
        await asyncio.sleep(0)
    store.add_samples([Sample(T0 + 30, "n0", "m", 9.0)])  # late, into the first bucket
    await store.flush()
    await rolling
    await store.roll_up(now=T0 + 3 * HOUR)
    first = (await store.series("n0", "m", T0, T0 + DAY))[0]
    assert (first.ts, first.max, first.count) == (T0, 9.0, 6)


async def test_no_ack_finds_the_unanswered_and_the_late(store: Store) -> None:
    store.add_messages(
        [
            LoggedMessage(T0, "tap", "in", "ADT^A01", "A", "AA", 0.01, 100),
            LoggedMessage(T0 + 1, "tap", "in", "ADT^A01", "B", None, None, 100, detail="no ACK"),
            LoggedMessage(
                T0 + 2, "tap", "in", "ADT^A01", "C", "AA", 7.2, 100, detail=f"{LATE_ACK} 7.2 s"
            ),
            # A receiver's words that say the same are its words, not our mark.
            LoggedMessage(
                T0 + 3, "tap", "in", "ADT^A01", "D", "AE", 0.01, 100, detail=f"AE: {LATE_ACK} 9 s"
            ),
        ]
    )
    await store.flush()
    assert [m.control_id for m in await store.messages(ack=NO_ACK)] == ["C", "B"]
