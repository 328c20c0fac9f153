"""The Backups screen as an admin uses it: every recovery path on one table, the drills'
history under it, ``p`` on the drill's row runs one and it joins the history; a viewer's ``p``
is refused in words."""

from __future__ import annotations

from dataclasses import replace

from pacs_tui.app import PacsApp
from pacs_tui.config import Config
from pacs_tui.model import Status
from pacs_tui.operators import OperatorsConfig
from pacs_tui.screens.backups import BackupScreen

from .conftest import DRILL_ID, NOW, screen_text, scripted_engine, wait_for


async def test_recovery_paths_and_the_drill_history() -> None:
    engine = scripted_engine(nodes=False, backups=True)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.ready_at is not None)
        await pilot.press("9")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen))
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_for(pilot, lambda: screen.table.row_count == 4)
        await wait_for(pilot, lambda: len(screen.history_rows()) == 3)
        text = screen_text(app)
        # Worst first: the mirror lags past twice its RPO, the repository is past its RPO.
        assert text.index("pacs-mirror") < text.index("pacs-restic") < text.index("ris-db-dumps")
        assert "2 studies missing on the mirror, the oldest acquired 3 h ago" in text
        assert "Drill history" in text
        # The last integrity check: its verdict as a glyph before its age.
        restic = next(line for line in text.splitlines() if "pacs-restic" in line)
        assert f"{Status.OK.glyph} 5.0 h" in restic, restic
        # The mirror's detail lists the missing studies one a line (a UID whole on its line).
        while screen.selected_id() != "pacs-mirror":
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Missing on mirror" in screen_text(app))
        detail = screen_text(app).splitlines()
        first = next(i for i, line in enumerate(detail) if "Missing on mirror" in line)
        assert "1.2.826.0.1.3680043.8.498.17" in detail[first]
        assert "1.2.826.0.1.3680043.8.498.42" in detail[first + 1]
        assert "␊" not in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        words = [e.summary for e in screen.history_rows()]
        assert words[1] == "drill failed at find: the test study is not on the mirror"

        # The drill's row, then p: one more drill in the history, newest first.
        while screen.selected_id() != DRILL_ID:
            await pilot.press("down")
        await pilot.press("p")
        await wait_for(pilot, lambda: len(screen.history_rows()) == 4)
        assert screen.history_rows()[0].summary.startswith("drill passed: 2 instances")


async def test_a_viewer_may_not_run_a_drill() -> None:
    engine = scripted_engine(nodes=False, backups=True)
    # Operators configured, this user in no role: a viewer.
    engine.config = replace(
        engine.config, operators=OperatorsConfig(admin=("nobody-here",), configured=True)
    )
    assert isinstance(engine.config, Config)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.ready_at is not None)
        await pilot.press("9")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen))
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_for(pilot, lambda: len(screen.history_rows()) == 3)
        while screen.selected_id() != DRILL_ID:
            await pilot.press("down")
        await pilot.press("p")
        said = "(viewer) may not run a drill: it needs the admin role"
        await wait_for(pilot, lambda: any(said in str(n.message) for n in app._notifications))
        assert len(screen.history_rows()) == 3
