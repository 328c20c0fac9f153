"""Core value types shared by the engine, probes, store, exporters and UI.

Nothing here imports Textual or does I/O.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Status(enum.Enum):
    """Health of a target. Each status has a word and a glyph so colour is never the only cue."""

    OK = "OK"
    UNKNOWN = "UNKNOWN"
    WARN = "WARN"
    CRIT = "CRIT"
    DOWN = "DOWN"

    @property
    def rank(self) -> int:
        """Severity for worst-of ordering: OK < UNKNOWN < WARN < CRIT < DOWN."""
        return _RANK[self]

    @property
    def word(self) -> str:
        return self.value

    @property
    def glyph(self) -> str:
        return _GLYPH[self]

    @property
    def label(self) -> str:
        """Glyph and word, e.g. ``"▼ DOWN"``."""
        return f"{self.glyph} {self.value}"

    @property
    def exit_code(self) -> int:
        """Nagios plugin exit code: 0 OK, 1 WARN, 2 CRIT or DOWN, 3 UNKNOWN."""
        return _EXIT[self]

    @staticmethod
    def worst(statuses: Any) -> Status:
        """The most severe of ``statuses``; UNKNOWN when there are none."""
        # max() with the rank table's lookup: the header asks this of 1,000 states per change.
        worst: Status = max(statuses, key=_RANK.__getitem__, default=Status.UNKNOWN)
        return worst


_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.CRIT: 3, Status.DOWN: 4}
_GLYPH = {
    Status.OK: "✔",
    Status.UNKNOWN: "?",
    Status.WARN: "▲",
    Status.CRIT: "✖",
    Status.DOWN: "▼",
}
_EXIT = {Status.OK: 0, Status.WARN: 1, Status.CRIT: 2, Status.DOWN: 2, Status.UNKNOWN: 3}


class TargetKind(enum.StrEnum):
    """What sort of thing a target is; one per source family."""

    DICOM_NODE = "dicom-node"
    HL7_LINK = "hl7-link"
    HL7_LISTENER = "hl7-listener"
    VOLUME = "volume"
    ARCHIVE = "archive"
    HOST = "host"
    LOGTAIL = "logtail"
    AUDIT_SOURCE = "audit-source"
    BACKUP = "backup"
    MIRROR = "mirror"
    DRILL = "drill"
    COMMAND = "command"


@dataclass(frozen=True, slots=True)
class Target:
    """A watched thing with a stable id. ``labels`` holds site, role, address, AE title, …"""

    id: str
    kind: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, name: str, default: str = "") -> str:
        return self.labels.get(name, default)


@dataclass(frozen=True, slots=True)
class Sample:
    """One number measured at ``ts`` (epoch seconds), in base units (seconds, bytes)."""

    ts: float
    target: str
    metric: str
    value: float


class EventKind(enum.StrEnum):
    """Kinds of discrete facts recorded as events."""

    STATUS_CHANGE = "status-change"
    PROBE = "probe"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Event:
    """A discrete fact: a status change, an operator action, an HL7 message's metadata, …"""

    ts: float
    target: str
    kind: str
    status: Status | None
    summary: str
    fields: Mapping[str, Any] = field(default_factory=dict)


# Not frozen: a frozen dataclass's __init__ sets each of the 15 fields through
# object.__setattr__, 1.1 µs a row against 0.2, and an HL7 listener builds one per message
# before its ACK. Treat it as immutable all the same (dataclasses.replace makes a changed copy).
@dataclass(slots=True)
class LoggedMessage:
    """One message's metadata in the message log (HL7 traffic, audit records): never its
    body, never a patient's name or identifier. ``ack`` is the answer's code ("AA", "AE",
    "CA", …; None while unanswered or when no answer is expected); ``latency`` the seconds
    until the answer; ``size`` the message's bytes; ``detail`` a short note (an error's text);
    ``sender``/``receiver`` the sending and receiving applications (HL7 MSH-3/5), with their
    facilities (MSH-4/6); ``version`` the HL7 version (MSH-12)."""

    ts: float
    link: str
    direction: str
    type: str
    control_id: str
    ack: str | None = None
    latency: float | None = None
    size: int = 0
    sender: str = ""
    receiver: str = ""
    detail: str = ""
    version: str = ""
    sender_facility: str = ""
    receiver_facility: str = ""
    #: The patient it is about: "#" and a keyed hash of PID-3's ID (the same patient, the same
    #: hash, in one history), the ID itself only where the listener's ``store_phi`` is on.
    patient: str = ""


#: The ``ack`` of a message-log query that asks for the messages no answer came to (or came
#: only after the tap's ``ack_timeout``: what its "no ACK" counter counts).
NO_ACK = "none"
#: How a row whose answer came after the tap's ``ack_timeout`` starts its ``detail`` (at the
#: start only: the receiver's own words may follow).
LATE_ACK = "late: after"


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Which rows of the message log, newest first: every condition given holds. ``ack`` is a
    code or :data:`NO_ACK` (the unanswered); ``type_prefix`` the start of the type ("ADT",
    "ADT^A01"); ``patient`` a patient's ID (found by its reference) or a ``#`` reference;
    ``links`` the rows of any of these links (a screen's: the HL7 tracker's, the audit's);
    ``sender`` the sending application (an audit record's user)."""

    link: str | None = None
    since: float | None = None
    until: float | None = None
    control_id: str | None = None
    ack: str | None = None
    type_prefix: str | None = None
    patient: str | None = None
    limit: int = 500
    links: tuple[str, ...] | None = None
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class MessageField:
    """One valued field of a message shown in the detail view: its number, its text (or a
    mask), its components when shown and more than one, whether it was masked, its length."""

    number: int
    text: str
    masked: bool = False
    components: tuple[str, ...] = ()
    length: int = 0


@dataclass(frozen=True, slots=True)
class MessageSegment:
    name: str
    fields: tuple[MessageField, ...]


@dataclass(frozen=True, slots=True)
class MessageTree:
    """A message's segments with patient fields masked (the detail view's); ``problem`` says
    why it is partial ("" when whole)."""

    segments: tuple[MessageSegment, ...]
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    """What one run of a check found.

    ``metrics`` are recorded as samples; ``details`` is free-form facts for the detail view and
    ``diagnose`` (never PHI).
    """

    status: Status
    reason: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    #: Words to record as an event of its own even when the status does not change: a run
    #: worth keeping in the history one by one (a failover drill's outcome).
    log_event: str = ""


def never_drilled(state: TargetState) -> bool:
    """A failover drill that has never run (it runs on demand): its UNKNOWN says nothing is
    known yet, not that something is wrong, so it does not make ``status`` or ``check`` exit
    UNKNOWN."""
    return state.target.kind == TargetKind.DRILL and state.checked is None


@dataclass(frozen=True, slots=True)
class TargetState:
    """The engine's view of one target now."""

    target: Target
    status: Status = Status.UNKNOWN
    reason: str = "not checked yet"
    since: float | None = None
    last_seen: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    #: When the last result came (whatever its status); ``None`` before the first.
    checked: float | None = None

    @property
    def id(self) -> str:
        return self.target.id


def iso(ts: float | None) -> str | None:
    """ISO 8601 with a UTC offset, as every JSON contract wants."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def worst_first(states: Iterable[TargetState], kind: str | None = None) -> list[TargetState]:
    """``states`` (those of ``kind`` only, if given) worst status first, then by id (the rank
    read from the table directly: a screen sorts a thousand states several times per change of
    status)."""
    return sorted(
        (s for s in states if kind is None or s.target.kind == kind),
        key=lambda s: (-_RANK[s.status], s.target.id),
    )
