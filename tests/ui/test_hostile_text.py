"""Strings from peers and from the config reach the screen with their control characters made
visible and never as markup: what the admin sees is checked on the rendered screen."""

from __future__ import annotations

import random

from textual.command import CommandPalette
from textual.content import Content
from textual.fuzzy import Matcher
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.commands import highlight, literal
from pacs_tui.model import Result, Status
from pacs_tui.screens.overview import OverviewScreen
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen

from .conftest import NOW, screen_text, scripted_engine
from .test_app import ids, report, settle, show_nodes, table_of, until

ESC = "\x1b"
#: What a hostile peer and a careless config put in the strings we show.
CLASS_UID = "9\x1b]2;PWNED\x1b\\"  # OSC 2: set the terminal's title
VERSION = "\x1b[31mRED[/]"  # an SGR colour and a markup closing tag
REASON = "association rejected by \x1b]52;c;cGF5bG9hZA==\x07 [/] \u202eevil"  # OSC 52: clipboard
DESCRIPTION = "CT \x1b[5mblink [bold]loud[/bold]"
SITE = "Site\x1b]2;PWNED\x07 [b]H[/b]"
AET = "CT\x1b[2J"  # CSI: clear the screen


def hostile_app() -> PacsApp:
    engine = scripted_engine(
        site=SITE,
        labels={"ct-1": {"description": DESCRIPTION, "aet": AET, "host": "::1"}},
    )
    return PacsApp(engine, clock=lambda: NOW)


async def report_hostile(pilot: Pilot[None], app: PacsApp) -> None:
    details = {
        "peer_implementation_class_uid": CLASS_UID,
        "peer_implementation_version_name": VERSION,
        "peer_max_pdu": 16384,
    }
    result = Result(Status.DOWN, REASON, details=details, ts=NOW - 1)
    await report(pilot, app.engine, "ct-1", result)
    await pilot.pause()


def assert_harmless(text: str) -> None:
    assert ESC not in text and "\x07" not in text and "\u202e" not in text
    assert "\x9b" not in text


async def test_node_detail_shows_peer_strings_visibly() -> None:
    app = hostile_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        await report_hostile(pilot, app)
        table = table_of(app)
        table.move_cursor(row=ids(table).index("ct-1"))
        await pilot.pause()
        shown = screen_text(app)
        assert_harmless(shown)
        assert "Site␛]2;PWNED␇ [b]H[/b]" in shown  # the header: no markup, no title change
        # The selected-node line holds the reason in full, the AE title and the IPv6 address.
        assert "CT␛[2J@[::1]:104" in shown
        assert "association rejected by ␛]52;c;cGF5bG9hZA==␇ [/] \\u202eevil" in shown

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = screen_text(app)
        assert_harmless(shown)
        assert "9␛]2;PWNED␛\\" in shown
        assert "␛[31mRED[/]" in shown
        assert "CT ␛[5mblink [bold]loud[/bold]" in shown
        assert "[::1]:104" in shown and "CT␛[2J" in shown
        assert "␛]52;c;cGF5bG9hZA==␇ [/] \\u202eevil" in shown  # title and recent events

        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.pause()
        shown = screen_text(app)
        assert_harmless(shown)
        assert "association rejected by ␛]52;c" in shown  # the tile and the recent changes


async def test_palette_and_notices_show_peer_strings_literally() -> None:
    app = hostile_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await show_nodes(pilot)
        await report_hostile(pilot, app)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"open ct-1")
        await pilot.pause(0.5)
        shown = screen_text(app)
        assert_harmless(shown)
        # The palette's help line holds the reason: "[/]" is text, not a closing tag.
        assert "Open ct-1" in shown and "␛]52;c;cGF5bG9hZA==␇ [/] \\u202eevil" in shown
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        await pilot.press("p")
        await pilot.pause()
        assert_harmless(screen_text(app))
        assert isinstance(app.screen, TargetDetailScreen) and not isinstance(
            app.screen, TargetTableScreen
        )


async def test_settle_with_hostile_config_strings() -> None:
    """The app starts and draws every screen with the hostile site name and labels."""
    app = hostile_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert_harmless(screen_text(app))
        await pilot.press("2")
        await settle(pilot)
        assert_harmless(screen_text(app))


def test_literal_markup_reads_back_as_the_text() -> None:
    rnd = random.Random(5)
    alphabet = "[]\\/ab$=@#;:1 "
    samples = ["[/]", "[ANY]", "x\\", "\\[b]", "[@click=app.quit]q[/]", "[Errno 111]"]
    samples += [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))) for _ in range(5000)
    ]
    for text in samples:
        assert Content.from_markup(literal(text)).plain == text, text


def test_palette_titles_are_not_markup() -> None:
    matcher = Matcher("open")
    title = "Open [b]x[/]"
    shown = highlight(matcher, title)
    assert shown.plain == title
    assert len(shown.spans) == 4  # o, p, e, n
