"""Engine: folding results into state, status-change events, history, subscribers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pacs_tui.config import Config, HistoryConfig
from pacs_tui.engine import Engine, EngineUpdate, EventUpdate, StateUpdate
from pacs_tui.model import Event, EventKind, Result, Status
from pacs_tui.operators import Operator, Role
from pacs_tui.probes.dicom_source import DicomConfig
from pacs_tui.store import Store, StoreError

from .scripted import Gauge, PooledCheck, ScriptedCheck


async def test_state_folding_and_status_change_events(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = await Store.open(path)
    check = ScriptedCheck(
        "node",
        [
            Result(Status.OK, "echo ok", {"echo_seconds": 0.01}),
            Result(Status.OK, "echo ok", {"echo_seconds": 0.02}),
            Result(Status.DOWN, "connection refused"),
            Result(Status.OK, "echo ok", {"echo_seconds": 0.03}),
        ],
        interval=10,
    )
    engine = Engine(Config(history=HistoryConfig(path=path)), checks=[check], store=store)
    updates: list[EngineUpdate] = []
    engine.subscribe(updates.append)
    for _ in range(4):
        await engine.run_once()
    state = engine.states["node"]
    assert state.status is Status.OK and state.metrics == {"echo_seconds": 0.03}
    changes = [u.event for u in updates if isinstance(u, EventUpdate)]
    assert [e.status for e in changes] == [Status.OK, Status.DOWN, Status.OK]
    assert changes[1].summary == "OK → DOWN: connection refused"
    assert state.since == changes[2].ts
    assert sum(isinstance(u, StateUpdate) for u in updates) == 4
    await engine.stop()
    assert check.closed

    reader = await Store.open(path, retention_interval=None)
    events = await reader.events(target="node", kind=EventKind.STATUS_CHANGE)
    samples = await reader.samples(target="node", metric="echo_seconds")
    await reader.close()
    assert [e.status for e in events] == [Status.OK, Status.DOWN, Status.OK]
    assert [s.value for s in samples] == [0.01, 0.02, 0.03]


async def test_restart_keeps_since_when_status_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    config = Config(history=HistoryConfig(path=path))
    first = Engine(
        config,
        checks=[ScriptedCheck("n", [Result(Status.DOWN, "refused")])],
        store=await Store.open(path),
    )
    await first.run_once()
    since = first.states["n"].since
    await first.stop()

    second = Engine(
        config,
        checks=[ScriptedCheck("n", [Result(Status.DOWN, "refused")])],
        store=await Store.open(path),
    )
    events: list[object] = []
    second.subscribe(lambda u: events.append(u) if isinstance(u, EventUpdate) else None)
    await second.start()
    await asyncio.sleep(0)
    await second.run_once()
    await second.stop()
    assert second.states["n"].since == since
    assert events == []


async def test_probe_now_triggers_and_records_operator() -> None:
    check = ScriptedCheck("n", interval=60)
    engine = Engine(Config(), checks=[check], first_run_spread=0)
    events: list[EventUpdate] = []
    engine.subscribe(lambda u: events.append(u) if isinstance(u, EventUpdate) else None)
    await engine.start()
    await asyncio.sleep(0.05)
    assert check.calls == 1
    assert engine.probe_now("n", operator=Operator("alice", 1001, Role.TECHNICIAN))
    await asyncio.sleep(0.05)
    assert check.calls == 2
    assert not engine.probe_now("missing")
    await engine.stop()
    operator = [e.event for e in events if e.event.kind == EventKind.OPERATOR]
    assert operator and operator[0].fields["operator"] == "alice"


async def test_worst_first_and_overall() -> None:
    checks = [
        ScriptedCheck("a", [Result(Status.OK)]),
        ScriptedCheck("b", [Result(Status.DOWN, "refused")]),
        ScriptedCheck("c", [Result(Status.WARN, "slow")]),
    ]
    engine = Engine(Config(), checks=checks)
    assert engine.overall() is Status.UNKNOWN
    states = await engine.run_once()
    await engine.stop()
    assert [s.id for s in states] == ["b", "c", "a"]
    assert engine.overall() is Status.DOWN
    assert states[0].last_seen is None and states[2].last_seen is not None


async def test_engine_bounds_dicom_checks_by_max_workers() -> None:
    """The engine sizes the scheduler's DICOM pool from [dicom] max_workers, so a check that
    waits for a worker is not timed out while it waits (the scheduler test shows why)."""
    gauge = Gauge()
    checks = [PooledCheck(f"n{i}", gauge, delay=0.15, timeout=0.2) for i in range(10)]
    engine = Engine(Config(sections={"dicom": DicomConfig(max_workers=1)}), checks=checks)
    states = await engine.run_once()
    await engine.stop()
    assert gauge.peak == 1
    assert {s.status for s in states} == {Status.OK}  # the last waited 1.35 s, timeout 0.2 s


async def test_stop_while_the_history_is_opening_leaves_nothing_running(tmp_path: Path) -> None:
    check = ScriptedCheck("n", interval=60)
    store = Store(tmp_path / "h.sqlite")
    engine = Engine(Config(), checks=[check], store=store, first_run_spread=0)
    starting = asyncio.create_task(engine.start())
    await asyncio.sleep(0)  # the store is opening
    await engine.stop()
    await starting
    await asyncio.sleep(0.05)
    assert check.calls == 0  # the scheduler never started
    assert store.closed
    again = await Store.open(tmp_path / "h.sqlite")  # and the lock is free
    await again.close()


async def test_a_failed_start_runs_no_checks_and_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "h.sqlite").mkdir()  # unusable: a directory
    engine = Engine(Config(), checks=[ScriptedCheck("n")], store=Store(tmp_path / "h.sqlite"))
    with pytest.raises(StoreError):
        await engine.start()
    assert not engine._scheduler._tasks
    await engine.stop()


async def test_a_first_result_of_unknown_is_a_change_with_a_since() -> None:
    """A check that is UNKNOWN from its very first run (a plugin that is missing) gets a
    "since" and a status-change event, like any other first result."""
    engine = Engine(Config(), checks=[ScriptedCheck("p", [Result(Status.UNKNOWN, "no such file")])])
    events: list[Event] = []
    engine.subscribe(lambda u: events.append(u.event) if isinstance(u, EventUpdate) else None)
    await engine.run_once()
    assert engine.states["p"].since is not None
    assert [e.summary for e in events] == ["UNKNOWN → UNKNOWN: no such file"]
    await engine.run_once()  # the same again: no new event
    assert len(events) == 1


async def test_after_a_restart_a_change_is_from_the_recorded_status(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    config = Config(history=HistoryConfig(path=path))
    first = Engine(
        config, checks=[ScriptedCheck("n", [Result(Status.OK, "ok")])], store=await Store.open(path)
    )
    await first.run_once()
    await first.stop()
    second = Engine(
        config,
        checks=[ScriptedCheck("n", [Result(Status.CRIT, "disk full")])],
        store=await Store.open(path),
    )
    events: list[Event] = []
    second.subscribe(lambda u: events.append(u.event) if isinstance(u, EventUpdate) else None)
    await second.start()
    await second.run_once()
    await second.stop()
    assert [e.summary for e in events] == ["OK → CRIT: disk full"]
    assert events[0].fields["from"] == "OK"


async def test_a_reload_keeps_unchanged_checks_restarts_changed_ones(tmp_path: Path) -> None:
    from pacs_tui.config import parse_config
    from pacs_tui.engine import ReloadUpdate

    def entry(cid: str, text: str, interval: str = "1h") -> str:
        return (
            f'[[command]]\nid = "{cid}"\ncommand = ["/bin/sh", "-c", "echo {text}"]\n'
            f'interval = "{interval}"\n'
        )

    first = parse_config(entry("same", "same") + entry("changed", "before") + entry("gone", "x"))
    engine = Engine(first, first_run_spread=0)
    updates: list[EngineUpdate] = []
    engine.subscribe(updates.append)
    await engine.start()
    try:
        for _ in range(500):
            if all(s.checked for s in engine.states.values()):
                break
            await asyncio.sleep(0.01)
        same = engine.states["same"]
        second = parse_config(
            entry("same", "same") + entry("changed", "after") + entry("new", "hello", "2s")
        )
        report = await engine.reload(second)
        assert (report.added, report.removed, report.started, report.kept) == (
            ("new",),
            ("gone",),
            2,
            1,
        )
        assert isinstance(updates[-1], ReloadUpdate)
        assert set(engine.states) == {"same", "changed", "new"}
        assert engine.states["same"] is same  # untouched: not run again (hourly), same since
        assert engine.probeable() == {"same", "changed", "new"}
        for _ in range(500):
            if engine.states["changed"].reason == "after" and engine.states["new"].checked:
                break
            await asyncio.sleep(0.01)
        assert engine.states["changed"].reason == "after"  # the new argv runs
        assert engine.states["new"].reason == "hello"
        assert engine.intervals()["new"] == 2.0
    finally:
        await engine.stop()
