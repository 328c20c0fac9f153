"""A backup job's own report (Veeam, Bacula, a tape job): a command that prints a small JSON
object, read defensively; its ``last_success`` is the newest good recovery point.

The object (documented in the README)::

    {"last_success": "2026-12-02T02:14:00+01:00" | 1796170440 | null,
     "size_bytes": 123456789, "status": "ok" | "failed", "message": "..."}

``last_success`` is required (an ISO 8601 time with its zone, or epoch seconds; null: never);
the others are optional; other keys are ignored. Anything else is UNKNOWN in words.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pacs_tui.backup.repository import with_size_trend
from pacs_tui.backup.rpo import measure, span_words
from pacs_tui.backup.tool import (
    BASE_PATH,
    LINE_LIMIT,
    Unreadable,
    error_line,
    load_json,
    parse_time,
    size_value,
)
from pacs_tui.durations import seconds_words
from pacs_tui.model import Result, Status, Target, TargetKind
from pacs_tui.source import HistoryReader
from pacs_tui.visible import visible

#: What the command prints is read up to this size (its report is a line).
OUTPUT_LIMIT = 64 * 1024
#: A message longer than this is not what the report is for.
MESSAGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class CommandBackupConfig:
    """A ``[[backup.command]]`` entry: the argv (no shell) and its environment's variables."""

    id: str
    command: tuple[str, ...]
    rpo: float
    interval: float = 300.0
    timeout: float = 60.0
    site: str = ""
    description: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    last_success: float | None
    size: float | None = None
    failed: bool = False
    message: str = ""


def parse_report(text: str) -> Report:
    """The command's JSON report (see the module), or :class:`Unreadable` saying what is
    wrong with it."""
    data = load_json(text, "the command")
    if not isinstance(data, dict):
        raise Unreadable("the command printed JSON that is not an object with last_success")
    if "last_success" not in data:
        raise Unreadable("the command printed no last_success")
    last = _moment(data["last_success"])
    size = None
    if "size_bytes" in data:
        size = size_value(data["size_bytes"])
        if size is None:
            raise Unreadable("size_bytes is not a number of bytes")
    status = data.get("status", "ok")
    if status not in ("ok", "failed"):
        raise Unreadable('status is neither "ok" nor "failed"')
    message = data.get("message", "")
    if not isinstance(message, str) or len(message) > MESSAGE_LIMIT:
        raise Unreadable(f"message is not a string of at most {MESSAGE_LIMIT:,} characters")
    return Report(last, size, status == "failed", message)


def _moment(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise Unreadable("last_success is not a time (epoch seconds above 0)")
        return float(value)
    try:
        return parse_time(value)
    except ValueError:
        raise Unreadable(
            "last_success is neither an ISO 8601 time with its zone nor epoch seconds"
        ) from None


def command_target(entry: CommandBackupConfig) -> Target:
    labels = {
        "kind": "command",
        "path": entry.command[0],
        "rpo": span_words(entry.rpo),
        "site": entry.site,
        "description": entry.description,
    }
    return Target(entry.id, TargetKind.BACKUP, labels)


class CommandBackupCheck:
    """Run the command every ``interval``; its report's last success against the RPO."""

    pool = "backup"

    def __init__(
        self,
        entry: CommandBackupConfig,
        history: HistoryReader | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entry = entry
        self._history = history
        self.target = command_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._clock = clock

    def __repr__(self) -> str:
        return f"CommandBackupCheck({self.target.id!r}, {self.entry.command[0]!r})"

    @property
    def settings(self) -> CommandBackupConfig:
        return self.entry

    async def check(self) -> Result:
        from pacs_tui.probes.plugin_run import run_plugin  # the probes package imports this

        entry = self.entry
        env = {"PATH": BASE_PATH, "LC_ALL": "C", **entry.env}
        run = await run_plugin(
            entry.command, timeout=self.timeout, env=env, output_limit=OUTPUT_LIMIT
        )
        now = self._clock()
        details: dict[str, Any] = {"path": entry.command[0]}
        program = visible(os.path.basename(entry.command[0]), 80)

        def unknown(words: str) -> Result:
            return Result(Status.UNKNOWN, words, details=details, ts=now)

        if run.error is not None:
            return unknown(visible(run.error, LINE_LIMIT))
        if run.timed_out:
            words = f"{program} did not answer within {seconds_words(self.timeout)}"
            return Result(Status.DOWN, words, details=details, ts=now)
        if run.signal is not None:
            return unknown(f"{program} was killed by signal {run.signal}")
        if run.exit_code != 0:
            line = error_line(run.stderr)
            return unknown(
                f"{program} exited with code {run.exit_code}" + (f": {line}" if line else "")
            )
        if run.truncated:
            return unknown(f"{program} printed more than {OUTPUT_LIMIT // 1024} KiB: not read")
        try:
            report = parse_report(run.output)
        except Unreadable as exc:
            return unknown(str(exc))
        measured = measure(
            report.last_success,
            now,
            entry.rpo,
            "last successful backup",
            "no successful backup reported",
        )
        parts: list[tuple[Status, str]] = [(measured.status, measured.words)]
        message = visible(report.message, LINE_LIMIT)
        if report.failed:
            parts.append((Status.WARN, "the last job failed" + (f": {message}" if message else "")))
        elif message:
            details["message"] = message
        metrics: dict[str, float] = {}
        if measured.age is not None and measured.ratio is not None:
            metrics["backup_age_seconds"] = measured.age
            metrics["backup_rpo_ratio"] = measured.ratio
        if report.size is not None:
            metrics["backup_size_bytes"] = report.size
        status = Status.worst(s for s, _ in parts)
        ordered = sorted(parts, key=lambda p: -p[0].rank)
        result = Result(status, "; ".join(w for _, w in ordered), metrics, details, ts=now)
        return await with_size_trend(result, self._history, self.target.id, now)

    async def close(self) -> None:
        """Nothing to close: each run's process group is gone when the run returns."""
