"""What a target table's cells say, from a source's column spec: the text of each kind of cell,
the sort key of each column, what the filter matches, and the trend's scale.

Ids, AE titles, addresses, labels and reasons come from the config and from peers: every cell
shows them :func:`~pacs_tui.visible.visible` (control characters as ``␛``, never as markup), and
the filter matches what is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pacs_tui.model import Status, TargetState
from pacs_tui.source import Column, MetricSpec, Source
from pacs_tui.units import NONE_TEXT, format_metric
from pacs_tui.visible import TEXT_LIMIT, VALUE_LIMIT, host_port, visible

#: Trend bars of metrics that declare no scale: linear from 0 to the row's own highest value.
TrendScale = tuple[float | None, float | None, bool]


def shown_id(state: TargetState) -> str:
    """The target's id as the screens show it."""
    return visible(state.target.id, VALUE_LIMIT)


def address(state: TargetState) -> str:
    """``host:port`` (``[::1]:104`` for IPv6), made visible; "" without a host."""
    host = state.target.label("host")
    return host_port(host, state.target.label("port") or None) if host else ""


def label_text(state: TargetState, name: str) -> str:
    return visible(state.target.label(name), VALUE_LIMIT)


def headline(source: Source, state: TargetState, column: Column) -> tuple[str, MetricSpec] | None:
    """The metric a value or trend cell shows for ``state``: the column's own or the headline."""
    name = column.arg or source.headline_metric(state)
    return (name, source.metric(name)) if name else None


def value_text(source: Source, state: TargetState, column: Column) -> str:
    found = headline(source, state, column)
    if found is None or state.status is Status.DOWN:
        return NONE_TEXT
    name, spec = found
    return format_metric(spec, state.metrics.get(name))


def reason_text(state: TargetState) -> str:
    return "" if state.reason == state.status.word else visible(state.reason, TEXT_LIMIT)


def plain_text(source: Source, state: TargetState, column: Column) -> str:
    """The text of the cells that are not drawn specially (status, trend and since are)."""
    cell = column.cell
    if cell == "id":
        return shown_id(state)
    if cell == "label":
        return label_text(state, column.arg)
    if cell == "address":
        return address(state)
    if cell == "value":
        return value_text(source, state, column)
    if cell == "reason":
        return reason_text(state)
    return state.status.label


def trend_scale(spec: MetricSpec) -> TrendScale:
    """(low, high, log) of the trend bars: a declared scale (log for seconds, which span 1 ms
    to seconds), else each row's own range from 0."""
    if spec.scale is not None:
        return (spec.scale[0], spec.scale[1], spec.unit == "s")
    return (0.0, None, False)


def matches(source: Source, state: TargetState, needle: str) -> bool:
    """Does the filter ``needle`` (lower case) occur in the id, a label or address column, or
    the status word, as they are shown?"""
    if not needle:
        return True
    hay = [shown_id(state), state.status.word]
    for column in source.columns:
        if column.cell in ("label", "address"):
            hay.append(plain_text(source, state, column))
    if state.target.label("aet"):
        hay.append(label_text(state, "aet"))
    return any(needle in field.lower() for field in hay)


def filter_hint(source: Source) -> str:
    """What the filter field says it matches: "id, AE title, host:port, role or status"."""
    names = ["id"] + [c.label.lower() for c in source.columns if c.cell in ("label", "address")]
    return ", ".join(names) + " or status"


def sort_key(
    source: Source,
    state: TargetState,
    column: Column,
    trend: Sequence[tuple[float, float]],
) -> tuple[Any, ...]:
    """The key ``state``'s row sorts by in ``column`` (ascending; the id breaks ties)."""
    tid = state.target.id
    cell = column.cell
    if cell == "status":
        return (-state.status.rank, tid)
    if cell == "value":
        found = headline(source, state, column)
        value = state.metrics.get(found[0]) if found else None
        missing = value is None or state.status is Status.DOWN
        return (missing, -(value or 0.0), tid)
    if cell == "trend":
        high = max((v for _, v in trend), default=math.nan)
        return (math.isnan(high), -high if not math.isnan(high) else 0.0, tid)
    if cell == "since":
        return (state.since is None, -(state.since or 0.0), tid)
    if cell == "address":
        port = state.target.label("port")
        return (state.target.label("host"), int(port) if port.isdigit() else 0, tid)
    return (plain_text(source, state, column).lower(), tid)


def selected_facts(source: Source, state: TargetState) -> str:
    """What the selected line adds after the id: the address (``AET@host:port``) and the label
    columns, which a narrow table leaves out ("" when there are none)."""
    parts: list[str] = []
    where = address(state)
    if where:
        aet = state.target.label("aet")
        parts.append(f"{label_text(state, 'aet')}@{where}" if aet else where)
    for column in source.columns:
        if column.cell == "label" and column.arg != "aet":
            text = label_text(state, column.arg)
            if text:
                parts.append(text)
    return " ".join(parts)
