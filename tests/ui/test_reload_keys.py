"""A reload that removes a site's last target of a kind takes that screen's number key away
(and one that adds a kind brings it), without restarting the UI."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from pacs_tui.app import PacsApp
from pacs_tui.config import Config, SiteConfig
from pacs_tui.screens.overview import OverviewScreen

from .conftest import NOW, screen_text, scripted_engine
from .test_app import settle, until


async def test_a_reload_without_command_checks_takes_their_key_away() -> None:
    engine = scripted_engine(commands=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)

        def screen_keys() -> str:
            found = app.screen.query(FooterKey)
            return "".join(k.key_display for k in found if k.action.startswith("go("))

        await until(pilot, lambda: "3" in screen_keys())
        # The new config watches nothing: every check stops, the command checks with them.
        await engine.reload(Config(site=SiteConfig(name="Reloaded", timezone="UTC")))
        await until(pilot, lambda: "3" not in screen_keys())
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)  # the key does nothing now


async def test_a_reload_with_a_longer_id_shows_it_whole_or_cut_with_an_ellipsis() -> None:
    from pacs_tui.config import parse_config
    from pacs_tui.engine import Engine

    def site(*ids: str) -> Config:
        return parse_config(
            '[site]\nname = "Reload ward"\ntimezone = "UTC"\n'
            + "".join(
                f'[[command]]\nid = "{i}"\ncommand = ["/bin/sh", "-c", "echo fine"]\n'
                'interval = "1h"\n'
                for i in ids
            )
        )

    engine = Engine(site("db"), store=None, first_run_spread=0.0)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await until(pilot, lambda: " db " in screen_text(app))
        longer = "db-replica-second-site"
        await engine.reload(site("db", longer))
        await until(pilot, lambda: f" {longer} " in screen_text(app), timeout=10)
