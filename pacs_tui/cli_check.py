"""``pacs-tui check``: a Nagios / Zabbix / Icinga check of the site (see :mod:`pacs_tui.nagios`).

Everything it says, its own failures included, is one line on stdout and an exit code: a
broken config or an unknown target is UNKNOWN (3) with the reason, never a traceback, and so is
no answer within ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from pacs_tui.config import Config, ConfigError, ConfigNotFound, load_config
from pacs_tui.config_reader import closest, some_of
from pacs_tui.durations import parse_duration
from pacs_tui.logs import setup_logging
from pacs_tui.model import Status, TargetKind, TargetState, never_drilled
from pacs_tui.nagios import NAME, Thresholds, judge, render
from pacs_tui.probes.perfdata import parse_range
from pacs_tui.visible import visible

log = logging.getLogger(__name__)

RANGE_HELP = "a Nagios range like 10, 10:, ~:10, 10:20 or @10:20"


class CheckProblem(Exception):
    """The check cannot say anything about the site: UNKNOWN, with this reason."""


def unknown(reason: str) -> int:
    print(visible(f"{NAME} UNKNOWN - {reason}"))
    return Status.UNKNOWN.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    setup_logging(args.log_level if args.log_level != "info" else "error")
    try:
        thresholds = _thresholds(args.warn, args.crit)
        timeout = parse_duration(args.timeout)
        if not 0.1 <= timeout <= 600:  # "0s" waited for nothing, and said "no answer within 0s"
            raise ValueError("expected from 100ms to 10m")
        config = load_config(args.config)
    except CheckProblem as exc:
        return unknown(str(exc))
    except ValueError as exc:
        return unknown(f"--timeout {args.timeout!r}: {exc}")
    except ConfigNotFound as exc:
        return unknown(f"config: {exc}")
    except ConfigError as exc:
        where = f" {exc.source}" if exc.source else ""
        first = exc.problems[0] if exc.problems else "unusable"
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return unknown(f"config{where}: {first}{more}")

    async def run() -> int:
        try:
            states, intervals = await asyncio.wait_for(_states(config), timeout)
            chosen = _chosen(states, args.target, args.kind)
        except TimeoutError:
            return unknown(f"no answer within {args.timeout}")
        except CheckProblem as exc:
            return unknown(str(exc))
        verdicts = judge(chosen, now=time.time(), intervals=intervals, thresholds=thresholds)
        print(render(verdicts, thresholds))
        return Status.worst(v.status for v in verdicts).exit_code

    return asyncio.run(run())


def _thresholds(warn: str | None, crit: str | None) -> Thresholds:
    ranges = []
    for option, text in (("--warn", warn), ("--crit", crit)):
        found = parse_range(text) if text is not None else None
        if text is not None and found is None:
            raise CheckProblem(f"{option} {text!r}: expected {RANGE_HELP}")
        ranges.append(found)
    return Thresholds(ranges[0], ranges[1], warn or "", crit or "")


async def _states(config: Config) -> tuple[list[TargetState], dict[str, float] | None]:
    """The collector's states and intervals (so stale ones can be told), else the states of
    one run of every check (fresh: no intervals)."""
    from pacs_tui.collector_client import AttachError, CollectorStopped, collector_states

    stopped = ""
    try:
        found = await collector_states(config.socket_path)
    except CollectorStopped as exc:  # killed: what it ran (listeners, taps) is not running
        stopped, found = str(exc), None
        log.error("check: %s; checking every target here", stopped)  # said whatever the level
    except AttachError as exc:
        raise CheckProblem(f"the collector: {exc}") from None
    if found is not None:
        return found
    from pacs_tui.cli_engine import open_history_readonly
    from pacs_tui.engine import Engine

    history = await open_history_readonly(config, "check")
    try:
        engine = Engine(config, history=history)
        try:
            return await engine.run_once(stopped), None
        finally:
            await engine.stop()
    finally:
        if history is not None:
            await history.close()


def _chosen(states: list[TargetState], target: str | None, kind: str | None) -> list[TargetState]:
    for asked, known, what in (
        (target, sorted(s.id for s in states), "target"),
        (kind, sorted({str(s.target.kind) for s in states}), "kind of target"),
    ):
        if asked is not None and asked not in known:
            if what == "kind of target" and asked in {str(k) for k in TargetKind}:
                raise CheckProblem(f"this site has no target of kind {asked!r}")
            close = closest(asked, known)
            hint = f" (did you mean {close!r}?)" if close else ""
            listed = some_of(known, 20)
            raise CheckProblem(f"no {what} {asked!r}{hint}; known: {listed or 'none'}")
    return [
        s
        for s in states
        if (target is None or s.id == target)
        and (kind is None or s.target.kind == kind)
        # A drill no one has run yet is nothing wrong: left out unless asked for by its id
        # or its kind (then UNKNOWN "no drill run yet", not "no targets").
        and (target is not None or kind == TargetKind.DRILL or not never_drilled(s))
    ]
