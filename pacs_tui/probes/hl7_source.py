"""The HL7 source: MLLP listeners (``[[hl7.listener]]``) that take a copy feed, acknowledge it by
HL7's rules and log each message's header (never its patient fields).

``mode = "listen"`` answers a copy feed itself (:mod:`pacs_tui.hl7.listener`); ``mode = "tap"``
sits between a sender and its receiver and relays the receiver's answers
(:mod:`pacs_tui.hl7.tap`). ``[[hl7.link]]`` checks that a receiver answers
(:mod:`pacs_tui.hl7.link`). The UI shows them on the HL7 tracker
(``screens/hl7_tracker.py``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import NO_VALUE, Reader
from pacs_tui.hl7.error_share import DEFAULT_CRIT, DEFAULT_WARN
from pacs_tui.hl7.link import (
    DEFAULT_ACK_WARN,
    LinkCheck,
    LinkConfig,
    MessageFileError,
    test_message,
)
from pacs_tui.hl7.listener import Listener, ListenerConfig
from pacs_tui.hl7.tap import Tap, TapConfig
from pacs_tui.model import Target, TargetKind, TargetState
from pacs_tui.patient_key import PatientKey
from pacs_tui.source import (
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
    threshold_labels,
)
from pacs_tui.visible import visible

MAX_FRAME_LIMIT = 64 * 1024 * 1024


def _counter(name: str, label: str, description: str) -> MetricSpec:
    return MetricSpec(name, "c", label, kind="counter", description=description)


METRICS = (
    _counter("hl7_received_total", "Received", "messages received"),
    _counter("hl7_ack_aa_total", "AA", "application accept"),
    _counter("hl7_ack_ae_total", "AE", "application error (the message's structure)"),
    _counter("hl7_ack_ar_total", "AR", "application reject (version, type, processing ID)"),
    _counter("hl7_ack_ca_total", "CA", "commit accept"),
    _counter("hl7_ack_ce_total", "CE", "commit error"),
    _counter("hl7_ack_cr_total", "CR", "commit reject"),
    _counter("hl7_framing_errors_total", "Framing errors", "bytes that were not a message"),
    _counter("hl7_refused_total", "Refused", "connections over the limit"),
    _counter("hl7_no_ack_total", "No ACK", "messages the upstream did not answer in time (tap)"),
    _counter("hl7_upstream_down_total", "Upstream down", "connections the upstream refused (tap)"),
    MetricSpec("hl7_peers", "", "Peers", description="connections open"),
    MetricSpec(
        "hl7_error_ratio",
        "ratio",
        "Failed",
        description="share of the last 5 minutes' messages that failed (AE, AR, CE, CR, no "
        "ACK, framing): WARN over error_warn, CRIT over error_crit",
        warn=DEFAULT_WARN,
        crit=DEFAULT_CRIT,
        title="Failed messages",
    ),
    MetricSpec(
        "hl7_received_per_minute",
        "",
        "Per min",
        description="messages received a minute, over the last minute",
        title="Messages a minute",
    ),
    MetricSpec(
        "hl7_idle_seconds",
        "s",
        "Idle",
        description="time since the last message (none yet: not reported)",
        scale=(1.0, 86_400.0),
    ),
    MetricSpec(
        "connect_seconds", "s", "Connect", description="TCP connection", scale=(0.0005, 5.0)
    ),
    MetricSpec(
        "ack_seconds",
        "s",
        "ACK time",
        description="test message to its ACK (WARN over a link's ack_warn)",
        warn=DEFAULT_ACK_WARN,
        scale=(0.001, 10.0),
        title="ACK time",
    ),
)


Entry = ListenerConfig | TapConfig


@dataclass(frozen=True, slots=True)
class Hl7Config:
    listeners: tuple[Entry, ...] = ()
    links: tuple[LinkConfig, ...] = ()


def read(reader: Reader, raw: Any, site: str) -> Hl7Config:
    """The ``[hl7]`` table (absent: nothing)."""
    if raw is None:
        return Hl7Config()
    if not isinstance(raw, dict):
        reader.problem("hl7", raw, "a table with [[hl7.listener]] entries")
        return Hl7Config()
    reader.check_keys(raw, "hl7", {"listener", "link"})

    def one(t: Mapping[str, Any], path: str) -> Entry | None:
        return _listener(reader, t, path, site)

    listeners: tuple[Entry, ...] = (
        reader.entries(raw["listener"], "hl7.listener", one) if "listener" in raw else ()
    )
    links = (
        reader.entries(raw["link"], "hl7.link", lambda t, path: _link(reader, t, path, site))
        if "link" in raw
        else ()
    )
    return Hl7Config(listeners, links)


def _link(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> LinkConfig | None:
    keys = {"id", "host", "port", "send", "timeout", "interval", "ack_warn", "site", "description"}
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    host = get(t, "host", path, cv.host, "a host name or an IP address")
    port = get(t, "port", path, cv.int_range(1, 65535), "a TCP port from 1 to 65535")
    send = get(
        t,
        "send",
        path,
        _message_file,
        "the absolute path of a file holding one HL7 message (a test message to send)",
        None,
    )
    if isinstance(send, Path) and reader.check_paths:  # config check reads it as collect will
        try:
            test_message(send)
        except MessageFileError as exc:
            why = visible(str(exc), 300)
            reader.problem(f"{path}.send", t["send"], f"a test message collect can read ({why})")
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, 60.0)
    default_timeout = min(5.0, interval / 2) if isinstance(interval, float) else 5.0
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, default_timeout)
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    said = len(reader.problems)
    ack_warn = get(t, "ack_warn", path, cv.timeout, cv.WARN_EXPECTED, DEFAULT_ACK_WARN)
    if "ack_warn" in t and "send" not in t:
        reader.problem(f"{path}.ack_warn", t["ack_warn"], "nothing without send (a test message)")
    elif "ack_warn" in t and len(reader.problems) == said:
        # Only when set: the default under a short timeout is no mistake, it never fires.
        reader.cross_check(t, path, "ack_warn", ack_warn, "timeout", timeout)
    if len(reader.problems) > before:
        return None
    return LinkConfig(
        entry_id,
        host,
        port,
        send,
        timeout,
        interval,
        site=entry_site,
        description=description,
        ack_warn=ack_warn,
    )


def _message_file(value: Any) -> Path:
    text = cv.nonempty_str(value)
    if not os.path.isabs(text) or "\0" in text:
        raise ValueError
    return Path(text)


def _listener(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> Entry | None:
    keys = {
        "id",
        "bind",
        "mode",
        "upstream",
        "ack_timeout",
        "max_frame",
        "frame_timeout",
        "max_connections",
        "store_phi",
        "error_warn",
        "error_crit",
        "site",
        "description",
    }
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    entry_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    bind = get(
        t,
        "bind",
        path,
        cv.bind_address,
        'an IP address and port to listen on, like "127.0.0.1:2575" (loopback unless told)',
    )
    reader.listens_on(f"{path}.bind", "tcp", bind)
    mode = get(
        t,
        "mode",
        path,
        cv.choice(("listen", "tap")),
        '"listen" (answer a copy feed) or "tap" (between a sender and its receiver)',
        "listen",
    )
    upstream = None
    if mode == "tap":
        upstream = get(
            t,
            "upstream",
            path,
            host_port,
            'the receiver the tap forwards to, as "host:port" (like "ris.example.org:2575")',
        )
        if isinstance(upstream, tuple) and isinstance(bind, tuple) and _to_itself(bind, upstream):
            reader.problem(
                f"{path}.upstream",
                t["upstream"],
                "a receiver other than the tap itself (it listens there: every message would "
                "go round in a loop)",
            )
    elif "upstream" in t:
        reader.problem(f"{path}.upstream", t["upstream"], 'nothing unless mode = "tap"')
    ack_timeout = get(t, "ack_timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, 5.0)
    if "ack_timeout" in t and t.get("mode", "listen") == "listen":  # it answers itself
        reader.problem(
            f"{path}.ack_timeout", t["ack_timeout"], 'nothing unless mode = "tap" (a listener '
            "answers each message itself; a tap waits ack_timeout for its receiver's ACK)",
        )  # fmt: skip
    max_frame = get(
        t,
        "max_frame",
        path,
        cv.int_range(1024, MAX_FRAME_LIMIT),
        f"a size in bytes from 1024 to {MAX_FRAME_LIMIT:,}",
        16 * 1024 * 1024,
    )
    frame_timeout = get(t, "frame_timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, 30.0)
    connections = get(
        t, "max_connections", path, cv.int_range(1, 1024), "a whole number from 1 to 1024", 64
    )
    store_phi = get(
        t,
        "store_phi",
        path,
        cv.boolean,
        "true (keep PID-3's ID in the message log) or false (a keyed hash of it)",
        False,
    )
    error_warn = get(t, "error_warn", path, _share, _SHARE_EXPECTED, DEFAULT_WARN)
    error_crit = get(t, "error_crit", path, _share, _SHARE_EXPECTED, DEFAULT_CRIT)
    if isinstance(error_warn, float) and isinstance(error_crit, float) and error_crit < error_warn:
        expected = f"at least error_warn ({error_warn * 100:g}%)"
        if "error_crit" in t:
            reader.problem(f"{path}.error_crit", t["error_crit"], expected)
        else:  # the default's to mend, not a value the user wrote
            crit = f"{path}.error_crit (default {error_crit * 100:g}%)"
            reader.problem(crit, NO_VALUE, f"{expected}; set error_crit")
    entry_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    if len(reader.problems) > before:
        return None
    host, port = bind
    if upstream is not None:
        up_host, up_port = upstream
        return TapConfig(
            entry_id,
            host,
            port,
            up_host,
            up_port,
            ack_timeout=ack_timeout,
            max_frame=max_frame,
            frame_timeout=frame_timeout,
            max_connections=connections,
            site=entry_site,
            description=description,
            store_phi=store_phi,
            error_warn=error_warn,
            error_crit=error_crit,
        )
    return ListenerConfig(
        entry_id,
        host,
        port,
        max_frame,
        frame_timeout,
        connections,
        entry_site,
        description,
        store_phi=store_phi,
        error_warn=error_warn,
        error_crit=error_crit,
    )


def _to_itself(bind: tuple[str, int], upstream: tuple[str, int]) -> bool:
    """Does a tap's upstream name its own listening socket (its port, on its address, on this
    host's loopback, or on any address when it listens on all)?"""
    host, port = bind
    if upstream[1] != port:
        return False
    name = upstream[0].strip("[]").lower()
    if name == host or name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name: where it points is the resolver's to say, not the config's
    listening = ipaddress.ip_address(host)
    return address.is_loopback and (listening.is_unspecified or listening.is_loopback)


_SHARE_EXPECTED = (
    'a percentage from 0% to 100%, like "5%" (of the last 5 minutes\' messages; 0%: any failure)'
)


def _share(value: Any) -> float:
    """ "5%" (or 5) → 0.05: the share of failed messages a listener or tap tolerates."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError
        value = float(text[:-1])
    if not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError
    return float(value) / 100


def host_port(value: Any) -> tuple[str, int]:
    """``"ris.example.org:2575"``, ``"10.1.2.3:2575"`` or ``"[fd00::5]:2575"``."""
    text = cv.nonempty_str(value)
    name, colon, port_text = text.rpartition(":")
    digits = port_text.isascii() and port_text.isdigit()  # int() reads fullwidth digits too
    if not colon or not digits or not 1 <= int(port_text) <= 65535:
        raise ValueError
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return cv.host(name), int(port_text)


def listener_target(entry: Entry) -> Target:
    labels = {
        "host": entry.host,
        "port": str(entry.port),
        "mode": "listen",
        "site": entry.site,
        "description": entry.description,
    }
    if isinstance(entry, TapConfig):
        labels["mode"] = "tap"
        labels["upstream"] = f"{entry.upstream_host}:{entry.upstream_port}"
    labels.update(threshold_labels("hl7_error_ratio", entry.error_warn, entry.error_crit))
    return Target(entry.id, TargetKind.HL7_LISTENER, labels)


def link_target(entry: LinkConfig) -> Target:
    return Target(
        entry.id,
        TargetKind.HL7_LINK,
        {
            "host": entry.host,
            "port": str(entry.port),
            "mode": "test message" if entry.send else "connect",
            "site": entry.site,
            "description": entry.description,
            **(threshold_labels("ack_seconds", entry.ack_warn, None) if entry.send else {}),
        },
    )


def targets(config: Hl7Config) -> list[Target]:
    return [listener_target(e) for e in config.listeners] + [link_target(e) for e in config.links]


def build(config: Hl7Config, ctx: BuildContext) -> list[Runnable]:
    key = ctx.patient_key or PatientKey()
    runs: list[Runnable] = [
        Tap(e, listener_target(e), key)
        if isinstance(e, TapConfig)
        else Listener(e, listener_target(e), key)
        for e in config.listeners
    ]
    return runs + [LinkCheck(e, link_target(e)) for e in config.links]


def workers(config: Hl7Config) -> WorkerLimit:
    # A place per listener and per link check (each runs once at a time), at most 64.
    return WorkerLimit(max(1, min(len(config.listeners) + len(config.links), 64)))


def headline(state: TargetState) -> str | None:
    """Messages a minute for a listener or tap; the ACK time (else the connect time) for a
    link."""
    if state.target.kind == TargetKind.HL7_LINK:
        return "ack_seconds" if "ack_seconds" in state.metrics else "connect_seconds"
    return "hl7_received_per_minute"


def tile_summary(states: Sequence[TargetState]) -> str:
    """The HL7 tile's traffic: messages a minute now, and the errors counted since the
    listeners started ("6 msg/min · 12 AE · 3 AR · 1 no ACK")."""
    listening = [s for s in states if s.target.kind == TargetKind.HL7_LISTENER]
    if not any(s.checked is not None for s in listening):
        return ""
    rate = sum(s.metrics.get("hl7_received_per_minute", 0.0) for s in listening)
    parts = [f"{rate:,.0f} msg/min"]
    for metric, label in (
        ("hl7_ack_ae_total", "AE"),
        ("hl7_ack_ar_total", "AR"),
        ("hl7_no_ack_total", "no ACK"),
        ("hl7_framing_errors_total", "framing errors"),
    ):
        count = sum(s.metrics.get(metric, 0.0) for s in listening)
        if count:
            parts.append(f"{count:,.0f} {label}")
    return " · ".join(parts)


def example() -> list[tuple[str, Any]]:
    entry = tomlkit.table()
    entry.add(tomlkit.comment("An MLLP listener for a copy of an HL7 feed (ACKs by HL7's rules)."))
    entry.add("id", "his-copy")
    entry.add("bind", "127.0.0.1:2575")
    entry["bind"].comment("loopback unless you mean it: the feed carries patient data")
    entry.add("mode", "listen")
    entry.add(tomlkit.comment("Optional (the defaults):"))
    entry.add(tomlkit.comment("max_frame = 16777216"))
    entry.add(tomlkit.comment('frame_timeout = "30s"'))
    entry.add(tomlkit.comment("max_connections = 64"))
    entry.add(tomlkit.comment("store_phi = false  # true: PID-3's ID in the log, not its hash"))
    entry.add(tomlkit.comment('error_warn = "5%"  # of the last 5 minutes\' messages failed: WARN'))
    entry.add(tomlkit.comment('error_crit = "25%"  # ... and CRIT'))
    link = tomlkit.table()
    link.add(tomlkit.comment("A link check: does the RIS take a connection (and a test message)?"))
    link.add("id", "ris-adt")
    link.add("host", "ris.example.org")
    link.add("port", 2575)
    link.add(tomlkit.comment("Optional (the defaults):"))
    link.add(tomlkit.comment('send = "/etc/pacs-tui/a08-test.hl7"  # a test message, really sent'))
    link.add(tomlkit.comment('interval = "1m"'))
    link.add(tomlkit.comment('timeout = "5s"'))
    link.add(tomlkit.comment('ack_warn = "1s"  # with send: an accept slower than this is WARN'))
    table = tomlkit.table()
    table.add("listener", AoT([entry]))
    table.add("link", AoT([link]))
    return [("hl7", table)]


def _count(key: str, label: str, metric: str, width: int, narrow: bool) -> Column:
    return Column(key, label, "value", width, narrow, metric, "most first", "fewest first", True)


# The tracker's counters, one column each; CA/CE/CR and the kinds of error are in the detail.
COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Link", "id", None, True),
    Column("mode", "Mode", "label", None, False, "mode"),
    Column(
        "rate",
        "Per min",
        "value",
        8,
        True,
        "hl7_received_per_minute",
        "busiest first",
        "quietest first",
        True,
    ),
    Column("trend", "Last 1h", "trend", 12, True, "", "highest first", "lowest first", True),
    _count("received", "Received", "hl7_received_total", 9, False),
    _count("aa", "AA", "hl7_ack_aa_total", 7, False),
    _count("ae", "AE", "hl7_ack_ae_total", 5, True),
    _count("ar", "AR", "hl7_ack_ar_total", 5, True),
    _count("no_ack", "No ACK", "hl7_no_ack_total", 6, True),
    _count("framing", "Framing", "hl7_framing_errors_total", 7, False),
    _count("peers", "Peers", "hl7_peers", 5, False),
    Column(
        "idle",
        "Idle",
        "value",
        8,
        False,
        "hl7_idle_seconds",
        "longest first",
        "shortest first",
        True,
    ),
    Column("reason", "State", "reason", None, True),
)

SOURCE = Source(
    name="hl7",
    title="HL7",
    kinds=(TargetKind.HL7_LISTENER, TargetKind.HL7_LINK),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="HL7 endpoint",
    entry="[[hl7.listener]] or [[hl7.link]]",
    headline=headline,
    screen="hl7",
    screen_title="HL7",
    detail_labels={"mode": "Mode", "upstream": "Upstream", "ack": "ACK code"},
    tile_summary=tile_summary,
)
