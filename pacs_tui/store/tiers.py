"""The packed rollup tiers: a row holds 288 consecutive buckets of one series.

Why packed: a year of 1,000 targets x 4 metrics is 35 M hourly and (for 35 days) 40 M
5-minute buckets; as rows of (series, ts, min, max, avg, count) at ~45-60 bytes each that is
over 3 GB before the raw samples. Packed, a bucket is 14 bytes (min, max and avg as 32-bit
floats — 7 significant digits, plenty for a chart — and a 16-bit count), and a row of 288
buckets (4,032 bytes) fills one 4 KiB page: ~14.2 bytes a bucket on disk, whatever the order
the rows are written in. A row's id is ``series << 20 | chunk``, so one series' chunks are
neighbours and a 30-day read is a handful of pages.

A bucket is written whole (recomputed from the raw samples or the finer tier every time),
so rolling a bucket up again after a late sample is harmless.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pacs_tui.store.schema import SeriesPoint

#: One bucket: min, max, avg (for a counter: its increase, three times), sample count.
SLOT = struct.Struct("<fffH")
SLOTS = 288
ROW_BYTES = SLOT.size * SLOTS
CHUNK_BITS = 20
_F32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, slots=True)
class Tier:
    """One rollup tier: its table and its bucket width in seconds."""

    name: str
    table: str
    bucket: int

    @property
    def span(self) -> int:
        """Seconds one row covers."""
        return self.bucket * SLOTS

    def row_id(self, series: int, ts: float) -> int:
        return series << CHUNK_BITS | int(ts // self.span)

    def slot_of(self, ts: float) -> int:
        return int(ts % self.span // self.bucket)

    def bucket_start(self, ts: float) -> int:
        return int(ts // self.bucket) * self.bucket

    def chunk_start(self, row_id: int) -> int:
        return (row_id & ((1 << CHUNK_BITS) - 1)) * self.span

    def rows_before(self, series: int, ts: float) -> tuple[int, int]:
        """The id range [low, high) of the rows of ``series`` that end at or before ``ts``."""
        return series << CHUNK_BITS, series << CHUNK_BITS | int(ts // self.span)


FIVE_MINUTES = Tier("5m", "rollup_5m", 300)
HOURLY = Tier("1h", "rollup_1h", 3600)
TIERS = (FIVE_MINUTES, HOURLY)


def _f32(value: float) -> float:
    # struct refuses a double outside float32's range; a chart only needs "huge".
    return max(-_F32_MAX, min(_F32_MAX, value))


def pack(lo: float, hi: float, avg: float, count: int) -> bytes:
    return SLOT.pack(_f32(lo), _f32(hi), _f32(avg), min(count, 0xFFFF))


def unpack_row(tier: Tier, row_id: int, data: bytes) -> Iterator[SeriesPoint]:
    """The buckets of one row that hold samples, oldest first."""
    start = tier.chunk_start(row_id)
    if len(data) != ROW_BYTES:
        return  # a damaged row: nothing rather than garbage
    for n, (lo, hi, avg, count) in enumerate(SLOT.iter_unpack(data)):
        if count:
            yield SeriesPoint(float(start + n * tier.bucket), lo, hi, avg, count)


def merge(kind: str, slots: Iterable[tuple[float, float, float, int]]) -> bytes | None:
    """Finer buckets into one coarser one; None when none held samples."""
    lo, hi, total, count = math.inf, -math.inf, 0.0, 0
    for s_lo, s_hi, s_avg, s_count in slots:
        if not s_count:
            continue
        lo, hi, count = min(lo, s_lo), max(hi, s_hi), count + s_count
        total += s_avg if kind == "counter" else s_avg * s_count
    if not count:
        return None
    if kind == "counter":
        return pack(total, total, total, count)
    return pack(lo, hi, total / count, count)


def increase(previous: float | None, values: Iterable[float]) -> float:
    """A counter's increase over a bucket from its samples there, oldest first, and the last
    sample before the bucket (None when there is none). A value lower than the one before is
    a reset (the source restarted): it counts from zero. The first sample ever only sets the
    base, as in Prometheus' ``increase()``."""
    total = 0.0
    for value in values:
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
    return total
