"""Deterministic fixtures for the UI tests: fixed checks, a fixed clock and a scripted history
(a real history file, read as of a fixed moment).

The snapshot tests must draw the same screen on every run and every machine, so nothing here
reads the real clock, the network or the local time zone (the site's zone is UTC).
"""

from __future__ import annotations

import asyncio
import atexit
import io
import math
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot

from pacs_tui.app import PacsApp
from pacs_tui.config import Config, SiteConfig
from pacs_tui.engine import Engine
from pacs_tui.hl7.recent import RecentMessages
from pacs_tui.hl7.segments import segment_tree
from pacs_tui.model import (
    Event,
    EventKind,
    LoggedMessage,
    MessageTree,
    Result,
    Sample,
    Status,
    Target,
    TargetKind,
)
from pacs_tui.store import Store

#: 2024-03-05 03:12:00 UTC — the middle of a night shift.
NOW = 1_709_608_320.0
SITE = "St. Example Hospital"

# id, aet, port, role, description, status, reason, echo seconds
NODES: tuple[tuple[str, str, int, str, str, Status, str, float | None], ...] = (
    ("archive-main", "ARCHIVE_MAIN", 11112, "archive", "Main archive", Status.OK, "", 0.0032),
    ("archive-mirror", "ARCHIVE_MIRROR", 11113, "mirror", "Mirror", Status.OK, "", 0.0041),
    ("ct-1", "CT_1", 104, "modality", "CT scanner, ER", Status.OK, "", 0.0025),
    ("mr-1", "MR_1", 105, "modality", "MR scanner", Status.OK, "", 0.0029),
    ("viewer-1", "VIEWER_1", 4006, "viewer", "Reading room", Status.OK, "", 0.0057),
    (
        "flaky-us",
        "FLAKY_US",
        4242,
        "modality",
        "Ultrasound, ward 3",
        Status.DOWN,
        "connection refused",
        None,
    ),
    (
        "slow-viewer",
        "SLOW_VIEWER",
        4007,
        "viewer",
        "Viewer in the basement",
        Status.WARN,
        "slow: echo 812 ms > 500 ms",
        0.812,
    ),
)


class FixedCheck:
    """A :class:`~pacs_tui.source.Check` that always returns the same result."""

    def __init__(self, target: Target, result: Result, interval: float = 3600.0) -> None:
        self.target = target
        self.interval = interval
        self.timeout = 1.0
        self.result = result
        self.calls = 0

    async def check(self) -> Result:
        self.calls += 1
        return self.result

    async def close(self) -> None:
        return None


def _history_events() -> list[Event]:
    """A plausible night: everything came up, the ultrasound flapped, the slow viewer slowed."""

    def change(ts: float, target: str, before: Status, after: Status, reason: str) -> Event:
        return Event(
            ts,
            target,
            EventKind.STATUS_CHANGE,
            after,
            f"{before.word} → {after.word}: {reason or after.word}",
            {"from": before.word, "to": after.word, "reason": reason or after.word},
        )

    events = [
        change(NOW - 5000 + i, node[0], Status.UNKNOWN, Status.OK, "")
        for i, node in enumerate(NODES)
    ]
    events += [
        change(NOW - 3000, "flaky-us", Status.OK, Status.DOWN, "connection refused"),
        change(NOW - 2400, "flaky-us", Status.DOWN, Status.OK, ""),
        change(NOW - 900, "slow-viewer", Status.OK, Status.WARN, "slow: echo 812 ms > 500 ms"),
        change(NOW - 180, "flaky-us", Status.OK, Status.DOWN, "connection refused"),
    ]
    return sorted(events, key=lambda e: e.ts)


def _latency(target: str, base: float, ts: float) -> float | None:
    """A deterministic latency curve with the night's incidents in it."""
    if target == "flaky-us" and (NOW - 3000 <= ts < NOW - 2400 or ts >= NOW - 180):
        return None  # down: no sample
    if target == "slow-viewer":
        base = 0.8 if ts >= NOW - 900 else 0.05
    wobble = 1.0 + 0.3 * math.sin(ts / 300.0 + len(target))
    return base * wobble


def _history_samples() -> list[Sample]:
    samples: list[Sample] = []
    for node in NODES:
        target, base = node[0], node[7] or 0.004
        for step in range(120):
            ts = NOW - 3600 + step * 30
            value = _latency(target, base, ts)
            if value is not None:
                samples.append(Sample(ts, target, "echo_seconds", value))
    return samples


# -- HL7: a tap, a listener and a link check, with a scripted message log -------------------

#: A made-up patient: these words must never be on screen.
PATIENT_ID = "PAT-778812"
PATIENT_NAME = "LEBLANC"


def hl7_message(control_id: str, kind: str = "ADT^A01") -> bytes:
    return "\r".join(
        (
            f"MSH|^~\\&|HIS|MAIN|RIS|RAD|20240305031100||{kind}|{control_id}|P|2.5",
            "EVN|A01|20240305031100",
            f"PID|1||{PATIENT_ID}^^^MAIN^MR||{PATIENT_NAME}^AUDE||19610412|F|||12 RUE HAUTE^^LYON",
            "PV1|1|I|W3^12^1|||||||MED",
        )
    ).encode()


#: (seconds before NOW, link, type, control ID, ACK, latency, detail)
HL7_LOG: tuple[tuple[float, str, str, str, str | None, float | None, str], ...] = tuple(
    (
        600 - 20 * i,
        "his-to-ris" if i % 4 else "adt-copy",
        ("ADT^A01", "ORM^O01", "ORU^R01", "ADT^A08")[i % 4],
        f"HIS{i:07d}",
        "AE" if i == 25 else None if i == 27 else "AR" if i == 26 else "AA",
        None if i == 27 else 0.0004 + 0.0001 * (i % 5),
        "AE: PID-3 missing"
        if i == 25
        else "no ACK: the upstream closed the connection"
        if i == 27
        else "late: after 7.2 s"
        if i == 21
        else "",
    )
    for i in range(30)
)


def _hl7_messages() -> list[LoggedMessage]:
    return [
        LoggedMessage(
            NOW - before,
            link,
            "in",
            kind,
            cid,
            ack,
            latency,
            160 + len(cid),
            "HIS",
            "RIS",
            detail,
            "2.5",
            "MAIN",
            "RAD",
            f"#{0x5E1B0C2D9A7F3E00 + int(cid[3:]) % 7:016x}",  # seven patients, as keyed hashes
        )
        for before, link, kind, cid, ack, latency, detail in HL7_LOG
    ]


class FixedHl7Check(FixedCheck):
    """A fixed HL7 target that keeps the scripted messages' bodies, as a listener does."""

    def __init__(self, target: Target, result: Result) -> None:
        super().__init__(target, result)
        self.recent = RecentMessages()
        for m in _hl7_messages():
            if m.link == target.id and m.ts > NOW - 500:  # older ones: no longer kept
                self.recent.add(m.ts, m.control_id, hl7_message(m.control_id, m.type))

    async def message_tree(self, ts: float, control_id: str) -> MessageTree | None:
        found = self.recent.find(ts, control_id)
        return None if found is None else segment_tree(*found)


def hl7_checks() -> list[FixedCheck]:
    def counts(received: float, ae: float, ar: float, no_ack: float) -> dict[str, float]:
        return {
            "hl7_received_total": received,
            "hl7_ack_aa_total": received - ae - ar - no_ack,
            "hl7_ack_ae_total": ae,
            "hl7_ack_ar_total": ar,
            "hl7_no_ack_total": no_ack,
            "hl7_framing_errors_total": 0.0,
            "hl7_peers": 1.0,
            "hl7_received_per_minute": 3.0,
            "hl7_idle_seconds": 20.0,
        }

    tap = Target(
        "his-to-ris",
        TargetKind.HL7_LISTENER,
        {"host": "127.0.0.1", "port": "2576", "mode": "tap", "upstream": "10.20.0.40:2575"},
    )
    copy = Target(
        "adt-copy", TargetKind.HL7_LISTENER, {"host": "127.0.0.1", "port": "2575", "mode": "listen"}
    )
    link = Target(
        "ris-hl7",
        TargetKind.HL7_LINK,
        {"host": "10.20.0.40", "port": "2575", "mode": "test message"},
    )
    tapping = "tapping 127.0.0.1:2576 → 10.20.0.40:2575; 1 peer connected"
    return [
        FixedHl7Check(tap, Result(Status.OK, tapping, counts(1843, 12, 3, 1), ts=NOW - 2)),
        FixedHl7Check(
            copy,
            Result(
                Status.OK,
                "listening on 127.0.0.1:2575; 1 peer connected",
                counts(611, 0, 0, 0),
                ts=NOW - 2,
            ),
        ),
        FixedCheck(
            link,
            Result(Status.WARN, "AE in 4.1 ms: PID-3 missing", {"ack_seconds": 0.0041}, ts=NOW - 2),
        ),
    ]


#: The audit trail of the night: seconds before NOW, event, type, user, host, outcome, study.
AUDIT_LOG = (
    (3600, "110114", "110122", "rad-martin", "10.1.20.11", 0, ""),
    (3000, "110103", "", "rad-martin", "10.1.20.11", 0, "1.2.826.0.1.3680043.8.498.1"),
    (2400, "110114", "110122", "tech-leroy", "10.1.30.5", 0, ""),
    (1800, "110112", "", "gp-durand", "10.2.4.77", 0, ""),
    (900, "110106", "", "rad-martin", "10.1.20.11", 0, "1.2.826.0.1.3680043.8.498.2"),
    (240, "110114", "110122", "admin", "10.9.8.7", 4, ""),
    (230, "110114", "110122", "admin", "10.9.8.7", 4, ""),
    (220, "110114", "110122", "admin", "10.9.8.7", 4, ""),
    (210, "110114", "110122", "admin", "10.9.8.7", 4, ""),
    (200, "110114", "110122", "admin", "10.9.8.7", 4, ""),
    (120, "110103", "", "tech-leroy", "10.1.30.5", 0, "1.2.826.0.1.3680043.8.498.3"),
    (60, "110114", "110123", "gp-durand", "10.2.4.77", 0, ""),
)


def _audit_receiver() -> tuple[Any, list[LoggedMessage]]:
    """An audit receiver fed the night's trail as a PACS would send it (its real parser and
    session book), and the rows it made."""
    import datetime as dt

    from pacs_tui.audit.atna import parse_audit
    from pacs_tui.audit.receiver import AuditReceiver, SyslogConfig
    from pacs_tui.audit.sessions import Policy, RoleMap
    from pacs_tui.demo.audit_feed import ROLES, audit_xml
    from pacs_tui.probes.audit_source import receiver_target

    entry = SyslogConfig(
        "pacs-audit", "0.0.0.0", 6514, "tls", policy=Policy(idle_after=600), roles=RoleMap(ROLES)
    )
    receiver = AuditReceiver(entry, receiver_target(entry))
    rows = []
    for before, event_id, type_code, user, host, outcome, study in AUDIT_LOG:
        ts = NOW - before
        when = dt.datetime.fromtimestamp(ts, dt.UTC)
        xml = audit_xml(
            event_id, user, host, type_code=type_code, outcome=outcome, when=when, study=study,
            patient="PAT-0007" if study else "",
        )  # fmt: skip
        event = parse_audit(xml, lambda pid: f"#{0x7A11CE5EED000000 + len(pid):016x}")
        receiver.book.take(event, ts)
        rows.append(receiver.row(event, ts, len(xml), host))
    return receiver, rows


def audit_checks() -> list[FixedCheck]:
    """The audit receiver's result after the night's trail: two sessions (one idle past the
    10 minutes of its policy), a burst of failed logins."""
    receiver, _ = _audit_receiver()
    receiver.address = "tls 0.0.0.0:6514"
    receiver.counts.update(received=len(AUDIT_LOG), parsed=len(AUDIT_LOG))
    result = receiver.result(NOW)
    return [FixedCheck(receiver.targets[0], Result(result.status, result.reason, result.metrics,
                                                    result.details, ts=NOW - 2))]  # fmt: skip


def scripted_history(
    extra_events: Iterable[Event] = (), extra_messages: Iterable[LoggedMessage] = ()
) -> Store:
    """A real history file holding the scripted night, read as if it were ``NOW``.

    Written by a real :class:`Store` in a thread of its own (the caller may already be inside
    an event loop); returned unstarted: the engine starts it.
    """
    path = Path(tempfile.mkdtemp(prefix="pacs-tui-ui-", dir=_TMP)) / "history.sqlite"

    async def seed() -> None:
        store = await Store.open(path, clock=lambda: NOW, retention_interval=None)
        store.add_samples(_history_samples())
        for event in [*_history_events(), *extra_events]:
            store.add_event(event)
        store.add_messages([*_hl7_messages(), *extra_messages])
        store.add_messages(_audit_receiver()[1])
        await store.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed()).result()
    return Store(path, clock=lambda: NOW)


_TMP = tempfile.mkdtemp(prefix="pacs-tui-ui-tests-")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


#: Command checks: id, plugin, status, first line, perfdata metrics.
COMMANDS: tuple[tuple[str, str, Status, str, dict[str, float]], ...] = (
    (
        "ris-db",
        "/usr/lib/nagios/plugins/check_pgsql",
        Status.OK,
        "OK - database ris (2 ms)",
        {"perf.time_seconds": 0.002},
    ),
    (
        "archive-disk",
        "/usr/lib/nagios/plugins/check_disk",
        Status.WARN,
        "DISK WARNING - free space: /srv/pacs 41 GiB (8% inode=90%);",
        {"perf./srv/pacs_bytes": 483.0 * 2**30},
    ),
    (
        "hl7-port",
        "/usr/lib/nagios/plugins/check_tcp",
        Status.CRIT,
        "connect to address 10.20.0.40 and port 2575: Connection refused",
        {},
    ),
)


def command_checks() -> list[FixedCheck]:
    checks = []
    for check_id, plugin, status, line, perf in COMMANDS:
        labels = {"plugin": plugin.rsplit("/", 1)[-1], "site": SITE}
        target = Target(check_id, TargetKind.COMMAND, labels)
        metrics = {"run_seconds": 0.004, **perf}
        headline = next(iter(perf), "run_seconds")
        details = {"path": plugin, "exit": status.word, "headline": headline}
        checks.append(FixedCheck(target, Result(status, line, metrics, details, ts=NOW - 2)))
    return checks


#: Volumes: id, path, size, used, growth a day (None: not mounted).
VOLUMES: tuple[tuple[str, str, float, float, float | None], ...] = (
    ("archive", "/var/lib/orthanc/db", 4 * 2.0**40, 0.87 * 4 * 2.0**40, 40 * 2.0**30),
    ("pg-data", "/var/lib/postgresql", 500 * 2.0**30, 205 * 2.0**30, 2.0**30),
    ("dumps", "/srv/backup/dumps", 2 * 2.0**40, 0.97 * 2 * 2.0**40, 0.0),
    ("scratch", "/mnt/scratch", 0.0, 0.0, None),
)


def volume_checks() -> list[FixedCheck]:
    """Each volume's result as the storage source makes it (its judge and its forecast) from
    a week of steady growth; and a host and a log for the Storage screen's panel."""
    from pacs_tui.forecast import DAY, forecast
    from pacs_tui.probes.storage_source import Space, VolumeConfig, judge, volume_target

    checks = []
    for volume_id, path, size, used, growth in VOLUMES:
        entry = VolumeConfig(volume_id, path, site=SITE)
        target = volume_target(entry)
        if growth is None:
            result = Result(Status.DOWN, f"{path} does not exist (not mounted?)", ts=NOW - 2)
            checks.append(FixedCheck(target, result))
            continue
        space = Space(used, size - used, 1_000_000, 900_000)
        points = [(NOW - d * DAY, used - d * growth) for d in range(7)]
        fit = forecast(points, size, NOW)
        status, reason = judge(entry, space, 0.1, fit)
        metrics = {"used_ratio": space.used_ratio, "used_bytes": used, "free_bytes": size - used}
        if fit.days is not None:
            metrics["days_to_full"] = round(fit.days, 1)
        details = {"path": path, "forecast": fit.words, "fit_points": fit.points}
        checks.append(FixedCheck(target, Result(status, reason, metrics, details, ts=NOW - 2)))
    host = Target("pacs-server", TargetKind.HOST, {"where": "this server", "site": SITE})
    figures = {"cpu_ratio": 0.23, "memory_used_ratio": 0.62, "load1": 1.25}
    line = "CPU 23 %, memory 62 % of 31.3 GiB, load 1.25, Orthanc, postgres running"
    checks.append(FixedCheck(host, Result(Status.OK, line, figures, ts=NOW - 2)))
    log = Target("orthanc-log", TargetKind.LOGTAIL, {"path": "/var/log/orthanc/Orthanc.log"})
    line = (
        "3 matching lines a minute ≥ 1; last: E0304 03:11:40.000000 StoreScp.cpp:96] C-STORE "
        "of study 42 for ••• (PatientID=•••) failed: Out of resources"
    )
    rate = {"log_errors_per_minute": 3.0}
    checks.append(FixedCheck(log, Result(Status.WARN, line, rate, ts=NOW - 2)))
    return checks


#: The drills of the scripted history: hours ago, status, words, measured RTO.
DRILLS: tuple[tuple[float, Status, str, float | None], ...] = (
    (50.0, Status.OK, "drill passed: 2 instances, 880 B in 388 ms ≤ RTO 4 h", 0.388),
    (26.0, Status.CRIT, "drill failed at find: the test study is not on the mirror", None),
)
DRILL_ID = "failover-drill"


def drill_events() -> list[Event]:
    return [
        Event(
            NOW - hours * 3600,
            DRILL_ID,
            EventKind.PROBE,
            status,
            words,
            {"metrics": {"drill_rto_seconds": rto} if rto is not None else {}},
        )
        for hours, status, words, rto in DRILLS
    ]


def backup_checks() -> list[FixedCheck]:
    """A dump folder in time, a restic repository past its RPO, a mirror that lags (its
    result as the mirror check words it) and the drill's last result (the drill's own words);
    the drills before it are in the scripted history (:func:`drill_events`); its run at
    start records the latest, two hours ago."""
    import time as _time

    from pacs_tui.mirror.association import Retrieved
    from pacs_tui.mirror.checks import DrillCheck, MirrorCheck
    from pacs_tui.mirror.drill import DrillOutcome, Step
    from pacs_tui.mirror.reconcile import Report, Study
    from pacs_tui.probes.dr_source import DrConfig
    from pacs_tui.probes.dr_source import target as drill_target
    from pacs_tui.probes.mirror_source import MirrorConfig
    from pacs_tui.probes.mirror_source import target as mirror_target

    day, hour = 86400.0, 3600.0

    def backup(
        backup_id: str, kind: str, status: Status, words: str, **metrics: float
    ) -> FixedCheck:
        labels = {"kind": kind, "rpo": "24 h", "site": SITE}
        target = Target(backup_id, TargetKind.BACKUP, labels)
        return FixedCheck(target, Result(status, words, metrics, ts=NOW - 2))

    checks = [
        backup(
            "ris-db-dumps", "dumps", Status.OK, "newest dump 2 h ago (RPO 24 h)",
            backup_age_seconds=2 * hour, backup_rpo_ratio=2 * hour / day,
            backup_size_bytes=183_000.0, backup_snapshots=14.0,
        ),
        backup(
            "pacs-restic", "restic", Status.WARN, "newest good snapshot 26 h ago > RPO 24 h",
            backup_age_seconds=26 * hour, backup_rpo_ratio=26 / 24,
            backup_size_bytes=41.5 * 2**30, backup_snapshots=30.0, backup_check_ok=1.0,
            backup_check_age_seconds=5 * hour,
        ),
    ]  # fmt: skip
    pair = MirrorConfig("pacs-mirror", "archive-main", "archive-mirror", days=30, rpo=hour)
    oldest = _time.localtime(NOW - 3 * hour)
    lagging = Study("1.2.826.0.1.3680043.8.498.17", _time.strftime("%Y%m%d", oldest),
                    _time.strftime("%H%M%S", oldest), 12)  # fmt: skip
    newer = Study("1.2.826.0.1.3680043.8.498.42", _time.strftime("%Y%m%d", oldest), "", 3)
    report = Report(
        days=30, primary_studies=9_870, mirror_studies=9_868, missing=[lagging, newer],
        missing_count=2, oldest_missing=lagging, queries=60, associations=2, answers=19_738,
        seconds=41.0,
    )  # fmt: skip
    mirrored = MirrorCheck(mirror_target(pair), pair, ThreadPoolExecutor(1)).result(report, NOW)
    checks.append(FixedCheck(mirror_target(pair), replace(mirrored, ts=NOW - 2)))
    dr = DrConfig(
        rto=4 * hour, id=DRILL_ID, mirror="archive-mirror",
        test_study="1.2.826.0.1.3680043.8.498.3", site=SITE,
    )  # fmt: skip
    outcome = DrillOutcome(
        steps=[Step("echo", 0.004, True, ""), Step("find", 0.012, True, ""),
               Step("retrieve", 0.396, True, "")],
        retrieved=Retrieved(2, 880, 0, 0), expected_instances=2,
    )  # fmt: skip
    drilled = DrillCheck(drill_target(dr), dr, ThreadPoolExecutor(1)).result(outcome)
    checks.append(FixedCheck(drill_target(dr), replace(drilled, ts=NOW - 2 * hour)))
    return checks


def scripted_engine(
    extra_events: Iterable[Event] = (),
    *,
    site: str = SITE,
    labels: Mapping[str, Mapping[str, str]] | None = None,
    nodes: bool = True,
    commands: bool = False,
    hl7: bool = False,
    volumes: bool = False,
    audit: bool = False,
    backups: bool = False,
    extra_messages: Iterable[LoggedMessage] = (),
) -> Engine:
    """Seven nodes with fixed results (one DOWN, one WARN) and a scripted history; with
    ``commands``, three command checks too (OK, WARN, CRIT); without ``nodes``, no node.

    ``labels`` replaces some labels of some nodes (``{"ct-1": {"description": …}}``).
    """
    config = Config(site=SiteConfig(name=site, timezone="UTC"))
    checks: list[FixedCheck] = command_checks() if commands else []
    checks += hl7_checks() if hl7 else []
    checks += volume_checks() if volumes else []
    checks += audit_checks() if audit else []
    checks += backup_checks() if backups else []
    if backups:
        extra_events = [*extra_events, *drill_events()]
    since = {"flaky-us": NOW - 180, "slow-viewer": NOW - 900}
    for node_id, aet, port, role, description, status, reason, echo in NODES if nodes else ():
        target = Target(
            node_id,
            TargetKind.DICOM_NODE,
            {
                "aet": aet,
                "host": "10.20.0.17" if node_id != "flaky-us" else "us3.ward.example.org",
                "port": str(port),
                "role": role,
                "site": SITE,
                "description": description,
                **(labels or {}).get(node_id, {}),
            },
        )
        metrics = {"echo_seconds": echo} if echo is not None else {}
        details = {"peer_implementation_version_name": "OFFIS_DCMTK_367"} if echo else {}
        ts = since.get(node_id, NOW - 2)
        if status is Status.OK or node_id == "slow-viewer":
            ts = NOW - 2  # last seen just now; "since" comes from the history
        checks.append(FixedCheck(target, Result(status, reason, metrics, details, ts=ts)))
    return Engine(
        config,
        checks=checks,
        store=scripted_history(extra_events, extra_messages),
        first_run_spread=0.0,
    )


def screen_text(app: PacsApp) -> str:
    """The characters of the screen as the terminal would be sent them (as in a screenshot)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    # What App.export_screenshot renders, as text instead of SVG.
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def wait_for(pilot: Pilot[None], condition: object, timeout: float = 10.0) -> None:
    """Pause the Pilot until ``condition()`` holds; AssertionError after ``timeout``."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)
