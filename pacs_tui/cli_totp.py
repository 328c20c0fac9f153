"""``pacs-tui totp setup|check``: the TOTP secret (RFC 6238) that unlocks the UI's idle lock,
for the OS user running the command (by uid: ``$USER`` can say anything).

``setup`` makes a new random base32 secret, stores it as the secret ``totp-<user>`` (keyring,
else or with ``--file`` the 0600 secrets file) and prints what an authenticator app needs: the
``otpauth://`` URI (for a QR code) and the key to type. ``check`` reads a code from the terminal
without echo, or one line of stdin, never from the command line, and says whether it is valid
now: exit 0 valid, 1 not valid (or no secret).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from pacs_tui import secret_store, totp
from pacs_tui.cli_common import EXIT_USAGE, _err
from pacs_tui.operators import user_name
from pacs_tui.secret_store import SecretError, SecretNotFound
from pacs_tui.totp import TotpUnavailable
from pacs_tui.visible import visible

EXIT_NOT_VALID = 1
#: A code line read from stdin: a few bytes are plenty (six digits, a newline).
MAX_CODE_BYTES = 64


def cmd_totp(args: argparse.Namespace) -> int:
    action = args.totp_command
    if action is None:
        _err("pacs-tui totp: say setup or check (pacs-tui totp --help)")
        return EXIT_USAGE
    user = user_name(os.getuid())
    if action == "setup":
        return _setup(user, to_file=args.file)
    return _check(user)


def _setup(user: str, *, to_file: bool) -> int:
    name = totp.secret_name(user)
    try:
        secret_store.check_name(name)
    except SecretError:
        _err(
            f"pacs-tui totp setup: the user name {user!r} cannot name a secret "
            f"({secret_store.NAME_RULE} only): no TOTP secret can be stored for it"
        )
        return EXIT_USAGE
    had = _has_secret(name)
    secret = totp.new_secret()
    try:
        went = secret_store.set_secret(name, secret, to_file=to_file)
    except SecretError as exc:
        _err(f"pacs-tui totp setup: {exc}")
        return EXIT_NOT_VALID
    print(visible(f"TOTP secret for {user}: stored as secret {name} in {went}"))
    if had:
        print("It replaces the previous one: the old authenticator entry's codes no longer work.")
    now = secret_store.where(name)
    if not went.startswith(now.removeprefix("from ")):
        # $PACS_TUI_SECRET_TOTP_<USER> (or the keyring, for a file entry) is read before it.
        print(visible(f"note: secret {name} resolves {now}: the lock reads that one"))
    uri = totp.provisioning_uri(secret, user)
    print("Add it to an authenticator app (TOTP, RFC 6238: 30 s, 6 digits, SHA-1):")
    print(visible(f"  the URI, e.g. as a QR code (qrencode -t ansiutf8 'URI'): {uri}"))
    print(f"  or the key, typed: {secret}")
    print("Then: pacs-tui totp check (type the code the app shows).")
    return 0


def _has_secret(name: str) -> bool:
    try:
        secret_store.resolve(name, may_prompt=False)
    except SecretNotFound:
        return False
    except SecretError:  # unreadable: the new one goes in anyway, and says where
        return False
    return True


def _check(user: str) -> int:
    code = _read_code(user)
    try:
        secret = totp.load_secret(user)
    except TotpUnavailable as exc:
        _err(f"pacs-tui totp check: {exc}")
        return EXIT_NOT_VALID
    if not totp.is_code(code):
        print(f"not valid: a code is {totp.DIGITS} digits")
        return EXIT_NOT_VALID
    if totp.matching_step(secret, code) is None:
        print("not valid (is this machine's clock right? a code lasts 30 s)")
        return EXIT_NOT_VALID
    print("valid")
    return 0


def _read_code(user: str) -> str:
    """The code, typed without echo at a terminal, else one line of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass(visible(f"TOTP code for {user}: ")).strip()
        except EOFError:
            return ""
    if sys.stdin is None:
        return ""
    line = sys.stdin.buffer.readline(MAX_CODE_BYTES)
    return line.decode("utf-8", errors="replace").strip()
