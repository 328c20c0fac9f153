"""The UI driven by the Pilot against the real demo hospital (pynetdicom SCPs on loopback).

Real engine, real C-ECHO probes, real SQLite history: statuses arrive, number keys switch
screens, ``/`` filters, Enter opens a node, ``?`` lists the keys, ``p`` probes, ``q`` quits and
the engine is stopped (history flushed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from pacs_tui.app import PacsApp
from pacs_tui.demo import DemoDicomSite
from pacs_tui.demo.site import demo_config
from pacs_tui.engine import Engine, engine_with_history
from pacs_tui.model import MessageQuery, Status, never_drilled
from pacs_tui.screens.help import HelpScreen
from pacs_tui.screens.message_detail import MessageDetailScreen
from pacs_tui.screens.overview import OverviewScreen
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.widgets import LightTable, StatusTable

from .conftest import screen_text, wait_for

STATUS_WORDS = {s.word for s in Status}


@pytest.fixture
async def demo_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    # The flaky node stays up for the test's duration so the row count is stable.
    site = DemoDicomSite(flap_up=600.0, flap_down=20.0, slow_delay=0.8)
    nodes = await asyncio.to_thread(site.start)
    try:
        yield engine_with_history(demo_config(nodes, tmp_path / "h.sqlite"))
    finally:
        await asyncio.to_thread(site.stop)


def nodes_table(app: PacsApp) -> StatusTable:
    screen = app.screen
    assert isinstance(screen, TargetTableScreen)
    return screen.table


def row_ids(table: StatusTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def test_demo_site_end_to_end(demo_engine: Engine) -> None:
    app = PacsApp(demo_engine, demo=True)
    async with app.run_test(size=(160, 48)) as pilot:
        # Statuses arrive from the real probes.
        await wait_for(
            pilot,
            lambda: all(
                s.status is not Status.UNKNOWN
                for s in demo_engine.states.values()
                if not never_drilled(s)  # the drill runs on demand
            ),
        )
        assert isinstance(app.screen, OverviewScreen)
        assert app.screen.query_one("#header-demo").display

        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        table = nodes_table(app)
        await wait_for(pilot, lambda: table.row_count >= 6)
        words = {table.get_cell(key, "status").plain.split()[-1] for key in row_ids(table)}
        assert words <= STATUS_WORDS and words - {"UNKNOWN"}
        slow = table.get_cell("slow-viewer", "status").plain
        assert slow in ("▲ WARN", "✔ OK")  # 0.8 s > 0.5 s warn latency, barring a hiccup

        # Worst first by default.
        ranks = [demo_engine.states[i].status.rank for i in row_ids(table)]
        assert ranks == sorted(ranks, reverse=True)

        # "/" filters by substring; Escape restores every row.
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"archive")
        await wait_for(pilot, lambda: len(row_ids(table)) == 2)
        assert sorted(row_ids(table)) == ["archive-main", "archive-mirror"]
        await pilot.press("escape")
        dicom = [s for s in demo_engine.states.values() if s.target.kind == "dicom-node"]
        await wait_for(pilot, lambda: table.row_count == len(dicom))
        assert app.focused is table  # type: ignore[comparison-overlap]  # mypy narrowed it

        # p asks the engine for a probe of the selected node (recorded as an operator event).
        nodes = app.screen
        assert isinstance(nodes, TargetTableScreen)
        selected = nodes.selected_id()
        assert selected is not None
        await pilot.press("p")
        await pilot.pause()
        assert any(f"Probing {selected}" in str(n.message) for n in app._notifications)

        # Enter opens the detail of the selected node.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        detail = app.screen
        assert isinstance(detail, TargetDetailScreen)
        assert detail.target_id == selected
        title = str(detail.query_one("#detail-title", Static).render())
        assert selected in title
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))

        # 1 goes back to the Overview, which lists the status changes of this run.
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        recent = app.screen.query_one("#recent", LightTable)
        await wait_for(pilot, lambda: recent.row_count >= 6)

        # 3: the demo's command checks, their plugins played by this Python, with a value.
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        checks = nodes_table(app)
        await wait_for(pilot, lambda: sorted(row_ids(checks)) == ["archive-disk", "ris-db"])
        await wait_for(pilot, lambda: checks.get_cell("ris-db", "value").plain == "time 4.0 ms")
        disk = checks.get_cell("archive-disk", "status").plain
        assert disk in ("▲ WARN", "✔ OK")  # it fills with the clock
        assert checks.get_cell("archive-disk", "value").plain.startswith("/srv/pacs 8")

        # ? lists every key, generated from the bindings.
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = {
            (section.title, row.keys, row.binding_id)
            for section in help_screen.sections
            for row in section.rows
        }
        assert ("Everywhere", "1", "screen.overview") in rows
        assert ("Everywhere", "2", "screen.nodes") in rows
        assert ("Everywhere", "3", "screen.checks") in rows
        assert ("Everywhere", "4", "screen.hl7") in rows
        assert ("Everywhere", "5", "screen.storage") in rows
        assert ("Everywhere", "tab", "(Textual's)") in rows  # Textual's own focus key, said too
        screens = "Nodes, Checks, HL7, Storage, Hosts, Logs, Sessions, Backups"
        assert (screens, "/", "table.filter") in rows
        await pilot.press("escape")  # back to the Checks screen it was opened over
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))

        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    # Quitting stopped the engine and closed the history.
    assert demo_engine.store is None


async def test_the_demo_hl7_feed_flows_through_the_tap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pacs_tui.demo import hl7_feed
    from pacs_tui.demo.hl7_feed import DemoHl7Feed
    from pacs_tui.hl7 import server

    monkeypatch.setattr(server, "REPORT_SECONDS", 0.2)
    feed = DemoHl7Feed(seed=7)
    ris, tap = await asyncio.to_thread(feed.start)
    engine = engine_with_history(demo_config([], tmp_path / "h.sqlite", hl7=(ris, tap, tmp_path)))
    try:
        app = PacsApp(engine, demo=True)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.ctx is not None)
            await pilot.press("4")  # the HL7 screen: this site has HL7 endpoints
            await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
            table = nodes_table(app)
            await wait_for(pilot, lambda: set(row_ids(table)) == {"his-to-ris", "ris-hl7"})

            def tapped() -> float:
                state = engine.states["his-to-ris"]
                return state.metrics.get("hl7_ack_aa_total", 0.0)

            await wait_for(pilot, lambda: tapped() >= 3, timeout=15)
            # The link check runs on its own interval: it may come after the tap's third AA.
            link = "ris-hl7"
            await wait_for(pilot, lambda: engine.states[link].status is not Status.UNKNOWN, 20)
            assert engine.states[link].status in (Status.OK, Status.WARN, Status.DOWN)
            await wait_for(pilot, lambda: "HIS000" in screen_text(app), timeout=15)  # flushed
            rows = await engine.messages(MessageQuery("his-to-ris"))
            assert rows and all(r.type and r.control_id.startswith("HIS") for r in rows)
            assert any(r.ack == "AA" and r.latency is not None for r in rows)
            assert "MARTIN" not in repr(rows) and "9000" not in repr([r.detail for r in rows])

            # The tap reports on its own: its detail offers no probe; the link's check does.
            for target_id, offered in (("his-to-ris", False), ("ris-hl7", True)):
                table.move_cursor(row=row_ids(table).index(target_id))
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
                await wait_for(pilot, lambda: "esc Back" in screen_text(app).splitlines()[-1])
                assert ("p Probe" in screen_text(app).splitlines()[-1]) is offered, target_id
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))

            # The tracker's log shows the tap's messages; Enter opens one, its patient masked.
            await pilot.press("tab", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageDetailScreen))
            await wait_for(pilot, lambda: "fields masked" in screen_text(app))
            text = screen_text(app)
            assert "MSH-10  HIS" in text and "PID-3  ••• masked" in text
            assert not any(name.split("^")[0] in text for name in hl7_feed._NAMES)
    finally:
        await asyncio.to_thread(feed.stop)


async def test_the_demo_archive_fills_on_the_storage_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's archive folder on its budget: the Storage screen lists it and the disk under
    it, its used space grows as the demo writes studies, the Overview's tile names it; the
    Hosts screen shows this machine."""
    from pacs_tui.demo import archive as demo_archive
    from pacs_tui.demo.archive import DemoArchive
    from pacs_tui.probes import logtail_source

    monkeypatch.setattr(demo_archive, "EVERY_SECONDS", 0.05)  # a study every 50 ms
    monkeypatch.setattr(logtail_source, "POLL_SECONDS", 0.05)
    filler = DemoArchive(tmp_path / "archive")
    folder = await asyncio.to_thread(filler.start)
    config = demo_config([], tmp_path / "h.sqlite", archive=folder)
    storage = config.section("storage")
    quick = replace(
        storage, volumes=tuple(replace(v, interval=0.5, timeout=0.4) for v in storage.volumes)
    )
    servers = tuple(replace(h, interval=0.5, timeout=0.4) for h in config.section("host"))
    logs = tuple(replace(t, interval=0.5) for t in config.section("logtail"))
    sections = {**config.sections, "storage": quick, "host": servers, "logtail": logs}
    config = replace(config, sections=sections)
    engine = engine_with_history(config)
    try:
        app = PacsApp(engine, demo=True)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.ctx is not None)
            await wait_for(pilot, lambda: "fullest demo-archive" in screen_text(app))
            await pilot.press("5")
            await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
            table = nodes_table(app)
            await wait_for(pilot, lambda: set(row_ids(table)) == {"demo-archive", "demo-disk"})

            def used() -> float:
                return engine.states["demo-archive"].metrics.get("used_ratio", 0.0)

            await wait_for(pilot, lambda: used() > 0)
            first = used()
            await wait_for(pilot, lambda: used() > first + 0.02, timeout=15)
            cell = table.get_cell("demo-archive", "used").plain
            assert cell.endswith("%") and 40 <= float(cell.split()[-2]) <= 100  # "████▊░  47.5 %"
            assert "used" in table.get_cell("demo-archive", "reason").plain

            # 6: this machine, as the demo's host, with its memory in use.
            await pilot.press("6")
            await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
            hosts = nodes_table(app)
            await wait_for(pilot, lambda: list(row_ids(hosts)) == ["demo-server"])
            await wait_for(pilot, lambda: hosts.get_cell("demo-server", "memory").plain != "—")
            assert hosts.get_cell("demo-server", "memory").plain.endswith("%")

            # 7: the archive's log, its failed C-STOREs counted, the patients masked.
            await pilot.press("7")
            await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
            logs_table = nodes_table(app)
            await wait_for(pilot, lambda: list(row_ids(logs_table)) == ["demo-archive-log"])

            def matched() -> float:
                return engine.states["demo-archive-log"].metrics.get("log_matches_total", 0.0)

            await wait_for(pilot, lambda: matched() >= 1, timeout=15)
            reason = engine.states["demo-archive-log"].reason
            assert "failed: Out of resources" in reason and "PatientID=•••" in reason
            assert not any(name in reason for name in ("MARTIN", "DUBOIS", "BERNARD"))
    finally:
        await asyncio.to_thread(filler.stop)
