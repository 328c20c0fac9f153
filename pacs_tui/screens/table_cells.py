"""What a target table's cells say, from a source's column spec: the text of each kind of cell,
the sort key of each column, what the filter matches, and the trend's scale.

Ids, AE titles, addresses, labels and reasons come from the config and from peers: every cell
shows them :func:`~pacs_tui.visible.visible` (control characters as ``␛``, never as markup), and
the filter matches what is shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.widgets.data_table import ColumnKey

from pacs_tui.model import Status, TargetState
from pacs_tui.screens import WIDE
from pacs_tui.source import Column, MetricSpec, Source, counted
from pacs_tui.ui_format import DOWN_MARK
from pacs_tui.units import NONE_TEXT, format_metric
from pacs_tui.visible import ELLIPSIS, TEXT_LIMIT, VALUE_LIMIT, host_port, visible
from pacs_tui.widgets import StatusTable
from pacs_tui.widgets.status_table import plain

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
    if "|" in column.arg:  # one metric per kind of row: the first this row has
        names = column.arg.split("|")
        name: str | None = next((n for n in names if n in state.metrics), names[0])
    else:
        name = column.arg or source.headline_metric(state)
    return (name, source.metric(name)) if name else None


#: A failed verdict's mark before a value ("✖ 2 h": the last integrity check failed).
FAILED_GLYPH = Status.CRIT.glyph


def value_text(source: Source, state: TargetState, column: Column) -> str:
    found = headline(source, state, column)
    if found is None or state.status is Status.DOWN:
        return NONE_TEXT
    name, spec = found
    number = state.metrics.get(name)
    value = format_metric(spec, number)
    if column.gauge and spec.unit == "ratio" and number is not None:
        if number >= 1:  # past the target: whole percents, so that the bars stay in line
            value = ">999 %" if number > 9.99 else f"{number * 100:.0f} %"
        return f"{gauge_bar(number, column.gauge)} {value:>6}"
    if column.verdict and number is not None:
        passed = state.metrics.get(column.verdict)
        if passed is not None:
            value = f"{Status.OK.glyph if passed >= 1 else FAILED_GLYPH} {value}"
    return f"{visible(spec.label, VALUE_LIMIT)} {value}" if column.labelled else value


_EIGHTHS = " ▏▎▍▌▋▊▉"


def gauge_bar(ratio: float, width: int) -> str:
    """``ratio`` (0 to 1) as a bar of ``width`` cells, in eighths of a cell; the rest ░."""
    eighths = round(max(0.0, min(1.0, ratio)) * width * 8)
    whole, part = divmod(eighths, 8)
    bar = "█" * whole + (_EIGHTHS[part] if part else "")
    return bar + "░" * (width - len(bar))


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
    for column in source.columns:  # every label column, shown at this width or not
        if column.cell in ("label", "address"):
            hay.append(plain_text(source, state, column))
    return any(needle in field.lower() for field in hay)


def summary(source: Source, states: Sequence[TargetState], shown: int | None, order: str) -> str:
    """The line over a table: "7 DICOM nodes · 2 not OK · sort: …", or with a filter (``shown``
    rows) "2 of 7 match · sort: …"."""
    if not states:  # a site without this kind of section: say how to add one
        return f"No {source.noun}s configured: add {source.entry} sections to the config"
    if shown is not None:
        parts = [f"{shown} of {len(states)} match"]
    else:
        bad = sum(1 for s in states if s.status is not Status.OK)
        parts = [", ".join(counted(source, [s.target.kind for s in states])), f"{bad} not OK"]
    return " · ".join([*parts, order])


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


#: Width of the trend column, wide and below :data:`~pacs_tui.screens.WIDE` columns.
TREND_WIDE = 12
TREND_NARROW = 8
#: The reason is what an admin reads first: below this width, optional columns give way.
REASON_FIRST = 36
#: A column sized from its data is at most this wide.
LONGEST = 28


def fit_columns(
    declared: Sequence[Column], width: int, padding: int, longest: Callable[[Column], int]
) -> tuple[tuple[Column, ...], dict[str, int]]:
    """The columns shown at ``width`` and their widths; the reason column takes the rest.

    Below :data:`~pacs_tui.screens.WIDE` only the narrow columns are shown. The reason gets its
    room first: when it would be narrower than :data:`REASON_FIRST`, the wide-only columns (the
    selected line repeats them) are left out, last declared first, before it is squeezed; when
    the table would still be wider than ``width``, the trend column is left out too.
    """
    wide = width >= WIDE
    columns = tuple(c for c in declared if wide or c.narrow)
    widths = _widths(columns, wide, width, padding, longest)
    for optional in [c for c in reversed(columns) if not c.narrow]:
        if all(widths[c.key] >= REASON_FIRST for c in columns if c.cell == "reason"):
            break
        columns = tuple(c for c in columns if c is not optional)
        widths = _widths(columns, wide, width, padding, longest)
    if _overflows(columns, widths, width, padding):
        # Even the narrow columns leave the reason under its least: the table would scroll
        # sideways, its last column cut by the screen's edge without a mark (the HL7 tracker at
        # 80). The last hour's trend goes (the detail draws it), the counts stay.
        columns = tuple(c for c in columns if c.cell != "trend")
        widths = _widths(columns, wide, width, padding, longest)
    return columns, widths


def _overflows(columns: Sequence[Column], widths: dict[str, int], width: int, padding: int) -> bool:
    return _span(widths.values(), len(columns), padding) > width


def _span(widths: Iterable[int], count: int, padding: int) -> int:
    """The cells ``count`` columns of ``widths`` take with their padding and a scrollbar."""
    return sum(widths) + padding * count + 2


def _widths(
    columns: Sequence[Column],
    wide: bool,
    width: int,
    padding: int,
    longest: Callable[[Column], int],
) -> dict[str, int]:
    widths: dict[str, int] = {}
    for column in columns:
        room = len(column.label) + 2  # the label and its sort indicator
        if column.cell == "trend":
            widths[column.key] = max(TREND_WIDE if wide else TREND_NARROW, room)
        elif column.width is not None:
            widths[column.key] = max(column.width, room)
        elif column.cell != "reason":
            widths[column.key] = min(max(longest(column), room), LONGEST)
    used = _span(widths.values(), len(columns), padding)
    for column in columns:
        if column.cell == "reason":
            widths[column.key] = max(12, width - used)
    return widths


def selected_line(
    table: StatusTable,
    source: Source,
    state: TargetState,
    since: str | None,
    width: int | None = None,
    max_lines: int | None = None,
) -> Text:
    """The line under a table: the status, the id, what the narrow table leaves out, the
    reason in full and ``since`` ("since 03:11:58 (3m ago)"). Wrapped at ``width``, neither
    "since 03:11:58" nor "(3m ago)" is ever broken over two lines (a line cut under the table
    ended "· since" without the time): each starts the next line when the last one has no
    room for it whole. With ``max_lines`` (the line's room on a crowded screen) the status and
    the id always show, and a reason too long for the room is never cut off unmarked: first
    "(3m ago)" goes, then "since", and then the reason is cut with "…" (with "since" back, if
    that leaves :data:`MIN_REASON` characters of it). The detail screen (Enter) shows both."""
    reason = reason_text(state) if state.reason != state.status.word else None
    text = _selected_line(table, source, state, reason, since, width)
    if width is None or max_lines is None or not reason or _lines(text, width) <= max_lines:
        return text
    # Too long for its room. In order: the whole reason with "since 03:11:58" (without
    # "(3m ago)"), the whole reason alone, the reason cut with "…" before the whole since,
    # the reason cut alone: the reason matters more than since when.
    moment = since.partition(" (")[0] if since is not None else None
    for shorter in dict.fromkeys(x for x in (moment, None) if x != since):  # not tried yet
        text = _selected_line(table, source, state, reason, shorter, width)
        if _lines(text, width) <= max_lines:
            return text
    kept = _longest_cut(table, source, state, reason, since, width, max_lines)
    if kept < MIN_REASON and since is not None:
        since = None
        kept = _longest_cut(table, source, state, reason, since, width, max_lines)
    return _selected_line(table, source, state, reason[:kept].rstrip() + ELLIPSIS, since, width)


#: The fewest characters of a reason the selected line keeps before it gives up "since".
MIN_REASON = 24


def _longest_cut(
    table: StatusTable,
    source: Source,
    state: TargetState,
    reason: str,
    since: str | None,
    width: int,
    max_lines: int,
) -> int:
    """How much of ``reason`` (with "…") fits the selected line in ``max_lines``."""
    low, high = 0, len(reason) - 1
    while low < high:
        middle = (low + high + 1) // 2
        cut = reason[:middle].rstrip() + ELLIPSIS
        if _lines(_selected_line(table, source, state, cut, since, width), width) <= max_lines:
            low = middle
        else:
            high = middle - 1
    return low


def _selected_line(
    table: StatusTable,
    source: Source,
    state: TargetState,
    reason: str | None,
    since: str | None,
    width: int | None,
) -> Text:
    style = table.status_style(state.status)
    text = Text()
    text.append_text(table.status_text(state.status))
    text.append("  ")
    text.append(shown_id(state), style="bold")
    facts = selected_facts(source, state)
    if facts:
        text.append_text(table.dim_text(f" {facts}"))
    if reason is not None:
        text.append(" — ")
        text.append(reason, style=style if state.status is not Status.OK else "")
    if since is not None:
        moment, paren, ago = since.partition(" (")
        ago = f"({ago}" if paren else ""
        first = width is None or _fits_after(text, f" · {moment}", width)
        text.append(" · " if first else "\n")
        if ago:
            placed = text.copy()
            placed.append(moment)
            whole = width is None or _fits_after(placed, f" {ago}", width)
            moment += f" {ago}" if whole else f"\n{ago}"
        text.append_text(table.dim_text(moment))
    return text


def _wrapped(text: Text, width: int) -> list[Content]:
    """``text`` wrapped at ``width``, as the screen wraps it."""
    return Content.from_rich_text(text).wrap(max(1, width))


def _lines(text: Text, width: int) -> int:
    return len(_wrapped(text, width))


def _fits_after(text: Text, tail: str, width: int) -> bool:
    """Does ``tail`` fit whole on the last line of ``text`` wrapped at ``width`` (as the
    screen wraps it)?"""
    lines = _wrapped(text, width)
    last = lines[-1].cell_length if lines else 0
    return last + cell_len(tail) <= width


def styled(table: StatusTable, column: Column, state: TargetState, text: str) -> Text:
    """A cell's ``text`` as drawn: the status in its colour (word and glyph too), a reason
    that is not OK in its status's colour, values right-aligned, "since" and fixed-width
    labels dimmed, the trend's DOWN marks in the DOWN colour."""
    cell = column.cell
    if cell == "status":
        return table.status_text(state.status)
    if cell == "trend":
        return marked(text, table.status_style(Status.DOWN))
    if cell == "value":
        failed = column.verdict and text.startswith(FAILED_GLYPH)
        style = table.status_style(Status.CRIT) if failed else ""
        return Text(text, style=style, justify="right", no_wrap=True, end="")
    if cell == "reason":  # cut with "…" whatever the status: a cut reason says it is cut
        style = table.status_style(state.status) if state.status is not Status.OK else ""
        return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")
    if cell == "label":  # a label too long for its column is cut with "…", never bare
        width = column_width(table, column.key)
        if column.arg == "path" and width is not None:
            text = cut_path(text, width)  # the file name kept: "/var/log/…/Orthanc.log"
        shown = table.dim_text(text) if column.width is not None else plain(text)
        shown.overflow = "ellipsis"
        return shown
    if cell == "since":
        return table.dim_text(text)
    shown = plain(text)
    if cell == "id":  # cut with "…" (a column narrower than a name), never a shorter name
        shown.overflow = "ellipsis"
    return shown


def column_width(table: StatusTable, key: str) -> int | None:
    """The width of ``table``'s column ``key`` (None before it is added)."""
    found = table.columns.get(ColumnKey(key))
    return found.width if found is not None else None


def cut_path(path: str, width: int) -> str:
    """``path`` in ``width`` cells: whole when it fits, else cut in the middle so that its
    file name stays ("/var/log/…/Orthanc.log"), or only the file name's end after "…" when
    even that is too long."""
    if cell_len(path) <= width:
        return path
    if width <= 1:
        return "…" if width == 1 else ""
    _, slash, name = path.rpartition("/")
    tail = slash + name
    if cell_len(tail) + 2 > width:  # no room for the start: the end of the name
        return "…" + _last_cells(path, width - 1)
    head = path
    while head and cell_len(head) + 1 + cell_len(tail) > width:
        head = head[:-1]
    return f"{head}…{tail}"


def _last_cells(text: str, width: int) -> str:
    """The end of ``text`` that fits in ``width`` cells."""
    while text and cell_len(text) > width:
        text = text[1:]
    return text


def marked(line: str, down_style: Style) -> Text:
    """A sparkline, its DOWN marks in the DOWN colour (the glyph says it without colour)."""
    text = Text(line, no_wrap=True, end="")
    for index, char in enumerate(line):
        if char == DOWN_MARK:
            text.stylize(down_style, index, index + 1)
    return text
