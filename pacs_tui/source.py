"""The Source interface: what one source module declares, and the shapes the engine runs.

A source (DICOM nodes, command checks, later HL7, storage, audit, backups) is one module in
:mod:`pacs_tui.probes` that builds a :class:`Source` and one line in ``probes.SOURCES``. It
declares its config section (read with :mod:`pacs_tui.config_reader`), the targets it produces,
its metrics and table columns, its worker limit, and builds what runs: periodic
:class:`Check` / :class:`BatchCheck` objects (the scheduler's interval, jitter, timeout and
back-off) or long-running :class:`Service` objects (``serve(emit)``, restarted with back-off).
Nothing here imports Textual or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pacs_tui.config_reader import Reader
from pacs_tui.model import (
    Event,
    LoggedMessage,
    MessageTree,
    Result,
    Status,
    Target,
    TargetState,
)
from pacs_tui.patient_key import PatientKey

if TYPE_CHECKING:
    from pacs_tui.store.schema import SeriesPoint

MetricKind = Literal["gauge", "counter"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a source records, in base units: ``unit`` is "s", "B", "%" (0 to 100),
    "ratio" (0 to 1, shown as a percentage: Prometheus' ``_ratio``), "days" (a forecast's
    horizon), "c" (a count) or "" (a plain number). ``warn``/``crit`` are the defaults a value
    at or over which is WARN/CRIT (the config may override them per target)."""

    name: str
    unit: str
    label: str
    kind: MetricKind = "gauge"
    description: str = ""
    warn: float | None = None
    crit: float | None = None
    #: The source's headline value: the table's value column, ``status``'s VALUE, the trend.
    headline: bool = False
    #: Lowest and highest value of the trend bars' shared (log for "s") scale.
    scale: tuple[float, float] | None = None
    #: The chart's title ("Echo latency"); the label when empty.
    title: str = ""


def over_threshold(
    spec: MetricSpec, value: float | None, warn: float | None = None, crit: float | None = None
) -> tuple[Status, str] | None:
    """WARN or CRIT, with the reason in words, when ``value`` is over the threshold (the
    target's own ``warn``/``crit``, else the declared default); ``None`` when it is not.

    >>> over_threshold(MetricSpec("echo_seconds", "s", "Echo", warn=0.5), 0.812)
    (<Status.WARN: 'WARN'>, 'slow: echo 812 ms > 500 ms')
    """
    from pacs_tui.units import format_metric  # units imports this module

    if value is None:
        return None
    word = "slow" if spec.unit == "s" else "high"
    crit = crit if crit is not None else spec.crit
    warn = warn if warn is not None else spec.warn
    for status, limit in ((Status.CRIT, crit), (Status.WARN, warn)):
        if limit is not None and value > limit:
            shown, bound = format_metric(spec, value), format_metric(spec, limit)
            return status, f"{word}: {spec.label.lower()} {shown} > {bound}"
    return None


#: How a source of several kinds counts each ("2 volumes, 1 archive").
KIND_NOUNS = {
    "volume": "volume",
    "archive": "archive",
    "hl7-listener": "HL7 listener/tap",
    "hl7-link": "HL7 link",
    "backup": "backup",
    "mirror": "mirror pair",
    "drill": "drill",
}


def counted(source: Source, kinds: Sequence[str], *, each: bool = False) -> list[str]:
    """``source``'s targets of ``kinds`` counted in words: ["3 HL7 endpoints"]; for a source of
    several kinds, each by its own name (["2 volumes", "1 archive"]) when ``each`` is asked or
    when the source's noun is one kind's (an archive is no volume). None counted, none said."""
    split = each or source.noun in (KIND_NOUNS.get(k) for k in source.kinds)
    if len(source.kinds) == 1 or not split or any(k not in KIND_NOUNS for k in source.kinds):
        return [f"{len(kinds)} {source.noun}{'s' if len(kinds) != 1 else ''}"] if kinds else []
    words = []
    for kind in source.kinds:
        count = sum(1 for k in kinds if k == kind)
        if count:
            words.append(f"{count} {KIND_NOUNS[kind]}{'s' if count != 1 else ''}")
    return words


def plain_number(value: float | None) -> str:
    """A number as perfdata writes it: no exponent, no trailing zeros; "" for None.

    >>> plain_number(0.85), plain_number(14.0), plain_number(1e-7), plain_number(None)
    ('0.85', '14', '0', '')
    """
    if value is None:
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def threshold_labels(
    metric: str, warn: float | None, crit: float | None, *, below: bool = False
) -> dict[str, str]:
    """A target's own thresholds on one of its metrics, carried in its labels to ``pacs-tui
    check``'s perfdata: Nagios ranges in base units under ``warn:METRIC`` and ``crit:METRIC``;
    ``below``, a value under the limit alerts (days to full).

    >>> threshold_labels("days_to_full", 14, 3, below=True)
    {'warn:days_to_full': '14:', 'crit:days_to_full': '3:'}
    """
    labels: dict[str, str] = {}
    for word, limit in (("warn", warn), ("crit", crit)):
        if limit is not None:
            labels[f"{word}:{metric}"] = plain_number(limit) + (":" if below else "")
    return labels


#: Metric-name suffixes that carry the unit of a metric no source declared in advance (a
#: plugin's perfdata): Prometheus' base-unit naming.
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_seconds", "s"),
    ("_bytes", "B"),
    ("_percent", "%"),
    ("_total", "c"),
)


def spec_from_name(name: str) -> MetricSpec:
    """A spec for a metric known only by its name: the unit from its suffix, the label from
    the rest (``perf.time_seconds`` → "time", seconds)."""
    label, unit = name.removeprefix("perf."), ""
    for suffix, suffix_unit in UNIT_SUFFIXES:
        if label.endswith(suffix):
            label, unit = label.removesuffix(suffix) or label, suffix_unit
            break
    # A perfdata label made safe for a name ends in "~" and a hash of the original: drop it.
    hashed = label.rfind("~")
    return MetricSpec(name, unit, label[:hashed] if hashed > 0 else label)


CellKind = Literal["status", "id", "label", "address", "value", "trend", "since", "reason"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a source's target table: what its cells hold and how it sorts.

    ``cell`` is "status", "id", "label" (the target label named by ``arg``), "address"
    (host:port), "value" (the headline metric, or
    the metric named by ``arg``), "trend" (the headline metric's last hour), "since" or
    "reason"."""

    key: str
    label: str
    cell: CellKind
    width: int | None  # None: sized from the data
    narrow: bool  # shown below the wide width too
    arg: str = ""
    #: How the default order reads in the summary ("worst first"); "" for plain A to Z.
    order: str = ""
    #: How the reversed order reads ("best first"); "" for "reversed".
    reversed_order: str = ""
    #: The default order is descending (worst, slowest, latest first): the header shows ▾.
    descending: bool = False
    #: A value cell says what it is ("load1 0.15"), for a column whose rows differ in metric.
    labelled: bool = False
    #: A ratio's value cell is drawn as a bar before its number ("██████▉░░░  87 %"): a
    #: volume's gauge. The number is always there: the bar is never the only sign.
    gauge: int = 0  # the bar's width in cells; 0: no bar
    #: A pass/fail metric (1 or 0) whose verdict leads the value cell: "✔ 2 h" or "✖ 2 h" (a
    #: backup's last integrity check and its age); the failed one is drawn in CRIT's colour.
    verdict: str = ""

    @property
    def dynamic(self) -> bool:
        """Can the order of this column change when a result arrives (not configuration)?"""
        return self.cell in ("status", "value", "trend", "since", "reason")


class Emit(Protocol):
    """What a long-running service pushes results and events through."""

    def result(self, target_id: str, result: Result) -> None: ...

    def event(self, event: Event) -> None: ...

    def messages(self, rows: Sequence[LoggedMessage]) -> None:
        """Record message-log rows; returns once they are durable in the history (its message
        journal; at once when there is none), so a listener can acknowledge only what is
        recorded. Synchronous: a journal append is one ``write()``, and a listener answering
        from its protocol's ``data_received`` cannot await. Raises
        :class:`~pacs_tui.store.StoreError` when they could not be."""
        ...


@runtime_checkable
class Check(Protocol):
    """A periodic probe of one target.

    The scheduler calls :meth:`check` every ``interval`` seconds (with jitter), reports it DOWN
    when it has not answered ``timeout`` + 1 seconds after it started (the probe's own timeouts
    should fire first, with a better reason) and backs off while the target is DOWN. ``check``
    must not raise for a failure of the target: it returns a DOWN result whose reason says what
    went wrong in words. ``pool`` names the worker limit it waits for (its source's name). A
    check with news between its runs (work it started in the background that ended) may have a
    ``bind_wake(wake)`` method: the scheduler gives it a callable that runs it again now.
    """

    target: Target
    interval: float
    timeout: float

    async def check(self) -> Result: ...

    async def close(self) -> None: ...


@runtime_checkable
class BatchCheck(Protocol):
    """A periodic run that reports several targets at once (every volume of a host): results
    by target id; a target missing from a run's results is UNKNOWN for that run."""

    id: str
    targets: Sequence[Target]
    interval: float
    timeout: float

    async def check_all(self) -> Mapping[str, Result]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Service(Protocol):
    """A long-running source (a listener, a follower): ``serve`` runs until cancelled, pushing
    results and events through ``emit`` as they come. If it returns or raises, the engine marks
    its targets DOWN with the reason and starts it again with back-off."""

    id: str
    targets: Sequence[Target]

    async def serve(self, emit: Emit) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class KeepsMessages(Protocol):
    """A service that keeps its recent messages in memory (an HL7 listener or tap) and shows
    one, masked, in the detail view."""

    async def message_tree(self, ts: float, control_id: str) -> MessageTree | None: ...


Runnable = Check | BatchCheck | Service


def runnable_targets(run: Runnable) -> Sequence[Target]:
    if isinstance(run, Check):
        return (run.target,)
    return run.targets


@dataclass(frozen=True, slots=True)
class WorkerLimit:
    """How many runs of a source may be in flight at once. With ``threads`` the engine also
    gives the source a thread pool of that size (blocking libraries such as pynetdicom); a run
    waits for a free place *before* its timeout starts."""

    size: int
    threads: bool = False


class HistoryReader(Protocol):
    """The history as a check may read it (the store's :meth:`series`): a target's metric over
    a window, from the coarsest tier that suits it."""

    async def series(
        self, target: str, metric: str, since: float, until: float | None = None
    ) -> Sequence[SeriesPoint]: ...


@runtime_checkable
class MessageReader(Protocol):
    """The history's message log as a service may read it back at start (the store's
    :meth:`messages`): a link's rows since a time, newest first."""

    async def messages(
        self, link: str | None = None, *, since: float | None = None, limit: int = 500
    ) -> list[LoggedMessage]: ...


@dataclass
class BuildContext:
    """What a source's ``build`` gets besides its section: its own thread pool, if it asked,
    and the history to read its targets' past from, when there is one."""

    site: str
    executor: ThreadPoolExecutor | None = None
    #: The history's key for patient references (HL7), when the source records messages.
    patient_key: PatientKey | None = None
    history: HistoryReader | None = None


@dataclass(frozen=True)
class Source:
    """One source's declaration. ``read`` turns the TOML value of its top-level key (a table or
    an array of tables; absent: ``None``) and the site's name into its own config object,
    reporting problems on the reader."""

    name: str
    title: str
    kinds: tuple[str, ...]
    read: Callable[[Reader, Any, str], Any]
    targets: Callable[[Any], list[Target]]
    build: Callable[[Any, BuildContext], list[Runnable]]
    workers: Callable[[Any], WorkerLimit]
    example: Callable[[], list[tuple[str, Any]]]
    metrics: tuple[MetricSpec, ...] = ()
    columns: tuple[Column, ...] = ()
    #: The metric shown as a target's value and trend (the source's headline metric unless
    #: the target's own result names one, as a plugin's first perfdata item does).
    headline: Callable[[TargetState], str | None] | None = None
    #: What one target is called in ``config check``'s count ("DICOM node").
    noun: str = "target"
    #: How its entries are written in the TOML, for messages ("[[dicom.node]]").
    entry: str = ""
    #: Its table screen: the mode name and the title of its number key ("nodes", "Nodes").
    screen: str = ""
    screen_title: str = ""
    #: Labels of the detail screen's facts from a result's details, in the order shown (other
    #: keys follow, capitalised); ``hidden_details`` repeat what is shown elsewhere.
    detail_labels: Mapping[str, str] = field(default_factory=dict)
    hidden_details: frozenset[str] = frozenset()
    #: How a detail's value reads, when ``str(value)`` is not enough (a status code in hex).
    detail_text: Callable[[str, Any], str | None] | None = None
    #: A few words about the area as a whole for its Overview tile, after the counts
    #: ("6 msg/min · 12 AE"); None: the counts only.
    tile_summary: Callable[[Sequence[TargetState]], str] | None = None
    #: For a source whose entries name another section's (a mirror pair names two
    #: ``[[dicom.node]]``s): called once every section is read with the reader, its own config
    #: and every section's by name; returns its config with those references resolved,
    #: reporting the ones that do not resolve on the reader.
    link: Callable[[Reader, Any, Mapping[str, Any]], Any] | None = None

    def metric(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        return spec_from_name(name)

    def headline_metric(self, state: TargetState) -> str | None:
        if self.headline is not None:
            return self.headline(state)
        for spec in self.metrics:
            if spec.headline:
                return spec.name
        return None
