"""The mirror pair's periodic reconciliation and the failover drill as engine checks: each runs
its blocking DICOM work in the source's thread pool and folds what it found into a Result
whose reason says it in words (UIDs and dates only: no patient data is asked for)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pacs_tui.backup.rpo import span_words
from pacs_tui.mirror.drill import DrillOutcome, drill
from pacs_tui.mirror.move_store import MoveTo
from pacs_tui.mirror.reconcile import Report, Round, RoundFailure, Study
from pacs_tui.model import Result, Status, Target
from pacs_tui.probes.dr_source import DrConfig
from pacs_tui.probes.mirror_source import DEFAULT_RPO, MirrorConfig
from pacs_tui.units import format_value

LOGGER = logging.getLogger(__name__)

#: An on-demand drill's interval: only for "is this result stale" (never, in practice).
ON_DEMAND_INTERVAL = 400 * 86400.0


def _ratio_status(ratio: float) -> Status:
    if ratio > 2:
        return Status.CRIT
    if ratio > 1:
        return Status.WARN
    return Status.OK


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def _study_line(study: Study) -> str:
    when = f"{study.date[:4]}-{study.date[4:6]}-{study.date[6:8]}" if len(study.date) == 8 else "?"
    clock = f" {study.time[:2]}:{study.time[2:4]}" if len(study.time) >= 4 else ""
    return f"{when}{clock} {study.uid}"


class MirrorCheck:
    """Every ``interval``: one reconciliation round of the pair (:class:`Round`)."""

    pool = "mirror"

    def __init__(self, target: Target, entry: MirrorConfig, executor: ThreadPoolExecutor) -> None:
        self.target = target
        self.entry = entry
        self.interval = entry.interval
        self.timeout = entry.timeout
        self._executor = executor

    @property
    def settings(self) -> MirrorConfig:
        return self.entry

    def __repr__(self) -> str:
        return f"MirrorCheck({self.target.id!r}, {self.entry.primary}->{self.entry.mirror})"

    def _round(self) -> Round:
        entry = self.entry
        assert entry.primary_node is not None and entry.mirror_node is not None
        return Round(
            entry.primary_node,
            entry.mirror_node,
            days=entry.days,
            today=dt.date.today(),
            timeout=entry.timeout,
            request_timeout=entry.query_timeout,
            max_answers=entry.max_answers,
            query_gap=entry.gap(),
        )

    async def check(self) -> Result:
        loop = asyncio.get_running_loop()
        try:
            report = await loop.run_in_executor(self._executor, lambda: self._round().run())
        except RoundFailure as exc:
            return Result(Status.DOWN, str(exc), details={"window": self._window()})
        except Exception as exc:  # a bug here, not a fault of the archives
            LOGGER.exception("reconciliation of %s failed", self.target.id)
            return Result(Status.UNKNOWN, f"probe error: {type(exc).__name__}: {exc}")
        return self.result(report, time.time())

    def _window(self) -> str:
        today = dt.date.today()
        first = today - dt.timedelta(days=self.entry.days - 1)
        return f"{self.entry.days} days, {first.isoformat()} to {today.isoformat()} (StudyDate)"

    def result(self, report: Report, now: float) -> Result:
        rpo = self.entry.rpo or DEFAULT_RPO
        lag = report.lag(now)
        ratio = lag / rpo
        metrics = {
            "mirror_lag_seconds": lag,
            "mirror_rpo_ratio": ratio,
            "mirror_missing_studies": float(report.missing_count),
            "mirror_different_studies": float(report.different_count),
            "mirror_extra_studies": float(report.extra_count),
            "mirror_primary_studies": float(report.primary_studies),
            "mirror_queries": float(report.queries),
            "mirror_associations": float(report.associations),
            "mirror_round_seconds": report.seconds,
        }
        associations = _plural(report.associations, "association")
        load = (
            f"{_plural(report.queries, 'C-FIND')} on {associations}, "
            f"{_plural(report.answers, 'answer')} in {format_value('s', report.seconds)}"
        )
        details: dict[str, Any] = {
            "window": self._window(),
            "missing": [_study_line(s) for s in report.missing],
            "different": [
                f"{_study_line(d.primary)}: {d.primary.instances} instances on the primary, "
                f"{d.mirror.instances} on the mirror"
                for d in report.different
            ],
            "extra": [_study_line(s) for s in report.extra],
            "oldest_missing": _study_line(report.oldest_missing) if report.oldest_missing else "",
            "queries": load,
        }
        if report.counted == 0 and report.on_both:  # nothing to count differences in
            del metrics["mirror_different_studies"]
            studies = _plural(report.on_both, "study", "studies")
            details["different"] = (
                f"not compared: no instance counts for the {studies} on both "
                "(NumberOfStudyRelatedInstances not given)"
            )
        elif report.counted < report.on_both:
            details["compared"] = (
                f"instance counts of {report.counted} of the {report.on_both} studies on both "
                "(the others came without NumberOfStudyRelatedInstances)"
            )
        if report.unusable:
            details["unusable"] = f"{_plural(report.unusable, 'answer')} without a study UID"
        if report.split_days:
            shown = ", ".join(report.split_days[:5]) + (" …" if len(report.split_days) > 5 else "")
            details["split"] = (
                f"{shown}: asked in parts of the day (max_answers); studies there without a "
                "StudyTime were not compared"
            )
        words: list[str] = []
        status = Status.OK
        if report.missing_count:
            status = _ratio_status(ratio)
            bound = (
                f"> twice the RPO {span_words(rpo)}"
                if ratio > 2
                else f"> RPO {span_words(rpo)}"
                if ratio > 1
                else f"(RPO {span_words(rpo)})"
            )
            words.append(
                f"{_plural(report.missing_count, 'study', 'studies')} missing on the mirror, "
                f"the oldest acquired {span_words(lag)} ago {bound}"
            )
        if report.different_count:
            status = max(status, Status.WARN, key=lambda s: s.rank)
            differ = _plural(report.different_count, "study", "studies")
            words.append(f"{differ} with other instance counts on the mirror")
        if report.extra_count:
            words.append(f"{report.extra_count:,} only on the mirror")
        if not words:
            words.append(
                f"in step: {report.primary_studies:,} studies on both over {report.days} days"
            )
        return Result(status, "; ".join(words), metrics=metrics, details=details)

    async def close(self) -> None:
        """Nothing stays open between rounds."""


class DrillCheck:
    """The failover drill: on demand (an admin's ``p``), or every ``drill_interval``."""

    pool = "dr"

    def __init__(self, target: Target, config: DrConfig, executor: ThreadPoolExecutor) -> None:
        self.target = target
        self.config = config
        self.on_demand = config.drill_interval is None
        self.interval = config.drill_interval or ON_DEMAND_INTERVAL
        self.timeout = config.timeout
        self._executor = executor

    @property
    def settings(self) -> DrConfig:
        return self.config

    def __repr__(self) -> str:
        return f"DrillCheck({self.target.id!r}, {self.config.mirror})"

    async def check(self) -> Result:
        config = self.config
        assert config.mirror_node is not None
        move = None
        if config.retrieve == "move" and config.move_bind is not None:
            aet = config.move_aet or config.mirror_node.calling_aet
            move = MoveTo(aet, config.move_bind, config.move_from)
        call = functools.partial(
            drill,
            config.mirror_node,
            config.test_study,
            timeout=config.timeout,
            request_timeout=config.request_timeout,
            service_name=config.service_name,
            primary=config.primary_node,
            move=move,
        )
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self._executor, call)
        except Exception as exc:
            LOGGER.exception("drill %s failed", self.target.id)
            return Result(Status.UNKNOWN, f"probe error: {type(exc).__name__}: {exc}")
        return self.result(outcome)

    def result(self, outcome: DrillOutcome) -> Result:
        config = self.config
        metrics: dict[str, float] = {}
        for step in outcome.steps:
            if step.seconds is not None:
                metrics[f"drill_{step.name}_seconds"] = step.seconds
        details: dict[str, Any] = {
            "steps": [
                f"{s.name} "
                + (format_value("s", s.seconds) if s.seconds is not None else "—")
                + ("" if s.ok else f": failed, {s.words}")
                for s in outcome.steps
            ],
            "study": config.test_study,
            "rto": span_words(config.rto),
        }
        got_words = ""
        if outcome.retrieved is not None:
            got = outcome.retrieved
            metrics["drill_instances"] = float(got.instances)
            metrics["drill_size_bytes"] = float(got.size)
            got_words = f"{_plural(got.instances, 'instance')}, {format_value('B', got.size)}"
            verb = "C-MOVE" if config.retrieve == "move" else "C-GET"
            details["retrieved"] = f"{got_words} by {verb} (counted, not kept)"
        serving = ""
        if outcome.serving:
            details["serving"] = f"{config.service_name} → {outcome.serving}"
            where = outcome.serving
            if where in ("primary", "mirror"):
                where = f"the {where}"
            elif where.startswith("both"):
                where = "both the primary and the mirror" + where.removeprefix("both")
            serving = f"; {config.service_name} points to {where}"
        if outcome.expected_from:
            details["expected"] = (
                f"{outcome.expected_instances} instances, as {outcome.expected_from} holds"
                if outcome.expected_instances is not None
                else outcome.expected_from
            )
        failed = outcome.failed
        total = outcome.total
        if failed is not None or total is None:
            where = failed.name if failed is not None else "retrieve"
            why = failed.words if failed is not None else "no study came back"
            status = Status.DOWN if where == "echo" else Status.CRIT
            reason = f"drill failed at {where}: {why}{serving}"
            return Result(status, reason, metrics=metrics, details=details, log_event=reason)
        metrics["drill_rto_seconds"] = total
        ratio = total / config.rto
        metrics["drill_rto_ratio"] = ratio
        status = _ratio_status(ratio)
        bound = "≤" if ratio <= 1 else ">"
        # A retrieve short of what the study holds fails; with no count to hold it to, say so.
        uncounted = "; instance count not compared" if outcome.expected_instances is None else ""
        reason = (
            f"drill passed: {got_words} in {format_value('s', total)} "
            f"{bound} RTO {span_words(config.rto)}{serving}{uncounted}"
            if status is Status.OK
            else f"drill took {format_value('s', total)} {bound} RTO {span_words(config.rto)}"
            f"{serving}"
        )
        return Result(status, reason, metrics=metrics, details=details, log_event=reason)

    async def close(self) -> None:
        """Every drill opens and releases its own associations."""
