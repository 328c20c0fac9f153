"""The Sessions screen fed by the demo PACS's audit trail over a real TCP connection: sessions
appear with their roles, the audit trail follows live and filters by event code and by user.
And on the scripted night: the trail's columns fit 160 and 100 columns, ``/`` filters it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label

from pacs_tui.app import PacsApp
from pacs_tui.audit import receiver
from pacs_tui.demo.audit_feed import DemoAuditFeed
from pacs_tui.demo.site import demo_config
from pacs_tui.engine import engine_with_history
from pacs_tui.model import LoggedMessage
from pacs_tui.screens.help import HelpScreen
from pacs_tui.screens.sessions import AuditLog, SessionsScreen
from pacs_tui.widgets import LightTable, StatusTable

from .conftest import AUDIT_LOG, NOW, screen_text, scripted_engine, wait_for

#: The hashed reference the scripted night's patient has (conftest's ``patient_ref``).
PATIENT = f"#{0x7A11CE5EED000000 + len('PAT-0007'):016x}"


async def test_the_demo_pacs_sessions_and_its_audit_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiver, "REPORT_SECONDS", 0.2)
    feed = DemoAuditFeed(seed=3)
    port = await asyncio.to_thread(feed.start)
    engine = engine_with_history(demo_config([], tmp_path / "h.sqlite", audit=port))
    try:
        app = PacsApp(engine, demo=True)
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.ctx is not None)
            await pilot.press("8")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
            sessions = app.screen.query_one("#sessions-table", LightTable)
            # Logins come first for each demo user: a session with its mapped role.
            await wait_for(pilot, lambda: "radiologist" in screen_text(app), timeout=20)
            assert sessions.row_count >= 1
            trail = app.screen.query_one(AuditLog)
            await wait_for(pilot, lambda: len(trail.rows) >= 3, timeout=20)
            assert "110114 User Authentication / Login" in screen_text(app)

            await pilot.press("tab", "tab")  # from the receivers' table to the trail
            trail.action_filter()
            await pilot.press(*"110103", "enter")
            await wait_for(
                pilot,
                lambda: bool(trail.rows) and all(r.type.startswith("110103") for r in trail.rows),
                timeout=20,
            )
            assert "filter: type 110103" in screen_text(app)
            user = trail.rows[0].sender
            trail.action_filter()
            field = trail.query_one("#log-filter")
            field.value = f"user:{user}"  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: bool(trail.rows) and {r.sender for r in trail.rows} == {user}
            )
            await pilot.press("q")
    finally:
        await asyncio.to_thread(feed.stop)


async def open_trail(pilot: Pilot[None]) -> AuditLog:
    """The Sessions screen of the scripted night, its trail read."""
    app = pilot.app
    await wait_for(pilot, lambda: getattr(app, "ctx", None) is not None)
    await pilot.press("8")
    await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
    trail = app.screen.query_one(AuditLog)
    await wait_for(pilot, lambda: len(trail.rows) == len(AUDIT_LOG))
    return trail


def trail_lines(app: PacsApp) -> tuple[list[str], list[str]]:
    """The audit trail's header words and its rows' lines, as the screen shows them."""
    lines = screen_text(app).splitlines()
    title = next(i for i, line in enumerate(lines) if line.strip() == "Audit trail")
    start = next(i for i in range(title, len(lines)) if lines[i].split()[:1] == ["Time"])
    end = next(i for i, line in enumerate(lines) if "[ older  ] newer" in line)
    return lines[start].split(), [line for line in lines[start + 1 : end] if line.strip()]


def line_of(rows: list[str], *words: str) -> str:
    """The first line holding every one of ``words`` ("" when none does)."""
    return next((row for row in rows if all(w in row for w in words)), "")


async def test_the_audit_trail_fits_160_columns_even_after_an_unparsed_row() -> None:
    engine = scripted_engine(nodes=False, audit=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        trail = await open_trail(pilot)
        header, rows = trail_lines(app)
        # What an admin needs at 3 a.m., every header whole.
        for label in ("Time", "Event", "User", "Role", "Host", "Outcome", "Patient", "Size"):
            assert label in header
        export = line_of(rows, "110106 Export")
        for cell in ("rad-martin", "radiologist", "10.1.20.11", PATIENT, "1.1 KiB"):
            assert cell in export
        failed = line_of(rows, "admin")
        assert "10.9.8.7" in failed and "▲ 4 minor failure" in failed

        # A message that did not parse: no user, its syslog app as the audit source.
        assert engine.store is not None
        engine.store.commit_messages(
            [
                LoggedMessage(
                    NOW - 30, "pacs-audit", "in", "unparsed", "", None, None, 5,
                    receiver="PACS", sender_facility="pacs-node-2",
                    detail="unparsed: not an audit record",
                )
            ]
        )  # fmt: skip
        await wait_for(pilot, lambda: "unparsed" in screen_text(app))
        header, rows = trail_lines(app)
        assert "Size" in header and "Patient" in header
        unparsed = line_of(rows, "unparsed")
        assert "pacs-node-2" in unparsed and "5 B" in unparsed and "PACS" not in unparsed
        assert "1.1 KiB" in line_of(rows, "110106 Export")
        assert len(trail.rows) == len(AUDIT_LOG) + 1


async def test_at_100_columns_the_outcome_and_hosts_stay_whole() -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_trail(pilot)
        header, rows = trail_lines(app)
        for label in ("Time", "Event", "User", "Host", "Outcome"):
            assert label in header
        failed = line_of(rows, "admin")
        assert "10.9.8.7" in failed and "▲ 4 minor failure" in failed
        assert "10.1.20.11" in line_of(rows, "110106 Export")
        assert "110114 User Authentication / Logout" in screen_text(app)

        await pilot.resize_terminal(160, 48)  # wider: the columns left out come back
        await wait_for(pilot, lambda: "Patient" in trail_lines(app)[0])
        assert PATIENT in line_of(trail_lines(app)[1], "110106 Export")


@pytest.mark.parametrize("size", [(160, 48), (100, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_slash_filters_the_audit_trail_from_the_receivers_table(
    size: tuple[int, int],
) -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        trail = await open_trail(pilot)
        assert isinstance(app.focused, StatusTable) and app.focused.id == "target-table"
        assert "/ Filter audit" in screen_text(app)  # the footer says what / filters

        await pilot.press("slash")
        field = trail.query_one("#log-filter", Input)
        await wait_for(pilot, lambda: field.has_focus)
        await pilot.press(*"user:rad-martin", "enter")
        await wait_for(pilot, lambda: "filter: user rad-martin" in screen_text(app))
        _, rows = trail_lines(app)
        assert rows and all("rad-martin" in row for row in rows)
        text = screen_text(app)
        assert "0 of 1" not in text and "1 audit receiver" in text  # the receivers untouched
        assert line_of(text.splitlines(), "▲ WARN", "pacs-audit")

        receivers = app.screen.query_one("#target-table", StatusTable)
        receivers.focus()  # back on the receivers (a click): Escape shows the whole trail
        await wait_for(pilot, lambda: receivers.has_focus)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "filter:" not in screen_text(app))
        await wait_for(pilot, lambda: len(trail.rows) == len(AUDIT_LOG))


async def test_the_keys_list_says_what_slash_filters_on_the_sessions_screen() -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_trail(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        said = [
            row.description
            for section in help_screen.sections
            if section.title == "Sessions"
            for row in section.rows
            if row.keys == "/"
        ]
        assert len(said) == 1 and said[0].startswith("Filter the audit trail"), said


async def test_an_alert_comes_before_the_failed_logins_on_a_short_screen() -> None:
    """At 80x24 the failed-logins box shows a line or two: the burst's alert is first even when
    failed logins came after it."""
    from pacs_tui.model import Result, Status, Target, TargetKind

    from .test_whole_words import one_target_engine, started

    target = Target("pacs-audit", TargetKind.AUDIT_SOURCE, {"address": "udp 0.0.0.0:514"})
    failed = [
        {"ts": NOW - 60 + i, "user": "admin", "host": "10.9.8.7", "outcome": 4} for i in range(6)
    ]
    alert = {"ts": NOW - 300, "words": "5 failed logins in 5 min for user admin"}
    result = Result(
        Status.WARN,
        "5 failed logins in 5 min for user admin",
        {"audit_sessions": 0.0},
        {"alerts": [alert], "failed_logins": failed},
        ts=NOW - 1,
    )
    app = PacsApp(one_target_engine(target, result), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("8")
        await wait_for(pilot, lambda: "Failed logins and alerts: 7" in screen_text(app))
        lines = screen_text(app).splitlines()
        below = lines[next(i for i, line in enumerate(lines) if "Failed logins and" in line) :]
        first = next(line for line in below[1:] if line.strip() and "What" not in line)
        assert "⚠ 5 failed logins in 5 min for user admin" in first


async def test_at_80_columns_the_footer_keeps_quit_in_sight_and_gives_up_the_palette_key() -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_trail(pilot)

        def footer() -> str:
            return screen_text(app).splitlines()[-1]

        await wait_for(pilot, lambda: "q Quit" in footer())
        assert "/ Filter audit" in footer() and "^p" not in footer()
        assert "Probe" not in footer()  # receivers report on their own: nothing to probe
        await pilot.resize_terminal(120, 30)
        await wait_for(pilot, lambda: "^p Commands" in footer())
        assert "q Quit" in footer()
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "^p" not in footer() and "q Quit" in footer())
        await pilot.press("ctrl+p")  # the key works without its footer entry
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))


@pytest.mark.parametrize("rows", [22, 18])
async def test_on_a_short_terminal_the_panels_scroll_and_the_screen_does_not(rows: int) -> None:
    """Sessions and alerts taller than their share of 80x22 scroll inside it: the screen
    itself does not scroll (it did, header and summary with it), and the trail keeps rows;
    down to 18 rows (where the trail and the panels give up a few of theirs)."""
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW)
    async with app.run_test(size=(80, rows)) as pilot:
        await open_trail(pilot)
        alerts = app.screen.query_one("#alerts-title", Label)
        await wait_for(pilot, lambda: "alerts: 6" in str(alerts.render()))  # the panels filled
        await wait_for(pilot, lambda: len(trail_lines(app)[1]) >= 2)
        assert app.screen.max_scroll_y == 0
        top = screen_text(app).splitlines()
        assert "St. Example" in top[0] and "audit receiver" in top[1]
        assert "q Quit" in top[-1]


def test_a_narrow_event_cell_keeps_the_code_and_the_type() -> None:
    from pacs_tui.screens.sessions import event_words

    login, logout = "110114 User Authentication / Login", "110114 User Authentication / Logout"
    assert (event_words(login, 20), event_words(logout, 20)) == ("110114 Login", "110114 Logout")
    assert event_words(login, 40) == login  # whole where it fits
    assert event_words("110103 DICOM Instances Accessed", 20).startswith("110103 DICOM")
