"""The idle lock's screen: over everything, the site, why and since when it is locked, who is
at the keyboard, and a field for the 6-digit TOTP code (RFC 6238) of that operator.

It covers the whole terminal with an opaque background: no target, message or patient of the
screens under it shows, nor a notification (the app holds them while locked). The code is
checked against the secret ``totp-<operator>`` (:mod:`pacs_tui.totp`), read in a thread at each
try, so a ``pacs-tui totp setup`` done meanwhile counts; the right code posts
:class:`LockScreen.Unlocked` and the app takes the screen away. Wrong codes close the field for
a while after five in a row (:class:`~pacs_tui.totp.Attempts`), said with the time left. Only
``q`` (or ctrl+q) leaves without a code: the field takes digits only, so ``q`` reaches its
binding. Every try is logged (the user, never the code).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Label

from pacs_tui import totp
from pacs_tui.totp import Attempts, TotpUnavailable
from pacs_tui.ui_format import when
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible
from pacs_tui.widgets.footer import ScreenFooter

log = logging.getLogger(__name__)

#: A keyring that does not answer within this is said so (the try is not counted).
LOAD_TIMEOUT = 10.0
PROMPT = "Type the 6-digit code your authenticator app shows for pacs-tui, then Enter."
ONLY_QUIT = "until then only quitting (q) leaves this screen"


def idle_words(seconds: float) -> str:
    """``"15 min"``, ``"90 s"``, ``"0.5 s"``: how long without a key locks."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:g} s"


class CodeInput(Input):
    """The code field: it takes digits only; any other key goes to the bindings (``q``)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()


class LockScreen(Screen[None]):
    """The lock: opaque, the whole terminal, a code field and nothing of the site's state."""

    DEFAULT_CSS = """
    LockScreen { align: center middle; background: $background; }
    LockScreen > #lock-box {
        width: 76;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: heavy $warning;
    }
    LockScreen #lock-box > Label { width: 1fr; }
    LockScreen #lock-box > #lock-title { text-style: bold reverse; padding: 0 1; width: auto; }
    LockScreen #lock-site { text-style: bold; margin-top: 1; }
    LockScreen #lock-entry { height: 1; margin-top: 1; }
    LockScreen #lock-code-label { width: auto; padding-right: 1; text-style: bold; }
    LockScreen #lock-code { width: 12; }
    LockScreen #lock-note { margin-top: 1; height: auto; }
    LockScreen #lock-note.-refused { text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: it must work whatever has the focus (the field takes digits only).
        Binding(
            "q",
            "app.quit",
            "Quit",
            id="lock.quit",
            priority=True,
            tooltip="Quit pacs-tui (no code needed to leave)",
        ),
    ]

    AUTO_FOCUS = "#lock-code"

    class Unlocked(Message):
        """The right code was typed: the app takes the lock away."""

        def __init__(self, operator: str) -> None:
            super().__init__()
            self.operator = operator

    def __init__(
        self,
        *,
        site: str,
        operator: str,
        why: str,
        since: float,
        now: Callable[[], float],
        tz: str | None,
        attempts: Attempts,
    ) -> None:
        super().__init__(id="lock-screen")
        self.site = site
        self.operator = operator
        self.why = why
        self.since = since
        self.now = now
        self.tz = tz
        self.attempts = attempts
        self._closed_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="lock-box"):
            yield Label("LOCKED", id="lock-title")
            yield Label(visible(self.site, VALUE_LIMIT), id="lock-site", markup=False)
            since = when(self.since, self.now(), self.tz)
            why = visible(f"{self.why}, since {since}", TEXT_LIMIT)  # a key from the keymap
            yield Label(why, id="lock-why", markup=False)
            yield Label(f"Operator: {visible(self.operator, VALUE_LIMIT)}", markup=False)
            with Horizontal(id="lock-entry"):
                yield Label("TOTP code:", id="lock-code-label")
                yield CodeInput(
                    placeholder="6 digits",
                    restrict=r"[0-9]*",
                    max_length=totp.DIGITS,
                    password=True,
                    compact=True,
                    id="lock-code",
                )
            yield Label(f"{PROMPT} q quits.", id="lock-note", markup=False)
        yield ScreenFooter()

    def on_mount(self) -> None:
        if self.attempts.wait_left() > 0:  # locked again while the field was closed
            self._close_field()
        self._look_for_secret()

    @property
    def field(self) -> CodeInput:
        return self.query_one("#lock-code", CodeInput)

    @property
    def closing(self) -> bool:
        """Taken away (unlocked) or the app quits: a secret read finishing now says nothing.
        (Textual 8.2's flags for a node being removed, as :attr:`PacsScreen.closing` reads.)"""
        return self._pruning or self._closing or self._closed or not self.is_attached

    def say(self, text: str, *, refused: bool = False) -> None:
        """The line under the field (our own words, or a secret store's made visible)."""
        if self.closing:
            return
        note = self.query_one("#lock-note", Label)
        note.update(visible(text, TEXT_LIMIT))
        note.set_class(refused, "-refused")

    # -- the secret ---------------------------------------------------------------------------

    async def _load_secret(self) -> str | None:
        """The operator's secret, or None after saying why there is none."""
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(totp.load_secret, self.operator), LOAD_TIMEOUT
            )
        except TimeoutError:
            words = f"the keyring did not answer within {LOAD_TIMEOUT:g} s: try again"
            log.warning("unlock for %s: %s", self.operator, words)
            self.say(f"{words[0].upper()}{words[1:]}.", refused=True)
        except TotpUnavailable as exc:
            log.warning("unlock for %s: %s", self.operator, exc)
            self.say(f"{exc}; {ONLY_QUIT}.", refused=True)
        return None

    @work(exclusive=True, group="lock-secret")
    async def _look_for_secret(self) -> None:
        """Say at once when no code can unlock (no secret for this operator)."""
        await self._load_secret()

    # -- a code typed -------------------------------------------------------------------------

    @on(Input.Submitted, "#lock-code")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        code = event.value
        event.input.value = ""
        if self.attempts.wait_left() > 0:
            return
        if not totp.is_code(code):
            self.say(f"A code is {totp.DIGITS} digits. {PROMPT}", refused=bool(code))
            return
        self._check(code)

    @work(exclusive=True, group="lock-code")
    async def _check(self, code: str) -> None:
        self.say("Checking the code…")
        secret = await self._load_secret()
        if secret is None or self.closing:
            return
        verdict = self.attempts.judge(secret, code)
        if verdict.unlocked:
            self.say("Unlocked.")
            self.post_message(self.Unlocked(self.operator))
            return
        if not verdict.failures:  # the code of a step already used: not counted as wrong
            log.warning("unlock for %s: a code already used was typed again", self.operator)
            self.say(f"This code was used already: wait for the next one. {PROMPT}", refused=True)
            return
        log.warning("unlock for %s: wrong code (%d in a row)", self.operator, verdict.failures)
        if verdict.wait > 0:
            log.warning(
                "unlock for %s: the code field is closed for %s after %d wrong codes",
                self.operator,
                totp.seconds_words(verdict.wait),
                verdict.failures,
            )
            self._close_field()
            return
        left = totp.FREE_TRIES - verdict.failures
        first = totp.seconds_words(totp.FIRST_WAIT)
        self.say(
            f"Wrong code ({verdict.failures} in a row; {left} more and the field closes for "
            f"{first}). {PROMPT}",
            refused=True,
        )

    # -- the field closed after wrong codes ---------------------------------------------------

    def _close_field(self) -> None:
        if self.closing:
            return
        self.field.disabled = True
        self._say_closed()
        if self._closed_timer is None:
            self._closed_timer = self.set_interval(1.0, self._tick_closed)

    def _say_closed(self) -> None:
        left = totp.seconds_words(self.attempts.wait_left())
        self.say(
            f"{self.attempts.failures} wrong codes in a row: the code field is closed. "
            f"Try again in {left}; q quits.",
            refused=True,
        )

    def _tick_closed(self) -> None:
        if self.closing:
            return
        if self.attempts.wait_left() > 0:
            self._say_closed()
            return
        if self._closed_timer is not None:
            self._closed_timer.stop()
            self._closed_timer = None
        field = self.field
        field.disabled = False
        field.focus()
        self.say(f"The field is open again. {PROMPT}")
