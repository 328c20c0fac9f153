"""restic: ``restic snapshots --json`` and ``restic stats --json`` read defensively (every field
type-checked), ``restic check``'s argv, and restic's exit codes and errors in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pacs_tui.backup.repository import Listing, Point, RepositoryConfig
from pacs_tui.backup.tool import (
    Failure,
    Unreadable,
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

#: Snapshots of a listing read at most (beyond: said, not read).
MAX_SNAPSHOTS = 100_000


@dataclass(frozen=True, slots=True)
class ResticConfig(RepositoryConfig):
    """A ``[[backup.restic]]`` entry: ``tags``/``paths``/``host`` choose the snapshots that
    count (restic's ``--tag``, ``--path``, ``--host``); ``read_data_subset`` ("5%", "1/7") is
    given to ``restic check``."""

    read_data_subset: str = ""
    tags: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    host: str = ""


class Restic:
    """How restic is asked and read (see :class:`pacs_tui.backup.repository.Tool`)."""

    name = "restic"
    point = "snapshot"
    listing = "restic snapshots"
    sizing = "restic stats"

    def __init__(self, entry: ResticConfig) -> None:
        self.entry = entry

    def env(self, password: str | None, folder: str) -> dict[str, str]:
        """restic's environment: the password and a cache of its own (never the argv)."""
        from pacs_tui.backup.tool import child_env

        extra = {"RESTIC_CACHE_DIR": folder}
        if password is not None:
            extra["RESTIC_PASSWORD"] = password
        return child_env(extra)

    def _base(self, *, no_lock: bool = False) -> list[str]:
        # --repo=VALUE: a repository that starts with "-" is never read as an option.
        argv = [self.entry.program or "restic", f"--repo={self.entry.repo}"]
        return [*argv, "--no-lock"] if no_lock else argv

    def chosen(self) -> str:
        entry = self.entry
        parts = [f"path {visible(path, VALUE_LIMIT)}" for path in entry.paths]
        if entry.tags:
            parts.insert(0, f"tag {visible(','.join(entry.tags), VALUE_LIMIT)}")
        if entry.host:
            parts.append(f"host {visible(entry.host, VALUE_LIMIT)}")
        return f"with {', '.join(parts)} (the config's choice)" if parts else ""

    def list_argv(self, *, no_lock: bool) -> list[str]:
        argv = [*self._base(no_lock=no_lock), "snapshots", "--json"]
        entry = self.entry
        if entry.tags:
            argv.append(f"--tag={','.join(entry.tags)}")
        argv += [f"--path={path}" for path in entry.paths]
        if entry.host:
            argv.append(f"--host={entry.host}")
        return argv

    def parse_list(self, text: str) -> Listing:
        return parse_snapshots(text)

    def size_argv(self, newest: Point, *, no_lock: bool) -> list[str]:
        return [*self._base(no_lock=no_lock), "stats", "--json", "--mode=restore-size", newest.id]

    def parse_size(self, text: str, newest: Point) -> float:
        return parse_stats(text)

    def check_argv(self) -> list[str]:
        argv = [*self._base(), "check"]
        if self.entry.read_data_subset:
            argv.append(f"--read-data-subset={self.entry.read_data_subset}")
        return argv

    def unlock_argv(self) -> list[str]:
        # Without --remove-all: only the locks of processes that are gone (ours, killed).
        return [*self._base(), "unlock"]

    def failure(self, run: PluginRun, doing: str, secret: str | None) -> Failure | None:
        return failure(run, doing, self.entry, secret)


def parse_snapshots(text: str) -> Listing:
    """``restic snapshots --json``: a list of snapshots, each with an ``id``, a ``time`` with
    its zone, ``paths`` and ``hostname`` (``tags`` and, from restic 0.17, ``summary`` when
    there); an entry without them is left out and counted."""
    data = load_json(text, "restic snapshots")
    if not isinstance(data, list):
        raise Unreadable("restic snapshots printed JSON that is not a list of snapshots")
    if len(data) > MAX_SNAPSHOTS:
        raise Unreadable(f"more than {MAX_SNAPSHOTS:,} snapshots: not read")
    points: list[Point] = []
    for item in data:
        point = _snapshot(item)
        if point is not None:
            points.append(point)
    skipped = len(data) - len(points)
    if data and not points:
        raise Unreadable(
            f"none of the {len(data):,} entries restic snapshots printed is a snapshot "
            "(id, time, paths): another restic version?"
        )
    return Listing(tuple(points), skipped)


def _strings(value: object, *, limit: int = 256) -> tuple[str, ...] | None:
    if not isinstance(value, list) or len(value) > limit:
        return None
    if not all(isinstance(v, str) and len(v) <= 4096 for v in value):
        return None
    return tuple(value)


def _snapshot(item: object) -> Point | None:
    if not isinstance(item, dict):
        return None
    ident = text_value(item.get("id"), 128)
    host = text_value(item.get("hostname"))
    paths = _strings(item.get("paths"))
    tags = _strings(item.get("tags", []))
    if not ident or host is None or paths is None or tags is None:
        return None
    try:
        when = parse_time(item.get("time"))  # restic writes its zone ("Z", "+01:00")
    except ValueError:
        return None
    summary = item.get("summary")
    size = size_value(summary.get("total_bytes_processed")) if isinstance(summary, dict) else None
    short = text_value(item.get("short_id"), 64) or ident[:8]
    group = " ".join([host, *paths]) + (f" [{','.join(tags)}]" if tags else "")
    return Point(ident, when, short, group, size)


def parse_stats(text: str) -> float:
    """``restic stats --json``'s ``total_size`` (bytes)."""
    data = load_json(text, "restic stats")
    size = size_value(data.get("total_size")) if isinstance(data, dict) else None
    if size is None:
        raise Unreadable("restic stats printed no total_size")
    return size


_LOCKED_BY = re.compile(r"locked (exclusively )?by (PID \d+ on .+?)\s*$", re.MULTILINE)
_LOCK_CREATED = re.compile(r"lock was created at ([0-9-]+ [0-9:]+)")


def _lock_words(text: str) -> str:
    """ "repository locked exclusively by PID 4127 on backup1 by root (UID 0, GID 0) since
    2026-12-02 02:00:03", or as much of it as restic said."""
    found = _LOCKED_BY.search(text)
    if found is None:
        line = error_line(text)
        return f"repository locked by another process ({line})" if line else "repository locked"
    words = f"repository locked {found.group(1) or ''}by {found.group(2)}"
    created = _LOCK_CREATED.search(text)
    if created:
        words += f" since {created.group(1)}"
    return visible(words, VALUE_LIMIT)


def failure(
    run: PluginRun, doing: str, entry: RepositoryConfig, secret: str | None
) -> Failure | None:
    """A restic run's failure in words, None when it succeeded. restic 0.14 to 0.16 exit 1 for
    every fatal error (its stderr says which); 0.17 added 10 (no repository), 11 (could not
    lock) and 12 (wrong password)."""
    common = run_failure(run, doing)
    if common is not None:
        return common
    code = run.exit_code
    if code == 0:
        return None
    text = scrub(run.stderr, secret)
    low = run.stderr.lower()  # the tool's own phrases, read before any line is masked
    if code == 12 or "wrong password" in low:
        return Failure(
            "password", f"wrong password for the repository (secret {entry.password_secret})"
        )
    # restic 0.14 adds "Is there a repository at the following location?" to any error opening
    # the config (permission denied too): only "no such file" means there is none.
    missing = "repository does not exist" in low
    if code == 10 or missing or ("unable to open config file" in low and "no such file" in low):
        return Failure("missing", f"no restic repository at {visible(entry.repo, VALUE_LIMIT)}")
    if code == 11 or "unable to create lock" in low or "already locked" in low:
        return Failure("locked", _lock_words(text))
    line = error_line(text)
    return Failure("other", f"{doing} failed (exit code {code})" + (f": {line}" if line else ""))
