"""The idle lock and wall mode as the person at the keyboard meets them (Pilot).

An engine whose ``[operators] idle_lock`` is short: left without a key, the UI covers itself
with the lock screen (no target, message or patient behind it readable); the keys that switch
screens or act do nothing; a wrong TOTP code is refused in words, five close the field for a
while; the right code (its secret in ``$PACS_TUI_SECRET_TOTP_ALICE``) brings back the screen
that was showing. Keys pressed within the idle time keep it unlocked. Wall mode never locks,
says "WALL", refuses the probe keys in words and shows no patient data. ``pacs-tui totp setup``
and ``check`` run as processes with HOME, the XDG folders and the keyring backend in tmp_path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pyotp
import pytest
from textual import events
from textual.command import CommandPalette
from textual.pilot import Pilot

from pacs_tui import app as app_module
from pacs_tui import operators, secret_store, totp
from pacs_tui.app import PacsApp
from pacs_tui.engine import Engine
from pacs_tui.operators import OperatorsConfig
from pacs_tui.screens.help import HelpScreen
from pacs_tui.screens.hl7_tracker import Hl7TrackerScreen
from pacs_tui.screens.lock import CodeInput, LockScreen
from pacs_tui.screens.message_detail import MessageDetailScreen
from pacs_tui.screens.message_log import MessageLog
from pacs_tui.screens.sessions import AuditLog, SessionsScreen
from pacs_tui.screens.target_detail import TargetDetailScreen
from pacs_tui.screens.target_table import TargetTableScreen
from pacs_tui.totp import Attempts
from pacs_tui.wall import READ_ONLY

from .conftest import (
    NODES,
    NOW,
    PATIENT_ID,
    SITE,
    FixedCheck,
    screen_text,
    scripted_engine,
    wait_for,
)

USER = "alice"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TARGET_IDS = tuple(node[0] for node in NODES)


@pytest.fixture(autouse=True)
def operator_alice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The operator is "alice" (whoever runs the tests), with no keyring backend (the user's
    own is never touched), a secrets file in tmp_path and no secret in the environment."""
    monkeypatch.setattr(operators, "user_name", lambda uid: USER)
    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in list(os.environ):
        if name.startswith("PACS_TUI_SECRET"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(tmp_path / "secrets" / "secrets.toml"))
    # The lock follows a change of idle_lock (a reload) within this, here at once.
    monkeypatch.setattr(app_module, "IDLE_RECHECK", 0.05)
    yield


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """Alice's TOTP secret, where the lock looks for it."""
    monkeypatch.setenv(secret_store.env_name(f"totp-{USER}"), SECRET)
    return SECRET


def idle_lock(engine: Engine, seconds: float) -> None:
    """``[operators] idle_lock`` (read live: as after a reload); alice is a viewer."""
    engine.config = dataclasses.replace(
        engine.config, operators=OperatorsConfig(idle_lock=seconds, configured=True)
    )


def locking_engine(seconds: float) -> Engine:
    engine = scripted_engine()
    idle_lock(engine, seconds)
    return engine


def wrong_code(key: str = SECRET) -> str:
    """A code that is right for no step around now."""
    totp = pyotp.TOTP(key)
    right = {totp.at(time.time() + 30 * step) for step in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in right)


def lock_words(app: PacsApp) -> str:
    """The lock screen's words, the box's lines joined (a sentence may wrap)."""
    lines = (line.strip().strip("┃━┏┓┗┛").strip() for line in screen_text(app).splitlines())
    return " ".join(line for line in lines if line)


async def lock_says(pilot: Pilot[None], words: str) -> None:
    app = pilot.app
    assert isinstance(app, PacsApp)
    await wait_for(pilot, lambda: words in lock_words(app))


def notified(app: PacsApp, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


async def started(pilot: Pilot[None]) -> PacsApp:
    app = pilot.app
    assert isinstance(app, PacsApp)
    await wait_for(pilot, lambda: app.ready_at is not None and app.ctx is not None)
    return app


async def type_code(pilot: Pilot[None], code: str) -> None:
    await pilot.press(*code, "enter")


# -- the lock ------------------------------------------------------------------------------------


async def test_idle_locks_hides_everything_and_the_right_code_brings_back_the_same_screen(
    secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pacs_tui")
    engine = locking_engine(600.0)
    app = PacsApp(engine, clock=lambda: NOW)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await started(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await wait_for(pilot, lambda: "flaky-us" in screen_text(app))
        await pilot.press("enter")  # a detail screen over the table
        await wait_for(pilot, lambda: isinstance(app.screen, TargetDetailScreen))
        detail = app.screen
        idle_lock(engine, 0.5)  # then no key

        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        idle_lock(engine, 600.0)  # no second lock while the test types
        await wait_for(pilot, lambda: "Operator: alice" in screen_text(app))
        text = screen_text(app)
        assert SITE in text and "Locked after 0.5 s without a key, since 03:12:00" in text
        assert not any(target in text for target in TARGET_IDS)
        assert "DOWN" not in text and "connection refused" not in text

        # The number keys, probe all, the palette and the keys list do nothing: typed into the
        # code field, or (the field without the focus) refused by the app.
        probes = sum(c.calls for c in engine.checks if isinstance(c, FixedCheck))
        await pilot.press("1", "3")
        app.screen.set_focus(None)
        await pilot.press("1", "2", "a", "ctrl+p", "question_mark", "escape", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LockScreen) and app.current_mode == "nodes"
        assert not any(isinstance(s, CommandPalette | HelpScreen) for s in app.screen_stack)
        assert sum(c.calls for c in engine.checks if isinstance(c, FixedCheck)) == probes
        assert not app._notifications
        assert not any(target in screen_text(app) for target in TARGET_IDS)

        app.screen.query_one(CodeInput).focus()
        wrong = wrong_code()
        await type_code(pilot, wrong)
        await lock_says(pilot, "Wrong code (1 in a row; 4 more and the field closes for 30 s)")
        assert isinstance(app.screen, LockScreen)
        await type_code(pilot, "123")
        await lock_says(pilot, "A code is 6 digits")

        await type_code(pilot, pyotp.TOTP(secret).now())
        await wait_for(pilot, lambda: not app.locked)
        assert app.screen is detail and app.current_mode == "nodes"
        await wait_for(pilot, lambda: "flaky-us" in screen_text(app))
    logged = caplog.text
    assert "screen locked for alice: locked after 0.5 s without a key" in logged
    assert "unlock for alice: wrong code (1 in a row)" in logged
    assert "screen unlocked by alice" in logged
    assert wrong not in logged and secret not in logged


def move_mouse(app: PacsApp, x: int) -> None:
    """A mouse move as the terminal's driver delivers it (to the app, not to a widget)."""
    assert app._driver is not None
    event = events.MouseMove(None, x, 5, 1, 0, 0, False, False, False, screen_x=x, screen_y=5)
    event.set_sender(app)
    app._driver.send_message(event)


async def test_keys_and_the_mouse_within_the_idle_time_keep_it_unlocked() -> None:
    app = PacsApp(locking_engine(1.5), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("2")
        for index in range(12):  # 2.4 s of keys, one every 0.2 s: longer than the idle time
            await pilot.press("down" if index % 2 else "up")
            await pilot.pause(0.2)
            assert not app.locked and not isinstance(app.screen, LockScreen)
        for index in range(12):  # the same with the mouse only
            move_mouse(app, 10 + index)
            await pilot.pause(0.2)
            assert not app.locked and not isinstance(app.screen, LockScreen)
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))  # then nothing


async def test_without_a_secret_the_lock_says_what_to_do_and_q_quits() -> None:
    app = PacsApp(locking_engine(0.3), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        said = (
            "no TOTP secret for alice: run `pacs-tui totp setup` as alice; until then only "
            "quitting (q) leaves this screen"
        )
        await lock_says(pilot, said)
        await type_code(pilot, "123456")  # no secret: no code can be right; not a traceback
        await lock_says(pilot, said)
        assert isinstance(app.screen, LockScreen)
        await pilot.press("q")  # the field takes digits only: q quits
    assert app.return_code == 0


async def test_quitting_while_the_secret_is_read_leaves_cleanly(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read finishing just as the screen goes once raised NoMatches (LockScreen.closing now
    # guards it); that moment cannot be forced here, this is the flow around it.
    def slow_keyring(user: str) -> str:  # a keyring that takes its time (D-Bus)
        time.sleep(0.5)
        return secret

    monkeypatch.setattr(totp, "load_secret", slow_keyring)
    app = PacsApp(locking_engine(600.0), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        await pilot.press("q")  # the lock screen's read of the secret still running
    assert app.return_code == 0


async def test_five_wrong_codes_close_the_field_for_30_s_then_longer(secret: str) -> None:
    now = [1000.0]
    engine = locking_engine(600.0)
    app = PacsApp(engine, clock=lambda: NOW)
    app.unlock_attempts = Attempts(clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+l")  # the lock key: at once
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        assert "Locked at the operator's request (^l)" in lock_words(app)
        field = app.screen.query_one(CodeInput)
        wrong = wrong_code()
        for count in range(1, 5):
            await type_code(pilot, wrong)
            await lock_says(pilot, f"Wrong code ({count} in a row")
        await type_code(pilot, wrong)
        await lock_says(
            pilot, "5 wrong codes in a row: the code field is closed. Try again in 30 s"
        )
        assert field.disabled
        await pilot.press(*pyotp.TOTP(secret).now(), "enter")  # the field takes nothing
        assert app.locked
        now[0] += 12
        await lock_says(pilot, "Try again in 18 s")
        now[0] += 18
        await lock_says(pilot, "The field is open again")
        await wait_for(pilot, lambda: app.focused is field)
        assert not field.disabled
        await type_code(pilot, wrong)  # the sixth: twice as long
        await lock_says(pilot, "6 wrong codes in a row")
        assert "Try again in 1 min" in lock_words(app)
        now[0] += 60
        await wait_for(pilot, lambda: not field.disabled)
        await type_code(pilot, pyotp.TOTP(secret).now())
        await wait_for(pilot, lambda: not app.locked)
        assert app.unlock_attempts.failures == 0


async def test_the_lock_key_does_nothing_where_there_is_no_idle_lock() -> None:
    app = PacsApp(scripted_engine(), clock=lambda: NOW)  # no [operators] table
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not app.locked and not isinstance(app.screen, LockScreen)
        assert app.lock_after() == 0


# -- wall mode -----------------------------------------------------------------------------------


async def test_wall_mode_never_locks_says_wall_and_refuses_the_action_keys() -> None:
    engine = locking_engine(0.2)
    app = PacsApp(engine, clock=lambda: NOW, wall=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: "WALL" in screen_text(app).splitlines()[0])
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, TargetTableScreen))
        await wait_for(pilot, lambda: "WALL" in screen_text(app).splitlines()[0])
        probes = sum(c.calls for c in engine.checks if isinstance(c, FixedCheck))
        assert "Probe" not in screen_text(app).splitlines()[-1]  # not offered on a wall
        await pilot.press("p")  # yet it says why it does nothing
        await wait_for(pilot, lambda: notified(app, READ_ONLY))
        app.clear_notifications()
        await pilot.press("a")
        await wait_for(pilot, lambda: notified(app, READ_ONLY))
        await pilot.press("ctrl+l")
        await pilot.press("slash", *"flaky", "enter")  # filters are fine
        await wait_for(pilot, lambda: "slow-viewer" not in screen_text(app))
        # Five idle times without a key: a wall terminal is never locked.
        await pilot.pause(1.0)
        assert not app.locked and not isinstance(app.screen, LockScreen)
        assert sum(c.calls for c in engine.checks if isinstance(c, FixedCheck)) == probes


async def test_wall_mode_shows_no_patient_data_in_the_message_log() -> None:
    app = PacsApp(scripted_engine(nodes=False, hl7=True), clock=lambda: NOW, wall=True)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await started(pilot)
        await pilot.press(app.key_for("screen.hl7"))
        await wait_for(pilot, lambda: isinstance(app.screen, Hl7TrackerScreen))
        await wait_for(pilot, lambda: "HIS0000029" in screen_text(app))
        # Columns measured (the widest note drawn whole): a patient cell would be seen whole.
        await wait_for(pilot, lambda: "no ACK: the upstream closed" in screen_text(app))
        log_view = app.screen.query_one(MessageLog)
        assert log_view.rows and all(row.patient == "" for row in log_view.rows)
        assert "#5e1b0c2d" not in screen_text(app)

        await pilot.press("tab", "slash")
        # What the field offers to filter by leaves out the patient, which a wall refuses.
        await wait_for(pilot, lambda: "type ADT^A01, ACK AE/none or control ID" in screen_text(app))
        assert "patient:" not in screen_text(app) and "#ref" not in screen_text(app)
        await pilot.press(*f"patient:{PATIENT_ID}", "enter")
        await wait_for(pilot, lambda: notified(app, "no patient data: a search by patient"))
        assert "one patient" not in screen_text(app) and PATIENT_ID not in screen_text(app)
        assert len(log_view.rows) == 30  # the filter was not applied

        app.clear_notifications()
        log_view.table.focus()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: notified(app, "a message's content is not shown here"))
        assert not any(isinstance(s, MessageDetailScreen) for s in app.screen_stack)


async def test_wall_mode_shows_no_patient_in_the_audit_trail() -> None:
    app = PacsApp(scripted_engine(nodes=False, audit=True), clock=lambda: NOW, wall=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(pilot)
        await pilot.press(app.key_for("screen.sessions"))
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
        trail = app.screen.query_one(AuditLog)
        await wait_for(pilot, lambda: len(trail.rows) >= 10)
        assert all(row.patient == "" for row in trail.rows)
        assert "#7a11ce5e" not in screen_text(app)


# -- pacs-tui totp -------------------------------------------------------------------------------


def totp_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PACS_TUI_", "PYTHON_KEYRING", "XDG_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return subprocess.run(
        [sys.executable, "-m", "pacs_tui", "totp", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_totp_setup_stores_a_secret_in_a_0600_file_and_check_accepts_its_code(
    tmp_path: Path,
) -> None:
    out = totp_cli(tmp_path, "setup")
    assert out.returncode == 0, out.stderr
    file = tmp_path / "config" / "pacs-tui" / "secrets" / "secrets.toml"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert f"stored as secret totp-{pwd.getpwuid(os.getuid()).pw_name} in file {file}" in out.stdout
    uri = next(w for w in out.stdout.split() if w.startswith("otpauth://totp/pacs-tui:"))
    printed = next(line for line in out.stdout.splitlines() if "or the key, typed:" in line)
    key = printed.split()[-1]
    assert pyotp.parse_uri(uri).secret == key
    assert key in file.read_text()

    good = totp_cli(tmp_path, "check", stdin=pyotp.TOTP(key).now() + "\n")
    assert (good.returncode, good.stdout.strip()) == (0, "valid")
    bad_code = wrong_code(key)
    bad = totp_cli(tmp_path, "check", stdin=bad_code + "\n")
    assert bad.returncode == 1 and bad.stdout.startswith("not valid")
    assert bad_code not in bad.stdout + bad.stderr


def test_totp_check_without_a_secret_says_how_to_set_one_up(tmp_path: Path) -> None:
    out = totp_cli(tmp_path, "check", stdin="123456\n")
    assert out.returncode == 1
    assert "no TOTP secret for" in out.stderr and "pacs-tui totp setup" in out.stderr
    assert "Traceback" not in out.stderr
    extra = totp_cli(tmp_path, "check", "123456")  # a code is never an argument
    assert extra.returncode == 2 and "123456" not in extra.stderr
