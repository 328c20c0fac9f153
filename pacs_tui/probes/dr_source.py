"""The disaster-recovery source (``[dr]``): the site's RTO and RPO targets and the failover
drill (:mod:`pacs_tui.mirror.drill`) against the mirror, run on demand by an admin (``p`` on
its row) and, when ``drill_interval`` is set, on that schedule. Every drill is recorded in the
history as an event of its own; shown on the Backups screen.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pacs_tui import config_reader as cv
from pacs_tui.backup.repository import DAY
from pacs_tui.backup.rpo import span_words
from pacs_tui.config_reader import Reader
from pacs_tui.mirror.node import Node, link_node
from pacs_tui.model import Target, TargetKind, TargetState
from pacs_tui.source import (
    BuildContext,
    Column,
    MetricSpec,
    Runnable,
    Source,
    WorkerLimit,
)
from pacs_tui.units import format_value

RTO = MetricSpec(
    "drill_rto_seconds", "s", "RTO", headline=True, scale=(0.01, 4 * 3600.0),
    description="the last drill's echo + find + retrieve: the measured retrieval RTO",
    title="Measured RTO",
)  # fmt: skip
METRICS = (
    RTO,
    MetricSpec("drill_rto_ratio", "ratio", "RTO / target", scale=(0.0, 2.0),
               description="the measured RTO over the RTO target (1: at the target)"),
    MetricSpec("drill_echo_seconds", "s", "Echo", description="the drill's C-ECHO of the mirror"),
    MetricSpec("drill_find_seconds", "s", "Find", description="C-FIND of the test study"),
    MetricSpec("drill_retrieve_seconds", "s", "Retrieve",
               description="C-GET (or C-MOVE) of the test study"),
    MetricSpec("drill_instances", "", "Instances",
               description="instances the retrieve brought back"),
    MetricSpec("drill_size_bytes", "B", "Size", description="bytes the retrieve brought back"),
)  # fmt: skip

#: Where a drill's targets come from when ``[dr]`` says nothing.
DEFAULT_RTO = 4 * 3600.0
_UID_EXPECTED = (
    "the test study's StudyInstanceUID (numbers without leading zeros joined by dots, at most "
    "64 characters)"
)


@dataclass(frozen=True, slots=True)
class DrConfig:
    """``[dr]``. Without ``mirror`` and ``test_study`` there is no drill, only the targets
    (``rpo`` is then the default RPO of the ``[[mirror]]`` pairs)."""

    rto: float = DEFAULT_RTO
    rpo: float | None = None
    id: str = "dr-drill"
    mirror: str = ""
    test_study: str = ""
    drill_interval: float | None = None
    timeout: float = 600.0
    request_timeout: float = 60.0
    service_name: str = ""
    primary: str = ""
    site: str = ""
    #: "get" (C-GET on our association) or "move" (C-MOVE to a store of ours at move_bind).
    retrieve: str = "get"
    move_bind: tuple[str, int] | None = None
    #: Our AE title as the move destination; "" is the mirror node's calling_aet.
    move_aet: str = ""
    move_from: tuple[Network, ...] = ()
    mirror_node: Node | None = None
    #: The primary, when ``primary`` names it: the drill expects its instance count, and
    #: ``service_name`` is compared with its address.
    primary_node: Node | None = None

    @property
    def has_drill(self) -> bool:
        return bool(self.mirror and self.test_study)


_KEYS = {
    "rto", "rpo", "id", "mirror", "test_study", "drill_interval", "timeout", "request_timeout",
    "service_name", "primary", "site", "retrieve", "move_bind", "move_aet", "move_from",
}  # fmt: skip
_MOVE_KEYS = ("move_bind", "move_aet", "move_from")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(value: Any) -> tuple[Network, ...]:
    items = cv.string_list(value, max_items=256, max_length=64)
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _uid(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError
    if not all(c.isdigit() or c == "." for c in value):
        raise ValueError
    # Components of digits, none empty, none with a leading zero (PS3.5 9.1).
    if any(not part or (len(part) > 1 and part[0] == "0") for part in value.split(".")):
        raise ValueError
    return value


def _drill_interval(value: Any) -> float | None:
    seconds = cv.duration(value)
    if seconds == 0:
        return None
    if not 3600.0 <= seconds <= 400 * DAY:
        raise ValueError
    return seconds


def read(reader: Reader, raw: Any, site: str) -> DrConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.problem("dr", raw, "a table: [dr]")
        return None
    reader.check_keys(raw, "dr", _KEYS)
    before = len(reader.problems)
    get = reader.get
    node_id = "the id of a [[dicom.node]]"
    config = DrConfig(
        rto=get(raw, "rto", "dr", cv.duration_between(1.0, 30 * DAY),
                "a duration from 1s to 30d, like '4h'", DEFAULT_RTO),
        rpo=get(raw, "rpo", "dr", cv.duration_between(60.0, 400 * DAY),
                "a duration from 1m to 400d, like '1h'", None),
        id=get(raw, "id", "dr", cv.ident, cv.ID_EXPECTED, "dr-drill"),
        mirror=get(raw, "mirror", "dr", cv.ident, node_id, ""),
        test_study=get(raw, "test_study", "dr", _uid, _UID_EXPECTED, ""),
        drill_interval=get(raw, "drill_interval", "dr", _drill_interval,
                           "a duration from 1h to 400d, like '7d', or \"0\" for on demand only",
                           None),
        timeout=get(raw, "timeout", "dr", cv.duration_between(5.0, DAY),
                    "a duration from 5s to 1d, like '10m'", 600.0),
        request_timeout=get(raw, "request_timeout", "dr", cv.duration_between(1.0, 3600.0),
                            "a duration from 1s to 1h, like '60s'", 60.0),
        service_name=get(raw, "service_name", "dr", cv.host,
                         "the DNS name or address the viewers use for the PACS", ""),
        primary=get(raw, "primary", "dr", cv.ident, node_id, ""),
        site=get(raw, "site", "dr", cv.nonempty_str, "a non-empty string", site),
        retrieve=get(raw, "retrieve", "dr", cv.choice(("get", "move")),
                     '"get" (C-GET: the mirror sends the study back on our association) or '
                     '"move" (C-MOVE to a store of ours at move_bind)', "get"),
        move_bind=get(raw, "move_bind", "dr", cv.bind_address,
                      'the IP address and port to listen on for the C-MOVE, the port the '
                      'mirror\'s AE table has for move_aet, like "0.0.0.0:11113"', None),
        move_aet=get(raw, "move_aet", "dr", cv.aet, cv.AET_EXPECTED, ""),
        move_from=get(raw, "move_from", "dr", _networks,
                      'a list of addresses or networks the mirror sends from, like '
                      '["10.2.0.0/24"] (its own addresses are always allowed)', ()),
    )  # fmt: skip
    if config.retrieve == "move":
        reader.listens_on("dr.move_bind", "tcp", config.move_bind)
    if len(reader.problems) > before:
        return None
    if config.retrieve == "get":
        for key in _MOVE_KEYS:
            if key in raw:
                reader.problem(f"dr.{key}", raw[key], 'nothing with retrieve = "get" (the '
                               'default): set retrieve = "move" to retrieve by C-MOVE')  # fmt: skip
                return None
    elif config.move_bind is None:
        reader.problem(
            "dr.move_bind", cv.MISSING, 'the IP address and port to listen on for the C-MOVE, '
            'the port the mirror\'s AE table has for move_aet, like "0.0.0.0:11113" '
            '(retrieve = "move" needs it)',
        )  # fmt: skip
        return None
    if bool(config.mirror) != bool(config.test_study):
        missing = "test_study" if config.mirror else "mirror"
        expected = _UID_EXPECTED if missing == "test_study" else node_id
        reader.problem(
            f"dr.{missing}", cv.MISSING, f"{expected} (a drill needs mirror and test_study)"
        )
        return None
    if config.service_name and not config.primary:
        # Without the primary the name's address could only be told "not the mirror".
        reader.problem(
            "dr.primary",
            cv.MISSING,
            f"{node_id} (service_name is compared with the primary's and the mirror's address)",
        )
        return None
    if (config.service_name or config.primary) and not config.has_drill:
        given = "service_name" if config.service_name else "primary"
        reader.problem(
            "dr.mirror", cv.MISSING, f"{node_id} ({given} belongs to the drill, which needs "
            "mirror and test_study)",
        )  # fmt: skip
        return None
    if config.drill_interval is not None:
        interval = config.drill_interval
        reader.cross_check(raw, "dr", "timeout", config.timeout, "drill_interval", interval)
    return config


def link(reader: Reader, config: DrConfig | None, sections: Mapping[str, Any]) -> DrConfig | None:
    """The drill's mirror (and the primary: its count, the service name) from ``[dicom]``."""
    if config is None or not config.has_drill:
        return config
    node = link_node(reader, "dr.mirror", config.mirror, sections)
    if node is None:
        return None
    primary_node = None
    if config.primary:
        primary_node = link_node(reader, "dr.primary", config.primary, sections)
        if primary_node is None:
            return None
    return replace(config, mirror_node=node, primary_node=primary_node)


def target(config: DrConfig) -> Target:
    return Target(
        config.id,
        TargetKind.DRILL,
        {
            "kind": "drill",
            "mirror": config.mirror,
            "study": config.test_study,
            "rto": span_words(config.rto),
            "schedule": (
                f"every {span_words(config.drill_interval)}"
                if config.drill_interval
                else "on demand"
            ),
            "site": config.site,
        },
    )


def targets(config: DrConfig | None) -> list[Target]:
    return [target(config)] if config is not None and config.has_drill else []


def build(config: DrConfig | None, ctx: BuildContext) -> list[Runnable]:
    if config is None or config.mirror_node is None:
        return []
    from pacs_tui.mirror.checks import DrillCheck

    assert ctx.executor is not None, "the drill asks for threads"
    return [DrillCheck(target(config), config, ctx.executor)]


def workers(config: DrConfig | None) -> WorkerLimit:
    return WorkerLimit(1, threads=True)


def example() -> list[tuple[str, Any]]:
    return []  # a drill names the mirror's node and a test study: see the README


def tile_summary(states: Sequence[TargetState]) -> str:
    """ "last drill 3.2 s / RTO 4 h"."""
    for state in states:
        measured = state.metrics.get(RTO.name)
        if measured is not None:
            shown = format_value("s", measured)
            return f"last drill {shown} / RTO {state.target.labels.get('rto', '?')}"
    return ""


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Drill", "id", None, True),
    Column("mirror", "Mirror", "label", None, False, "mirror"),
    Column("schedule", "Schedule", "label", None, False, "schedule"),
    Column("rto", "RTO / target", "value", 17, True, "drill_rto_ratio", "furthest past first",
           "", True, gauge=10),
    Column("since", "Since", "since", 10, False),
    Column("reason", "Reason", "reason", None, True),
)  # fmt: skip

SOURCE = Source(
    name="dr",
    title="Recovery drills",
    kinds=(TargetKind.DRILL,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="drill",
    entry="[dr]",
    screen="backups",
    screen_title="Backups",
    detail_labels={
        "steps": "Steps",
        "study": "Test study",
        "retrieved": "Retrieved",
        "serving": "Service name points to",
        "expected": "Expected",
        "rto": "RTO target",
    },
    tile_summary=tile_summary,
    link=link,
)
