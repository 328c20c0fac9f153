"""Load, validate and locate the TOML config; every problem is reported at once, by key path.

The result is a frozen :class:`Config`. Unknown keys are errors, so a typo never silently turns
a check off.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from pacs_tui.durations import parse_duration
from pacs_tui.private_paths import file_kind
from pacs_tui.visible import ELLIPSIS, visible

APP_NAME = "pacs-tui"
ENV_CONFIG = "PACS_TUI_CONFIG"
ROLES = ("archive", "modality", "viewer", "ris", "his", "mirror", "other")
# Tables ARCHITECTURE reserves for later sources: named so the error says "not yet", not "typo".
FUTURE_TABLES = (
    "hl7",
    "storage",
    "host",
    "logtail",
    "command",
    "audit",
    "backup",
    "mirror",
    "alerts",
    "notify",
    "exporters",
    "operators",
)


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
        if self.value is _MISSING:
            text = f"{key}: missing; expected {self.expected}"
        elif self.value is _NO_VALUE:
            text = f"{key}: expected {self.expected}"
        else:
            text = f"{key} = {_show(self.value)}: expected {self.expected}"
        return "".join([text, *(f"\n      {line}" for line in self.detail)])


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], source: Path | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s){where}:\n{lines}")


class ConfigNotFound(Exception):
    """No config file was found; ``searched`` lists where we looked, in order."""

    def __init__(
        self, searched: list[Path], explicit: Path | None = None, via: str = "--config"
    ) -> None:
        self.searched = searched
        self.explicit = explicit
        self.via = via
        if explicit is not None:
            super().__init__(f"config file {explicit} (from {via}) does not exist")
        else:
            super().__init__("no config file found")


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str = "pacs"
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    path: Path = field(default_factory=lambda: default_history_path())
    raw_retention: float = 48 * 3600.0
    minute_retention: float = 30 * 86400.0
    hour_retention: float = 2 * 365 * 86400.0
    event_retention: float = 90 * 86400.0


@dataclass(frozen=True, slots=True)
class DicomNodeConfig:
    id: str
    aet: str
    host: str
    port: int
    role: str = "other"
    site: str = ""
    description: str = ""
    interval: float = 30.0
    timeout: float = 5.0
    warn_latency: float = 0.5
    calling_aet: str = "PACSTUI"


@dataclass(frozen=True, slots=True)
class DicomConfig:
    calling_aet: str = "PACSTUI"
    interval: float = 30.0
    timeout: float = 5.0
    warn_latency: float = 0.5
    max_workers: int = 8
    nodes: tuple[DicomNodeConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    dicom: DicomConfig = field(default_factory=DicomConfig)
    source: Path | None = None


def default_history_path() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / "history.sqlite"


def default_log_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def search_paths(explicit: Path | None = None) -> list[Path]:
    """Where a config is looked for, in order: --config, $PACS_TUI_CONFIG, ./pacs-tui.toml,
    the XDG config dir, /etc/pacs-tui/config.toml."""
    paths: list[Path] = []
    if explicit is not None:
        return [explicit]
    env = os.environ.get(ENV_CONFIG)
    if env:
        paths.append(Path(env))
    paths.append(Path.cwd() / "pacs-tui.toml")
    paths.append(default_config_path())
    paths.append(Path("/etc/pacs-tui/config.toml"))
    return paths


def find_config(explicit: Path | None = None) -> Path:
    """The first existing config file in the lookup order, or :class:`ConfigNotFound`."""
    searched = search_paths(explicit)
    if explicit is None and os.environ.get(ENV_CONFIG):
        # Set on purpose: a typo must not silently fall through to another site's config.
        explicit = Path(os.environ[ENV_CONFIG])
        if not explicit.exists():
            raise ConfigNotFound([explicit], explicit, via=f"${ENV_CONFIG}")
    if explicit is not None and explicit.exists():
        return explicit  # even a directory: reading it then says what is wrong
    for path in searched:
        if path.is_file():
            return path
    raise ConfigNotFound(searched, explicit)


def load_config(explicit: Path | None = None) -> Config:
    """Find, read and validate the config."""
    path = find_config(explicit)
    return load_file(path)


MAX_CONFIG_BYTES = 1 << 20


def load_file(path: Path, *, check_paths: bool = False) -> Config:
    """Read and validate one config file: a regular file of at most 1 MiB of UTF-8 text (a
    leading byte-order mark is allowed). With ``check_paths``, also check that the history's
    path could be created (:func:`history_path_problems`); nothing is created."""
    try:
        data = _read_bounded(path)
    except OSError as exc:
        raise ConfigError(
            [Problem("(file)", str(path), f"a readable file ({exc.strerror})")], path
        ) from None
    except ValueError as exc:
        raise ConfigError([Problem("(file)", str(path), str(exc))], path) from None
    try:
        # "utf-8-sig": one leading byte-order mark (Windows editors save one) is not part of
        # the TOML; tomllib would call it an invalid statement at line 1, column 1.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([Problem("(file)", str(path), "UTF-8 text")], path) from None
    return parse_config(text, source=path, check_paths=check_paths)


def _read_bounded(path: Path) -> bytes:
    """The file's bytes; ValueError if it is not a regular file or is over 1 MiB.

    Checked before opening (opening a device or a FIFO can block or have effects), and again on
    the descriptor; the read itself is bounded, whatever the size the file claims.
    """
    if kind := file_kind(os.stat(path).st_mode):
        raise ValueError(f"a regular file, not a {kind}")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if kind := file_kind(os.fstat(fd).st_mode):  # replaced since the stat
            raise ValueError(f"a regular file, not a {kind}")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ValueError("a config file of at most 1 MiB (this one is larger)")
    return b"".join(chunks)


def parse_config(text: str, source: Path | None = None, *, check_paths: bool = False) -> Config:
    """Validate TOML text into a :class:`Config`; raises :class:`ConfigError` listing everything.

    With ``check_paths``, the history's path is also checked on the file system (read only)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(text, exc)], source) from None
    reader = _Reader(check_paths=check_paths)
    config = reader.config(data, source)
    if reader.problems:
        raise ConfigError(reader.problems, source)
    return config


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


#: A problem with no value to show (a syntax error): "key: expected ...".
_NO_VALUE: Any = _NoValue()
T = TypeVar("T")
_AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return repr(value)


class _NumberAsString(ValueError):
    """A numeric key given a quoted number (``port = "104"``): said as such."""


def _node_path(index: int, raw: Any) -> str:
    """How a ``[[dicom.node]]`` is named in messages: by its id when it has a valid one, always
    with its place in the file (#1 is the first), since two nodes may share an id by mistake."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(raw_id, str) and _ID_RE.match(raw_id):
        return f'dicom.node "{raw_id}" (#{index + 1})'
    return f"dicom.node (#{index + 1})"


def _did_you_mean(word: str, known: set[str] | tuple[str, ...]) -> str:
    """ "; did you mean 'x'?" for the closest known word, or ""."""
    close = difflib.get_close_matches(word, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Walks the parsed TOML, converting values and collecting problems instead of raising."""

    def __init__(self, *, check_paths: bool = False) -> None:
        self.problems: list[Problem] = []
        self.check_paths = check_paths

    def problem(self, key: str, value: Any, expected: str) -> None:
        self.problems.append(Problem(key, value, expected))

    def check_keys(self, table: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                full = f"{path}.{key}" if path else key
                known = ", ".join(sorted(allowed)) or "nothing"
                hint = _did_you_mean(key, allowed)
                self.problem(full, table[key], f"no such key{hint} (known here: {known})")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, _MISSING)
        if value is _MISSING:
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
        default: T | Any = _MISSING,
    ) -> T | Any:
        value = table.get(key, _MISSING)
        full = f"{path}.{key}"
        if value is _MISSING:
            if default is _MISSING:
                self.problem(full, _MISSING, expected)
            return default
        try:
            return convert(value)
        except _NumberAsString:
            number = value.strip()
            hint = f"a number, not a string (write {key} = {number}, without quotes)"
            self.problem(full, value, f"{expected}; {hint}")
            return default
        except (TypeError, ValueError):
            self.problem(full, value, expected)
            return default

    # -- the tables ---------------------------------------------------------------------------

    def config(self, data: Mapping[str, Any], source: Path | None) -> Config:
        allowed = {"site", "history", "dicom"}
        for key, value in data.items():
            if key in FUTURE_TABLES:
                self.problem(key, value, "a table this version (0.1) does not support yet")
            elif key not in allowed:
                known = ", ".join(sorted(allowed))
                hint = _did_you_mean(key, allowed)
                self.problem(key, value, f"no such table{hint} (known: {known})")
        site = self.site(self.table(data, "site", "site"))
        history = self.history(self.table(data, "history", "history"), source)
        dicom_table = self.table(data, "dicom", "dicom")
        dicom = self.dicom(dicom_table, site)
        nodes = dicom_table.get("node", _MISSING)
        if nodes is _MISSING or nodes == []:  # `dicom.node = []` watches nothing either
            self.problem("dicom.node", nodes, "at least one [[dicom.node]]: nothing to watch")
        return Config(site=site, history=history, dicom=dicom, source=source)

    def site(self, t: Mapping[str, Any]) -> SiteConfig:
        self.check_keys(t, "site", {"name", "timezone"})
        name = self.get(t, "name", "site", _nonempty_str, "a non-empty string", "pacs")
        tz = self.get(
            t, "timezone", "site", _timezone, "an IANA time zone like 'Europe/Paris'", None
        )
        return SiteConfig(name=name, timezone=tz)

    def history(self, t: Mapping[str, Any], source: Path | None) -> HistoryConfig:
        keys = {"path", "raw_retention", "minute_retention", "hour_retention", "event_retention"}
        self.check_keys(t, "history", keys)
        d = HistoryConfig()
        path = self.get(t, "path", "history", _nonempty_str, "a file path", None)
        dur = "a duration from 1h to 100y, like '48h' or '30d'"
        keep = _duration_between(3600.0, 100 * 365 * 86400.0)
        resolved = _resolve(path, source) if path else d.path
        if self.check_paths:
            key = "history.path" if path else "history.path (default)"
            self.problems.extend(history_path_problems(resolved, key, path or str(resolved)))
        return HistoryConfig(
            path=resolved,
            raw_retention=self.get(t, "raw_retention", "history", keep, dur, d.raw_retention),
            minute_retention=self.get(
                t, "minute_retention", "history", keep, dur, d.minute_retention
            ),
            hour_retention=self.get(t, "hour_retention", "history", keep, dur, d.hour_retention),
            event_retention=self.get(t, "event_retention", "history", keep, dur, d.event_retention),
        )

    def dicom(self, t: Mapping[str, Any], site: SiteConfig) -> DicomConfig:
        keys = {"calling_aet", "interval", "timeout", "warn_latency", "max_workers", "node"}
        self.check_keys(t, "dicom", keys)
        d = DicomConfig()
        calling = self.get(t, "calling_aet", "dicom", _aet, _AET_EXPECTED, d.calling_aet)
        interval = self.get(t, "interval", "dicom", _interval, _INTERVAL_EXPECTED, d.interval)
        timeout = self.get(t, "timeout", "dicom", _timeout, _TIMEOUT_EXPECTED, d.timeout)
        warn = self.get(t, "warn_latency", "dicom", _timeout, _WARN_EXPECTED, d.warn_latency)
        workers = self.get(
            t, "max_workers", "dicom", _int_range(1, 64), "a whole number from 1 to 64", 8
        )
        defaults = DicomConfig(calling, interval, timeout, warn, workers)
        self.cross_check(t, "dicom", "timeout", timeout, "interval", interval)
        self.cross_check(t, "dicom", "warn_latency", warn, "timeout", timeout)
        raw_nodes = t.get("node", [])
        nodes: list[DicomNodeConfig] = []
        if not isinstance(raw_nodes, list):
            self.problem("dicom.node", raw_nodes, "an array of tables: [[dicom.node]]")
            raw_nodes = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_nodes):
            path = _node_path(index, raw)
            if not isinstance(raw, dict):
                self.problem(path, raw, "a table")
                continue
            raw_id = raw.get("id")
            if isinstance(raw_id, str):
                if raw_id in seen:
                    first = _node_path(seen[raw_id], raw_nodes[seen[raw_id]])
                    self.problem(f"{path}.id", raw_id, f"a unique id ({first} has it)")
                seen.setdefault(raw_id, index)
            node = self.dicom_node(raw, path, defaults, site)
            if node is not None:
                nodes.append(node)
        return DicomConfig(calling, interval, timeout, warn, workers, tuple(nodes))

    def cross_check(
        self,
        t: Mapping[str, Any],
        path: str,
        key: str,
        value: float | None,
        limit_key: str,
        limit: float | None,
    ) -> None:
        """``key`` must be less than ``limit_key``; a value inherited from [dicom] is named so."""
        if value is None or limit is None or value < limit:
            return
        if path != "dicom" and key not in t and limit_key not in t:
            return
        where = _where(t, path, key)
        self.problem(
            where,
            t.get(key, value),
            f"less than the {limit_key} ({_where(t, path, limit_key)} = {limit:g}s)",
        )

    def dicom_node(
        self, t: Mapping[str, Any], path: str, defaults: DicomConfig, site: SiteConfig
    ) -> DicomNodeConfig | None:
        keys = {
            "id",
            "aet",
            "host",
            "port",
            "role",
            "site",
            "description",
            "interval",
            "timeout",
            "warn_latency",
            "calling_aet",
        }
        self.check_keys(t, path, keys)
        before = len(self.problems)
        node_id = self.get(t, "id", path, _ident, _ID_EXPECTED)
        aet = self.get(t, "aet", path, _aet, _AET_EXPECTED)
        host = self.get(t, "host", path, _host, "a host name or IP address")
        port = self.get(t, "port", path, _int_range(1, 65535), "a TCP port from 1 to 65535")
        role = self.get(t, "role", path, _choice(ROLES), f"one of {', '.join(ROLES)}", "other")
        node_site = self.get(t, "site", path, _nonempty_str, "a non-empty string", site.name)
        description = self.get(t, "description", path, _string, "a string", "")
        interval = self.get(t, "interval", path, _interval, _INTERVAL_EXPECTED, None)
        timeout = self.get(t, "timeout", path, _timeout, _TIMEOUT_EXPECTED, None)
        warn = self.get(t, "warn_latency", path, _timeout, _WARN_EXPECTED, None)
        calling = self.get(t, "calling_aet", path, _aet, _AET_EXPECTED, defaults.calling_aet)
        # Cross-checks run whenever both sides parsed, so they are reported with everything else.
        # A pair wholly inherited from [dicom] was checked there, once.
        interval_v = interval if "interval" in t else defaults.interval
        timeout_v = timeout if "timeout" in t else defaults.timeout
        warn_v = warn if "warn_latency" in t else defaults.warn_latency
        self.cross_check(t, path, "timeout", timeout_v, "interval", interval_v)
        self.cross_check(t, path, "warn_latency", warn_v, "timeout", timeout_v)
        if len(self.problems) > before:
            return None
        return DicomNodeConfig(
            id=node_id,
            aet=aet,
            host=host,
            port=port,
            role=role,
            site=node_site,
            description=description,
            interval=interval_v,
            timeout=timeout_v,
            warn_latency=warn_v,
            calling_aet=calling,
        )


def _where(t: Mapping[str, Any], path: str, key: str) -> str:
    if key in t or path == "dicom":
        return f"{path}.{key}"
    return f"dicom.{key} (inherited by {path})"


_AET_EXPECTED = "an AE title of 1 to 16 printable ASCII characters, no backslash"
_INTERVAL_EXPECTED = "a duration from 1s to 1d, like '30s' or '5m'"
_TIMEOUT_EXPECTED = "a duration from 100ms to 10m, like '5s' or '500ms'"
_WARN_EXPECTED = "a duration from 100ms to 10m, like '500ms' or '2s'"
_ID_EXPECTED = "an id of letters, digits, '.', '_' or '-' (at most 64), starting alphanumeric"


def _nonempty_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value.strip()


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError
    return value


def _aet(value: Any) -> str:
    if not isinstance(value, str) or not _AET_RE.match(value) or not value.strip():
        raise ValueError
    return value.strip()


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError
        return float(value)  # bare numbers are seconds
    if not isinstance(value, str):
        raise ValueError
    return parse_duration(value)


def _duration_between(low: float, high: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        seconds = _duration(value)
        if not math.isfinite(seconds) or not low <= seconds <= high:
            raise ValueError
        return seconds

    return convert


_interval = _duration_between(1.0, 86400.0)
_timeout = _duration_between(0.1, 600.0)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host(value: Any) -> str:
    """An IP address or an RFC 1123 host name."""
    host = _nonempty_str(value)
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError
    return host


_NUMBER_RE = re.compile(r"^[+-]?[0-9][0-9_]*(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
            raise _NumberAsString
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError
        return value

    return convert


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError
        return str(value)

    return convert


def _timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ValueError
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return value


def _resolve(path: str, source: Path | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and source is not None:
        p = source.parent / p
    return p


# -- syntax errors --------------------------------------------------------------------------

_POSITION_RE = re.compile(
    r"^(?P<msg>.*) \((?:at line (?P<line>\d+), column (?P<col>\d+)|at end of document)\)$"
)
#: How much of the offending line is shown on each side of the caret.
_SHOWN_AROUND = 60


def _syntax_problem(text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """A TOML syntax error as one problem: where, tomllib's words, and the offending line of the
    file (made visible: it is file content) with a caret under the column."""
    message = str(exc)
    match = _POSITION_RE.match(message)
    if match is None:
        return Problem("(syntax)", _NO_VALUE, f"valid TOML: {message}")
    lines = text.split("\n")
    if match["line"] is not None:
        number, column = int(match["line"]), int(match["col"])
        where = f"(syntax) line {number}, column {column}"
    else:  # at the end of the document: show the last line that has anything on it
        number = len(lines)
        while number > 1 and not lines[number - 1].strip():
            number -= 1
        column = len(lines[number - 1].rstrip("\r")) + 1
        where = f"(syntax) at the end of the file, after line {number}"
    expected = f"valid TOML: {match['msg']}"
    if not 1 <= number <= len(lines):
        return Problem(where, _NO_VALUE, expected)
    line = lines[number - 1].removesuffix("\r")
    before, after = line[: column - 1], line[column - 1 :]
    if len(before) > _SHOWN_AROUND:
        before = ELLIPSIS + before[-_SHOWN_AROUND:]
    shown_before = visible(before)
    shown = shown_before + visible(after, _SHOWN_AROUND)
    gutter = f"{number} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * _cells(shown_before) + "^"
    return Problem(where, _NO_VALUE, expected, (gutter + shown, caret))


def _cells(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK, emoji) characters take two, combining none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


# -- the history's path, checked on the file system (read only) ---------------------------

#: Kernel file systems: nothing of ours can live there.
KERNEL_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


def history_path_problems(path: Path, key: str = "history.path", value: str = "") -> list[Problem]:
    """Why the history could not be created or opened at ``path``, from ``stat`` calls only:
    nothing is created. Refused: a path under /proc, /sys or /dev; an existing directory or
    anything but a regular file; a path one of whose folders is a file. A folder we may not
    enter is left for the store to report (``config check`` may run as another user)."""
    shown = value or str(path)
    full = Path(os.path.abspath(path))

    def problem(expected: str) -> list[Problem]:
        return [Problem(key, shown, expected)]

    for candidate in (full, Path(os.path.realpath(full))):
        for root in KERNEL_FILE_SYSTEMS:
            if candidate == root or root in candidate.parents:
                where = f"{candidate} is " if candidate != full else ""
                return problem(
                    f"a path outside /proc, /sys and /dev ({where}under {root}, a kernel "
                    "file system)"
                )
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        pass  # not there yet: its folders are looked at below
    except PermissionError:
        return []
    except OSError as exc:
        return problem(f"a path the system accepts ({exc.strerror})")
    else:
        kind = file_kind(st.st_mode)
        if kind == "directory":
            return problem(f"the path of a file, not a directory (like {full / 'history.sqlite'})")
        if kind:
            return problem(f"a regular file or a path where one can be created, not a {kind}")
        return []
    for parent in full.parents:
        try:
            st = os.stat(parent)  # a symlinked folder is fine
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            return []
        except OSError as exc:
            return problem(f"a path the system accepts ({parent}: {exc.strerror})")
        if not stat.S_ISDIR(st.st_mode):
            kind = file_kind(st.st_mode) or "regular file"
            return problem(f"a path whose folders can be created ({parent} is a {kind})")
        return []
    return []
