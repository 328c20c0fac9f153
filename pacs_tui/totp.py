"""TOTP codes (RFC 6238: 30 s steps, 6 digits, HMAC-SHA1) for the UI's idle lock and
``pacs-tui totp``, with pyotp.

An operator's secret is the secret ``totp-<user>`` of :mod:`pacs_tui.secret_store` (keyring ▸
``$PACS_TUI_SECRET_TOTP_<USER>`` ▸ the 0600 secrets file), written by ``pacs-tui totp setup``.
A code is accepted one step either side of now (``valid_window=1``: a clock 30 s off, a code
typed as it turned over), and a code's step only once (RFC 6238 §5.2: a code seen over a
shoulder cannot unlock again). :class:`Attempts` closes the field after :data:`FREE_TRIES`
wrong codes in a row, for :data:`FIRST_WAIT` seconds, doubled at each further wrong code up to
:data:`MAX_WAIT`. Nothing here imports Textual; :func:`load_secret` may block (a keyring):
the UI calls it in a thread.
"""

from __future__ import annotations

import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp

from pacs_tui import secret_store
from pacs_tui.secret_store import SecretError, SecretNotFound

DIGITS = 6
STEP_SECONDS = 30
VALID_WINDOW = 1
ISSUER = "pacs-tui"
#: Wrong codes in a row before the field closes, how long it first closes, and the longest.
FREE_TRIES = 5
FIRST_WAIT = 30.0
MAX_WAIT = 15 * 60.0

_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


class TotpUnavailable(Exception):
    """The operator's secret cannot be had (none stored, unreadable, not base32), in words."""


def secret_name(user: str) -> str:
    """The secret holding ``user``'s TOTP key: ``totp-alice``."""
    return f"totp-{user}"


def setup_hint(user: str) -> str:
    return f"run `pacs-tui totp setup` as {user}"


def load_secret(user: str) -> str:
    """``user``'s base32 secret; :class:`TotpUnavailable` saying why not. Blocking (a keyring
    may answer over D-Bus): call it in a thread from the UI. Never asks at a terminal."""
    name = secret_name(user)
    try:
        secret_store.check_name(name)
    except SecretError:
        raise TotpUnavailable(
            f"the user name {user!r} cannot name a secret ({secret_store.NAME_RULE} only): "
            "no TOTP code can unlock for this user"
        ) from None
    try:
        value = secret_store.resolve(name, may_prompt=False).value
    except SecretNotFound:
        raise TotpUnavailable(f"no TOTP secret for {user}: {setup_hint(user)}") from None
    except SecretError as exc:
        raise TotpUnavailable(f"the TOTP secret for {user} cannot be read: {exc}") from None
    problem = secret_problem(value)
    if problem is not None:
        raise TotpUnavailable(
            f"the TOTP secret for {user} is not a usable key ({problem}): {setup_hint(user)} again"
        )
    return value


def secret_problem(value: str) -> str | None:
    """Why ``value`` is not a base32 TOTP key pyotp takes (at least 112 bits), or None."""
    if not value.strip():
        return "it is empty"
    try:
        pyotp.TOTP(value).at(0)
    except (binascii.Error, ValueError, TypeError) as exc:
        return str(exc) or type(exc).__name__  # pyotp's words; never the value
    return None


def is_code(text: str) -> bool:
    """Six digits, nothing else."""
    return _CODE.fullmatch(text) is not None


def new_secret() -> str:
    """A fresh random base32 key (160 bits)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, user: str) -> str:
    """The ``otpauth://totp/pacs-tui:alice?secret=…&issuer=pacs-tui`` URI an authenticator
    app reads (as a QR code, or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step ``code`` is right for (this one or one either side), None if wrong."""
    if not is_code(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    for_time = time.time() if now is None else now
    if not totp.verify(code, for_time=for_time, valid_window=VALID_WINDOW):
        return None
    # Which step it was right for (pyotp 2.9 has no verify_and_get_timecode), to refuse it later.
    step = totp.timecode(for_time)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step + offset)):
            return step + offset
    return None


def wait_after(failures: int) -> float:
    """Seconds the field stays closed after ``failures`` wrong codes in a row: none before
    :data:`FREE_TRIES`, then 30 s, 60 s, 120 s… up to 15 min."""
    if failures < FREE_TRIES:
        return 0.0
    doublings: int = min(failures - FREE_TRIES, 16)
    return min(FIRST_WAIT * float(2**doublings), MAX_WAIT)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a code typed earned: ``unlocked``; else why not, the wrong codes in a row, and the
    seconds the field is now closed for."""

    unlocked: bool
    words: str
    failures: int = 0
    wait: float = 0.0


class Attempts:
    """The wrong codes in a row and the field's closing, for one operator in one process.
    ``clock`` is monotonic (a change of the wall clock neither opens nor closes the field)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failures = 0
        self._closed_until = 0.0
        self._last_step = -1

    def wait_left(self) -> float:
        """Seconds before a code may be typed again (0: now)."""
        return max(0.0, self._closed_until - self.clock())

    def judge(self, secret: str, code: str, now: float | None = None) -> Verdict:
        """Check ``code`` against ``secret`` (at wall-clock ``now``) and count it."""
        left = self.wait_left()
        if left > 0:
            return Verdict(
                False, f"closed: try again in {seconds_words(left)}", self.failures, left
            )
        step = matching_step(secret, code, now)
        if step is not None and step <= self._last_step:
            # Not counted as wrong: the operator's own code, typed again before the next one.
            return Verdict(False, "this code was used already: wait for the next one")
        if step is None:
            self.failures += 1
            wait = wait_after(self.failures)
            self._closed_until = self.clock() + wait
            return Verdict(False, "wrong code", self.failures, wait)
        self.failures = 0
        self._closed_until = 0.0
        self._last_step = step
        return Verdict(True, "unlocked")


def seconds_words(seconds: float) -> str:
    """``"28 s"``, ``"2 min"``, ``"14 min 30 s"`` (rounded up to the second)."""
    whole = max(0, int(-(-seconds // 1)))
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
