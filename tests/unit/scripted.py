"""A check that plays back scripted results: for scheduler and engine logic, not a peer stand-in;
and the emit a long-running service is given, keeping what it reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pacs_tui.model import Event, LoggedMessage, Result, Status, Target, TargetKind


class ScriptedCheck:
    def __init__(
        self,
        target_id: str,
        results: Sequence[Result] = (),
        *,
        interval: float = 0.05,
        timeout: float = 1.0,
        delay: float = 0.0,
    ) -> None:
        self.target = Target(target_id, TargetKind.DICOM_NODE, {"aet": target_id.upper()})
        self.interval = interval
        self.timeout = timeout
        self.delay = delay
        self.results = list(results) or [Result(Status.OK, "echo ok", {"echo_seconds": 0.01})]
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.closed = False

    async def check(self) -> Result:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            result = self.results[min(self.calls - 1, len(self.results) - 1)]
            return Result(result.status, result.reason, result.metrics, result.details)
        finally:
            self.active -= 1

    async def close(self) -> None:
        self.closed = True


class Gauge:
    """How many checks are in flight at once, across many checks."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0


class PooledCheck(ScriptedCheck):
    """A scripted check in the "dicom" pool, counted on a shared :class:`Gauge`."""

    pool = "dicom"

    def __init__(self, target_id: str, gauge: Gauge, **options: Any) -> None:
        super().__init__(target_id, **options)
        self.gauge = gauge

    async def check(self) -> Result:
        self.gauge.active += 1
        self.gauge.peak = max(self.gauge.peak, self.gauge.active)
        try:
            return await super().check()
        finally:
            self.gauge.active -= 1


class Recorder:
    """The emit a service (a listener, a receiver) gets: its results and rows kept; an event
    is not expected."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.rows: list[LoggedMessage] = []

    def result(self, target_id: str, result: Result) -> None:
        self.results.append(result)

    def event(self, event: Event) -> None:
        raise AssertionError("no events expected")

    def messages(self, rows: Sequence[LoggedMessage]) -> None:
        self.rows.extend(rows)
