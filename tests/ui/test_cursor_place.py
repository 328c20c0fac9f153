"""Where the Nodes list's cursor goes when rows move: on the first row it stays on the first
row (the worst target, the place an untouched screen watches); elsewhere it stays on its node."""

from __future__ import annotations

from pacs_tui.app import PacsApp
from pacs_tui.model import Result, Status

from .conftest import NOW, scripted_engine
from .test_app import report, settle, show_nodes, table_of, until


async def test_a_cursor_on_the_first_row_stays_there_when_its_node_recovers() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        assert table.get_row_at(0)[1].plain == "flaky-us"  # DOWN: first
        assert table.cursor_coordinate.row == 0
        await report(pilot, engine, "flaky-us", Result(Status.OK, "echo ok", ts=NOW))
        await until(pilot, lambda: table.get_row_at(0)[1].plain != "flaky-us")
        await settle(pilot)
        assert table.cursor_coordinate.row == 0  # not dragged down with flaky-us
        assert table.scroll_offset.y == 0
        first = table.get_row_at(0)[1].plain
        assert f"{first} " in str(app.screen.query_one("#table-selected").render())


async def test_a_cursor_the_operator_moved_stays_on_its_node() -> None:
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        await pilot.press("down", "down", "down")
        chosen = table.get_row_at(3)[1].plain
        await report(pilot, engine, "mr-1", Result(Status.DOWN, "connection refused", ts=NOW))
        await until(pilot, lambda: table.get_row_index("mr-1") < 3 or chosen == "mr-1")
        await settle(pilot)
        assert table.get_row_at(table.cursor_coordinate.row)[1].plain == chosen


async def test_a_cursor_on_the_first_row_is_there_when_the_screen_is_shown_again() -> None:
    """The first row changed while another screen was shown: back on Nodes, the cursor and
    the line under the table are on the new first row, not on the node that was there."""
    engine = scripted_engine()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await show_nodes(pilot)
        table = table_of(app)
        assert table.get_row_at(0)[1].plain == "flaky-us" and table.cursor_coordinate.row == 0
        await pilot.press("1")  # the Overview, while flaky-us recovers
        await until(pilot, lambda: app.screen is not table.screen)
        await report(pilot, engine, "flaky-us", Result(Status.OK, "echo ok", ts=NOW))
        await pilot.press("2")
        await until(pilot, lambda: app.screen is table.screen)
        await until(pilot, lambda: table.get_row_at(0)[1].plain != "flaky-us")
        await settle(pilot)
        first = table.get_row_at(0)[1].plain
        assert table.cursor_coordinate.row == 0
        assert str(app.screen.query_one("#table-selected").render()).split()[2] == first
