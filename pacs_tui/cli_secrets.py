"""``pacs-tui secrets set|delete|list|where`` and the secrets lines of ``config check``: a value
is read from the terminal or stdin, never from the command line, and never printed."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pacs_tui import secret_store
from pacs_tui.cli_common import EXIT_USAGE, _err
from pacs_tui.secret_store import SecretError, SecretNotFound
from pacs_tui.visible import visible

#: A value read from stdin: one line of at most this many bytes.
MAX_VALUE_BYTES = 64 * 1024
EXIT_REFUSED = 1


class _BadValue(Exception):
    """A value that is not stored (empty, too long, not UTF-8), in words."""


def cmd_secrets(args: argparse.Namespace) -> int:
    action = args.secrets_command
    if action is None:
        _err("pacs-tui secrets: say set, delete, list or where (pacs-tui secrets --help)")
        return EXIT_USAGE
    if action == "list":
        return _list()
    try:
        name = secret_store.check_name(args.name)
    except SecretError as exc:
        _err(f"pacs-tui secrets {action}: {exc}")
        return EXIT_USAGE
    if action == "set":
        return _set(name, to_file=args.file)
    if action == "delete":
        return _delete(name)
    return _where(name)


def _set(name: str, *, to_file: bool) -> int:
    try:
        value = _read_value(name)
    except _BadValue as exc:
        _err(f"pacs-tui secrets set: {exc}")
        return EXIT_USAGE
    try:
        went = secret_store.set_secret(name, value, to_file=to_file)
    except SecretError as exc:
        _err(f"pacs-tui secrets set: {exc}")
        return EXIT_REFUSED
    print(visible(f"secret {name}: stored in {went}"))
    now = secret_store.where(name)
    if not went.startswith(now.removeprefix("from ")):
        # $PACS_TUI_SECRET_<NAME> (or the keyring, for a file entry) is read before it.
        print(visible(f"note: secret {name} resolves {now}"))
    return 0


def _read_value(name: str) -> str:
    """The value, from the terminal without echo (typed twice), else one line of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            value = getpass.getpass(f"Value of secret {name}: ")
            if value and getpass.getpass("Again: ") != value:
                raise _BadValue("the two values differ: nothing stored")
        except EOFError:  # ctrl-d at the prompt
            raise _BadValue("no value typed: nothing stored") from None
    else:
        value = _stdin_line()
    if not value:
        raise _BadValue("the value is empty: nothing stored")
    return value


def _stdin_line() -> str:
    if sys.stdin is None:
        return ""
    line = sys.stdin.buffer.readline(MAX_VALUE_BYTES + 2)  # the value, "\r\n"
    line = line.removesuffix(b"\n").removesuffix(b"\r")
    if len(line) > MAX_VALUE_BYTES:
        raise _BadValue("the value is longer than 64 KiB: nothing stored")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadValue("the value is not UTF-8 text: nothing stored") from None


def _delete(name: str) -> int:
    try:
        found = secret_store.delete_secret(name)
    except SecretError as exc:
        _err(f"pacs-tui secrets delete: {exc}")
        return EXIT_REFUSED
    variable = secret_store.env_name(name)
    if os.environ.get(variable):
        # Not ours to remove: say it still answers for the name.
        print(visible(f"note: ${variable} is set in this environment and still gives {name}"))
    if not found:
        _err(f"pacs-tui secrets delete: secret {name} is in neither the keyring nor the file")
        return EXIT_REFUSED
    print(visible(f"secret {name}: deleted from {' and '.join(found)}"))
    return 0


def _list() -> int:
    try:
        found = secret_store.list_secrets()
    except SecretError as exc:
        _err(f"pacs-tui secrets list: {exc}")
        return EXIT_REFUSED
    for name, where in found:
        print(visible(f"{name}: {where}"))
    if not found:
        print(visible(f"no secrets in {secret_store.secrets_file()} or $PACS_TUI_SECRET_*"))
    ring = secret_store.keyring_words()
    if ring == "keyring: no backend":
        print("keyring: no backend on this machine (secrets go to the file)")
    else:
        print(visible(f"{ring}: its entries cannot be listed; pacs-tui secrets where NAME"))
    return 0


def _where(name: str) -> int:
    found = secret_store.where(name)
    print(visible(f"secret {name}: {found}"))
    return 0 if found.startswith("from ") else EXIT_REFUSED


# -- config check -------------------------------------------------------------------------------


def config_secret_lines(path: Path) -> tuple[list[str], int]:
    """A line per ``secret:NAME`` in the config file (where it resolves from, or NOT FOUND and
    why; never the value) and how many are missing."""
    from pacs_tui.config import _read_bounded

    try:
        data = tomllib.loads(_read_bounded(path).decode("utf-8-sig"))
    except (OSError, ValueError):  # read a moment ago: changed since, `config check` again
        return [], 0
    lines: list[str] = []
    missing = 0
    for name in sorted(set(references(data))):
        try:
            source = secret_store.resolve(name).source
        except SecretNotFound as exc:
            lines.append(f"secret {name}: NOT FOUND ({'; '.join(exc.reasons)})")
            missing += 1
        else:
            lines.append(f"secret {name}: from {source}")
    return lines, missing


def references(value: Any) -> Iterator[str]:
    """The names of every ``"secret:NAME"`` string in a parsed TOML document. A string that
    starts so but has no valid name is left to the key's reader, which says what it expects."""
    if isinstance(value, str):
        try:
            name = secret_store.reference_name(value)
        except SecretError:
            return
        if name is not None:
            yield name
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
