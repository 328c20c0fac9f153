"""Snapshots of the Overview and Nodes screens at 80x24 and 160x48 (pytest-textual-snapshot).

Deterministic: fixed checks, a fixed clock (also driving the header clock), a scripted history
and the UTC time zone. Regenerate with ``pytest tests/ui --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.collector_client import RemoteView
from pacs_tui.collector_server import CollectorServer
from pacs_tui.model import Status

from .conftest import NOW, scripted_engine

SIZES = [(80, 24), (160, 48)]


def make_app(**options: Any) -> PacsApp:
    return PacsApp(scripted_engine(), clock=lambda: NOW, **options)


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every node has its status and the history workers are done."""
    app = pilot.app
    assert isinstance(app, PacsApp)
    for _ in range(500):
        if app.ready_at is not None and app.ctx is not None:
            states = app.ctx.view.states()
            if all(s.status is not Status.UNKNOWN for s in states):
                break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the scripted engine never delivered every status")
    await app.workers.wait_for_complete()
    await pilot.pause()


def on_screen(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=on_screen())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_nodes(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=on_screen("2"))


def test_nodes_ansi_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(ansi=True), terminal_size=(80, 24), run_before=on_screen("2"))


def test_node_detail_80x24(snap_compare: Any) -> None:
    # The cursor starts on the worst row (flaky-us, DOWN); Enter opens it.
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=on_screen("2", "enter"))


def test_help_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=on_screen("question_mark"))


def test_checks_160x48(snap_compare: Any) -> None:
    """The command checks' table: the same screen class as Nodes, from the command source's
    column spec (value in its unit, plugin, output)."""
    app = PacsApp(scripted_engine(commands=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(160, 48), run_before=on_screen("3"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hl7_tracker(snap_compare: Any, size: tuple[int, int]) -> None:
    """The links with their counters above the message log (newest first)."""
    app = PacsApp(scripted_engine(nodes=False, hl7=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=on_screen("4"))


def test_hl7_message_detail_80x24(snap_compare: Any) -> None:
    """A message's facts and its segment tree, the patient's fields masked."""
    app = PacsApp(scripted_engine(nodes=False, hl7=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=on_screen("4", "tab", "enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_storage(snap_compare: Any, size: tuple[int, int]) -> None:
    """The volumes, fullest and soonest full first among the not-OK: used, free, days to
    full, the reason in words."""
    app = PacsApp(scripted_engine(nodes=False, volumes=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=on_screen("5"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_backups(snap_compare: Any, size: tuple[int, int]) -> None:
    """Backups, the mirror pair and the drill on one gauge of measured against target, worst
    first; the drills' history underneath, newest first."""
    app = PacsApp(scripted_engine(nodes=False, backups=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=on_screen("9"))


def test_overview_with_two_areas_80x24(snap_compare: Any) -> None:
    app = PacsApp(scripted_engine(commands=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=on_screen())


def test_overview_of_every_area_100x30(snap_compare: Any) -> None:
    """More tiles than the screen holds: the line under them names what is below the fold."""
    engine = scripted_engine(hl7=True, backups=True, volumes=True, audit=True, commands=True)
    app = PacsApp(engine, clock=lambda: NOW)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for _ in range(500):
            if pilot.app.screen.query_one("#overview-more").display:
                break
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


class AttachedApp(PacsApp):
    """The app attached to a collector it does not own, which it stops when it is unmounted
    (the scripted engine holds a history: left open, its thread would keep pytest alive)."""

    servers: list[CollectorServer]

    async def on_unmount(self) -> None:  # Textual also runs PacsApp's own, after this one
        for server in self.servers:
            await server.stop()
            await server.engine.stop()


def attached_app(
    folder: Path, *, nodes: bool = True, hl7: bool = False
) -> tuple[PacsApp, list[CollectorServer]]:
    """The scripted site (its nodes, or its HL7 links: :func:`scripted_engine`) served by a
    collector in the test's loop, the app attached to it (the collector's host and pid fixed,
    so the header is the same on every machine)."""
    servers: list[CollectorServer] = []

    async def attach() -> RemoteView:
        engine = scripted_engine(nodes=nodes, hl7=hl7)
        await engine.start()
        server = CollectorServer(engine, folder / "sock" / "collector.sock")
        server.host, server.pid = "pacs-srv-1", 4242
        await server.start()
        servers.append(server)
        return await RemoteView.attach(server.path, clock=lambda: NOW - 75)

    app = AttachedApp(attach, clock=lambda: NOW)
    app.servers = servers
    return app, servers


def test_attached_overview_160x48(snap_compare: Any) -> None:
    """The header says which collector the screens show."""
    with tempfile.TemporaryDirectory(prefix="pt-") as folder:
        app, _ = attached_app(Path(folder))
        assert snap_compare(app, terminal_size=(160, 48), run_before=on_screen())


def test_attached_nodes_collector_gone_80x24(snap_compare: Any) -> None:
    """The collector went away: the last known values stay, dimmed, under the banner."""
    with tempfile.TemporaryDirectory(prefix="pt-") as folder:
        app, servers = attached_app(Path(folder))

        async def run_before(pilot: Pilot[None]) -> None:
            await on_screen("2")(pilot)
            await servers[0].stop()
            await servers[0].engine.stop()
            for _ in range(500):
                if app.screen.has_class("-stale"):
                    break
                await pilot.pause(0.01)
            await pilot.pause()

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sessions(snap_compare: Any, size: tuple[int, int]) -> None:
    """The audit receiver, the PACS's sessions (one idle past the policy), the burst of
    failed logins, and the audit trail, newest first."""
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=on_screen("8"))
