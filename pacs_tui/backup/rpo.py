"""The recovery point objective: the age of an asset's newest good recovery point against its
target (OK within the RPO, WARN over it, CRIT over twice it), said in words."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pacs_tui.model import Status

#: A newest recovery point this far ahead of our clock is said (a clock is wrong somewhere).
FUTURE_SLACK = 300.0


@dataclass(frozen=True, slots=True)
class Measured:
    """Status and words of one asset's RPO; ``age`` (seconds) and ``ratio`` (age / RPO) are
    None when there is no recovery point at all."""

    status: Status
    words: str
    age: float | None
    ratio: float | None


def span_words(seconds: float) -> str:
    """A span as an operator reads it: "45 s", "20 min", "26 h", "1.5 h", "9 days"."""
    s = max(0.0, seconds) if math.isfinite(seconds) else 0.0
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    hours = s / 3600
    if hours < 72:
        return f"{_number(hours)} h"
    return f"{_number(s / 86400)} days"


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or abs(value - round(value)) < 0.05 else f"{value:.1f}"


def measure(newest: float | None, now: float, rpo: float, what: str, none: str) -> Measured:
    """``newest`` (epoch seconds of the newest good recovery point, None: there is none)
    against ``rpo`` (seconds): "newest good snapshot 26 h ago > RPO 24 h". ``what`` names the
    point ("newest good snapshot"), ``none`` says there is none ("no snapshot in the
    repository": CRIT)."""
    target = span_words(rpo)
    if newest is None or not math.isfinite(newest):
        return Measured(Status.CRIT, f"{none} (RPO {target})", None, None)
    age = now - newest
    if age < -FUTURE_SLACK:
        ahead = span_words(-age)
        return Measured(
            Status.WARN, f"{what} is {ahead} in the future: is a clock wrong?", 0.0, 0.0
        )
    age = max(0.0, age)
    ratio = age / rpo
    shown = f"{what} {span_words(age)} ago"
    if ratio > 2:
        return Measured(Status.CRIT, f"{shown} > twice the RPO {target}", age, ratio)
    if ratio > 1:
        return Measured(Status.WARN, f"{shown} > RPO {target}", age, ratio)
    return Measured(Status.OK, f"{shown} (RPO {target})", age, ratio)
