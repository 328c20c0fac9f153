"""Keys typed right after ``/`` (a paste, a fast typist, ``tmux send-keys``) go into the filter,
not to the table's own keys (``s`` sorts, ``r`` reverses)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from pacs_tui.app import PacsApp

from .conftest import NOW, scripted_engine
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
