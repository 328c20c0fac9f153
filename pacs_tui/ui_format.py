"""Pure text formatting for the UI: relative times, milliseconds, clocks, sparklines, bar charts.

Nothing here imports Textual or does I/O, so every helper is unit-tested on its own
(``tests/unit/test_ui_format.py``) and could be reused by the CLI's plain-text output.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from pacs_tui.backup.rpo import span_words
from pacs_tui.model import Status
from pacs_tui.units import NONE_TEXT, format_value, ms

__all__ = ["NONE_TEXT", "ms"]  # re-exported: shown instead of a value we do not have

#: Eight block heights, lowest first; a sparkline cell is one of these (or the gap character).
BLOCKS = "▁▂▃▄▅▆▇█"
#: Marks a time bucket in which the target was DOWN (sparklines, the chart's status strip): the
#: DOWN glyph itself, so that it reads without colour.
DOWN_MARK = Status.DOWN.glyph

_MINUTE = 60
_HOUR = 3600
_DAY = 86400


# -- durations and times --------------------------------------------------------------------


def duration_short(seconds: float) -> str:
    """A short human duration, two units at most: ``"45s"``, ``"3m"``, ``"2h 05m"``, ``"3d 4h"``."""
    s = max(0, int(seconds))
    if s < _MINUTE:
        return f"{s}s"
    if s < _HOUR:
        return f"{s // _MINUTE}m"
    if s < _DAY:
        hours, rest = divmod(s, _HOUR)
        minutes = rest // _MINUTE
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, rest = divmod(s, _DAY)
    hours = rest // _HOUR
    return f"{days}d {hours}h" if hours else f"{days}d"


def ago(ts: float | None, now: float) -> str:
    """How long before ``now`` ``ts`` was: ``"just now"``, ``"12s ago"``, ``"3m ago"``, …

    ``None`` (never happened) is ``"—"``. A time slightly in the future (clock skew between the
    engine and a peer) still reads "just now"; far in the future it says so instead of lying.
    """
    if ts is None:
        return NONE_TEXT
    delta = now - ts
    if delta < -5:
        return f"in {duration_short(-delta)}"
    if delta < 5:
        return "just now"
    return f"{duration_short(delta)} ago"


def _zone(tz: str | None) -> tzinfo | None:
    return ZoneInfo(tz) if tz else None


def clock(ts: float, tz: str | None = None) -> str:
    """``"14:03:22"`` in the site's time zone (``None``: the machine's local time)."""
    return datetime.fromtimestamp(ts, _zone(tz)).strftime("%H:%M:%S")


def when(ts: float | None, now: float, tz: str | None = None) -> str:
    """A timestamp for a table: ``"14:03:22"`` today, ``"Mar 03 14:03"`` on another day."""
    if ts is None:
        return NONE_TEXT
    zone = _zone(tz)
    moment = datetime.fromtimestamp(ts, zone)
    today = datetime.fromtimestamp(now, zone).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%b %d %H:%M")


# -- numbers --------------------------------------------------------------------------------

#: From this many seconds up, a span of seconds reads in minutes and hours.
SPAN_FROM = 90.0


def metric_text(unit: str, value: float | None) -> str:
    """A metric's value as a screen shows it: in its unit
    (:func:`~pacs_tui.units.format_value`), except seconds from :data:`SPAN_FROM` up, worded
    as the reasons beside them word a span (:func:`~pacs_tui.backup.rpo.span_words`): a
    backup's age reads "2 min" beside "newest snapshot 2 min ago", not "133 s"."""
    if unit == "s" and value is not None and SPAN_FROM <= value < math.inf:
        return span_words(value)
    return format_value(unit, value)


# -- status ---------------------------------------------------------------------------------

#: Worst first, for counts and legends.
STATUS_ORDER: tuple[Status, ...] = tuple(sorted(Status, key=lambda s: -s.rank))


def status_class(status: Status) -> str:
    """The CSS class that colours a status (``"status-down"``); the word and glyph carry it too."""
    return f"status-{status.value.lower()}"


def count_summary(statuses: Iterable[Status]) -> str:
    """Counts per status, worst first, zero counts left out: ``"▼ 1 DOWN  ▲ 1 WARN  ✔ 5 OK"``."""
    counts: dict[Status, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    parts = [f"{s.glyph} {counts[s]} {s.word}" for s in STATUS_ORDER if counts.get(s)]
    return "  ".join(parts) if parts else "nothing configured"


# -- series, sparklines and charts ----------------------------------------------------------


def bucket_series(
    points: Iterable[tuple[float, float]],
    start: float,
    end: float,
    buckets: int,
    *,
    how: str = "avg",
) -> list[float | None]:
    """Fold ``(ts, value)`` points into ``buckets`` equal time slots over ``[start, end)``.

    Each slot holds the average (``how="avg"``) or the maximum (``how="max"``) of its points, or
    ``None`` when it has none (the target was down or not checked): gaps stay visible.
    Points outside the window are ignored; a point exactly at ``end`` goes in the last slot.
    """
    if how not in ("avg", "max"):
        raise ValueError(f"how must be 'avg' or 'max', not {how!r}")
    if buckets <= 0 or end <= start:
        return []
    width = (end - start) / buckets
    sums = [0.0] * buckets
    counts = [0] * buckets
    highs: list[float | None] = [None] * buckets
    for ts, value in points:
        if ts < start or ts > end or math.isnan(value):
            continue
        index = min(int((ts - start) / width), buckets - 1)
        sums[index] += value
        counts[index] += 1
        high = highs[index]
        highs[index] = value if high is None else max(high, value)
    if how == "max":
        return highs
    return [sums[i] / counts[i] if counts[i] else None for i in range(buckets)]


def _scale(value: float, lo: float, hi: float, log: bool) -> float:
    """Where ``value`` sits between ``lo`` and ``hi``, clamped to 0..1."""
    if log:
        floor = max(lo, 1e-9)
        value, lo, hi = (math.log10(max(v, floor)) for v in (value, floor, max(hi, floor)))
    if hi <= lo:
        return 1.0 if value > lo else 0.0
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def sparkline(
    values: Sequence[float | None],
    *,
    lo: float | None = None,
    hi: float | None = None,
    log: bool = False,
    gap: str = " ",
    marks: Sequence[bool] | None = None,
    mark: str = DOWN_MARK,
) -> str:
    """One character per value from ``"▁▂▃▄▅▆▇█"``; ``None`` becomes ``gap``.

    ``lo``/``hi`` fix the scale (values outside are clamped) so that rows of a table compare;
    by default the scale is the values' own range (all-equal values sit on the lowest block).
    ``log=True`` scales logarithmically, which suits latencies spanning 1 ms to seconds.
    Where ``marks`` is true (a bucket in which the target was DOWN, see :func:`mark_buckets`)
    the character is ``mark`` whatever the value.
    """
    present = [v for v in values if v is not None and not math.isnan(v)]
    low = (min(present) if present else 0.0) if lo is None else lo
    high = (max(present) if present else 0.0) if hi is None else hi
    out = []
    for index, value in enumerate(values):
        if marks is not None and index < len(marks) and marks[index]:
            out.append(mark)
            continue
        if value is None or math.isnan(value):
            out.append(gap)
            continue
        position = _scale(value, low, high, log)
        out.append(BLOCKS[min(len(BLOCKS) - 1, int(position * len(BLOCKS)))])
    return "".join(out)


def bar_chart(
    values: Sequence[float | None], height: int, *, hi: float | None = None, gap: str = " "
) -> list[str]:
    """A vertical bar chart ``height`` rows tall, top row first, from 0 up to ``hi``.

    Each value is one column drawn with eighth blocks, so a chart of height 4 has 32 levels.
    A ``None`` column is ``gap`` on the bottom row (no data) and blank above. A value above 0
    always shows at least the lowest eighth, so "fast" is not confused with "no data".
    """
    if height <= 0:
        return []
    present = [v for v in values if v is not None and not math.isnan(v)]
    top = hi if hi is not None else (max(present) if present else 0.0)
    levels = height * 8
    rows = [[" "] * len(values) for _ in range(height)]
    for column, value in enumerate(values):
        if value is None or math.isnan(value):
            rows[height - 1][column] = gap
            continue
        if top <= 0:
            eighths = 0
        else:
            eighths = round(min(1.0, max(0.0, value / top)) * levels)
            if value > 0:
                eighths = max(1, eighths)
        for row in range(height):
            from_bottom = height - 1 - row
            filled = eighths - from_bottom * 8
            if filled >= 8:
                rows[row][column] = "█"
            elif filled > 0:
                rows[row][column] = BLOCKS[filled - 1]
    return ["".join(r) for r in rows]


def series_summary(
    points: Iterable[tuple[float, float, float, int]],
) -> tuple[float, float, float] | None:
    """``(min, avg, max)`` over ``(min, max, avg, count)`` rows (raw samples or rollups).

    The average is weighted by each row's count, so an hour rollup of 120 samples outweighs one
    raw sample. ``None`` when there are no rows.
    """
    low = math.inf
    high = -math.inf
    total = 0.0
    count = 0
    for p_min, p_max, p_avg, p_count in points:
        if p_count <= 0:
            continue
        low = min(low, p_min)
        high = max(high, p_max)
        total += p_avg * p_count
        count += p_count
    if count == 0:
        return None
    return low, total / count, high


# -- DOWN periods ---------------------------------------------------------------------------


def _as_status(value: object) -> Status | None:
    if isinstance(value, Status):
        return value
    try:
        return Status(str(value))
    except ValueError:
        return None


def down_periods(
    changes: Iterable[tuple[float, object, object]],
    start: float,
    end: float,
    *,
    current: Status | None = None,
    since: float | None = None,
) -> list[tuple[float, float]]:
    """The ``(from, to)`` spans within ``[start, end]`` during which the target was DOWN.

    ``changes`` are status changes ``(ts, before, after)`` (statuses or their words, ``before``
    may be ``None`` when unknown), in any order, possibly repeated. ``current``/``since`` are the
    target's status now and when it began: they fill in a change the list missed, and give the
    status of the whole window when nothing changed in it. Before the first change the status
    is that change's ``before``.
    """
    if end <= start:
        return []
    points: dict[float, tuple[Status | None, Status | None]] = {}
    for ts, before, after in changes:
        points[ts] = (_as_status(before), _as_status(after))
    if current is not None and since is not None and since <= end:
        known = points.get(since)
        points[since] = (known[0] if known else None, current)
    timeline = sorted((ts, b, a) for ts, (b, a) in points.items() if ts <= end)
    # The status at ``start``: the last change at or before it, else the first change's "before".
    status: Status | None = None
    earlier = [p for p in timeline if p[0] <= start]
    later = [p for p in timeline if p[0] > start]
    if earlier:
        status = earlier[-1][2]
    elif later:
        status = later[0][1]
    else:
        status = current
    periods: list[tuple[float, float]] = []
    down_from = start if status is Status.DOWN else None
    for ts, _before, after in later:
        if after is Status.DOWN and down_from is None:
            down_from = ts
        elif after is not Status.DOWN and after is not None and down_from is not None:
            if ts > down_from:
                periods.append((down_from, ts))
            down_from = None
    if down_from is not None:
        periods.append((down_from, end))
    return periods


def mark_buckets(
    periods: Iterable[tuple[float, float]], start: float, end: float, buckets: int
) -> list[bool]:
    """For each of ``buckets`` equal slots of ``[start, end)``: does any period overlap it?

    Any overlap counts, so an outage of a few seconds still marks its slot: an outage must never
    vanish from a coarse trend.
    """
    if buckets <= 0 or end <= start:
        return []
    width = (end - start) / buckets
    marks = [False] * buckets
    for begin, finish in periods:
        begin, finish = max(begin, start), min(finish, end)
        if finish < begin:
            continue
        first = min(int((begin - start) / width), buckets - 1)
        # A period ending exactly on a slot boundary does not touch the next slot.
        last = min(math.ceil((finish - start) / width) - 1, buckets - 1)
        last = max(first, last)
        for index in range(first, last + 1):
            marks[index] = True
    return marks
