"""A site watched only by command checks: the UI has nothing DICOM-shaped left over."""

from __future__ import annotations

from textual.widgets import DataTable, Label

from pacs_tui.app import PacsApp
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.widgets import AreaTile, MetricChart

from .conftest import NOW, screen_text, scripted_engine
from .test_app import until


async def test_a_command_only_site_in_every_screen() -> None:
    app = PacsApp(scripted_engine(nodes=False, commands=True), clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.ctx is not None and app.ready_at is not None)
        # Overview: one tile, the command checks' area; no empty DICOM tile.
        await until(pilot, lambda: "1 CRIT" in _tile_text(app, "command"))
        assert not app.screen.query_one("#tile-dicom", AreaTile).display
        assert "(see Checks)" not in _tile_text(app, "command")  # 2 problems: all listed

        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        screen = app.screen
        assert isinstance(screen, TargetTableScreen)
        table = screen.query_one("#target-table", DataTable)
        await until(pilot, lambda: table.row_count == 3)
        summary = str(screen.query_one("#table-summary", Label).render())
        assert summary.startswith("3 command checks · 2 not OK")
        headers = [str(c.label).split(" ")[0] for c in table.columns.values()]
        assert headers == ["Status", "Check", "Plugin", "Value", "Since", "Output"]
        rows = {str(table.get_row_at(i)[1].plain): table.get_row_at(i) for i in range(3)}
        # Each row says which perfdata value it shows, in its unit (bytes in binary units).
        assert rows["archive-disk"][3].plain == "/srv/pacs 483 GiB"
        assert rows["ris-db"][3].plain == "time 2.0 ms"
        assert rows["hl7-port"][3].plain == "Run 4.0 ms"  # no perfdata: the plugin's run time
        assert str(table.get_row_at(0)[1].plain) == "hl7-port"  # worst first

        # The filter matches the plugin's path too.
        await pilot.press("slash", *"check_disk")
        await until(pilot, lambda: table.row_count == 1)
        await pilot.press("escape")
        await until(pilot, lambda: table.row_count == 3)

        # Detail of the WARN disk check: its plugin, output, exit and a chart in bytes.
        table.move_cursor(
            row=[str(table.get_row_at(i)[1].plain) for i in range(3)].index("archive-disk")
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        detail = app.screen
        await until(pilot, lambda: "check_disk" in screen_text(app))
        shown = screen_text(app)
        assert "Plugin" in shown and "Exit" in shown and "483 GiB" in shown
        assert detail.query_one(MetricChart).unit == "B"
        title = str(detail.query_one("#chart-title", Label).render())
        assert title.startswith("/srv/pacs, last hour")


def _tile_text(app: PacsApp, area: str) -> str:
    tile = app.screen.query_one(f"#tile-{area}", AreaTile)
    return " ".join(str(child.render()) for child in tile.children)
