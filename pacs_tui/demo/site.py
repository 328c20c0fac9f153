"""Turn the simulated hospital's running nodes into a Config the engine can watch, with two
command checks beside them (plugins played by this Python, so the demo needs nothing else) and,
with the demo's HL7 feed, a tap between its HIS and its RIS and a link check of the RIS."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from pacs_tui.audit.receiver import SyslogConfig
from pacs_tui.audit.sessions import Policy, RoleMap
from pacs_tui.backup.dumps import DumpsConfig
from pacs_tui.backup.restic import ResticConfig
from pacs_tui.config import Config, HistoryConfig, SiteConfig
from pacs_tui.demo.backups import SECRET, DemoBackupPaths
from pacs_tui.demo.dicom_nodes import DemoDicomSite, DemoNode, drill_study_uid
from pacs_tui.hl7.link import LinkConfig
from pacs_tui.hl7.tap import TapConfig
from pacs_tui.mirror.node import Node
from pacs_tui.probes.audit_source import AuditSection
from pacs_tui.probes.backup_source import BackupConfig
from pacs_tui.probes.command_source import CommandConfig
from pacs_tui.probes.dicom_source import DicomConfig, DicomNodeConfig
from pacs_tui.probes.dr_source import DrConfig
from pacs_tui.probes.hl7_source import Hl7Config
from pacs_tui.probes.host_source import HostConfig
from pacs_tui.probes.logtail_source import LogtailConfig
from pacs_tui.probes.mirror_source import MirrorConfig
from pacs_tui.probes.storage_source import StorageConfig, VolumeConfig

DEMO_INTERVAL = 5.0
DEMO_TIMEOUT = 2.0
DEMO_WARN_LATENCY = 0.5

#: Command checks of the demo: id, description, the plugin's Python code. The archive disk's
#: use creeps up with the clock (WARN over 85 %), the RIS database answers in a few ms.
DEMO_COMMANDS = (
    (
        "archive-disk",
        "Archive volume (simulated check_disk)",
        "import time; u = 80 + (time.time() / 60) % 10; s = 1 if u > 85 else 0\n"
        "print(('DISK WARNING' if s else 'DISK OK') + f' - /srv/pacs {u:.1f}% used'"
        " + f' | /srv/pacs={u:.1f}%;85;95;0;100'); raise SystemExit(s)",
    ),
    (
        "ris-db",
        "RIS database (simulated check_pgsql)",
        "print('OK - database ris (0.004 sec.) | time=0.004s;1;5;0')",
    ),
)


#: The link check's test message (written beside the demo's history).
DEMO_LINK_MESSAGE = (
    "MSH|^~\\&|PACSTUI|IT|RIS|RAD|20261201120000||ADT^A08^ADT_A01|TEST|T|2.5\n"
    "EVN|A08|20261201120000\nPID|1||TEST0001^^^HOSP^MR||TEST^PATIENT\nPV1|1|O\n"
)


def demo_hl7(ris_port: int, tap_port: int, folder: Path, site_name: str) -> Hl7Config:
    """The tap the demo's HIS sends through, and a link check of its RIS with a test message."""
    test = folder / "link-test.hl7"
    test.write_text(DEMO_LINK_MESSAGE)
    tap = TapConfig(
        "his-to-ris",
        "127.0.0.1",
        tap_port,
        "127.0.0.1",
        ris_port,
        ack_timeout=5.0,
        site=site_name,
        description="HIS ADT/orders/results to the RIS (tapped)",
    )
    link = LinkConfig(
        "ris-hl7",
        "127.0.0.1",
        ris_port,
        send=test,
        timeout=DEMO_TIMEOUT,
        interval=DEMO_INTERVAL * 2,
        site=site_name,
        description="RIS HL7 inbound (test message)",
    )
    return Hl7Config((tap,), (link,))


def demo_storage(archive: Path, site_name: str) -> StorageConfig:
    """The filling archive on its budget (:mod:`pacs_tui.demo.archive`: full in minutes, so
    its forecast is an hour's window and its thresholds hours), and the filesystem under it."""
    from pacs_tui.demo.archive import BUDGET

    return StorageConfig((
        VolumeConfig(
            "demo-archive", str(archive), warn_days=1.0, crit_days=0.1, window=3600.0,
            interval=DEMO_INTERVAL, timeout=DEMO_TIMEOUT, site=site_name,
            description="the demo archive, filling", budget=float(BUDGET),
        ),
        VolumeConfig(
            "demo-disk", str(archive.parent), interval=DEMO_INTERVAL, timeout=DEMO_TIMEOUT,
            site=site_name, description="the filesystem the demo runs on",
        ),
    ))  # fmt: skip


def demo_audit(port: int, site_name: str) -> AuditSection:
    """The receiver of the demo PACS's audit trail (TCP, octet counting), its role map, and a
    policy short enough to see idle sessions in a demo's minutes."""
    from pacs_tui.demo.audit_feed import ROLES

    policy = Policy(idle_after=120.0, expire_after=1800.0, burst=5, burst_window=60.0)
    roles = RoleMap(ROLES)
    receiver = SyslogConfig(
        "pacs-audit", "127.0.0.1", port, "tcp", allow=(ipaddress.ip_network("127.0.0.1"),),
        site=site_name, description="the demo PACS's audit trail (IHE ATNA)",
        policy=policy, roles=roles,
    )  # fmt: skip
    return AuditSection((receiver,), policy, roles)


def demo_backup(paths: DemoBackupPaths, site_name: str) -> BackupConfig:
    """The dumps folder (RPO 24 h), and the restic repository when restic is installed."""
    dumps = DumpsConfig(
        "ris-db-dumps", str(paths.dumps), 24 * 3600.0, pattern="ris-*.sql.gz",
        interval=DEMO_INTERVAL * 6, timeout=DEMO_TIMEOUT, site=site_name,
        description="RIS database, nightly pg_dump (made up)",
    )  # fmt: skip
    restic: tuple[ResticConfig, ...] = ()
    if paths.restic is not None:
        restic = (
            ResticConfig(
                "pacs-restic", str(paths.restic), 24 * 3600.0, password_secret=SECRET,
                interval=60.0, timeout=30.0, check_interval=3600.0, check_timeout=120.0,
                site=site_name, description="the dumps, backed up by restic",
                program=paths.restic_program,
            ),
        )  # fmt: skip
    return BackupConfig(restic=restic, dumps=(dumps,))


def demo_mirror(nodes: list[DemoNode], site_name: str) -> tuple[tuple[MirrorConfig, ...], DrConfig]:
    """The archive and its lagging mirror, reconciled every minute over a week; and the
    failover drill (on demand) that retrieves a two-image study from the mirror."""
    by_id = {n.id: Node(n.id, n.host, n.port, n.aet, "PACSTUI") for n in nodes}
    pair = MirrorConfig(
        "pacs-mirror", "archive-main", "archive-mirror", days=7, interval=60.0, timeout=30.0,
        query_timeout=5.0, query_gap=0.2, rpo=3600.0, site=site_name,
        description="the main archive and its mirror",
        primary_node=by_id["archive-main"], mirror_node=by_id["archive-mirror"],
    )  # fmt: skip
    dr = DrConfig(
        rto=4 * 3600.0, rpo=3600.0, id="failover-drill", mirror="archive-mirror",
        test_study=drill_study_uid(), timeout=30.0, request_timeout=10.0, primary="archive-main",
        site=site_name, mirror_node=by_id["archive-mirror"], primary_node=by_id["archive-main"],
    )  # fmt: skip
    return (pair,), dr


def demo_config(
    nodes: list[DemoNode],
    history_path: Path,
    *,
    site_name: str = "Demo Hospital",
    hl7: tuple[int, int, Path] | None = None,
    archive: Path | None = None,
    audit: int | None = None,
    backups: DemoBackupPaths | None = None,
) -> Config:
    """A config probing every demo node every few seconds, with history in ``history_path``;
    with ``hl7`` (the demo RIS's port, the tap's, a folder for the link's test message), the
    HL7 feed's tap and link check; with ``archive`` (the demo's filling folder), its volume on
    a budget, the volume that holds it, its log, and this machine as a host; with ``audit``
    (the port the demo PACS sends its audit trail to), a receiver there; with ``backups``, the
    dumps folder and restic repository. The archive and its mirror are a ``[[mirror]]`` pair
    with a failover drill whenever both are among ``nodes``."""
    dicom_nodes = tuple(
        DicomNodeConfig(
            id=n.id,
            aet=n.aet,
            host=n.host,
            port=n.port,
            role=n.role,
            site=n.site,
            description=n.description,
            interval=DEMO_INTERVAL,
            timeout=DEMO_TIMEOUT,
            warn_latency=DEMO_WARN_LATENCY,
            calling_aet="PACSTUI",
        )
        for n in nodes
    )
    sections: dict[str, object] = {}
    if hl7 is not None:
        sections["hl7"] = demo_hl7(*hl7, site_name)
    if archive is not None:
        sections["storage"] = demo_storage(archive, site_name)
        sections["logtail"] = (
            LogtailConfig(
                "demo-archive-log", str(archive.with_name("archive.log")), interval=DEMO_INTERVAL,
                site=site_name, description="the demo archive's log (Orthanc's format)",
            ),
        )  # fmt: skip
        sections["host"] = (
            HostConfig(
                "demo-server", local=True, interval=DEMO_INTERVAL, timeout=DEMO_TIMEOUT,
                site=site_name, description="the machine the demo runs on",
            ),
        )  # fmt: skip
    if audit is not None:
        sections["audit"] = demo_audit(audit, site_name)
    if backups is not None:
        sections["backup"] = demo_backup(backups, site_name)
    if {"archive-main", "archive-mirror"} <= {n.id for n in nodes}:
        sections["mirror"], sections["dr"] = demo_mirror(nodes, site_name)
    return Config(
        site=SiteConfig(name=site_name),
        history=HistoryConfig(path=history_path),
        sections={
            **sections,
            "command": tuple(
                CommandConfig(
                    check_id,
                    (sys.executable, "-c", code),
                    interval=DEMO_INTERVAL,
                    timeout=DEMO_TIMEOUT,
                    site=site_name,
                    description=description,
                )
                for check_id, description, code in DEMO_COMMANDS
            ),
            "dicom": DicomConfig(
                calling_aet="PACSTUI",
                interval=DEMO_INTERVAL,
                timeout=DEMO_TIMEOUT,
                warn_latency=DEMO_WARN_LATENCY,
                nodes=dicom_nodes,
            ),
        },
    )


__all__ = ["DemoDicomSite", "DemoNode", "demo_config"]
