"""Things a minute over the last minute, from a running count read now and then (a log's
matching lines, an audit receiver's messages)."""

from __future__ import annotations

from collections import deque


class MinuteRate:
    """Each call gives the count's rise over the last minute. In the first minute it is the
    rise since the start, never a few seconds' count scaled up to a minute (which made two
    lines at start-up read as 24 a minute)."""

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float]] = deque()  # (monotonic time, count)

    def __call__(self, now: float, count: float) -> float:
        marks = self._marks
        marks.append((now, count))
        while len(marks) > 2 and now - marks[1][0] >= 60:
            marks.popleft()
        then, before = marks[0]
        return round((count - before) * 60 / max(now - then, 60.0), 1)
