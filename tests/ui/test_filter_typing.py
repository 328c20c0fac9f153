"""Keys typed right after ``/`` (a paste, a fast typist, ``tmux send-keys``) go into the filter,
not to the table's own keys (``s`` sorts, ``r`` reverses)."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from pacs_tui.app import PacsApp

from .conftest import NOW, screen_text, scripted_engine
from .test_app import settle, show_nodes, until


def burst(app: PacsApp, text: str) -> None:
    """The keys of ``text`` queued at once, as a terminal delivers a paste: none is handled
    before the next arrives."""
    names = {"/": "slash", " ": "space"}
    for char in text:
        app.post_message(events.Key(names.get(char, char), char))


async def test_keys_typed_at_once_after_slash_go_into_the_nodes_filter() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await show_nodes(pilot)
        burst(app, "/rs")
        field = app.screen.query_one("#filter", Input)
        await until(pilot, lambda: field.value == "rs")
        await settle(pilot)
        summary = app.screen.query_one("#table-summary")
        assert "sort: status, worst first" in str(summary.render())


async def test_keys_typed_at_once_after_slash_go_into_the_message_log_filter() -> None:
    from .test_hl7_tracker import make_app, open_tracker

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab")  # from the links to the message log
        await until(pilot, lambda: getattr(app.focused, "id", "") == "message-table")
        burst(app, "/ae")  # "a" alone would be "probe all" on the table
        field = app.screen.query_one("#log-filter", Input)
        await until(pilot, lambda: field.value == "ae")


def footer(app: PacsApp) -> str:
    return screen_text(app).splitlines()[-1]


async def test_the_footer_says_escape_clears_the_filter_while_there_is_one() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        assert "esc Clear" not in footer(app)  # nothing to clear: not offered
        await pilot.press("slash", *"flaky")
        await until(pilot, lambda: "esc Clear" in footer(app))
        await pilot.press("enter")  # the filter stays set, the table has the keys again
        await until(pilot, lambda: "p Probe" in footer(app))
        assert "esc Clear" in footer(app)
        await pilot.press("escape")
        await until(pilot, lambda: "esc Clear" not in footer(app))


async def test_a_message_filter_key_with_nothing_after_it_is_said() -> None:
    from .test_hl7_tracker import make_app, open_tracker, summary

    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await open_tracker(pilot)
        await pilot.press("tab")
        await until(pilot, lambda: getattr(app.focused, "id", "") == "message-table")
        await pilot.press("slash", *"patient:", "enter")
        said = "'patient:' has nothing after it: patient:ID or patient:#ref"
        await until(pilot, lambda: said in screen_text(app))
        field = app.screen.query_one("#log-filter", Input)
        assert field.value == ""  # nothing left to filter by: not shown as if it were a filter
        await pilot.press("slash", *"ack:XX", "enter")
        await until(pilot, lambda: "'XX' is not an ACK code (AA, AE" in screen_text(app))
        assert "· ACK XX" not in screen_text(app)  # said wrong: not filtered by either
        # A filter set, then a wrong one: the one set stays, and the typing to mend with it.
        await pilot.press("escape", "slash", *"AE", "enter")
        await until(pilot, lambda: "ACK AE" in summary(app))
        await pilot.press("slash", "ctrl+u", *"ack:QQ", "enter")
        await until(pilot, lambda: "the filter is unchanged" in screen_text(app))
        assert "ACK AE" in summary(app) and field.value == "ack:QQ"
        # Two ACK codes: one at a time, and which one is said.
        await pilot.press("ctrl+u", *"AE AA", "enter")
        await until(
            pilot, lambda: "one ACK code at a time: AE left out, AA kept" in screen_text(app)
        )
        assert "ACK AA" in summary(app)


@pytest.mark.parametrize("idle_lock", [False, True])
async def test_the_keys_list_has_the_lock_key_only_where_there_is_an_idle_lock(
    idle_lock: bool,
) -> None:
    from .test_idle_lock import locking_engine

    app = PacsApp(locking_engine(60) if idle_lock else scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await show_nodes(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: "Binding id" in screen_text(app))
        assert ("Lock the screen now" in screen_text(app)) is idle_lock


async def test_with_a_filter_set_the_footer_keeps_quit_at_80_columns_on_every_table() -> None:
    engine = scripted_engine(
        commands=True, hl7=True, volumes=True, audit=True, backups=True
    )  # as many screens as a site has: the longest footer
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_nodes(pilot)
        for key in ("2", "4", "8"):
            await pilot.press(key, "slash", *"ab", "enter")
            await until(pilot, lambda: "esc Clear" in footer(app))
            assert footer(app).rstrip().endswith("q Quit"), footer(app)
            await pilot.press("escape")


async def test_a_paste_with_control_characters_filters_by_what_the_field_shows() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await show_nodes(pilot)
        await pilot.press("slash")
        field = app.screen.query_one("#filter", Input)
        await until(pilot, lambda: field.has_focus)
        field.post_message(events.Paste("fla\x01ky\x1b\x07"))  # from a log, escapes and all
        await until(pilot, lambda: field.value == "flaky")  # what it shows, in order
        await until(pilot, lambda: "1 of 7 match" in screen_text(app))
