"""The header's overall status keeps its place as the status changes: no jump of what sits
beside it, and no re-layout of the screen (which redraws every widget) for a new word."""

from __future__ import annotations

from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.config import Config, SiteConfig
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status, Target, TargetKind

from .conftest import NOW, FixedCheck, screen_text


def ok_site() -> tuple[Engine, list[FixedCheck]]:
    checks = [
        FixedCheck(
            Target(f"node-{i}", TargetKind.DICOM_NODE, {"aet": f"NODE{i}", "host": "10.0.0.1"}),
            Result(Status.OK, "echo ok", {"echo_seconds": 0.004}, ts=NOW),
        )
        for i in range(3)
    ]
    config = Config(site=SiteConfig(name="Header Site", timezone="UTC"))
    return Engine(config, checks=checks, store=None, first_run_spread=0.0), checks


async def until_status(pilot: Pilot[None], engine: Engine, status: Status) -> None:
    app = pilot.app
    assert isinstance(app, PacsApp)
    for _ in range(500):
        if engine.overall() is status and status.label in screen_text(app).splitlines()[0]:
            return
        await pilot.pause(0.01)
    raise AssertionError(f"the header never said {status.label}")


async def test_the_overall_status_keeps_its_place_and_width_through_changes() -> None:
    engine, checks = ok_site()
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await until_status(pilot, engine, Status.OK)
        overall = app.screen.query_one("#header-overall")
        clock = app.screen.query_one("#header-clock")
        before = (overall.region, clock.region)
        for status in (Status.DOWN, Status.UNKNOWN, Status.OK):
            checks[1].result = Result(status, f"now {status.value}", ts=NOW)
            assert engine.probe_now("node-1")
            await until_status(pilot, engine, status)
            assert (overall.region, clock.region) == before, status
            first_line = screen_text(app).splitlines()[0]
            assert first_line.startswith(" Header Site ") and status.label in first_line
