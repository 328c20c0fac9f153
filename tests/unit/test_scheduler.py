"""Scheduler: back-off while DOWN, jitter, timeouts, no overlapping runs, cancellation."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor

from pacs_tui.model import Result, Status, Target
from pacs_tui.scheduler import Scheduler, next_delay, run_with_timeout

from .scripted import Gauge, PooledCheck, ScriptedCheck

DOWN = Result(Status.DOWN, "connection refused")
OK = Result(Status.OK, "echo ok")


def test_backoff_doubles_while_down_and_is_capped() -> None:
    delays = [next_delay(10, streak, jitter=0) for streak in range(0, 8)]
    assert delays[:5] == [10, 10, 20, 40, 80]
    assert next_delay(10, 50, jitter=0, max_backoff=300) == 300
    assert next_delay(600, 5, jitter=0, max_backoff=300) == 600  # never below the interval


def test_jitter_stays_within_bounds_and_varies() -> None:
    rng = random.Random(1)
    delays = [next_delay(10, 0, jitter=0.1, rng=rng) for _ in range(200)]
    assert all(9.0 <= d <= 11.0 for d in delays)
    assert min(delays) < 9.5 and max(delays) > 10.5  # spread both ways, not only later
    assert len({round(d, 3) for d in delays}) > 50


async def test_timeout_gives_down_with_reason() -> None:
    check = ScriptedCheck("slow", delay=5, timeout=0.1)
    result = (await asyncio.wait_for(run_with_timeout(check), 3))["slow"]
    assert result.status is Status.DOWN
    assert result.reason == "timed out after 0.1 s"


async def test_probe_exception_is_contained() -> None:
    class Broken(ScriptedCheck):
        async def check(self) -> Result:
            raise RuntimeError("bug")

    result = (await run_with_timeout(Broken("b")))["b"]
    assert result.status is Status.UNKNOWN and "RuntimeError" in result.reason


async def test_runs_repeat_and_back_off_while_down() -> None:
    up = ScriptedCheck("up", [OK], interval=0.02)
    down = ScriptedCheck("down", [DOWN], interval=0.02)
    seen: list[tuple[str, Status]] = []

    def on_result(target: Target, result: Result) -> None:
        seen.append((target.id, result.status))

    sched = Scheduler([up, down], on_result, jitter=0, first_run_spread=0, max_backoff=10)
    sched.start()
    await asyncio.sleep(0.5)
    await sched.stop()
    # The healthy check ran about every 20 ms; the dead one backed off (20, 40, 80, 160 ms …).
    assert up.calls >= 10
    assert 3 <= down.calls <= 6
    assert ("down", Status.DOWN) in seen


async def test_never_two_runs_of_one_check_and_trigger_coalesces() -> None:
    check = ScriptedCheck("busy", [OK], interval=10, delay=0.1)
    sched = Scheduler([check], lambda c, r: None, first_run_spread=0)
    sched.start()
    await asyncio.sleep(0.02)
    assert sched.is_running("busy")
    for _ in range(5):
        assert sched.trigger("busy")
    await asyncio.sleep(0.35)
    await sched.stop()
    assert check.max_active == 1
    assert check.calls == 2  # the first run plus one coalesced "probe now"
    assert not sched.trigger("nope")


async def test_stop_cancels_running_checks_promptly() -> None:
    check = ScriptedCheck("hang", delay=30, timeout=60)
    sched = Scheduler([check], lambda c, r: None, first_run_spread=0)
    sched.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(sched.stop(), 1)
    assert check.active == 0


async def test_waiting_for_a_pool_place_does_not_count_against_the_timeout() -> None:
    # Ten checks of 0.15 s, one place: the last waits 1.35 s for it, past its 0.2 s timeout
    # plus the scheduler's 1 s grace. Counted from the start of the wait, it would be DOWN.
    gauge = Gauge()
    checks = [PooledCheck(f"n{i}", gauge, delay=0.15, timeout=0.2) for i in range(10)]
    results: dict[str, Result] = {}
    sched = Scheduler(checks, lambda c, r: results.__setitem__(c.id, r), pools={"dicom": 1})
    await sched.run_once()
    assert [results[f"n{i}"].status for i in range(10)] == [Status.OK] * 10
    assert gauge.peak == 1


async def test_without_a_pool_checks_run_all_at_once() -> None:
    gauge = Gauge()
    checks = [PooledCheck(f"n{i}", gauge, delay=0.05) for i in range(5)]
    await Scheduler(checks, lambda c, r: None).run_once()
    assert gauge.peak == 5
    gauge.peak = 0
    await Scheduler(checks, lambda c, r: None, pools={"dicom": 2}).run_once()
    assert gauge.peak == 2


async def test_a_run_past_its_timeout_keeps_its_pool_place_until_it_really_ends() -> None:
    """A worker thread stuck (say, in a slow name lookup) cannot be cancelled: the next check
    must wait for the pool place before its own timeout starts, not queue behind the thread
    inside it."""
    worker = ThreadPoolExecutor(max_workers=1)  # the engine's DICOM pool, one worker

    class Threaded(ScriptedCheck):
        pool = "dicom"

        async def check(self) -> Result:
            await asyncio.get_running_loop().run_in_executor(worker, time.sleep, self.delay)
            return OK

    stuck = Threaded("stuck", delay=2.5, timeout=0.2)  # given up on after 1.2 s, busy 2.5 s
    healthy = Threaded("healthy", delay=0.05, timeout=0.2)
    results: dict[str, Result] = {}
    sched = Scheduler(
        [stuck, healthy], lambda c, r: results.__setitem__(c.id, r), pools={"dicom": 1}
    )
    await sched.run_once()
    await sched.stop()
    worker.shutdown()
    assert results["stuck"].status is Status.DOWN
    assert results["healthy"].status is Status.OK, results["healthy"].reason


async def test_stop_ends_every_loop_even_when_a_cancel_races_a_result() -> None:
    """Python 3.11's ``wait_for`` can swallow a cancel that arrives as the run finishes; with
    2,000 checks finishing all the time, stop() still ends every loop, within its bound, and
    nothing is run or delivered once it has begun."""
    rng = random.Random(5)
    for _ in range(4):
        checks = [ScriptedCheck(f"n{i}", interval=0.0, delay=0.0) for i in range(2000)]
        delivered: list[float] = []

        def record(_target: Target, _result: Result, seen: list[float] = delivered) -> None:
            seen.append(time.monotonic())

        scheduler = Scheduler(checks, record, first_run_spread=0.01)
        scheduler.start()
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        stop_started = time.monotonic()
        async with asyncio.timeout(10):  # not wait_for: that would start stop() a turn later
            await scheduler.stop()
        assert time.monotonic() - stop_started < 5
        assert all(t < stop_started for t in delivered)
        calls = sum(c.calls for c in checks)
        for _ in range(20):  # twenty turns of the event loop: a surviving loop would run again
            await asyncio.sleep(0)
        assert sum(c.calls for c in checks) == calls


async def test_stop_cancels_an_in_flight_pooled_check_and_frees_its_place() -> None:
    """A pooled run is a task of its own (so a timed-out run keeps its place): stop must
    cancel it too, not only the loop that awaits it."""
    gauge = Gauge()
    check = PooledCheck("hang", gauge, delay=30, timeout=60)
    sched = Scheduler([check], lambda c, r: None, first_run_spread=0, pools={"dicom": 1})
    sched.start()
    for _ in range(100):
        if check.active:
            break
        await asyncio.sleep(0.01)
    assert check.active == 1
    await asyncio.wait_for(sched.stop(), 5)
    for _ in range(3):  # the cancelled run needs a turn or two of the loop to unwind
        await asyncio.sleep(0)
    assert check.active == 0 and gauge.active == 0
