"""Parse human durations: ``30s``, ``5m``, ``1h30m``, ``2d``, or ``90`` (seconds)."""

from __future__ import annotations

import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ``ValueError`` with a readable message when it is not one."""
    cleaned = text.strip().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration")
    if _PLAIN.fullmatch(cleaned):
        return float(cleaned)  # a bare number is seconds, as in the config
    pos = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or pos == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h30m or 2d")
    return total


def seconds_words(seconds: float) -> str:
    """A timeout or a wait as every reason writes it: "5 s", "0.5 s", "2.5 s"; from ten
    minutes on "15 min", from two hours "2 h" (the config's "5s" is how it is typed, not said)."""
    if seconds < 600:
        return f"{round(seconds, 2):g} s"
    if seconds < 7200:
        return f"{round(seconds / 60, 1):g} min"
    return f"{round(seconds / 3600, 1):g} h"
