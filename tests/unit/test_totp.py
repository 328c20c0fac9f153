"""TOTP for the idle lock (:mod:`pacs_tui.totp`): RFC 6238 codes with pyotp, one step either
side of now, a code's step accepted once, the field closed after five wrong codes in a row
(30 s, doubled at each further one, up to 15 min), and a missing or broken secret in words."""

from __future__ import annotations

import os
from pathlib import Path

import keyring.core
import pyotp
import pytest

from pacs_tui import secret_store, totp
from pacs_tui.totp import Attempts, TotpUnavailable

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T = 1_709_608_320.0  # a step's start: 2024-03-05 03:12:00 UTC


@pytest.fixture(autouse=True)
def no_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = keyring.core.load_keyring("keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", failing)
    for name in list(os.environ):
        if name.startswith("PACS_TUI_SECRET"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PACS_TUI_SECRETS_FILE", str(tmp_path / "s" / "secrets.toml"))


def code_at(ts: float) -> str:
    return pyotp.TOTP(SECRET).at(ts)


def test_a_code_is_right_one_step_either_side_and_no_further() -> None:
    assert totp.matching_step(SECRET, code_at(T), T) == int(T // 30)
    assert totp.matching_step(SECRET, code_at(T - 30), T) == int(T // 30) - 1
    assert totp.matching_step(SECRET, code_at(T + 30), T) == int(T // 30) + 1
    assert totp.matching_step(SECRET, code_at(T - 60), T) is None
    assert totp.matching_step(SECRET, code_at(T)[:5], T) is None
    assert totp.matching_step(SECRET, "12345a", T) is None


def test_a_code_unlocks_once_and_wrong_codes_close_the_field_longer_each_time() -> None:
    clock = [0.0]
    attempts = Attempts(clock=lambda: clock[0])
    assert attempts.judge(SECRET, code_at(T), T).unlocked
    again = attempts.judge(SECRET, code_at(T), T + 5)
    assert not again.unlocked and "used already" in again.words and again.failures == 0
    wrong = next(
        c for c in ("000000", "111111", "222222") if totp.matching_step(SECRET, c, T) is None
    )
    waits = [attempts.judge(SECRET, wrong, T).wait for _ in range(4)]
    assert waits == [0.0] * 4
    assert attempts.judge(SECRET, wrong, T).wait == 30.0
    closed = attempts.judge(SECRET, code_at(T + 30), T + 30)  # even the right code: closed
    assert not closed.unlocked and closed.words == "closed: try again in 30 s"
    clock[0] += 30
    assert attempts.judge(SECRET, wrong, T).wait == 60.0
    assert [totp.wait_after(n) for n in range(5, 12)] == [30, 60, 120, 240, 480, 900, 900]
    clock[0] += 60
    assert attempts.judge(SECRET, code_at(T + 30), T + 30).unlocked
    assert attempts.failures == 0 and attempts.wait_left() == 0


def test_a_missing_or_broken_secret_is_said_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TotpUnavailable, match="no TOTP secret for bob: run `pacs-tui totp setup`"):
        totp.load_secret("bob")
    variable = secret_store.env_name("totp-bob")
    monkeypatch.setenv(variable, "JBSWY3DPEHPK3PXP")  # 80 bits: pyotp wants 112 at least
    with pytest.raises(TotpUnavailable, match=r"not a usable key .*112 bits"):
        totp.load_secret("bob")
    monkeypatch.setenv(variable, "not base32!" * 3)
    with pytest.raises(TotpUnavailable, match="not a usable key") as refused:
        totp.load_secret("bob")
    assert "not base32!" not in str(refused.value)  # never the value
    with pytest.raises(TotpUnavailable, match="cannot name a secret"):
        totp.load_secret("uid 1000")
    monkeypatch.setenv(variable, SECRET)
    assert totp.load_secret("bob") == SECRET


def test_the_provisioning_uri_names_the_user_and_the_issuer() -> None:
    uri = totp.provisioning_uri(SECRET, "alice")
    assert uri.startswith("otpauth://totp/pacs-tui:alice?secret=" + SECRET)
    assert pyotp.parse_uri(uri).issuer == "pacs-tui"
    assert totp.secret_problem(totp.new_secret()) is None
    assert totp.seconds_words(0.2) == "1 s" and totp.seconds_words(870) == "14 min 30 s"
