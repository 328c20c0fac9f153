"""A year of history at 1,000 targets x 4 metrics every 30 s: bytes on disk, chart queries,
flush time and the longest pause of the rollups and the retention, with the real Store.

python bench/history_year.py [--targets 1000] [--metrics 4] [--interval 30] [--keep DIR]

What is written for real and what is scaled, said once here and again in the output:
- one whole day of raw samples goes through the real Store (add_samples, flush every
  simulated 10 s, the upkeep every simulated minute rolling up 5-minute and hourly buckets
  and applying the retention): 11.5 M samples at the defaults;
- the rest of the year is that day's tier rows copied to the earlier days (35 days of
  5-minute rows, 420 days of hourly rows): a tier row is a fixed 4,032 bytes whatever the
  values, so the copies take exactly the room real days would;
- then one upkeep run at the day's end deletes what a real one deletes then (the oldest raw
  minute, a day of 5-minute rows and a 12-day hourly row of every series): its longest
  transaction is the "longest retention pause".
Anchors in the same run: a plain one-row-per-sample SQLite table (ts, target, metric, value
with an index on target, metric, ts, the 0.1 layout) written with an hour of the same
samples, and Prometheus' documented ~1-2 bytes per sample. The message log is sized with
200,000 rows written at 1,000 a second.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pacs_tui.model import LoggedMessage, Sample
from pacs_tui.store import DAY, HOUR, Retention, Store
from pacs_tui.store.tiers import FIVE_MINUTES, HOURLY, SLOT, SLOTS

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
METRICS = ("echo_seconds", "associate_seconds", "release_seconds", "messages_total")
PROMETHEUS_BYTES_PER_SAMPLE = (1.0, 2.0)  # prometheus.io/docs/prometheus/latest/storage/


def table_bytes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    return {name: int(size) for name, size in rows}


def file_bytes(path: Path) -> int:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size + sum(
        p.stat().st_size for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def value(metric: str, target: int, t: float, rng: random.Random) -> float:
    if metric == "messages_total":
        return float(int((t - START) / 3) + target)  # a counter: ~one message every 3 s
    return 0.002 + 0.001 * (target % 10) + rng.random() * 0.003


async def write_day(
    store: Store, targets: list[str], interval: int, flushes: list[float]
) -> tuple[int, float]:
    """One simulated day through the Store; returns samples written and upkeep seconds."""
    rng = random.Random(7)
    written = 0
    upkeep = 0.0
    step = 10  # simulated seconds per flush
    counters = {"messages_total"}
    for t0 in range(int(START), int(START + DAY), step):
        batch = []
        for t in range(t0, t0 + step):
            for i in range(t % interval, len(targets), interval):
                for metric in METRICS:
                    batch.append(Sample(float(t), targets[i], metric, value(metric, i, t, rng)))
        store.add_samples(batch, counters=counters)
        written += len(batch)
        began = time.perf_counter()
        await store.flush()
        flushes.append((time.perf_counter() - began) / step)
        if (t0 + step) % 60 == 0:
            began = time.perf_counter()
            await store.maintain(now=t0 + step)
            upkeep += time.perf_counter() - began
    return written, upkeep


def copy_tier_rows(path: Path) -> tuple[int, int]:
    """The day's tier rows copied to earlier chunks: 35 more days of 5-minute rows and enough
    12-day hourly rows to reach 420 days back."""
    with sqlite3.connect(path) as db:
        day_chunk = int(START // FIVE_MINUTES.span)
        five = 0
        for back in range(1, 36):
            db.execute(
                "INSERT INTO rollup_5m(id, data) SELECT id - ?, data FROM rollup_5m "
                "WHERE id & 1048575 = ?",
                (back, day_chunk),
            )
            five += 1
        hour_chunk = int(START // HOURLY.span)
        # The day's 24 hourly buckets repeated over the whole 12-day row, as 12 days would be.
        first = int((START % HOURLY.span) // HOUR) * SLOT.size
        day_bytes = 24 * SLOT.size
        full = [
            (row_id, bytes(data[first : first + day_bytes]) * (SLOTS // 24))
            for row_id, data in db.execute(
                "SELECT id, data FROM rollup_1h WHERE id & 1048575 = ?", (hour_chunk,)
            ).fetchall()
        ]
        db.executemany("UPDATE rollup_1h SET data = ? WHERE id = ?", [(d, i) for i, d in full])
        hours = 0
        for back in range(1, math.ceil(420 * DAY / HOURLY.span) + 1):
            db.execute(
                "INSERT INTO rollup_1h(id, data) SELECT id - ?, data FROM rollup_1h "
                "WHERE id & 1048575 = ?",
                (back, hour_chunk),
            )
            hours += 1
        db.commit()
    return five, hours


async def time_queries(store: Store, targets: list[str]) -> dict[str, list[float]]:
    now = START + DAY
    out: dict[str, list[float]] = {}
    rng = random.Random(3)
    for label, window in (("1 day", DAY), ("7 days", 7 * DAY), ("30 days", 30 * DAY)):
        times = []
        for _ in range(30):
            target = rng.choice(targets)
            began = time.perf_counter()
            points = await store.series(target, "echo_seconds", now - window, now)
            times.append(time.perf_counter() - began)
            assert points, (label, target)
        out[f"{label} ({len(points)} points)"] = times
    return out


def plain_table(path: Path, targets: list[str], interval: int) -> tuple[float, int]:
    """The 0.1 layout, one hour of the same samples: bytes per sample, rows."""
    rng = random.Random(7)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE samples (ts REAL, target TEXT, metric TEXT, value REAL)")
        db.execute("CREATE INDEX samples_target_metric_ts ON samples(target, metric, ts)")
        rows = 0
        for t0 in range(int(START), int(START + HOUR), 10):
            batch = [
                (float(t), targets[i], metric, value(metric, i, t, rng))
                for t in range(t0, t0 + 10)
                for i in range(t % interval, len(targets), interval)
                for metric in METRICS
            ]
            db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", batch)
            db.commit()
            rows += len(batch)
    sizes = table_bytes(path)
    used = sizes.get("samples", 0) + sizes.get("samples_target_metric_ts", 0)
    return used / rows, rows


async def message_log(path: Path) -> tuple[float, float, int]:
    """200,000 message-log rows at 1,000 a second: flush ms per second, bytes per row."""
    store = await Store.open(path, flush_interval=3600, retention_interval=None)
    before = table_bytes(path)
    flushes = []
    rows = 0
    for second in range(200):
        base = START + second
        store.add_messages(
            LoggedMessage(
                base + n / 1000,
                f"his-ris-{n % 4}",
                "in",
                ("ADT^A01", "ORM^O01", "ORU^R01")[n % 3],
                f"MSG{second:04d}{n:04d}",
                "AA" if n % 50 else "AE",
                0.012,
                900 + n % 400,
                "HIS^HOSP",
                "RIS^HOSP",
            )
            for n in range(1000)
        )
        began = time.perf_counter()
        await store.flush()
        flushes.append(time.perf_counter() - began)
        rows += 1000
    await store.close()
    after = table_bytes(path)
    names = [n for n in after if n.startswith("messages")]
    used = sum(after[n] - before.get(n, 0) for n in names)
    return statistics.median(flushes) * 1000, used / rows, rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=4, choices=[4])
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="a new folder to keep the files in")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True)  # refuses a folder that exists
        folder = args.keep
    else:
        folder = Path(tempfile.mkdtemp(prefix="pacs-tui-history-year-"))
    try:
        await run(args, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


async def run(args: argparse.Namespace, folder: Path) -> None:
    targets = [f"node-{i:04d}" for i in range(args.targets)]
    series = len(targets) * len(METRICS)
    per_year = series * 365 * DAY / args.interval
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or '?'}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(
        f"{len(targets):,} targets x {len(METRICS)} metrics every {args.interval} s: "
        f"{series / args.interval:,.0f} samples/s, {per_year / 1e9:.2f} G samples a year\n"
    )
    path = folder / "history.sqlite"
    clock = [START]
    store = await Store.open(
        path, Retention(), flush_interval=3600, retention_interval=None, clock=lambda: clock[0]
    )
    flushes: list[float] = []
    began = time.perf_counter()
    written, upkeep = await write_day(store, targets, args.interval, flushes)
    print(
        f"one day through the Store: {written:,} samples in {time.perf_counter() - began:.0f} s "
        f"(upkeep {upkeep:.1f} s of it)"
    )
    flush_ms = sorted(f * 1000 for f in flushes)
    print(
        f"  flush per second of data ({series / args.interval:,.0f} samples): median "
        f"{statistics.median(flush_ms):.2f} ms, p99 {flush_ms[int(len(flush_ms) * 0.99)]:.2f} ms, "
        f"max {flush_ms[-1]:.2f} ms"
    )
    print(f"  longest upkeep transaction over the day: {store.longest_hold * 1000:.1f} ms")
    every = []
    for n in range(5):  # every target's 4 metrics at once (the 0.1 figure: 7.6 ms)
        t = START + DAY + n
        store.add_samples(
            (Sample(t, name, metric, 0.01) for name in targets for metric in METRICS),
            counters={"messages_total"},
        )
        began = time.perf_counter()
        await store.flush()
        every.append((time.perf_counter() - began) * 1000)
    print(f"  flush of {series:,} samples at once: median {statistics.median(every):.1f} ms")
    await store.close()
    day_sizes = table_bytes(path)
    raw_bytes = day_sizes.get("raw", 0)
    print(f"  raw samples: {mib(raw_bytes)}, {raw_bytes / written:.1f} bytes a sample")

    five, hours = copy_tier_rows(path)
    print(
        f"\nscaled to the year: the day's tier rows copied to {five} earlier days (5-minute) and "
        f"{hours} earlier 12-day chunks (hourly)"
    )
    sizes = table_bytes(path)
    total = file_bytes(path)
    for name in ("raw", "rollup_5m", "rollup_1h", "series", "events", "messages", "targets"):
        print(f"  {name:<10} {mib(sizes.get(name, 0)):>12}")
    print(f"  file on disk: {mib(total)} ({total / 1e9:.2f} GB; goal <= 2 GB)")

    clock[0] = START + DAY
    store = await Store.open(path, Retention(), retention_interval=None, clock=lambda: clock[0])
    for label, times in (await time_queries(store, targets)).items():
        ms = sorted(t * 1000 for t in times)
        print(f"  chart query, {label}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms")
    store.longest_hold = 0.0
    began = time.perf_counter()
    deleted = await store.run_retention(now=START + DAY + 60)
    print(
        f"  retention at the day's end: {deleted} in {time.perf_counter() - began:.2f} s, "
        f"longest transaction {store.longest_hold * 1000:.1f} ms (goal <= 100 ms)"
    )
    await store.close()
    print(f"  file after it: {mib(file_bytes(path))} (freed pages are reused, not returned)")

    per_sample, rows = plain_table(folder / "plain.sqlite", targets, args.interval)
    print(
        f"\nanchor, plain table (ts REAL, target TEXT, metric TEXT, value REAL + index), "
        f"{rows:,} rows: {per_sample:.1f} bytes a sample -> {per_sample * per_year / 1e9:,.0f} GB "
        "for a year of raw samples"
    )
    lo, hi = PROMETHEUS_BYTES_PER_SAMPLE
    print(
        f"anchor, Prometheus TSDB (documented {lo:.0f}-{hi:.0f} bytes a sample): "
        f"{lo * per_year / 1e9:.1f}-{hi * per_year / 1e9:.1f} GB for a year of raw samples"
    )

    flush_ms_msg, per_row, rows = await message_log(folder / "messages.sqlite")
    print(
        f"\nmessage log: {rows:,} rows at 1,000/s, flush of a second's rows median "
        f"{flush_ms_msg:.1f} ms, {per_row:.0f} bytes a row with its four indexes -> "
        f"{per_row * 86400 * 1000 / 1e9:.1f} GB a day at 1,000/s, "
        f"{per_row * 86400 * 20 / 1e9:.2f} GB a day at 20/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
