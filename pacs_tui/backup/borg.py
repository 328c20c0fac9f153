"""borg: ``borg list --json`` and ``borg info --json --last 1`` read defensively (every field
type-checked; borg 1.2 prints times without a zone), ``borg check``'s argv, and borg's errors
in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from pacs_tui.backup.repository import Listing, Point, RepositoryConfig
from pacs_tui.backup.tool import (
    Failure,
    Unreadable,
    child_env,
    error_line,
    load_json,
    parse_time,
    run_failure,
    scrub,
    size_value,
    text_value,
)
from pacs_tui.visible import VALUE_LIMIT, visible

if TYPE_CHECKING:  # the probes package imports the sources, which import this
    from pacs_tui.probes.plugin_run import PluginRun

#: Archives of a listing read at most (beyond: said, not read).
MAX_ARCHIVES = 100_000
#: An archive borg writes while a backup runs, left behind when it is interrupted: not a good
#: recovery point ("pacs-2026-12-02.checkpoint", "….checkpoint.1").
_CHECKPOINT = re.compile(r"\.checkpoint(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class BorgConfig(RepositoryConfig):
    """A ``[[backup.borg]]`` entry: ``glob_archives`` chooses the archives that count (borg's
    ``--glob-archives``); ``key_file`` is the key of a ``keyfile``-mode repository."""

    glob_archives: str = ""
    key_file: str = ""


class Borg:
    """How borg is asked and read (see :class:`pacs_tui.backup.repository.Tool`)."""

    name = "borg"
    point = "archive"
    listing = "borg list"
    sizing = "borg info"

    def __init__(self, entry: BorgConfig) -> None:
        self.entry = entry

    def env(self, password: str | None, folder: str) -> dict[str, str]:
        """borg's environment: the passphrase (never the argv), a base folder of its own for
        its cache, security records and keys, no prompt answered "yes", and TZ=UTC."""
        extra = {
            "BORG_BASE_DIR": folder,
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no",
            "BORG_DISPLAY_PASSPHRASE": "no",
            # borg 1.2 prints an archive's time in the local time of the process running it,
            # with no zone ("2026-12-02T10:11:12.000000"). Its local time is made UTC here, so
            # the times it prints are UTC, whatever this machine's zone (and no hour of a
            # daylight-saving change is read twice): parse_list takes them so.
            "TZ": "UTC",
        }
        if password is not None:
            extra["BORG_PASSPHRASE"] = password
        if self.entry.key_file:
            extra["BORG_KEY_FILE"] = self.entry.key_file
        return child_env(extra)

    def _argv(self, command: str, *options: str) -> list[str]:
        # "--" before the repository: one that starts with "-" is never read as an option.
        return [self.entry.program or "borg", command, *options, "--", self.entry.repo]

    def _glob(self) -> list[str]:
        glob = self.entry.glob_archives
        return [f"--glob-archives={glob}"] if glob else []

    def chosen(self) -> str:
        glob = self.entry.glob_archives
        return f"matching {visible(glob, VALUE_LIMIT)} (glob_archives)" if glob else ""

    def list_argv(self, *, no_lock: bool) -> list[str]:
        lock = ["--bypass-lock"] if no_lock else []
        return self._argv("list", "--json", *lock, *self._glob())

    def parse_list(self, text: str) -> Listing:
        return parse_archives(text)

    def size_argv(self, newest: Point, *, no_lock: bool) -> list[str]:
        lock = ["--bypass-lock"] if no_lock else []
        return self._argv("info", "--json", "--last", "1", *lock, *self._glob())

    def parse_size(self, text: str, newest: Point) -> float:
        return parse_info(text, newest)

    def check_argv(self) -> list[str]:
        return self._argv("check")

    def unlock_argv(self) -> None:
        # borg 1.2 removes a lock whose process is gone on this host itself (its hostname is
        # unique by default); `borg break-lock` would remove a running backup's too.
        return None

    def failure(self, run: PluginRun, doing: str, secret: str | None) -> Failure | None:
        return failure(run, doing, self.entry, secret)


def _archives(text: str, what: str) -> list[object]:
    data = load_json(text, what)
    archives = data.get("archives") if isinstance(data, dict) else None
    if not isinstance(archives, list):
        raise Unreadable(f"{what} printed JSON without a list of archives")
    if len(archives) > MAX_ARCHIVES:
        raise Unreadable(f"more than {MAX_ARCHIVES:,} archives: not read")
    return archives


def _time(item: dict[str, object]) -> float:
    # "start" and "time" are the same moment in borg 1.2 (its start); a zone, if a later borg
    # writes one, is honoured, else the time is UTC (see Borg.env).
    return parse_time(item.get("start", item.get("time")), UTC)


def parse_archives(text: str) -> Listing:
    """``borg list --json``: ``archives``, each with a ``name``, an ``id`` and a ``start`` (or
    ``time``); checkpoints (interrupted backups) are not recovery points; an entry without
    those fields is left out and counted."""
    archives = _archives(text, "borg list")
    points: list[Point] = []
    skipped = 0
    for item in archives:
        name = text_value(item.get("name"), 1024) if isinstance(item, dict) else None
        if not isinstance(item, dict) or not name:
            skipped += 1
            continue
        if _CHECKPOINT.search(name):
            continue
        try:
            when = _time(item)
        except ValueError:
            skipped += 1
            continue
        ident = text_value(item.get("id"), 128) or name
        points.append(Point(ident, when, name))
    if skipped and not points:
        raise Unreadable(
            f"none of the {len(archives):,} entries borg list printed is an archive (name, "
            "start): another borg version?"
        )
    return Listing(tuple(points), skipped)


def parse_info(text: str, newest: Point) -> float:
    """``borg info --json --last 1``: the newest archive's ``stats.original_size`` (bytes)."""
    archives = _archives(text, "borg info")
    if len(archives) != 1 or not isinstance(archives[0], dict):
        raise Unreadable("borg info printed no archive")
    archive = archives[0]
    ident = text_value(archive.get("id"), 128)
    if ident is not None and ident != newest.id:
        raise Unreadable("borg info described another archive than the newest")
    stats = archive.get("stats")
    size = size_value(stats.get("original_size")) if isinstance(stats, dict) else None
    if size is None:
        raise Unreadable("borg info printed no stats.original_size")
    return size


def failure(
    run: PluginRun, doing: str, entry: RepositoryConfig, secret: str | None
) -> Failure | None:
    """A borg run's failure in words, None when it succeeded. borg 1.2 exits 2 for an error
    (its stderr says which) and 1 for a warning (``borg check``: errors found)."""
    common = run_failure(run, doing)
    if common is not None:
        return common
    code = run.exit_code
    if code == 0:
        return None
    text = scrub(run.stderr, secret)
    low = run.stderr.lower()  # the tool's own phrases, read before any line is masked
    repo = visible(entry.repo, VALUE_LIMIT)
    if "passphrase supplied in" in low and "incorrect" in low:
        return Failure(
            "password", f"wrong password for the repository (secret {entry.password_secret})"
        )
    if "can not acquire a passphrase" in low:
        return Failure(
            "password",
            'the repository is encrypted and no password is configured (password = "secret:NAME")',
        )
    if "is not a valid repository" in low:
        return Failure("missing", f"{repo} is not a borg repository")
    if re.search(r"repository .* does not exist", low):
        return Failure("missing", f"no borg repository at {repo}")
    if "failed to create/acquire the lock" in low:
        return Failure("locked", f"repository locked by another process ({error_line(text)})")
    if "previously unknown unencrypted repository" in low:
        return Failure(
            "other",
            "borg refuses an unencrypted repository it has not used before "
            "(BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no)",
        )
    if "was previously located at" in low:
        return Failure(
            "other",
            "the repository was previously located elsewhere: borg refuses it "
            "(BORG_RELOCATED_REPO_ACCESS_IS_OK=no)",
        )
    line = error_line(text)
    return Failure("other", f"{doing} failed (exit code {code})" + (f": {line}" if line else ""))
