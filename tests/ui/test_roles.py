"""Operator roles as the person at the keyboard meets them: a viewer's probe keys are refused
in words and nothing is probed; the refusal is in the operator trail; an admin's go through."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from pacs_tui.app import PacsApp
from pacs_tui.config import Config, HistoryConfig, SiteConfig
from pacs_tui.engine import Engine
from pacs_tui.model import Result, Status, Target
from pacs_tui.operator_trail import trail_path
from pacs_tui.operators import OperatorsConfig
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.store import Store

from .conftest import wait_for

ME = pwd.getpwuid(os.getuid()).pw_name


class Counted:
    def __init__(self) -> None:
        self.target = Target("ris-db", "command", {"description": "RIS database"})
        self.interval, self.timeout, self.runs = 3600.0, 1.0, 0

    async def check(self) -> Result:
        self.runs += 1
        return Result(Status.OK, f"run {self.runs}")

    async def close(self) -> None:
        return None


def engine(folder: Path, operators: OperatorsConfig, check: Counted) -> Engine:
    config = Config(
        site=SiteConfig("Roles ward"),
        history=HistoryConfig(path=folder / "h.sqlite"),
        operators=operators,
    )
    return Engine(config, checks=[check], store=Store(folder / "h.sqlite"), first_run_spread=0)


async def test_a_viewers_probe_keys_are_refused_in_words(tmp_path: Path) -> None:
    check = Counted()
    viewer = OperatorsConfig(admin=("someone-else",), configured=True)
    app = PacsApp(engine(tmp_path, viewer, check))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await wait_for(pilot, lambda: check.runs == 1)
        await pilot.press("3")  # the Checks screen
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await pilot.press("p", "a")
        said = f"{ME} (viewer) may not probe now: it needs the technician role"
        await wait_for(pilot, lambda: any(said in str(n.message) for n in app._notifications))
        await wait_for(
            pilot, lambda: any("may not probe all" in str(n.message) for n in app._notifications)
        )
        assert check.runs == 1
        await pilot.press("q")
    lines = trail_path(tmp_path / "h.sqlite").read_text().splitlines()
    refused = [json.loads(line) for line in lines]
    assert [(r["action"], r["outcome"], r["user"]) for r in refused] == [
        ("probe-now", "refused", ME),
        ("probe-all", "refused", ME),
    ]


async def test_an_admins_probe_goes_through_and_is_recorded(tmp_path: Path) -> None:
    check = Counted()
    admin = OperatorsConfig(admin=(ME,), configured=True)
    app = PacsApp(engine(tmp_path, admin, check))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await wait_for(pilot, lambda: check.runs == 1)
        await pilot.press("3")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await pilot.press("p")
        await wait_for(pilot, lambda: check.runs == 2)
        await pilot.press("q")
    (line,) = trail_path(tmp_path / "h.sqlite").read_text().splitlines()
    assert json.loads(line)["outcome"] == "done" and json.loads(line)["role"] == "admin"
