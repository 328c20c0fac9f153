"""Two crashes of Textual 8.2.8's command palette that our palette
(:class:`~pacs_tui.commands.PacsCommandPalette`) guards:

- ctrl+p followed at once by PageUp/PageDown raised ``KeyError: 0`` in
  ``OptionList._move_page`` (5 of 6 tries in a real terminal);
- two Enters delivered together on the palette raised ``ScreenStackError`` (the second one
  dismissed the palette again, popping the screen below), found by the random keys test.

Keys are sent as a terminal sends them: straight to the driver, without the Pilot's wait for
the app to be idle after each key (that wait lets the list be laid out, which hides the bug).
The same keys against Textual's own palette must still crash: when such a test fails, Textual
has fixed that bug and its guard can go.
"""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.app import ScreenStackError
from textual.command import CommandList, CommandPalette

from pacs_tui.app import PacsApp
from pacs_tui.commands import PacsCommandPalette

from .conftest import NOW, scripted_engine
from .test_app import settle, until

#: Pauses between ctrl+p and the page key, in seconds: all within a fast typist's burst.
DELAYS = (0.0, 0.001, 0.005, 0.02)

CASES = {
    "pagedown": ("pagedown",),
    "pageup": ("pageup",),
    "filtered": ("p", "r", "o", "pagedown"),
    "filtered-up": ("o", "p", "e", "n", "pageup", "pagedown"),
    "no-match": ("z", "z", "z", "z", "pagedown", "pageup"),
}


class UpstreamPaletteApp(PacsApp):
    """The app with Textual's own command palette (no guard)."""

    def action_command_palette(self) -> None:
        if not isinstance(self.screen, CommandPalette):
            self.push_screen(CommandPalette(id="--command-palette"))


def send(app: PacsApp, *keys: str) -> None:
    """Queue ``keys`` on the driver as a terminal would, without waiting for anything."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        character = key if len(key) == 1 else None
        event = events.Key(key, character)
        event.set_sender(app)
        driver.send_message(event)


async def burst(app: PacsApp, delay: float, keys: tuple[str, ...]) -> None:
    """ctrl+p, ``delay``, then ``keys``; let the palette finish; close it."""
    send(app, "ctrl+p")
    if delay:
        await asyncio.sleep(delay)
    send(app, *keys)
    await asyncio.sleep(0.4)
    assert isinstance(app.screen, CommandPalette)
    send(app, "escape")
    await asyncio.sleep(0.1)


@pytest.mark.parametrize("keys", CASES.values(), ids=CASES.keys())
async def test_page_keys_right_after_ctrl_p_are_safe(keys: tuple[str, ...]) -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for delay in DELAYS:
            await burst(app, delay, keys)
            assert app.is_running and not isinstance(app.screen, CommandPalette)
    assert app.return_code in (None, 0)


async def test_page_down_right_after_ctrl_p_still_pages() -> None:
    """The guard defers the key until the list is laid out: it is not lost."""
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        send(app, "ctrl+p", "pagedown")
        await asyncio.sleep(0.5)
        palette = app.screen
        assert isinstance(palette, PacsCommandPalette)
        commands = palette.query_one(CommandList)
        assert commands.option_count > 0
        # The discovery list is taller than the palette at 80x24: a page down moves.
        assert commands.virtual_size.height > commands.scrollable_content_region.height
        assert commands.highlighted is not None and commands.highlighted > 0


async def test_upstream_palette_still_crashes() -> None:
    """Without the guard the same burst kills the app (Textual 8.2.8). Up to five tries, each
    in a fresh app: the window is a race, though here the first try hits it nearly always."""
    crashes = 0
    for delay in (0.0, 0.001, 0.005, 0.0, 0.001):
        app = UpstreamPaletteApp(scripted_engine(), clock=lambda: NOW)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                send(app, "ctrl+p")
                if delay:
                    await asyncio.sleep(delay)
                send(app, "pagedown")
                await asyncio.sleep(0.4)
        except KeyError as exc:
            assert exc.args == (0,)
            crashes += 1
            break
    assert crashes, "Textual's palette no longer crashes: PacsCommandPalette's guard can go"


async def open_palette_on(app: PacsApp, query: str) -> None:
    """ctrl+p, type ``query`` and let the palette list its hits."""
    send(app, "ctrl+p")
    await asyncio.sleep(0.1)
    send(app, *query)
    await asyncio.sleep(0.5)
    assert isinstance(app.screen, CommandPalette)


def probing_all_notices(app: PacsApp) -> int:
    return sum("Probing all" in str(n.message) for n in app._notifications)


async def test_double_enter_on_the_palette_runs_the_command_once() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for enters in (2, 3):
            await open_palette_on(app, "probe all")
            before = probing_all_notices(app)
            send(app, *["enter"] * enters)
            await until(pilot, lambda: not isinstance(app.screen, CommandPalette))
            await pilot.pause(0.3)
            assert app.is_running
            assert probing_all_notices(app) == before + 1


async def test_upstream_palette_still_crashes_on_double_enter() -> None:
    """Without the guard two Enters kill the app (Textual 8.2.8)."""
    app = UpstreamPaletteApp(scripted_engine(), clock=lambda: NOW)
    with pytest.raises(ScreenStackError):
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await open_palette_on(app, "probe all")
            send(app, "enter", "enter")
            await asyncio.sleep(0.5)
