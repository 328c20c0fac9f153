"""The collector's socket with an in-process engine: viewers attach, follow, act and reattach;
hostile clients are dropped in words; a viewer that stops reading slows no one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pacs_tui import collector_server, wire
from pacs_tui.collector_client import AttachError, CollectorStopped, NoCollector, RemoteView
from pacs_tui.collector_server import CollectorServer
from pacs_tui.collector_socket import SocketPathError
from pacs_tui.config import Config, SiteConfig
from pacs_tui.engine import Engine, StateUpdate
from pacs_tui.hl7.listener import Listener, ListenerConfig
from pacs_tui.model import NO_ACK, EventKind, LoggedMessage, MessageQuery, Result, Status, Target
from pacs_tui.patient_key import PatientKey
from pacs_tui.probes.hl7_source import listener_target
from pacs_tui.store import Store
from pacs_tui.view import LinkUpdate


class Flipping:
    """A check whose status alternates OK/CRIT on every run (every ``interval`` seconds)."""

    def __init__(self, target_id: str, interval: float = 3600.0) -> None:
        self.target = Target(target_id, "command", {"name": target_id})
        self.interval = interval
        self.timeout = 1.0
        self.runs = 0

    async def check(self) -> Result:
        self.runs += 1
        status = Status.CRIT if self.runs % 2 else Status.OK
        return Result(status, f"run {self.runs}", {"run_seconds": 0.001 * self.runs})

    async def close(self) -> None:
        return None


@pytest.fixture
def folder() -> Iterator[Path]:
    # Short, under /tmp: the socket's own folder, made and checked by the server.
    with tempfile.TemporaryDirectory(prefix="pt-") as tmp:
        yield Path(tmp)


async def serving(
    folder: Path, checks: list[Flipping], **server: Any
) -> tuple[Engine, CollectorServer]:
    engine = Engine(Config(site=SiteConfig("Attach ward")), checks=checks, first_run_spread=0)
    await engine.start()
    collector = CollectorServer(engine, folder / "sock" / "collector.sock", **server)
    await collector.start()
    return engine, collector


@pytest.fixture
async def site(folder: Path) -> AsyncIterator[tuple[Engine, CollectorServer, list[Flipping]]]:
    checks = [Flipping("ris-db"), Flipping("archive-disk")]
    engine, collector = await serving(folder, checks)
    yield engine, collector, checks
    await collector.stop()
    await engine.stop()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_quiet_collector_beats_and_a_silent_one_is_taken_as_gone(
    site: tuple[Engine, CollectorServer, list[Flipping]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hourly checks: nothing to send for long stretches. The beat keeps the view attached;
    when the collector says nothing at all (stopped, hung), the view takes it as gone."""
    from pacs_tui import collector_client

    _, collector, _ = site
    monkeypatch.setattr(collector_server, "BEAT_SECONDS", 0.2)
    monkeypatch.setattr(collector_client, "SILENT_SECONDS", 1.0)
    view = await RemoteView.attach(collector.path)
    try:
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + 2.5
        while loop.time() < quiet_until:
            assert view.link.connected, view.link.reason
            await asyncio.sleep(0.05)
        monkeypatch.setattr(collector_server, "BEAT_SECONDS", 3600.0)  # as if it hung
        hung = time.time()  # its last beat is at most 0.2 s after this
        await until(lambda: not view.link.connected, 5)
        noticed = time.time()
        assert view.link.reason == "it sent nothing for 1 s (stopped or hung?)"
        # Gone since it was last heard, not since the silence was noticed a second later.
        assert view.link.gone_since is not None
        assert hung - 0.3 <= view.link.gone_since <= hung + 0.3 < noticed - 0.5
    finally:
        await view.close()


async def test_a_viewer_sees_the_snapshot_then_every_change(
    site: tuple[Engine, CollectorServer, list[Flipping]],
) -> None:
    engine, collector, _ = site
    await until(lambda: all(s.since is not None for s in engine.states.values()))
    view = await RemoteView.attach(collector.path)
    try:
        assert view.site == "Attach ward"
        assert view.link.connected and view.link.pid == os.getpid()
        assert view.link.describe().startswith("attached to collector on ")
        assert {s.id: s.status for s in view.states()} == {
            s.id: s.status for s in engine.states.values()
        }
        assert view.overall() is engine.overall()
        seen: list[StateUpdate] = []
        view.subscribe(lambda u: seen.append(u) if isinstance(u, StateUpdate) else None)
        assert engine.probe_now("ris-db")
        await until(lambda: any(u.state.id == "ris-db" for u in seen))
        update = next(u for u in seen if u.state.id == "ris-db")
        assert update.state == engine.states["ris-db"]
        assert update.previous is Status.CRIT and update.state.status is Status.OK
        # History queries travel too.
        events = await view.events("ris-db", kind=EventKind.STATUS_CHANGE)
        assert events == []  # no store in this engine: nothing recorded, and no error
    finally:
        await view.close()


async def test_an_action_is_recorded_under_the_kernels_user(
    site: tuple[Engine, CollectorServer, list[Flipping]],
) -> None:
    _, collector, checks = site
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    view = await RemoteView.attach(collector.path)
    try:
        assert view.operator == me
        operator_events: list[str] = []
        view.subscribe(
            lambda u: (
                operator_events.append(u.event.summary)  # type: ignore[union-attr]
                if getattr(getattr(u, "event", None), "kind", None) == EventKind.OPERATOR
                else None
            )
        )
        runs = checks[1].runs
        assert view.probe_now("archive-disk")
        await until(lambda: checks[1].runs > runs)
        await until(lambda: operator_events)
        assert operator_events == [f"probe now requested by {me}"]
        assert not view.probe_now("no-such-target")
        assert view.probe_all() == 2
        await until(lambda: len(operator_events) == 2)
        assert operator_events[1] == f"probe all requested by {me}"
    finally:
        await view.close()


async def test_the_viewer_reattaches_when_the_collector_returns(folder: Path) -> None:
    checks = [Flipping("ris-db")]
    engine, collector = await serving(folder, checks)
    view = await RemoteView.attach(collector.path)
    links: list[LinkUpdate] = []
    view.subscribe(lambda u: links.append(u) if isinstance(u, LinkUpdate) else None)
    try:
        before = view.state("ris-db")
        await collector.stop()
        await engine.stop()
        await until(lambda: links)
        gone = links[-1].link
        assert not gone.connected and gone.gone_since is not None
        assert "collector gone since" in gone.describe() and "stale" in gone.describe()
        assert "collector gone" in gone.describe(short=True) and "stale" in gone.describe(
            short=True
        )
        assert view.state("ris-db") == before  # the last known value stays
        assert not view.probe_now("ris-db")  # nothing to ask while it is gone
        with pytest.raises(AttachError, match="not attached"):
            await view.series("ris-db", "run_seconds", 0)
        # It comes back with another config: one target added, the old one gone.
        engine, collector = await serving(folder, [Flipping("new-one")])
        await until(lambda: len(links) >= 2, timeout=10)
        assert links[-1].link.connected
        assert [s.id for s in view.states()] == ["new-one"]
    finally:
        await view.close()
        await collector.stop()
        await engine.stop()


async def test_the_socket_is_private(folder: Path) -> None:
    engine, collector = await serving(folder, [Flipping("a")])
    try:
        info = os.lstat(collector.path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
        assert stat.S_IMODE(os.stat(collector.path.parent).st_mode) == 0o700
    finally:
        await collector.stop()
        await engine.stop()
    assert not collector.path.exists()  # removed at stop


async def test_with_a_group_the_folder_is_the_groups(folder: Path) -> None:
    import grp

    group = grp.getgrgid(os.getegid()).gr_name  # a group this process may give files to
    engine, collector = await serving(folder, [Flipping("a")], group=group)
    try:
        info = os.stat(collector.path.parent)
        assert stat.S_IMODE(info.st_mode) == 0o750 and info.st_gid == os.getegid()
        assert os.lstat(collector.path).st_gid == os.getegid()
    finally:
        await collector.stop()
        await engine.stop()
    with pytest.raises(SocketPathError, match="no such group"):
        await serving(folder, [Flipping("a")], group="no-such-group-here")


async def test_a_dead_socket_is_replaced_and_anything_else_refused(folder: Path) -> None:
    path = folder / "sock" / "collector.sock"
    path.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(os.fspath(path))
    dead.close()  # a socket nobody listens on: left by a collector that was killed
    engine, collector = await serving(folder, [Flipping("a")])
    view = await RemoteView.attach(path)
    await view.close()
    with pytest.raises(SocketPathError, match="another collector is answering"):
        await CollectorServer(engine, path).start()
    await collector.stop()
    await engine.stop()
    path.write_text("not a socket")
    with pytest.raises(SocketPathError, match="exists and is not a socket"):
        await serving(folder, [Flipping("a")])
    assert path.read_text() == "not a socket"


async def test_a_socket_path_longer_than_a_unix_socket_holds(folder: Path) -> None:
    deep = folder / ("d" * 60) / ("e" * 60)
    engine = Engine(Config(), checks=[Flipping("a")], first_run_spread=0)
    await engine.start()
    collector = CollectorServer(engine, deep / "collector.sock")
    await collector.start()
    try:
        assert len(os.fsencode(collector.path)) > 108 and collector.path.exists()
        view = await RemoteView.attach(collector.path)
        assert [s.id for s in view.states()] == ["a"]
        await view.close()
    finally:
        await collector.stop()
        await engine.stop()


async def test_no_collector_is_told_apart_from_a_refusal(folder: Path) -> None:
    with pytest.raises(NoCollector, match="no collector socket"):
        await RemoteView.attach(folder / "nothing.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(os.fspath(folder / "dead.sock"))
    dead.close()
    with pytest.raises(CollectorStopped, match="the collector is not running: its socket "):
        await RemoteView.attach(folder / "dead.sock")  # a NoCollector too: `run` starts its own
    # A config file given where the socket goes: said as what it is, not as a dead collector.
    config = folder / "site.toml"
    config.write_text("[site]\n")
    with pytest.raises(AttachError, match=r"site.toml is not a socket but a regular file") as info:
        await RemoteView.attach(config)
    assert not isinstance(info.value, NoCollector)


def ran(checks: list[Flipping], runs: int) -> bool:
    return sum(c.runs for c in checks) >= runs


def reached(items: list[StateUpdate], count: int) -> bool:
    return len(items) >= count


# -- hostile clients ----------------------------------------------------------------------------


async def raw(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(os.fspath(path), limit=wire.FRAME_LIMIT)


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[bytes]:
    """Every line the server sent until it closed the connection."""
    lines: list[bytes] = []
    async with asyncio.timeout(timeout):
        while line := await reader.readline():
            lines.append(line)
    return lines


async def test_hostile_clients_are_dropped_in_words_and_others_still_served(
    site: tuple[Engine, CollectorServer, list[Flipping]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, collector, _ = site
    caplog.set_level(logging.INFO, logger="pacs_tui.collector_server")
    monkeypatch.setattr(collector_server, "HELLO_SECONDS", 0.3)
    silent_reader, silent = await raw(collector.path)  # half-open: never says anything

    reader, writer = await raw(collector.path)
    writer.write(b"\x16\x03\x01\x02\x00garbage that is not JSON\n")
    assert await closed_by_server(reader) == []

    reader, writer = await raw(collector.path)
    writer.write(b'{"type": "hello", "magic": "pacs-tui", "version": 99}\n')
    (refusal,) = await closed_by_server(reader)
    assert json.loads(refusal)["type"] == "refused"
    assert f"protocol version {wire.PROTOCOL}, the viewer 99" in json.loads(refusal)["reason"]

    reader, writer = await raw(collector.path)
    writer.write(b'{"type": "hello", "magic": "' + b"x" * (wire.REQUEST_LIMIT + 10))
    assert await closed_by_server(reader) == []

    reader, writer = await raw(collector.path)
    writer.write(b"[1, 2, 3]\n")
    assert await closed_by_server(reader) == []

    assert await closed_by_server(silent_reader) == []  # dropped after HELLO_SECONDS
    silent.close()
    said = caplog.text
    for words in (
        "not a pacs-tui viewer",
        "protocol version 99",
        f"hello longer than {wire.REQUEST_LIMIT} bytes",
        "no hello within 0.3 s",
    ):
        assert words in said
    view = await RemoteView.attach(collector.path)  # the collector is none the worse
    assert len(view.states()) == 2
    await view.close()


async def test_bad_requests_get_an_error_reply(
    site: tuple[Engine, CollectorServer, list[Flipping]],
) -> None:
    _, collector, _ = site
    reader, writer = await raw(collector.path)
    writer.write(wire.encode({"type": "hello", "magic": wire.MAGIC, "version": wire.PROTOCOL}))
    assert wire.decode(await reader.readline())["type"] == "welcome"
    while not wire.decode(await reader.readline()).get("done"):
        pass
    for request in (
        {"id": 1, "op": "format_disk"},
        {"id": 2, "op": "series", "target": 5, "metric": "x", "since": 0},
        {"id": 3, "op": "events", "limit": 10**9},
        {"id": 4, "op": "series_of", "targets": [1, 2], "metric": "x", "since": 0},
        {"id": True, "op": "probe_all"},
        {"id": 5, "op": "series_of", "targets": ["a"], "metric": "x", "since": 0, "step": 0},
        {"id": 6, "op": "series_of", "targets": ["a"], "metric": "x", "since": 0, "step": 1e9},
        {"id": 7, "op": "messages", "limit": 0},
    ):
        writer.write(wire.encode(request))
    errors: dict[Any, str] = {}
    async with asyncio.timeout(5):
        while len(errors) < 8:
            frame = wire.decode(await reader.readline())
            if frame["type"] == "reply":
                errors[frame["id"]] = frame["error"]
    assert "no such operation: 'format_disk'" in errors[1]
    assert "target: expected str, got int" in errors[2]
    assert "limit: from 1 to" in errors[3]
    assert "at most" in errors[4]
    assert "integer id" in errors[None]
    assert "step: from 1 to 86400 seconds" in errors[5] == errors[6]
    assert "limit: from 1 to 10000" in errors[7]
    writer.close()


class Steady(Flipping):
    """A check that stays OK; only its value changes."""

    async def check(self) -> Result:
        self.runs += 1
        return Result(Status.OK, "", {"run_seconds": 0.001 * self.runs})


async def test_results_go_to_viewers_together_and_a_change_of_status_at_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, collector = await serving(folder, [Steady("pacs-db"), Flipping("ris-db")])
    view = await RemoteView.attach(collector.path)
    seen: list[StateUpdate] = []
    view.subscribe(lambda u: seen.append(u) if isinstance(u, StateUpdate) else None)
    try:
        # A result that keeps its status reaches the viewer within STATES_EVERY...
        monkeypatch.setattr(collector_server, "STATES_EVERY", 0.2)
        runs = engine.states["pacs-db"].metrics.get("run_seconds")
        assert engine.probe_now("pacs-db")
        await until(lambda: any(u.state.metrics.get("run_seconds") != runs for u in seen))
        # ...and, however long that is, goes at once with a change of status.
        monkeypatch.setattr(collector_server, "STATES_EVERY", 30.0)
        seen.clear()
        assert engine.probe_now("pacs-db")
        await until(lambda: engine.states["pacs-db"].metrics["run_seconds"] == 0.001 * 3)
        assert engine.probe_now("ris-db")
        await until(lambda: {u.state.id for u in seen} == {"pacs-db", "ris-db"}, timeout=3)
        assert [u.changed for u in seen] == [False, True]  # in the order they came
        assert view.state("pacs-db") == engine.states["pacs-db"]
    finally:
        await view.close()
        await collector.stop()
        await engine.stop()


async def test_an_attached_viewers_states_stay_worst_first_and_current(folder: Path) -> None:
    # The viewer keeps its worst-first order between calls while no status changes: what it
    # returns must still be the newest states (a steady check's new values), in the engine's
    # order after every flip.
    checks = [Steady("a-steady"), Flipping("b-flips"), Steady("c-steady"), Flipping("d-flips")]
    engine, collector = await serving(folder, checks)
    view = await RemoteView.attach(collector.path)
    try:
        await until(lambda: len(view.states()) == 4 and all(s.checked for s in view.states()))
        for target in ("a-steady", "b-flips", "a-steady", "d-flips", "b-flips", "c-steady"):
            before = engine.states[target]
            assert engine.probe_now(target)
            await until(lambda t=target, b=before: engine.states[t] != b)  # type: ignore[misc]
            await until(lambda t=target: view.state(t) == engine.states[t])  # type: ignore[misc]
            assert view.states() == engine.worst_first()
            assert view.states("command") == engine.worst_first("command")
        statuses = [s.status for s in view.states()]
        assert statuses == sorted(statuses, key=lambda s: -s.rank)
    finally:
        await view.close()
        await collector.stop()
        await engine.stop()


async def test_a_viewer_that_stops_reading_slows_no_one_and_is_resent_everything(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pacs_tui.collector_server")
    checks = [Flipping(f"node-{n:02}") for n in range(40)]
    engine, collector = await serving(folder, checks)
    # A plain socket that stops reading (an asyncio reader would keep reading into memory).
    stalled = socket.socket(socket.AF_UNIX)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(os.fspath(collector.path))
    stalled.sendall(wire.encode({"type": "hello", "magic": wire.MAGIC, "version": wire.PROTOCOL}))
    view = await RemoteView.attach(collector.path)
    try:
        changes: list[StateUpdate] = []
        view.subscribe(lambda u: changes.append(u) if isinstance(u, StateUpdate) else None)
        # Every target changes status at each probe: one event and one state per target.
        rounds = 0
        while "backlog dropped" not in caplog.text:
            engine.probe_all()
            rounds += 1
            want = len(checks) * rounds
            await until(partial(ran, checks, want + len(checks)))
            # The viewer that reads keeps up, round after round.
            await until(partial(reached, changes, want), timeout=2)
            assert rounds < 200, "the backlog was never dropped"
        assert len(engine.states) == len(view.states())
        # The stalled viewer reads again: a fresh snapshot, not the dropped backlog.
        stalled_reader, _ = await asyncio.open_unix_connection(sock=stalled, limit=wire.FRAME_LIMIT)
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while sum(1 for f in seen if f["type"] == "states" and f.get("done")) < 2:
                seen.append(wire.decode(await stalled_reader.readline()))
        # The welcome, the first snapshot, what fitted in the socket, then everything again.
        assert seen[0]["type"] == "welcome"
        last = max(i for i, f in enumerate(seen) if f["type"] == "states" and f.get("done"))
        first = last
        while seen[first - 1]["type"] == "states":
            first -= 1
        resent = [s["target"]["id"] for f in seen[first : last + 1] for s in f["states"]]
        assert sorted(resent) == sorted(engine.states)
        # Far fewer frames than the changes that happened while it did not read.
        assert len(seen) < 2 * len(checks) * rounds
        assert "viewer user" in caplog.text and "resynchronised" in caplog.text
    finally:
        stalled.close()
        await view.close()
        await collector.stop()
        await engine.stop()


def test_a_message_log_row_crosses_the_wire_whole_and_a_bad_one_is_refused() -> None:
    row = LoggedMessage(
        1.5, "his-copy", "in", "ADT^A01", "C1", None, 0.25, 300, "HIS", "RIS", "x", "2.5", "W", "R"
    )
    assert wire.message_in(wire.decode(wire.encode(wire.message_out(row)))) == row
    bad_rows: list[object] = [
        {**wire.message_out(row), "size": "300"},
        {**wire.message_out(row), "ack": 5},
        [],
    ]
    for bad in bad_rows:
        with pytest.raises(wire.WireError):
            wire.message_in(bad)


async def test_an_attached_viewer_filters_the_message_log_and_sees_a_message_masked(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = ListenerConfig("his-copy", "127.0.0.1", 0)
    key = PatientKey()
    listener = Listener(entry, listener_target(entry), key)
    store = Store(folder / "history.sqlite")
    site = Config(site=SiteConfig("HL7 ward"))
    engine = Engine(site, checks=[listener], store=store, first_run_spread=0, patient_key=key)
    await engine.start()
    collector = CollectorServer(engine, folder / "sock" / "collector.sock")
    await collector.start()
    view = await RemoteView.attach(collector.path)
    try:
        await until(lambda: listener.address.rsplit(":", 1)[1] != "0")
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(listener.address.rsplit(":", 1)[1])
        )
        for n, kind in enumerate(("ADT^A01", "ORU^R01", "ADT^A08")):
            body = f"MSH|^~\\&|HIS|W|RIS|R|2026||{kind}|M{n}|P|2.5\rPID|1||77^^^H||ROE^ANN"
            writer.write(b"\x0b" + body.encode() + b"\x1c\r")
            await reader.readuntil(b"\x1c\r")  # its ACK: the row is committed
        writer.close()

        async with asyncio.timeout(5):  # in the table at the next flush (the journal has them)
            while len(await view.messages()) < 3:
                await asyncio.sleep(0.05)
        adt = await view.messages(MessageQuery(type_prefix="ADT"))
        assert [m.control_id for m in adt] == ["M2", "M0"]
        assert await view.messages(MessageQuery(ack=NO_ACK)) == []
        assert [m.control_id for m in await view.messages(MessageQuery(control_id="M1"))] == ["M1"]
        # The patient's ID finds its messages through the keyed hash the log keeps.
        caplog.set_level(logging.INFO, "pacs_tui")  # the engine logs it, as it judges the query
        assert len(await view.messages(MessageQuery(patient="77"))) == 3
        looked = [
            r.getMessage() for r in caplog.records if "message log of patient" in r.getMessage()
        ]
        # Who looked for which patient is logged, by reference, never the ID.
        assert len(looked) == 1
        assert looked[0].endswith(f"read the message log of patient {key.reference('77')}")
        assert await view.messages(MessageQuery(patient="78")) == []
        assert {m.patient for m in adt} == {engine.patient_key.reference("77")}
        assert "'77'" not in repr(await view.messages())
        assert (await view.messages(MessageQuery(until=adt[-1].ts)))[-1].control_id == "M0"
        assert await view.messages(MessageQuery(until=adt[-1].ts - 1)) == []
        tree = await view.message_tree("his-copy", adt[0].ts, "M2")
        assert tree is not None and [s.name for s in tree.segments] == ["MSH", "PID"]
        assert "ROE" not in repr(tree) and "'77" not in repr(tree) and "ADT^A08" in repr(tree)
        assert await view.message_tree("his-copy", adt[0].ts, "nope") is None
        assert await view.message_tree("no-such-link", adt[0].ts, "M2") is None
    finally:
        await view.close()
        await collector.stop()
        await engine.stop()


async def test_a_viewer_that_leaves_before_its_answer_is_one_line_not_a_traceback(
    site: tuple[Engine, CollectorServer, list[Flipping]], caplog: pytest.LogCaptureFixture
) -> None:
    # A check that gave up waiting (the collector was busy, or stopped) closes its end while
    # the collector is still to answer: routine, not an error with a traceback in the journal.
    _, collector, _ = site
    caplog.set_level(logging.INFO, logger="pacs_tui.collector_server")
    for _ in range(3):
        _, writer = await raw(collector.path)
        hello = {"type": "hello", "magic": wire.MAGIC, "version": wire.PROTOCOL}
        writer.write(wire.encode(hello))
        writer.close()
    await until(lambda: caplog.text.count("left before it was answered") >= 1)
    assert "Traceback" not in caplog.text and "dropped after an error" not in caplog.text
    view = await RemoteView.attach(collector.path)  # the others are served
    assert len(view.states()) == 2
    await view.close()
