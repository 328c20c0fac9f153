"""The failover drill: can the mirror give a study back, and how long does it take?

Three steps against the mirror, each timed: C-ECHO (a fresh association, as the DICOM probe
does), C-FIND of the configured test study by its StudyInstanceUID, and its retrieve. Their sum
is the measured retrieval RTO. The retrieve is a C-GET by default: the mirror sends the study
back on our own association, so it needs no move destination configured for us and we open no
port. Archives that only serve C-MOVE (many do) get a C-MOVE to a storage SCP of ours that
listens for the move's duration (:mod:`pacs_tui.mirror.move_store`); the mirror's AE table must
know it. Either way the instances are counted and dropped, never decoded or written (they hold
patient data).
Optionally, which site a service name (the DNS name or virtual IP the viewers use) resolves to
now: the primary's address, the mirror's, or neither. Blocking; run in the DICOM thread pool.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from pacs_tui.mirror.association import (
    DicomFailure,
    Node,
    NodeSession,
    Retrieved,
    UnknownDestination,
)
from pacs_tui.mirror.move_store import MoveStore, MoveTo
from pacs_tui.probes.dicom import echo
from pacs_tui.probes.dicom_transport import Budget
from pacs_tui.visible import visible

#: What the mirror may send in all during a drill (the test study should be small).
MAX_BYTES = 2 * 2**30


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    seconds: float | None
    ok: bool
    words: str


@dataclass(slots=True)
class DrillOutcome:
    """Each step as it went; ``retrieved`` when the C-GET completed."""

    steps: list[Step] = field(default_factory=list)
    retrieved: Retrieved | None = None
    expected_instances: int | None = None
    #: Where the service name points now: "primary", "mirror", "elsewhere (…)" or "".
    serving: str = ""
    #: Where the expected instance count came from ("the primary", "the mirror") or why the
    #: primary was not asked.
    expected_from: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and self.retrieved is not None

    @property
    def total(self) -> float | None:
        """The measured retrieval RTO: the steps' sum, when every step succeeded."""
        if not self.ok:
            return None
        return sum(s.seconds or 0.0 for s in self.steps)

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)


def drill(
    mirror: Node,
    study_uid: str,
    *,
    timeout: float,
    request_timeout: float = 60.0,
    service_name: str = "",
    primary: Node | None = None,
    move: MoveTo | None = None,
) -> DrillOutcome:
    """Run the drill's steps in order, stopping at the first that fails. With ``move`` the
    retrieve is a C-MOVE to a store of ours listening at ``move.bind``. With ``primary``,
    the study's instance count is asked of it too (not timed: it is the reference, not part
    of the recovery), and the retrieve must bring back that many: a mirror holding part of the
    study fails the drill. Without it, or when the primary does not answer (it may be the
    site that is down), the mirror's own count is the reference."""
    outcome = DrillOutcome()
    start = time.perf_counter()
    echoed = echo(
        mirror.host,
        mirror.port,
        mirror.aet,
        mirror.calling_aet,
        timeout=min(timeout, max(request_timeout, 1.0)),
    )
    outcome.steps.append(
        Step("echo", echoed.echo_seconds, echoed.ok, "" if echoed.ok else echoed.reason)
    )
    if service_name:
        primary_host = primary.host if primary is not None else ""
        outcome.serving = serving_site(service_name, primary_host, mirror.host)
    if not echoed.ok:
        return outcome
    budget = Budget.for_timeout(start, timeout)
    session = NodeSession(
        mirror,
        budget,
        request_timeout=request_timeout,
        pdata_limit=MAX_BYTES,
        expecting="the test study",
        retrieve="get" if move is None else "move",
    )
    try:
        outcome.steps.append(_find(session, study_uid, outcome))
        if not outcome.steps[-1].ok:
            return outcome
        if outcome.expected_instances is not None:
            outcome.expected_from = "the mirror"
        if primary is not None:
            _expect_from_primary(primary, study_uid, request_timeout, outcome)
        if outcome.expected_instances is None:  # said in the detail: a short retrieve passes
            outcome.expected_from = "not compared: " + (
                outcome.expected_from or "the mirror gave no instance count (no primary asked)"
            )
        began = time.perf_counter()
        verb = "C-GET" if move is None else "C-MOVE"
        refused = ""
        try:
            if move is None:
                got = session.get_study(study_uid)
            else:
                got, refused = _move(session, mirror, study_uid, move, budget, request_timeout)
        except DicomFailure as exc:
            outcome.steps.append(Step("retrieve", None, False, str(exc)))
            return outcome
        seconds = time.perf_counter() - began
        words = ""
        ok = got.instances > 0 and got.failed == 0
        if got.instances == 0:
            words = f"{verb} brought back no instance"
        elif got.failed:
            words = f"{got.failed} instances failed to arrive"
        if refused and not ok:
            words += f" (our store {refused})"
        elif outcome.expected_instances is not None and got.instances < outcome.expected_instances:
            ok = False
            words = (
                f"{got.instances} of the {outcome.expected_instances} instances "
                f"{outcome.expected_from} holds arrived"
            )
        outcome.retrieved = got
        outcome.steps.append(Step("retrieve", seconds, ok, words))
    finally:
        session.close()
    return outcome


def _move(
    session: NodeSession,
    mirror: Node,
    study_uid: str,
    move: MoveTo,
    budget: Budget,
    request_timeout: float,
) -> tuple[Retrieved, str]:
    """C-MOVE the study to a store of ours that listens only while the move lasts; what
    arrived, and whom the store turned away (in words)."""
    try:
        addresses = _addresses(mirror.host)
    except (OSError, UnicodeError) as exc:
        raise DicomFailure(f"host not found: {visible(mirror.host, 80)} ({exc})") from None
    store = MoveStore(move, addresses, budget, idle=request_timeout, max_bytes=MAX_BYTES)
    try:
        store.start()
    except OSError as exc:
        words = visible(exc.strerror or str(exc), 80)
        raise DicomFailure(
            f"could not listen on {move.where} for the mirror's C-STOREs ({words})"
        ) from None
    try:
        got = session.move_study(study_uid, move.aet, lambda: (store.instances, store.size))
    except UnknownDestination:
        raise
    except DicomFailure as exc:
        raise DicomFailure(f"{exc} (our store {store.refused_words()})") from None
    finally:
        store.stop()
    return got, store.refused_words()


def _find(session: NodeSession, study_uid: str, outcome: DrillOutcome) -> Step:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    query.NumberOfStudyRelatedInstances = ""
    began = time.perf_counter()
    try:
        rows = session.find(query, ("StudyInstanceUID", "NumberOfStudyRelatedInstances"), 4)
    except DicomFailure as exc:
        return Step("find", None, False, str(exc))
    seconds = time.perf_counter() - began
    matching = [r for r in rows or () if r.get("StudyInstanceUID") == study_uid]
    if not matching:
        return Step("find", seconds, False, "the test study is not on the mirror")
    count = matching[0].get("NumberOfStudyRelatedInstances")
    if count is not None and count.isdigit() and len(count) < 10:
        outcome.expected_instances = int(count)
    return Step("find", seconds, True, "")


def _expect_from_primary(
    primary: Node, study_uid: str, timeout: float, outcome: DrillOutcome
) -> None:
    """The study's instance count on the primary, as the count the retrieve must reach."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    query.NumberOfStudyRelatedInstances = ""
    session = NodeSession(
        primary,
        Budget.for_timeout(time.perf_counter(), timeout),
        request_timeout=timeout,
        pdata_limit=64 * 1024,
        expecting="the test study's count",
    )
    try:
        rows = session.find(query, ("StudyInstanceUID", "NumberOfStudyRelatedInstances"), 4)
    except DicomFailure as exc:
        outcome.expected_from += f" (the primary not asked: {exc})"
        return
    finally:
        session.close()
    count = next(
        (
            r.get("NumberOfStudyRelatedInstances")
            for r in rows or ()
            if r.get("StudyInstanceUID") == study_uid
        ),
        None,
    )
    if count is not None and count.isdigit() and len(count) < 10:
        outcome.expected_instances = max(int(count), outcome.expected_instances or 0)
        outcome.expected_from = "the primary"
        return
    there = any(r.get("StudyInstanceUID") == study_uid for r in rows or ())
    why = "the primary gave no instance count" if there else "the study is not on the primary"
    if outcome.expected_instances is None:
        outcome.expected_from = f"neither the mirror nor the primary gave a count ({why})"
    else:
        outcome.expected_from += f" ({why})"


def serving_site(name: str, primary_host: str, mirror_host: str) -> str:
    """Which site ``name`` resolves to now: "primary", "mirror" or "elsewhere (ADDRESSES)"."""
    try:
        found = _addresses(name)
    except (OSError, UnicodeError) as exc:
        return f"unresolved ({visible(str(exc), 80)})"
    primary = _addresses_or_empty(primary_host)
    mirror = _addresses_or_empty(mirror_host)
    if found & mirror and not found & primary:
        return "mirror"
    if found & primary and not found & mirror:
        return "primary"
    if found & primary and found & mirror:
        return f"both ({', '.join(sorted(found & mirror))[:80]})"
    return f"elsewhere ({', '.join(sorted(found))[:80]})"


def _addresses(name: str) -> set[str]:
    return {str(info[4][0]) for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}


def _addresses_or_empty(name: str) -> set[str]:
    if not name:
        return set()
    try:
        return _addresses(name)
    except (OSError, UnicodeError):
        return set()
