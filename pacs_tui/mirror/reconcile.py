"""Reconcile a primary archive and its mirror: the studies of each day of a window, by C-FIND
on both, compared by StudyInstanceUID (and by instance count where both nodes give one).

Gentle by design, because it runs every hour against production archives:

* **One day per query**, matched on StudyDate (the acquisition's date, the same on both nodes;
  never a receive date, which differs between archives). A day that answers with
  ``max_answers`` studies or more, or that a node cuts short by its own cap on answers, is asked
  again in halves of the day by StudyTime, on both nodes alike, down to :data:`MAX_SPLITS`
  halvings. A study without a StudyTime (it may be empty) matches no half: on a split day it
  is not compared, and the report says which days were split (:attr:`Report.split_days`).
* **One association per node per round**, reused for every day (opened again only after a
  failure), and a pause of ``query_gap`` between days, so a round is spread out rather than
  a burst. A pause of :data:`RELEASE_GAP` or more (``query_gap = "auto"`` spreads the days
  over half the round's timeout) releases both associations first: an archive would close an
  idle association anyway (Orthanc after 30 s), and one opened per day at that pace costs it
  nothing.
* Only the keys compared are asked for (StudyInstanceUID, StudyDate, StudyTime,
  NumberOfStudyRelatedInstances): no patient attribute is requested, and any a node sends
  anyway is dropped unread.

The replication lag is the age of the oldest study missing on the mirror: everything acquired
before it is on the mirror. Blocking; the check runs it in the DICOM thread pool.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from pacs_tui.mirror.association import DicomFailure, Node, NodeSession
from pacs_tui.probes.dicom_transport import Budget
from pacs_tui.visible import visible

#: A day is halved by StudyTime at most this often (down to 1/64 of a day, 22.5 minutes).
MAX_SPLITS = 6
#: Studies of each kind kept for the screen (the counts are always complete).
KEEP = 50
#: What a node may send back in P-DATA for one study's answer, for the session's byte bound.
ANSWER_BYTES = 2048
_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "NumberOfStudyRelatedInstances")
_DAY_SECONDS = 86400


@dataclass(frozen=True, slots=True)
class Study:
    """One study as the reconciliation sees it: its UID, date, time and instance count."""

    uid: str
    date: str
    time: str = ""
    instances: int | None = None

    def acquired(self, zone: dt.tzinfo | None = None) -> float | None:
        """When it was acquired (StudyDate + StudyTime, in ``zone``, local time by default), as
        epoch seconds; None when the date does not read."""
        digits = "".join(c for c in self.time.split(".")[0] if c.isdigit())[:6].ljust(6, "0")
        try:
            when = dt.datetime.strptime(self.date + digits, "%Y%m%d%H%M%S")
        except ValueError:
            return None
        return when.replace(tzinfo=zone).timestamp() if zone else when.timestamp()


@dataclass(frozen=True, slots=True)
class Different:
    primary: Study
    mirror: Study


@dataclass(slots=True)
class Report:
    """What one round found. ``missing``/``different``/``extra`` keep the first :data:`KEEP`
    (oldest first); the ``*_count`` fields count them all."""

    days: int
    primary_studies: int = 0
    mirror_studies: int = 0
    missing: list[Study] = field(default_factory=list)
    different: list[Different] = field(default_factory=list)
    extra: list[Study] = field(default_factory=list)
    missing_count: int = 0
    different_count: int = 0
    extra_count: int = 0
    #: Studies on both nodes, and those of them whose instance counts both gave (compared).
    on_both: int = 0
    counted: int = 0
    #: The oldest study missing on the mirror (the lag's measure), if any.
    oldest_missing: Study | None = None
    queries: int = 0
    associations: int = 0
    answers: int = 0
    splits: int = 0
    seconds: float = 0.0
    #: Answers without a usable StudyInstanceUID (counted, not compared).
    unusable: int = 0
    #: Days asked in parts (their studies without a StudyTime were not compared).
    split_days: list[str] = field(default_factory=list)

    def lag(self, now: float, zone: dt.tzinfo | None = None) -> float:
        """The replication lag: the oldest missing study's age (0 when none is missing)."""
        if self.oldest_missing is None:
            return 0.0
        acquired = self.oldest_missing.acquired(zone)
        return 0.0 if acquired is None else max(0.0, now - acquired)


def study_of(row: Mapping[str, str | None]) -> Study | None:
    """A C-FIND answer's study, or None without a usable UID (empty, too long, not a UID)."""
    uid = row.get("StudyInstanceUID") or ""
    if not 0 < len(uid) <= 64 or not all(c.isdigit() or c == "." for c in uid):
        return None
    count = row.get("NumberOfStudyRelatedInstances")
    instances = int(count) if count is not None and count.isdigit() and len(count) < 10 else None
    return Study(
        uid,
        visible(row.get("StudyDate") or "", 8),
        visible(row.get("StudyTime") or "", 16),
        instances,
    )


def compare(report: Report, primary: Mapping[str, Study], mirror: Mapping[str, Study]) -> None:
    """Add one day's (or part of a day's) studies of both nodes to ``report``."""
    report.primary_studies += len(primary)
    report.mirror_studies += len(mirror)
    for uid, study in primary.items():
        other = mirror.get(uid)
        if other is None:
            report.missing_count += 1
            _keep(report.missing, study)
            if report.oldest_missing is None or _order(study) < _order(report.oldest_missing):
                report.oldest_missing = study
            continue
        report.on_both += 1
        if study.instances is None or other.instances is None:
            continue  # a node that does not give NumberOfStudyRelatedInstances: not compared
        report.counted += 1
        if study.instances != other.instances:
            report.different_count += 1
            if len(report.different) < KEEP:
                report.different.append(Different(study, other))
    for uid, study in mirror.items():
        if uid not in primary:
            report.extra_count += 1
            _keep(report.extra, study)


def _order(study: Study) -> tuple[str, str]:
    return (study.date, study.time)


def _keep(kept: list[Study], study: Study) -> None:
    """Keep the oldest :data:`KEEP` studies."""
    kept.append(study)
    if len(kept) > KEEP:
        kept.sort(key=_order)
        del kept[KEEP:]


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def _query(day: dt.date, low: int, high: int) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyDate = day.strftime("%Y%m%d")
    whole = low == 0 and high == _DAY_SECONDS - 1
    # The upper end takes the whole last second: "115959.5" falls in 000000-115959.999999.
    query.StudyTime = "" if whole else f"{_clock(low)}-{_clock(high)}.999999"
    query.StudyInstanceUID = ""
    query.NumberOfStudyRelatedInstances = ""
    return query


#: A pause between days this long or longer is made without the associations held open.
RELEASE_GAP = 10.0


class Round:
    """One reconciliation of ``days`` days ending ``today`` (newest first)."""

    def __init__(
        self,
        primary: Node,
        mirror: Node,
        *,
        days: int,
        today: dt.date,
        timeout: float,
        request_timeout: float,
        max_answers: int,
        query_gap: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.days = days
        self.today = today
        self.max_answers = max_answers
        self.query_gap = query_gap
        self.budget = Budget.for_timeout(time.perf_counter(), timeout)
        self._sleep = sleep
        limit = 256 * 1024 + days * (max_answers + 1) * ANSWER_BYTES * 2
        self.sessions = {
            role: NodeSession(
                node,
                self.budget,
                request_timeout=request_timeout,
                pdata_limit=min(limit, 512 * 2**20),
                expecting="study-level C-FIND answers",
            )
            for role, node in (("primary", primary), ("mirror", mirror))
        }
        self.report = Report(days)

    def run(self) -> Report:
        """Every day of the window; raises :class:`RoundFailure` naming the node and day."""
        start = time.perf_counter()
        try:
            for offset in range(self.days):
                if offset and self.query_gap > 0:
                    if self.query_gap >= RELEASE_GAP:
                        for session in self.sessions.values():
                            session.close()
                    self._sleep(
                        min(self.query_gap, max(self.budget.deadline - time.perf_counter(), 0))
                    )
                self._day(self.today - dt.timedelta(days=offset), 0, _DAY_SECONDS - 1, 0)
        finally:
            for session in self.sessions.values():
                session.close()
            self._count()
            self.report.seconds = time.perf_counter() - start
        return self.report

    def _count(self) -> None:
        sessions = self.sessions.values()
        self.report.queries = sum(s.requests for s in sessions)
        self.report.associations = sum(s.associations for s in sessions)
        self.report.answers = sum(s.answers for s in sessions)

    def _day(self, day: dt.date, low: int, high: int, depth: int) -> None:
        found: dict[str, dict[str, Study]] = {}
        for role, session in self.sessions.items():
            try:
                rows = session.find(_query(day, low, high), _KEYS, self.max_answers)
            except DicomFailure as exc:
                raise RoundFailure(role, session.node, day, str(exc)) from None
            if rows is None:  # too many answers: both nodes are asked again in halves
                if depth >= MAX_SPLITS:
                    raise RoundFailure(
                        role,
                        session.node,
                        day,
                        f"{self.max_answers:,} studies or more (or the node's own cap on "
                        f"answers) between {_clock(low)} and {_clock(high)} even after "
                        f"halving the day {MAX_SPLITS} times: raise max_answers",
                    )
                self.report.splits += 1
                if day.isoformat() not in self.report.split_days:
                    self.report.split_days.append(day.isoformat())
                middle = (low + high + 1) // 2
                self._day(day, low, middle - 1, depth + 1)
                self._day(day, middle, high, depth + 1)
                return
            studies: dict[str, Study] = {}
            for row in rows:
                study = study_of(row)
                if study is None:
                    self.report.unusable += 1
                else:
                    studies[study.uid] = study
            found[role] = studies
        compare(self.report, found["primary"], found["mirror"])


class RoundFailure(Exception):
    """A node that did not answer a day's query; the words name the node and the day."""

    def __init__(self, role: str, node: Node, day: dt.date, words: str) -> None:
        super().__init__(f"{role} {node.id}: {words} (querying {day.isoformat()})")
        self.role = role
        self.node = node
        self.day = day
        self.words = words


def reconcile(
    primary: Node,
    mirror: Node,
    *,
    days: int,
    today: dt.date,
    timeout: float,
    request_timeout: float = 30.0,
    max_answers: int = 5000,
    query_gap: float = 0.5,
) -> Report:
    """One round (see :class:`Round`)."""
    return Round(
        primary,
        mirror,
        days=days,
        today=today,
        timeout=timeout,
        request_timeout=request_timeout,
        max_answers=max_answers,
        query_gap=query_gap,
    ).run()
