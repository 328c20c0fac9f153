"""Load, validate and locate the TOML config; every problem is reported at once, by key path.

The result is a frozen :class:`Config`. Unknown keys are errors, so a typo never silently turns
a check off.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import NO_VALUE, EntryId, Listening, Problem, Reader, did_you_mean
from pacs_tui.operators import OperatorsConfig, read_operators
from pacs_tui.private_paths import file_kind
from pacs_tui.visible import ELLIPSIS, host_port, visible

if TYPE_CHECKING:
    from pacs_tui.source import Source

APP_NAME = "pacs-tui"
ENV_CONFIG = "PACS_TUI_CONFIG"
# Tables ARCHITECTURE reserves for later sources: named so the error says "not yet", not "typo".
FUTURE_TABLES = (
    "alerts",
    "notify",
)


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
    raw_retention: float = 24 * 3600.0
    five_minute_retention: float = 35 * 86400.0
    hour_retention: float = 400 * 86400.0
    event_retention: float = 400 * 86400.0
    message_retention: float = 14 * 86400.0


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """``[collector]``: where ``collect`` serves viewers, and which group may attach besides its
    own user (``None``: its user and root only)."""

    socket: Path | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ExportersConfig:
    """``[exporters.prometheus] bind``: where ``collect`` serves /metrics (off when ``None``)."""

    prometheus: tuple[str, int] | None = None


#: The socket's name beside the history when ``[collector] socket`` is not set: the history's
#: own name in it, so that two histories in one folder (two configs tried side by side) have a
#: collector each, and a viewer never attaches to the other one's.
SOCKET_SUFFIX = ".collector.sock"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole config: the site, the history, and each registered source's own section
    (by source name: ``config.section("dicom")``)."""

    site: SiteConfig = field(default_factory=SiteConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    sections: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    exporters: ExportersConfig = field(default_factory=ExportersConfig)
    operators: OperatorsConfig = field(default_factory=OperatorsConfig)

    @property
    def socket_path(self) -> Path:
        """The collector's socket: ``[collector] socket``, else beside the history and named
        after it (``history.collector.sock`` for ``history.sqlite``)."""
        history = self.history.path
        return self.collector.socket or history.with_name(history.stem + SOCKET_SUFFIX)

    def section(self, name: str) -> Any:
        """The section of source ``name``; ``None`` when the config has none."""
        return self.sections.get(name)


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
    reader = Reader(check_paths=check_paths, source=source)
    config = _read(reader, data, source)
    if reader.problems:
        raise ConfigError(reader.problems, source)
    return config


def _read(reader: Reader, data: Mapping[str, Any], source: Path | None) -> Config:
    """The top level: ``[site]``, ``[history]`` and each registered source's key."""
    from pacs_tui.probes import SOURCES  # the registry imports the source modules

    tables = {"site", "history", "collector", "exporters", "operators"} | {s.name for s in SOURCES}
    for key, value in data.items():
        if key in FUTURE_TABLES and key not in tables:
            reader.problem(key, value, "a table this version (0.3) does not support yet")
        elif key not in tables:
            known = ", ".join(sorted(tables))
            hint = did_you_mean(key, tables)
            reader.problem(key, value, f"{cv.UNKNOWN_TABLE}{hint} (known: {known})")
    site = _site(reader, reader.table(data, "site", "site"))
    history = _history(reader, reader.table(data, "history", "history"))
    collector = _collector(reader, reader.table(data, "collector", "collector"))
    exporters = _exporters(reader, reader.table(data, "exporters", "exporters"))
    operators = read_operators(reader, data.get("operators"))
    sections: dict[str, Any] = {}
    for src in SOURCES:
        sections[src.name] = src.read(reader, data.get(src.name), site.name)
    for src in SOURCES:
        if src.link is not None:
            sections[src.name] = src.link(reader, sections[src.name], sections)
    config = Config(
        site=site,
        history=history,
        sections=sections,
        source=source,
        collector=collector,
        exporters=exporters,
        operators=operators,
    )
    _check_ids(reader, sections)
    _check_listening(reader)
    if not reader.entry_ids and not _has_entries(data, SOURCES):
        # An entry that did not parse was reported already; an empty config watches nothing.
        entries = [entry for src in SOURCES for entry in src.entry.split(" or ")]
        where = " or ".join([", ".join(entries[:-1]), entries[-1]] if len(entries) > 1 else entries)
        reader.problem("(nothing to watch)", NO_VALUE, f"at least one {where}")
    return config


def _check_ids(reader: Reader, sections: Mapping[str, Any]) -> None:
    """Ids name targets in the history, the screens and the exports: no two entries of
    different tables may share one (two of one table were said by ``Reader.entries``). Every
    entry that has an id takes part, even one with a problem elsewhere, so that one run of
    ``config check`` says it all."""
    from pacs_tui.probes import SOURCES

    entries = list(reader.entry_ids)
    for src in SOURCES:  # targets of a plain table ([dr]), not an array of them
        own = {e.id for e in entries if e.table.split(".")[0] == src.name}
        for target in src.targets(sections[src.name]):
            if target.id not in own:
                entries.append(EntryId(src.name, src.name, target.id))
    first: dict[str, EntryId] = {}
    for entry in entries:
        owner = first.setdefault(entry.id, entry)
        if owner.table != entry.table:
            reader.problem(
                f"{entry.where}.id",
                entry.id,
                f"an id no other target has ({owner.where} has it; ids are unique across every "
                "kind of entry)",
            )


def _check_listening(reader: Reader) -> None:
    """No two entries listen on the same socket: the second would fail at start (or, for the
    drill's ``move_bind``, at the drill), so ``config check`` says it first. An address of
    all zeros takes the port on every address of its family (asyncio binds IPv6 sockets
    IPv6-only, so ``0.0.0.0`` and ``::`` do not clash). The sockets are those the entries'
    readers recorded (:meth:`Reader.listens_on`), an entry with a problem elsewhere too."""
    listening = reader.listening
    for i, later in enumerate(listening):
        for first in listening[:i]:
            if _same_socket(first, later):
                reader.problem(
                    later.key,
                    host_port(later.host, later.port),
                    f"an address and port no other entry listens on ({first.key} listens on"
                    f" {host_port(first.host, first.port)}, {first.transport.upper()})",
                )
                break


def _same_socket(a: Listening, b: Listening) -> bool:
    if a.transport != b.transport or a.port != b.port:
        return False
    ip_a, ip_b = ipaddress.ip_address(a.host), ipaddress.ip_address(b.host)
    if ip_a.version != ip_b.version:
        return False
    return ip_a == ip_b or ip_a.is_unspecified or ip_b.is_unspecified


def _has_entries(data: Mapping[str, Any], sources: Iterable[Source]) -> bool:
    """Does the file hold any entry at all (one that failed to parse still counts)?"""
    for src in sources:
        value = data.get(src.name)
        if isinstance(value, list) and value:
            return True
        if isinstance(value, dict) and any(isinstance(v, list) and v for v in value.values()):
            return True
    return False


def _site(reader: Reader, t: Mapping[str, Any]) -> SiteConfig:
    reader.check_keys(t, "site", {"name", "timezone"})
    name = reader.get(t, "name", "site", cv.nonempty_str, "a non-empty string", "pacs")
    tz = reader.get(
        t, "timezone", "site", cv.timezone, "an IANA time zone like 'Europe/Paris'", None
    )
    return SiteConfig(name=name, timezone=tz)


def _history(reader: Reader, t: Mapping[str, Any]) -> HistoryConfig:
    keys = {
        "path",
        "raw_retention",
        "five_minute_retention",
        "minute_retention",  # 0.1-0.3's name of the tier that keeps 5-minute buckets now
        "hour_retention",
        "event_retention",
        "message_retention",
    }
    reader.check_keys(t, "history", keys)
    d = HistoryConfig()
    get = reader.get
    path = get(t, "path", "history", cv.nonempty_str, "a file path", None)
    dur = "a duration from 1h to 100y, like '48h' or '30d'"
    keep = cv.duration_between(3600.0, 100 * 365 * 86400.0)
    resolved = reader.resolve(path) if path else d.path
    if reader.check_paths:
        key = "history.path" if path else "history.path (default)"
        reader.problems.extend(history_path_problems(resolved, key, path or str(resolved)))
    old_name = get(t, "minute_retention", "history", keep, dur, d.five_minute_retention)
    return HistoryConfig(
        path=resolved,
        raw_retention=get(t, "raw_retention", "history", keep, dur, d.raw_retention),
        five_minute_retention=get(t, "five_minute_retention", "history", keep, dur, old_name),
        hour_retention=get(t, "hour_retention", "history", keep, dur, d.hour_retention),
        event_retention=get(t, "event_retention", "history", keep, dur, d.event_retention),
        message_retention=get(t, "message_retention", "history", keep, dur, d.message_retention),
    )


def _collector(reader: Reader, t: Mapping[str, Any]) -> CollectorConfig:
    reader.check_keys(t, "collector", {"socket", "group"})
    path = reader.get(t, "socket", "collector", cv.nonempty_str, "a file path", None)
    group = reader.get(t, "group", "collector", cv.nonempty_str, "a group name", None)
    socket = reader.resolve(path) if path else None
    if group is not None and reader.check_paths and not cv.group_exists(group):
        reader.problem("collector.group", group, "a group that exists on this machine")
    return CollectorConfig(socket=socket, group=group)


def _exporters(reader: Reader, t: Mapping[str, Any]) -> ExportersConfig:
    reader.check_keys(t, "exporters", {"prometheus"})
    prom = reader.table(t, "prometheus", "exporters.prometheus")
    reader.check_keys(prom, "exporters.prometheus", {"bind"})
    bind = reader.get(
        prom,
        "bind",
        "exporters.prometheus",
        cv.bind_address,
        "an IP address and port to listen on, like '127.0.0.1:9464' (loopback unless the "
        "scraper is elsewhere)",
        None,
    )
    reader.listens_on("exporters.prometheus.bind", "tcp", bind)
    return ExportersConfig(prometheus=bind)


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
        return Problem("(syntax)", NO_VALUE, f"valid TOML: {message}")
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
        return Problem(where, NO_VALUE, expected)
    line = lines[number - 1].removesuffix("\r")
    before, after = line[: column - 1], line[column - 1 :]
    if len(before) > _SHOWN_AROUND:
        before = ELLIPSIS + before[-_SHOWN_AROUND:]
    shown_before = visible(before)
    shown = shown_before + visible(after, _SHOWN_AROUND)
    gutter = f"{number} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * _cells(shown_before) + "^"
    return Problem(where, NO_VALUE, expected, (gutter + shown, caret))


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
    """Why the history could not be created or opened at ``path``, from ``stat`` calls and a
    read of an existing file's header: nothing is created. Refused: a path under /proc, /sys or
    /dev; an existing directory or anything but a regular file; an existing file that is not a
    pacs-tui history (another program's); a path one of whose folders is a file. A folder we may not
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
        return _existing_history_problems(full, problem)
    return _folder_problems(full, problem)


def _existing_history_problems(
    full: Path, problem: Callable[[str], list[Problem]]
) -> list[Problem]:
    """A file already there must be a pacs-tui history (or empty), as collect will demand: its
    header is read (100 bytes, no SQLite). One this user cannot read is left for the store."""
    from pacs_tui.store.errors import StoreError
    from pacs_tui.store.files import header_problem, read_header_of

    try:
        found = header_problem(read_header_of(full, full))
    except (StoreError, OSError):
        return []
    return problem(f"a pacs-tui history or a new file, and this is not one{found}") if found else []


def _folder_problems(full: Path, problem: Callable[[str], list[Problem]]) -> list[Problem]:
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
