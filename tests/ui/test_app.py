"""Behaviour of the app on the scripted site: updates, hidden screens, sorting, keys, palette."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.commands import palette_commands
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status
from pacs_tui.screens import StartingScreen
from pacs_tui.screens.help import HelpScreen
from pacs_tui.screens.node_detail import NodeDetailScreen
from pacs_tui.screens.nodes import NodesScreen
from pacs_tui.screens.overview import OverviewScreen
from pacs_tui.widgets import StatusTable

from .conftest import NOW, FixedCheck, scripted_engine


async def settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, PacsApp)
    for _ in range(500):
        ctx = app.ctx
        if (
            app.ready_at is not None
            and ctx is not None
            and all(s.status is not Status.UNKNOWN for s in ctx.engine.states.values())
        ):
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("never settled")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[None], condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.02)


def check_of(engine: Engine, target_id: str) -> FixedCheck:
    check = next(c for c in engine.checks if c.target.id == target_id)
    assert isinstance(check, FixedCheck)
    return check


def table_of(app: PacsApp) -> StatusTable:
    screen = app.screen
    assert isinstance(screen, NodesScreen)
    return screen.table


def ids(table: StatusTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def test_updates_are_cell_by_cell_and_hidden_screens_do_nothing() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        nodes = app.screen
        assert ids(table)[:2] == ["flaky-us", "slow-viewer"]

        writes: list[tuple[str, str]] = []
        original_update = table.update_cell

        def spy(row: Any, column: Any, value: Any, **kw: Any) -> None:
            writes.append((str(row), str(column)))
            original_update(row, column, value, **kw)

        def no_rebuild(*_: Any, **__: Any) -> None:
            raise AssertionError("the table was cleared on an update")

        table.update_cell = spy  # type: ignore[method-assign]
        table.clear = no_rebuild  # type: ignore[method-assign]

        # ct-1 goes DOWN while the Nodes screen shows: only its changed cells are written and
        # the row moves up (worst first), the cursor staying on the node it was on.
        table.move_cursor(row=ids(table).index("viewer-1"))
        check_of(engine, "ct-1").result = Result(Status.DOWN, "connection refused", ts=NOW - 1)
        assert engine.probe_now("ct-1")
        await until(pilot, lambda: engine.states["ct-1"].status is Status.DOWN)
        await pilot.pause()
        assert {c for r, c in writes if r == "ct-1"} >= {"status", "reason", "latency"}
        assert {r for r, _ in writes} == {"ct-1"}
        assert ids(table)[:3] == ["ct-1", "flaky-us", "slow-viewer"]  # DOWN by id, then WARN
        assert table.get_cell("ct-1", "status").plain == "▼ DOWN"
        assert nodes.selected_id() == "viewer-1"  # type: ignore[attr-defined]

        # With the Overview showing, the hidden Nodes screen does no table work at all ...
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        writes.clear()
        check_of(engine, "mr-1").result = Result(Status.WARN, "slow: echo 600 ms", ts=NOW - 1)
        engine.probe_now("mr-1")
        await until(pilot, lambda: engine.states["mr-1"].status is Status.WARN)
        await pilot.pause()
        assert writes == []
        # ... while the Overview's tile shows it at once.
        tile_text = " ".join(str(label.render()) for label in app.screen.query(".tile-line"))
        assert "mr-1" in tile_text and "slow: echo 600 ms" in tile_text

        # Shown again, it catches up from engine.states.
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, NodesScreen))
        await pilot.pause()
        assert table.get_cell("mr-1", "status").plain == "▲ WARN"
        assert ("mr-1", "status") in writes


async def test_sort_keys_and_header_click() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        await pilot.press("s")  # next column after status: node id
        assert ids(table) == sorted(ids(table))
        await pilot.press("r")
        assert ids(table) == sorted(ids(table), reverse=True)
        columns = table.ordered_columns
        index = [str(c.key.value) for c in columns].index("latency")
        x = sum(c.get_render_width(table) for c in columns[:index]) + 2
        await pilot.click(StatusTable, offset=(x, 0))  # the "Echo" header
        assert app.screen.sort_column == "latency"  # type: ignore[attr-defined]
        assert ids(table)[0] == "slow-viewer" and ids(table)[-1] == "flaky-us"


async def test_narrow_terminal_keeps_the_essential_columns() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert keys == ["status", "id", "latency", "trend", "since", "reason"]
        assert table.virtual_size.width <= 80
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        keys = [str(c.key.value) for c in table.ordered_columns]
        assert "aet" in keys and "address" in keys and "role" in keys
        assert table.row_count == 7


async def test_detail_screen_and_back() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, NodeDetailScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NodeDetailScreen) and screen.target_id == "flaky-us"
        events = screen.query_one("#detail-events", StatusTable)
        assert events.row_count == 4  # first seen OK, then down, up, down
        await pilot.press("2")  # the number key of the current screen goes back to its list
        await until(pilot, lambda: isinstance(app.screen, NodesScreen))


async def test_keymap_rebinds_by_id_and_help_follows() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW, keymap={"screen.nodes": "n"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NodesScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert app.key_for("screen.nodes") == "n"
        await pilot.press("escape")


async def test_palette_lists_every_action() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        titles = [c.title for c in palette_commands(app, app.screen)]
        for expected in (
            "Go to Overview",
            "Go to Nodes",
            "Probe all targets now",
            "Probe selected node now (flaky-us)",
            "Filter nodes",
            "Show keys",
            "Quit",
            "Sort",  # from the screen's bindings
            "Probe ct-1 now",
            "Open ct-1",
        ):
            assert expected in titles
        # Through the real palette: type, Enter, and the engine is asked.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"probe all targets")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: any("Probing all" in str(n.message) for n in app._notifications))


async def test_engine_factory_shows_starting_screen_then_overview() -> None:
    gate = asyncio.Event()

    async def build() -> Engine:
        await gate.wait()
        return scripted_engine()

    app = PacsApp(build, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, StartingScreen)
        assert app.first_frame_at is not None
        await pilot.press("2")  # not ready yet: says so instead of failing
        gate.set()
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
    assert app.engine.store is None  # the app built it, so the app stopped it


async def test_engine_factory_failure_is_shown() -> None:
    async def build() -> Engine:
        raise OSError("port 11112 already in use")

    app = PacsApp(build, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query("#starting.failed"))
        assert "port 11112 already in use" in str(app.screen.query_one("#starting").render())
        await pilot.press("q")


@pytest.mark.parametrize("ansi", [False, True])
async def test_no_color_and_ansi_keep_glyph_and_word(
    monkeypatch: pytest.MonkeyPatch, ansi: bool
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = PacsApp(scripted_engine(), clock=lambda: NOW, ansi=ansi)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == ("ansi-dark" if ansi else "textual-dark")
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        assert table.get_cell("flaky-us", "status").plain == "▼ DOWN"
        assert table.get_cell("slow-viewer", "status").plain == "▲ WARN"


async def test_theme_change_recolours_status_cells() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        before = table.get_cell("flaky-us", "status").style
        app.theme = "nord"
        await until(pilot, lambda: table.get_cell("flaky-us", "status").style != before)
        assert table.get_cell("flaky-us", "status").plain == "▼ DOWN"
        assert table.row_count == 7


async def test_filter_by_status_word_follows_live_changes() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = table_of(app)
        await pilot.press("slash", *"Down")
        await until(pilot, lambda: ids(table) == ["flaky-us"])
        # A node going DOWN while the filter is on joins the rows.
        check_of(engine, "ct-1").result = Result(Status.DOWN, "connection refused", ts=NOW - 1)
        engine.probe_now("ct-1")
        await until(pilot, lambda: ids(table) == ["ct-1", "flaky-us"])
        await pilot.press("enter")  # Enter in the filter goes back to the table, filter kept
        assert app.focused is table and ids(table) == ["ct-1", "flaky-us"]
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 7)
