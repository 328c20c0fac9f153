"""Who is using the PACS, from its audit trail: sessions opened by logins and closed by logouts,
kept alive by the user's activity, failed logins with bursts, security alerts and exports.

Pure bookkeeping over :class:`~pacs_tui.audit.atna.AuditEvent` (no sockets, no clock of its
own: every call says what time it is), bounded in every dimension.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pacs_tui.audit.atna import AuditEvent

USER_AUTHENTICATION = "110114"
LOGIN = "110122"
LOGOUT = "110123"
INSTANCES_ACCESSED = "110103"
EXPORT = "110106"
PATIENT_RECORD = "110110"
QUERY = "110112"
SECURITY_ALERT = "110113"
#: The events that count as a user's activity in a session.
ACTIVITY = frozenset({INSTANCES_ACCESSED, EXPORT, PATIENT_RECORD, QUERY, SECURITY_ALERT})
#: The roles a user ID may be mapped to (``[audit.roles]``), and what is shown for them.
ROLES = {
    "radiologist": "radiologist",
    "technologist": "technologist",
    "referring": "referring physician",
    "admin": "admin",
}
UNMAPPED = "unmapped"

#: Bounds: sessions kept, studies remembered per session, failures and alerts remembered.
MAX_SESSIONS = 10_000
MAX_STUDIES = 100
MAX_FAILURES = 1_000
MAX_ALERTS = 50
#: Sessions, failures and alerts in a result's details (the screen's rows).
SHOWN = 200


@dataclass(frozen=True, slots=True)
class Policy:
    """``idle_after``: a session with no activity for this long is shown as idle (past the
    policy); ``expire_after``: then it is forgotten (a PACS that never sends the logout).
    ``burst``/``burst_window``: that many failed logins within the window, for one user or from
    one host, is a burst; ``alert_hold``: how long a burst or a security alert keeps the
    receiver at WARN."""

    idle_after: float = 30 * 60.0
    expire_after: float = 12 * 3600.0
    burst: int = 5
    burst_window: float = 5 * 60.0
    alert_hold: float = 15 * 60.0


@dataclass(frozen=True, slots=True)
class RoleMap:
    """User IDs (exact or shell patterns like ``rad-*``) to a role; the first match wins, in
    the order of :data:`ROLES`. ``role:CODE`` matches an audit record's RoleIDCode."""

    patterns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def role(self, user_id: str, codes: Iterable[str] = ()) -> str:
        folded, code_set = user_id.casefold(), {f"role:{c}" for c in codes}
        for role in ROLES:
            for pattern in self.patterns.get(role, ()):
                if pattern in code_set or fnmatch.fnmatchcase(folded, pattern.casefold()):
                    return role
        return UNMAPPED


@dataclass(slots=True)
class Session:
    user: str
    host: str
    role: str
    since: float
    last: float
    login_seen: bool
    studies: dict[str, None] = field(default_factory=dict)  # ordered set, bounded
    events: int = 0
    exports: int = 0

    def touch(self, ts: float, event: AuditEvent) -> None:
        self.last = max(self.last, ts)
        self.events += 1
        self.exports += event.event_id == EXPORT
        for uid in event.studies:
            if uid not in self.studies and len(self.studies) < MAX_STUDIES:
                self.studies[uid] = None


@dataclass(frozen=True, slots=True)
class Failure:
    ts: float
    user: str
    host: str
    outcome: int


@dataclass(frozen=True, slots=True)
class Alert:
    ts: float
    words: str


class SessionBook:
    """The sessions and alerts of one audit receiver."""

    def __init__(self, policy: Policy | None = None, roles: RoleMap | None = None) -> None:
        self.policy = policy or Policy()
        self.roles = roles or RoleMap()
        self.sessions: dict[tuple[str, str], Session] = {}
        self.failures: deque[Failure] = deque(maxlen=MAX_FAILURES)
        self.alerts: deque[Alert] = deque(maxlen=MAX_ALERTS)
        self.failed_logins = 0
        self.security_alerts = 0
        self.exports = 0
        self.logins = 0
        self.logouts = 0
        self._burst_keys: dict[str, float] = {}  # "user x" / "host y" → when its burst was said

    def role_of(self, event: AuditEvent) -> str:
        return self.roles.role(event.user_id, event.user_roles)

    def take(self, event: AuditEvent, ts: float, role: str = "") -> Alert | None:
        """Fold one audit event in (received at ``ts``); the alert it raised, if any. ``role``
        is the role already worked out (a record read back from the message log)."""
        user, host = event.user_id, event.user_host
        if event.event_id == USER_AUTHENTICATION:
            if event.outcome != 0:
                return self._failed(Failure(ts, user, host, event.outcome), ts)
            if event.type_code == LOGIN and user:
                self.logins += 1
                self._open(user, host, ts, event, login=True, role=role)
            elif event.type_code == LOGOUT and user:
                self.logouts += 1
                self._close(user, host)
            return None
        alert = None
        if event.event_id == SECURITY_ALERT:
            self.security_alerts += 1
            # The event's own name is "Security Alert": only its type says more.
            what = f": {event.type_name}" if event.type_name else ""
            who = f" by {user}" if user else ""
            alert = Alert(ts, f"security alert{what}{who}{_from(host)}")
            self.alerts.append(alert)
        if event.event_id == EXPORT:
            self.exports += 1
        if event.event_id in ACTIVITY and user:
            session = self._find(user, host)
            if session is None:
                session = self._open(user, host, ts, event, login=False, role=role)
            session.touch(ts, event)
        return alert

    def _open(
        self, user: str, host: str, ts: float, event: AuditEvent, *, login: bool, role: str = ""
    ) -> Session:
        key = (user, host)
        session = self.sessions.get(key)
        if session is None or login:
            if len(self.sessions) >= MAX_SESSIONS and key not in self.sessions:
                oldest = min(self.sessions.values(), key=lambda s: s.last)
                del self.sessions[(oldest.user, oldest.host)]
            session = Session(user, host, role or self.role_of(event), ts, ts, login)
            self.sessions[key] = session
        return session

    def _find(self, user: str, host: str) -> Session | None:
        session = self.sessions.get((user, host))
        if session is not None or host:
            return session
        # No host in the record: the user's most recent session anywhere.
        mine = [s for s in self.sessions.values() if s.user == user]
        return max(mine, key=lambda s: s.last, default=None)

    def _close(self, user: str, host: str) -> None:
        if (user, host) in self.sessions:
            del self.sessions[(user, host)]
        elif not host:
            for key in [k for k in self.sessions if k[0] == user]:
                del self.sessions[key]

    def _failed(self, failure: Failure, ts: float) -> Alert | None:
        self.failed_logins += 1
        self.failures.append(failure)
        window = ts - self.policy.burst_window
        recent = [f for f in self.failures if f.ts >= window]
        keys = [
            (f"user {failure.user}", sum(f.user == failure.user for f in recent)),
            (f"host {failure.host}", sum(f.host == failure.host for f in recent)),
        ]
        keys = [(key, count) for key, count in keys if not key.endswith(" ")]  # none given
        for key, count in keys:
            said = self._burst_keys.get(key)
            if count >= self.policy.burst and (said is None or said < window):
                for other, _ in keys:  # one burst, said once: by user and by host alike
                    self._burst_keys[other] = ts
                minutes = self.policy.burst_window / 60
                where = _from(failure.host) if key.startswith("user ") else ""
                alert = Alert(ts, f"{count} failed logins in {minutes:g} min for {key}{where}")
                self.alerts.append(alert)
                return alert
        return None

    def replay(self, rows: Iterable[tuple[float, AuditEvent, str]], now: float) -> int:
        """Rebuild from records read back from the message log (time, event, role; oldest
        first) after a restart: the sessions, failed logins and alerts of the policy's windows.
        The counters stay at zero: they count what this run receives (the history's counter
        metrics would count a replay twice). How many records were folded in."""
        count = 0
        for ts, event, role in rows:
            self.take(event, ts, role)
            count += 1
        self.logins = self.logouts = self.failed_logins = 0
        self.security_alerts = self.exports = 0
        self.expire(now)
        return count

    def expire(self, now: float) -> int:
        """Forget sessions silent past the policy; how many went."""
        limit = now - self.policy.expire_after
        gone = [k for k, s in self.sessions.items() if s.last < limit]
        for key in gone:
            del self.sessions[key]
        old = now - self.policy.burst_window
        for said in [k for k, t in self._burst_keys.items() if t < old]:
            del self._burst_keys[said]
        return len(gone)

    def idle(self, now: float) -> list[Session]:
        limit = now - self.policy.idle_after
        return [s for s in self.sessions.values() if s.last < limit]

    def recent_alerts(self, now: float) -> list[Alert]:
        """Alerts still within ``alert_hold`` of now, newest first."""
        hold = now - self.policy.alert_hold
        return [a for a in reversed(self.alerts) if a.ts >= hold]

    def failures_within(self, now: float, window: float) -> int:
        return sum(1 for f in self.failures if f.ts >= now - window)

    def details(self, now: float) -> dict[str, Any]:
        """What the Sessions screen shows, JSON-ready: sessions newest activity first, the
        recent failed logins and alerts."""
        idle_limit = now - self.policy.idle_after
        ordered = sorted(self.sessions.values(), key=lambda s: s.last, reverse=True)
        sessions = [
            {
                "user": s.user,
                "role": ROLES.get(s.role, s.role),
                "host": s.host,
                "since": s.since,
                "last": s.last,
                "studies": len(s.studies),
                "events": s.events,
                "exports": s.exports,
                "idle": s.last < idle_limit,
                "login_seen": s.login_seen,
            }
            for s in ordered[:SHOWN]
        ]
        failures = [
            {"ts": f.ts, "user": f.user, "host": f.host, "outcome": f.outcome}
            for f in list(self.failures)[-SHOWN:][::-1]
        ]
        alerts = [{"ts": a.ts, "words": a.words} for a in reversed(self.alerts)]
        return {"sessions": sessions, "failed_logins": failures, "alerts": alerts}


def _from(host: str) -> str:
    return f" from {host}" if host else ""
