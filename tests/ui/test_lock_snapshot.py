"""A snapshot of the idle lock's screen at 80x24 (pytest-textual-snapshot): the site, why and
since when it is locked, the operator, the code field, and nothing of the site's state.

Deterministic: the scripted site, a fixed clock, the operator named "alice" whoever runs it, a
TOTP secret in the environment (so the screen shows its prompt, not "no TOTP secret").
Regenerate with ``pytest tests/ui/test_lock_snapshot.py --snapshot-update`` and look at the SVG.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keyring.core
import pytest
from textual.pilot import Pilot

from pacs_tui import operators, secret_store
from pacs_tui.app import PacsApp
from pacs_tui.operators import OperatorsConfig
from pacs_tui.screens.lock import LockScreen

from .conftest import NOW, scripted_engine, wait_for
from .test_snapshots import settle


@pytest.fixture(autouse=True)
def operator_alice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operators, "user_name", lambda uid: "alice")
    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    for name in list(os.environ):
        if name.startswith("PACS_TUI_SECRET"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(secret_store.env_name("totp-alice"), "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


def test_lock_screen_80x24(snap_compare: Any) -> None:
    engine = scripted_engine()
    engine.config = dataclasses.replace(
        engine.config, operators=OperatorsConfig(idle_lock=900.0, configured=True)
    )
    app = PacsApp(engine, clock=lambda: NOW)

    async def locked(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("2")  # the Nodes table under the lock: none of it may show
        await settle(pilot)
        app.lock_now(idle=True)
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        await app.workers.wait_for_complete()  # the secret looked for
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=locked)
