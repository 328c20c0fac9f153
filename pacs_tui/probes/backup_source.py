"""The backup source (``[backup]``): restic and borg repositories, dump folders and backup jobs'
own reports, each one's newest good recovery point measured against its RPO.

A backup nobody looks at is found missing on the day it is needed. Each entry is a protected
asset with a target RPO: the measured RPO is now minus its newest good recovery point (OK within
the RPO, WARN over it, CRIT over twice it, :mod:`pacs_tui.backup.rpo`), and a repository's own
integrity check (``restic check``, ``borg check``) runs every ``check_interval`` beside it. The
readers are in :mod:`pacs_tui.backup`; repository passwords come from secrets, never the TOML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.backup.borg import Borg, BorgConfig
from pacs_tui.backup.command import CommandBackupCheck, CommandBackupConfig, command_target
from pacs_tui.backup.dumps import DumpsCheck, DumpsConfig, dumps_target
from pacs_tui.backup.repository import (
    DAY,
    RepositoryCheck,
    Tool,
    repository_target,
)
from pacs_tui.backup.restic import Restic, ResticConfig
from pacs_tui.backup.rpo import span_words
from pacs_tui.config_reader import HIDDEN, Reader
from pacs_tui.http_get import hide_credentials
from pacs_tui.model import Target, TargetKind, TargetState

# The same values as the other sources read them, so every section says them alike.
from pacs_tui.probes.command_source import _argv, _env
from pacs_tui.probes.storage_source import _SECRET_EXPECTED, _path, _percent, _secret_reference
from pacs_tui.source import BuildContext, Column, MetricSpec, Runnable, Source, WorkerLimit
from pacs_tui.visible import visible

AGE = MetricSpec(
    "backup_age_seconds", "s", "Age", description="age of the newest good recovery point",
    headline=True, scale=(60.0, 30 * DAY), title="Age of the newest recovery point",
)  # fmt: skip
METRICS = (
    AGE,
    MetricSpec(
        "backup_rpo_ratio", "ratio", "Age / RPO", scale=(0.0, 2.0),
        description="the newest good recovery point's age over the RPO (1: at the RPO)",
    ),
    MetricSpec("backup_size_bytes", "B", "Size", description="the newest recovery point's size"),
    MetricSpec(
        "backup_snapshots", "", "Points", description="recovery points (snapshots, archives, dumps)"
    ),
    MetricSpec(
        "backup_check_ok", "", "Check OK",
        description="1 when the last integrity check passed, 0 when it found errors",
    ),
    MetricSpec(
        "backup_check_age_seconds", "s", "Checked",
        description="time since the last integrity check ended",
    ),
)  # fmt: skip

#: Checks of one site at once (places: a listing each; threads: dump folders and secrets).
THREADS = 8
KINDS = ("restic", "borg", "dumps", "command")


@dataclass(frozen=True, slots=True)
class BackupConfig:
    restic: tuple[ResticConfig, ...] = ()
    borg: tuple[BorgConfig, ...] = ()
    dumps: tuple[DumpsConfig, ...] = ()
    command: tuple[CommandBackupConfig, ...] = ()


# -- config -------------------------------------------------------------------------------------

_RPO_EXPECTED = "a duration from 1m to 400d, like '24h' or '7d'"
_rpo = cv.duration_between(60.0, 400 * DAY)
_CHECK_INTERVAL_EXPECTED = "a duration from 1m to 400d, like '1d' or '7d', or \"0\" for never"
_CHECK_TIMEOUT_EXPECTED = "a duration from 1s to 2d, like '1h'"
_check_timeout = cv.duration_between(1.0, 2 * DAY)


def _check_interval(value: Any) -> float | None:
    seconds = cv.duration(value)
    if seconds == 0:
        return None
    if not 60.0 <= seconds <= 400 * DAY:
        raise ValueError
    return seconds


_RESTIC_BACKENDS = ("local", "sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone")
_RESTIC_EXPECTED = (
    "a restic repository: an absolute path, or backend:location (sftp:, rest:, s3:, b2:, "
    'azure:, gs:, swift:, rclone:) with no password in it (password = "secret:NAME" gives it)'
)
_BORG_EXPECTED = (
    "a borg repository: an absolute path, ssh://user@host:port/path or user@host:path, with "
    'no password in it (password = "secret:NAME" gives it)'
)
#: ``user:password@`` in a URL.
_CREDENTIALS = re.compile(r"://[^/@\s]*:[^/@\s]*@")
_SCP_STYLE = re.compile(r"^[A-Za-z0-9_.-]+(@[A-Za-z0-9_.-]+)?:[^\s]+$")


def _repo_text(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise ValueError
    if value.startswith("-") or any(c in value for c in "\0\n\r"):
        raise ValueError
    if _CREDENTIALS.search(value):
        raise ValueError
    return value


def _restic_repo(value: Any) -> str:
    text = _repo_text(value)
    if text.startswith("/"):
        return str(_path(text))
    backend, colon, rest = text.partition(":")
    if not colon or backend not in _RESTIC_BACKENDS or not rest:
        raise ValueError
    return text


def _borg_repo(value: Any) -> str:
    text = _repo_text(value)
    if text.startswith("/"):
        return str(_path(text))
    if text.startswith("ssh://") and len(text) > len("ssh://"):
        return text
    if _SCP_STYLE.match(text):
        return text
    raise ValueError


_SUBSET = re.compile(r"^(\d{1,3}(\.\d{1,3})?)%$|^(\d{1,4})/(\d{1,4})$")
_SUBSET_EXPECTED = 'a part of the data for restic check to read: "5%" or "1/7"'


def _subset(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    match = _SUBSET.match(value.strip())
    if match is None:
        raise ValueError
    if match.group(1) is not None and not 0 < float(match.group(1)) <= 100:
        raise ValueError
    if match.group(3) is not None and not 1 <= int(match.group(3)) <= int(match.group(4)):
        raise ValueError
    return value.strip()


_TAG = re.compile(r"^[^,\s\x00-\x1f]{1,128}$")
_TAGS_EXPECTED = 'a list of restic tags (no commas or spaces), like ["orthanc"]'
_PATHS_EXPECTED = 'a list of absolute paths, like ["/var/lib/orthanc"]'


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 32:
        raise ValueError
    if not all(isinstance(v, str) and _TAG.match(v) for v in value):
        raise ValueError
    return tuple(value)


def _paths(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 32:
        raise ValueError
    return tuple(_path(v) for v in value)


_WORD = re.compile(r"^[^\s\x00-\x1f-][^\s\x00-\x1f]{0,254}$")


def _word(value: Any) -> str:
    """A host name or a glob: no spaces or controls, not starting with "-"."""
    if not isinstance(value, str) or not _WORD.match(value):
        raise ValueError
    return value


_PATTERN_EXPECTED = "a file name pattern like '*.sql.gz' (fnmatch; no '/')"


def _pattern(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 256 or "/" in value or "\0" in value:
        raise ValueError
    return value


_SHRINK_EXPECTED = 'a percentage from 1% to 100%, like "20%" ("0%" for no shrink warning)'


def _shrink(value: Any) -> float | None:
    if value in (0, "0", "0%"):
        return None
    return _percent(value)


def read(reader: Reader, raw: Any, site: str) -> BackupConfig:
    """The ``[backup]`` table (absent: nothing)."""
    if raw is None:
        return BackupConfig()
    if not isinstance(raw, dict):
        reader.problem("backup", raw, f"a table with {SOURCE.entry} entries")
        return BackupConfig()
    reader.check_keys(raw, "backup", set(KINDS))

    def entries(kind: str, one: Any) -> tuple[Any, ...]:
        if kind not in raw:
            return ()
        return reader.entries(
            raw[kind], f"backup.{kind}", lambda t, path: one(reader, t, path, site)
        )

    # An id names one backup whatever its kind: config.py checks ids across every table.
    return BackupConfig(
        entries("restic", _restic),
        entries("borg", _borg),
        entries("dumps", _dumps),
        entries("command", _command),
    )


_COMMON = {"id", "rpo", "interval", "timeout", "site", "description"}
_REPOSITORY = _COMMON | {"repo", "password", "check_interval", "check_timeout", "program"}


def _common(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> dict[str, Any]:
    """What every kind of entry has: id, rpo, interval, timeout, site, description."""
    get = reader.get
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 300.0)
    # Unless given, the timeout is 60 s, or half the interval for an entry checked more often.
    default_timeout = min(60.0, interval / 2) if isinstance(interval, float) else 60.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    return {
        "id": get(t, "id", path, cv.ident, cv.ID_EXPECTED),
        "rpo": get(t, "rpo", path, _rpo, _RPO_EXPECTED),
        "interval": interval,
        "timeout": timeout,
        "site": get(t, "site", path, cv.nonempty_str, "a non-empty string", site),
        "description": get(t, "description", path, cv.string, "a string", ""),
    }


def _repository(
    reader: Reader, t: Mapping[str, Any], path: str, site: str, *, repo: Any, expected: str
) -> dict[str, Any]:
    get = reader.get
    found = _common(reader, t, path, site)
    found["repo"] = get(t, "repo", path, repo, expected, shown=hide_credentials)
    check_interval = get(t, "check_interval", path, _check_interval, _CHECK_INTERVAL_EXPECTED, DAY)
    check_timeout = get(t, "check_timeout", path, _check_timeout, _CHECK_TIMEOUT_EXPECTED, 3600.0)
    if check_interval is not None:
        reader.cross_check(
            t, path, "check_timeout", check_timeout, "check_interval", check_interval
        )
    found["check_interval"] = check_interval
    found["check_timeout"] = check_timeout
    found["program"] = get(
        t, "program", path, _path, "the tool's absolute path (like /usr/bin/restic)", ""
    )
    return found


def _restic(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> ResticConfig | None:
    keys = _REPOSITORY | {"read_data_subset", "tags", "paths", "host"}
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    found = _repository(reader, t, path, site, repo=_restic_repo, expected=_RESTIC_EXPECTED)
    secret = get(t, "password", path, _secret_reference, _SECRET_EXPECTED, shown=lambda _: HIDDEN)
    subset = get(t, "read_data_subset", path, _subset, _SUBSET_EXPECTED, "")
    tags = get(t, "tags", path, _tags, _TAGS_EXPECTED, ())
    paths = get(t, "paths", path, _paths, _PATHS_EXPECTED, ())
    host = get(t, "host", path, _word, "a host name as restic records it", "")
    if len(reader.problems) > before:
        return None
    return ResticConfig(
        **found, password_secret=secret, read_data_subset=subset, tags=tags, paths=paths, host=host
    )


def _borg(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> BorgConfig | None:
    reader.check_keys(t, path, _REPOSITORY | {"glob_archives", "key_file"})
    before = len(reader.problems)
    get = reader.get
    found = _repository(reader, t, path, site, repo=_borg_repo, expected=_BORG_EXPECTED)
    secret = get(
        t, "password", path, _secret_reference, _SECRET_EXPECTED, "", shown=lambda _: HIDDEN
    )
    glob = get(t, "glob_archives", path, _word, "a borg archive glob, like 'pacs-*'", "")
    key_file = get(t, "key_file", path, _path, "the absolute path of the repository's key file", "")
    if len(reader.problems) > before:
        return None
    return BorgConfig(**found, password_secret=secret, glob_archives=glob, key_file=key_file)


def _dumps(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> DumpsConfig | None:
    reader.check_keys(t, path, _COMMON | {"path", "pattern", "shrink_warn"})
    before = len(reader.problems)
    get = reader.get
    found = _common(reader, t, path, site)
    if "timeout" not in t and isinstance(found["interval"], float):
        found["timeout"] = min(10.0, found["interval"] / 2)  # a listing: 10 s is plenty
    where = get(t, "path", path, _path, "the dumps' folder, an absolute path")
    pattern = get(t, "pattern", path, _pattern, _PATTERN_EXPECTED, "*")
    shrink = get(t, "shrink_warn", path, _shrink, _SHRINK_EXPECTED, 0.2)
    if len(reader.problems) > before:
        return None
    return DumpsConfig(**found, path=where, pattern=pattern, shrink_warn=shrink)


def _command(
    reader: Reader, t: Mapping[str, Any], path: str, site: str
) -> CommandBackupConfig | None:
    reader.check_keys(t, path, _COMMON | {"command", "env"})
    before = len(reader.problems)
    found = _common(reader, t, path, site)
    argv = _argv(reader, t.get("command", cv.MISSING), f"{path}.command")
    env = _env(reader, t.get("env", {}), f"{path}.env")
    if len(reader.problems) > before:
        return None
    return CommandBackupConfig(**found, command=argv, env=env)


def targets(config: BackupConfig) -> list[Target]:
    return (
        [repository_target("restic", e) for e in config.restic]
        + [repository_target("borg", e) for e in config.borg]
        + [dumps_target(e) for e in config.dumps]
        + [command_target(e) for e in config.command]
    )


# -- the declaration ----------------------------------------------------------------------------


def build(config: BackupConfig, ctx: BuildContext) -> list[Runnable]:
    def repository(kind: str, tool: Tool) -> RepositoryCheck:
        target = repository_target(kind, tool.entry)
        return RepositoryCheck(tool, target, ctx.executor, ctx.history)

    runs: list[Runnable] = [repository("restic", Restic(e)) for e in config.restic]
    runs += [repository("borg", Borg(e)) for e in config.borg]
    runs += [DumpsCheck(e, ctx.executor, ctx.history) for e in config.dumps]
    runs += [CommandBackupCheck(e, ctx.history) for e in config.command]
    return runs


def workers(config: BackupConfig) -> WorkerLimit:
    count = sum(len(getattr(config, kind)) for kind in KINDS)
    return WorkerLimit(max(1, min(count, THREADS)), threads=True)


def example() -> list[tuple[str, Any]]:
    # A dump folder, not a repository: a repository's password is a secret, which
    # `config check` wants stored before it passes.
    dumps = tomlkit.table()
    dumps.add(tomlkit.comment("A folder of database dumps: the newest file's age and size."))
    dumps.add("id", "ris-db-dumps")
    dumps.add("path", "/srv/backup/postgres")
    dumps.add("pattern", "ris-*.sql.gz")
    dumps.add("rpo", "24h")
    dumps["rpo"].comment("WARN when the newest dump is older, CRIT at twice that")
    dumps.add("shrink_warn", "20%")
    dumps["shrink_warn"].comment("WARN when the newest dump is this much smaller than the last")
    for line in (
        "Optional:",
        'interval = "5m"',
        'description = "RIS database, nightly pg_dump"',
        "A restic or borg repository is a [[backup.restic]] or [[backup.borg]] with id, repo,",
        "password (a secret reference: `pacs-tui secrets set NAME` first), rpo and",
        "check_interval; a backup job's own report, a [[backup.command]]: see the README.",
    ):
        dumps.add(tomlkit.comment(line))
    backup = tomlkit.table(is_super_table=True)
    backup.add("dumps", AoT([dumps]))
    return [("backup", backup)]


def tile_summary(states: Sequence[TargetState]) -> str:
    """How many, and the one furthest past its RPO: "3 backups · worst 26 h / RPO 24 h"."""
    if not states:
        return ""
    head = f"{len(states)} backup{'' if len(states) == 1 else 's'}"
    measured = [
        s for s in states if "backup_rpo_ratio" in s.metrics and "backup_age_seconds" in s.metrics
    ]
    worst = max(measured, key=lambda s: s.metrics["backup_rpo_ratio"], default=None)
    if worst is None:
        return head
    age = span_words(worst.metrics["backup_age_seconds"])
    rpo = visible(worst.target.labels.get("rpo", "?"), 16)
    return f"{head} · worst {age} / RPO {rpo}"


_CHECK_AGE = "backup_check_age_seconds"
COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Backup", "id", None, True),
    Column("kind", "Kind", "label", 8, False, "kind"),
    Column("age", "Age", "value", 9, False, AGE.name, "oldest first", "newest first", True),
    Column("rpo", "Age / RPO", "value", 17, True, "backup_rpo_ratio", "furthest past first",
           "", True, gauge=10),
    Column("size", "Size", "value", 9, False, "backup_size_bytes", "largest first", "", True),
    Column("check", "Checked", "value", 10, False, _CHECK_AGE, "oldest first", "", True,
           verdict="backup_check_ok"),
    Column("reason", "Reason", "reason", None, True),
)  # fmt: skip

SOURCE = Source(
    name="backup",
    title="Backups",
    kinds=(TargetKind.BACKUP,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="backup",
    entry="[[backup.restic]], [[backup.borg]], [[backup.dumps]] or [[backup.command]]",
    screen="backups",
    screen_title="Backups",
    detail_labels={
        "repository": "Repository",
        "path": "Path",
        "pattern": "Pattern",
        "newest": "Newest",
        "previous": "Before it",
        "groups": "Newest of each",
        "check": "Check",
        "size": "Size",
        "trend": "Size trend",
        "message": "Message",
        "skipped": "Skipped",
    },
    tile_summary=tile_summary,
)
