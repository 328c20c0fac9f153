"""The log tail source: PACS, DICOM proxy and interface-engine logs followed as they grow
(``[[logtail]]``), the lines that match its patterns counted (defaults: Orthanc's and DCMTK's
error lines, common C-STORE failures), their rate a minute judged against ``warn``/``crit``,
and the last matching lines kept for the detail view with anything that looks like a patient's
name or identifier masked (:func:`pacs_tui.logtail.mask_phi`).

A long-running service: it polls its file every second in a thread (:class:`~pacs_tui.logtail.
Follower`: rotation, truncation, a file that goes and comes back) and reports every
``interval``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader
from pacs_tui.logtail import MAX_LINE, Follower, mask_phi
from pacs_tui.minute_rate import MinuteRate
from pacs_tui.model import Result, Status, Target, TargetKind, TargetState
from pacs_tui.source import BuildContext, Column, Emit, MetricSpec, Runnable, Source, WorkerLimit
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, visible

METRICS = (
    MetricSpec(
        "log_errors_per_minute", "", "Matches/min", description="matching lines a minute",
        headline=True, title="Matching lines a minute",
    ),
    MetricSpec("log_lines_total", "c", "Lines", kind="counter", description="lines read"),
    MetricSpec("log_matches_total", "c", "Matches", kind="counter", description="lines matched"),
)  # fmt: skip

#: Orthanc (glog: "E1202 10:11:12.123456 …"), DCMTK ("E: …", "F: …"), and C-STORE failures
#: as storescp, Orthanc, dcm4che and most PACS log them.
DEFAULT_PATTERNS = (
    r"^E\d{4} \d\d:\d\d:\d\d",
    r"^[EF]: ",
    r"(?i)\b(C-STORE|store ?scp|storage)\b.*\b(fail|failed|failure|error|refused|rejected)\b",
    r"(?i)\bout of resources\b|\b0x(A7|A9|C0)[0-9A-F]{2}\b",
)
#: Matching lines kept for the detail view.
RECENT_LINES = 20
POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LogtailConfig:
    id: str
    path: str
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    warn: float = 1.0  # matching lines a minute
    crit: float = 10.0
    interval: float = 10.0
    max_line: int = MAX_LINE
    site: str = ""
    description: str = ""


def _patterns(value: Any) -> tuple[str, ...]:
    items = cv.string_list(value, max_items=64, max_length=1000)
    if not items:
        raise ValueError
    for item in items:
        re.compile(item)  # re.error is a ValueError's cousin: caught below
    return items


def read(reader: Reader, raw: Any, site: str) -> tuple[LogtailConfig, ...]:
    if raw is None:
        return ()
    return reader.entries(raw, "logtail", lambda t, path: _entry(reader, t, path, site))


def _entry(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> LogtailConfig | None:
    keys = {"id", "path", "patterns", "warn", "crit", "interval", "max_line", "site",
            "description"}  # fmt: skip
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    where = get(t, "path", path, _absolute, "an absolute path (like /var/log/orthanc/Orthanc.log)")
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    if "patterns" in t:
        try:
            patterns = _patterns(t["patterns"])
        except (ValueError, re.error) as exc:
            detail = f" ({exc})" if isinstance(exc, re.error) else ""
            reader.problem(
                f"{path}.patterns", t["patterns"],
                f"a list of 1 to 64 regular expressions (Python's re){detail}",
            )  # fmt: skip
    warn = get(t, "warn", path, _per_minute, "matching lines a minute, a number ≥ 0", 1.0)
    crit = get(t, "crit", path, _per_minute, "matching lines a minute, a number ≥ 0", 10.0)
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 10.0)
    max_line = get(
        t, "max_line", path, cv.int_range(256, 16 * 2**20), "bytes from 256 to 16 MiB", MAX_LINE
    )
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    if isinstance(warn, float) and isinstance(crit, float) and crit < warn:
        reader.problem(f"{path}.crit", t.get("crit"), f"at least warn ({warn:g})")
    if len(reader.problems) > before:
        return None
    return LogtailConfig(
        entry_id, where, patterns, warn, crit, interval, max_line, entry_site, description
    )


def _absolute(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise ValueError
    return value


def _per_minute(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError
    return float(value)


def logtail_target(entry: LogtailConfig) -> Target:
    labels = {"path": entry.path, "site": entry.site, "description": entry.description}
    return Target(entry.id, TargetKind.LOGTAIL, labels)


def targets(entries: tuple[LogtailConfig, ...]) -> list[Target]:
    return [logtail_target(e) for e in entries]


class LogTail:
    """The ``serve(emit)`` service of one ``[[logtail]]``."""

    def __init__(self, entry: LogtailConfig) -> None:
        self.entry = entry
        self.id = entry.id
        self.target = logtail_target(entry)
        self.targets: Sequence[Target] = (self.target,)
        self._patterns = [re.compile(p) for p in entry.patterns]
        self.lines = 0
        self.matches = 0
        self.cut = 0
        self.recent: deque[tuple[float, str]] = deque(maxlen=RECENT_LINES)
        self._rate = MinuteRate()
        self._notes: deque[str] = deque(maxlen=5)

    @property
    def settings(self) -> LogtailConfig:
        return self.entry

    async def serve(self, emit: Emit) -> None:
        follower = Follower(self.entry.path, max_line=self.entry.max_line)
        try:
            next_report = time.monotonic()
            while True:
                polled = await asyncio.to_thread(follower.poll)
                self.take(polled.lines, polled.cut, polled.notes)
                now = time.monotonic()
                if now >= next_report:
                    emit.result(self.id, self.report(now, follower.missing))
                    next_report = now + self.entry.interval
                await asyncio.sleep(POLL_SECONDS)
        finally:
            follower.close()

    def take(self, lines: Iterable[str], cut: int = 0, notes: Iterable[str] = ()) -> None:
        """Count ``lines`` and keep the matching ones (masked)."""
        now = time.time()
        for line in lines:
            self.lines += 1
            if any(p.search(line) for p in self._patterns):
                self.matches += 1
                self.recent.append((now, visible(mask_phi(line), TEXT_LIMIT)))
        self.cut += cut
        for note in notes:
            self._notes.append(f"{time.strftime('%H:%M:%S')} {note}")

    def report(self, now: float, missing: str = "") -> Result:
        """The result now: the matching lines of the last minute (:class:`MinuteRate`)."""
        rate = self._rate(now, self.matches)
        metrics = {
            "log_errors_per_minute": rate,
            "log_lines_total": float(self.lines),
            "log_matches_total": float(self.matches),
        }
        details: dict[str, Any] = {  # the path is the target's label (said once)
            "recent": [_stamped(ts, line) for ts, line in reversed(self.recent)],
            "file": list(self._notes),
        }
        if self.cut:
            details["long_lines"] = f"{self.cut:,} lines over {self.entry.max_line:,} bytes, cut"
        shown = visible(self.entry.path, VALUE_LIMIT)
        if missing:
            return Result(Status.WARN, f"{shown}: {missing}", metrics, details)
        last = f"; last: {self.recent[-1][1][:120]}" if self.recent else ""
        for status, limit in ((Status.CRIT, self.entry.crit), (Status.WARN, self.entry.warn)):
            if rate >= limit > 0:
                words = f"{rate:g} matching line{_s(rate)} a minute ≥ {limit:g}{last}"
                return Result(status, words, metrics, details)
        return Result(
            Status.OK, f"{rate:g} matching line{_s(rate)} a minute{last}", metrics, details
        )

    async def close(self) -> None:
        """Nothing: ``serve`` closes its file when cancelled."""


def _s(count: float) -> str:
    return "" if count == 1 else "s"


def _stamped(ts: float, line: str) -> str:
    return f"{time.strftime('%H:%M:%S', time.localtime(ts))} {line}"


def build(entries: tuple[LogtailConfig, ...], ctx: BuildContext) -> list[Runnable]:
    return [LogTail(e) for e in entries]


def workers(entries: tuple[LogtailConfig, ...]) -> WorkerLimit:
    return WorkerLimit(max(1, len(entries)))


def example() -> list[tuple[str, Any]]:
    entry = tomlkit.table()
    entry.add(tomlkit.comment("A log followed as it grows; matching lines counted a minute."))
    entry.add("id", "orthanc-log")
    entry.add("path", "/var/log/orthanc/Orthanc.log")
    entry.add("warn", 1)
    entry["warn"].comment("matching lines a minute")
    entry.add("crit", 10)
    entry.add(tomlkit.comment("Optional: patterns (regular expressions; the default"))
    entry.add(tomlkit.comment("matches Orthanc and DCMTK error lines and C-STORE failures):"))
    entry.add(tomlkit.comment('patterns = ["^E\\\\d{4} ", "(?i)c-store.*failed"]'))
    return [("logtail", AoT([entry]))]


def tile_summary(states: Iterable[TargetState]) -> str:
    rates = [s.metrics.get("log_errors_per_minute", 0.0) for s in states]
    total = sum(rates)
    return f"{total:g} matching line{_s(total)}/min" if rates else ""


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Log", "id", None, True),
    Column("path", "Path", "label", None, False, "path"),
    Column("rate", "Per min", "value", 8, True, "log_errors_per_minute", "most first", "", True),
    Column("trend", "Last hour", "trend", 14, False),
    Column("since", "Since", "since", 10, False, "", "latest change first", "oldest first", True),
    Column("reason", "Reason", "reason", None, True),
)

SOURCE = Source(
    name="logtail",
    title="Logs",
    kinds=(TargetKind.LOGTAIL,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="log",
    entry="[[logtail]]",
    screen="logs",
    screen_title="Logs",
    detail_labels={"path": "Path", "recent": "Recent", "file": "File", "long_lines": "Long lines"},
    tile_summary=tile_summary,
)
