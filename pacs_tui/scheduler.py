"""Run periodic checks: interval with jitter, a timeout, back-off while DOWN, one run at a time.

Each check gets one asyncio task that loops, so two runs of the same check can never overlap;
"probe now" wakes that loop instead of starting a second run. :meth:`Scheduler.stop` ends every
loop within a bound, even on Python 3.11, where a cancel can be lost (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pacs_tui.model import Result, Status
from pacs_tui.probes.base import Check

log = logging.getLogger(__name__)

ResultCallback = Callable[[Check, Result], None]

# Spread first runs so a site of 200 nodes does not open 200 associations in the same instant.
FIRST_RUN_SPREAD = 1.0

# How long stop() keeps cancelling loops that have not ended before it gives up on them.
STOP_BOUND = 3.0


def next_delay(
    interval: float,
    down_streak: int,
    *,
    jitter: float = 0.1,
    max_backoff: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next run.

    While a target stays DOWN the wait doubles each time (interval, twice that, four times, …) up to
    ``max_backoff`` (never below ``interval``), so a dead node is not hammered; ``jitter`` spreads
    runs by ±fraction so checks that started together drift apart.
    """
    base = interval
    if down_streak > 1:
        cap = max(max_backoff, interval)
        base = min(interval * 2 ** min(down_streak - 1, 30), cap)
    r = rng if rng is not None else random
    return max(0.0, base * (1.0 + r.uniform(-jitter, jitter)))


async def run_with_timeout(check: Check, run: Awaitable[Result] | None = None) -> Result:
    """One run of ``check`` (or the already started ``run`` of it): a DOWN result instead of any
    exception, and never past its timeout. A started ``run`` is left running on timeout."""
    # A little grace above the check's own timeout: the probe's internal timeouts should fire
    # first and give the better reason ("timed out waiting for A-ASSOCIATE response").
    limit = check.timeout + 1.0
    try:
        if run is None:
            return await asyncio.wait_for(check.check(), limit)
        return await asyncio.wait_for(asyncio.shield(run), limit)
    except TimeoutError:
        return Result(Status.DOWN, f"timed out after {check.timeout:g}s")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe bug must not kill the scheduler
        log.exception("check %s failed unexpectedly", check.target.id)
        return Result(Status.UNKNOWN, f"probe error: {type(exc).__name__}")


@dataclass
class _Slot:
    check: Check
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    down_streak: int = 0
    running: bool = False


class Scheduler:
    """Owns one looping task per check until :meth:`stop`.

    ``pools`` bounds how many checks of one pool run at once (a check names its pool in a
    ``pool`` attribute): a check waits for a free place *before* its timeout starts, so a burst
    (start-up, "probe all", many nodes timing out together) never turns queueing into false
    DOWNs. Size a pool like the thread pool its checks run in.
    """

    def __init__(
        self,
        checks: Iterable[Check],
        on_result: ResultCallback,
        *,
        jitter: float = 0.1,
        max_backoff: float = 300.0,
        first_run_spread: float = FIRST_RUN_SPREAD,
        rng: random.Random | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        self._slots = {c.target.id: _Slot(c) for c in checks}
        self._pools = {name: asyncio.Semaphore(size) for name, size in (pools or {}).items()}
        self._on_result = on_result
        self._jitter = jitter
        self._max_backoff = max_backoff
        self._spread = first_run_spread
        self._rng = rng if rng is not None else random.Random()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Pooled runs until they really end (a run reported as timed out still holds its pool
        # place): their own tasks, which stop() must cancel as well as the loops awaiting them.
        self._runs: set[asyncio.Future[Result]] = set()

    @property
    def checks(self) -> list[Check]:
        return [s.check for s in self._slots.values()]

    def start(self) -> None:
        if self._stopping:
            return
        for target_id, slot in self._slots.items():
            task = asyncio.create_task(self._loop(slot), name=f"check:{target_id}")
            self._tasks.append(task)

    def trigger(self, target_id: str) -> bool:
        """Run that check as soon as it is not already running; False for an unknown id."""
        slot = self._slots.get(target_id)
        if slot is None:
            return False
        slot.wake.set()
        return True

    def is_running(self, target_id: str) -> bool:
        slot = self._slots.get(target_id)
        return bool(slot and slot.running)

    async def stop(self) -> None:
        """End every check loop: nothing is run or delivered after this starts.

        On Python 3.11 (Debian 12's) ``asyncio.wait_for`` can return the inner result instead
        of raising ``CancelledError`` when the outer task is cancelled just as the inner one
        finishes (fixed in 3.12), so a loop can survive one ``cancel()``. The ``_stopping``
        flag makes such a loop leave at its next turn, and loops still running are cancelled
        again until they end or :data:`STOP_BOUND` passes; threads of runs already handed to
        a pool are not waited for (they end on their own timeouts).
        """
        self._stopping = True
        pending: set[asyncio.Future[Any]] = {*self._tasks, *self._runs}
        bound = asyncio.get_running_loop().time() + STOP_BOUND
        while pending:
            for task in pending:
                task.cancel()
            left = bound - asyncio.get_running_loop().time()
            if left <= 0:
                log.warning("%d check loops did not stop; leaving them", len(pending))
                break
            # asyncio.wait, not a suppressed await: a cancel aimed at our caller reaches it.
            _, pending = await asyncio.wait(pending, timeout=min(left, 0.2))
        self._tasks.clear()
        self._runs.clear()

    async def run_once(self) -> dict[str, Result]:
        """Every check once, concurrently; used by ``status`` and tests."""
        slots = list(self._slots.values())
        results = await asyncio.gather(*(self._run(s.check) for s in slots))
        out: dict[str, Result] = {}
        for slot, result in zip(slots, results, strict=True):
            self._deliver(slot, result)
            out[slot.check.target.id] = result
        return out

    async def _run(self, check: Check) -> Result:
        pool = self._pools.get(getattr(check, "pool", ""))
        if pool is None:
            return await run_with_timeout(check)
        await pool.acquire()
        # The place is given back when the run really ends, not when it is reported timed out:
        # a worker thread stuck in a slow name lookup is still busy, and the next check must
        # wait for a free one *before* its own timeout starts.
        run = asyncio.ensure_future(check.check())
        self._runs.add(run)
        run.add_done_callback(lambda done: self._finished(done, pool))
        return await run_with_timeout(check, run)

    def _finished(self, run: asyncio.Future[Result], pool: asyncio.Semaphore) -> None:
        pool.release()
        self._runs.discard(run)
        if not run.cancelled() and run.exception() is not None:
            log.debug("an overdue check ended with %r", run.exception())

    def _deliver(self, slot: _Slot, result: Result) -> None:
        if self._stopping:
            return
        slot.down_streak = slot.down_streak + 1 if result.status is Status.DOWN else 0
        try:
            self._on_result(slot.check, result)
        except Exception:
            log.exception("result handler failed for %s", slot.check.target.id)

    async def _loop(self, slot: _Slot) -> None:
        check = slot.check
        first = self._rng.uniform(0, min(self._spread, check.interval))
        await self._sleep_or_wake(slot, first)
        while not self._stopping:
            slot.wake.clear()
            slot.running = True
            try:
                result = await self._run(check)
            finally:
                slot.running = False
            self._deliver(slot, result)
            delay = next_delay(
                check.interval,
                slot.down_streak,
                jitter=self._jitter,
                max_backoff=self._max_backoff,
                rng=self._rng,
            )
            await self._sleep_or_wake(slot, delay)

    @staticmethod
    async def _sleep_or_wake(slot: _Slot, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slot.wake.wait(), delay)
