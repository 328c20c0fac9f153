"""``pacs-tui check``: the targets' states as a Nagios / Monitoring Plugins check result.

One line, ``PACS-TUI <STATUS> - summary | perfdata``, and the exit code 0 OK, 1 WARNING,
2 CRITICAL (DOWN too), 3 UNKNOWN, as the Monitoring Plugins development guidelines set them.
Perfdata comes from the declared metrics: ``'target label'=value[UOM];warn;crit;min;max`` in
base units. A state older than twice its check's interval (or twice the back-off cap while the
target is DOWN) is UNKNOWN, said in words: a collector that stopped probing must not go on
reporting OK. No Textual, no I/O here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pacs_tui.model import Status, TargetState, never_drilled
from pacs_tui.probes import headline, metric_spec
from pacs_tui.probes.perfdata import Range
from pacs_tui.scheduler import MAX_BACKOFF
from pacs_tui.source import plain_number as _number
from pacs_tui.units import format_metric
from pacs_tui.visible import visible

#: The plugin's name, first on its line.
NAME = "PACS-TUI"
#: The status words of the guidelines.
WORDS = {
    Status.OK: "OK",
    Status.WARN: "WARNING",
    Status.CRIT: "CRITICAL",
    Status.DOWN: "CRITICAL",
    Status.UNKNOWN: "UNKNOWN",
}
#: A range as :func:`~pacs_tui.source.threshold_labels` writes one.
_RANGE = re.compile(r"-?[0-9]+(\.[0-9]+)?:?")
#: Problems named in the summary of several targets; the rest are counted.
NAMED_PROBLEMS = 3
#: Longest reason shown for one target.
REASON_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``--warn`` / ``--crit``: ranges on each target's headline value, in base units."""

    warn: Range | None = None
    crit: Range | None = None
    warn_text: str = ""
    crit_text: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target's status for this check, and why."""

    state: TargetState
    status: Status
    reason: str


def judge(
    states: Sequence[TargetState],
    *,
    now: float,
    intervals: Mapping[str, float] | None = None,
    thresholds: Thresholds = Thresholds(),
) -> list[Verdict]:
    """Each target's status: its own, UNKNOWN when stale (``intervals`` given: the state came
    from a collector), made worse by the thresholds on its headline value."""
    verdicts: list[Verdict] = []
    for state in states:
        status, reason = state.status, state.reason
        interval = (intervals or {}).get(state.id)
        if intervals is not None and interval is not None:
            slowest = max(interval, MAX_BACKOFF) if state.status is Status.DOWN else interval
            if state.checked is None:
                # A drill never run keeps its own words ("no drill run yet: …").
                status = Status.UNKNOWN
                never = never_drilled(state)
                reason = state.reason if never else "not checked yet by the collector"
            elif now - state.checked > 2 * slowest:
                status = Status.UNKNOWN
                reason = (
                    f"stale: last checked {_age(now - state.checked)} ago, every "
                    f"{_age(slowest)} expected (is the collector probing?)"
                )
        if status is not Status.UNKNOWN:
            found = _over(state, thresholds)
            if found is not None and found[0].rank > status.rank:
                status, reason = found
        verdicts.append(Verdict(state, status, reason))
    return verdicts


def _over(state: TargetState, thresholds: Thresholds) -> tuple[Status, str] | None:
    spec, value = headline(state)
    if spec is None or value is None:
        return None
    for status, limit, text in (
        (Status.CRIT, thresholds.crit, thresholds.crit_text),
        (Status.WARN, thresholds.warn, thresholds.warn_text),
    ):
        if limit is not None and limit.alerts(value):
            shown = format_metric(spec, value)
            # The range is in the metric's base unit (as its perfdata): said beside a value
            # shown in another ("echo 7.5 ms (0.0075 s) outside 0.005").
            base = f"{value:g} {spec.unit}".strip()
            if base.replace(" ", "") != shown.replace(" ", ""):
                shown = f"{shown} ({base})"
            # "@0:1" alerts inside 0..1: said as such, not "outside @0:1".
            where = f"inside {text.removeprefix('@')}" if limit.inside else f"outside {text}"
            return status, f"{spec.label.lower()} {shown} {where}"
    return None


def render(verdicts: Sequence[Verdict], thresholds: Thresholds = Thresholds()) -> str:
    """The plugin's output line."""
    worst = Status.worst(v.status for v in verdicts)
    perf = " ".join(p for v in verdicts for p in perfdata(v.state, thresholds))
    line = f"{NAME} {WORDS[worst]} - {summary(verdicts)}"
    return f"{line} | {perf}" if perf else line


def summary(verdicts: Sequence[Verdict]) -> str:
    if not verdicts:
        return "no targets"
    if len(verdicts) == 1:
        (one,) = verdicts
        return f"{_shown(one.state.id)} {one.status.word}: {_shown(one.reason)}"
    counts: dict[Status, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    order = sorted(counts, key=lambda s: -s.rank)
    text = f"{len(verdicts)} targets: " + ", ".join(f"{counts[s]} {s.word}" for s in order)
    problems = sorted(
        (v for v in verdicts if v.status is not Status.OK), key=lambda v: -v.status.rank
    )
    named = [f"{_shown(v.state.id)} {v.status.word}: {_shown(v.reason)}" for v in problems]
    if named:
        text += "; " + "; ".join(named[:NAMED_PROBLEMS])
        if len(named) > NAMED_PROBLEMS:
            text += f"; and {len(named) - NAMED_PROBLEMS} more"
    return text


def _shown(text: str) -> str:
    """One line, control characters made visible, and no ``|`` (it starts the perfdata)."""
    return visible(text, REASON_LIMIT).replace("|", "¦")


def perfdata(state: TargetState, thresholds: Thresholds = Thresholds()) -> list[str]:
    """``'target label'=value[UOM];warn;crit;min;max`` for each of its metrics, base units."""
    items: list[str] = []
    spec_head, _ = headline(state)
    for name in sorted(state.metrics):
        value = state.metrics[name]
        if not math.isfinite(value):
            continue
        spec = metric_spec(state.target.kind, name)
        if (
            spec_head is not None
            and spec.name == spec_head.name
            and (thresholds.warn_text or thresholds.crit_text)
        ):
            warn, crit = thresholds.warn_text, thresholds.crit_text
        else:  # the target's own (its config's), else the declared default
            warn = _own(state, "warn", name) or _number(spec.warn)
            crit = _own(state, "crit", name) or _number(spec.crit)
        # The declared units (s, B, %, c or none) are the guidelines' UOMs as they are; a
        # ratio is a plain number from 0 to 1 (as --warn/--crit give it, in base units), and
        # days a plain number of days.
        unit = "" if spec.unit in ("ratio", "days") else spec.unit
        minimum = "0" if spec.unit in ("s", "B", "%", "c", "ratio") else ""
        maximum = {"%": "100", "ratio": "1"}.get(spec.unit, "")
        if spec.scale is not None and spec.scale[1] > 1 and spec.unit == "ratio":
            maximum = ""  # an age over its target (an RPO) goes past 1
        # The metric's name where two labels would read alike ("echo": DIMSE and total).
        label = _label(f"{state.id} {spec.label.lower()}")
        if label in {item.split("=", 1)[0] for item in items}:
            label = _label(f"{state.id} {spec.name}")
        fields = [f"{_number(value)}{unit}", warn, crit, minimum, maximum]
        items.append(f"{label}=" + ";".join(fields).rstrip(";"))
    return items


def _label(text: str) -> str:
    """Quoted; the guidelines allow any character in a label but ``=`` and ``'``."""
    cleaned = visible(text, 100).replace("=", "_").replace("'", "_").replace("|", "¦")
    return f"'{cleaned}'"


def _own(state: TargetState, word: str, metric: str) -> str:
    """The target's own threshold on ``metric`` (:func:`~pacs_tui.source.threshold_labels`);
    "" when it has none, or when the label is not a plain range (it came over a socket)."""
    text = state.target.label(f"{word}:{metric}")
    return text if _RANGE.fullmatch(text) else ""


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
