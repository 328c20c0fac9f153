"""The engine: builds every registered source's checks and services, runs them, folds results
into per-target state, records history, tells subscribers. It never imports Textual; the UI
(through :mod:`pacs_tui.view`), ``collect`` and ``status`` all drive this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pacs_tui.config import Config
from pacs_tui.model import (
    Event,
    EventKind,
    LoggedMessage,
    MessageQuery,
    MessageTree,
    Result,
    Sample,
    Status,
    Target,
    TargetState,
    worst_first,
)
from pacs_tui.operator_trail import OperatorTrail, TrailError, trail_path
from pacs_tui.operators import NotAllowed, Operator, local_operator, probe_action
from pacs_tui.patient_key import PatientKey
from pacs_tui.probes import SOURCES, metric_spec
from pacs_tui.reload_plan import Reloaded, plan_reload, plan_services
from pacs_tui.scheduler import FIRST_RUN_SPREAD, Scheduler, Services
from pacs_tui.source import (
    BuildContext,
    Check,
    HistoryReader,
    KeepsMessages,
    Runnable,
    Service,
    runnable_targets,
)
from pacs_tui.subscribers import Subscribers
from pacs_tui.visible import visible

if TYPE_CHECKING:
    from pacs_tui.store import SeriesPoint, Store

log = logging.getLogger(__name__)

#: What a one-shot run says of a target only a running collector can follow.
#: An on-demand drill's words until one has run (its status stays UNKNOWN: nothing is known).
NO_DRILL_YET = (
    # Its first words the key: a tile at 80 columns shows ~45 characters of a reason.
    "no drill run yet: p on its row runs one (an admin), or [dr] drill_interval schedules it"
)
ONCE_IS_NOT_ENOUGH = (
    "followed only while it runs (a listener, a tap, a log tail): `pacs-tui collect` follows it "
    "and status and check then read it from there"
)


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """A target's state after a check; ``previous`` is its status before."""

    state: TargetState
    previous: Status

    @property
    def changed(self) -> bool:
        return self.state.status is not self.previous


@dataclass(frozen=True, slots=True)
class EventUpdate:
    event: Event


@dataclass(frozen=True, slots=True)
class ReloadUpdate:
    """The engine runs a new config: targets may have come and gone (re-read every state)."""

    reloaded: Reloaded


EngineUpdate = StateUpdate | EventUpdate | ReloadUpdate
Subscriber = Callable[[EngineUpdate], None]


#: A search by patient kept on screen is recorded again in the operator trail this often.
LOOKUP_RECORDED_EVERY = 15 * 60.0


class Engine:
    """One per site. Build it, ``await start()``, read :attr:`states`, ``await stop()``."""

    def __init__(
        self,
        config: Config,
        *,
        checks: Sequence[Runnable] | None = None,
        store: Store | None = None,
        executor: ThreadPoolExecutor | None = None,
        first_run_spread: float = FIRST_RUN_SPREAD,
        patient_key: PatientKey | None = None,
        history: HistoryReader | None = None,
    ) -> None:
        """``checks`` replaces what the sources would build (tests; ``patient_key`` is then
        the one they were given); ``executor`` is the thread pool for a source that asks for
        threads (the DICOM one), else the engine makes one per such source and shuts it down
        at :meth:`stop`. ``history`` is what the checks read their past from when the engine
        keeps no history itself (``status``'s one-shot run reads the collector's, read-only)."""
        self.config = config
        self._history = history
        #: Thread pools this engine made (by source), shut down at stop.
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._executor = executor
        #: The key of the message log's patient references (the history's, once started).
        self.patient_key = patient_key or PatientKey()
        #: The operator audit trail (beside the history; None without one).
        self.trail: OperatorTrail | None = None
        #: (user, uid, patient reference) → when its search was last recorded (monotonic).
        self._lookups: dict[tuple[str, int | None, str], float] = {}
        self.store = store  # before the build: a source's checks may read the history
        built, pools = self._build(config, build=checks is None)
        self.checks: list[Runnable] = list(checks) if checks is not None else built
        self.states: dict[str, TargetState] = {
            t.id: _first_state(t, run) for run in self.checks for t in runnable_targets(run)
        }
        self._subscribers: Subscribers[EngineUpdate] = Subscribers()
        self._last_known: dict[str, tuple[Status, str, float]] = {}
        periodic = [c for c in self.checks if not isinstance(c, Service)]
        self._scheduler = Scheduler(
            periodic,
            self._on_result,
            first_run_spread=first_run_spread,
            # Each source's own worker limit: a run waits for a place before its timeout
            # starts, and a slow plugin never holds a DICOM worker.
            pools=pools,
        )
        self._services = Services(
            [c for c in self.checks if isinstance(c, Service)],
            self._on_result,
            self._emit_event,
            on_messages=self._record_messages,
        )
        self._started = False
        self._stopped = False

    def _build(
        self, config: Config, *, build: bool = True
    ) -> tuple[list[Runnable], dict[str, int]]:
        """What every source builds for ``config`` and each source's worker limit; a source
        that asks for threads gets its pool (made once, kept across reloads)."""
        pools: dict[str, int] = {}
        built: list[Runnable] = []
        for source in SOURCES:
            section = config.section(source.name)
            if section is None:
                continue
            limit = source.workers(section)
            pools[source.name] = limit.size
            if not build or not source.targets(section):
                continue
            pool = self._executor or self._executors.get(source.name)
            if limit.threads and pool is None:
                pool = ThreadPoolExecutor(limit.size, thread_name_prefix=source.name)
                self._executors[source.name] = pool
            context = BuildContext(
                config.site.name,
                pool if limit.threads else None,
                self.patient_key,
                self.store if self.store is not None else self._history,
            )
            built.extend(source.build(section, context))
        return built, pools

    async def reload(self, config: Config) -> Reloaded:
        """Run ``config`` from now on: a check or a service whose targets and settings are
        unchanged keeps running with its state and "since" (a listener its connections); new
        ones start, removed ones stop (their history stays), changed ones are stopped and
        started afresh (a listener moved to another port)."""
        built, _ = self._build(config)
        keep, add, gone = plan_reload(self.checks, built)
        kept_services, new_services, gone_services = plan_services(self.checks, built)
        await self._scheduler.remove(gone)
        await self._services.remove(gone_services)  # first: a new one may take the same port
        for run in [*gone, *gone_services]:
            with contextlib.suppress(Exception):
                await run.close()
        self.checks = [*keep, *add, *kept_services, *new_services]
        self.config = config
        wanted = {t.id: t for run in self.checks for t in runnable_targets(run)}
        runs = {t.id: run for run in self.checks for t in runnable_targets(run)}
        removed = [tid for tid in self.states if tid not in wanted]
        for tid in removed:
            del self.states[tid]
        added = [tid for tid in wanted if tid not in self.states]
        for tid, target in wanted.items():
            state = self.states.get(tid)
            if state is None:
                self.states[tid] = _first_state(target, runs[tid])
            elif state.target != target:  # a label that does not change the check
                self.states[tid] = replace(state, target=target)
        if self.store is not None:
            self.store.upsert_targets(self.targets)
        self._scheduler.add(add)
        self._services.add(new_services)
        started = [*add, *new_services]
        report = Reloaded(
            added=tuple(added),
            removed=tuple(removed),
            started=len(started),
            kept=len(keep) + len(kept_services),
        )
        # A started check whose targets were watched already replaces one that changed.
        new = set(added)
        restarted = [t.id for run in started for t in runnable_targets(run) if t.id not in new]
        log.info(
            "config reloaded: %s added, %s removed, %s restarted (changed), %d kept",
            _ids(added),
            _ids(removed),
            _ids(restarted),
            len(keep) + len(kept_services),
        )
        self._publish(ReloadUpdate(report))
        return report

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every check loop; with a store, restore "since" from the last recorded status."""
        if self._started or self._stopped:
            return
        store = self.store
        if store is not None:
            if not store.started:
                await store.start()  # a StoreError leaves the engine unstarted; start may retry
            if self._stopped:  # stop() ran while the history was opening: it closed it
                return
            store.upsert_targets(self.targets)
            from pacs_tui.store import StoreError  # store (aiosqlite) is imported lazily

            try:
                self.trail = await asyncio.to_thread(
                    OperatorTrail, trail_path(store.path), self.config.operators.forward
                )
            except TrailError as exc:  # actions could not be accounted for: do not run
                await store.close()
                self.store = None
                raise StoreError(str(exc)) from None
            try:
                await asyncio.to_thread(self.patient_key.load, store.path)
            except OSError as exc:  # references then match within this run only
                log.error("the patient key: %s; patient references will change at restart", exc)

            try:
                self.remember(await store.last_statuses())
            except StoreError as exc:  # a damaged history: say so in one line, keep watching
                log.error("could not read the last statuses from the history: %s", exc)
            except Exception:
                log.exception("could not read the last statuses from the history")
        if self._stopped:
            return
        self._started = True
        self._scheduler.start()
        self._services.start()
        log.info("engine started: %d targets", len(self.states))

    async def stop(self) -> None:
        """Cancel the checks, flush and close the history. Safe to call twice, and while
        :meth:`start` is still opening the history (the engine then never starts)."""
        self._stopped = True
        await self._scheduler.stop()
        await self._services.stop()
        for check in self.checks:
            try:
                await check.close()
            except Exception:
                log.exception("closing %r", check)
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.trail is not None:
            self.trail.close()
            self.trail = None
        for pool in self._executors.values():
            # Associations still running finish on their own pynetdicom timeouts; don't wait.
            pool.shutdown(wait=False, cancel_futures=True)
        self._started = False
        log.info("engine stopped")

    def remember(self, last: dict[str, tuple[Status, str, float]]) -> None:
        """Statuses recorded before this engine started (status, summary, since), so that a
        status that has not changed keeps its "since". A check run only on demand (a drill)
        shows its last run's status until it runs again: nothing runs it at start."""
        self._last_known.update(last)
        for run in self.checks:
            if not getattr(run, "on_demand", False) or not isinstance(run, Check):
                continue
            state, known = self.states.get(run.target.id), last.get(run.target.id)
            if state is None or known is None or state.checked is not None:
                continue
            status, summary, since = known
            reason = summary.split(": ", 1)[1] if " → " in summary else summary
            self.states[run.target.id] = replace(
                state, status=status, reason=reason, since=since, checked=since
            )

    async def run_once(
        self, collector_stopped: str = "", collector_unreadable: str = ""
    ) -> list[TargetState]:
        """Every check once (for ``status``): the states, worst first. A long-running
        service's targets (a listener, a tap, a log tail) cannot be checked once: they say so,
        and where they are followed — or, when ``collector_stopped`` says the collector that
        runs them is gone (its socket left behind), they are DOWN with those words; when
        ``collector_unreadable`` says why the collector that follows them cannot be read from
        here (another user, say), they say that."""
        await self._scheduler.run_once()
        now = time.time()
        for run in self.checks:
            if isinstance(run, Service):
                for target in run.targets:
                    state = self.states[target.id]
                    if state.checked is not None:
                        continue
                    if collector_stopped:
                        self.states[target.id] = replace(
                            state,
                            status=Status.DOWN,
                            reason=collector_stopped,
                            checked=now,
                        )
                    elif collector_unreadable:
                        why = collector_unreadable
                        words = f"followed by the collector, not readable from here: {why}"
                        self.states[target.id] = replace(state, reason=words)
                    else:
                        self.states[target.id] = replace(state, reason=ONCE_IS_NOT_ENOUGH)
        return self.worst_first()

    # -- reading state ----------------------------------------------------------------------

    @property
    def targets(self) -> list[Target]:
        return [s.target for s in self.states.values()]

    def worst_first(self, kind: str | None = None) -> list[TargetState]:
        return worst_first(self.states.values(), kind)

    def overall(self) -> Status:
        return Status.worst(s.status for s in self.states.values())

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` on the loop for every update; returns the unsubscribe function."""
        return self._subscribers.add(callback)

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> list[SeriesPoint]:
        if self.store is None:
            return []
        return await self.store.series(target, metric, since, until)

    async def series_of(
        self, targets: Sequence[str], metric: str, since: float, step: float | None = None
    ) -> dict[str, list[SeriesPoint]]:
        if self.store is None:
            return {t: [] for t in targets}
        return await self.store.series_of(targets, metric, since, step=step)

    async def events(
        self,
        target: str | None = None,
        *,
        kind: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        target_kind: str | None = None,
    ) -> list[Event]:
        if self.store is None:
            return []
        return await self.store.events(
            target=target, kind=kind, since=since, limit=limit, target_kind=target_kind
        )

    async def messages(self, query: MessageQuery | None = None) -> list[LoggedMessage]:
        """The message-log rows ``query`` asks for (the newest 500 without one)."""
        if self.store is None:
            return []
        q = query or MessageQuery()
        refs = (q.patient, self.patient_key.reference(q.patient)) if q.patient else ()
        return await self.store.messages(
            q.link,
            since=q.since,
            until=q.until,
            control_id=q.control_id,
            ack=q.ack,
            type_prefix=q.type_prefix,
            patient=refs,
            limit=q.limit,
            links=q.links,
            sender=q.sender,
        )

    async def message_tree(self, link: str, ts: float, control_id: str) -> MessageTree | None:
        """The segments of a recent message of ``link`` with patient fields masked; None when
        the link keeps no messages or no longer has this one."""
        for run in self.checks:
            if isinstance(run, KeepsMessages) and any(t.id == link for t in runnable_targets(run)):
                return await run.message_tree(ts, control_id)
        return None

    async def recorded_targets(self) -> list[Target]:
        """Every target the history knows (today's and earlier ones), by id."""
        return [] if self.store is None else await self.store.targets()

    async def samples(
        self,
        target: str | None = None,
        metric: str | None = None,
        since: float | None = None,
        kind: str | None = None,
    ) -> list[Sample]:
        """Recorded raw samples, oldest first (for ``history`` through the collector)."""
        if self.store is None:
            return []
        return await self.store.samples(target=target, metric=metric, since=since, kind=kind)

    # -- actions ----------------------------------------------------------------------------

    @property
    def local_operator(self) -> Operator:
        """This process's user, with the role the config gives it."""
        return local_operator(self.config.operators)

    def authorize(self, operator: Operator, action: str, target: str = "") -> None:
        """Raise :class:`NotAllowed` (and write the refusal in the operator trail) unless
        ``operator``'s role allows ``action``."""
        try:
            operator.check(action)
        except NotAllowed as exc:
            log.warning("refused: %s", exc)
            self.record_action(operator, action, target, "refused", str(exc))
            raise

    def record_action(
        self, operator: Operator, action: str, target: str, outcome: str, words: str = ""
    ) -> None:
        """One line of the operator trail (when there is a history)."""
        if self.trail is None:
            return
        try:
            self.trail.append(
                user=operator.user, uid=operator.uid, role=operator.role.word, action=action,
                target=target, outcome=outcome, words=words,
            )  # fmt: skip
        except TrailError as exc:
            log.error("%s", exc)

    def probe_now(self, target_id: str, operator: Operator | None = None) -> bool:
        """Ask for an immediate check of one target (technician or admin); recorded in the
        operator trail and as an operator event."""
        who = operator or self.local_operator
        known = self.states.get(target_id)
        action = probe_action(known.target.kind) if known is not None else "probe-now"
        self.authorize(who, action, target_id)
        if not self._scheduler.trigger(target_id):
            self.record_action(who, action, target_id, "nothing to probe")
            return False
        self.record_action(who, action, target_id, "done")
        words = "drill" if action == "drill" else "probe now"
        self._emit_event(
            Event(
                time.time(),
                target_id,
                EventKind.OPERATOR,
                None,
                f"{words} requested by {who.user}",
                {"action": action, "operator": who.user, "role": who.role.word},
            )
        )
        return True

    def intervals(self) -> dict[str, float]:
        """Each periodic target's interval (a result older than twice it is stale)."""
        return {
            t.id: run.interval
            for run in self.checks
            if not isinstance(run, Service)
            for t in runnable_targets(run)
        }

    def served(self) -> set[str]:
        """The targets of long-running services (listeners, taps, receivers, log tails): they
        run only while this engine runs."""
        return {t.id for run in self.checks if isinstance(run, Service) for t in run.targets}

    def probeable(self) -> set[str]:
        """The targets :meth:`probe_now` can check (the periodic ones)."""
        return self._scheduler.triggerable()

    def can_probe(self, target_id: str) -> bool:
        """Whether :meth:`probe_now` can check ``target_id`` (without copying the set)."""
        return self._scheduler.can_trigger(target_id)

    def look_up_patient(self, operator: Operator, patient: str) -> None:
        """A search of the message log by patient (technician or admin): recorded by the
        patient's reference, never the ID typed. A log that follows with the filter on reads
        again every second: that is one search, recorded when it starts and then every
        :data:`LOOKUP_RECORDED_EVERY` while it stays on screen, not a trail line a second."""
        reference = patient if patient.startswith("#") else self.patient_key.reference(patient)
        self.authorize(operator, "patient-lookup", reference)
        now = time.monotonic()
        key = (operator.user, operator.uid, reference)
        last = self._lookups.get(key)
        if last is not None and now - last < LOOKUP_RECORDED_EVERY:
            return
        if len(self._lookups) >= 1000:  # bounded: the ones over their window go
            self._lookups = {
                k: t for k, t in self._lookups.items() if now - t < LOOKUP_RECORDED_EVERY
            }
        self._lookups[key] = now
        self.record_action(operator, "patient-lookup", reference, "done")
        log.info("operator %s read the message log of patient %s", operator.user, reference)

    def probe_all(self, operator: Operator | None = None) -> int:
        who = operator or self.local_operator
        self.authorize(who, "probe-all", "*")
        # Not the drills: running one is an admin's own decision, target by target.
        count = sum(
            self._scheduler.trigger(t.id)
            for t in self.targets
            if probe_action(t.kind) == "probe-now"
        )
        self.record_action(who, "probe-all", "*", "done", f"{count} targets")
        self._emit_event(
            Event(
                time.time(),
                "*",
                EventKind.OPERATOR,
                None,
                f"probe all requested by {who.user}",
                {"action": "probe-all", "operator": who.user, "role": who.role.word},
            )
        )
        return count

    # -- folding results --------------------------------------------------------------------

    def _on_result(self, target: Target, result: Result) -> None:
        if self._stopped:  # nothing is recorded after "stopping"
            return
        prev = self.states.get(target.id, TargetState(target))
        status = result.status
        since = prev.since
        before = prev.status
        # The first result is a change even when it is UNKNOWN ("not checked yet" → a plugin
        # that is missing), so it gets a "since" and an event.
        changed = status is not prev.status or prev.since is None
        if changed:
            since = result.ts
            known = self._last_known.pop(target.id, None)
            if prev.since is None and known is not None:
                if known[0] is status:
                    # Same status as before a restart: keep its "since", record no change.
                    since = known[2]
                    changed = False
                else:  # the change is from the status recorded before the restart
                    before = known[0]
        state = replace(
            prev,
            status=status,
            reason=result.reason or status.word,
            since=since,
            last_seen=result.ts if status is not Status.DOWN else prev.last_seen,
            checked=result.ts,
            metrics=dict(result.metrics),
            details=dict(result.details),
        )
        self.states[target.id] = state
        if self.store is not None and result.metrics:
            metrics = result.metrics.items()
            self.store.add_samples(
                (Sample(result.ts, target.id, name, value) for name, value in metrics),
                counters=[
                    name
                    for name in result.metrics
                    if metric_spec(target.kind, name).kind == "counter"
                ],
            )
        self._publish(StateUpdate(state, prev.status))
        if changed:
            log.info("%s: %s → %s: %s", target.id, before.word, status.word, state.reason)
            self._emit_event(
                Event(
                    result.ts,
                    target.id,
                    EventKind.STATUS_CHANGE,
                    status,
                    f"{before.word} → {status.word}: {state.reason}",
                    {"from": before.word, "to": status.word, "reason": state.reason},
                )
            )
        if result.log_event:
            self._emit_event(
                Event(
                    result.ts,
                    target.id,
                    EventKind.PROBE,
                    status,
                    result.log_event,
                    {"metrics": {k: float(v) for k, v in result.metrics.items()}},
                )
            )

    def _emit_event(self, event: Event) -> None:
        if self.store is not None:
            self.store.add_event(event)
        self._publish(EventUpdate(event))

    def _record_messages(self, rows: Sequence[LoggedMessage]) -> None:
        """A service's message-log rows, durable before this returns (in the message journal;
        a listener ACKs after it), in the history's table at the next flush."""
        if self.store is None or not rows:
            return
        self.store.commit_messages(rows)

    def _publish(self, update: EngineUpdate) -> None:
        self._subscribers.publish(update)


def _ids(ids: Sequence[str], most: int = 10) -> str:
    """ "2 targets (ct-2, mr-3)", "no target": what a reload changed, for its log line."""
    if not ids:
        return "no target"
    shown = ", ".join(visible(i, 64) for i in ids[:most])
    more = f", and {len(ids) - most} more" if len(ids) > most else ""
    return f"{len(ids)} target{'s' if len(ids) != 1 else ''} ({shown}{more})"


def _first_state(target: Target, run: Runnable) -> TargetState:
    """A target's state before its first result: "not checked yet", or for a check run only
    on demand (a drill), how to run it."""
    if getattr(run, "on_demand", False):
        return TargetState(target, reason=NO_DRILL_YET)
    return TargetState(target)


def engine_with_history(config: Config, checks: Sequence[Runnable] | None = None) -> Engine:
    """An engine for ``config`` with its history store; :meth:`Engine.start` opens the store,
    so whoever holds the engine also owns closing it (``stop``), even if the start is cut short.
    ``checks`` replaces what the sources would build (``bench/attach.py``'s simulated nodes).
    """
    from pacs_tui.store import Retention, Store

    h = config.history
    retention = Retention(
        raw=h.raw_retention,
        five_minute=h.five_minute_retention,
        hour=h.hour_retention,
        events=h.event_retention,
        messages=h.message_retention,
    )
    return Engine(config, checks=checks, store=Store(h.path, retention))
