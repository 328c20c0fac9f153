"""Parse what a Nagios/Monitoring Plugins check printed: the summary, the long text and the
performance data, into typed values in base units. Pure logic, no I/O; never raises on input.

The format (Monitoring Plugins development guidelines, "Plugin Output" and "Performance data";
Nagios 3 multi-line output)::

    SUMMARY TEXT | perfdata on the first line
    long text line 1
    long text line 2 | more perfdata, which may
    continue on the following lines

Everything after the first ``|`` of the first line is perfdata; in the lines after it, the text
before the first ``|`` is long text and everything after it (to the end) is perfdata, as
Nagios core splits it. A perfdata item is ``'label'=value[UOM];[warn];[crit];[min];[max]``:

* the label may be quoted with single quotes (then it may hold spaces and ``=``; ``''`` is a
  quote); unquoted it ends at the first ``=``;
* trailing fields may be left out and any of warn/crit/min/max may be empty;
* the value is a decimal number (``-``, digits, ``.``; an exponent is accepted too) or ``U``
  (the plugin could not tell); a value with a single decimal comma and no dot (``0,5``) is read
  as ``0.5``: a plugin run in a German locale prints that, while C's printf never groups
  thousands with a comma. NaN and infinities are refused;
* the UOM is none, ``s ms us``, ``%``, ``B KB MB GB TB`` (any case; ``KiB``.. too) or ``c``;
  any other (``V``, ``packets``) drops the item. Values, min and max are converted to base
  units: seconds, bytes (1024 multiples), percent, counter;
* warn and crit are threshold ranges (``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``): kept
  as the plugin printed them, and parsed into a :class:`Range` in base units.

Every item that cannot be read is left out with a line in :attr:`PluginOutput.problems`; the
sizes are bounded (:data:`MAX_ITEMS` items, :data:`MAX_LABEL` characters a label, the summary
:data:`MAX_SUMMARY` characters, :data:`MAX_INPUT` characters read at all). The strings keep
what the plugin printed, control characters included: show them through
:func:`pacs_tui.visible.visible`.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "MAX_INPUT",
    "MAX_ITEM",
    "MAX_ITEMS",
    "MAX_LABEL",
    "MAX_LINE",
    "MAX_LONG_LINES",
    "MAX_PROBLEMS",
    "MAX_SUMMARY",
    "PerfValue",
    "PluginOutput",
    "Range",
    "metric_name",
    "parse_output",
    "parse_range",
]

#: Characters of plugin output looked at; the rest is dropped with a problem line.
MAX_INPUT = 256 * 1024
#: Perfdata items kept; later ones are counted and dropped.
MAX_ITEMS = 64
#: Longest label kept (an item with a longer one is dropped, not cut: cut labels could collide).
MAX_LABEL = 64
#: Longest summary kept (cut, ending with "…").
MAX_SUMMARY = 1000
#: Long text lines kept, and the length each is cut to.
MAX_LONG_LINES = 200
MAX_LINE = 1000
#: Longest perfdata item read (a label, a value and four numbers fit easily).
MAX_ITEM = 512
#: Problem lines kept; the rest are counted in one last line.
MAX_PROBLEMS = 16

_ELLIPSIS = "…"
_SNIPPET = 40
_SPACE = " \t\n\r\v\f"

# UOM -> (base unit, factor to base). The byte multiples are powers of 1024: that is what the
# Monitoring Plugins mean by them. Debian's check_disk 2.3.3 prints its perfdata in B, and with
# "-u MB" (its default), "-u kB" or "-u GB" it rounds to whole 2^20, 2^10 and 2^30 bytes and says
# "MiB", "kiB", "GiB" in its text (checked against os.statvfs, tests/interop); older check_disk
# printed "/=382MB" with MB = 1024 * 1024 bytes.
_UNITS: dict[str, tuple[str, float]] = {
    "": ("", 1.0),
    "s": ("s", 1.0),
    "ms": ("s", 1e-3),
    "us": ("s", 1e-6),
    "%": ("%", 1.0),
    "c": ("c", 1.0),
}
_BYTES: dict[str, float] = {
    "B": 1.0,
    "KB": 1024.0,
    "MB": 1024.0**2,
    "GB": 1024.0**3,
    "TB": 1024.0**4,
    "KIB": 1024.0,
    "MIB": 1024.0**2,
    "GIB": 1024.0**3,
    "TIB": 1024.0**4,
}
_UNIT_NAMES = "none, s, ms, us, %, B, KB, MB, GB, TB, c"

_NUMBER = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"
# ASCII only: "\\d" would take Arabic-Indic digits, and float() would read them.
_VALUE_RE = re.compile(rf"({_NUMBER})([A-Za-z%]*)", re.ASCII)
_NUMBER_RE = re.compile(_NUMBER, re.ASCII)


@dataclass(frozen=True, slots=True)
class Range:
    """A threshold range in base units (guidelines, "Threshold and ranges"): a value alerts
    when it is outside ``start..end`` (both included), or inside it when ``inside`` (``@``)."""

    start: float
    end: float
    inside: bool = False

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within


@dataclass(frozen=True, slots=True)
class PerfValue:
    """One perfdata item. ``value``, ``minimum``, ``maximum`` and the ranges are in base units
    (``unit``: "s", "B", "%", "c" or ""); ``uom``, ``warn`` and ``crit`` are as printed.
    ``value`` is ``None`` for ``U`` (the plugin could not tell)."""

    label: str
    value: float | None
    unit: str
    warn: str | None
    crit: str | None
    minimum: float | None
    maximum: float | None
    uom: str = ""
    warn_range: Range | None = None
    crit_range: Range | None = None


@dataclass(frozen=True, slots=True)
class PluginOutput:
    """A plugin's output: the first line's text, the further lines of text, the perfdata that
    could be read, and one short line for each thing that could not."""

    summary: str
    long_text: tuple[str, ...]
    perfdata: tuple[PerfValue, ...]
    problems: tuple[str, ...]


class _Problems:
    """Problem lines, at most :data:`MAX_PROBLEMS` of them and a count of the rest."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.more = 0

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(line)
        else:
            self.more += 1

    def result(self) -> tuple[str, ...]:
        if self.more:
            return (*self.lines, f"{self.more:,} more problems not listed")
        return tuple(self.lines)


def _snippet(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + _ELLIPSIS


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def parse_output(text: str) -> PluginOutput:
    """Split a plugin's stdout into summary, long text and perfdata (see the module)."""
    problems = _Problems()
    if len(text) > MAX_INPUT:
        problems.add(f"output cut to {MAX_INPUT:,} of {len(text):,} characters")
        text = text[:MAX_INPUT]
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    first = lines[0] if lines else ""
    summary, bar, perf_text = first.partition("|")
    summary = summary.strip()
    if len(summary) > MAX_SUMMARY:
        problems.add(f"summary cut to {MAX_SUMMARY:,} of {len(summary):,} characters")
        summary = _cut(summary, MAX_SUMMARY)
    perf_parts = [perf_text] if bar else []

    long_text: list[str] = []
    rest = lines[1:]
    for index, line in enumerate(rest):
        before, bar, after = line.partition("|")
        if before.strip() or not bar:
            long_text.append(before.rstrip() if bar else line)
        if bar:
            perf_parts.append(after)
            perf_parts.extend(rest[index + 1 :])
            break
    if len(long_text) > MAX_LONG_LINES:
        problems.add(f"{len(long_text) - MAX_LONG_LINES:,} lines of long text dropped")
        del long_text[MAX_LONG_LINES:]
    long_cut = tuple(_cut(line, MAX_LINE) for line in long_text)

    perfdata = _parse_perfdata(" ".join(perf_parts), problems)
    return PluginOutput(summary, long_cut, perfdata, problems.result())


@dataclass(frozen=True, slots=True)
class _Item:
    text: str  # the whole item as printed, for problem lines
    label: str | None  # None: the item could not be split, ``why`` says why
    data: str
    why: str = ""


def _items(perf: str) -> Iterator[_Item]:
    """The perfdata items of ``perf``, split on ASCII whitespace outside quoted labels."""
    i, n = 0, len(perf)
    while i < n:
        while i < n and perf[i] in _SPACE:
            i += 1
        if i >= n:
            return
        start = i
        if perf[i] == "'":
            label_chars: list[str] = []
            i += 1
            while True:
                close = perf.find("'", i)
                if close < 0:
                    yield _Item(perf[start:], None, "", "unbalanced quote in the label")
                    return
                label_chars.append(perf[i:close])
                if perf.startswith("''", close):
                    label_chars.append("'")
                    i = close + 2
                    continue
                i = close + 1
                break
            label = "".join(label_chars)
            if i >= n or perf[i] != "=":
                end = _token_end(perf, i)
                yield _Item(perf[start:end], None, "", "no '=' after the quoted label")
                i = end
                continue
            i += 1
        else:
            end = _token_end(perf, i)
            token = perf[i:end]
            label, eq, _ = token.partition("=")
            if not eq:
                yield _Item(token, None, "", "no '=' between label and value")
                i = end
                continue
            i += len(label) + 1
        end = _token_end(perf, i)
        yield _Item(perf[start:end], label, perf[i:end])
        i = end


def _token_end(perf: str, i: int) -> int:
    n = len(perf)
    while i < n and perf[i] not in _SPACE:
        i += 1
    return i


def _parse_perfdata(perf: str, problems: _Problems) -> tuple[PerfValue, ...]:
    values: list[PerfValue] = []
    dropped = 0
    for item in _items(perf):
        if len(values) >= MAX_ITEMS:
            dropped += 1
            continue
        where = f"perfdata item '{_snippet(item.text)}'"
        if item.label is None:
            problems.add(f"{where}: {item.why}")
            continue
        if len(item.text) > MAX_ITEM:
            problems.add(f"{where}: {len(item.text):,} characters long, at most {MAX_ITEM:,}")
            continue
        parsed = _parse_item(item.label, item.data, where, problems)
        if parsed is not None:
            values.append(parsed)
    if dropped:
        problems.add(f"{dropped:,} perfdata items after the first {MAX_ITEMS} dropped")
    return tuple(values)


def _parse_item(label: str, data: str, where: str, problems: _Problems) -> PerfValue | None:
    if not label:
        problems.add(f"{where}: empty label")
        return None
    if len(label) > MAX_LABEL:
        problems.add(f"{where}: label of {len(label):,} characters, at most {MAX_LABEL}")
        return None
    fields = data.split(";")
    if len(fields) > 5:
        problems.add(f"{where}: {len(fields)} fields, at most 5 (extra ones ignored)")
    raw_value = fields[0]
    value: float | None
    if raw_value == "U":
        value, uom, base, factor = None, "", "", 1.0
    else:
        if not raw_value:
            problems.add(f"{where}: no value")
            return None
        match = _VALUE_RE.fullmatch(raw_value)
        if match is None:
            problems.add(f"{where}: value '{_snippet(raw_value)}' is not a number")
            return None
        uom = match.group(2)
        unit = _unit(uom)
        if unit is None:
            problems.add(f"{where}: unit '{_snippet(uom)}' is not one of {_UNIT_NAMES}")
            return None
        base, factor = unit
        value = _number(match.group(1), factor)
        if value is None:
            problems.add(f"{where}: value '{_snippet(raw_value)}' is not a number")
            return None

    def field(index: int) -> str | None:
        return fields[index] if len(fields) > index and fields[index] else None

    warn, crit = field(1), field(2)
    ranges: list[Range | None] = []
    for name, text in (("warn", warn), ("crit", crit)):
        threshold = None if text is None else parse_range(text, factor)
        if text is not None and threshold is None:
            problems.add(f"{where}: {name} '{_snippet(text)}' is not a range")
        ranges.append(threshold)
    bounds: list[float | None] = []
    for name, text in (("min", field(3)), ("max", field(4))):
        bound = None if text is None else _bound(text, uom, factor)
        if text is not None and bound is None:
            problems.add(f"{where}: {name} '{_snippet(text)}' is not a number")
        bounds.append(bound)
    return PerfValue(label, value, base, warn, crit, bounds[0], bounds[1], uom, *ranges)


def _unit(uom: str) -> tuple[str, float] | None:
    if uom in _UNITS:
        return _UNITS[uom]
    factor = _BYTES.get(uom.upper())
    return None if factor is None else ("B", factor)


def _number(text: str, factor: float = 1.0) -> float | None:
    """``text`` (already matched as a number) times ``factor``, or None when not finite."""
    if "," in text:
        if "." in text or text.count(",") > 1:
            return None
        text = text.replace(",", ".")
    try:
        number = float(text) * factor
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _bound(text: str, uom: str, factor: float) -> float | None:
    """A min or max: a number, in the value's UOM (a few plugins repeat the UOM there)."""
    match = _VALUE_RE.fullmatch(text)
    if match is None or match.group(2) not in ("", uom):
        return None
    return _number(match.group(1), factor)


def parse_range(text: str, factor: float = 1.0) -> Range | None:
    """A threshold range (``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``) with its numbers
    times ``factor`` (to base units); None when it is not one, or its start is over its end."""
    inside = text.startswith("@")
    body = text[1:] if inside else text
    start_text, colon, end_text = body.rpartition(":")
    if not colon:
        start_text, end_text = "0", body
    if start_text == "~":
        start = -math.inf
    elif start_text == "":  # ":10", as the plugins' own parser reads it (strtod of "" is 0)
        start = 0.0
    else:
        start_num = _plain_number(start_text, factor)
        if start_num is None:
            return None
        start = start_num
    if end_text == "" and colon:
        end = math.inf
    else:
        end_num = _plain_number(end_text, factor)
        if end_num is None:
            return None
        end = end_num
    if start > end:
        return None
    return Range(start, end, inside)


def _plain_number(text: str, factor: float) -> float | None:
    return _number(text, factor) if _NUMBER_RE.fullmatch(text) else None


# Characters a metric name never carries as they are: "~" marks the hash suffix.
def _unsafe(char: str) -> bool:
    return char == "~" or char.isspace() or unicodedata.category(char)[0] in "CZ"


_METRIC_PREFIX = "perf."
_METRIC_LABEL = 64


def metric_name(label: str) -> str:
    """A safe history metric name for a perfdata label: ``perf.`` + the label, as it is when it
    is short and has no whitespace, control or invisible characters or ``~``; otherwise those
    become ``_``, it is cut to 64 characters, and ``~`` and a hash of the whole label follow, so
    two labels share a name only by a 48-bit hash collision. At most 82 characters."""
    if len(label) <= _METRIC_LABEL and label and not any(_unsafe(c) for c in label):
        return _METRIC_PREFIX + label
    head = "".join("_" if _unsafe(c) else c for c in label[:_METRIC_LABEL])
    digest = hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    return f"{_METRIC_PREFIX}{head}~{digest}"
