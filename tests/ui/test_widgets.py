"""The table widgets on their own, in a small app: what each line shows, with which style, and
how much Rich rendering a change costs (counted through the cells' own render calls)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Label

from pacs_tui.model import Status, Target, TargetState
from pacs_tui.view import LinkState
from pacs_tui.widgets import AreaTile, LightTable, StatusHeader, StatusTable
from pacs_tui.widgets.area_tile import SHRINK_AFTER, TileLine
from pacs_tui.widgets.header import HeaderText

from .conftest import wait_for

COLUMNS: list[tuple[str, str, int | None]] = [("Time", "time", 8), ("Reason", "reason", None)]


class CountedText(Text):
    """A cell that counts how often Rich renders it."""

    renders = 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Segment]:
        CountedText.renders += 1
        return super().__rich_console__(console, options)


def row(time: str, reason: str) -> list[Text]:
    return [CountedText(time, no_wrap=True, end=""), CountedText(reason, end="")]


class LightApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LightTable(id="list")


def shown(table: LightTable, lines: Iterable[int]) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in lines]


async def test_light_table_shows_a_header_and_rows_top_first() -> None:
    app = LightApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LightTable)
        table.fit_columns(COLUMNS, 60)
        table.set_rows([row("10:00:02", "second"), row("10:00:01", "first")])
        await pilot.pause()
        assert shown(table, range(3)) == [
            " Time      Reason",
            " 10:00:02  second",
            " 10:00:01  first",
        ]
        assert table.row_count == 2 and table.row(1)[1].plain == "first"


async def test_light_table_renders_only_the_new_row_when_one_comes_on_top() -> None:
    app = LightApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LightTable)
        table.fit_columns(COLUMNS, 60)
        older = [row(f"10:00:0{i}", f"change {i}") for i in (3, 2, 1)]
        table.set_rows(older)
        await pilot.pause()
        before = CountedText.renders
        table.set_rows([row("10:00:04", "change 4"), *older])
        await pilot.pause()
        assert CountedText.renders - before == 2  # the new row's two cells, nothing else
        assert shown(table, range(1, 5)) == [
            " 10:00:04  change 4",
            " 10:00:03  change 3",
            " 10:00:02  change 2",
            " 10:00:01  change 1",
        ]
        # The same rows again: nothing rendered, nothing to redraw.
        before = CountedText.renders
        table.set_rows([row("10:00:04", "change 4"), *older])
        assert CountedText.renders == before


async def test_light_table_wraps_a_long_cell_onto_more_lines() -> None:
    app = LightApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(LightTable)
        table.fit_columns(COLUMNS, 40)
        reason = "association rejected by the called AE: calling AE title not recognised"
        table.set_rows([row("10:00:01", reason), row("10:00:00", "ok")])
        await pilot.pause()
        assert table.row_height(0) >= 3 and table.row_height(1) == 1
        lines = shown(table, range(1, 1 + table.row_height(0)))
        assert " ".join(line[11:].strip() for line in lines) == reason
        assert shown(table, [1 + table.row_height(0)]) == [" 10:00:00  ok"]


async def test_light_table_keeps_its_header_while_scrolled_to_the_end() -> None:
    app = LightApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(LightTable)
        table.fit_columns(COLUMNS, 40)
        table.set_rows(row(f"10:00:{i:02d}", f"change {i}") for i in range(20, 0, -1))
        await pilot.pause()
        table.scroll_end(animate=False)
        await pilot.pause()
        lines = shown(table, range(table.size.height))
        assert lines[0].split() == ["Time", "Reason"]
        assert lines[-1].startswith(" 10:00:01  change 1")


async def test_light_table_follows_the_theme() -> None:
    app = LightApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(LightTable)
        table.fit_columns(COLUMNS, 40)
        table.set_rows([[Text("10:00:00"), Text("echo ok")]])
        await pilot.pause()

        def backgrounds() -> tuple[set[object], set[object]]:
            return tuple(  # type: ignore[return-value]
                {s.style.bgcolor for s in table.render_line(y) if s.style is not None}
                for y in (0, 1)
            )

        dark = backgrounds()
        app.theme = "textual-light"
        await pilot.pause()
        light = backgrounds()  # the rows' cached renders were dropped with the old colours
        assert len(light[0]) == len(light[1]) == 1  # nothing left in the old colours
        assert dark[0] != light[0] and dark[1] != light[1]
        assert table.render_line(1).text.split() == ["10:00:00", "echo", "ok"]


class NodesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusTable(id="nodes", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(StatusTable)
        table.fit_columns([("Node", "node", 10), ("Status", "status", None)], 40)
        for i in range(8):
            table.add_row(Text(f"node-{i}"), Text("OK"), key=f"node-{i}")


def cursor_rows(table: StatusTable) -> list[int]:
    """The rows (0 = first under the header) drawn with the cursor's background."""
    cursor = table.get_component_styles("datatable--cursor").rich_style.bgcolor
    return [
        y - 1
        for y in range(1, table.row_count + 1)
        if any(s.style is not None and s.style.bgcolor == cursor for s in table.render_line(y))
    ]


async def test_status_table_draws_the_cursor_on_its_row_only_as_it_moves_and_rows_move() -> None:
    app = NodesApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(StatusTable)
        await pilot.pause()
        assert cursor_rows(table) == [0]
        table.move_cursor(row=3)
        await pilot.pause()
        assert cursor_rows(table) == [3]
        # node-5 goes DOWN and to the top; the cursor follows node-3 one row down.
        table.update_cells([("node-5", "status", Text("DOWN"))])
        table.reorder(lambda row: table.get_cell(row, "status").plain != "DOWN")
        table.move_cursor(row=table.get_row_index("node-3"))
        await pilot.pause()
        assert [table.get_row_at(i)[0].plain for i in range(3)] == ["node-5", "node-0", "node-1"]
        assert table.cursor_coordinate == Coordinate(4, 0)
        assert cursor_rows(table) == [4]
        assert table.render_line(5).text.split() == ["node-3", "OK"]


class ReferenceTable(StatusTable):
    """A StatusTable drawn by DataTable's own code: what StatusTable's lines must equal."""

    _render_cell = DataTable._render_cell
    _render_line = DataTable._render_line
    _render_line_in_row = DataTable._render_line_in_row


#: Cells of every kind a target table has: a status in its colour, a right-aligned value, a
#: reason cut with an ellipsis, dim text, a trend with styled marks, wide characters, a tab.
def mixed_row(i: int, table: StatusTable) -> list[Text]:
    status = Status.DOWN if i % 3 == 0 else Status.OK
    trend = Text("▁▂▃✕▅▆", no_wrap=True, end="")
    trend.stylize(table.status_style(Status.DOWN), 3, 4)
    return [
        Text(f"node-{i}", no_wrap=True, end=""),
        table.status_text(status),
        Text(f"{i * 7} ms", justify="right", no_wrap=True, end=""),
        Text(
            "association rejected by the called AE: calling AE title not recognised",
            style=table.status_style(status),
            no_wrap=True,
            overflow="ellipsis",
            end="",
        ),
        table.dim_text(f"{i}s ago"),
        trend,
        Text(f"東京\tワード{i}", no_wrap=True, end=""),
    ]


MIXED_COLUMNS: list[tuple[str, str, int | None]] = [
    ("Node", "node", 9),
    ("Status", "status", 8),
    ("Echo", "echo", 8),
    ("Reason", "reason", None),
    ("Since", "since", 9),
    ("Trend", "trend", 8),
    ("Site", "site", 12),
]


class TwinApp(App[None]):
    CSS = "StatusTable { height: 9; }"
    AUTO_FOCUS = None  # a focused table draws its header otherwise

    def compose(self) -> ComposeResult:
        yield StatusTable(id="fast", cursor_type="row", zebra_stripes=True)
        yield ReferenceTable(id="reference", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(StatusTable):
            table.fit_columns(MIXED_COLUMNS, 90)
            for i in range(12):
                table.add_row(*mixed_row(i, table), key=f"node-{i}")


async def test_status_table_draws_every_line_as_data_table_does() -> None:
    app = TwinApp()
    async with app.run_test(size=(90, 20)) as pilot:
        fast = app.query_one("#fast", StatusTable)
        reference = app.query_one("#reference", StatusTable)

        async def same(step: str) -> None:
            await pilot.pause()
            for y in range(fast.size.height):
                got, want = list(fast.render_line(y)), list(reference.render_line(y))
                assert got == want, f"{step}: line {y} differs"

        await same("first drawn")
        assert "…" in fast.render_line(1).text and "東京" in fast.render_line(1).text
        for table in (fast, reference):
            table.move_cursor(row=2)
            table.hover_coordinate = Coordinate(4, 3)
        await same("cursor and mouse moved")
        # node-4 changes and goes to the top; the cursor follows node-1.
        down = fast.status_text(Status.DOWN)
        fast.update_cells(
            [("node-4", "echo", Text("1 ms", justify="right")), ("node-4", "status", down)]
        )
        reference.update_cell("node-4", "echo", Text("1 ms", justify="right"))
        reference.update_cell("node-4", "status", reference.status_text(Status.DOWN))
        fast.reorder(lambda row: (row != "node-4", int(row.split("-")[1])))
        reference.sort("node", key=lambda cell: (cell.plain != "node-4", int(cell.plain[5:])))
        for table in (fast, reference):
            table.move_cursor(row=table.get_row_index("node-1"))
        await same("a row changed and moved")
        assert fast.render_line(1).text.split()[:2] == ["node-4", "▼"]
        for table in (fast, reference):
            table.scroll_end(animate=False)
        await same("scrolled to the end")


class HeaderApp(App[None]):
    def __init__(self, link: LinkState) -> None:
        super().__init__()
        self.link = link

    def compose(self) -> ComposeResult:
        yield StatusHeader(
            "St. Example Hospital",
            lambda: Status.DOWN,
            lambda: 0.0,
            tz="UTC",
            link=lambda: self.link,
        )


async def test_header_says_the_collector_is_gone_in_full_even_at_80_columns() -> None:
    gone = LinkState("pacs-srv", 4242, "/run/pacs-tui/collector.sock", gone_since=3723.0)
    # At 80 columns "stale" is the overall status's word; the link says since when.
    for width, words, overall in (
        (80, "collector gone 01:02:03", "⚠ stale: ▼ DOWN"),
        (160, "values are stale", "⚠ stale: last known ▼ DOWN"),
    ):
        app = HeaderApp(gone)
        async with app.run_test(size=(width, 5)) as pilot:
            await pilot.pause()
            header = app.query_one(StatusHeader)
            line = "".join(
                str(label.render()) for label in header.query("Label") if label.id == "header-link"
            )
            assert words in line
            assert line.startswith("⚠ collector gone")
            assert header.query_one("#header-link").size.width >= len(line)  # not cut
            said = header.query_one("#header-overall", HeaderText)
            assert said.text == overall
            assert said.content_size.width >= len(overall)  # not cut


class DemoHeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusHeader("Demo Hospital", lambda: Status.CRIT, lambda: 0.0, tz="UTC", demo=True)


async def test_the_demo_marker_is_whole_at_80_columns_and_long_when_there_is_room() -> None:
    """At 80 columns the long marker was cut ("… hospital on"): the short one is whole there."""
    app = DemoHeaderApp()
    async with app.run_test(size=(160, 5)) as pilot:
        marker = app.query_one("#header-demo", Label)
        await wait_for(
            pilot, lambda: str(marker.render()) == "DEMO — simulated hospital on loopback"
        )
        await pilot.resize_terminal(80, 5)
        await wait_for(pilot, lambda: str(marker.render()) == "DEMO — loopback")
        assert marker.content_size.width >= len("DEMO — loopback")
        await pilot.resize_terminal(120, 5)
        await wait_for(pilot, lambda: str(marker.render()).endswith("hospital on loopback"))


async def test_a_stale_header_narrowed_to_80_columns_says_since_when_whole() -> None:
    """The long stale words at 160 columns give their room up at 80."""
    app = HeaderApp(LinkState("pacs-srv", 4242, "/run/c.sock", gone_since=3723.0))
    async with app.run_test(size=(160, 5)) as pilot:
        header = app.query_one(StatusHeader)
        said = header.query_one("#header-overall", HeaderText)
        await wait_for(pilot, lambda: said.text == "⚠ stale: last known ▼ DOWN")
        await pilot.resize_terminal(80, 5)
        await wait_for(pilot, lambda: said.text == "⚠ stale: ▼ DOWN")
        link = header.query_one("#header-link", Label)
        await wait_for(pilot, lambda: str(link.render()) == "⚠ collector gone 01:02:03")
        await wait_for(pilot, lambda: link.content_size.width >= len(str(link.render())))


async def test_the_overall_status_is_live_again_when_the_collector_is_back() -> None:
    """Back from stale, the header's status is the live one and gives its room back to the
    line about the collector (80 columns: "attached to pacs-srv (pid 4242)" whole)."""
    app = HeaderApp(LinkState("pacs-srv", 4242, "/run/c.sock", gone_since=3723.0))
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        header = app.query_one(StatusHeader)
        said = header.query_one("#header-overall", HeaderText)
        assert said.text.startswith("⚠ stale")
        app.link = LinkState("pacs-srv", 4242, "/run/c.sock")
        header.refresh_link()
        await pilot.pause()
        assert said.text == "▼ DOWN"
        link = header.query_one("#header-link", Label)
        assert str(link.render()) == "attached to pacs-srv (pid 4242)"
        assert link.content_size.width >= len("attached to pacs-srv (pid 4242)")


class TileApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AreaTile("DICOM nodes", "dicom")
        yield Label("below", id="below")


def _state(tid: str, status: Status, checked: float | None = 1.0) -> TargetState:
    return TargetState(
        Target(tid, "dicom-node"), status=status, reason=status.word, checked=checked
    )


async def test_a_tile_keeps_its_height_a_minute_when_a_problem_goes() -> None:
    """A node that flaps does not make what is below the tiles jump at every change."""
    app = TileApp()
    async with app.run_test(size=(80, 20)) as pilot:
        tile = app.query_one(AreaTile)
        below = app.query_one("#below")
        tile.show([_state("ct-1", Status.OK), _state("ct-2", Status.OK)], now=0)
        await pilot.pause()
        top = below.region.y
        tile.show([_state("ct-1", Status.DOWN), _state("ct-2", Status.OK)], now=10)
        await pilot.pause()
        assert below.region.y == top + 1  # grows at once
        tile.show([_state("ct-1", Status.OK), _state("ct-2", Status.OK)], now=20)
        await pilot.pause()
        assert below.region.y == top + 1  # the line is blank, the height kept
        assert "DOWN" not in "".join(str(line.text) for line in tile.query(TileLine))
        tile.show([_state("ct-1", Status.OK), _state("ct-2", Status.OK)], now=20 + SHRINK_AFTER)
        await pilot.pause()
        assert below.region.y == top  # then it shrinks


async def test_a_tile_shrinks_at_once_when_its_targets_get_their_first_result() -> None:
    app = TileApp()
    async with app.run_test(size=(80, 20)) as pilot:
        tile = app.query_one(AreaTile)
        below = app.query_one("#below")
        tile.show([_state(f"n{i}", Status.UNKNOWN, checked=None) for i in range(3)], now=0)
        await pilot.pause()
        tall = below.region.y
        tile.show([_state(f"n{i}", Status.OK) for i in range(3)], now=1)
        await pilot.pause()
        assert below.region.y == tall - 3


def test_recent_changes_stay_in_time_order_when_a_slow_check_reports_late() -> None:
    """A restic listing that started first reports after a quicker check: the list is by the
    time of each change, not by its arrival."""
    from collections import deque

    from pacs_tui.model import Event, EventKind, Status
    from pacs_tui.screens import UiContext

    ctx = UiContext(view=None, now=lambda: 0.0, recent=deque(maxlen=3))  # type: ignore[arg-type]
    for ts, target in ((10.0, "a"), (30.0, "c"), (20.0, "b"), (40.0, "d")):
        ctx.add_recent(Event(ts, target, EventKind.STATUS_CHANGE, Status.OK, "x"))
    assert [e.target for e in ctx.recent] == ["b", "c", "d"]  # the oldest dropped at the bound
    assert ctx.recent_version == 4
