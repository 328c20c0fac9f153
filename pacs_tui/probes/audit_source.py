"""The audit source: syslog receivers for a PACS's IHE ATNA audit trail (``[[audit.syslog]]``),
the sessions and failed logins read from it, and the policy that judges them (``[audit]``,
``[audit.roles]``). The UI shows them on the Sessions screen (``screens/sessions.py``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.audit.receiver import (
    AuditReceiver,
    Network,
    ReceiverError,
    SyslogConfig,
    tls_context,
    tls_file_problem,
)
from pacs_tui.audit.sessions import ROLES, Policy, RoleMap
from pacs_tui.config_reader import MISSING, Reader
from pacs_tui.model import Target, TargetKind, TargetState
from pacs_tui.source import (
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
)

MAX_SIZE_LIMIT = 1024 * 1024
DEFAULT_PORTS = {"udp": 514, "tcp": 601, "tls": 6514}


def _counter(name: str, label: str, description: str) -> MetricSpec:
    return MetricSpec(name, "c", label, kind="counter", description=description)


METRICS = (
    MetricSpec(
        "audit_sessions", "", "Sessions", description="open sessions, idle ones too",
        headline=True, title="Open sessions",
    ),
    MetricSpec(
        "audit_idle_sessions", "", "Idle", description="sessions idle past the policy"
    ),
    MetricSpec(
        "audit_received_per_minute", "", "Received/min",
        description="audit messages received a minute, over the last minute",
        title="Audit messages a minute",
    ),
    MetricSpec("audit_peers", "", "Peers", description="connections open (TCP, TLS)"),
    MetricSpec(
        "audit_failed_logins_last_hour", "", "Failed logins (1 h)",
        description="failed logins over the last hour (what the reason and the tile say)",
    ),
    MetricSpec(
        "audit_security_alerts_held", "", "Alerts now",
        description="alerts still within alert_hold (what the status and the tile say)",
    ),
    _counter("audit_received_total", "Received", "audit messages received"),
    _counter("audit_parsed_total", "Parsed", "audit records read"),
    _counter("audit_unparsed_total", "Unparsed", "messages that were not an audit record"),
    _counter("audit_dropped_total", "Dropped", "messages or connections not taken"),
    _counter("audit_too_large_total", "Too large", "messages over max_size"),
    _counter("audit_framing_errors_total", "Framing errors", "bytes that were not syslog frames"),
    _counter("audit_refused_total", "Refused", "senders outside allow, connections over the limit"),
    _counter("audit_tls_failed_total", "TLS failed",
             "TLS handshakes that failed: a plain TCP sender, no or a wrong certificate"),
    _counter("audit_failed_logins_total", "Failed logins (total)",
             "logins with an outcome other than 0, since the receiver started"),
    _counter("audit_security_alerts_total", "110113 alerts (total)",
             "Security Alert events (110113) received"),
    _counter("audit_exports_total", "Exports", "110106 events"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditSection:
    receivers: tuple[SyslogConfig, ...] = ()
    policy: Policy = field(default_factory=Policy)
    roles: RoleMap = field(default_factory=RoleMap)


def read(reader: Reader, raw: Any, site: str) -> AuditSection:
    """The ``[audit]`` table (absent: nothing)."""
    if raw is None:
        return AuditSection()
    if not isinstance(raw, dict):
        reader.problem("audit", raw, "a table: [audit] and [[audit.syslog]]")
        return AuditSection()
    keys = {"syslog", "roles", "idle_after", "expire_after", "failed_login_burst",
            "failed_login_window", "alert_hold"}  # fmt: skip
    reader.check_keys(raw, "audit", keys)
    before = len(reader.problems)
    get = reader.get
    span = cv.duration_between(60.0, 7 * 86400.0)
    span_words = "a duration from 1m to 7d, like '30m' or '12h'"
    policy = Policy(
        idle_after=get(raw, "idle_after", "audit", span, span_words, 1800.0),
        expire_after=get(raw, "expire_after", "audit", span, span_words, 43200.0),
        burst=get(
            raw, "failed_login_burst", "audit", cv.int_range(2, 10_000),
            "a whole number of failed logins from 2 to 10000", 5,
        ),
        burst_window=get(raw, "failed_login_window", "audit", span, span_words, 300.0),
        alert_hold=get(raw, "alert_hold", "audit", span, span_words, 900.0),
    )  # fmt: skip
    idle, expire = policy.idle_after, policy.expire_after
    # Compared only when both read: a value refused above is not held against the other.
    if len(reader.problems) == before and expire < idle:
        reader.problem(
            "audit.expire_after",
            raw.get("expire_after", f"{expire:g}s (the default)"),
            f"at least idle_after ({raw.get('idle_after', f'{idle:g}s')})",
        )
    roles = _roles(reader, raw.get("roles"))
    receivers: tuple[SyslogConfig, ...] = ()
    if "syslog" in raw:
        receivers = reader.entries(
            raw["syslog"], "audit.syslog", lambda t, p: _receiver(reader, t, p, site)
        )
    receivers = tuple(replace(r, policy=policy, roles=roles) for r in receivers)
    return AuditSection(receivers, policy, roles)


def _roles(reader: Reader, raw: Any) -> RoleMap:
    if raw is None:
        return RoleMap()
    if not isinstance(raw, dict):
        reader.problem("audit.roles", raw, "a table: role = [user IDs or patterns]")
        return RoleMap()
    reader.check_keys(raw, "audit.roles", set(ROLES))
    patterns: dict[str, tuple[str, ...]] = {}
    for role in ROLES:
        if role in raw:
            patterns[role] = reader.get(
                raw, role, "audit.roles",
                _patterns,
                'a list of user IDs, patterns like "rad-*" or "role:CODE" (none empty)', (),
            )  # fmt: skip
    return RoleMap(patterns)


def _patterns(value: Any) -> tuple[str, ...]:
    """A role's user IDs and patterns; an empty one (``""``, ``"role:"``) matches nobody the
    admin meant, so it is refused rather than kept silently."""
    items = cv.string_list(value, max_items=1000, max_length=256)
    if any(not item.strip() or item.strip() == "role:" for item in items):
        raise ValueError
    return items


def _networks(value: Any) -> tuple[Network, ...]:
    items = cv.string_list(value, max_items=256, max_length=64)
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _receiver(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> SyslogConfig | None:
    keys = {"id", "bind", "protocol", "framing", "allow", "max_size", "max_connections",
            "frame_timeout", "cert", "key", "ca", "site", "description"}  # fmt: skip
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    protocol = get(
        t, "protocol", path, cv.choice(("udp", "tcp", "tls")),
        '"udp" (RFC 5426), "tcp" (RFC 6587) or "tls" (RFC 5425)', "udp",
    )  # fmt: skip
    bind = get(
        t, "bind", path, cv.bind_address,
        'an IP address and port to listen on, like "127.0.0.1:6514" (loopback unless told)',
    )  # fmt: skip
    # A protocol that did not read is not judged against: no telling which it was meant to be.
    known = t.get("protocol", "udp") in ("udp", "tcp", "tls")
    if known:
        reader.listens_on(f"{path}.bind", "udp" if protocol == "udp" else "tcp", bind)
    framing = get(
        t, "framing", path, cv.choice(("auto", "octet-counting", "newline")),
        '"auto" (both, frame by frame), "octet-counting" or "newline"', "auto",
    )  # fmt: skip
    if known and protocol == "udp" and "framing" in t:
        reader.problem(f"{path}.framing", t["framing"], 'nothing for protocol = "udp"')
    allow = get(
        t, "allow", path, _networks,
        'a list of addresses or networks, like ["127.0.0.1", "10.1.0.0/16"]', (),
    )  # fmt: skip
    max_size = get(
        t, "max_size", path, cv.int_range(480, MAX_SIZE_LIMIT),
        f"a size in bytes from 480 to {MAX_SIZE_LIMIT:,}", 64 * 1024,
    )  # fmt: skip
    connections = get(
        t, "max_connections", path, cv.int_range(1, 1024), "a whole number from 1 to 1024", 64
    )
    frame_timeout = get(t, "frame_timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, 30.0)
    tls = {}
    for name in ("cert", "key", "ca"):
        value = get(t, name, path, cv.nonempty_str, "a path to a PEM file", "")
        if value and known and protocol != "tls":
            reader.problem(f"{path}.{name}", t[name], 'nothing unless protocol = "tls"')
        tls[name] = str(reader.resolve(value)) if value else ""
    if protocol == "tls" and not (tls["cert"] and tls["key"]):
        absent = "cert" if not tls["cert"] else "key"  # said as missing, never "= None"
        reader.problem(
            f"{path}.{absent}", t.get(absent, MISSING), 'cert and key (PEM files) for "tls"'
        )
    if protocol == "tls" and reader.check_paths:  # config check reads them as collect will
        for name, value in tls.items():
            problem = tls_file_problem(value, private=name == "key") if value else None
            if problem is not None:
                expected = f"a PEM file that collect can read ({problem})"
                reader.problem(f"{path}.{name}", t[name], expected)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    if len(reader.problems) > before:
        return None
    host, port = bind
    entry = SyslogConfig(
        entry_id, host, port, protocol, framing, allow, max_size, connections, frame_timeout,
        tls["cert"], tls["key"], tls["ca"], entry_site, description,
    )  # fmt: skip
    if protocol == "tls" and reader.check_paths:
        try:
            tls_context(entry)  # a certificate and key that do not belong together, a bad PEM
        except ReceiverError as exc:
            reader.problem(f"{path}.cert", t["cert"], f"a certificate and key that load ({exc})")
            return None
    return entry


def receiver_target(entry: SyslogConfig) -> Target:
    labels = {
        "address": f"{entry.protocol} {entry.host}:{entry.port}",
        "site": entry.site,
        "description": entry.description,
    }
    return Target(entry.id, TargetKind.AUDIT_SOURCE, labels)


def targets(section: AuditSection) -> list[Target]:
    return [receiver_target(e) for e in section.receivers]


def build(section: AuditSection, ctx: BuildContext) -> list[Runnable]:
    return [
        AuditReceiver(e, receiver_target(e), ctx.patient_key, ctx.history)
        for e in section.receivers
    ]


def workers(section: AuditSection) -> WorkerLimit:
    return WorkerLimit(max(1, len(section.receivers)))


def example() -> list[tuple[str, Any]]:
    audit = tomlkit.table()
    audit.add(tomlkit.comment("The PACS's audit trail (IHE ATNA) over syslog: who is logged in,"))
    audit.add(tomlkit.comment("what they touch, failed logins. Patient IDs are kept only hashed."))
    audit.add("idle_after", "30m")
    audit["idle_after"].comment("a session with no activity this long is shown as idle")
    audit.add("failed_login_burst", 5)
    audit["failed_login_burst"].comment("this many failed logins in failed_login_window: WARN")
    audit.add("failed_login_window", "5m")
    roles = tomlkit.table()
    roles.add("radiologist", ["rad-*"])
    roles.add("technologist", ["tech-*"])
    roles.add("referring", ["gp-*"])
    roles.add("admin", ["pacsadmin"])
    audit.add("roles", roles)
    entry = tomlkit.table()
    entry.add("id", "pacs-audit")
    entry.add("bind", "127.0.0.1:5514")
    entry["bind"].comment("where the PACS sends its audit messages (514 needs root; 6514 is TLS's)")
    entry.add("protocol", "udp")
    entry["protocol"].comment('"udp", "tcp" or "tls" (with cert and key)')
    entry.add("allow", ["127.0.0.1"])
    entry["allow"].comment("senders taken; others dropped and counted")
    audit.add("syslog", AoT([entry]))
    return [("audit", audit)]


def tile_summary(states: Iterable[TargetState]) -> str:
    sessions = failed = alerts = 0
    for state in states:
        sessions += int(state.metrics.get("audit_sessions", 0))
        # Over the windows the receivers' reasons use, not since the collector started: a
        # running total only grew, and a restart made it 0 while the screen still listed them.
        failed += int(state.metrics.get("audit_failed_logins_last_hour", 0))
        alerts += int(state.metrics.get("audit_security_alerts_held", 0))
    parts = [f"{sessions} session{'s' if sessions != 1 else ''}"]
    if failed:
        parts.append(f"{failed} failed login{'s' if failed != 1 else ''} in 1 h")
    if alerts:
        parts.append(f"{alerts} alert{'s' if alerts != 1 else ''}")
    return " · ".join(parts)


def headline(state: TargetState) -> str:
    return "audit_sessions"


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Receiver", "id", None, True),
    Column("address", "Listening", "label", None, False, "address"),
    Column("sessions", "Sessions", "value", 8, True, "audit_sessions", "most first", "", True),
    Column("rate", "Per min", "value", 8, True, "audit_received_per_minute", "most first"),
    Column("since", "Since", "since", 10, False, "", "latest change first", "oldest first", True),
    Column("reason", "Reason", "reason", None, True),
)

#: The details the Sessions screen shows in its own tables (not the detail screen's facts).
SCREEN_DETAILS = frozenset({"sessions", "failed_logins", "alerts"})


SOURCE = Source(
    name="audit",
    title="Sessions",
    kinds=(TargetKind.AUDIT_SOURCE,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    headline=headline,
    noun="audit receiver",
    entry="[[audit.syslog]]",
    screen="sessions",
    screen_title="Sessions",
    detail_labels={"listening": "Listening"},
    hidden_details=SCREEN_DETAILS,
    tile_summary=tile_summary,
)
