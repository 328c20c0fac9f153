"""The command source: any Nagios / Monitoring Plugins check run as a target (``[[command]]``).

Exit code → status (0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN, anything else UNKNOWN in words), the
first line → reason, perfdata → samples in base units named with their unit's suffix
(``perf.time_seconds``, ``perf./_bytes``). The argv is a list (never a shell), the environment
is only what the config gives plus a fixed minimal one, the output is capped and a timeout
kills the whole process group (:mod:`pacs_tui.probes.plugin_run`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader
from pacs_tui.model import Result, Status, Target, TargetKind, TargetState
from pacs_tui.source import (
    UNIT_SUFFIXES,
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
)
from pacs_tui.visible import TEXT_LIMIT

#: Plugins of one site run at most this many at a time (subprocess slots, not DICOM workers).
SLOTS = 32
#: What a plugin's environment holds unless the entry's ``env`` says otherwise: a fixed PATH
#: and the C locale, so numbers in perfdata use a decimal point whatever the server's locale.
BASE_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}
#: At most this much of a plugin's output is read (the rest is drained and dropped).
OUTPUT_LIMIT = 64 * 1024

RUN_SECONDS = MetricSpec(
    "run_seconds", "s", "Run", description="the plugin's run time", scale=(0.001, 10.0)
)
METRICS = (RUN_SECONDS,)

_NAGIOS_STATUS = {0: Status.OK, 1: Status.WARN, 2: Status.CRIT, 3: Status.UNKNOWN}
#: A perfdata value's base unit → its metric-name suffix (the naming spec_from_name reads).
_UNIT_SUFFIX = {unit: suffix for suffix, unit in UNIT_SUFFIXES}


@dataclass(frozen=True, slots=True)
class CommandConfig:
    id: str
    command: tuple[str, ...]
    interval: float = 60.0
    timeout: float = 10.0
    site: str = ""
    description: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


def read(reader: Reader, raw: Any, site: str) -> tuple[CommandConfig, ...]:
    """The ``[[command]]`` entries (absent: none)."""
    if raw is None:
        return ()
    return reader.entries(raw, "command", lambda t, path: _entry(reader, t, path, site))


def _entry(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> CommandConfig | None:
    keys = {"id", "command", "interval", "timeout", "site", "description", "env"}
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    argv = _argv(reader, t.get("command", cv.MISSING), f"{path}.command")
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 60.0)
    # Unless given, the timeout is 10 s, or half the interval for a check run more often.
    default_timeout = min(10.0, interval / 2) if isinstance(interval, float) else 10.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    env = _env(reader, t.get("env", {}), f"{path}.env")
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    if len(reader.problems) > before:
        return None
    return CommandConfig(entry_id, argv, interval, timeout, entry_site, description, env)


#: Bounds of an argv and of an environment (a value over them is a config error, not an
#: "argument list too long" at run time).
MAX_ARGS = 256
MAX_ARG_LENGTH = 4096
MAX_ENV = 64
_ARGV_EXPECTED = (
    "the plugin and its arguments as a list of strings, the plugin an absolute path "
    '(like ["/usr/lib/nagios/plugins/check_tcp", "-H", "db1", "-p", "5432"]); no shell is used'
)
#: POSIX environment variable names.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _argv(reader: Reader, value: Any, key: str) -> tuple[str, ...]:
    """The argv, each problem named by its place (``command[0]``); () when there are any."""
    if value is cv.MISSING:
        reader.problem(key, cv.MISSING, _ARGV_EXPECTED)
        return ()
    if not isinstance(value, list) or not value:
        reader.problem(key, value, _ARGV_EXPECTED)
        return ()
    before = len(reader.problems)
    if len(value) > MAX_ARGS:
        reader.problem(key, value, f"at most {MAX_ARGS} arguments (this has {len(value):,})")
    for index, arg in enumerate(value[: MAX_ARGS + 1]):
        where = f"{key}[{index}]"
        if not isinstance(arg, str):
            reader.problem(where, arg, 'a string (write numbers in quotes: "5432")')
        elif "\0" in arg:
            reader.problem(where, arg, "a string without NUL characters")
        elif len(arg) > MAX_ARG_LENGTH:
            shown = f"{arg[:40]}…"
            reader.problem(where, shown, f"at most {MAX_ARG_LENGTH:,} characters")
    first = value[0]
    if isinstance(first, str) and not os.path.isabs(first):
        reader.problem(
            f"{key}[0]",
            first,
            "the plugin's absolute path (like /usr/lib/nagios/plugins/check_tcp): the "
            "plugin is not looked up in PATH",
        )
    return tuple(value) if len(reader.problems) == before else ()


def _env(reader: Reader, value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict):
        reader.problem(key, value, 'a table of environment variables: { NAME = "value" }')
        return {}
    if len(value) > MAX_ENV:
        reader.problem(key, value, f"at most {MAX_ENV} variables")
        return {}
    out: dict[str, str] = {}
    for name, text in value.items():
        where = f"{key}.{name}"
        if not _ENV_NAME.match(name):
            reader.problem(
                where, text, "a variable name of letters, digits and '_', not starting with a digit"
            )
        elif not isinstance(text, str) or "\0" in text:
            reader.problem(where, text, "a string without NUL characters")
        elif len(text) > MAX_ARG_LENGTH:
            reader.problem(where, f"{text[:40]}…", f"at most {MAX_ARG_LENGTH:,} characters")
        else:
            out[name] = text
    return out


def command_target(entry: CommandConfig) -> Target:
    return Target(
        entry.id,
        TargetKind.COMMAND,
        {
            "plugin": os.path.basename(entry.command[0]),
            "site": entry.site,
            "description": entry.description,
        },
    )


def targets(entries: tuple[CommandConfig, ...]) -> list[Target]:
    return [command_target(e) for e in entries]


class CommandCheck:
    """Run one plugin every ``interval``; the result is what its exit code and output say."""

    pool = "command"

    def __init__(self, entry: CommandConfig) -> None:
        self.entry = entry
        self.target = command_target(entry)
        self.interval = entry.interval
        self.timeout = entry.timeout

    def __repr__(self) -> str:
        return f"CommandCheck({self.target.id!r}, {self.entry.command[0]!r})"

    @property
    def settings(self) -> CommandConfig:
        """Its whole entry (argv, env, …): a reload that leaves it alone keeps it running."""
        return self.entry

    async def check(self) -> Result:
        from pacs_tui.probes.perfdata import metric_name, parse_output
        from pacs_tui.probes.plugin_run import exit_status_words, run_plugin

        started = time.monotonic()
        run = await run_plugin(
            self.entry.command,
            timeout=self.timeout,
            env={**BASE_ENV, **self.entry.env},
            output_limit=OUTPUT_LIMIT,
        )
        elapsed = time.monotonic() - started
        metrics: dict[str, float] = {RUN_SECONDS.name: elapsed}
        if run.error is not None:
            return Result(Status.UNKNOWN, run.error, metrics, {"path": self.entry.command[0]})
        code, words = exit_status_words(run)
        text = _is_text(run.output)
        parsed = parse_output(run.output if text else "")
        headline: str | None = None
        for value in parsed.perfdata:
            if value.value is None:
                continue
            name = metric_name(value.label) + _UNIT_SUFFIX.get(value.unit, "")
            if name not in metrics:
                metrics[name] = value.value
                headline = headline or name
        # A plugin that timed out is CRIT, as Nagios' service_check_timeout_state defaults to.
        status = Status.CRIT if run.timed_out else _NAGIOS_STATUS.get(code, Status.UNKNOWN)
        if not text:
            summary = f"output is not text ({len(run.output):,} characters, perfdata ignored)"
        else:
            summary = _first_line(parsed.summary)
        if not summary:
            first_err = run.stderr.strip().splitlines()[:1]
            summary = (
                f"no output; stderr: {_first_line(first_err[0])}" if first_err else "no output"
            )
        # The plugin's own status reads as its first line; anything else (a signal, exit 127,
        # a timeout) says what happened first.
        own = not run.timed_out and run.signal is None and run.exit_code in _NAGIOS_STATUS
        reason = summary if own else f"{words}; {summary}"
        details: dict[str, Any] = {
            "path": self.entry.command[0],
            "exit_code": run.exit_code,
            # "1 (WARNING)": the code the plugin gave, and what it means
            "exit": f"{run.exit_code} ({words})" if own else words,
            "long_text": "\n".join(parsed.long_text)[:TEXT_LIMIT],
            "perfdata_problems": list(parsed.problems)[:8],
            "truncated": run.truncated,
            "headline": headline or RUN_SECONDS.name,
        }
        return Result(status, reason, metrics, details)

    async def close(self) -> None:
        """Nothing to close: each run's process group is gone when the run returns."""


#: A reason is the plugin's first line, cut here (the guidelines ask for a short one; the rest
#: of the output is in the detail screen).
REASON_LIMIT = 300


def _first_line(text: str) -> str:
    line = text.strip()
    return line if len(line) <= REASON_LIMIT else line[: REASON_LIMIT - 1] + "…"


def _is_text(output: str) -> bool:
    """Is this what a plugin prints, not binary (NULs, or bytes that were not UTF-8)?"""
    if "\0" in output:
        return False
    return output.count("\ufffd") <= max(2, len(output) // 100)


def build(entries: tuple[CommandConfig, ...], ctx: BuildContext) -> list[Runnable]:
    return [CommandCheck(e) for e in entries]


def workers(entries: tuple[CommandConfig, ...]) -> WorkerLimit:
    # A place per check (each runs once at a time), so a hung plugin holds only its own;
    # bounded, so a site of hundreds of checks never forks hundreds of plugins at once.
    return WorkerLimit(max(1, min(len(entries), SLOTS)))


def headline(state: TargetState) -> str | None:
    name = state.details.get("headline")
    return name if isinstance(name, str) else RUN_SECONDS.name


def example() -> list[tuple[str, Any]]:
    entry = tomlkit.table()
    entry.add(tomlkit.comment("Any Nagios or Monitoring Plugins check, run as a target."))
    entry.add("id", "ris-db")
    entry.add(
        "command",
        ["/usr/lib/nagios/plugins/check_tcp", "-H", "127.0.0.1", "-p", "5432"],
    )
    entry["command"].comment("the plugin (absolute path) and its arguments; no shell")
    entry.add("interval", "1m")
    entry.add("timeout", "10s")
    entry["timeout"].comment("then the plugin's whole process group is killed (CRIT)")
    entry.add("description", "RIS database port")
    entry.add(tomlkit.comment("Optional (a plugin gets PATH, LC_ALL and only these variables):"))
    entry.add(tomlkit.comment('site = "main"'))
    entry.add(tomlkit.comment('env = { PGCONNECT_TIMEOUT = "5" }'))
    return [("command", AoT([entry]))]


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Check", "id", None, True),
    Column("plugin", "Plugin", "label", None, False, "plugin"),
    Column("value", "Value", "value", None, True, "", "highest first", "lowest first", True, True),
    Column("since", "Since", "since", 10, True, "", "latest change first", "oldest first", True),
    Column("reason", "Output", "reason", None, True),
)

SOURCE = Source(
    name="command",
    title="Command checks",
    kinds=(TargetKind.COMMAND,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    headline=headline,
    noun="command check",
    entry="[[command]]",
    screen="checks",
    screen_title="Checks",
    detail_labels={
        "path": "Path",
        "exit": "Exit",
        "long_text": "Output",
        "perfdata_problems": "Perfdata",
    },
    hidden_details=frozenset({"exit_code", "headline", "truncated"}),
)
