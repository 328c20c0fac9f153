"""Operator roles for pacs-tui itself: who may do what, checked by the engine whoever asks (in
process or through the collector's socket), and the hash-chained operator trail that says so —
verified after tampering with the file, and forwarded as syslog."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from pacs_tui import wire
from pacs_tui.collector_client import RemoteView
from pacs_tui.collector_server import CollectorServer
from pacs_tui.config import Config, HistoryConfig, SiteConfig
from pacs_tui.config_reader import Reader
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status, Target
from pacs_tui.operator_trail import OperatorTrail, trail_path, verify
from pacs_tui.operators import (
    NotAllowed,
    Operator,
    OperatorsConfig,
    Role,
    operator_for,
    read_operators,
    role_for,
)
from pacs_tui.store import Store

ME = pwd.getpwuid(os.getuid()).pw_name
ADMIN_ELSEWHERE = OperatorsConfig(admin=("someone-else",), configured=True)


class Steady:
    def __init__(self, target_id: str) -> None:
        self.target = Target(target_id, "command", {})
        self.interval, self.timeout, self.runs = 3600.0, 1.0, 0

    async def check(self) -> Result:
        self.runs += 1
        return Result(Status.OK, f"run {self.runs}")

    async def close(self) -> None:
        return None


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="po-") as tmp:  # short: a socket goes in it
        yield Path(tmp)


async def started(folder: Path, operators: OperatorsConfig) -> Engine:
    config = Config(
        site=SiteConfig("Roles ward"),
        history=HistoryConfig(path=folder / "h.sqlite"),
        operators=operators,
    )
    engine = Engine(
        config, checks=[Steady("ris-db")], store=Store(folder / "h.sqlite"), first_run_spread=0
    )
    await engine.start()
    return engine


def trail_lines(folder: Path) -> list[dict[str, object]]:
    text = trail_path(folder / "h.sqlite").read_text()
    return [json.loads(line) for line in text.splitlines()]


# -- roles ----------------------------------------------------------------------------------


def test_without_operators_the_engines_own_user_is_admin_and_others_viewers() -> None:
    unconfigured = OperatorsConfig()
    assert role_for(ME, os.getuid(), (), unconfigured) is Role.ADMIN
    assert role_for("nobody", 65534, (), unconfigured) is (
        Role.ADMIN if os.getuid() == 65534 else Role.VIEWER
    )


def test_roles_by_name_and_by_group_anyone_else_a_viewer() -> None:
    config = OperatorsConfig(
        technician=("group:radtech",), admin=("alice", "group:pacs-admins"), configured=True
    )
    assert role_for("alice", 1001, (), config) is Role.ADMIN
    assert role_for("bob", 1002, ("radtech",), config) is Role.TECHNICIAN
    assert role_for("carol", 1003, ("radtech", "pacs-admins"), config) is Role.ADMIN
    assert role_for("dave", 0, ("root",), config) is Role.VIEWER  # root only when listed


def test_each_action_needs_its_role_and_the_refusal_says_which() -> None:
    viewer = Operator("wall", 1, Role.VIEWER)
    technician = Operator("tech", 2, Role.TECHNICIAN)
    assert not viewer.may("probe-now") and technician.may("probe-now")
    assert not technician.may("phi-reveal") and not technician.may("no-such-action")
    with pytest.raises(NotAllowed, match=r"wall \(viewer\) may not probe now: .*technician"):
        viewer.check("probe-now")


def test_operators_config_is_read_strictly() -> None:
    reader = Reader()
    config = read_operators(
        reader,
        {"admin": ["alice"], "technician": ["group:radtech"], "idle_lock": "15m",
         "forward": "udp://10.0.0.5:514"},
    )  # fmt: skip
    assert reader.problems == []
    assert config.configured and config.idle_lock == 900.0 and config.forward.startswith("udp")
    reader = Reader()
    read_operators(reader, {"admins": ["x"], "forward": "http://x", "idle_lock": "forever"})
    said = [str(p) for p in reader.problems]
    assert any("operators.admins" in p and "did you mean 'admin'" in p for p in said)
    assert any(p.startswith("operators.forward = 'http://x'") for p in said)
    assert any(p.startswith("operators.idle_lock = 'forever'") for p in said)


def test_an_operators_table_names_its_admins_and_real_groups() -> None:
    """A table written for idle_lock alone made everyone, root too, a viewer: no drill, no
    probe, with config check saying OK. An empty name or "group:" alone named nobody."""
    reader = Reader()
    read_operators(reader, {"idle_lock": "15m"})
    assert [str(p) for p in reader.problems] == [
        'operators.admin: missing; expected a list of user names and "group:NAME"s, like '
        '["alice", "group:pacs-admins"]: with an [operators] table only those listed may act, '
        "root included"
    ]
    reader = Reader()
    read_operators(reader, {"admin": ["group:"], "technician": ["", "bob"]})
    assert [p.key for p in reader.problems] == ["operators.technician", "operators.admin"]
    reader = Reader(check_paths=True)  # config check: the groups must exist here
    read_operators(reader, {"admin": ["root", "group:root"], "technician": ["group:no-such-grp"]})
    assert [str(p) for p in reader.problems] == [
        "operators.technician = 'group:no-such-grp': expected a group this machine has"
    ]


# -- the engine checks, and the trail records ---------------------------------------------------


async def test_a_search_by_patient_left_on_screen_is_one_trail_line_per_window(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log that follows with a patient filter reads again every second: one search, not a
    trail line a second (86,400 a day per screen); recorded again once its window is over."""
    from pacs_tui import engine as engine_module

    engine = await started(folder, ADMIN_ELSEWHERE)
    try:
        admin = Operator(ME, os.getuid(), Role.ADMIN)
        for _ in range(5):
            engine.look_up_patient(admin, "PAT-0001")
        engine.look_up_patient(admin, "PAT-0002")
        monkeypatch.setattr(engine_module, "LOOKUP_RECORDED_EVERY", 0.0)
        engine.look_up_patient(admin, "PAT-0001")  # its window over: said again
    finally:
        await engine.stop()
    lines = trail_lines(folder)
    assert [r["action"] for r in lines] == ["patient-lookup"] * 3
    assert lines[0]["target"] == lines[2]["target"] != lines[1]["target"]


async def test_a_viewer_is_refused_and_both_outcomes_are_in_the_trail(folder: Path) -> None:
    engine = await started(folder, ADMIN_ELSEWHERE)
    try:
        viewer = engine.local_operator
        assert viewer.role is Role.VIEWER
        with pytest.raises(NotAllowed):
            engine.probe_now("ris-db", viewer)
        with pytest.raises(NotAllowed):
            engine.look_up_patient(viewer, "PAT-0001")
        admin = Operator(ME, os.getuid(), Role.ADMIN)
        assert engine.probe_now("ris-db", admin)
    finally:
        await engine.stop()
    lines = trail_lines(folder)
    assert [(r["action"], r["outcome"], r["role"]) for r in lines] == [
        ("probe-now", "refused", "viewer"),
        ("patient-lookup", "refused", "viewer"),
        ("probe-now", "done", "admin"),
    ]
    assert "PAT-0001" not in trail_path(folder / "h.sqlite").read_text()  # the reference only
    assert str(lines[1]["target"]).startswith("#")
    assert oct(trail_path(folder / "h.sqlite").stat().st_mode & 0o777) == "0o600"
    assert verify(trail_path(folder / "h.sqlite")).intact


def write_trail(path: Path, count: int) -> list[str]:
    trail = OperatorTrail(path)
    for n in range(count):
        trail.append(user="alice", uid=1001, role="admin", action="probe-now", target=f"t{n}")
    trail.close()
    return path.read_text().splitlines()


def test_verify_names_a_changed_line(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    lines = write_trail(path, 5)
    lines[2] = lines[2].replace('"t2"', '"t9"')
    path.write_text("\n".join(lines) + "\n")
    verdict = verify(path)
    assert not verdict.intact
    assert verdict.problems[0].startswith("line 3 (#3, ")
    assert "changed (its hash does not match its content)" in verdict.problems[0]


def test_verify_names_a_deleted_line_and_a_changed_line_whose_hash_was_redone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "trail"
    lines = write_trail(path, 6)
    del lines[3]  # #4 gone
    path.write_text("\n".join(lines) + "\n")
    (problem,) = verify(path).problems
    assert problem.startswith("line 4 (#5, ") and "1 line deleted before it (#4)" in problem

    from pacs_tui.operator_trail import _digest

    lines = write_trail(tmp_path / "again", 4)
    row = json.loads(lines[1])
    row["target"] = "someone-elses-node"
    row["hash"] = _digest(row["prev"], row)  # a careful forger redoes this line's hash
    lines[1] = json.dumps(row, separators=(",", ":"))
    (tmp_path / "again").write_text("\n".join(lines) + "\n")
    (problem,) = verify(tmp_path / "again").problems
    assert problem.startswith("line 3 (#3, ") and "the line before it was changed" in problem


def test_verify_names_an_inserted_line(tmp_path: Path) -> None:
    from pacs_tui.operator_trail import _digest

    path = tmp_path / "trail"
    lines = write_trail(path, 4)
    before = json.loads(lines[1])
    forged = {**before, "target": "covered-up", "seq": 3, "prev": before["hash"]}
    forged["hash"] = _digest(forged["prev"], forged)
    lines.insert(2, json.dumps(forged, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    problems = verify(path).problems
    assert problems == [problems[0]] and problems[0].startswith("line 3 (#3, ")
    assert problems[0].endswith("inserted (not in the chain)")


def test_an_intact_trail_and_junk_lines(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    write_trail(path, 3)
    assert verify(path).intact and verify(path).rows == 3
    with path.open("a") as file:
        file.write("not json at all\n")
    assert verify(path).problems == [
        "line 4: not a JSON line: not a line of the trail (inserted, or changed beyond reading)"
    ]


def test_verify_names_swapped_lines_as_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "trail"
    lines = write_trail(path, 5)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("\n".join(lines) + "\n")
    problems = verify(path).problems
    assert problems[0].startswith("line 2 (#3, ")
    assert "out of order (it follows line 3 in the chain: lines moved or swapped)" in problems[0]
    assert all("out of order" in p for p in problems)
    assert not any("deleted" in p or "inserted" in p for p in problems)


def test_verify_finds_lines_deleted_at_the_end_from_the_history(tmp_path: Path) -> None:
    from pacs_tui.operator_trail import missing_actions

    path = tmp_path / "trail"
    lines = write_trail(path, 4)
    times = [json.loads(line)["ts"] for line in lines]
    recorded = [(ts, "alice", "probe-now") for ts in times]
    assert missing_actions(path, recorded) == []
    path.write_text("\n".join(lines[:2]) + "\n")  # the last two cut off: the chain is intact
    assert verify(path).intact
    missing = missing_actions(path, recorded)
    assert len(missing) == 2
    assert missing[0].startswith("the history records probe-now by alice at ")
    assert missing[0].endswith(
        "which no line of the trail holds (lines deleted, or the trail replaced)"
    )
    path.unlink()  # the whole trail gone
    assert len(missing_actions(path, recorded)) == 4


def test_each_line_is_forwarded_as_rfc5424_syslog(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        port = server.getsockname()[1]
        trail = OperatorTrail(tmp_path / "trail", forward=f"udp://127.0.0.1:{port}")
        row = trail.append(user="alice", uid=1001, role="admin", action="probe-all")
        trail.close()
        data, _ = server.recvfrom(65536)
    text = data.decode()
    assert text.startswith("<85>1 ") and " pacs-tui " in text and " OPERATOR - {" in text
    assert json.loads(text.split(" OPERATOR - ", 1)[1])["hash"] == row["hash"]


# -- through the collector's socket ---------------------------------------------------------------


@pytest.fixture
async def viewer_site(folder: Path) -> AsyncIterator[tuple[Engine, CollectorServer]]:
    engine = await started(folder, ADMIN_ELSEWHERE)
    collector = CollectorServer(engine, folder / "sock" / "collector.sock")
    await collector.start()
    yield engine, collector
    await collector.stop()
    await engine.stop()


async def test_an_attached_viewers_action_is_refused_by_the_collector(
    viewer_site: tuple[Engine, CollectorServer], folder: Path
) -> None:
    engine, collector = viewer_site
    view = await RemoteView.attach(collector.path)
    try:
        assert view.role is Role.VIEWER and view.operator == ME
        with pytest.raises(NotAllowed):  # said at once by the UI; the collector records it
            view.probe_now("ris-db")
        await until(lambda: any(r["outcome"] == "refused" for r in trail_lines(folder)))
    finally:
        await view.close()
    # A client that skips that check: the collector refuses, in words, and records it.
    reader, writer = await asyncio.open_unix_connection(str(collector.path))
    writer.write(wire.encode({"type": "hello", "magic": wire.MAGIC, "version": wire.PROTOCOL}))
    writer.write(wire.encode({"id": 7, "op": "probe_now", "target": "ris-db"}))
    await writer.drain()
    reply: dict[str, object] = {}
    while reply.get("id") != 7:
        reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
    assert str(reply["error"]).startswith(f"refused: {ME} (viewer) may not probe now")
    writer.close()
    await until(lambda: any(r["outcome"] == "refused" for r in trail_lines(folder)))
    assert operator_for(os.getuid(), engine.config.operators).role is Role.VIEWER


def test_a_trail_replaced_behind_the_writer_goes_on_at_its_path_and_shows_the_break(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "trail"
    trail = OperatorTrail(path)
    for n in range(3):
        trail.append(user="alice", uid=1001, role="admin", action="probe-now", target=f"t{n}")
    lines = path.read_text().splitlines()
    replaced = tmp_path / "edited"
    replaced.write_text("\n".join([lines[0], lines[2]]) + "\n")  # as sed -i does: a new file
    replaced.replace(path)
    trail.append(user="alice", uid=1001, role="admin", action="probe-all")
    trail.close()
    assert "was replaced or deleted" in caplog.text
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in rows] == [1, 3, 4]  # the new line is in the file at the path
    (problem,) = verify(path).problems
    assert problem.startswith("line 2 (#3, ") and "1 line deleted before it (#2)" in problem


def test_audit_verify_says_a_deleted_trail_against_the_historys_actions(tmp_path: Path) -> None:
    """The whole trail deleted: the chain alone would read "none yet"; the history's
    operator events say what is gone."""
    import subprocess
    import sys

    from pacs_tui.model import Event, EventKind

    history = tmp_path / "h.sqlite"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[history]\npath = "{history}"\n[[dicom.node]]\nid = "n"\naet = "N"\n'
        'host = "127.0.0.1"\nport = 104\n'
    )
    trail = OperatorTrail(trail_path(history))
    row = trail.append(user="alice", uid=1001, role="admin", action="probe-now", target="n")
    trail.close()

    async def record() -> None:  # as the engine does: the action's event beside its line
        store = await Store.open(history)
        fields = {"action": "probe-now", "operator": "alice", "role": "admin"}
        store.add_event(Event(row["ts"], "n", EventKind.OPERATOR, None, "probe now", fields))
        await store.close()

    asyncio.run(record())
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    verify_cmd = [sys.executable, "-m", "pacs_tui", "audit", "verify", "--config", str(config)]
    out = subprocess.run(verify_cmd, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and "1 line, chain intact" in out.stdout, out.stdout
    shown = subprocess.run([*verify_cmd, "--json"], capture_output=True, text=True, env=env)
    document = json.loads(shown.stdout)
    assert document["intact"] and document["rows"] == 1
    assert document["first"] == document["last"] and "T" in document["first"]  # ISO 8601
    trail_path(history).unlink()
    out = subprocess.run(verify_cmd, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the chain is BROKEN" in out.stdout
    assert "the history records probe-now by alice at " in out.stdout
