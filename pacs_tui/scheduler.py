"""Run periodic checks: interval with jitter, a timeout, back-off while DOWN, one run at a time;
and keep long-running services up, restarted with back-off when they die.

Each periodic check (one target, or a batch reporting several) gets one asyncio task that loops,
so two runs of the same check can never overlap; "probe now" wakes that loop instead of starting
a second run. :meth:`Scheduler.stop` ends every loop within a bound, even on Python 3.11, where
a cancel can be lost (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacs_tui.durations import seconds_words
from pacs_tui.model import Event, LoggedMessage, Result, Status, Target
from pacs_tui.source import BatchCheck, Check, Service
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

ResultCallback = Callable[[Target, Result], None]
EventCallback = Callable[[Event], None]
#: Records message-log rows and returns once they are durable (the history's journal).
MessagesCallback = Callable[[Sequence[LoggedMessage]], None]
Periodic = Check | BatchCheck

# Spread first runs so a site of 200 nodes does not open 200 associations in the same instant.
FIRST_RUN_SPREAD = 1.0
#: The longest wait between two runs of a check whose target stays DOWN.
MAX_BACKOFF = 300.0

# How long stop() keeps cancelling loops that have not ended before it gives up on them.
STOP_BOUND = 3.0


def next_delay(
    interval: float,
    down_streak: int,
    *,
    jitter: float = 0.1,
    max_backoff: float = MAX_BACKOFF,
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


def _name(check: Periodic) -> str:
    return check.target.id if isinstance(check, Check) else check.id


def _targets(check: Periodic) -> tuple[Target, ...]:
    return (check.target,) if isinstance(check, Check) else tuple(check.targets)


def _start(check: Periodic) -> Awaitable[Any]:
    return check.check() if isinstance(check, Check) else check.check_all()


def _results(check: Periodic, outcome: Result | Mapping[str, Result]) -> dict[str, Result]:
    """A run's outcome by target id; a batch's target it left out is UNKNOWN for this run."""
    if isinstance(outcome, Result):
        return {t.id: outcome for t in _targets(check)}
    return {
        t.id: outcome.get(t.id) or Result(Status.UNKNOWN, "not reported by this run")
        for t in _targets(check)
    }


async def run_with_timeout(check: Periodic, run: Awaitable[Any] | None = None) -> dict[str, Result]:
    """One run of ``check`` (or the already started ``run`` of it), by target id: a DOWN result
    instead of any exception, and never past its timeout. A started ``run`` is left running on
    timeout."""
    # A little grace above the check's own timeout: the probe's internal timeouts should fire
    # first and give the better reason ("timed out waiting for A-ASSOCIATE response").
    limit = check.timeout + 1.0
    try:
        if run is None:
            outcome = await asyncio.wait_for(_start(check), limit)
        else:
            outcome = await asyncio.wait_for(asyncio.shield(run), limit)
        return _results(check, outcome)
    except TimeoutError:
        return _results(
            check, Result(Status.DOWN, f"timed out after {seconds_words(check.timeout)}")
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe bug must not kill the scheduler
        log.exception("check %s failed unexpectedly", _name(check))
        return _results(check, Result(Status.UNKNOWN, f"probe error: {type(exc).__name__}"))


async def cancel_until_done(tasks: set[asyncio.Future[Any]], what: str) -> None:
    """Cancel ``tasks`` again and again until they end or :data:`STOP_BOUND` passes (a cancel
    can be lost on Python 3.11, see :meth:`Scheduler.stop`)."""
    pending = tasks
    bound = asyncio.get_running_loop().time() + STOP_BOUND
    while pending:
        for task in pending:
            task.cancel()
        left = bound - asyncio.get_running_loop().time()
        if left <= 0:
            log.warning("%d %s did not stop; leaving them", len(pending), what)
            break
        # asyncio.wait, not a suppressed await: a cancel aimed at our caller reaches it.
        _, pending = await asyncio.wait(pending, timeout=min(left, 0.2))


@dataclass
class _Slot:
    check: Periodic
    #: The targets its runs report, by id.
    targets: dict[str, Target] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    down_streak: int = 0
    running: bool = False
    #: Taken out by :meth:`Scheduler.remove`: a run still in flight delivers nothing.
    removed: bool = False


def _slot(check: Periodic) -> _Slot:
    """A check's slot; a check with a ``bind_wake`` method is given the slot's wake, to ask
    for a run now when it has news between its runs (a repository's integrity check that
    ended)."""
    slot = _Slot(check, {t.id: t for t in _targets(check)})
    bind = getattr(check, "bind_wake", None)
    if callable(bind):
        bind(slot.wake.set)
    return slot


class Scheduler:
    """Owns one looping task per periodic check until :meth:`stop`.

    ``pools`` bounds how many checks of one pool run at once (a check names its pool, its
    source's name, in a ``pool`` attribute): a check waits for a free place *before* its
    timeout starts, so a burst (start-up, "probe all", many nodes timing out together) never
    turns queueing into false DOWNs. Size a pool like the thread pool its checks run in.
    """

    def __init__(
        self,
        checks: Iterable[Periodic],
        on_result: ResultCallback,
        *,
        jitter: float = 0.1,
        max_backoff: float = MAX_BACKOFF,
        first_run_spread: float = FIRST_RUN_SPREAD,
        rng: random.Random | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        self._slots = {_name(c): _slot(c) for c in checks}
        #: Which slot runs each target (a batch runs several).
        self._by_target = {tid: slot for slot in self._slots.values() for tid in slot.targets}
        self._pools = {name: asyncio.Semaphore(size) for name, size in (pools or {}).items()}
        self._on_result = on_result
        self._jitter = jitter
        self._max_backoff = max_backoff
        self._spread = first_run_spread
        self._rng = rng if rng is not None else random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._stopping = False
        # Pooled runs until they really end (a run reported as timed out still holds its pool
        # place): their own tasks, which stop() must cancel as well as the loops awaiting them.
        self._runs: set[asyncio.Future[Any]] = set()

    @property
    def checks(self) -> list[Periodic]:
        return [s.check for s in self._slots.values()]

    def start(self) -> None:
        if self._stopping:
            return
        self._started = True
        for name, slot in self._slots.items():
            self._tasks[name] = asyncio.create_task(self._loop(slot), name=f"check:{name}")

    def add(self, checks: Iterable[Periodic]) -> None:
        """Run these checks too (a config reload); started at once if the scheduler runs."""
        for check in checks:
            name = _name(check)
            slot = _slot(check)
            self._slots[name] = slot
            self._by_target.update(dict.fromkeys(slot.targets, slot))
            if self._started and not self._stopping:
                self._tasks[name] = asyncio.create_task(self._loop(slot), name=f"check:{name}")

    async def remove(self, checks: Iterable[Periodic]) -> None:
        """Stop running these checks (a config reload): nothing of theirs is delivered after."""
        tasks: set[asyncio.Future[Any]] = set()
        for check in checks:
            slot = self._slots.pop(_name(check), None)
            if slot is None:
                continue
            slot.removed = True
            for target_id in slot.targets:
                if self._by_target.get(target_id) is slot:
                    del self._by_target[target_id]
            task = self._tasks.pop(_name(check), None)
            if task is not None:
                tasks.add(task)
        if tasks:
            await cancel_until_done(tasks, "removed check loops")

    def trigger(self, target_id: str) -> bool:
        """Run the check of that target as soon as it is not already running; False for an
        unknown id."""
        slot = self._by_target.get(target_id)
        if slot is None:
            return False
        slot.wake.set()
        return True

    def triggerable(self) -> set[str]:
        """The ids :meth:`trigger` can run now."""
        return set(self._by_target)

    def can_trigger(self, target_id: str) -> bool:
        return target_id in self._by_target

    def is_running(self, target_id: str) -> bool:
        slot = self._by_target.get(target_id)
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
        await cancel_until_done({*self._tasks.values(), *self._runs}, "check loops")
        self._tasks.clear()
        self._runs.clear()

    async def run_once(self) -> dict[str, Result]:
        """Every check once, concurrently, but those run only on demand (a failover drill);
        used by ``status`` and tests. Results by target."""
        slots = [s for s in self._slots.values() if not getattr(s.check, "on_demand", False)]
        outcomes = await asyncio.gather(*(self._run(s.check) for s in slots))
        out: dict[str, Result] = {}
        for slot, results in zip(slots, outcomes, strict=True):
            self._deliver(slot, results)
            out.update(results)
        return out

    async def _run(self, check: Periodic) -> dict[str, Result]:
        pool = self._pools.get(getattr(check, "pool", ""))
        if pool is None:
            return await run_with_timeout(check)
        await pool.acquire()
        # The place is given back when the run really ends, not when it is reported timed out:
        # a worker thread stuck in a slow name lookup is still busy, and the next check must
        # wait for a free one *before* its own timeout starts.
        run = asyncio.ensure_future(_start(check))
        self._runs.add(run)
        run.add_done_callback(lambda done: self._finished(done, pool))
        return await run_with_timeout(check, run)

    def _finished(self, run: asyncio.Future[Any], pool: asyncio.Semaphore) -> None:
        pool.release()
        self._runs.discard(run)
        if not run.cancelled() and run.exception() is not None:
            log.debug("an overdue check ended with %r", run.exception())

    def _deliver(self, slot: _Slot, results: Mapping[str, Result]) -> None:
        if self._stopping or slot.removed:
            return
        # Back off while every target of the run is DOWN (one for a single check).
        down = bool(results) and all(r.status is Status.DOWN for r in results.values())
        slot.down_streak = slot.down_streak + 1 if down else 0
        for target_id, result in results.items():
            try:
                self._on_result(slot.targets[target_id], result)
            except Exception:
                log.exception("result handler failed for %s", target_id)

    async def _loop(self, slot: _Slot) -> None:
        check = slot.check
        # A check run only on demand (a failover drill) waits for "probe now", every time.
        on_demand = bool(getattr(check, "on_demand", False))
        first = None if on_demand else self._rng.uniform(0, min(self._spread, check.interval))
        await self._sleep_or_wake(slot, first)
        while not self._stopping and not slot.removed:
            slot.wake.clear()
            slot.running = True
            try:
                results = await self._run(check)
            finally:
                slot.running = False
            self._deliver(slot, results)
            delay = (
                None
                if on_demand
                else next_delay(
                    check.interval,
                    slot.down_streak,
                    jitter=self._jitter,
                    max_backoff=self._max_backoff,
                    rng=self._rng,
                )
            )
            await self._sleep_or_wake(slot, delay)

    @staticmethod
    async def _sleep_or_wake(slot: _Slot, delay: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slot.wake.wait(), delay)


#: A service that died is started again after 1 s, then 2 s, 4 s, … at most this.
SERVICE_MAX_BACKOFF = 60.0
#: A service that ran this long before dying starts its back-off afresh.
SERVICE_HEALTHY_RUN = 60.0


class _ServiceEmit:
    """The ``emit`` a service gets: only its own targets, nothing once stopping began."""

    def __init__(self, owner: Services, service: Service) -> None:
        self._owner = owner
        self._service = service
        self._targets = {t.id: t for t in service.targets}

    def result(self, target_id: str, result: Result) -> None:
        target = self._targets.get(target_id)
        if target is None:
            log.warning(
                "service %s reported %r, not one of its targets", self._service.id, target_id
            )
            return
        self._owner.deliver(target, result)

    def event(self, event: Event) -> None:
        if not self._owner.stopping:
            self._owner.on_event(event)

    def messages(self, rows: Sequence[LoggedMessage]) -> None:
        if self._owner.on_messages is not None:
            self._owner.on_messages(rows)


class Services:
    """Keeps each long-running service's ``serve(emit)`` running until :meth:`stop`: when it
    returns or raises, its targets are DOWN with the reason and it is started again after a
    back-off (1 s doubling to :data:`SERVICE_MAX_BACKOFF`)."""

    def __init__(
        self,
        services: Iterable[Service],
        on_result: ResultCallback,
        on_event: EventCallback,
        *,
        on_messages: MessagesCallback | None = None,
        first_backoff: float = 1.0,
        max_backoff: float = SERVICE_MAX_BACKOFF,
    ) -> None:
        self.services = list(services)
        self._on_result = on_result
        self.on_event = on_event
        self.on_messages = on_messages
        self._first = first_backoff
        self._max = max_backoff
        self._tasks: dict[Service, asyncio.Future[Any]] = {}
        self._started = False
        self.stopping = False

    def start(self) -> None:
        if self.stopping:
            return
        self._started = True
        for service in self.services:
            self._launch(service)

    def _launch(self, service: Service) -> None:
        task = asyncio.create_task(self._keep_up(service), name=f"serve:{service.id}")
        self._tasks[service] = task

    def add(self, services: Iterable[Service]) -> None:
        """Run these services too (a config reload); started at once if the others run."""
        for service in services:
            self.services.append(service)
            if self._started and not self.stopping:
                self._launch(service)

    async def remove(self, services: Iterable[Service]) -> None:
        """Stop these services (a config reload): cancelled, so each closes its socket (a
        listener moved to another port or the same one rebinds after this), and nothing of
        theirs is delivered after."""
        tasks: set[asyncio.Future[Any]] = set()
        for service in services:
            if service in self.services:
                self.services.remove(service)
            task = self._tasks.pop(service, None)
            if task is not None:
                tasks.add(task)
        if tasks:
            await cancel_until_done(tasks, "removed services")

    def deliver(self, target: Target, result: Result) -> None:
        if self.stopping:
            return
        try:
            self._on_result(target, result)
        except Exception:
            log.exception("result handler failed for %s", target.id)

    async def _keep_up(self, service: Service) -> None:
        emit = _ServiceEmit(self, service)
        failures = 0
        while not self.stopping:
            started = time.monotonic()
            try:
                await service.serve(emit)
                why = "stopped on its own"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the service's bug or its socket's: keep the others up
                why = service_failure(exc)
                log.error("service %s %s", service.id, why)
            if self.stopping:
                return
            if time.monotonic() - started >= SERVICE_HEALTHY_RUN:
                failures = 0
            failures += 1
            delay = min(self._first * 2 ** min(failures - 1, 30), self._max)
            reason = f"{why}; restarting in {seconds_words(delay)}"
            for target in service.targets:
                self.deliver(target, Result(Status.DOWN, reason))
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Cancel every service (bounded like :meth:`Scheduler.stop`); nothing is delivered
        after this starts."""
        self.stopping = True
        await cancel_until_done(set(self._tasks.values()), "services")
        self._tasks.clear()


#: What a listening service's socket error means, for the admin (errno → words).
_LISTEN_WORDS = {
    errno.EADDRINUSE: "the port is already in use by another program",
    errno.EACCES: "permission denied (a port under 1024 needs root or CAP_NET_BIND_SERVICE)",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's",
}


def service_failure(exc: Exception) -> str:
    """Why a service stopped, in words: "cannot listen: the port is already in use by another
    program" for the socket errors of a listener that could not start, else the error."""
    if isinstance(exc, OSError) and exc.errno in _LISTEN_WORDS:
        return f"cannot listen: {_LISTEN_WORDS[exc.errno]}"
    return f"failed: {type(exc).__name__}: {visible(str(exc), 300)}"
