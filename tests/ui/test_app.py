"""Behaviour of the app on the scripted site: updates, hidden screens, sorting, keys, palette."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from rich.console import Console
from rich.style import Style
from textual.color import Color
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static
from textual.widgets._footer import FooterKey

from pacs_tui.app import PacsApp
from pacs_tui.commands import palette_commands
from pacs_tui.engine import Engine
from pacs_tui.model import Event, EventKind, Result, Sample, Status
from pacs_tui.screens import StartingScreen, target_table
from pacs_tui.screens.help import HelpScreen
from pacs_tui.screens.overview import OverviewScreen
from pacs_tui.screens.target_detail import FactsGrid, TargetDetailScreen
from pacs_tui.screens.target_table import FLUSH_SECONDS, TargetTableScreen
from pacs_tui.ui_format import DOWN_MARK
from pacs_tui.widgets import LightTable, MetricChart, StatusTable
from pacs_tui.widgets.area_tile import TileLine

from .conftest import NOW, FixedCheck, screen_text, scripted_engine

#: A reason far longer than the Reason column at 80 columns.
LONG_REASON = "association rejected: calling AE title not recognised (permanent)"


async def settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, PacsApp)
    for _ in range(500):
        ctx = app.ctx
        if (
            app.ready_at is not None
            and ctx is not None
            and all(s.status is not Status.UNKNOWN for s in ctx.view.states())
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
    check = next(c for c in engine.checks if isinstance(c, FixedCheck) and c.target.id == target_id)
    return check


def table_of(app: PacsApp) -> StatusTable:
    screen = app.screen
    assert isinstance(screen, TargetTableScreen)
    return screen.table


def ids(table: StatusTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def show_nodes(pilot: Pilot[None]) -> None:
    """Let the app start, then switch to the Nodes screen and let it draw."""
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)


async def report(pilot: Pilot[None], engine: Engine, node: str, result: Result) -> None:
    """Make ``node``'s check return ``result``, probe it now and wait until the engine has it."""
    check_of(engine, node).result = result
    assert engine.probe_now(node)
    await until(pilot, lambda: engine.states[node].status is result.status)


async def test_updates_are_cell_by_cell_and_hidden_screens_do_nothing() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        nodes = app.screen
        assert ids(table)[:2] == ["flaky-us", "slow-viewer"]

        writes: list[tuple[str, str]] = []
        original_update = table.update_cells

        def spy(changes: Any) -> None:
            changes = list(changes)
            writes.extend((str(row), str(column)) for row, column, _ in changes)
            original_update(changes)

        def no_rebuild(*_: Any, **__: Any) -> None:
            raise AssertionError("the table was cleared or fully redrawn on an update")

        table.update_cells = spy  # type: ignore[method-assign]
        table.clear = no_rebuild  # type: ignore[method-assign, assignment]
        table.update_cell = no_rebuild  # type: ignore[method-assign]

        # ct-1 goes DOWN while the Nodes screen shows: only its changed cells are written (at
        # the next flush) and the row moves up (worst first), the cursor staying where it was.
        table.move_cursor(row=ids(table).index("viewer-1"))
        await report(pilot, engine, "ct-1", Result(Status.DOWN, "connection refused", ts=NOW - 1))
        await until(pilot, lambda: bool(writes))
        assert {c for r, c in writes if r == "ct-1"} >= {"status", "reason", "latency"}
        assert {r for r, _ in writes} == {"ct-1"}
        await until(pilot, lambda: ids(table)[:3] == ["ct-1", "flaky-us", "slow-viewer"])
        assert table.get_cell("ct-1", "status").plain == "▼ DOWN"
        assert nodes.selected_id() == "viewer-1"  # type: ignore[attr-defined]
        # What is drawn is the new value, not a cached old one.
        await pilot.pause()
        drawn = [line for line in screen_text(app).splitlines() if " ct-1 " in line]
        assert drawn and "▼ DOWN" in drawn[0] and "connection refused" in drawn[0]

        # With the Overview showing, the hidden Nodes screen does no table work at all ...
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        writes.clear()
        await report(pilot, engine, "mr-1", Result(Status.WARN, "slow: echo 600 ms", ts=NOW - 1))
        await pilot.pause(FLUSH_SECONDS + 0.2)
        assert writes == []
        # ... while the Overview's tile shows it at once.
        tile_text = " ".join(str(label.render()) for label in app.screen.query(".tile-line"))
        assert "mr-1" in tile_text and "slow: echo 600 ms" in tile_text

        # Shown again, it catches up from the view's states.
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await pilot.pause()
        assert table.get_cell("mr-1", "status").plain == "▲ WARN"
        assert ("mr-1", "status") in writes


async def test_a_change_of_status_is_drawn_alone_before_the_other_results() -> None:
    """A new status does not wait for the next flush of every result: its row is drawn alone
    first, and a result that changed no status is drawn later, at the flush."""
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        writes: list[list[str]] = []
        original_update = table.update_cells

        def spy(changes: Any) -> None:
            changes = list(changes)
            if changes:
                writes.append(sorted({str(row) for row, _, _ in changes}))
            original_update(changes)

        table.update_cells = spy  # type: ignore[method-assign]
        slower = Result(Status.OK, "echo ok", {"echo_seconds": 0.25}, ts=NOW - 1)
        check_of(engine, "viewer-1").result = slower
        assert engine.probe_now("viewer-1")
        await until(pilot, lambda: engine.states["viewer-1"].metrics.get("echo_seconds") == 0.25)
        await report(pilot, engine, "ct-1", Result(Status.DOWN, "connection refused", ts=NOW))
        await until(pilot, lambda: bool(writes))
        assert writes[0] == ["ct-1"]  # drawn alone; viewer-1's new latency waits
        await until(pilot, lambda: ["viewer-1"] in writes, timeout=FLUSH_SECONDS + 3)
        await until(pilot, lambda: ids(table)[0] == "ct-1")  # then it moved to the top
        assert table.get_cell("viewer-1", "latency").plain.strip() == "250 ms"


async def test_a_row_updated_off_screen_is_drawn_new_when_scrolled_to() -> None:
    """A row that reports while scrolled out of sight is written when it comes into view (not
    before: only the rows on screen are written), and the rows on screen stay right."""
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 12)) as pilot:  # room for about four rows
        await show_nodes(pilot)
        table = table_of(app)
        await pilot.press("s")  # by node id: the order stays put while statuses change
        last = ids(table)[-1]
        assert f" {last} " not in screen_text(app)
        before = table.get_cell(last, "status").plain
        await report(pilot, engine, last, Result(Status.CRIT, "disk full on the store", ts=NOW))
        await until(pilot, lambda: "3 not OK" in screen_text(app))  # the screen has the result
        assert table.get_cell(last, "status").plain == before  # off screen: not written yet
        first = ids(table)[0]
        await report(pilot, engine, first, Result(Status.WARN, "slow: echo 900 ms", ts=NOW))
        await until(pilot, lambda: "slow: echo 900 ms" in screen_text(app))
        await pilot.press(*["down"] * len(ids(table)))  # the cursor takes the view down
        await until(pilot, lambda: f" {last} " in screen_text(app))
        drawn = [line for line in screen_text(app).splitlines() if f" {last} " in line]
        assert "✖ CRIT" in drawn[0] and "disk full" in drawn[0]
        await pilot.press(*["up"] * len(ids(table)))
        await until(pilot, lambda: f" {first} " in screen_text(app))
        drawn = [line for line in screen_text(app).splitlines() if f" {first} " in line]
        assert "▲ WARN" in drawn[0]


async def test_sort_keys_and_header_click() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
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
        await show_nodes(pilot)
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
        await show_nodes(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TargetDetailScreen) and screen.target_id == "flaky-us"
        events = screen.query_one("#detail-events", StatusTable)
        assert events.row_count == 4  # first seen OK, then down, up, down
        await pilot.press("2")  # the number key of the current screen goes back to its list
        await until(pilot, lambda: isinstance(app.screen, TargetTableScreen))


async def test_keymap_rebinds_by_id_and_help_follows() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW, keymap={"screen.nodes": "n"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert app.key_for("screen.nodes") == "n"
        await pilot.press("escape")


async def test_palette_lists_every_action() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        titles = [c.title for c in palette_commands(app, app.screen)]
        for expected in (
            "Go to Overview",
            "Go to Nodes",
            "Probe all targets now",
            "Go to Checks",
            "Probe selected target now (flaky-us)",
            "Filter the table",
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
        if not ansi:  # colours are turned to greys: a problem is not fainter than the text
            text = table.styles.color.monochrome.brightness
            for target in ("flaky-us", "slow-viewer"):
                cell = table.get_cell(target, "status").style
                assert isinstance(cell, Style) and cell.color is not None and cell.bold
                assert Color.from_rich_color(cell.color).monochrome.brightness >= text


async def test_theme_change_recolours_status_cells() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
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
        await show_nodes(pilot)
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


async def test_sigterm_quits_cleanly_and_stops_the_engine() -> None:
    engine = scripted_engine()
    store = engine.store
    assert store is not None
    before = signal.getsignal(signal.SIGTERM)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # Never send the signal unless the app handles it: the default action kills pytest.
        assert signal.SIGTERM in app._signals and signal.SIGHUP in app._signals
        assert engine._scheduler._tasks  # the checks are running
        os.kill(os.getpid(), signal.SIGTERM)
        await until(pilot, lambda: app.quit_signal is signal.SIGTERM)
    assert not app.is_running and app.return_code == 0
    # on_unmount awaited engine.stop(): the check loops are gone and the history is closed.
    assert not engine._scheduler._tasks
    assert store.closed and engine.store is None
    # The handlers are removed again and pytest's own SIGTERM handling is back.
    assert signal.getsignal(signal.SIGTERM) == before
    assert app._signals == {}


async def test_selected_node_shows_its_full_reason_at_80x24() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await report(pilot, engine, "ct-1", Result(Status.DOWN, LONG_REASON, ts=NOW - 1))
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TargetTableScreen)
        table = screen.table
        # The Reason column cannot hold it at 80 columns ...
        reason_width = table.columns[next(k for k in table.columns if k.value == "reason")].width
        assert reason_width < len(LONG_REASON)
        # ... but the line under the table shows the selected node's reason in full (wrapped).
        table.move_cursor(row=ids(table).index("ct-1"))
        await pilot.pause()
        line = screen.query_one("#table-selected", Static)
        text = str(line.render())
        assert "▼ DOWN" in text and "ct-1" in text
        assert " ".join(text.split()).count(LONG_REASON) == 1
        assert line.region.height >= 2 and line.region.bottom <= 23  # above the footer
        # It follows the cursor.
        table.move_cursor(row=ids(table).index("slow-viewer"))
        await pilot.pause()
        assert "slow: echo 812 ms > 500 ms" in str(line.render())
        assert "checked" not in str(line.render())  # its result is 2 s old
        # A result over a minute old says its age: a DOWN node is checked less and less often.
        table.move_cursor(row=ids(table).index("flaky-us"))
        await pilot.pause()
        assert "since 03:09:00 (3m ago), checked 3m ago" in " ".join(str(line.render()).split())


@pytest.mark.parametrize("width", [119, 120, 121, 125, 160])
async def test_the_recent_changes_say_each_change_whole_at_every_width(width: int) -> None:
    """At 120 columns the Change column was fitted narrow (beside the scrollbar) while its
    words were the wide ones: "✔ OK → ▼ DO". Words and width now come from the same room."""
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(width, 40)) as pilot:
        await settle(pilot)
        await report(pilot, engine, "ct-1", Result(Status.DOWN, "connection refused", ts=NOW))
        recent = app.screen.query_one("#recent", LightTable)
        await until(pilot, lambda: "ct-1" in screen_text(app).split("Recent status changes")[-1])
        lines = screen_text(app).split("Recent status changes")[-1].splitlines()
        line = next(line for line in lines if " ct-1 " in line)
        assert "→ ▼ DOWN " in line, line
        assert recent.row_count >= 1


async def test_overview_tile_keeps_the_age_of_a_long_reason() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await report(pilot, engine, "ct-1", Result(Status.DOWN, LONG_REASON, ts=NOW - 120))

        def tile_lines() -> list[str]:
            return [str(line.render()) for line in app.screen.query(TileLine) if line.display]

        def ct_down() -> list[str]:
            return [line for line in tile_lines() if "ct-1" in line and "DOWN" in line]

        await until(pilot, ct_down)  # the tiles follow 0.1 s after the list
        ct = ct_down()[0]
        assert ct.endswith("(2m ago)") and "…" in ct and len(ct) <= 76
        # The recent changes list gives the reason the rest of the width, wrapped, not cut.
        recent = app.screen.query_one("#recent", LightTable)
        assert recent.row(0)[-1].plain == LONG_REASON
        assert recent.row_height(0) >= 2


async def test_sort_is_named_once_and_the_header_shows_it() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        summary = app.screen.query_one("#table-summary", Label)

        def headers() -> dict[str, str]:
            return {str(c.key.value): c.label.plain for c in table.ordered_columns}

        assert "sort: status, worst first" in str(summary.render())
        assert headers()["status"] == "Status ▾" and headers()["id"] == "Node"
        await pilot.press("s")
        assert str(summary.render()).endswith("sort: node")  # not "sort: node (id)"
        assert headers()["id"] == "Node ▴" and headers()["status"] == "Status"
        await pilot.press("r")
        assert str(summary.render()).endswith("sort: node, reversed")
        assert headers()["id"] == "Node ▾"
        await pilot.press("s")  # echo latency, slowest first: descending
        assert str(summary.render()).endswith("sort: echo, slowest first")
        assert headers()["latency"] == "Echo ▾"
        assert app.ctx is not None
        down = {s.id for s in app.ctx.view.states() if s.status is Status.DOWN}

        def rows() -> list[str]:
            return [str(row.key.value) for row in table.ordered_rows]

        assert down and set(rows()[-len(down) :]) == down  # no echo: last
        await pilot.press("r")
        assert str(summary.render()).endswith("sort: echo, fastest first")
        assert headers()["latency"] == "Echo ▴"
        assert set(rows()[-len(down) :]) == down  # still last, not "fastest"
        assert table.virtual_size.width <= 80


async def test_filter_field_leaves_the_summary_readable() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        await pilot.press("slash", *"ok")
        await pilot.pause()
        summary = app.screen.query_one("#table-summary", Label)
        field = app.screen.query_one("#filter", Input)
        assert field.region.height == 1 and summary.region.height == 1
        assert not summary.region.overlaps(field.region)
        assert str(summary.render()) == "5 of 7 match · sort: status, worst first"
        assert summary.region.width >= len(str(summary.render()))


async def test_enter_opens_details_and_is_in_the_footer_and_help() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        active = app.screen.active_bindings["enter"]
        assert active.binding.id == "table.open" and active.binding.show
        await pilot.pause()
        footer = [(k.key_display, k.description) for k in app.screen.query(FooterKey)]
        assert any(description == "Details" for _, description in footer)
        assert app.key_for("table.open")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
    async with PacsApp(scripted_engine(), clock=lambda: NOW).run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        # At 80 columns every footer key fits (none scrolled out of sight).
        keys = list(pilot.app.screen.query(FooterKey))
        assert keys and all(k.region.right <= 80 and k.region.width > 0 for k in keys)
        assert any(k.description == "Details" for k in keys)
        assert any(k.description == "Quit" for k in keys)


async def test_the_footer_keeps_keys_and_quit_at_80_columns_with_every_kind_of_screen() -> None:
    engine = scripted_engine(commands=True, hl7=True, volumes=True)
    async with PacsApp(engine, clock=lambda: NOW).run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        keys = list(pilot.app.screen.query(FooterKey))
        screens = "".join(k.key_display for k in keys if k.action.startswith("go("))
        assert screens == "1234567"
        assert all(k.region.right <= 80 and k.region.width > 0 for k in keys)
        assert {"Details", "Keys", "Quit"} <= {k.description for k in keys}


@pytest.mark.parametrize(("commands", "keys"), [(False, "12"), (True, "123")])
async def test_a_screen_key_shows_only_when_the_site_has_such_targets(
    commands: bool, keys: str
) -> None:
    app = PacsApp(scripted_engine(commands=commands), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        def grouped() -> str:
            found = app.screen.query(FooterKey)
            return "".join(k.key_display for k in found if k.action.startswith("go("))

        await until(pilot, lambda: grouped() == keys)  # never "4": no HL7 listener here
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)  # the key shows nothing here
        said = "No HL7 screen: this site has nothing for it yet (it lists what [[hl7.listener]]"
        await until(pilot, lambda: any(said in str(n.message) for n in app._notifications))
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen) is not commands


async def test_palette_has_one_keys_entry() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        system = [c.title for c in app.get_system_commands(app.screen)]
        assert "Keys" not in system and "Quit" not in system
        assert "Theme" in system  # Textual's other entries stay
        ours = [c.title for c in palette_commands(app, app.screen)]
        assert ours.count("Show keys") == 1
        # Through the real palette: searching "keys" finds ours only.
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"keys")
        await pilot.pause(0.5)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        options = palette.query_one("CommandList")
        prompts = [str(o.prompt) for o in options.options]  # type: ignore[attr-defined]
        assert any("Show keys" in p for p in prompts)
        assert not any(p.strip().startswith("Keys") for p in prompts)
        await pilot.press("escape")


async def test_down_periods_are_marked_in_the_trend_and_the_chart() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        # flaky-us was DOWN 50 to 40 minutes ago and is DOWN since 3 minutes ago.
        trend = table.get_cell("flaky-us", "trend").plain
        assert trend.count(DOWN_MARK) >= 2 and trend.endswith(DOWN_MARK)
        assert DOWN_MARK not in trend[:1] and DOWN_MARK not in trend[3:-1]
        assert DOWN_MARK not in table.get_cell("ct-1", "trend").plain
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        chart = app.screen.query_one(MetricChart)
        assert chart._down == [(NOW - 3000, NOW - 2400), (NOW - 180, NOW)]
        console = Console(width=chart.size.width, record=True, color_system=None)
        console.print(chart.render())
        rows = console.export_text().splitlines()
        strip = next(row for row in rows if row.strip().startswith("DOWN"))
        assert strip.count(DOWN_MARK) >= 10 and strip.rstrip().endswith(DOWN_MARK)


async def test_the_trend_follows_results_and_slides_without_reading_the_history_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(target_table, "TREND_REFRESH", 0.1)
    engine = scripted_engine()
    reads: list[object] = []
    series_of = engine.series_of

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return await series_of(*args, **kwargs)

    monkeypatch.setattr(engine, "series_of", counted)
    now = [NOW]
    app = PacsApp(engine, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        assert len(reads) == 1
        # flaky-us was DOWN 50 to 40 minutes ago and is DOWN since 3 minutes ago.
        assert DOWN_MARK in table.get_cell("flaky-us", "trend").plain[1:3]
        # ct-1 goes DOWN: its trend says so at once.
        await report(pilot, engine, "ct-1", Result(Status.DOWN, "refused", ts=now[0]))
        await until(pilot, lambda: table.get_cell("ct-1", "trend").plain.endswith(DOWN_MARK))
        # 25 minutes on, the window has slid past flaky-us's first outage.
        now[0] += 25 * 60
        await until(pilot, lambda: DOWN_MARK not in table.get_cell("flaky-us", "trend").plain[:3])
        assert table.get_cell("flaky-us", "trend").plain.endswith(DOWN_MARK)
        assert len(reads) == 1  # all of it without reading the history again
        # Shown again after a while away, the trend is read again (results went elsewhere).
        await pilot.press("1")
        now[0] += 60
        await pilot.press("2")
        await until(pilot, lambda: len(reads) == 2)


async def test_node_detail_keeps_values_whole_and_scrolls_to_the_events() -> None:
    # Enough events that the body must scroll to show them all.
    engine = scripted_engine(
        Event(NOW - 600 + i, "ct-1", EventKind.OPERATOR, None, f"probe now requested ({i})", {})
        for i in range(12)
    )
    metrics = {
        "echo_seconds": 0.0048,
        "associate_seconds": 0.0171,
        "dimse_seconds": 0.0048,
        "release_seconds": 0.0034,
    }
    details = {
        "peer_implementation_version_name": "PYNETDICOM_304",
        "peer_implementation_class_uid": "1.2.826.0.1.3680043.9.3811.3.0.4",
        "peer_max_pdu": 16382,
    }
    check_of(engine, "ct-1").result = Result(Status.OK, "", metrics, details, ts=NOW - 1)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        table.move_cursor(row=ids(table).index("ct-1"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        facts = screen.query_one("#detail-facts", Static)
        console = Console(width=facts.size.width, record=True, color_system=None)
        console.print(facts.content)
        text = console.export_text()
        assert "assoc 17 ms · C-ECHO 4.8 ms · release 3.4 ms" in text
        assert "1.2.826.0.1.3680043.9.3811.3.0.4" in text
        # The body scrolls with the keyboard down to the recent events.
        body = screen.query_one("#detail-body")
        assert app.focused is body
        assert body.max_scroll_y > 0
        await pilot.press("end")
        await until(pilot, lambda: body.scroll_y == body.max_scroll_y)
        events = screen.query_one("#detail-events", StatusTable)
        assert events.row_count == 13  # first seen OK, and the twelve probes
        assert events.region.bottom <= 23
        assert events.region.height == events.row_count + 1  # every row shows, and the header


def test_facts_grid_pairs_short_values_and_gives_long_ones_a_line() -> None:
    grid = FactsGrid([("Echo", "4.8 ms"), ("Role", "viewer"), ("Timings", "x " * 30)])
    console = Console(width=60, record=True, color_system=None)
    console.print(grid)
    lines = console.export_text().splitlines()
    assert lines[0].split() == ["Echo", "4.8", "ms", "Role", "viewer"]
    assert lines[1].startswith("Timings")


async def test_probe_notice_is_short_and_one_line() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await show_nodes(pilot)
        await pilot.press("p")
        await pilot.pause()
        notice = next(n for n in app._notifications if "Probing" in n.message)
        assert notice.timeout <= 2 and not notice.title
        await pilot.pause(0.2)
        toast = app.screen.query_one("Toast")
        assert toast.region.height == 1
        assert toast.region.y <= 2  # at the top, not over the selected node's line at the bottom


async def test_a_probe_says_its_result_when_it_comes() -> None:
    """The row changes in place (or not at all): the result is said in words too, once."""
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        table.move_cursor(row=ids(table).index("ct-1"))
        check_of(engine, "ct-1").result = Result(Status.DOWN, "connection refused", ts=NOW + 1)
        await pilot.press("p")

        def said() -> list[str]:
            return [n.message for n in app._notifications if n.message.startswith("ct-1:")]

        await until(pilot, said)
        assert said() == ["ct-1: ▼ DOWN — connection refused"]
        notice = next(n for n in app._notifications if n.message.startswith("ct-1:"))
        assert notice.severity == "error"
        # The next result of ct-1 (no probe asked) is not said again.
        check_of(engine, "ct-1").result = Result(Status.OK, "OK", ts=NOW + 2)
        engine.probe_now("ct-1")
        await until(pilot, lambda: "✔ OK" in str(table.get_cell("ct-1", "status")))
        await pilot.pause(0.1)
        assert len(said()) == 1


async def test_a_history_that_cannot_be_flushed_at_quit_is_said_not_a_traceback() -> None:
    """A full disk at quit: the app still leaves, and says why the history is incomplete."""
    engine = scripted_engine()
    app = PacsApp(engine)
    async with app.run_test() as pilot:
        await settle(pilot)
        store = engine.store
        assert store is not None
        db = store._conn()  # a real SQLITE_FULL: the file may not grow past its present size
        ((pages,),) = await db.execute_fetchall("PRAGMA page_count")
        await db.execute(f"PRAGMA max_page_count = {pages}")
        store.add_samples([Sample(NOW + i, "ct-1", "echo_seconds", 0.01) for i in range(5000)])
        await pilot.press("q")
    assert app.stop_error is not None and "disk full" in app.stop_error


async def test_an_engine_that_cannot_start_covers_the_screens_with_why() -> None:
    """Beside a collector that writes the same history, the UI's own engine cannot start: a
    full-screen message says why and what to do, instead of every node UNKNOWN and a toast."""
    from pacs_tui.store import Store

    engine = scripted_engine()
    assert engine.store is not None
    collector = await Store.open(engine.store.path)  # another engine already writes it
    try:
        app = PacsApp(engine)
        async with app.run_test() as pilot:
            await until(pilot, lambda: app.start_error is not None)
            await pilot.pause()
            assert isinstance(app.screen, StartingScreen)
            shown = str(app.screen.query_one("#starting", Label).render())
            assert "already written by another pacs-tui engine" in shown
            assert "q quits" in shown
            await pilot.press("q")
    finally:
        await collector.close()


async def test_the_table_and_the_selected_line_read_since_from_one_clock() -> None:
    """Between two ticks, the selected node's line says the same "since" as its row."""
    now = [NOW]
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: now[0])
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        now[0] += 600  # ten minutes on; the next tick has not come yet
        await pilot.press("down")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TargetTableScreen)
        selected = screen.selected_id()
        assert selected is not None
        in_table = str(table_of(app).get_cell(selected, "since"))
        assert in_table.endswith("ago") or in_table == "just now"
        assert f"({in_table})" in screen.selected_text().plain


@pytest.mark.parametrize("width", [120, 130, 160])
async def test_the_reason_gets_its_room_first(width: int) -> None:
    """At 120 columns the reason was squeezed to 17 characters by columns the selected line
    repeats anyway; now those give way first."""
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(width, 40)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        widths = {str(key.value): column.width for key, column in table.columns.items()}
        assert widths["reason"] >= 36
        shown = set(widths)
        assert {"status", "id", "latency", "since", "reason"} <= shown
        if width >= 160:
            assert {"aet", "address", "role"} <= shown  # room for everything there


async def test_a_small_terminal_scrolls_the_overview_to_its_list_of_changes() -> None:
    # At 100x30 a site of every kind fills the screen with tiles: the list of changes is
    # below them, reached with End (the body scrolls), not lost.
    engine = scripted_engine(hl7=True, backups=True, volumes=True, audit=True, commands=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "Logs" in screen_text(app))
        assert "Recent status changes" not in screen_text(app)
        await pilot.press("end")
        await until(pilot, lambda: "Recent status changes" in screen_text(app))
        text = screen_text(app)
        assert "→" in text[text.index("Recent status changes") :]  # its rows, under the title
        await pilot.press("home")
        await until(pilot, lambda: "DICOM nodes" in screen_text(app))


async def test_a_small_terminal_says_what_is_below_the_overviews_fold() -> None:
    # A scrollbar alone is easy to miss: a line under the tiles names the areas out of sight
    # (with their status glyph) and the list of changes, and goes once the end is in sight.
    engine = scripted_engine(hl7=True, backups=True, volumes=True, audit=True, commands=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "▼ below (PgDn): " in screen_text(app))
        await until(pilot, lambda: "✔ Hosts" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if "▼ below (PgDn)" in x)
        assert line.strip().endswith("recent changes")
        assert "DICOM nodes" not in line  # in sight: not listed
        await pilot.press("end")
        await until(pilot, lambda: "▼ below" not in screen_text(app))
        await pilot.press("home")
        await until(pilot, lambda: "▼ below (PgDn): " in screen_text(app))
    roomy = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with roomy.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "Recent status changes" in screen_text(roomy))
        await settle(pilot)
        assert "▼ below" not in screen_text(roomy)  # it all fits: nothing to say


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_keys_list_says_how_to_close_it_at_every_size(size: tuple[int, int]) -> None:
    """The list is longer than a small screen: it scrolls inside its box, and the hint under
    it ("Escape closes") stays in sight instead of scrolling off below the screen."""
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: "Escape closes" in screen_text(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
