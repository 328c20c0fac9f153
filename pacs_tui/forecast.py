"""Days to full: a volume's growth by least squares over a window of its used bytes, and when
it fills at that rate. Pure arithmetic on recorded points: no I/O, no clock of its own.

What an admin expects of "full in 11 days":
- a **purge** (usage falls by more than :data:`PURGE_FRACTION` of the volume, or by a tenth of
  what was used) starts the fit afresh after it: the growth before it says nothing about the
  growth after, and a fit across it would read as shrinking;
- a **step up** (an import, a migration) is growth and stays in the fit;
- a volume that does not grow (or shrinks) has no forecast, said in words;
- too little history (under :data:`MIN_SPAN` seconds — a twentieth of a shorter window — or
  fewer than :data:`MIN_POINTS` points) gives no forecast yet rather than a wild one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DAY = 86400.0
#: A fit needs at least this much time between its first and last points (a twentieth of the
#: window when that is less: three minutes of an hour's window)…
MIN_SPAN = 3600.0
#: …and this many points.
MIN_POINTS = 3
#: A fall of usage by this fraction of the volume's size (or by a tenth of what was used) is a
#: purge: the fit starts after it.
PURGE_FRACTION = 0.01
#: A forecast further away than this is "not within 10 years": no number.
HORIZON_DAYS = 3650.0


@dataclass(frozen=True, slots=True)
class Forecast:
    """``rate`` in bytes a second over the fit (None when there is too little history);
    ``days`` until full at that rate (None when not growing or too little history); ``words``
    what it means for a person; ``points`` and ``since`` what the fit used."""

    rate: float | None
    days: float | None
    words: str
    points: int = 0
    since: float | None = None


def forecast(
    points: Sequence[tuple[float, float]], size: float, now: float, window: float = 7 * DAY
) -> Forecast:
    """The forecast from ``(ts, used bytes)`` points (any order) of a volume of ``size``
    bytes (what can be used: used + available), over the ``window`` seconds before ``now``."""
    recent = sorted((t, u) for t, u in points if now - window <= t <= now and math.isfinite(u))
    start = _after_last_purge(recent, size)
    fit = recent[start:]
    min_span = min(MIN_SPAN, window / 20)
    if len(fit) < MIN_POINTS or fit[-1][0] - fit[0][0] < min_span:
        span = (fit[-1][0] - fit[0][0]) if fit else 0.0
        words = (
            f"no forecast yet: {len(fit)} point{'s' if len(fit) != 1 else ''} over "
            f"{_span_words(span)} (it needs {MIN_POINTS} or more spread over at least "
            f"{_span_words(min_span)})"
        )
        if start > 0:
            words += ", since a purge"
        return Forecast(None, None, words, len(fit), fit[0][0] if fit else None)
    rate = _slope(fit)
    since = fit[0][0]
    if rate <= 0:
        words = "not growing" if rate > -1e-9 * max(size, 1.0) else "shrinking"
        return Forecast(rate, None, words, len(fit), since)
    free = max(0.0, size - fit[-1][1])
    if free == 0:
        return Forecast(rate, 0.0, "full now", len(fit), since)
    days = free / rate / DAY
    if days > HORIZON_DAYS:
        return Forecast(rate, None, "not full within 10 years", len(fit), since)
    return Forecast(rate, days, f"full in {days_words(days)}", len(fit), since)


def _after_last_purge(points: Sequence[tuple[float, float]], size: float) -> int:
    """The index the fit starts at: just after the last fall that is a purge."""
    start = 0
    for i in range(1, len(points)):
        before, after = points[i - 1][1], points[i][1]
        fall = before - after
        if fall > 0 and (fall > PURGE_FRACTION * size or fall > 0.1 * before):
            start = i
    return start


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least squares slope of ``points`` (times shifted to the first, for precision)."""
    t0 = points[0][0]
    n = len(points)
    mean_t = sum(t - t0 for t, _ in points) / n
    mean_u = sum(u for _, u in points) / n
    sxx = sum((t - t0 - mean_t) ** 2 for t, _ in points)
    sxy = sum((t - t0 - mean_t) * (u - mean_u) for t, u in points)
    return sxy / sxx if sxx > 0 else 0.0


def days_words(days: float) -> str:
    """ "11 days", "1 day", "5 hours" (under a day), "1 hour", "9 minutes", "< 1 minute"."""
    if days >= 1.5:
        return f"{days:.0f} days"
    if days >= 1:
        return "1 day"
    hours = days * 24
    if hours >= 1.5:
        return f"{hours:.0f} hours"
    if hours >= 1:
        return "1 hour"
    minutes = hours * 60
    if minutes >= 1.5:
        return f"{minutes:.0f} minutes"
    return "1 minute" if minutes >= 1 else "< 1 minute"


def _span_words(seconds: float) -> str:
    if seconds >= DAY:
        return f"{seconds / DAY:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
