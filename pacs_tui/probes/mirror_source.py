"""The mirror source (``[[mirror]]``): a primary archive and its mirror, two ``[[dicom.node]]``s,
reconciled every ``interval`` over a window of days by C-FIND (:mod:`pacs_tui.mirror.reconcile`):
studies missing on the mirror, different (instance counts), extra, and the replication lag
(the oldest missing study's age) against the RPO. Shown on the Backups screen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pacs_tui import config_reader as cv
from pacs_tui.backup.repository import DAY
from pacs_tui.backup.rpo import span_words
from pacs_tui.config_reader import Reader
from pacs_tui.mirror.node import Node, link_node
from pacs_tui.model import Target, TargetKind, TargetState
from pacs_tui.source import BuildContext, Column, MetricSpec, Runnable, Source, WorkerLimit
from pacs_tui.visible import visible

LAG = MetricSpec(
    "mirror_lag_seconds", "s", "Lag", headline=True, scale=(60.0, 30 * DAY),
    description="age of the oldest study missing on the mirror (0: none missing)",
    title="Replication lag",
)  # fmt: skip
METRICS = (
    LAG,
    MetricSpec("mirror_rpo_ratio", "ratio", "Lag / RPO", scale=(0.0, 2.0),
               description="the replication lag over the RPO (1: at the RPO)"),
    MetricSpec("mirror_missing_studies", "", "Missing",
               description="studies of the window on the primary and not on the mirror"),
    MetricSpec("mirror_different_studies", "", "Different",
               description="studies whose instance counts differ between the two"),
    MetricSpec("mirror_extra_studies", "", "Extra",
               description="studies on the mirror and not on the primary"),
    MetricSpec("mirror_primary_studies", "", "Studies",
               description="studies of the window on the primary"),
    MetricSpec("mirror_queries", "", "Queries", description="C-FIND requests of the last round"),
    MetricSpec("mirror_associations", "", "Associations",
               description="associations opened by the last round"),
    MetricSpec("mirror_round_seconds", "s", "Round", description="how long the last round took"),
)  # fmt: skip

#: The RPO of a pair when neither it nor ``[dr]`` gives one.
DEFAULT_RPO = 3600.0


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    """One ``[[mirror]]``; ``primary_node``/``mirror_node`` are filled from ``[dicom]`` once
    every section is read (:func:`link`)."""

    id: str
    primary: str
    mirror: str
    days: int = 30
    interval: float = 3600.0
    timeout: float = 600.0
    query_timeout: float = 30.0
    max_answers: int = 5000
    #: The pause between two days' queries; ``None``: "auto", the days spread over half the
    #: round's timeout (:meth:`gap`).
    query_gap: float | None = 0.5
    rpo: float | None = None
    site: str = ""
    description: str = ""
    primary_node: Node | None = None
    mirror_node: Node | None = None

    def gap(self) -> float:
        """The pause between two days' queries: never more than half the timeout spread over
        the pauses (a round must leave time for its queries); "auto" is that spread, at most
        :data:`MAX_GAP`."""
        spread = self.timeout / 2 / max(self.days - 1, 1)
        if self.query_gap is None:
            return min(spread, MAX_GAP)
        return min(self.query_gap, spread)


_KEYS = {
    "id", "primary", "mirror", "window", "interval", "timeout", "query_timeout", "max_answers",
    "query_gap", "rpo", "site", "description",
}  # fmt: skip
_WINDOW_EXPECTED = "a whole number of days from 1d to 366d, like '30d'"
_INTERVAL_EXPECTED = "a duration from 1m to 7d, like '1h'"
_TIMEOUT_EXPECTED = "a duration from 10s to 1d, like '10m', less than the interval"
_RPO_EXPECTED = "a duration from 1m to 400d, like '1h'"
_GAP_EXPECTED = (
    "a duration from 0s to 1m, like '500ms' (the pause between two days' queries), or \"auto\" "
    "(the days spread over half the timeout)"
)
#: The longest pause between two days' queries.
MAX_GAP = 60.0


def _gap(value: Any) -> float | None:
    if value == "auto":
        return None
    return cv.duration_between(0.0, MAX_GAP)(value)


def _window(value: Any) -> int:
    seconds = cv.duration(value)
    days = seconds / DAY
    if not 1 <= days <= 366 or not math.isclose(days, round(days)):
        raise ValueError
    return round(days)


def read(reader: Reader, raw: Any, site: str) -> tuple[MirrorConfig, ...]:
    if raw is None:
        return ()
    return reader.entries(raw, "mirror", lambda t, path: _entry(reader, t, path, site))


def _entry(reader: Reader, t: Mapping[str, Any], path: str, site: str) -> MirrorConfig | None:
    reader.check_keys(t, path, _KEYS)
    before = len(reader.problems)
    get = reader.get
    node_id = "the id of a [[dicom.node]]"
    interval = get(
        t, "interval", path, cv.duration_between(60.0, 7 * DAY), _INTERVAL_EXPECTED, 3600.0
    )
    default_timeout = min(600.0, interval / 2) if isinstance(interval, float) else 600.0
    timeout = get(
        t, "timeout", path, cv.duration_between(10.0, DAY), _TIMEOUT_EXPECTED, default_timeout
    )
    reader.cross_check(t, path, "timeout", timeout, "interval", interval)
    entry = MirrorConfig(
        id=get(t, "id", path, cv.ident, cv.ID_EXPECTED),
        primary=get(t, "primary", path, cv.ident, node_id),
        mirror=get(t, "mirror", path, cv.ident, node_id),
        days=get(t, "window", path, _window, _WINDOW_EXPECTED, 30),
        interval=interval,
        timeout=timeout,
        query_timeout=get(
            t,
            "query_timeout",
            path,
            cv.duration_between(1.0, 600.0),
            "a duration from 1s to 10m, like '30s'",
            30.0,
        ),
        max_answers=get(
            t,
            "max_answers",
            path,
            cv.int_range(10, 100_000),
            "a whole number from 10 to 100000: a day (or part of one) answered with as many "
            "studies or more is asked again in halves; at or under the node's own cap on C-FIND "
            "answers",
            5000,
        ),
        query_gap=get(t, "query_gap", path, _gap, _GAP_EXPECTED, 0.5),
        rpo=get(t, "rpo", path, cv.duration_between(60.0, 400 * DAY), _RPO_EXPECTED, None),
        site=get(t, "site", path, cv.nonempty_str, "a non-empty string", site),
        description=get(t, "description", path, cv.string, "a string", ""),
    )
    if len(reader.problems) > before:
        return None
    if entry.primary == entry.mirror:
        reader.problem(f"{path}.mirror", entry.mirror, "a node other than the primary")
        return None
    return entry


def link(
    reader: Reader, config: tuple[MirrorConfig, ...], sections: Mapping[str, Any]
) -> tuple[MirrorConfig, ...]:
    """Each pair's two nodes from ``[dicom]``, and its RPO from ``[dr]`` unless it has one."""
    dr_rpo = getattr(sections.get("dr"), "rpo", None)
    linked = []
    for entry in config:
        found: dict[str, Node] = {}
        for role in ("primary", "mirror"):
            key = f'mirror "{entry.id}".{role}'
            node = link_node(reader, key, getattr(entry, role), sections)
            if node is not None:
                found[role] = node
        if len(found) == 2:
            linked.append(
                replace(
                    entry,
                    primary_node=found["primary"],
                    mirror_node=found["mirror"],
                    rpo=entry.rpo or dr_rpo or DEFAULT_RPO,
                )
            )
    return tuple(linked)


def target(entry: MirrorConfig) -> Target:
    return Target(
        entry.id,
        TargetKind.MIRROR,
        {
            "kind": "mirror",
            "primary": entry.primary,
            "mirror": entry.mirror,
            "window": f"{entry.days} days",
            "rpo": span_words(entry.rpo or DEFAULT_RPO),
            "site": entry.site,
            "description": entry.description,
        },
    )


def targets(config: tuple[MirrorConfig, ...]) -> list[Target]:
    return [target(e) for e in config]


def build(config: tuple[MirrorConfig, ...], ctx: BuildContext) -> list[Runnable]:
    from pacs_tui.mirror.checks import MirrorCheck

    assert ctx.executor is not None, "the mirror source asks for threads"
    return [MirrorCheck(target(e), e, ctx.executor) for e in config if e.primary_node]


def workers(config: tuple[MirrorConfig, ...]) -> WorkerLimit:
    return WorkerLimit(max(1, min(len(config), 4)), threads=True)


def example() -> list[tuple[str, Any]]:
    # A pair names two [[dicom.node]]s; the example has one node, so the README shows a pair.
    return []


def tile_summary(states: Sequence[TargetState]) -> str:
    """ "1 pair · 3 missing · lag 2 h"."""
    if not states:
        return ""
    head = f"{len(states)} pair{'' if len(states) == 1 else 's'}"
    compared = [s for s in states if "mirror_missing_studies" in s.metrics]
    if len(compared) < len(states):  # a pair DOWN has no count: never read as "0 missing"
        head += f" · {len(states) - len(compared)} not compared"
    if not compared:
        return head
    missing = sum(int(s.metrics["mirror_missing_studies"]) for s in compared)
    lag = max((s.metrics.get(LAG.name, 0.0) for s in compared), default=0.0)
    head += f" · {missing} missing"
    return f"{head} · lag {span_words(lag)}" if missing else head


COLUMNS = (
    Column("status", "Status", "status", 9, True, "", "worst first", "best first", True),
    Column("id", "Mirror", "id", None, True),
    Column("primary", "Primary", "label", None, False, "primary"),
    Column("mirror", "Mirror node", "label", None, False, "mirror"),
    Column("missing", "Missing", "value", 8, True, "mirror_missing_studies", "most first", "",
           True),
    Column("different", "Differ", "value", 7, False, "mirror_different_studies", "most first",
           "", True),
    Column("lag", "Lag / RPO", "value", 17, True, "mirror_rpo_ratio", "furthest past first",
           "", True, gauge=10),
    Column("reason", "Reason", "reason", None, True),
)  # fmt: skip


def detail_text(key: str, value: Any) -> str | None:
    """A list of studies one a line (a UID is copied whole, never broken across a join)."""
    if isinstance(value, list):
        lines = [visible(str(v), 160) for v in value[:10]]
        if len(value) > 10:
            lines.append(f"… {len(value)} kept in all (the counts are complete)")
        return "\n".join(lines) if lines else "none"
    return None


SOURCE = Source(
    name="mirror",
    title="Mirrors",
    kinds=(TargetKind.MIRROR,),
    read=read,
    targets=targets,
    build=build,
    workers=workers,
    example=example,
    metrics=METRICS,
    columns=COLUMNS,
    noun="mirror pair",
    entry="[[mirror]]",
    screen="backups",
    screen_title="Backups",
    detail_labels={
        "window": "Window",
        "missing": "Missing on mirror",
        "different": "Different",
        "compared": "Compared",
        "extra": "Extra on mirror",
        "oldest_missing": "Oldest missing",
        "queries": "Load",
        "split": "Split days",
    },
    detail_text=detail_text,
    tile_summary=tile_summary,
    link=link,
)
