"""The DICOM source's declaration: the ``[dicom]`` section and its ``[[dicom.node]]`` entries,
the node targets, the echo metrics and table columns, the thread pool. The C-ECHO itself is in
:mod:`pacs_tui.probes.dicom` (imported only when checks are built: pynetdicom is slow to load).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.items import AoT

from pacs_tui import config_reader as cv
from pacs_tui.config_reader import Reader
from pacs_tui.model import Target, TargetKind
from pacs_tui.source import (
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
    threshold_labels,
)

ROLES = ("archive", "modality", "viewer", "ris", "his", "mirror", "other")

#: An echo slower than this is WARN unless a node's ``warn_latency`` says otherwise.
DEFAULT_WARN_LATENCY = 0.5
ECHO_SECONDS = MetricSpec(
    "echo_seconds",
    "s",
    "Echo",
    description="associate + C-ECHO + release",
    warn=DEFAULT_WARN_LATENCY,
    headline=True,
    scale=(0.001, 2.0),
    title="Echo latency",
)
METRICS = (
    ECHO_SECONDS,
    MetricSpec("associate_seconds", "s", "assoc", description="A-ASSOCIATE request to accept"),
    MetricSpec("dimse_seconds", "s", "C-ECHO", description="C-ECHO request to response"),
    MetricSpec("release_seconds", "s", "release", description="A-RELEASE request to reply"),
)


@dataclass(frozen=True, slots=True)
class DicomNodeConfig:
    id: str
    aet: str
    host: str
    port: int
    role: str = "other"
    site: str = ""
    description: str = ""
    interval: float = 30.0
    timeout: float = 5.0
    warn_latency: float = DEFAULT_WARN_LATENCY
    calling_aet: str = "PACSTUI"


@dataclass(frozen=True, slots=True)
class DicomConfig:
    calling_aet: str = "PACSTUI"
    interval: float = 30.0
    timeout: float = 5.0
    warn_latency: float = DEFAULT_WARN_LATENCY
    max_workers: int = 8
    nodes: tuple[DicomNodeConfig, ...] = ()


def read(reader: Reader, raw: Any, site: str) -> DicomConfig:
    """The ``[dicom]`` table (absent: no nodes)."""
    if raw is None:
        return DicomConfig()
    if not isinstance(raw, dict):
        reader.problem("dicom", raw, "a table")
        return DicomConfig()
    t: Mapping[str, Any] = raw
    keys = {"calling_aet", "interval", "timeout", "warn_latency", "max_workers", "node"}
    reader.check_keys(t, "dicom", keys)
    d = DicomConfig()
    calling = reader.get(t, "calling_aet", "dicom", cv.aet, cv.AET_EXPECTED, d.calling_aet)
    interval = reader.get(t, "interval", "dicom", cv.interval, cv.INTERVAL_EXPECTED, d.interval)
    timeout = reader.get(t, "timeout", "dicom", cv.timeout, cv.TIMEOUT_EXPECTED, d.timeout)
    warn = reader.get(t, "warn_latency", "dicom", cv.timeout, cv.WARN_EXPECTED, d.warn_latency)
    workers = reader.get(
        t, "max_workers", "dicom", cv.int_range(1, 64), "a whole number from 1 to 64", 8
    )
    defaults = DicomConfig(calling, interval, timeout, warn, workers)
    reader.cross_check(t, "dicom", "timeout", timeout, "interval", interval, parent="dicom")
    reader.cross_check(t, "dicom", "warn_latency", warn, "timeout", timeout, parent="dicom")
    if "node" not in t:
        return defaults
    nodes = reader.entries(
        t["node"], "dicom.node", lambda entry, path: _node(reader, entry, path, defaults, site)
    )
    return DicomConfig(calling, interval, timeout, warn, workers, nodes)


def _node(
    reader: Reader, t: Mapping[str, Any], path: str, defaults: DicomConfig, site: str
) -> DicomNodeConfig | None:
    keys = {
        "id",
        "aet",
        "host",
        "port",
        "role",
        "site",
        "description",
        "interval",
        "timeout",
        "warn_latency",
        "calling_aet",
    }
    reader.check_keys(t, path, keys)
    before = len(reader.problems)
    get = reader.get
    node_id = get(t, "id", path, cv.ident, cv.ID_EXPECTED)
    aet = get(t, "aet", path, cv.aet, cv.AET_EXPECTED)
    host = get(t, "host", path, cv.host, "a host name or IP address")
    port = get(t, "port", path, cv.int_range(1, 65535), "a TCP port from 1 to 65535")
    role = get(t, "role", path, cv.choice(ROLES), f"one of {', '.join(ROLES)}", "other")
    node_site = get(t, "site", path, cv.nonempty_str, "a non-empty string", site)
    description = get(t, "description", path, cv.string, "a string", "")
    interval = get(t, "interval", path, cv.interval, cv.INTERVAL_EXPECTED, None)
    timeout = get(t, "timeout", path, cv.timeout, cv.TIMEOUT_EXPECTED, None)
    warn = get(t, "warn_latency", path, cv.timeout, cv.WARN_EXPECTED, None)
    calling = get(t, "calling_aet", path, cv.aet, cv.AET_EXPECTED, defaults.calling_aet)
    # Cross-checks run whenever both sides parsed, so they are reported with everything else.
    interval_v = interval if "interval" in t else defaults.interval
    timeout_v = timeout if "timeout" in t else defaults.timeout
    warn_v = warn if "warn_latency" in t else defaults.warn_latency
    reader.cross_check(t, path, "timeout", timeout_v, "interval", interval_v, parent="dicom")
    reader.cross_check(t, path, "warn_latency", warn_v, "timeout", timeout_v, parent="dicom")
    if len(reader.problems) > before:
        return None
    return DicomNodeConfig(
        id=node_id,
        aet=aet,
        host=host,
        port=port,
        role=role,
        site=node_site,
        description=description,
        interval=interval_v,
        timeout=timeout_v,
        warn_latency=warn_v,
        calling_aet=calling,
    )


def node_target(node: DicomNodeConfig) -> Target:
    return Target(
        node.id,
        TargetKind.DICOM_NODE,
        {
            "aet": node.aet,
            "host": node.host,
            "port": str(node.port),
            "role": node.role,
            "site": node.site,
            "description": node.description,
            **threshold_labels("echo_seconds", node.warn_latency, None),
        },
    )


def targets(config: DicomConfig) -> list[Target]:
    return [node_target(node) for node in config.nodes]


def build(config: DicomConfig, ctx: BuildContext) -> list[Runnable]:
    from pacs_tui.probes.dicom import DicomEchoCheck

    assert ctx.executor is not None, "the DICOM source asks for threads"
    return [
        DicomEchoCheck(
            node_target(node),
            host=node.host,
            port=node.port,
            called_aet=node.aet,
            calling_aet=node.calling_aet,
            interval=node.interval,
            timeout=node.timeout,
            warn_latency=node.warn_latency,
            executor=ctx.executor,
        )
        for node in config.nodes
    ]


def workers(config: DicomConfig) -> WorkerLimit:
    # pynetdicom blocks: each association takes a thread of the source's own pool.
    return WorkerLimit(config.max_workers, threads=True)


def example() -> list[tuple[str, Any]]:
    dicom = tomlkit.table()
    dicom.add("calling_aet", "PACSTUI")
    dicom["calling_aet"].comment("our AE title; add it to the nodes' allowed callers")
    dicom.add("interval", "30s")
    dicom["interval"].comment("default time between C-ECHOs of a node")
    dicom.add("timeout", "5s")
    dicom["timeout"].comment("default limit for connect + associate + echo + release")
    dicom.add("warn_latency", "500ms")
    dicom["warn_latency"].comment("echo slower than this is WARN")
    dicom.add("max_workers", 8)
    dicom["max_workers"].comment("parallel DICOM associations")

    node = tomlkit.table()
    node.add("id", "archive-main")
    node["id"].comment("stable id used in history, alerts and metrics")
    node.add("aet", "ARCHIVE")
    node["aet"].comment("the node's (called) AE title")
    node.add("host", "127.0.0.1")
    node.add("port", 104)
    node.add("role", "archive")
    node["role"].comment("archive | modality | viewer | ris | his | mirror | other")
    node.add("description", "Main archive")
    node.add(tomlkit.comment("Optional, per node (defaults from [dicom] and [site]):"))
    for line in ('site = "main"', 'interval = "30s"', 'timeout = "5s"', 'warn_latency = "1s"'):
        node.add(tomlkit.comment(line))
    dicom.append("node", AoT([node]))
    return [("dicom", dicom)]


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Node", "id", None, True),
    Column("aet", "AE title", "label", None, False, "aet"),
    Column("address", "Host:port", "address", None, False),
    Column("role", "Role", "label", 8, False, "role"),
    Column("latency", "Echo", "value", 7, True, "", "slowest first", "fastest first", True),
    Column("trend", "Last 1h", "trend", 12, True, "", "slowest first", "fastest first", True),
    Column("since", "Since", "since", 10, True, "", "latest change first", "oldest first", True),
    Column("reason", "Reason", "reason", None, True),
)

DETAIL_LABELS = {
    "peer_implementation_version_name": "Peer version",
    "peer_implementation_class_uid": "Peer class UID",
    "peer_max_pdu": "Peer max PDU",
    "address": "Resolved IP",
    "calling_aet": "Calling AE",
    "echo_status": "C-ECHO status",
}


def detail_text(key: str, value: Any) -> str | None:
    if key == "echo_status" and isinstance(value, int):
        return f"0x{value:04X}" + (" (success)" if value == 0 else "")
    if key == "peer_max_pdu" and value == 0:
        return "unlimited"
    return None


SOURCE = Source(
    name="dicom",
    title="DICOM nodes",
    kinds=(TargetKind.DICOM_NODE,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="DICOM node",
    entry="[[dicom.node]]",
    screen="nodes",
    screen_title="Nodes",
    detail_labels=DETAIL_LABELS,
    hidden_details=frozenset({"called_aet", "accepted"}),
    detail_text=detail_text,
)
