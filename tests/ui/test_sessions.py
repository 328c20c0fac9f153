"""The Sessions screen fed by the demo PACS's audit trail over a real TCP connection: sessions
appear with their roles, the audit trail follows live and filters by event code and by user."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pacs_tui.app import PacsApp
from pacs_tui.audit import receiver
from pacs_tui.demo.audit_feed import DemoAuditFeed
from pacs_tui.demo.site import demo_config
from pacs_tui.engine import engine_with_history
from pacs_tui.screens.sessions import AuditLog, SessionsScreen
from pacs_tui.widgets import LightTable

from .conftest import screen_text, wait_for


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
