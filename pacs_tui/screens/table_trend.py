"""The trend column of a target table: each target's headline metric over the last hour (from
the history, extended live) and the periods it was DOWN, drawn as a sparkline."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from pacs_tui.model import Event, EventKind, Status, TargetState
from pacs_tui.screens import table_cells as cells
from pacs_tui.source import Column, Source
from pacs_tui.ui_format import bucket_series, down_periods, mark_buckets, sparkline
from pacs_tui.view import EngineView

#: Seconds of history behind the trend column.
TREND_WINDOW = 3600.0
#: The history's samples are read in buckets of this many seconds (their highest value: the
#: sparkline draws each slot's highest).
TREND_STEP = 60.0

Change = tuple[float, object, object]


class TableTrend:
    """The points and status changes behind one table's trend column."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._points: dict[str, list[tuple[float, float]]] = {}
        #: Status changes of the window per target, from the history: (ts, before, after).
        self._changes: dict[str, list[Change]] = {}
        #: When the history was last read (None: never).
        self.loaded_at: float | None = None

    def points(self, target_id: str) -> Sequence[tuple[float, float]]:
        return self._points.get(target_id, ())

    def add_live(self, state: TargetState, previous: Status) -> None:
        """Extend ``state``'s trend with the headline value of its latest result, and its
        status change if it brought one."""
        if state.status is not previous and state.since is not None:
            self._changes.setdefault(state.id, []).append((state.since, previous, state.status))
        metric = self.source.headline_metric(state)
        value = state.metrics.get(metric) if metric else None
        if value is not None and state.last_seen is not None:
            points = self._points.setdefault(state.id, [])
            if not points or points[-1][0] < state.last_seen:
                points.append((state.last_seen, value))

    async def load(self, view: EngineView, states: Iterable[TargetState], now: float) -> None:
        """Re-read the window of every target's headline metric and the status changes."""
        since = now - TREND_WINDOW
        by_metric: dict[str, list[str]] = {}
        for state in states:
            metric = self.source.headline_metric(state)
            if metric is not None:
                by_metric.setdefault(metric, []).append(state.id)
        for metric, targets in by_metric.items():  # one query per metric, not per target
            found = await view.series_of(targets, metric, since, step=TREND_STEP)
            for target_id in targets:
                history = [(p.ts, p.max) for p in found.get(target_id, ())]
                last = history[-1][0] if history else since
                live = [p for p in self._points.get(target_id, []) if p[0] > last]
                self._points[target_id] = history + live
        events = await view.events(kind=EventKind.STATUS_CHANGE, since=since)
        changes: dict[str, list[Change]] = {}
        for event in events:
            if event.kind == EventKind.STATUS_CHANGE:
                changes.setdefault(event.target, []).append(_change(event))
        self._changes = changes
        self.loaded_at = now

    def trim(self, now: float) -> None:
        """Forget what left the window: the trend is current at ``now`` (while its screen
        shows, every result and change reaches it live, so the history need not be read
        again: a re-read of 1,000 targets every 30 s was the largest answer a collector sent,
        and held the event loops of both ends while it was encoded and decoded)."""
        start = now - TREND_WINDOW
        for points in self._points.values():
            if points and points[0][0] < start:
                del points[: bisect.bisect_left(points, start, key=lambda p: p[0])]
        for target_id, changes in self._changes.items():
            if changes and min(c[0] for c in changes) < start:
                self._changes[target_id] = [c for c in changes if c[0] >= start]
        self.loaded_at = now

    def down_periods(
        self, state: TargetState, start: float, end: float, recent: Iterable[Event]
    ) -> list[tuple[float, float]]:
        """When ``state``'s target was DOWN within ``[start, end]``: the history's status changes,
        the live ones the app keeps (``recent``, also while the screen is hidden) and the
        current status."""
        changes = list(self._changes.get(state.id, ()))
        changes += [_change(e) for e in recent if e.target == state.id]
        return down_periods(changes, start, end, current=state.status, since=state.since)

    def sparkline(
        self, state: TargetState, column: Column, now: float, width: int, recent: Iterable[Event]
    ) -> str:
        found = cells.headline(self.source, state, column)
        start = now - TREND_WINDOW
        values = bucket_series(self._points.get(state.id, []), start, now, width, how="max")
        marks = mark_buckets(self.down_periods(state, start, now, recent), start, now, width)
        lo, hi, log_scale = cells.trend_scale(found[1]) if found else (None, None, False)
        return sparkline(values, lo=lo, hi=hi, log=log_scale, gap="·", marks=marks)


def _change(event: Event) -> Change:
    return (event.ts, event.fields.get("from"), event.status or event.fields.get("to"))
