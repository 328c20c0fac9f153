"""The pieces every config section is read with: :class:`Problem`, the :class:`Reader` that
collects problems instead of raising, and the value converters (durations, ids, hosts, ports).

Each source module reads its own section with these (see :mod:`pacs_tui.source`), so every
section reports its problems the same way and all of them are listed at once.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pacs_tui.durations import parse_duration
from pacs_tui.visible import visible


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: A key that is not there: "key: missing; expected ...".
MISSING: Any = _Missing()


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


#: A problem with no value to show (a syntax error): "key: expected ...".
NO_VALUE: Any = _NoValue()
T = TypeVar("T")
E = TypeVar("E")
#: Keys whose value is not printed back in a problem (a password typed into the TOML).
_SECRET_KEY = re.compile(r"(?i)pass|secret|token|credential")
HIDDEN = "(hidden)"
#: How a key or a table the config does not know begins (said without "expected").
UNKNOWN = "no such "
UNKNOWN_KEY = UNKNOWN + "key"
UNKNOWN_TABLE = UNKNOWN + "table"
_AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the config: where, what was found, what was expected."""

    key: str
    value: Any
    expected: str
    #: Lines shown under the problem, already made visible (the TOML line of a syntax error).
    detail: tuple[str, ...] = ()

    def __str__(self) -> str:
        # A quoted TOML key may hold any character: show it made visible.
        key = visible(self.key)
        if self.value is MISSING:
            text = f"{key}: missing; expected {self.expected}"
        elif self.value is NO_VALUE:
            text = f"{key}: expected {self.expected}"
        elif self.expected.startswith(UNKNOWN):  # not "expected no such key"
            text = f"{key} = {_show(self.value)}: {self.expected}"
        else:
            text = f"{key} = {_show(self.value)}: expected {self.expected}"
        return "".join([text, *(f"\n      {line}" for line in self.detail)])


@dataclass(frozen=True, slots=True)
class Listening:
    """A socket an entry listens on, recorded by :meth:`Reader.listens_on` as its address is
    read, for the config-wide check that no two entries take the same one (the second would
    fail to start, or, for ``move_bind``, fail the drill)."""

    key: str  # the config key, for the problem: 'hl7.listener "adt-in" (#1).bind'
    transport: Literal["tcp", "udp"]
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class EntryId:
    """The id of one entry of an array of tables, recorded by :meth:`Reader.entries` whether
    or not the rest of the entry reads, for the config-wide check that ids are unique."""

    table: str  # "hl7.listener"
    where: str  # how problems name the entry: 'hl7.listener "adt-in" (#1)'
    id: str


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return repr(value)


class NumberAsString(ValueError):
    """A numeric key given a quoted number (``port = "104"``): said as such."""


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to ``word`` (a typo's likely meaning), if one is close."""
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return close[0] if close else None


def some_of(names: Sequence[str], limit: int) -> str:
    """The first ``limit`` of ``names``, joined, "…" when there are more; "" for none."""
    return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")


def group_exists(name: str) -> bool:
    """Whether this machine has the group ``name`` (a config check of ``group:`` names)."""
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def did_you_mean(word: str, known: set[str] | tuple[str, ...]) -> str:
    """ "; did you mean 'x'?" for the closest known word, or ""."""
    close = closest(word, known)
    return f"; did you mean {close!r}?" if close else ""


def entry_path(table: str, index: int, raw: Any) -> str:
    """How an entry of an array of tables (``[[dicom.node]]``, ``[[command]]``) is named in
    messages: by its id when it has a valid one, always with its place in the file (#1 is the
    first), since two entries may share an id by mistake."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(raw_id, str) and ID_RE.match(raw_id):
        return f'{table} "{raw_id}" (#{index + 1})'
    return f"{table} (#{index + 1})"


class Reader:
    """Walks the parsed TOML, converting values and collecting problems instead of raising."""

    def __init__(self, *, check_paths: bool = False, source: Path | None = None) -> None:
        self.problems: list[Problem] = []
        self.check_paths = check_paths
        #: The config file being read: relative paths in it are relative to its folder.
        self.source = source
        # Recorded as read, so that an entry with a problem in another key still takes part
        # in the checks across entries (and is named with its place in the file).
        self.entry_ids: list[EntryId] = []
        self.listening: list[Listening] = []

    def problem(self, key: str, value: Any, expected: str) -> None:
        self.problems.append(Problem(key, value, expected))

    def listens_on(
        self, key: str, transport: Literal["tcp", "udp"], address: tuple[str, int] | Any
    ) -> None:
        """Record that the entry listens at ``address`` (as a converter gave it: nothing is
        recorded for a value that did not read)."""
        if isinstance(address, tuple):
            host, port = address
            self.listening.append(Listening(key, transport, host, port))

    def check_keys(self, table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{path}.{key}" if path else key
                known = ", ".join(sorted(allowed)) or "nothing"
                hint = did_you_mean(key, allowed)
                # A secret typed where it does not belong is not printed back.
                value = HIDDEN if _SECRET_KEY.search(key) else table[key]
                self.problem(full, value, f"{UNKNOWN_KEY}{hint} (known here: {known})")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, MISSING)
        if value is MISSING:
            return {}
        if not isinstance(value, dict):
            self.problem(path, value, "a table")
            return {}
        return value

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        convert: Callable[[Any], T],
        expected: str,
        default: T | Any = MISSING,
        *,
        shown: Callable[[Any], Any] | None = None,
    ) -> T | Any:
        """``table[key]`` through ``convert``; a problem (the value as ``shown`` makes it: a URL
        without its password) when it is missing and has no default, or does not convert."""
        value = table.get(key, MISSING)
        full = f"{path}.{key}"
        show = shown or (lambda v: v)
        if value is MISSING:
            if default is MISSING:
                self.problem(full, MISSING, expected)
            return default
        try:
            return convert(value)
        except NumberAsString:
            number = value.strip()
            hint = f"a number, not a string (write {key} = {number}, without quotes)"
            self.problem(full, show(value), f"{expected}; {hint}")
            return default
        except (TypeError, ValueError):
            self.problem(full, show(value), expected)
            return default

    def entries(
        self,
        raw: Any,
        table: str,
        read_one: Callable[[Mapping[str, Any], str], E | None],
    ) -> tuple[E, ...]:
        """Every entry of the array of tables ``[[table]]`` read with ``read_one(entry, path)``;
        an entry that is not a table, or whose id another entry already has, is a problem."""
        if not isinstance(raw, list):
            self.problem(table, raw, f"an array of tables: [[{table}]]")
            return ()
        seen: dict[str, int] = {}
        out: list[E] = []
        for index, item in enumerate(raw):
            path = entry_path(table, index, item)
            if not isinstance(item, dict):
                self.problem(path, item, "a table")
                continue
            raw_id = item.get("id")
            if isinstance(raw_id, str) and ID_RE.match(raw_id):
                self.entry_ids.append(EntryId(table, path, raw_id))
            if isinstance(raw_id, str):
                if raw_id in seen:
                    first = entry_path(table, seen[raw_id], raw[seen[raw_id]])
                    self.problem(f"{path}.id", raw_id, f"a unique id ({first} has it)")
                seen.setdefault(raw_id, index)
            entry = read_one(item, path)
            if entry is not None:
                out.append(entry)
        return tuple(out)

    def cross_check(
        self,
        t: Mapping[str, Any],
        path: str,
        key: str,
        value: float | None,
        limit_key: str,
        limit: float | None,
        *,
        parent: str | None = None,
    ) -> None:
        """``key`` must be less than ``limit_key``. In an entry whose defaults come from the
        ``parent`` table, a value inherited from there is named so, and a pair wholly
        inherited was checked there, once."""
        if value is None or limit is None or value < limit:
            return
        if parent is not None and path != parent and key not in t and limit_key not in t:
            return

        def where(name: str) -> str:
            if name in t or parent is None or path == parent:
                return f"{path}.{name}"
            return f"{parent}.{name} (inherited by {path})"

        expected = f"less than the {limit_key} ({where(limit_key)} = {limit:g}s)"
        if key not in t and (parent is None or path == parent):  # a default, not the user's
            self.problem(f"{path}.{key} (default {value:g}s)", NO_VALUE, f"{expected}; set {key}")
            return
        self.problem(where(key), t.get(key, value), expected)

    def resolve(self, path: str) -> Path:
        """A path from the config: ``~`` expanded, relative to the config file's folder."""
        p = Path(path).expanduser()
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return p


# -- converters: each raises ValueError (or TypeError) for a value it does not accept ---------

AET_EXPECTED = "an AE title of 1 to 16 printable ASCII characters, no backslash"
INTERVAL_EXPECTED = "a duration from 1s to 1d, like '30s' or '5m'"
TIMEOUT_EXPECTED = "a duration from 100ms to 10m, like '5s' or '500ms'"
WARN_EXPECTED = "a duration from 100ms to 10m, like '500ms' or '2s'"
ID_EXPECTED = "an id of letters, digits, '.', '_' or '-' (at most 64), starting alphanumeric"


def nonempty_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value.strip()


def ident(value: Any) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValueError
    return value


def aet(value: Any) -> str:
    if not isinstance(value, str) or not _AET_RE.match(value) or not value.strip():
        raise ValueError
    return value.strip()


def boolean(value: Any) -> bool:
    """``true`` or ``false`` (TOML's), nothing else (not 0, 1 or "yes")."""
    if not isinstance(value, bool):
        raise ValueError
    return value


def duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError
        return float(value)  # bare numbers are seconds
    if not isinstance(value, str):
        raise ValueError
    return parse_duration(value)


def duration_between(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        seconds = duration(value)
        if not math.isfinite(seconds) or not low <= seconds <= high:
            raise ValueError
        return seconds

    return convert


interval = duration_between(1.0, 86400.0)
timeout = duration_between(0.1, 600.0)


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


def string_list(value: Any, *, max_items: int = 256, max_length: int = 4096) -> tuple[str, ...]:
    """A non-empty list of strings without NUL (an argv): bounded in count and length."""
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise ValueError
    if not all(isinstance(v, str) and "\0" not in v and len(v) <= max_length for v in value):
        raise ValueError
    return tuple(value)


# RFC 1123 and an underscore: Windows and Active Directory sites name hosts so (pacs_srv1),
# and the resolver finds them in /etc/hosts and DNS alike.
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def host(value: Any) -> str:
    """An IP address or a host name (RFC 1123, underscores allowed)."""
    name = nonempty_str(value)
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError
    if labels[-1].isdigit():  # no top-level domain is a number: 256.1.1.1 is a bad address
        raise ValueError
    return name


_NUMBER_RE = re.compile(r"^[+-]?[0-9][0-9_]*(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def int_range(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            raise NumberAsString
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError
        return value

    return convert


def bind_address(value: Any) -> tuple[str, int]:
    """``"127.0.0.1:9464"``, ``"[::1]:9464"`` or a bare port (on 127.0.0.1): an IP address to
    listen on and a TCP port (a name would be resolved to who knows what)."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"127.0.0.1:{value}"
    else:
        text = nonempty_str(value)
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    address, colon, port_text = text.rpartition(":")
    if not colon or not port_text.isdigit():
        raise ValueError
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    ip = ipaddress.ip_address(address)  # ValueError: not an IP address
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError
    return str(ip), port


def choice(options: Sequence[str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError
        return str(value)

    return convert


def timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ValueError
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return value
