"""A restic or borg repository as a check: its recovery points listed every ``interval``, the
newest measured against the RPO, its size, and the tool's integrity check run in the background
every ``check_interval``, its verdict remembered (and read back from the history at start)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pacs_tui.backup.rpo import Measured, measure, span_words
from pacs_tui.backup.tool import (
    CheckOutcome,
    Failure,
    NoPassword,
    Unreadable,
    check_errors,
    error_line,
    private_dir,
    resolve_password,
)
from pacs_tui.durations import seconds_words
from pacs_tui.model import Result, Status, Target, TargetKind
from pacs_tui.source import HistoryReader
from pacs_tui.store.schema import RAW_RECENT
from pacs_tui.units import format_value
from pacs_tui.visible import VALUE_LIMIT, visible

if TYPE_CHECKING:  # the probes package imports the sources, which import this
    from pacs_tui.probes.plugin_run import PluginRun

log = logging.getLogger(__name__)

DAY = 86400.0
#: A listing is read up to this size (a restic snapshot is ~400 bytes: some 40,000 of them).
LIST_LIMIT = 16 * 2**20
#: A size's or a check's output is read up to this size (only its first lines are shown).
SIZE_LIMIT = 2**20
CHECK_LIMIT = 2**20
#: A check that could not conclude (locked out, timed out) is tried again after this long.
CHECK_RETRY = 3600.0
#: ``restic unlock`` after a run was killed gets this long (at close: the shorter one).
UNLOCK_TIMEOUT = 60.0
UNLOCK_TIMEOUT_AT_CLOSE = 5.0
#: Groups of recovery points listed in the details (the newest of each).
GROUPS_SHOWN = 10
#: A group's name (host, paths, tags) is cut to this many characters in the words.
GROUP_NAME_LIMIT = 80


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """What restic's and borg's entries share. ``password_secret`` is the NAME of
    ``password = "secret:NAME"``, resolved at each check; ``check_interval`` None: never."""

    id: str
    repo: str
    rpo: float
    password_secret: str = ""
    interval: float = 300.0
    timeout: float = 60.0
    check_interval: float | None = DAY
    check_timeout: float = 3600.0
    site: str = ""
    description: str = ""
    #: The tool's absolute path; "" looks it up in /usr/local/bin, /usr/bin, /bin.
    program: str = ""


@dataclass(frozen=True, slots=True)
class Point:
    """One recovery point: a snapshot or an archive."""

    id: str
    time: float
    name: str = ""
    #: What it protects, for the newest-per-group list ("vm /srv/pacs [daily]"); "" for one.
    group: str = ""
    #: Its size when the listing says it (restic ≥ 0.17's summary); else read separately.
    size: float | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    points: tuple[Point, ...]
    #: Entries of the listing that were not understood (left out, counted).
    skipped: int = 0


class Tool(Protocol):
    """How one backup tool is asked (argv, environment) and read (listing, size, errors)."""

    name: str  # "restic"
    point: str  # "snapshot"
    listing: str  # "restic snapshots": how its listing is named in the reasons
    sizing: str  # "restic stats"

    @property
    def entry(self) -> RepositoryConfig: ...

    def env(self, password: str | None, folder: str) -> dict[str, str]: ...

    def list_argv(self, *, no_lock: bool) -> list[str]: ...

    def parse_list(self, text: str) -> Listing: ...

    def size_argv(self, newest: Point, *, no_lock: bool) -> list[str]: ...

    def parse_size(self, text: str, newest: Point) -> float: ...

    def check_argv(self) -> list[str]: ...

    def unlock_argv(self) -> list[str] | None:
        """What removes the stale lock a run killed at its timeout left (None: the tool
        removes a dead local process's lock itself)."""
        ...

    def failure(self, run: PluginRun, doing: str, secret: str | None) -> Failure | None:
        """None when the run succeeded, else what went wrong in words."""
        ...

    def chosen(self) -> str:
        """The config's choice of points in words ("with tag db"), "" when every one counts:
        a choice that matches nothing must not read as an empty repository."""
        ...


def repository_target(kind: str, entry: RepositoryConfig) -> Target:
    labels = {
        "kind": kind,
        "path": entry.repo,
        "rpo": span_words(entry.rpo),
        "site": entry.site,
        "description": entry.description,
    }
    return Target(entry.id, TargetKind.BACKUP, labels)


def verdict(tool: Tool, run: PluginRun, secret: str | None, at: float) -> CheckOutcome:
    """An integrity check's run as a verdict: passed, failed (errors found: the repository's
    fault), or inconclusive (locked out, timed out, no repository: nothing said about it)."""
    doing = f"{tool.name} check"
    failure = tool.failure(run, doing, secret)
    if failure is None:
        return CheckOutcome(True, "passed", at)
    if failure.kind == "other":
        return CheckOutcome(False, check_errors(run.stderr, secret), at)
    if failure.kind == "timeout":
        words = f"{doing} did not finish within {seconds_words(run.timeout)}"
        return CheckOutcome(None, words, at)
    if failure.kind == "locked":
        return CheckOutcome(None, f"{doing} could not lock the repository: {failure.words}", at)
    return CheckOutcome(None, f"{doing} did not run: {failure.words}", at)


def _clock_words(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


#: A tool that did not start says nothing of the repository: UNKNOWN; every other failure of
#: the listing (no answer, no repository, wrong password, locked) is DOWN.
_FAILURE_STATUS: dict[str, Status] = {"start": Status.UNKNOWN}


@dataclass
class _Checking:
    """The integrity check's state: the run in flight, the last verdict, the next due."""

    task: asyncio.Task[None] | None = None
    started: float = 0.0
    outcome: CheckOutcome | None = None  # the last run's, whatever it said
    done: CheckOutcome | None = None  # the last run that concluded (passed or failed)
    due: float | None = None  # None: at the first good listing
    unlocking: asyncio.Task[None] | None = None  # a stale lock being removed
    sized: dict[str, float | None] = field(default_factory=dict)  # newest id → its size


class RepositoryCheck:
    """One repository every ``interval``: its recovery points, the newest's age against the
    RPO, its size, and the integrity check's verdict."""

    pool = "backup"

    def __init__(
        self,
        tool: Tool,
        target: Target,
        executor: ThreadPoolExecutor | None = None,
        history: HistoryReader | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tool = tool
        self.entry = tool.entry
        self.target = target
        self.interval = self.entry.interval
        self.timeout = self.entry.timeout
        self._executor = executor
        self._history = history
        self._clock = clock
        self._seeded = False
        self._state = _Checking()
        self._wake: Callable[[], None] | None = None

    def bind_wake(self, wake: Callable[[], None]) -> None:
        """The scheduler's "run me now": called when an integrity check ends, so that its
        verdict is shown at once, not "running" until the next listing (up to ``interval``)."""
        self._wake = wake

    def __repr__(self) -> str:
        return f"RepositoryCheck({self.tool.name}, {self.target.id!r})"

    @property
    def settings(self) -> RepositoryConfig:
        return self.entry

    # -- one check ------------------------------------------------------------------------------

    async def check(self) -> Result:
        now = self._clock()
        if not self._seeded:
            await self._seed(now)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        tool = self.tool
        try:
            password, folder = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._prepare), self.timeout
            )
        except TimeoutError:
            return self._failed(Status.UNKNOWN, "the password could not be read in time", now)
        except NoPassword as exc:
            return self._failed(Status.UNKNOWN, str(exc), now)
        except OSError as exc:
            words = f"cannot make {tool.name}'s cache folder: {exc.strerror or exc}"
            return self._failed(Status.UNKNOWN, visible(words, VALUE_LIMIT), now)
        env = tool.env(password, folder)
        ours = self._state.task is not None and not self._state.task.done()
        doing = tool.listing
        run = await self._run(tool.list_argv(no_lock=ours), env, deadline, LIST_LIMIT)
        failure = tool.failure(run, doing, password)
        locked = ""
        if failure is not None and failure.kind == "locked" and not ours:
            # Another process holds the lock (a prune, a check): the points are read without
            # it, so the RPO is still measured, and the lock is said.
            locked = failure.words
            run = await self._run(tool.list_argv(no_lock=True), env, deadline, LIST_LIMIT)
            failure = tool.failure(run, doing, password)
        if failure is not None:
            if run.timed_out:
                self._unlock_later(env)
            return self._failed(_FAILURE_STATUS.get(failure.kind, Status.DOWN), failure.words, now)
        if run.truncated:
            words = f"{doing} printed more than {LIST_LIMIT // 2**20} MiB: not read"
            return self._failed(Status.UNKNOWN, words, now)
        try:  # up to 16 MiB of JSON: parsed in the pool, not on the event loop
            listing = await loop.run_in_executor(self._executor, tool.parse_list, run.output)
        except Unreadable as exc:
            return self._failed(Status.UNKNOWN, str(exc), now)
        # Both tools list oldest first: of points of the same second, the last is the newest.
        last = max(enumerate(listing.points), key=lambda np: (np[1].time, np[0]), default=None)
        newest = last[1] if last is not None else None
        size, size_words = None, ""
        if newest is not None:
            size, size_words = await self._size(newest, env, deadline, password, ours)
        self._start_check(now, env, password)
        trend = await size_trend(self._history, self.target.id, now, size)
        return self._result(now, listing, newest, size, size_words, locked, trend)

    def _prepare(self) -> tuple[str | None, str]:
        """The password (from its secret, now) and the tool's private folder (blocking)."""
        name = self.entry.password_secret
        password = resolve_password(name) if name else None
        return password, private_dir(self.tool.name)

    async def _run(
        self, argv: list[str], env: dict[str, str], deadline: float, limit: int
    ) -> PluginRun:
        from pacs_tui.probes.plugin_run import run_plugin

        left = max(0.1, deadline - asyncio.get_running_loop().time())
        run = await run_plugin(argv, timeout=left, env=env, output_limit=limit)
        # It had what was left of the check's time: a timeout is said as the check's own.
        return dataclasses.replace(run, timeout=self.timeout) if run.timed_out else run

    async def _size(
        self, newest: Point, env: dict[str, str], deadline: float, secret: str | None, ours: bool
    ) -> tuple[float | None, str]:
        """The newest point's size: from the listing, else asked once per newest point."""
        if newest.size is not None:
            return newest.size, ""
        sized = self._state.sized
        if newest.id in sized:
            return sized[newest.id], ""
        if deadline - asyncio.get_running_loop().time() < 1.0:
            return None, "size not read yet (no time left in this check)"
        doing = self.tool.sizing
        run = await self._run(self.tool.size_argv(newest, no_lock=ours), env, deadline, SIZE_LIMIT)
        failure = self.tool.failure(run, doing, secret)
        if failure is not None:
            if run.timed_out:
                self._unlock_later(env)
            if failure.kind not in ("locked", "timeout"):
                sized.clear()
                sized[newest.id] = None  # not asked again for this point
            return None, f"size not read: {failure.words}"
        try:
            size: float | None = self.tool.parse_size(run.output, newest)
        except Unreadable as exc:
            size, words = None, f"size not read: {exc}"
        else:
            words = ""
        sized.clear()
        sized[newest.id] = size
        return size, words

    # -- the integrity check --------------------------------------------------------------------

    def _start_check(self, now: float, env: dict[str, str], secret: str | None) -> None:
        state = self._state
        if self.entry.check_interval is None:
            return
        if state.task is not None and not state.task.done():
            return
        if state.due is not None and now < state.due:
            return
        state.started = now
        state.task = asyncio.get_running_loop().create_task(
            self._integrity(env, secret), name=f"{self.tool.name} check {self.target.id}"
        )

    async def _integrity(self, env: dict[str, str], secret: str | None) -> None:
        from pacs_tui.probes.plugin_run import run_plugin

        state = self._state
        interval = self.entry.check_interval or DAY
        run: PluginRun | None = None
        try:
            run = await run_plugin(
                self.tool.check_argv(),
                timeout=self.entry.check_timeout,
                env=env,
                output_limit=CHECK_LIMIT,
            )
            outcome = verdict(self.tool, run, secret, self._clock())
        except asyncio.CancelledError:
            # Stopped (a reload, quitting): the killed check's exclusive lock would stop the
            # next backup; removed before going.
            await self._unlock(env, UNLOCK_TIMEOUT_AT_CLOSE)
            raise
        except Exception as exc:  # never silently: said as an inconclusive check
            log.warning("%s check of %s: %s", self.tool.name, self.target.id, exc)
            words = visible(f"{self.tool.name} check did not run: {exc}", VALUE_LIMIT)
            outcome = CheckOutcome(None, words, self._clock())
        state.outcome = outcome
        if outcome.ok is None:
            state.due = outcome.at + min(CHECK_RETRY, interval)
        else:
            state.done = outcome
            state.due = outcome.at + interval
        if run is not None and run.timed_out:
            await self._unlock(env, UNLOCK_TIMEOUT)
        if self._wake is not None:
            self._wake()

    async def _unlock(self, env: dict[str, str], timeout: float) -> None:
        """Remove the stale lock a killed run left (restic's ``unlock`` removes only locks of
        processes that are gone: never a running backup's)."""
        from pacs_tui.probes.plugin_run import run_plugin

        argv = self.tool.unlock_argv()
        if argv is None:
            return
        run = await run_plugin(argv, timeout=timeout, env=env, output_limit=SIZE_LIMIT)
        if run.exit_code != 0:
            log.warning(
                "%s: %s unlock after a killed run failed: %s",
                self.target.id,
                self.tool.name,
                run.error or error_line(run.stderr) or f"exit {run.exit_code}",
            )

    def _unlock_later(self, env: dict[str, str]) -> None:
        """:meth:`_unlock` in the background (one at a time): the check answers now."""
        state = self._state
        if self.tool.unlock_argv() is None:
            return
        if state.unlocking is None or state.unlocking.done():
            state.unlocking = asyncio.get_running_loop().create_task(
                self._unlock(env, UNLOCK_TIMEOUT), name=f"unlock {self.target.id}"
            )

    async def _seed(self, now: float) -> None:
        """The last check's time and verdict from the history (once): a restart does not run
        a check that is not due, nor forget one that failed."""
        self._seeded = True
        interval = self.entry.check_interval
        if self._history is None or interval is None:
            return
        # The last hours first, as raw samples, whose times are exact; else the rolled-up
        # buckets (a bucket's time is its start: the check's time is then within a bucket).
        for since in (now - RAW_RECENT, now - min(max(2 * interval, DAY), 400 * DAY)):
            try:
                ages = await self._history.series(self.target.id, "backup_check_age_seconds", since)
                oks = await self._history.series(self.target.id, "backup_check_ok", since)
            except Exception:  # a history that cannot answer: the check runs at the first listing
                return
            age = next((p for p in reversed(ages) if p.count), None)
            ok = next((p for p in reversed(oks) if p.count), None)
            if age is not None and ok is not None:
                break
        else:
            return
        at = age.ts - age.min  # a raw sample's own time: exact
        passed = ok.min >= 1  # a failure anywhere in the last bucket counts
        words = "passed" if passed else "errors found (recorded before a restart)"
        state = self._state
        state.done = state.outcome = CheckOutcome(passed, words, at)
        state.due = at + interval

    # -- the result -----------------------------------------------------------------------------

    def _check_metrics(self, now: float) -> dict[str, float]:
        done = self._state.done
        if done is None:
            return {}
        return {
            "backup_check_ok": 1.0 if done.ok else 0.0,
            "backup_check_age_seconds": max(0.0, now - done.at),
        }

    def _check_words(self, now: float) -> str:
        state = self._state
        if self.entry.check_interval is None:
            return "never (check_interval = 0)"
        parts: list[str] = []
        if state.task is not None and not state.task.done():
            parts.append(f"running since {_clock_words(state.started)}")
        outcome = state.outcome
        if outcome is not None:
            parts.append(f"{outcome.words} at {_clock_words(outcome.at)}")
        elif not parts:
            parts.append("not run yet")
        if state.due is not None and not parts[0].startswith("running"):
            parts.append(f"next after {_clock_words(state.due)}")
        return "; ".join(parts)

    def _details(self, now: float) -> dict[str, Any]:
        return {"repository": self.entry.repo, "check": self._check_words(now)}

    def _failed(self, status: Status, words: str, now: float) -> Result:
        return Result(status, words, self._check_metrics(now), self._details(now), ts=now)

    def _result(
        self,
        now: float,
        listing: Listing,
        newest: Point | None,
        size: float | None,
        size_words: str,
        locked: str,
        trend: str = "",
    ) -> Result:
        tool = self.tool
        groups = _newest_per_group(listing.points)
        measured = measure(
            newest.time if newest else None,
            now,
            self.entry.rpo,
            f"newest good {tool.point}",
            f"no {tool.point} {chosen} in the repository"
            if (chosen := tool.chosen())
            else f"no {tool.point} in the repository",
        )
        parts: list[tuple[Status, str]] = []
        if len(groups) > 1:
            # Each protected set (host, paths, tags) has its own newest point: the stalest
            # sets the RPO, so a database whose backups stopped is not hidden behind images
            # backed up a minute ago.
            measured, words = self._stalest(groups, now)
            parts.append((measured.status, words))
        else:
            parts.append((measured.status, measured.words))
        if locked:
            parts.append((Status.WARN, f"{locked} (listed without the lock)"))
        outcome = self._state.outcome
        if outcome is not None and outcome.ok is False:
            ago = span_words(now - outcome.at)
            parts.append((Status.CRIT, f"{tool.name} check failed {ago} ago: {outcome.words}"))
        elif outcome is not None and outcome.ok is None:
            parts.append((Status.WARN, outcome.words))
        elif outcome is not None:
            parts.append((Status.OK, f"check passed {span_words(now - outcome.at)} ago"))
        status = Status.worst(s for s, _ in parts)
        ordered = sorted(parts, key=lambda p: -p[0].rank)  # stable: the RPO first among equals
        reason = "; ".join(words for _, words in ordered)
        metrics = self._check_metrics(now)
        if measured.age is not None and measured.ratio is not None:
            metrics["backup_age_seconds"] = measured.age
            metrics["backup_rpo_ratio"] = measured.ratio
        if size is not None:
            metrics["backup_size_bytes"] = size
        metrics["backup_snapshots"] = float(len(listing.points))
        details = self._details(now)
        if newest is not None:
            shown = newest.name or newest.id[:8]
            details["newest"] = f"{shown} at {_clock_words(newest.time)}"
        if len(groups) > 1:
            details["groups"] = self._group_lines(groups, now)
        if size_words:
            details["size"] = size_words
        if trend:
            details["trend"] = trend
        if listing.skipped:
            details["skipped"] = f"{listing.skipped} entries of the listing not understood"
        return Result(status, reason, metrics, details, ts=now)

    def _stalest(self, groups: list[Group], now: float) -> tuple[Measured, str]:
        """The RPO of the group whose newest point is oldest, in words that name it and count
        the groups over the RPO."""
        point = self.tool.point
        stalest = groups[0]
        measured = measure(stalest.newest, now, self.entry.rpo, f"newest good {point}", "")
        late = sum(1 for g in groups if now - g.newest > self.entry.rpo)
        name = visible(stalest.name, GROUP_NAME_LIMIT)
        words = f"{len(groups)} groups, stalest {name}: {measured.words}"
        if late > 1:
            words += f" ({late} groups over the RPO)"
        return measured, words

    def _group_lines(self, groups: list[Group], now: float) -> list[str]:
        """ "WARN vm /srv/db [db]: 30 h ago (14)": each group's status word, name, newest point
        and count, the stalest first, at most :data:`GROUPS_SHOWN`."""
        lines = []
        for group in groups[:GROUPS_SHOWN]:
            status = measure(group.newest, now, self.entry.rpo, "", "").status
            name = visible(group.name, GROUP_NAME_LIMIT)
            ago = span_words(now - group.newest)
            lines.append(f"{status.value} {name}: {ago} ago ({group.count})")
        if len(groups) > GROUPS_SHOWN:
            lines.append(f"… and {len(groups) - GROUPS_SHOWN} more groups")
        return lines

    async def close(self) -> None:
        """Stop an integrity check in flight (its process group is killed, then its stale
        lock removed) and an unlock in flight."""
        for task in (self._state.task, self._state.unlocking):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


#: How far back a repository's size trend looks.
TREND_WINDOW = 7 * DAY


async def size_trend(
    history: HistoryReader | None, target: str, now: float, size: float | None
) -> str:
    """ "40.9 GiB a week ago → 41.5 GiB (+1.5 %)": the newest point's size against the oldest
    recorded within :data:`TREND_WINDOW` ("" without a history or an older size)."""
    if history is None or size is None:
        return ""
    try:
        points = await history.series(target, "backup_size_bytes", now - TREND_WINDOW, now)
    except Exception:  # a history that cannot answer: no trend this time
        return ""
    first = next((p for p in points if p.count), None)
    if first is None or now - first.ts < 3600 or first.avg <= 0:
        return ""
    change = (size - first.avg) / first.avg * 100
    return (
        f"{format_value('B', first.avg)} {span_words(now - first.ts)} ago → "
        f"{format_value('B', size)} ({change:+.1f} %)"
    )


async def with_size_trend(
    result: Result, history: HistoryReader | None, target: str, now: float
) -> Result:
    """``result`` with its size against the week's oldest as its "trend" detail (when known)."""
    trend = await size_trend(history, target, now, result.metrics.get("backup_size_bytes"))
    if not trend:
        return result
    return dataclasses.replace(result, details={**result.details, "trend": trend})


@dataclass(frozen=True, slots=True)
class Group:
    """One protected set of a repository (restic: host, paths and tags), its newest point."""

    name: str
    newest: float
    count: int


def _newest_per_group(points: tuple[Point, ...]) -> list[Group]:
    """Each group's newest point, the stalest first (ties by name)."""
    newest: dict[str, float] = {}
    counts: dict[str, int] = {}
    for point in points:
        if not point.group:
            continue
        counts[point.group] = counts.get(point.group, 0) + 1
        newest[point.group] = max(newest.get(point.group, point.time), point.time)
    groups = [Group(name, when, counts[name]) for name, when in newest.items()]
    return sorted(groups, key=lambda g: (g.newest, g.name))
